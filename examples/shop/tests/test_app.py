"""Tests of the kiln example shop (stdlib unittest only).

    python3 -m unittest discover -s examples/shop/tests -t examples/shop
    python3 examples/shop/tests/test_app.py          # from any directory
"""
import hashlib
import io
import json
import os
import sys
import tempfile
import unittest
from unittest import mock
from wsgiref.util import setup_testing_defaults

SHOP_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if SHOP_DIR not in sys.path:
    sys.path.insert(0, SHOP_DIR)

# Settings are read when an app is created; pin a test environment first.
# KILN_MANIFEST="" forces development assets even inside a built dist.
TEST_ENV = {
    "DEBUG": "true",
    "SECRET_KEY": "test-secret-key-not-for-production",
    "DATABASE_PATH": ":memory:",
    "KILN_MANIFEST": "",
}
os.environ.update(TEST_ENV)

from src import app as app_module  # noqa: E402
from src.assetman import Assetman, block_key  # noqa: E402
from src.settings import parse_dotenv  # noqa: E402
from src.templating import Loader, Template, TemplateSyntaxError  # noqa: E402

SEEDED = {"stoneware-mug", "porcelain-bowl", "terracotta-planter", "celadon-vase",
          "raku-tea-bowl"}
JS_PATHS = ["js/util.js", "js/cart.js", "js/catalog.js"]
CSS_PATHS = ["css/base.css", "css/shop.css"]


def make_app(**env):
    with mock.patch.dict(os.environ, dict(TEST_ENV, **env)):
        return app_module.create_app()


def call(app, path, method="GET"):
    environ = {}
    setup_testing_defaults(environ)
    environ["PATH_INFO"] = path
    environ["REQUEST_METHOD"] = method
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, dict(headers)
        return io.BytesIO().write

    body = b"".join(app(environ, start_response))
    return int(captured["status"].split()[0]), captured["headers"], body


class ShopTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.app = make_app()


class PageTests(ShopTestCase):
    def test_index_lists_products_with_dev_assets(self):
        status, headers, body = call(self.app, "/")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        html = body.decode("utf-8")
        for name in ("Stoneware Mug", "Porcelain Bowl", "Terracotta Planter", "Celadon Vase",
                     "Raku Tea Bowl"):
            self.assertIn(name, html)
        self.assertEqual(html.count('<script src="/s/js/util.js">'), 1)
        self.assertIn('<script src="/s/js/cart.js"></script>', html)
        self.assertIn('<link rel="stylesheet" href="/s/css/shop.css">', html)
        self.assertIn('<img src="/s/img/logo.png"', html)
        self.assertIn("var PRODUCT_COUNT = 5;", html)
        self.assertIn("<b>Price:</b> <span", html)
        # autoescaping
        self.assertIn("tea &amp; coffee drinkers &lt;3", html)
        self.assertIn("&quot;everyday&quot;", html)
        # Tornado leaves text chunks containing <pre> alone
        self.assertIn("\n       freezer  ->  hot oven   = cracked pot\n", html)

    def test_product_page(self):
        status, _, body = call(self.app, "/product/stoneware-mug")
        self.assertEqual(status, 200)
        html = body.decode("utf-8")
        self.assertIn("<h1>Stoneware Mug</h1>", html)
        self.assertIn("<textarea id=\"note\" name=\"note\" rows=\"4\" cols=\"40\">Dear friend,\n"
                      "this Stoneware Mug was made for you.\n", html)
        self.assertIn('var PRODUCT_SLUG = "stoneware-mug";', html)

    def test_sold_out_product(self):
        status, _, body = call(self.app, "/product/raku-tea-bowl")
        self.assertEqual(status, 200)
        self.assertIn("Sold out", body.decode("utf-8"))

    def test_unknown_product_is_404(self):
        status, _, body = call(self.app, "/product/no-such-pot")
        self.assertEqual(status, 404)
        self.assertIn("Not found", body.decode("utf-8"))

    def test_unknown_routes_are_404(self):
        for path in ("/nope", "/product/", "/product/UPPER", "/api", "/s/", "/s"):
            with self.subTest(path=path):
                self.assertEqual(call(self.app, path)[0], 404)

    def test_post_is_rejected(self):
        self.assertEqual(call(self.app, "/", method="POST")[0], 405)

    def test_head_has_no_body(self):
        status, headers, body = call(self.app, "/healthz", method="HEAD")
        self.assertEqual((status, body, headers["Content-Length"]), (200, b"", "2"))

    def test_healthz(self):
        status, headers, body = call(self.app, "/healthz")
        self.assertEqual((status, body), (200, b"ok"))
        self.assertTrue(headers["Content-Type"].startswith("text/plain"))


