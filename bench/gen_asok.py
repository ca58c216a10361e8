#!/usr/bin/env python3
"""Generates an asok-style project for bench/benches/build.py: same seed, same bytes.

    python3 bench/gen_asok.py OUT [--seed N]     # OUT must not exist (or be empty)

Layout as examples/shop and `asok new`: wsgi.py (`app = Asok()`), src/ with packages (models,
middlewares, routes, api, services, forms, jobs, utils), src/migrations/ (kept as source by both
builders), src/templates/ (Tornado syntax: extends/include, `{% apply assetman.include_css %}` and
`include_js` blocks, `{{ assetman.static_url('…') }}`), the static root src/partials/ (js/, css/
with url() to images and some @import, img/ with JPEG and PNG made by Pillow), and a .env with
IMAGE_OPTIMIZATION=true. Counts: 214 .py, 208 templates, 154 JS, 84 CSS, 40 images, plus .env,
.gitignore, README.md and requirements.txt (704 files).

Every reference is valid (block paths, static_url, url(), @import: a DAG), every .py compiles,
every template parses with Tornado and every JS file is ES2018 that esbuild, swc and kiln accept.
bench/gen_assetman.py reuses the JS, CSS and image writers (its JS is ES5, for Closure Compiler).
Needs Pillow (bench/requirements.txt).
"""

from __future__ import annotations

import argparse
import io
import random
import sys
from pathlib import Path

SEED = 20240917
COUNTS = {"py": 214, "templates": 208, "js": 154, "css": 84, "images": 40}

WORDS = ["account", "order", "item", "cart", "price", "user", "session", "token", "invoice", "payment",
         "shipment", "address", "product", "stock", "review", "rating", "coupon", "discount", "report",
         "metric", "event", "queue", "task", "badge", "search", "filter", "page", "query", "note", "team"]
VERBS = ["load", "save", "build", "parse", "render", "check", "update", "fetch", "merge", "split",
         "apply", "compute", "resolve", "format", "collect", "filter", "sync", "export", "validate"]
CSS_WORDS = ["card", "nav", "menu", "grid", "item", "list", "panel", "modal", "form", "input", "button",
             "label", "header", "footer", "hero", "badge", "toast", "table", "row", "cell", "avatar",
             "chart", "tab", "tooltip", "dropdown", "sidebar", "content", "wrapper", "price", "stock"]
COLORS = ["#212529", "#0a58ca", "#b24a26", "#7a2f15", "#6c757d", "#198754", "#dc3545", "#ffc107",
          "#f8f9fa", "#fffaf5", "rgb(12, 34, 56)", "rgba(0, 0, 0, 0.15)", "currentColor", "#ffffff"]


def camel(*parts: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in parts)


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# Python


