"""Runtime side of Assetman-style asset versioning, exposed to templates as ``assetman``.

Without a manifest (development) every asset is served as-is from the static
root under ``prefix``.  After a kiln build, ``manifest.json`` maps each asset to
a content-versioned file and each ``{% apply assetman.include_js/css %}`` block
(keyed by the md5 of its newline-joined paths) to one compiled bundle::

    {"version": 1,
     "assets": {"css/shop.css": {"version": "<md5>", "versioned_path": "css/shop.<12 hex>.css",
                                 "integrity": "sha384-...", "deps": [...]}},
     "blocks": {"<kind>:<md5 of paths>": {"versioned_path": "...", "integrity": "...", "paths": [...]}},
     "lookups": {...}}
"""
import hashlib
import html
import json
import os

__all__ = ["Assetman", "block_key", "load_manifest"]


def block_key(paths):
    """Manifest key of an asset block, as Assetman's runtime computes it: the md5 hex of the
    paths joined by newlines."""
    return hashlib.md5("\n".join(paths).encode("utf-8")).hexdigest()


def load_manifest(path):
    """Returns the parsed manifest, or None when ``path`` is empty or missing."""
    if not path or not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    if not isinstance(manifest, dict) or manifest.get("version") != 1:
        raise ValueError("%s: not a kiln manifest (expected version 1)" % path)
    return manifest


def _attr(value):
    return html.escape(value, quote=True)


class Assetman:
    def __init__(self, static_root, prefix="/s/", manifest_path=None):
        self.static_root = os.path.abspath(static_root)
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"
        self.manifest_path = manifest_path
        self.manifest = load_manifest(manifest_path)

    @property
    def compiled(self):
        return self.manifest is not None

    @staticmethod
    def _paths(body):
        if isinstance(body, bytes):  # real Tornado passes the block body as bytes
            body = body.decode("utf-8")
        return [line.strip() for line in body.splitlines() if line.strip()]

    def _asset(self, path):
        if self.manifest is None:
            return None
        return self.manifest.get("assets", {}).get(path.lstrip("/"))

    def static_url(self, path):
        entry = self._asset(path)
        if entry and entry.get("versioned_path"):
            return self.prefix + entry["versioned_path"]
        return self.prefix + path.lstrip("/")

    def _block(self, body, kind, tag):
        paths = self._paths(body)
        if not paths:
            return ""
        if self.manifest is not None:
            block = self.manifest.get("blocks", {}).get(block_key(paths))
            if block and block.get("versioned_path"):
                return tag(self.prefix + block["versioned_path"], block.get("integrity"))
        return "\n".join(tag(self.static_url(p), None) for p in paths)

    @staticmethod
    def _sri(integrity):
        if not integrity:
            return ""
        return ' integrity="%s" crossorigin="anonymous"' % _attr(integrity)

    def include_js(self, body):
        return self._block(body, "js", lambda url, sri: '<script src="%s"%s></script>'
                           % (_attr(url), self._sri(sri)))

    def include_css(self, body):
        return self._block(body, "css", lambda url, sri: '<link rel="stylesheet" href="%s"%s>'
                           % (_attr(url), self._sri(sri)))
