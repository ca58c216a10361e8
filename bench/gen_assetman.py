#!/usr/bin/env python3
"""Generates a large Assetman-style project for bench/benches/assetman.py: same seed, same bytes.

    python3 bench/gen_assetman.py OUT [--seed N]     # OUT must not exist (or be empty)

OUT/templates/ holds 25 Tornado templates (3 layouts, 22 pages, some in subfolders, all
`{% extends %}` relative) with 50 distinct asset blocks: each template has one
`{% apply assetman.include_css %}` and one `include_js` block, and one shared JS file
(js/lib/core.js) is in 6 of the JS blocks. OUT/static/ is the static root: 150 JS (ES5, which
Assetman's Closure Compiler invocation demands: `--language_in ECMASCRIPT5`), 80 CSS (url() to
images, both `/s/…` and relative, and some `@import`), 60 JPEG/PNG images. Templates also call
`assetman.static_url('…')` and some JS names `/s/img/…` URLs, the dependencies Assetman tracks.

Every block path, url(), @import and static_url target exists; @import is a DAG.
Reuses bench/gen_asok.py's JS, CSS and image writers. Needs Pillow (bench/requirements.txt).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_asok import CSS_WORDS, VERBS, WORDS, camel, css_file, html_chunk, image_bytes, js_file, write  # noqa: E402

SEED = 20240918
COUNTS = {"templates": 25, "js": 150, "css": 80, "images": 60}
N_BLOCKS = 50
SHARED_JS = "js/lib/core.js"
SHARED_IN = 6  # JS blocks that list SHARED_JS


def gen_images(static: Path, rng: random.Random) -> list[str]:
    rels = []
    for i in range(COUNTS["images"]):
        if i % 3 == 0:
            rel, kind, size = f"img/photos/{rng.choice(WORDS)}-{i:02d}.jpg", "jpeg", rng.choice([(480, 320), (640, 427)])
        else:
            rel, kind, size = f"img/icons/{rng.choice(CSS_WORDS)}-{i:02d}.png", "png", (rng.choice([16, 24, 32, 48]),) * 2
        write(static / rel, image_bytes(rng, kind, size))
        rels.append(rel)
    return rels


def gen_css(static: Path, rng: random.Random, images: list[str]) -> list[str]:
    """80 stylesheets: 10 in css/base/ (imported by others, import nothing), 70 in css/{components,pages}/."""
    rels, base = [], []
    for i in range(COUNTS["css"]):
        group = "base" if i < 10 else rng.choice(["components", "pages"])
        rel = f"css/{group}/{rng.choice(CSS_WORDS)}-{i:02d}.css"
        imports = []
        if group != "base" and rng.random() < 0.2:
            imports = [f"../base/{Path(p).name}" for p in rng.sample(base, rng.randint(1, 2))]
        imgs = [f"/s/{img}" if rng.random() < 0.6 else f"../../{img}"
                for img in rng.sample(images, rng.randint(0, 3) if group != "base" else 1)]
        write(static / rel, css_file(rng, rel, (800, 6000), imports, imgs))
        rels.append(rel)
        if group == "base":
            base.append(rel)
    return rels


def gen_js(static: Path, rng: random.Random, images: list[str]) -> list[str]:
    """150 ES5 scripts: SHARED_JS, 9 more in js/lib/, 140 in js/{widgets,pages}/; 1 in 8 names an image."""
    rels = [SHARED_JS] + [f"js/lib/{rng.choice(CSS_WORDS)}-{i:02d}.js" for i in range(1, 10)]
    rels += [f"js/{rng.choice(['widgets', 'pages'])}/{rng.choice(CSS_WORDS)}-{rng.choice(VERBS)}-{i:03d}.js"
             for i in range(10, COUNTS["js"])]
    for rel in rels:
        urls = [f"/s/{rng.choice(images)}"] if rng.random() < 0.125 else []
        write(static / rel, js_file(rng, rel, (1500, 9000), es5=True, static_urls=urls))
    return rels


def gen_templates(tdir: Path, rng: random.Random, js: list[str], css: list[str], images: list[str]) -> tuple[list[Path], list]:
    """25 templates, each with one CSS and one JS block; returns the files and the blocks."""
    others_js = [p for p in js if p != SHARED_JS]
    rng.shuffle(others_js)
    css_pool = list(css)
    rng.shuffle(css_pool)
    names = (["base.html", "admin/base.html", "account/base.html"]
             + [f"{rng.choice(WORDS)}-{i:02d}.html" for i in range(10)]
             + [f"admin/{rng.choice(WORDS)}-{i:02d}.html" for i in range(10, 16)]
             + [f"account/{rng.choice(WORDS)}-{i:02d}.html" for i in range(16, 22)])
    shared_at = set(rng.sample(range(len(names)), SHARED_IN))
    files, blocks = [], []
    for i, name in enumerate(names):
        # Partition the files over the templates so that all blocks are distinct and all files used.
        js_paths = others_js[i::len(names)]
        if i in shared_at:
            js_paths = [SHARED_JS] + js_paths
        css_paths = css_pool[i::len(names)]
        blocks += [("js", tuple(js_paths)), ("css", tuple(css_paths))]
        depth = name.count("/")
        up = "../" * depth
        css_block = "{% apply assetman.include_css %}\n" + "".join(f"  {p}\n" for p in css_paths) + "{% end %}\n"
        js_block = "{% apply assetman.include_js %}\n" + "".join(f"  {p}\n" for p in js_paths) + "{% end %}\n"
        body = "".join(html_chunk(rng, images) for _ in range(rng.randint(2, 5)))
        if name.endswith("base.html"):
            parent = f"{{% extends \"{up}base.html\" %}}\n" if depth else ""
            if depth:  # a section layout: its blocks go in the parent's head and scripts
                text = (parent + f"{{% block head %}}\n{css_block}{{% block section_head %}}{{% end %}}\n{{% end %}}\n"
                        f"{{% block content %}}\n<div class=\"{name.split('/')[0]}\">\n{body}"
                        "{% block section %}{% end %}\n</div>\n{% end %}\n"
                        f"{{% block scripts %}}\n{js_block}{{% block section_scripts %}}{{% end %}}\n{{% end %}}\n")
            else:
                text = ("<!DOCTYPE html>\n<html>\n<head>\n  <meta charset=\"utf-8\">\n  <title>{% block title %}"
                        "{{ site_name }}{% end %}</title>\n" + css_block + "{% block head %}{% end %}\n</head>\n<body>\n"
                        f"  <img src=\"{{{{ assetman.static_url('{images[0]}') }}}}\" alt=\"logo\">\n"
                        "  {% block content %}{% end %}\n" + js_block + "{% block scripts %}{% end %}\n</body>\n</html>\n")
        else:
            section = name.split("/")[0] if depth else None
            head, content, scripts = (("section_head", "section", "section_scripts") if section
                                      else ("head", "content", "scripts"))
            text = (f"{{% extends \"base.html\" %}}\n{{% block title %}}{camel(rng.choice(WORDS))}{{% end %}}\n"
                    f"{{% block {head} %}}\n{css_block}{{% end %}}\n{{% block {content} %}}\n{body}{{% end %}}\n"
                    f"{{% block {scripts} %}}\n{js_block}{{% end %}}\n")
        files.append(write(tdir / name, text))
    return files, blocks


def generate(root: Path, seed: int = SEED) -> dict:
    """Writes the project under `root` (which must not exist or be empty): `templates/` and the
    static root `static/`. Returns files by kind and the blocks as (kind, paths)."""
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise SystemExit(f"{root}: exists and is not empty")
    rng = random.Random(seed)
    static = root / "static"
    images = gen_images(static, rng)
    css = gen_css(static, rng, images)
    js = gen_js(static, rng, images)
    templates, blocks = gen_templates(root / "templates", rng, js, css, images)
    out = {"templates": templates, "js": [static / r for r in js], "css": [static / r for r in css],
           "images": [static / r for r in images], "blocks": blocks, "shared_js": static / SHARED_JS}
    for kind, n in COUNTS.items():
        if len(out[kind]) != n:
            raise AssertionError(f"generated {len(out[kind])} {kind} files, expected {n}")
    if len(set(blocks)) != N_BLOCKS or sum(SHARED_JS in p for _, p in blocks) != SHARED_IN:
        raise AssertionError(f"{len(set(blocks))} distinct blocks, expected {N_BLOCKS}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args()
    made = generate(args.out, args.seed)
    print(", ".join(f"{len(made[k])} {k}" for k in (*COUNTS, "blocks")), f"-> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