class ApiTests(ShopTestCase):
    def test_api_products(self):
        status, headers, body = call(self.app, "/api/products")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/json")
        data = json.loads(body.decode("utf-8"))
        products = {p["slug"]: p for p in data["products"]}
        self.assertEqual(set(products), SEEDED)
        # stock comes from migration 0002
        self.assertEqual(products["stoneware-mug"]["stock"], 24)
        self.assertEqual(products["raku-tea-bowl"]["stock"], 0)
        self.assertFalse(products["raku-tea-bowl"]["in_stock"])
        self.assertEqual(products["stoneware-mug"]["price"], "$18.00")

    def test_api_keys_are_sorted(self):
        body = call(self.app, "/api/products")[2].decode("utf-8")
        data = json.loads(body)
        self.assertEqual(body.strip(), json.dumps(data, sort_keys=True, separators=(",", ":")))

    def test_migrations_recorded_in_order(self):
        rows = self.app.db.query("SELECT name FROM schema_migrations ORDER BY name")
        self.assertEqual([r["name"] for r in rows], ["0001_initial", "0002_add_stock"])
        self.assertEqual(self.app.db.applied, ["0001_initial", "0002_add_stock"])

    def test_file_database_migrates_once(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "db.sqlite3")
            first = make_app(DATABASE_PATH=path)
            first.db.close()
            second = make_app(DATABASE_PATH=path)
            self.assertEqual(second.db.applied, [])
            self.assertEqual(len(second.db.query("SELECT * FROM products")), 5)
            second.db.close()


class StaticTests(ShopTestCase):
    def test_css(self):
        status, headers, body = call(self.app, "/s/css/shop.css")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/css"))
        self.assertTrue(body.startswith(b'@import "base.css";'))

    def test_content_types(self):
        for path, ctype in (("/s/js/util.js", "application/javascript"),
                            ("/s/img/logo.png", "image/png"),
                            ("/s/img/icon-cart.png", "image/png"),
                            ("/s/img/hero.jpg", "image/jpeg")):
            with self.subTest(path=path):
                status, headers, _ = call(self.app, path)
                self.assertEqual(status, 200)
                self.assertTrue(headers["Content-Type"].startswith(ctype))
        self.assertEqual(app_module.CONTENT_TYPES[".webp"], "image/webp")

    def test_traversal_is_refused(self):
        for path in ("/s/../wsgi.py", "/s/%2e%2e/wsgi.py", "/s/css/../../wsgi.py",
                     "/s/css/%2e%2e/%2e%2e/wsgi.py", "/s//etc/passwd", "/s/css\\..\\..\\wsgi.py",
                     "/s/css/shop.css\x00.png", "/s/./css/shop.css", "/s/css", "/s/missing.css",
                     "/s/C:/Windows/win.ini"):
            with self.subTest(path=path):
                self.assertEqual(call(self.app, path)[0], 404)

    def test_symlink_out_of_static_root_is_refused(self):
        root = self.app.static_root
        with tempfile.TemporaryDirectory() as tmp:
            link = os.path.join(root, "img", "_test_link_%d" % os.getpid())
            target = os.path.join(tmp, "secret.txt")
            with open(target, "w") as f:
                f.write("secret")
            try:
                os.symlink(target, link)
            except (OSError, NotImplementedError):
                self.skipTest("cannot create symlinks here")
            try:
                self.assertEqual(call(self.app, "/s/img/" + os.path.basename(link))[0], 404)
            finally:
                os.unlink(link)


