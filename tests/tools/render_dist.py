"""Renders every page of a built shop dist with real Tornado (the dist's own rewritten templates,
the dist's own sourceless app for the page data) and checks that every /s/ URL in the HTML is a
file of the dist, with the SRI the HTML claims. Usage: render_dist.py DIST"""
import base64
import hashlib
import os
import re
import sys

import tornado.template


def main():
    dist = os.path.abspath(sys.argv[1])
    sys.path.insert(0, dist)
    os.environ.update({"SECRET_KEY": "render-dist", "DATABASE_PATH": ":memory:"})
    from src.app import create_app

    app = create_app()
    loader = tornado.template.Loader(os.path.join(dist, "src", "templates"))
    pages = [("index.html", app.page_namespace("index"))]
    for p in app.db.query("SELECT slug FROM products ORDER BY slug"):
        pages.append(("product.html", app.page_namespace("product", p["slug"])))
    checked, problems = set(), []
    for name, ns in pages:
        html = loader.load(name).generate(**ns).decode()
        if "{%" in html or "assetman" in html:
            problems.append("%s: unrendered template syntax or assetman call left" % name)
        tags = re.findall(r"<(?:script|link|img)\b[^>]*>", html)
        for tag in tags:
            url = re.search(r"\b(?:src|href)=\"?([^\" >]+)", tag)
            if not url or not url.group(1).startswith("/s/"):
                continue
            path = os.path.join(dist, "src", "partials", url.group(1)[len("/s/"):])
            if not os.path.isfile(path):
                problems.append("%s: %s is not a file of the dist" % (name, url.group(1)))
                continue
            sri = re.search(r"integrity=\"?(sha384-[^\" >]+)", tag)
            if sri:
                with open(path, "rb") as f:
                    want = "sha384-" + base64.b64encode(hashlib.sha384(f.read()).digest()).decode()
                if sri.group(1) != want:
                    problems.append("%s: %s has integrity %s, the file %s" % (name, url.group(1), sri.group(1), want))
            checked.add(url.group(1))
    for p in problems:
        print(p)
    print("tornado %s: %d pages, %d distinct /s/ URLs checked, %d problems" % (tornado.version, len(pages), len(checked), len(problems)))
    return 1 if problems or len(checked) < 3 else 0


if __name__ == "__main__":
    sys.exit(main())
