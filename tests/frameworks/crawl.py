#!/usr/bin/env python3
"""Crawls a running server: every page, every URL those pages name, every url() in served CSS.

    crawl.py BASE_URL PAGE... [--versioned PREFIX=REGEX]... [--no-js-imports]

GETs each PAGE (a path, e.g. /products: must answer 200 with HTML), then every src, href and
srcset URL (and style="...url()") in it on the same host: 200 expected, an asset must not come
back as an HTML page (a framework's catch-all answering 200 for a missing file is a failure),
same-host HTML that an <a href> reaches is crawled as a page too. Every url() and @import in served
CSS (comments stripped, as a browser does), and every relative import in JS loaded as a module,
is fetched the same way. External URLs are counted, never fetched.

--versioned PREFIX=REGEX: every asset URL named by a page or a CSS file whose path starts with
PREFIX must match REGEX (e.g.
/static/=\\.[0-9a-f]{12}\\.\\w+$ for Django's content-versioned names).

Prints one JSON object on stdout: {"pages", "assets", "css_urls", "js_imports", "external",
"failures": [{"url", "status", "from", "why"}], "statuses": {url: status}}; one line per failure
on stderr. Exit status 1 when anything failed.
"""

from __future__ import annotations

import html.parser
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

MAX_URLS = 2000
ASSET_EXT = re.compile(r"\.(css|js|mjs|png|jpe?g|gif|webp|avif|svg|ico|woff2?|ttf|otf|eot|map|json|txt|pdf|mp4|webm)$", re.I)
CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)
CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^'")\s]+))\s*\)""", re.I)
CSS_IMPORT = re.compile(r"""@import\s+(?:"([^"]*)"|'([^']*)')""", re.I)
JS_IMPORT = re.compile(r"""(?:\bimport\s*(?:[\w*{}\s,$]+\s*from\s*)?|\bexport\s*[\w*{}\s,$]+\s*from\s*|\bimport\s*\(\s*)["']([^"']+)["']""")


