"""bazel: `bazel build //app:dist` (rules/, Debian's Bazel 4.2.3, sandboxed, offline) cold and
after a one-file JS edit, one action per asset and `batch = True`, next to `kiln build` cold
(no cache) and after the same edit (its unit cache), on a generated Assetman project.

Every variant must give the same dist, byte for byte (checked before timing).
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

from bench import BenchError, Row, bazel_workspace, tree_digest

TITLE = "bazel build //app:dist vs kiln build, generated Assetman app (cold and one-file edit)"

SEED = 20240611
N_JS = 240
N_CSS = 60
N_TEMPLATES = 12
EDITED = "src/partials/js/m007.js"

BUILD = '''load("//rules:defs.bzl", "kiln_dist", "kiln_manifest", "kiln_minify", "kiln_pyc", "kiln_static")
load(":blocks.bzl", "ASSET_BLOCKS", "asset_blocks")

kiln_static(name = "static", srcs = glob(["src/partials/**"]), root = "src/partials", batch = {batch})
asset_blocks()
kiln_manifest(name = "manifest", deps = [":static"] + ASSET_BLOCKS)
kiln_minify(name = "templates", srcs = glob(["src/templates/**/*.html"]), root = "src/templates", manifest = ":manifest")
kiln_pyc(name = "pyc", srcs = glob(["**/*.py"]), exclude = ["src/migrations/**"])
kiln_dist(name = "dist", deps = [":manifest", ":pyc", ":templates"], data = glob(["**"], exclude = ["**/*.py", "src/partials/**", "src/templates/**", "BUILD.bazel", "*.bzl"]))
'''


def generate(app: Path, shop: Path) -> None:
    """Variants of the example shop's JS, CSS (no url()s) and Python; templates with blocks."""
    rng = random.Random(SEED)
    js = [p.read_text() for p in sorted((shop / "src/partials/js").glob("*.js"))]
    css = (shop / "src/partials/css/base.css").read_text().replace("url(../img/logo.png)", "none")
    (app / "src/partials/js").mkdir(parents=True)
    (app / "src/partials/css").mkdir(parents=True)
    (app / "src/templates").mkdir(parents=True)
    for i in range(N_JS):
        src = rng.choice(js).replace('"use strict";', f'"use strict";\n  var BENCH_{i} = {rng.randint(0, 1 << 30)};', 1)
        (app / f"src/partials/js/m{i:03d}.js").write_text(src)
    for i in range(N_CSS):
        (app / f"src/partials/css/s{i:03d}.css").write_text(css + f"\n.v{i} {{ color: #{rng.randint(0, 0xFFFFFF):06x} }}\n")
    for t in range(N_TEMPLATES):
        css_list = "\n".join(f"    css/s{i:03d}.css" for i in sorted(rng.sample(range(N_CSS), 4)))
        js_list = "\n".join(f"    js/m{i:03d}.js" for i in rng.sample(range(N_JS), 6))
        (app / f"src/templates/page{t:02d}.html").write_text(
            f"<!DOCTYPE html>\n<html>\n<head>\n  <title>{{{{ title }}}}</title>\n"
            f"  {{% apply assetman.include_css %}}\n{css_list}\n  {{% end %}}\n</head>\n<body>\n"
            f"  <h1>Page {t}</h1>\n  <p>{{{{ body }}}}</p>\n"
            f"  {{% apply assetman.include_js %}}\n{js_list}\n  {{% end %}}\n</body>\n</html>\n")
    shutil.copytree(shop / "src/migrations", app / "src/migrations")
    for p in sorted((shop / "src").glob("*.py")):
        for k in range(4):
            (app / "src" / f"{p.stem}_{k}.py").write_text(p.read_text() + f"\nBENCH_VARIANT = {k}\n")
    (app / "src/__init__.py").write_text("")
    (app / "wsgi.py").write_text((shop / "wsgi.py").read_text())


