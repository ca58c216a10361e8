#!/usr/bin/env python3
"""Checks that src/templating.py renders the shop templates exactly like real Tornado.

    python3 examples/shop/tests/check_tornado_parity.py     # from any directory

Tornado is NOT a runtime dependency of the shop: when it is not importable this
script prints a SKIP line and exits 0.  Exit status 1 (with a diff) on mismatch.
Every page is rendered with the same namespace by both engines, in development
mode and with a fake kiln manifest, and with Tornado's default whitespace
handling as well as ``whitespace="all"``.
"""
import difflib
import json
import os
import sys
import tempfile

SHOP_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if SHOP_DIR not in sys.path:
    sys.path.insert(0, SHOP_DIR)


def main():
    try:
        import tornado
        import tornado.template
    except ImportError:
        print("SKIP: tornado is not importable (pip install tornado to run this check)")
        return 0

    os.environ.update({"DEBUG": "true", "SECRET_KEY": "parity-check-secret",
                       "DATABASE_PATH": ":memory:"})
    from src.app import create_app
    from src.assetman import block_key
    from src.templating import Loader

    with tempfile.TemporaryDirectory() as tmp:
        js = ["js/util.js", "js/cart.js", "js/catalog.js"]
        css = ["css/base.css", "css/shop.css"]
        manifest = {
            "version": 1,
            "assets": {"img/logo.png": {"version": "0" * 32, "integrity": "sha384-x", "deps": [],
                                        "versioned_path": "img/logo.0123456789ab.png"}},
            "blocks": {
                block_key(js): {"versioned_path": "js/bundle.abcdef012345.js",
                                "integrity": "sha384-js", "paths": js},
                block_key(css): {"versioned_path": "css/bundle.0123456789ab.css",
                                 "integrity": "sha384-css", "paths": css},
            },
            "lookups": {},
        }
        manifest_path = os.path.join(tmp, "manifest.json")
        with open(manifest_path, "w") as f:
            json.dump(manifest, f)

        failures = checked = 0
        for label, manifest_env in (("dev", ""), ("manifest", manifest_path)):
            os.environ["KILN_MANIFEST"] = manifest_env
            app = create_app()
            pages = [("index.html", app.page_namespace("index"))]
            for p in app.db.query("SELECT slug FROM products ORDER BY slug"):
                pages.append(("product.html", app.page_namespace("product", p["slug"])))
            pages.append(("product.html", app.page_namespace("product", None)))  # 404 page
            for whitespace in (None, "all"):
                ours = Loader(app.settings.TEMPLATE_DIR, whitespace=whitespace)
                theirs = tornado.template.Loader(app.settings.TEMPLATE_DIR, whitespace=whitespace)
                for name, ns in pages:
                    expected = theirs.load(name).generate(**ns).decode("utf-8")
                    actual = ours.load(name).generate(**ns)
                    checked += 1
                    what = "%s [%s, whitespace=%s, product=%s]" % (
                        name, label, whitespace or "default",
                        (ns.get("product") or {}).get("slug", "-"))
                    if actual != expected:
                        failures += 1
                        print("MISMATCH %s" % what)
                        sys.stdout.writelines(difflib.unified_diff(
                            expected.splitlines(True), actual.splitlines(True),
                            "tornado", "templating.py"))
            app.db.close()

    print("tornado %s: %d renders compared, %d mismatches" % (tornado.version, checked, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
