"""Routing and request handlers (plain WSGI, no framework).

Routes::

    GET /                   product list (templates/index.html)
    GET /product/<slug>     product page (templates/product.html), 404 if unknown
    GET /api/products       JSON list of products (sorted keys)
    GET /healthz            "ok"
    GET /s/<path>           static files from src/partials (development serving)
"""
import json
import mimetypes
import os
import re
import urllib.parse

from . import catalog
from .assetman import Assetman
from .db import Database
from .settings import load_settings
from .templating import Loader

CONTENT_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "application/javascript; charset=utf-8",
    ".mjs": "application/javascript; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
}
# Files whose names carry a content hash (kiln's versioned assets) may be cached forever.
VERSIONED_RE = re.compile(r"\.[0-9a-f]{12}\.[A-Za-z0-9]+$")
PRODUCT_RE = re.compile(r"^/product/([a-z0-9][a-z0-9-]{0,63})/?$")


class Response:
    def __init__(self, body=b"", status="200 OK", content_type="text/html; charset=utf-8",
                 headers=None):
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.status = status
        self.headers = [("Content-Type", content_type)] + list(headers or [])


class ShopApp:
    def __init__(self, settings=None):
        self.settings = settings or load_settings()
        s = self.settings
        self.db = Database(s.DATABASE_PATH, s.MIGRATIONS_DIR)
        self.assetman = Assetman(s.STATIC_ROOT, s.STATIC_PREFIX, s.MANIFEST_PATH or None)
        self.templates = Loader(s.TEMPLATE_DIR)
        self.static_root = os.path.realpath(s.STATIC_ROOT)

    # -- templates -----------------------------------------------------------
    def namespace(self, **extra):
        """The template namespace; also used by tests/check_tornado_parity.py."""
        ns = {
            "assetman": self.assetman,
            "money": catalog.format_price,
            "shop_name": self.settings.SHOP_NAME,
            "debug": self.settings.DEBUG,
        }
        ns.update(extra)
        return ns

    def page_namespace(self, page, slug=None):
        if page == "index":
            return self.namespace(products=catalog.list_products(self.db))
        return self.namespace(product=catalog.get_product(self.db, slug) if slug else None)

    def render(self, name, status="200 OK", **ns):
        html = self.templates.load(name).generate(**self.namespace(**ns))
        return Response(html, status)

    # -- handlers ------------------------------------------------------------
    def index(self, environ):
        return self.render("index.html", **self.page_namespace("index"))

    def product(self, environ, slug):
        product = catalog.get_product(self.db, slug)
        if product is None:
            return self.render("product.html", status="404 Not Found", product=None)
        return self.render("product.html", product=product)

    def api_products(self, environ):
        data = {"products": [catalog.product_json(p) for p in catalog.list_products(self.db)]}
        body = json.dumps(data, sort_keys=True, indent=None, separators=(",", ":"))
        return Response(body + "\n", content_type="application/json")

    def healthz(self, environ):
        return Response("ok", content_type="text/plain; charset=utf-8")

    def static(self, environ, rel):
        path = self.resolve_static(rel)
        if path is None:
            return self.not_found()
        ext = os.path.splitext(path)[1].lower()
        ctype = CONTENT_TYPES.get(ext) or mimetypes.guess_type(path)[0] or "application/octet-stream"
        with open(path, "rb") as f:
            body = f.read()
        cache = ("public, max-age=31536000, immutable" if VERSIONED_RE.search(path)
                 else "no-cache")
        return Response(body, content_type=ctype, headers=[
            ("Cache-Control", cache), ("X-Content-Type-Options", "nosniff")])

    def resolve_static(self, rel):
        """Maps a /s/ sub-path to a file under src/partials, or None if unsafe/missing."""
        for candidate in (rel, urllib.parse.unquote(rel)):
            if (not candidate or "\\" in candidate or "\x00" in candidate
                    or candidate.startswith("/") or os.path.isabs(candidate)
                    or ":" in candidate.split("/", 1)[0]
                    or any(part in ("", ".", "..") for part in candidate.split("/"))):
                return None
        full = os.path.realpath(os.path.join(self.static_root, *rel.split("/")))
        if not full.startswith(self.static_root + os.sep) or not os.path.isfile(full):
            return None
        return full

    def not_found(self):
        return Response("<!DOCTYPE html><title>Not found</title><h1>404 Not found</h1>\n",
                        "404 Not Found")

    # -- dispatch ------------------------------------------------------------
    def dispatch(self, environ):
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "") or "/"
        if method not in ("GET", "HEAD"):
            return Response("method not allowed\n", "405 Method Not Allowed",
                            "text/plain; charset=utf-8", [("Allow", "GET, HEAD")])
        prefix = self.settings.STATIC_PREFIX
        if path.startswith(prefix):
            return self.static(environ, path[len(prefix):])
        if path == "/":
            return self.index(environ)
        if path == "/healthz":
            return self.healthz(environ)
        if path in ("/api/products", "/api/products/"):
            return self.api_products(environ)
        m = PRODUCT_RE.match(path)
        if m:
            return self.product(environ, m.group(1))
        return self.not_found()

    def __call__(self, environ, start_response):
        resp = self.dispatch(environ)
        body = b"" if environ.get("REQUEST_METHOD", "GET").upper() == "HEAD" else resp.body
        headers = resp.headers + [("Content-Length", str(len(resp.body)))]
        start_response(resp.status, headers)
        return [body]


def create_app(environ=None):
    """Builds a new app, re-reading settings from the environment (and .env)."""
    return ShopApp(load_settings(environ))