class Refs(html.parser.HTMLParser):
    """(url, how) of every src/href/srcset/poster attribute and style url()."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.refs: list[tuple[str, str]] = []
        self.modules: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = {k: v for k, v in attrs if v is not None}
        for name in ("src", "href", "poster", "data-src"):
            if a.get(name):
                how = f"<{tag} {name}>"
                if tag == "link" and name == "href":
                    how = f"<link rel={a.get('rel', '')} href>"
                self.refs.append((a[name].strip(), how))
                if tag == "script" and name == "src" and a.get("type") == "module":
                    self.modules.add(a[name].strip())
        for name in ("srcset", "imagesrcset"):
            for cand in (a.get(name) or "").split(","):
                cand = cand.strip().split()
                if cand:
                    self.refs.append((cand[0], f"<{tag} {name}>"))
        for m in CSS_URL.finditer(a.get("style", "")):
            self.refs.append((next(g for g in m.groups() if g is not None), f"<{tag} style url()>"))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)


class Crawler:
    def __init__(self, base: str, versioned: list[tuple[str, re.Pattern]], js_imports: bool):
        self.base = base.rstrip("/") + "/"
        self.host = urllib.parse.urlsplit(self.base).netloc
        self.versioned = versioned
        self.js_imports = js_imports
        self.statuses: dict[str, int] = {}
        self.failures: list[dict] = []
        self.counts = {"pages": 0, "assets": 0, "css_urls": 0, "js_imports": 0, "external": 0}
        self.external: set[str] = set()

    def fail(self, url: str, status, origin: str, why: str) -> None:
        self.failures.append({"url": self.show(url), "status": status, "from": origin, "why": why})

    def show(self, url: str) -> str:
        s = urllib.parse.urlsplit(url)
        return s.path + (f"?{s.query}" if s.query else "") if s.netloc == self.host else url

    def get(self, url: str) -> tuple[int, str, bytes]:
        req = urllib.request.Request(url, headers={"User-Agent": "kiln-frameworks-crawler", "Accept": "*/*"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.headers.get("Content-Type", ""), r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type", ""), e.read()
        except (urllib.error.URLError, OSError) as e:
            return 0, "", str(e).encode()

    def resolve(self, ref: str, against: str) -> str | None:
        ref = ref.strip()
        if not ref or ref.startswith(("#", "data:", "mailto:", "tel:", "javascript:", "blob:", "about:")):
            return None
        url = urllib.parse.urljoin(against, ref)
        url = urllib.parse.urldefrag(url)[0]
        if urllib.parse.urlsplit(url).netloc != self.host:
            self.external.add(url)
            return None
        return url

    def fetch(self, url: str, origin: str, kind: str, versioned: bool = True) -> tuple[int, str, bytes] | None:
        """GETs a same-host URL once; records failures. None when already fetched or over budget."""
        if url in self.statuses:  # the first fetch recorded any failure
            return None
        if len(self.statuses) >= MAX_URLS:
            self.fail(url, None, origin, f"crawl budget of {MAX_URLS} URLs exhausted")
            return None
        status, ctype, body = self.get(url)
        self.statuses[url] = status
        path = urllib.parse.urlsplit(url).path
        if status != 200:
            detail = body[:300].decode("utf-8", "replace").strip().replace("\n", " ")
            self.fail(url, status, origin, f"{kind} answered {status or 'no response'}" + (f": {detail}" if status == 0 else ""))
            return None
        if kind != "page" and ASSET_EXT.search(path) and ctype.startswith("text/html"):
            self.fail(url, status, origin, f"{kind} {path} came back as an HTML page (Content-Type {ctype})")
            return None
        for prefix, rx in self.versioned if versioned else ():
            if kind != "page" and path.startswith(prefix) and not rx.search(path):
                self.fail(url, status, origin, f"{path} is not content-versioned (expected to match {rx.pattern})")
        return status, ctype, body

    def page(self, url: str, origin: str) -> None:
        got = self.fetch(url, origin, "page")
        if got is None:
            return
        _, ctype, body = got
        if not ctype.startswith("text/html"):
            self.fail(url, 200, origin, f"page came back as {ctype or 'no Content-Type'}, not HTML")
            return
        self.counts["pages"] += 1
        parser = Refs()
        parser.feed(body.decode("utf-8", "replace"))
        here = self.show(url)
        for ref, how in parser.refs:
            target = self.resolve(ref, url)
            if target is None:
                continue
            origin = f"{here} {how}"
            if how.startswith("<a ") or how.startswith("<link rel=canonical") or how.startswith("<link rel=alternate"):
                if not ASSET_EXT.search(urllib.parse.urlsplit(target).path):
                    self.page(target, origin)
                    continue
            self.asset(target, origin, module=ref in parser.modules)

    def asset(self, url: str, origin: str, module: bool = False, versioned: bool = True) -> None:
        # A JS module's own imports are not versioned by the frameworks (Django leaves them as
        # written and keeps the unhashed file), so --versioned applies to page and CSS URLs.
        got = self.fetch(url, origin, "asset", versioned)
        if got is None:
            return
        self.counts["assets"] += 1
        _, ctype, body = got
        path = urllib.parse.urlsplit(url).path
        if ctype.startswith("text/css") or path.endswith(".css"):
            css = CSS_COMMENT.sub("", body.decode("utf-8", "replace"))
            for rx, how in ((CSS_URL, "url()"), (CSS_IMPORT, "@import")):
                for m in rx.finditer(css):
                    target = self.resolve(next(g for g in m.groups() if g is not None), url)
                    if target is not None:
                        self.counts["css_urls"] += 1
                        self.asset(target, f"{self.show(url)} {how}")
        elif module and self.js_imports and (path.endswith((".js", ".mjs")) or "javascript" in ctype):
            for m in JS_IMPORT.finditer(body.decode("utf-8", "replace")):
                spec = m.group(1)
                if spec.startswith(("./", "../", "/")):
                    target = self.resolve(spec, url)
                    if target is not None:
                        self.counts["js_imports"] += 1
                        self.asset(target, f"{self.show(url)} import", module=True, versioned=False)

    def summary(self) -> dict:
        return {**self.counts, "external": len(self.external), "failures": self.failures,
                "statuses": {self.show(u): s for u, s in sorted(self.statuses.items())}}


def crawl(base: str, pages: list[str], versioned: list[tuple[str, re.Pattern]] = (), js_imports: bool = True) -> dict:
    c = Crawler(base, list(versioned), js_imports)
    for p in pages:
        c.page(urllib.parse.urljoin(c.base, p), "start page")
    return c.summary()


def main() -> int:
    args = sys.argv[1:]
    versioned, js_imports, rest = [], True, []
    i = 0
    while i < len(args):
        if args[i] == "--versioned" and i + 1 < len(args) and "=" in args[i + 1]:
            prefix, rx = args[i + 1].split("=", 1)
            versioned.append((prefix, re.compile(rx)))
            i += 2
        elif args[i] == "--no-js-imports":
            js_imports = False
            i += 1
        else:
            rest.append(args[i])
            i += 1
    if len(rest) < 2 or rest[0].startswith("-"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    out = crawl(rest[0], rest[1:], versioned, js_imports)
    for f in out["failures"]:
        print(f"FAIL {f['status']} {f['url']} (from {f['from']}): {f['why']}", file=sys.stderr)
    print(json.dumps(out, indent=1))
    return 1 if out["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
