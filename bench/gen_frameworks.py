#!/usr/bin/env python3
"""Scales the framework examples up for bench/benches/asok_app.py and django_site.py: same
inputs, same bytes.

    python3 bench/gen_frameworks.py asok OUT [--copies N]     # examples/asok-blog, scaled
    python3 bench/gen_frameworks.py django OUT [--copies N]   # examples/django-site, scaled

asok: examples/asok-blog (a real `asok create` app grown with CSS, JS and images) plus N copies of
its sections, each under its own name so that asok's file router and `static()` reach them:
`src/pages/s<i>/…` (page.py and page.html for the index, posts and about), the layout partials
under `src/partials/html/s<i>/`, and its assets under `src/partials/{css,js,images}/s<i>/` (asok
build minifies only what is under src/partials/css and js). Templates, `static('…')` arguments,
the image paths in page.py and the CSS's relative `url()`s are renamed to the copy's. Every copied file is made distinct (a marker rule, statement
or comment; one changed pixel in each image, re-encoded by Pillow), so no tool can share work
between copies. 22 files a copy; 22 copies give 515 files.

Django: examples/django-site plus N copies of the `shop` app's static tree under the
STATICFILES_DIRS directory, `assets/s<i>/{css,js,img}/…` (site.css's `@import` and relative
`url()`s resolve inside the copy; its absolute `/static/shop/img/logo.png` is the app's), made
distinct the same way. Django admin's static files are collected too (about 130). The comment
in site.css that names `url(missing.png)` loses its `url()`: Django's collectstatic (ticket 21080)
fails on a `url()` inside a CSS comment, and both tools must get the same input.

Needs Pillow (bench/requirements.txt).
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASOK_EXAMPLE = ROOT / "examples" / "asok-blog"
DJANGO_EXAMPLE = ROOT / "examples" / "django-site"
ASOK_COPIES = 22
DJANGO_COPIES = 40
IMAGES = (".jpg", ".jpeg", ".png")
# The comment in examples/django-site's site.css that Django's collectstatic cannot read.
DJANGO_COMMENT_URL = ("url(missing.png)", "missing.png")


def distinct(path: Path, i: int) -> None:
    """Makes a copied file's bytes unique to copy `i` while keeping it valid for every tool."""
    suffix = path.suffix.lower()
    if suffix == ".css":
        path.write_text(path.read_text() + f".kiln-bench-copy-{i} {{ --copy: {i}; }}\n")
    elif suffix == ".js":
        path.write_text(path.read_text() + f'document.documentElement.setAttribute("data-copy-{i}", "{i}");\n')
    elif suffix == ".py":
        path.write_text(path.read_text() + f"\nCOPY = {i}\n")
    elif suffix in (".html", ".svg"):
        path.write_text(path.read_text() + f"<!-- copy {i} -->\n")
    elif suffix in IMAGES:
        from PIL import Image

        with Image.open(path) as im:
            fmt = im.format
            im = im.copy()
        px = (i * 37 % 256, i * 91 % 256, i * 13 % 256)
        if im.mode in ("RGBA", "LA"):
            px = px + (255,)
        if im.mode == "P":
            im = im.convert("RGBA")
            px = px + (255,)
        if im.mode == "L":
            px = px[0]
        im.putpixel((0, 0), px)
        buf = io.BytesIO()
        im.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        path.write_bytes(buf.getvalue())


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def scale_asok(out: Path, copies: int = ASOK_COPIES) -> dict[str, list[Path]]:
    """examples/asok-blog plus `copies` renamed, distinct copies of its pages, layout and assets."""
    shutil.copytree(ASOK_EXAMPLE, out, ignore=shutil.ignore_patterns(".asok", "__pycache__"))
    pages, partials = out / "src" / "pages", out / "src" / "partials"
    page_files = files(pages)
    html_files = files(partials / "html")
    asset_dirs = ["css", "js", "images"]
    assets = {d: files(partials / d) for d in asset_dirs}
    for i in range(copies):
        tag = f"s{i}"

        def rename(text: str) -> str:
            text = text.replace('"html/', f'"html/{tag}/')
            for d in asset_dirs:
                text = text.replace(f"static('{d}/", f"static('{d}/{tag}/").replace(f'"{d}/', f'"{d}/{tag}/')
            return text.replace("../images/", f"../../images/{tag}/")

        for src in page_files:
            dst = pages / tag / src.relative_to(pages)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(rename(src.read_text()))
            distinct(dst, i)
        for src in html_files:
            dst = partials / "html" / tag / src.relative_to(partials / "html")
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(rename(src.read_text()))
            distinct(dst, i)
        for d in asset_dirs:
            for src in assets[d]:
                dst = partials / d / tag / src.relative_to(partials / d)
                dst.parent.mkdir(parents=True, exist_ok=True)
                if src.suffix == ".css":
                    dst.write_text(rename(src.read_text()))
                else:
                    shutil.copyfile(src, dst)
                distinct(dst, i)
    all_files = files(out)
    rel = lambda p: p.relative_to(out).as_posix()  # noqa: E731
    return {
        "files": all_files,
        "py": [p for p in all_files if p.suffix == ".py"],
        "templates": [p for p in all_files if p.suffix == ".html"],
        "css": [p for p in all_files if p.suffix == ".css"],
        "js": [p for p in all_files if p.suffix == ".js"],
        "images": [p for p in all_files if p.suffix.lower() in IMAGES + (".svg",) and rel(p).startswith("src/partials/")],
    }


def scale_django(out: Path, copies: int = DJANGO_COPIES) -> dict[str, list[Path]]:
    """examples/django-site plus `copies` distinct copies of the shop app's static files under assets/."""
    shutil.copytree(DJANGO_EXAMPLE, out, ignore=shutil.ignore_patterns("__pycache__", "staticfiles", "db.sqlite3"))
    site_css = out / "shop" / "static" / "shop" / "css" / "site.css"
    text = site_css.read_text()
    if DJANGO_COMMENT_URL[0] not in text:
        raise SystemExit(f"{site_css}: the comment's {DJANGO_COMMENT_URL[0]} is gone; update bench/gen_frameworks.py")
    site_css.write_text(text.replace(*DJANGO_COMMENT_URL))
    shop_static = out / "shop" / "static" / "shop"
    for i in range(copies):
        for src in files(shop_static):
            dst = out / "assets" / f"s{i}" / src.relative_to(shop_static)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            distinct(dst, i)
    all_files = files(out)
    return {"files": all_files,
            "static": [p for p in all_files if p.is_relative_to(out / "assets") or p.is_relative_to(out / "shop" / "static")]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("kind", choices=["asok", "django"])
    ap.add_argument("out", type=Path)
    ap.add_argument("--copies", type=int)
    args = ap.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        print(f"{args.out}: exists and is not empty", file=sys.stderr)
        return 2
    if args.out.exists():
        args.out.rmdir()
    if args.kind == "asok":
        made = scale_asok(args.out, args.copies if args.copies is not None else ASOK_COPIES)
    else:
        made = scale_django(args.out, args.copies if args.copies is not None else DJANGO_COPIES)
    print(f"{args.out}: {len(made['files'])} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
