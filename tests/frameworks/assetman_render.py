#!/usr/bin/env python3
"""Renders every template of an Assetman project through pyassetman's own runtime, reading the
manifest.json a compiler wrote, and checks that every URL the pages emit is a file of the output.

    assetman_render.py TEMPLATE_DIR STATIC_DIR OUTPUT_DIR [--prefix /s/]

The runtime is production's: assetman.tornadoutils.TemplateCommands with
enable_static_compilation=False and compiled_asset_root=OUTPUT_DIR, so a block renders
PREFIX + manifest["blocks"][md5("\\n".join(paths))]["versioned_path"] and static_url(p) renders
PREFIX + manifest["assets"][p]["versioned_path"]. Templates are rendered by Tornado from
TEMPLATE_DIR (the sources: the runtime, not the compiler, replaces the blocks). Names a template
uses that the project would pass at run time get a neutral stand-in (an empty, falsy string that
also answers .get(), [] and calls).

Every src/href under PREFIX in the rendered HTML must be a file under OUTPUT_DIR, and so must every
url() and @import (resolved against the CSS file's URL) in those CSS files. Prints one JSON object
{"templates", "rendered", "urls", "css_urls", "failures"}; exit 1 on any failure.
"""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.parse
from pathlib import Path

SRC_HREF = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']+)["']""")
CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)
CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^'")\s]+))\s*\)|@import\s+["']([^"']+)["']""")


class Anything(str):
    """What a view would pass: empty, falsy, iterable as nothing, and .get()/[]/()/.attr-able."""

    def __new__(cls):
        return super().__new__(cls, "")

    def __getitem__(self, key):
        return Anything()

    def __call__(self, *args, **kwargs):
        return Anything()

    def __getattr__(self, name):
        return Anything()

    def get(self, *args, **kwargs):
        return Anything()


def render(loader, name: str, assetman) -> str:
    ns = {"assetman": assetman}
    for _ in range(200):
        try:
            return loader.load(name).generate(**ns).decode("utf-8")
        except NameError as e:
            missing = getattr(e, "name", None) or re.search(r"name '(\w+)'", str(e)).group(1)
            if missing in ns:
                raise
            ns[missing] = Anything()
    raise RuntimeError(f"{name}: more than 200 unknown names")


def main() -> int:
    args = sys.argv[1:]
    prefix = "/s/"
    if "--prefix" in args:
        i = args.index("--prefix")
        prefix = args[i + 1]
        del args[i:i + 2]
    if len(args) != 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    tdir, sdir, out = (Path(a).resolve() for a in args)
    import logging

    import tornado.template
    from assetman.settings import Settings
    from assetman.tornadoutils import TemplateCommands

    manifest_path = out / "manifest.json"
    if not manifest_path.is_file():
        raise SystemExit(f"{manifest_path}: no manifest.json in the output")
    settings = Settings(static_dir=str(sdir), compiled_asset_root=str(out), static_url_prefix=prefix,
                        local_cdn_url_prefix=prefix, cdn_url_prefix=[prefix], enable_static_compilation=False)
    commands = TemplateCommands(settings)
    logging.disable(logging.ERROR)  # the runtime logs each failed block; the failures below say it once
    loader = tornado.template.Loader(str(tdir))
    manifest = json.loads(manifest_path.read_text())
    some_keys = sorted(manifest.get("blocks", {}))[:3]
    templates = sorted(p.relative_to(tdir).as_posix() for p in tdir.rglob("*.html"))
    failures, urls, css_urls, rendered = [], set(), set(), 0

    def check_file(url: str, origin: str) -> Path | None:
        path = urllib.parse.urlsplit(url).path
        if not path.startswith(prefix):
            return None
        f = out / path[len(prefix):]
        if not f.is_file():
            failures.append(f"{origin}: {url} is not a file of the output ({f})")
            return None
        return f

    for name in templates:
        try:
            html = render(loader, name, commands)
        except Exception as e:  # noqa: BLE001 - the runtime's own error is the finding
            hint = ""
            if isinstance(e, KeyError):
                hint = (f" (the runtime looks blocks up by md5 of the path list; manifest.json's block keys "
                        f"look like {some_keys})")
            failures.append(f"{name}: rendering raised {type(e).__name__}: {e}{hint}")
            continue
        rendered += 1
        for url in SRC_HREF.findall(html):
            f = check_file(url, name)
            urls.add(url)
            if f is not None and f.suffix == ".css":
                css = CSS_COMMENT.sub("", f.read_text(encoding="utf-8", errors="replace"))
                for m in CSS_URL.finditer(css):
                    ref = next(g for g in m.groups() if g is not None)
                    if ref.startswith(("data:", "#", "http:", "https:", "//")):
                        continue
                    target = urllib.parse.urljoin(url, ref)
                    if target not in css_urls:
                        css_urls.add(target)
                        check_file(target, f"{name} -> {url}")
    if rendered == 0 or not urls:
        failures.append(f"nothing checked ({rendered} of {len(templates)} templates rendered, {len(urls)} URLs)")
    print(json.dumps({"templates": len(templates), "rendered": rendered, "urls": len(urls),
                      "css_urls": len(css_urls), "failures": failures}, indent=1))
    # One line per distinct problem (every page that extends a broken layout fails the same way).
    grouped: dict[str, list[str]] = {}
    for f in failures:
        where, _, what = f.partition(": ")
        grouped.setdefault(what or where, []).append(where if what else "")
    for what, where in grouped.items():
        names = [w for w in where if w]
        shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        print(f"FAIL {what}" + (f" ({len(names)} templates: {shown})" if names else ""), file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