def py_function(rng: random.Random, name: str, indent: str = "", method: bool = False) -> list[str]:
    a, b = f"{rng.choice(WORDS)}s", f"{rng.choice(WORDS)}_limit"
    self_ = "self, " if method else ""
    asyn = "async " if rng.random() < 0.12 else ""
    out = [f"{indent}{asyn}def {name}({self_}{a}: list[dict[str, Any]], {b}: int = {rng.randint(1, 100)}, "
           f"*, strict: bool = False) -> dict[str, Any]:",
           f'{indent}    """{rng.choice(VERBS).title()} the {rng.choice(WORDS)} {rng.choice(WORDS)}s; at most '
           f'`{b}` of them."""']
    body = []
    for _ in range(rng.randint(2, 9)):
        k = rng.randrange(8)
        v = f"{rng.choice(WORDS)}_{rng.choice(['total', 'rows', 'seen', 'keys', 'found'])}"
        if k == 0:
            body.append(f"{v} = [x[{rng.choice(WORDS)!r}] for x in {a} if x.get({rng.choice(WORDS)!r}) is not None]")
        elif k == 1:
            body.append(f"{v} = {{i: row.get('id', i) for i, row in enumerate({a}[:{b}])}}")
        elif k == 2:
            vals = ", ".join(repr(rng.choice(WORDS)) for _ in range(rng.randint(2, 6)))
            body.append(f"if strict and {rng.choice(WORDS)!r} in {{{vals}}}:")
            body.append(f"    raise ValueError(f\"{rng.choice(WORDS)} {{{b}!r}} is not {rng.choice(VERBS)}ed: "
                        f"{{len({a})}} left\")")
        elif k == 3:
            body.append(f"for i, row in enumerate({a}):")
            body.append(f"    if i % {rng.randint(2, 7)} == 0:")
            body.append("        continue")
            body.append(f"    row[{rng.choice(WORDS)!r}] = f\"{{row.get('id', i):>{rng.randint(4, 10)}}}-{{{b}:04d}}\"")
        elif k == 4:
            body.append("try:")
            body.append(f"    {v} = sum(int(x.get({rng.choice(WORDS)!r}, 0)) for x in {a})")
            body.append("except (TypeError, ValueError) as exc:")
            body.append(f"    log.warning(\"bad {rng.choice(WORDS)}: %s\", exc)")
            body.append(f"    {v} = {rng.randint(0, 10)}")
        elif k == 5:
            body.append(f"{v} = sorted({a}, key=lambda r: (r.get({rng.choice(WORDS)!r}, 0), r.get('id', 0)), "
                        f"reverse={rng.choice(['True', 'False'])})")
        elif k == 6:
            body.append("with contextlib.suppress(KeyError, IndexError):")
            body.append(f"    {v} = {{**{a}[0], {rng.choice(WORDS)!r}: {rng.random():.4f}}}")
        else:
            body.append(f"{v} = {rng.randint(0, 1 << 20)} if {b} > {rng.randint(0, 50)} else {rng.uniform(0, 1e6):.3f}")
    if asyn:
        body.append("await asyncio.sleep(0)")
    body.append(f"return {{'count': len({a}), 'limit': {b}, 'label': {rng.choice(WORDS)!r}}}")
    return out + [f"{indent}    {line}" for line in body] + [""]


def py_class(rng: random.Random, name: str) -> list[str]:
    if rng.random() < 0.45:
        out = ["@dataclasses.dataclass(frozen=True)", f"class {name}:",
               f'    """A {rng.choice(WORDS)} {rng.choice(WORDS)} record."""', ""]
        for i in range(rng.randint(2, 7)):
            t, d = rng.choice([("int", str(rng.randint(0, 99))), ("str", repr(rng.choice(WORDS))),
                               ("float", f"{rng.random():.3f}"), ("bool", rng.choice(["True", "False"]))])
            out.append(f"    {rng.choice(WORDS)}_{i}: {t} = {d}")
        out.append("")
    else:
        out = [f"class {name}:", f'    """{rng.choice(VERBS).title()}s {rng.choice(WORDS)}s for the '
                                 f'{rng.choice(WORDS)} pages."""', "",
               f"    KINDS = frozenset({{{', '.join(repr(rng.choice(WORDS)) for _ in range(rng.randint(2, 5)))}}})", "",
               "    def __init__(self, name: str, *items: Any, **options: Any) -> None:",
               "        self.name = name", "        self.items = list(items)", "        self.options = dict(options)", "",
               "    def __repr__(self) -> str:",
               f"        return f\"<{name} {{self.name!r}} items={{len(self.items)}}>\"", ""]
    for _ in range(rng.randint(1, 4)):
        out += py_function(rng, f"{rng.choice(VERBS)}_{rng.choice(WORDS)}", indent="    ", method=True)
    return out


def py_module(rng: random.Random, dotted: str, lines: tuple[int, int]) -> str:
    target = rng.randint(*lines)
    out = [f'"""{dotted}: {rng.choice(VERBS)} and {rng.choice(VERBS)} {rng.choice(WORDS)}s."""', "",
           "import asyncio", "import contextlib", "import dataclasses",
           "import logging", "from typing import Any", "", "log = logging.getLogger(__name__)", "",
           f"LIMITS = {{{', '.join(f'{rng.choice(WORDS)!r}: {rng.randint(1, 5000)}' for _ in range(rng.randint(2, 6)))}}}", ""]
    n = 0
    while len(out) < target:
        n += 1
        if rng.random() < 0.35:
            out += py_class(rng, camel(rng.choice(WORDS), rng.choice(WORDS)) + str(n))
        else:
            out += py_function(rng, f"{rng.choice(VERBS)}_{rng.choice(WORDS)}_{n}")
    return "\n".join(out).rstrip() + "\n"


