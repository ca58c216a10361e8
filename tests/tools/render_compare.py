"""Renders examples/shop's pages with real Tornado from two template directories (the sources and
their minified copies) and checks that the DOMs say the same thing: the same elements and
attributes in the same order, the same visible text (whitespace runs collapsed, as a browser
shows them), byte-identical <pre>/<textarea> text and identical scripts/styles that hold template
output. Usage: render_compare.py SHOP_DIR ORIGINAL_TEMPLATES MINIFIED_TEMPLATES"""
import json
import os
import re
import sys
import tempfile
from html.parser import HTMLParser

import tornado.template


# Phrasing elements; any other element starts or ends a block, where a browser breaks the line.
INLINE = {"a", "abbr", "b", "bdi", "bdo", "button", "cite", "code", "data", "dfn", "em", "i", "img",
          "input", "kbd", "label", "mark", "meter", "output", "progress", "q", "s", "samp", "select",
          "small", "span", "strong", "sub", "sup", "svg", "textarea", "time", "u", "var", "br"}
# Attribute values a minifier may legitimately drop because they are the defaults.
DEFAULTS = {("form", "method", "get"), ("input", "type", "text"), ("script", "type", "text/javascript")}


class Dom(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements, self.text, self.exact, self.raw = [], [], [], []
        self.stack = []

    def handle_starttag(self, tag, attrs):
        norm = []
        for k, v in attrs:
            v = v or ""
            if k == "class":
                v = " ".join(v.split())
            if tag == "meta" and k == "content":
                v = re.sub(r",\s+", ",", v)
            if (tag, k, v.lower()) not in DEFAULTS:
                norm.append((k, v))
        self.elements.append((tag, tuple(sorted(norm))))
        # As an HTML5 parser does: a new <li> ends the open one (within its list).
        if tag == "li" and "li" in self.stack:
            while self.stack:
                top = self.stack.pop()
                if top == "li" or top in ("ul", "ol", "menu"):
                    if top != "li":
                        self.stack.append(top)
                    break
        if tag not in INLINE:
            self.text.append(" ")
        if tag not in ("img", "input", "br", "meta", "link", "hr", "source", "wbr"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        # An end tag with no open element of its name is ignored (HTML5), not a pop of the rest.
        if tag not in self.stack:
            return
        if tag not in INLINE:
            self.text.append(" ")
        while self.stack:
            if self.stack.pop() == tag:
                break

    def handle_data(self, data):
        inside = self.stack[-1] if self.stack else ""
        if inside in ("script", "style"):
            self.raw.append(data)
        elif inside in ("pre", "textarea"):
            self.exact.append(data)
            self.text.append(data)
        else:
            self.text.append(data)


def dom(html):
    d = Dom()
    d.feed(html)
    d.close()
    visible = re.sub(r"\s+", " ", "".join(d.text)).strip()
    return d.elements, visible, d.exact, d.raw


def main():
    shop, original, minified = sys.argv[1:4]
    sys.path.insert(0, shop)
    os.environ.update({"DEBUG": "true", "SECRET_KEY": "render-compare", "DATABASE_PATH": ":memory:"})
    from src.app import create_app
    from src.assetman import block_key

    with tempfile.TemporaryDirectory() as tmp:
        js = ["js/util.js", "js/cart.js", "js/catalog.js"]
        css = ["css/base.css", "css/shop.css"]
        manifest = {"version": 1, "assets": {}, "lookups": {}, "blocks": {
            block_key(js): {"versioned_path": "js/b.0123456789ab.js", "integrity": "sha384-js", "paths": js},
            block_key(css): {"versioned_path": "css/b.0123456789ab.css", "integrity": "sha384-css", "paths": css}}}
        path = os.path.join(tmp, "manifest.json")
        with open(path, "w") as f:
            json.dump(manifest, f)
        checked = failures = 0
        for manifest_env in ("", path):
            os.environ["KILN_MANIFEST"] = manifest_env
            app = create_app()
            pages = [("index.html", app.page_namespace("index"))]
            for p in app.db.query("SELECT slug FROM products ORDER BY slug"):
                pages.append(("product.html", app.page_namespace("product", p["slug"])))
            pages.append(("product.html", app.page_namespace("product", None)))
            before = tornado.template.Loader(original)
            after = tornado.template.Loader(minified)
            for name, ns in pages:
                a = before.load(name).generate(**ns).decode()
                b = after.load(name).generate(**ns).decode()
                checked += 1
                da, db = dom(a), dom(b)
                for part, label in ((0, "elements"), (1, "visible text"), (2, "pre/textarea text")):
                    if da[part] != db[part]:
                        failures += 1
                        x, y = da[part], db[part]
                        i = next((i for i, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y)))
                        print("MISMATCH in %s of %s (manifest=%s) at %d:\n  before: %r\n  after:  %r" % (
                            label, name, bool(manifest_env), i, x[max(0, i - 3):i + 3], y[max(0, i - 3):i + 3]))
                # Scripts and styles that carry template output must render identically.
                for r in da[3]:
                    if re.search(r"\b(var|let|const)\s+[A-Z_]+\s*=", r) and r not in db[3]:
                        failures += 1
                        print("MISMATCH: templated script changed in %s: %r" % (name, r))
                if len(a) <= len(b):
                    print("NOTE: %s did not get smaller (%d -> %d)" % (name, len(a), len(b)))
            app.db.close()
    print("tornado %s: %d pages compared, %d mismatches" % (tornado.version, checked, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