class ManifestTests(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.manifest = {
            "version": 1,
            "assets": {
                "img/logo.png": {"version": "0" * 32, "versioned_path": "img/logo.0123456789ab.png",
                                 "integrity": "sha384-logo", "deps": []},
                "css/shop.css": {"version": "1" * 32, "versioned_path": "css/shop.1234567890ab.css",
                                 "integrity": "sha384-shop", "deps": ["css/base.css"]},
            },
            "blocks": {
                block_key(JS_PATHS): {"versioned_path": "js/bundle.abcdef012345.js",
                                      "integrity": "sha384-AbC+/123", "paths": JS_PATHS},
            },
            "lookups": {},
        }
        self.path = os.path.join(tmp.name, "manifest.json")
        with open(self.path, "w") as f:
            json.dump(self.manifest, f)

    def test_compiled_js_block(self):
        app = make_app(KILN_MANIFEST=self.path)
        self.assertTrue(app.assetman.compiled)
        html = call(app, "/")[2].decode("utf-8")
        self.assertEqual(html.count("<script src="), 1)
        self.assertIn('<script src="/s/js/bundle.abcdef012345.js" integrity="sha384-AbC+/123" '
                      'crossorigin="anonymous"></script>', html)
        self.assertNotIn("/s/js/util.js", html)
        # no block entry for the CSS -> one tag per path, versioned where known
        self.assertIn('<link rel="stylesheet" href="/s/css/base.css">', html)
        self.assertIn('<link rel="stylesheet" href="/s/css/shop.1234567890ab.css">', html)
        self.assertIn('<img src="/s/img/logo.0123456789ab.png"', html)

    def test_assetman_unit(self):
        am = Assetman(os.path.join(SHOP_DIR, "src", "partials"), "/s/", self.path)
        self.assertEqual(am.static_url("img/logo.png"), "/s/img/logo.0123456789ab.png")
        self.assertEqual(am.static_url("img/hero.jpg"), "/s/img/hero.jpg")
        self.assertEqual(am.include_js(b"\n  js/util.js\n js/cart.js \n\njs/catalog.js\n"),
                         am.include_js("js/util.js\njs/cart.js\njs/catalog.js"))
        dev = Assetman(os.path.join(SHOP_DIR, "src", "partials"))
        self.assertFalse(dev.compiled)
        self.assertEqual(dev.include_css("css/base.css\n"),
                         '<link rel="stylesheet" href="/s/css/base.css">')
        self.assertEqual(block_key(["a.js", "b.js"]), hashlib.md5(b"a.js\nb.js").hexdigest())


class SettingsTests(unittest.TestCase):
    def test_secret_key_required_in_production(self):
        with self.assertRaises(RuntimeError) as ctx:
            make_app(DEBUG="false", SECRET_KEY="")
        self.assertIn("SECRET_KEY must be set in the environment", str(ctx.exception))

    def test_debug_setting_is_reread(self):
        self.assertTrue(make_app().settings.DEBUG)
        self.assertFalse(make_app(DEBUG="false").settings.DEBUG)

    def test_parse_dotenv(self):
        values = parse_dotenv("# comment\n\nexport A=1\nB = 'two words'\nC=\"x=y\"\nD=v # note\nbad\n")
        self.assertEqual(values, {"A": "1", "B": "two words", "C": "x=y", "D": "v"})


class TemplatingTests(unittest.TestCase):
    def test_syntax_error_names_template_and_line(self):
        with self.assertRaises(TemplateSyntaxError) as ctx:
            Template("a\nb\n{% if x %}\nno end", "broken.html")
        self.assertIn("broken.html:3", str(ctx.exception))
        with self.assertRaises(TemplateSyntaxError) as ctx:
            Template("ok\n{{ 1 + }}\n", "expr.html")
        self.assertIn("expr.html:2", str(ctx.exception))

    def test_escape_apply_and_control_flow(self):
        t = Template("{% for x in xs %}{% if x %}{{ x }}{% else %}-{% end %},{% end %}"
                     "{% apply up %}a{{ '<b>' }}{% end %}{# gone #}{{! x }}", "t.txt")
        self.assertEqual(t.generate(xs=["<'&\">", 0], up=str.upper),
                         "&lt;&#x27;&amp;&quot;&gt;,-,A&LT;B&GT;{{ x }}")

    def test_loader_renders_all_templates(self):
        loader = Loader(os.path.join(SHOP_DIR, "src", "templates"))
        for name in ("base.html", "index.html", "product.html"):
            self.assertIsNotNone(loader.load(name))


if __name__ == "__main__":
    unittest.main()