def migration(rng: random.Random, n: int, table: str) -> str:
    cols = [f"    {rng.choice(WORDS)}_{i} {rng.choice(['TEXT', 'INTEGER', 'REAL'])} NOT NULL DEFAULT "
            f"{rng.choice(['0', repr('')])}" for i in range(rng.randint(2, 8))]
    return (f'"""Migration {n:04d}: the {table} table."""\n\n'
            f"DEPENDS_ON = {[f'{n - 1:04d}'] if n > 1 else []!r}\n\n\n"
            f"def up(conn):\n    conn.execute(\n        \"\"\"\n        CREATE TABLE {table} (\n"
            f"            id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
            + ",\n".join("        " + c for c in cols)
            + f"\n        )\n        \"\"\"\n    )\n    conn.execute(\"CREATE INDEX idx_{table}_id ON {table} (id)\")\n\n\n"
            f"def down(conn):\n    conn.execute(\"DROP TABLE {table}\")\n")


def gen_python(root: Path, rng: random.Random) -> list[Path]:
    files = [write(root / "wsgi.py", '"""WSGI entry point (as `asok new` writes it)."""\nfrom asok import Asok\n\napp = Asok()\n'),
             write(root / "src/__init__.py", ""),
             write(root / "src/settings.py", py_module(rng, "src.settings", (40, 80)))]
    files.append(write(root / "src/migrations/__init__.py", ""))
    for n in range(1, 25):
        table = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}s_{n}"
        files.append(write(root / f"src/migrations/{n:04d}_create_{table}.py", migration(rng, n, table)))
    # Packages asok imports at start-up (models, middlewares) only import the standard library.
    packages = {"models": 22, "middlewares": 5, "routes": 19, "api": 35, "services": 45, "forms": 18,
                "jobs": 14, "utils": 20}
    for pkg, n in packages.items():
        files.append(write(root / f"src/{pkg}/__init__.py", f'"""The {pkg} package."""\n'))
        for i in range(n):
            name = f"{rng.choice(WORDS)}_{rng.choice(VERBS)}_{i:02d}"
            text = py_module(rng, f"src.{pkg}.{name}", (30, 90) if pkg in ("models", "middlewares") else (50, 320))
            if pkg == "middlewares":
                text += "\n\ndef handle(request, call_next):\n    return call_next(request)\n"
            files.append(write(root / f"src/{pkg}/{name}.py", text))
    return files


# ---------------------------------------------------------------------------------------------
# JavaScript and CSS (shared with bench/gen_assetman.py)