def run(ctx):
    if shutil.which("bazel") is None:
        raise BenchError("bazel is not installed (apt-get install bazel-bootstrap)")
    work = ctx.workdir(clean=True)
    ws = bazel_workspace(ctx, work / "ws", ["rules", "tests/offline"])
    app = ws / "app"
    generate(app, ctx.root / "examples/shop")
    kiln = ctx.bin("kiln")
    ctx.sh([str(kiln), "scan", str(app / "src/templates"), "--static-root", str(app / "src/partials"), "--bazel", str(app / "blocks.bzl")])
    (app / "BUILD.bazel").write_text(BUILD.format(batch="False"))
    shutil.copytree(app, ws / "app_batch")
    (ws / "app_batch/BUILD.bazel").write_text(BUILD.format(batch="True"))

    env = {"KILN_BIN_DIR": str(ctx.bin_dir)}
    bazel = f"bazel --output_user_root={work / 'bazel-root'} --nohome_rc"
    build = f"{bazel} build --config=offline"
    edit = work / "edit.sh"
    # A different statement each time, so every timed rebuild has something to do.
    edit.write_text("#!/bin/bash\nset -e\nfor f in \"$@\"; do printf '\\nwindow.BENCH_EDIT = %s;\\n' \"$(date +%s%N)\" >> \"$f\"; done\n")
    edit.chmod(0o755)

    # Every variant gives the same dist.
    ctx.sh(f"{build} //app:dist //app_batch:dist", cwd=ws, env=env)
    ctx.sh([str(kiln), "build", str(app), "-o", str(work / "kiln-dist"), "--no-cache", "--quiet"])
    digests = {tree_digest(ws / "bazel-bin/app/dist"), tree_digest(ws / "bazel-bin/app_batch/dist"), tree_digest(work / "kiln-dist")}
    if len(digests) != 1:
        raise BenchError("the Bazel dists (per asset, batch) and kiln build's differ")
    n_files = sum(1 for p in (work / "kiln-dist").rglob("*") if p.is_file())

    runs, warm = ctx.reps(3, 1), 0
    rows = []
    kiln_cold = ctx.hyperfine(
        "kiln build (cold, no cache)", f"{kiln} build {app} -o {work / 'kiln-dist'} --no-cache --quiet",
        runs=runs, warmup=1)
    rows.append(Row("kiln build, cold (no cache)", kiln_cold, peer=True))
    ctx.sh([str(kiln), "build", str(app), "-o", str(work / "kiln-dist"), "--quiet"])
    rows.append(Row("kiln build, one JS file edited (unit cache)", ctx.hyperfine(
        "kiln build (one edit)", f"{kiln} build {app} -o {work / 'kiln-dist'} --quiet",
        runs=runs, warmup=warm, prepare=f"{edit} {app / EDITED}")))
    for pkg, what in (("app", "one action per asset"), ("app_batch", "batch = True")):
        # `bazel clean` keeps the server (and its analysis cache) but drops every output and the
        # action cache: the build executes every action again.
        rows.append(Row(f"bazel build, cold, {what}", ctx.hyperfine(
            f"bazel cold {pkg}", f"{build} //{pkg}:dist", runs=runs, warmup=warm,
            prepare=f"{bazel} clean", cwd=ws, env=env)))
        rows.append(Row(f"bazel build, one JS file edited, {what}", ctx.hyperfine(
            f"bazel edit {pkg}", f"{build} //{pkg}:dist", runs=runs, warmup=warm,
            prepare=f"{edit} {ws / pkg / EDITED}", cwd=ws, env=env)))
    ctx.sh(f"{bazel} shutdown", cwd=ws, env=env)
    ctx.describe(
        f"A generated Assetman app ({N_JS} JS and {N_CSS} CSS files, {N_TEMPLATES} templates with a CSS and a JS "
        f"block each, {n_files} dist files): `bazel build --config=offline //app:dist` (linux-sandbox, server "
        "kept warm, `bazel clean` before each cold run) with kiln_static per asset and with `batch = True`, "
        "next to `kiln build` without and with its unit cache; one edit appends a statement to one JS file.")
    ctx.note("Per asset, each kiln process start plus its sandbox costs about 0.1 s on this machine, "
             "which `batch = True` pays once per step; per asset re-runs only the edited file's actions "
             "and is cached (remotely too) per asset.")
    return rows
