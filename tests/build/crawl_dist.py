"""Runs a built shop dist in-process and crawls it (used by tests/build.rs).

Run with the dist as the current directory and SECRET_KEY in the environment. Imports the
sourceless wsgi.pyc, calls the WSGI app for /, every /product/<slug> listed by /api/products,
and every /s/ URL found in those pages (src/href attributes) and in the stylesheets they load
(url(...)). Prints one JSON object: the modules' files, the pages, and every asset response with
its referrer and the integrity attribute the page gave it. The checks are made by the Rust test.
"""
import base64
import html.parser
import io
import json
import os
import re
import sys

sys.path.insert(0, os.getcwd())
import wsgi  # noqa: E402  (wsgi.pyc: there is no wsgi.py in a dist)

app = wsgi.app


def get(path):
    status = []
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "test",
        "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
        "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    body = b"".join(app(environ, lambda s, h, exc=None: status.append((s, h))))
    return int(status[0][0].split()[0]), dict(status[0][1]), body


class Refs(html.parser.HTMLParser):
    """(url, integrity or None) of every src/href attribute (quoted or not)."""

    def __init__(self):
        super().__init__()
        self.refs = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for name in ("src", "href"):
            if a.get(name):
                self.refs.append((a[name], a.get("integrity")))


CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)""")

status, _, body = get("/api/products")
assert status == 200, status
slugs = [p["slug"] for p in json.loads(body)["products"]]

pages, assets, seen = [], [], set()
queue = []
for path in ["/"] + ["/product/%s" % s for s in slugs]:
    status, headers, body = get(path)
    pages.append({"path": path, "status": status, "html": body.decode("utf-8", "replace")})
    p = Refs()
    p.feed(body.decode("utf-8"))
    queue.extend((url, integrity, path) for url, integrity in p.refs if url.startswith("/s/"))
while queue:
    url, integrity, referrer = queue.pop(0)
    if (url, integrity) in seen:
        continue
    seen.add((url, integrity))
    status, headers, body = get(url)
    assets.append({"url": url, "referrer": referrer, "integrity": integrity, "status": status,
                   "content_type": headers.get("Content-Type", ""),
                   "body": base64.b64encode(body).decode()})
    if url.endswith(".css") and status == 200:
        for ref in CSS_URL.findall(body.decode("utf-8", "replace")):
            if ref.startswith("/s/"):
                queue.append((ref, None, url))

modules = sorted({m.__file__ for m in list(sys.modules.values())
                  if getattr(m, "__file__", None) and m.__file__.startswith(os.getcwd() + os.sep)})
json.dump({"modules": modules, "pages": pages, "assets": assets}, sys.stdout, sort_keys=True)