def js_file(rng: random.Random, label: str, size: tuple[int, int], es5: bool = False,
            static_urls: list[str] = ()) -> str:
    """One browser script of about `size` bytes: an IIFE over a namespace. ES2018 (classes, arrows,
    template literals, async) unless `es5`, which Closure Compiler's ECMASCRIPT5 input needs."""
    target = rng.randint(*size)
    ns = camel(rng.choice(CSS_WORDS), rng.choice(CSS_WORDS))
    out = [f"/* {label} -- generated by bench/gen_*.py */\n",
           "(function (global) {\n  'use strict';\n",
           f"  var App = global.App || (global.App = {{}});\n  var {ns} = App.{ns} = App.{ns} || {{}};\n"]
    for url in static_urls:
        out.append(f"  {ns}.icon{len(out)} = '{url}';\n")
    size_now = sum(map(len, out))
    n = 0
    while size_now < target:
        n += 1
        a, b, c = (f"{w}{camel(rng.choice(WORDS))}" for w in rng.sample(CSS_WORDS, 3))
        fn = f"{rng.choice(VERBS)}{camel(rng.choice(WORDS))}{n}"
        sel = f".{rng.choice(CSS_WORDS)}-{rng.choice(CSS_WORDS)}"
        k = rng.randrange(5)
        if es5 or k == 0:
            chunk = (f"  function {fn}({a}, {b}) {{\n    var {c} = ({a} || 0) + {rng.randint(0, 1000)};\n"
                     f"    if ({c} > {rng.randint(0, 5000)} && {b}) {{\n"
                     f"      return {b}.map(function (x) {{ return x * {rng.randint(2, 9)} + '{rng.choice(WORDS)}'; }});\n"
                     f"    }}\n    {ns}.{rng.choice(WORDS)}Count = {c};\n    return {c};\n  }}\n"
                     f"  {ns}.{fn} = {fn};\n")
            if es5 and k >= 3:
                chunk += (f"  document.addEventListener('{rng.choice(['click', 'input', 'change'])}', function (event) {{\n"
                          f"    var el = event.target;\n    while (el && el.className !== undefined && "
                          f"(' ' + el.className + ' ').indexOf(' {sel[1:]} ') < 0) {{ el = el.parentNode; }}\n"
                          f"    if (!el || el === document) {{ return; }}\n    el.setAttribute('data-{rng.choice(WORDS)}', "
                          f"String({fn}(event.timeStamp, [1, 2, 3])));\n  }});\n")
        elif k == 1:
            chunk = (f"  const {fn} = ({a} = [], {{ {b} = {rng.randint(1, 9)} }} = {{}}) => {a}\n"
                     f"    .filter((x) => x && x.{rng.choice(WORDS)} !== undefined)\n"
                     f"    .map((x) => `${{x.{rng.choice(WORDS)}}}-${{{b}}}`);\n  {ns}.{fn} = {fn};\n")
        elif k == 2:
            cls = camel(rng.choice(CSS_WORDS), rng.choice(WORDS)) + str(n)
            chunk = (f"  class {cls} {{\n    constructor(root, options = {{}}) {{\n      this.root = root;\n"
                     f"      this.options = {{ delay: {rng.randint(50, 500)}, ...options }};\n"
                     f"      this.items = Array.from(root.querySelectorAll('{sel}'));\n    }}\n"
                     f"    get count() {{ return this.items.length; }}\n"
                     f"    toggle(on = !this.root.classList.contains('is-open')) {{\n"
                     f"      this.root.classList.toggle('is-open', on);\n      return on;\n    }}\n  }}\n"
                     f"  {ns}.{cls} = {cls};\n")
        elif k == 3:
            chunk = (f"  async function {fn}(url, params = {{}}) {{\n"
                     f"    const query = new URLSearchParams(params).toString();\n"
                     f"    const res = await fetch(`${{url}}?${{query}}`, {{ headers: {{ Accept: 'application/json' }} }});\n"
                     f"    if (!res.ok) throw new Error(`{rng.choice(WORDS)}: ${{res.status}}`);\n"
                     f"    const {{ {a} = [], {b} = 0 }} = await res.json();\n    return {{ {a}, {b} }};\n  }}\n"
                     f"  {ns}.{fn} = {fn};\n")
        else:
            chunk = (f"  document.addEventListener('{rng.choice(['click', 'input', 'keydown'])}', (event) => {{\n"
                     f"    const target = event.target.closest && event.target.closest('{sel}');\n"
                     f"    if (!target) return;\n"
                     f"    target.classList.toggle('is-{rng.choice(WORDS)}', {rng.choice(['true', 'false'])});\n"
                     f"    target.dataset.{rng.choice(WORDS)} = String(target.dataset.{rng.choice(WORDS)} ?? {rng.randint(0, 9)});\n  }});\n")
        out.append(chunk)
        size_now += len(chunk)
    out.append("})(typeof window !== 'undefined' ? window : this);\n")
    return "".join(out)


CSS_PROPS = [("margin", ["0", "0 auto", "4px 8px 4px 8px", "1rem", "0.5em 0"]),
             ("padding", ["0", "2px", "8px 16px", "1rem 2rem 1rem 2rem"]),
             ("display", ["block", "flex", "grid", "inline-block", "none"]),
             ("font-size", ["12px", "0.875rem", "1.25em", "18px"]),
             ("border", ["1px solid #dddddd", "0", "2px dashed rgba(0,0,0,.2)"]),
             ("border-radius", ["4px", "0.5rem", "50%"]),
             ("transition", ["opacity .2s ease-in", "all 150ms linear"]),
             ("line-height", ["1.2", "1.5", "24px"]),
             ("font-weight", ["400", "700", "bold"])]


def css_file(rng: random.Random, label: str, size: tuple[int, int], imports: list[str] = (),
             images: list[str] = ()) -> str:
    """One stylesheet of about `size` bytes: @import lines first, then rules; `images` are url()
    targets as they should be written (relative or /s/-absolute), each used at least once."""
    target = rng.randint(*size)
    out = [f"/* {label} -- generated by bench/gen_*.py */\n"]
    out += [f'@import "{p}";\n' for p in imports]
    pending = list(images)
    size_now = sum(map(len, out))
    while size_now < target or pending:
        sel = ", ".join(f".{rng.choice(CSS_WORDS)}-{rng.choice(CSS_WORDS)}"
                        + rng.choice(["", ":hover", " > a", " .icon", "::before"]) for _ in range(rng.randint(1, 3)))
        props = [f"  {p}: {rng.choice(vs)};" for p, vs in rng.sample(CSS_PROPS, rng.randint(2, 5))]
        props.append(f"  color: {rng.choice(COLORS)};")
        if pending and rng.random() < 0.5:
            props.append(f"  background: {rng.choice(COLORS)} url({pending.pop()}) no-repeat center / cover;")
        rule = f"{sel} {{\n" + "\n".join(props) + "\n}\n"
        if rng.random() < 0.12:
            rule = f"@media (min-width: {rng.choice([576, 768, 992, 1200])}px) {{\n{rule}}}\n"
        out.append(rule)
        size_now += len(rule)
    return "".join(out)


def image_bytes(rng: random.Random, kind: str, size: tuple[int, int]) -> bytes:
    """A photo-like JPEG or an icon-like PNG: gradient, shapes, seeded noise (never Pillow's own
    noise, which is not seeded)."""
    from PIL import Image, ImageDraw, ImageFilter

    w, h = size
    c1 = tuple(rng.randrange(256) for _ in range(3))
    c2 = tuple(rng.randrange(256) for _ in range(3))
    base = Image.linear_gradient("L").resize((w, h)).rotate(rng.choice([0, 90, 180, 270]), expand=False)
    img = Image.composite(Image.new("RGB", (w, h), c1), Image.new("RGB", (w, h), c2), base)
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(4, 14)):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randint(w // 10, w // 2), y0 + rng.randint(h // 10, h // 2)
        fill = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x1, y1], fill=fill)
    if kind == "jpeg":
        noise = Image.frombytes("L", (w, h), rng.randbytes(w * h)).filter(ImageFilter.GaussianBlur(1))
        img = Image.blend(img.filter(ImageFilter.GaussianBlur(2)), Image.merge("RGB", (noise,) * 3), 0.18)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=88)
    else:
        img = img.convert("RGBA")
        mask = Image.new("L", (w, h), 0)
        ImageDraw.Draw(mask).rounded_rectangle([0, 0, w - 1, h - 1], radius=max(2, w // 6), fill=255)
        img.putalpha(mask)
        buf = io.BytesIO()
        img.save(buf, "PNG")
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# The asok project


def gen_images(static: Path, rng: random.Random) -> list[str]:
    """40 images under img/: rel paths (to the static root)."""
    plan = ([("icons", f"icon-{w}", "png", (s, s)) for w, s in zip(rng.sample(CSS_WORDS, 16), [24, 32, 48, 64] * 4)]
            + [("photos", f"photo-{w}-{i}", "jpeg", rng.choice([(480, 320), (640, 427), (800, 533)]))
               for i, w in enumerate(rng.sample(WORDS, 18))]
            + [("hero", f"hero-{i}", "jpeg", (1600, 900)) for i in range(4)]
            + [("brand", n, "png", (256, 256)) for n in ("logo", "logo-dark")])
    rels = []
    for folder, name, kind, size in plan:
        rel = f"img/{folder}/{name}.{'jpg' if kind == 'jpeg' else 'png'}"
        write(static / rel, image_bytes(rng, kind, size))
        rels.append(rel)
    return rels


def gen_css(static: Path, rng: random.Random, images: list[str]) -> list[str]:
    """84 stylesheets in css/{base,layout,components,pages}; components and pages @import base
    files (relative), and url() images relatively or under /s/."""
    groups = {"base": 8, "layout": 10, "components": 30, "pages": 36}
    rels = []
    base: list[str] = []
    for group, n in groups.items():
        for i in range(n):
            rel = f"css/{group}/{rng.choice(CSS_WORDS)}-{i:02d}.css"
            imports = []
            if group in ("components", "pages") and rng.random() < 0.25:
                imports = [f"../base/{Path(p).name}" for p in rng.sample(base, rng.randint(1, 2))]
            imgs = []
            for img in rng.sample(images, rng.randint(0, 3) if group != "base" else 0):
                imgs.append(f"/s/{img}" if rng.random() < 0.3 else f"../../{img}")
            write(static / rel, css_file(rng, rel, (900, 7000), imports, imgs))
            rels.append(rel)
            if group == "base":
                base.append(rel)
    return rels


def gen_js(static: Path, rng: random.Random) -> list[str]:
    groups = {"vendor": 6, "lib": 24, "components": 54, "pages": 70}
    rels = []
    for group, n in groups.items():
        for i in range(n):
            rel = f"js/{group}/{rng.choice(CSS_WORDS)}-{rng.choice(VERBS)}-{i:02d}.js"
            size = (20000, 60000) if group == "vendor" else (1200, 12000)
            write(static / rel, js_file(rng, rel, size))
            rels.append(rel)
    return rels


def block(kind: str, paths: list[str], indent: str = "  ") -> str:
    body = "".join(f"{indent}  {p}\n" for p in paths)
    return f"{indent}{{% apply assetman.include_{kind} %}}\n{body}{indent}{{% end %}}\n"


def html_chunk(rng: random.Random, images: list[str], depth: int = 0) -> str:
    k = rng.randrange(6)
    w = rng.choice(WORDS)
    if k == 0:
        return (f"<section class=\"{rng.choice(CSS_WORDS)}-{rng.choice(CSS_WORDS)}\">\n  <h2>{camel(w)} "
                f"{rng.choice(WORDS)}s</h2>\n  <p>{' '.join(rng.choice(WORDS) for _ in range(rng.randint(8, 30)))}.</p>\n</section>\n")
    if k == 1:
        img = rng.choice(images)
        return (f"<figure class=\"{rng.choice(CSS_WORDS)}\">\n  <img src=\"{{{{ assetman.static_url('{img}') }}}}\" "
                f"alt=\"{w}\" loading=\"lazy\">\n  <figcaption>{{{{ _('{camel(w)}') }}}}</figcaption>\n</figure>\n")
    if k == 2:
        return (f"<ul class=\"{rng.choice(CSS_WORDS)}-list\">\n{{% for {w} in {w}s %}}\n  <li data-id=\"{{{{ {w}['id'] }}}}\">"
                f"{{{{ {w}['name'] }}}} <span class=\"{rng.choice(CSS_WORDS)}\">{{{{ {w}.get('{rng.choice(WORDS)}', '') }}}}</span></li>\n"
                f"{{% end %}}\n</ul>\n")
    if k == 3:
        return (f"{{% if current_user and current_user.get('{rng.choice(WORDS)}') %}}\n"
                f"  <a class=\"button\" href=\"/{w}s/{{{{ current_user['id'] }}}}\">{camel(rng.choice(VERBS))} {w}</a>\n"
                f"{{% else %}}\n  <!-- no {w} for anonymous users -->\n  <p class=\"muted\">{camel(rng.choice(VERBS))} "
                f"to see your {w}s.</p>\n{{% end %}}\n")
    if k == 4:
        fields = "".join(f"    <label>{camel(f)} <input name=\"{f}\" value=\"{{{{ form.get('{f}', '') }}}}\"></label>\n"
                         for f in rng.sample(WORDS, rng.randint(2, 5)))
        return (f"<form method=\"post\" action=\"/{w}s\">\n    {{% module xsrf_form_html() %}}\n{fields}"
                f"    <button type=\"submit\">{camel(rng.choice(VERBS))}</button>\n</form>\n")
    rows = "".join(f"      <td>{{{{ row['{rng.choice(WORDS)}'] }}}}</td>\n" for _ in range(rng.randint(2, 5)))
    return (f"<table class=\"{rng.choice(CSS_WORDS)}-table\">\n  <tbody>\n  {{% for row in rows %}}\n    <tr>\n{rows}"
            f"    </tr>\n  {{% end %}}\n  </tbody>\n</table>\n")


def gen_templates(root: Path, rng: random.Random, js: list[str], css: list[str], images: list[str]) -> list[Path]:
    """208 Tornado templates: 5 layouts, 33 partials, 10 emails, 160 pages in 8 sections."""
    tdir = root / "src/templates"
    by = lambda group, rels: [r for r in rels if r.split("/")[1] == group]  # noqa: E731
    base_css, layout_css, comp_css, page_css = (by(g, css) for g in ("base", "layout", "components", "pages"))
    vendor_js, lib_js, comp_js, page_js = (by(g, js) for g in ("vendor", "lib", "components", "pages"))
    files = []
    # The layouts: one CSS block and one JS block each; every page inherits one of them.
    layouts = []
    for name in ("base", "app", "admin", "marketing", "docs"):
        css_block = base_css[:4] + rng.sample(layout_css, 3) + rng.sample(comp_css, 3)
        js_block = vendor_js[:2] + lib_js[:3] + rng.sample(lib_js[3:], 2) + rng.sample(comp_js, 4)
        text = ("<!DOCTYPE html>\n<html lang=\"{{ locale }}\">\n<head>\n  <meta charset=\"utf-8\">\n"
                "  <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                f"  <title>{{% block title %}}{camel(name)} | {{{{ site_name }}}}{{% end %}}</title>\n"
                f"  <link rel=\"icon\" href=\"{{{{ assetman.static_url('{images[-2]}') }}}}\">\n"
                + block("css", css_block)
                + "  {% block head %}{% end %}\n</head>\n<body class=\"{% block body_class %}page{% end %}\">\n"
                "  {% include \"../partials/nav.html\" %}\n"
                f"  <img class=\"logo\" src=\"{{{{ assetman.static_url('{images[-1]}') }}}}\" alt=\"logo\" width=\"64\">\n"
                "  <main id=\"main\">\n  {% block content %}{% end %}\n  </main>\n"
                "  {% include \"../partials/footer.html\" %}\n"
                + block("js", js_block)
                + "  {% block scripts %}{% end %}\n</body>\n</html>\n")
        files.append(write(tdir / f"layouts/{name}.html", text))
        layouts.append(name)
    partial_names = ["nav", "footer"] + [f"{rng.choice(CSS_WORDS)}-{i:02d}" for i in range(31)]
    for name in partial_names:
        text = "".join(html_chunk(rng, images) for _ in range(rng.randint(1, 4)))
        if name in ("nav", "footer"):
            text = (f"<{name} class=\"site-{name}\">\n  <a href=\"/\">{{{{ site_name }}}}</a>\n"
                    + "".join(f"  <a href=\"/{w}s\">{camel(w)}s</a>\n" for w in rng.sample(WORDS, 6)) + f"</{name}>\n")
        files.append(write(tdir / f"partials/{name}.html", text))
    for i in range(10):
        img = rng.choice(images)
        text = ("<!DOCTYPE html>\n<html>\n<body style=\"margin:0;font-family:sans-serif\">\n"
                f"  <img src=\"{{{{ assetman.static_url('{img}') }}}}\" alt=\"\" width=\"600\">\n"
                f"  <h1>{{{{ _('{camel(rng.choice(WORDS))} {rng.choice(VERBS)}ed') }}}}</h1>\n"
                + "".join(html_chunk(rng, images) for _ in range(rng.randint(2, 4)))
                + "</body>\n</html>\n")
        files.append(write(tdir / f"emails/{rng.choice(WORDS)}-{rng.choice(VERBS)}-{i:02d}.html", text))
    sections = ["shop", "account", "blog", "admin", "help", "checkout", "dashboard", "docs"]
    for i in range(160):
        section = sections[i % len(sections)]
        layout = "admin" if section in ("admin", "dashboard") else rng.choice(layouts)
        name = f"{rng.choice(WORDS)}-{rng.choice(VERBS)}-{i:03d}"
        parts = [f"{{% extends \"../../layouts/{layout}.html\" %}}\n\n",
                 f"{{% block title %}}{camel(name.split('-')[0])} | {{{{ site_name }}}}{{% end %}}\n",
                 f"{{% block body_class %}}page page-{section}{{% end %}}\n\n"]
        if rng.random() < 0.55:
            parts.append("{% block head %}\n" + block("css", sorted(rng.sample(page_css, rng.randint(1, 2))) +
                                                     rng.sample(comp_css, rng.randint(0, 2))) + "{% end %}\n\n")
        parts.append("{% block content %}\n")
        parts += [html_chunk(rng, images) for _ in range(rng.randint(2, 6))]
        if rng.random() < 0.3:
            parts.append(f"{{% include \"../../partials/{rng.choice(partial_names[2:])}.html\" %}}\n")
        parts.append("{% end %}\n\n")
        if rng.random() < 0.75:
            paths = rng.sample(lib_js, rng.randint(0, 2)) + rng.sample(comp_js, rng.randint(0, 2)) + [page_js[i % len(page_js)]]
            parts.append("{% block scripts %}\n" + block("js", paths)
                         + f"<script>\n  window.App && App.boot && App.boot({{ page: \"{section}\", id: {{% raw json_encode(page_id) %}} }});\n</script>\n"
                         "{% end %}\n")
        files.append(write(tdir / f"pages/{section}/{name}.html", "".join(parts)))
    return files


def generate(root: Path, seed: int = SEED) -> dict[str, list[Path]]:
    """Writes the project under `root` (which must not exist or be empty); returns files by kind."""
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise SystemExit(f"{root}: exists and is not empty")
    rng = random.Random(seed)
    static = root / "src/partials"
    images = gen_images(static, rng)
    css = gen_css(static, rng, images)
    js = gen_js(static, rng)
    templates = gen_templates(root, rng, js, css, images)
    py = gen_python(root, rng)
    other = [
        write(root / ".env", "# Development settings: never ship this file.\nDEBUG=true\n"
              "SECRET_KEY=dev-only-8f14e45fceea167a5a36dedd4bea2543\nIMAGE_OPTIMIZATION=true\n"
              "DATABASE_URL=sqlite:///db.sqlite3\n"),
        write(root / ".gitignore", "__pycache__/\n*.py[cod]\nvenv/\n.venv/\ndb.sqlite3\n.env\n.DS_Store\n.asok/\n"
              "dist/\n"),
        write(root / "README.md", "# Generated asok-style project\n\nMade by bench/gen_asok.py for kiln's build "
              "benchmark.\n\n    asok build        # or: kiln build . -o dist\n"),
        write(root / "requirements.txt", "asok==0.8.0\n"),
    ]
    out = {"py": py, "templates": templates, "js": [static / r for r in js], "css": [static / r for r in css],
           "images": [static / r for r in images], "other": other,
           # The file bench/benches/build.py edits: first in js/lib/, so in every layout's JS block.
           "edit": [static / next(r for r in js if r.startswith("js/lib/"))]}
    for kind, n in COUNTS.items():
        if len(out[kind]) != n:
            raise AssertionError(f"generated {len(out[kind])} {kind} files, expected {n}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args()
    files = generate(args.out, args.seed)
    print(", ".join(f"{len(v)} {k}" for k, v in files.items()), f"-> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
