"""build: `kiln build` vs `asok build` (PyPI asok, with esbuild and cwebp installed as its docs ask)
on a generated asok-style project of 704 files (bench/gen_asok.py: 214 .py, 208 templates, 154 JS,
84 CSS, 40 images, a .env with IMAGE_OPTIMIZATION=true).

kiln is timed cold (--no-cache), on a rebuild with nothing changed (warm cache, previous dist in
place) and on a rebuild after an edit of one JS file that is in every layout's asset block. asok has
no incremental mode: every asok build is a cold one. Both dists are counted file by file before
anything is timed, so neither tool wins by skipping work.

Goals (issue 9): kiln at least 10x faster than asok cold; a no-change rebuild under 100 ms.

kiln builds with `--framework plain`: this bench measures the content-named pipeline (versioned
names, twins), which is what check_kiln counts. `kiln build` would detect the project as an asok
app (and the generator's `/s/` URLs would then need `--prefix /s/`); the asok profile is measured
on a scaffolded asok app by asok_app.py.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections import Counter
from pathlib import Path

from bench import TWINS, BenchError, Row, dir_bytes, fmt_time, link_asok_tools, tree_digest

TITLE = "kiln build vs asok build, a generated 704-file asok project"

COLD_GOAL = 10.0        # asok's cold median / kiln's cold median
NO_CHANGE_GOAL = 0.100  # seconds
EDIT_MARK = "window.__kilnBenchEdit = 0;"  # last line of the edited JS file; the edit rewrites it


def source_digest(root: Path) -> str:
    """tree_digest without .asok/ (the tool binaries the benchmark links there)."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if ".asok" in p.relative_to(root).parts or not p.is_file():
            continue
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:16]


def blocks_of(templates: list[Path]) -> set[tuple[str, tuple[str, ...]]]:
    """The distinct asset blocks (kind, paths) of the templates."""
    found = set()
    for t in templates:
        for kind, body in re.findall(r"\{%\s*apply\s+assetman\.include_(\w+)\s*%\}(.*?)\{%\s*end\s*%\}", t.read_text(), re.S):
            found.add((kind, tuple(line.strip() for line in body.splitlines() if line.strip())))
    return found


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def check_asok(out: Path, n: dict[str, int]) -> dict[str, int]:
    """asok's dist: .pyc beside the modules (sources removed) except src/migrations, .min.js and
    .min.css in place of the sources, images replaced by `<name>.<ext>.webp`, templates minified."""
    fs = files(out)
    got = Counter()
    for f in fs:
        if f.startswith("src/migrations/") and f.endswith(".py"):
            got["migrations .py"] += 1
        elif f.endswith(".pyc"):
            got["pyc"] += 1
        elif f.endswith(".py"):
            got["other .py"] += 1
        elif f.startswith("src/templates/") and f.endswith(".html"):
            got["templates"] += 1
        elif f.endswith(".min.js"):
            got["js"] += 1
        elif f.endswith(".min.css"):
            got["css"] += 1
        elif f.endswith((".js", ".css")):
            got["unminified js/css"] += 1
        elif f.endswith(".webp"):
            got["images"] += 1
        elif f.endswith((".jpg", ".png")):
            got["unconverted images"] += 1
    want = {"migrations .py": n["migrations"], "pyc": n["py"] - n["migrations"], "templates": n["templates"],
            "js": n["js"], "css": n["css"], "images": n["images"]}
    bad = {k: (got.get(k, 0), v) for k, v in want.items() if got.get(k, 0) != v}
    bad.update({k: (got[k], 0) for k in ("other .py", "unminified js/css", "unconverted images") if got.get(k)})
    if bad or ".env.production" not in fs or ".env" in fs:
        raise BenchError(f"asok build's dist {out} is incomplete (got, expected): {bad}; "
                         f".env.production {'present' if '.env.production' in fs else 'MISSING'}")
    return dict(got)


def check_kiln(out: Path, n: dict[str, int], blocks: set) -> dict[str, int]:
    """kiln's dist: .pyc in place of the modules except src/migrations, one content-named output
    per JS/CSS/image (WebP when converted), one bundle per distinct asset block under f/, the
    templates rewritten, manifest.json and .env.production; .br/.gz/.zst twins beside."""
    fs = [f for f in files(out) if not f.endswith(TWINS)]
    got = Counter()
    for f in fs:
        if f.startswith("src/migrations/") and f.endswith(".py"):
            got["migrations .py"] += 1
        elif f.endswith(".pyc"):
            got["pyc"] += 1
        elif f.endswith(".py"):
            got["other .py"] += 1
        elif f.startswith("src/templates/") and f.endswith(".html"):
            got["templates"] += 1
        elif f.startswith("src/partials/f/"):
            got["block " + f.rsplit(".", 1)[-1]] += 1
        elif f.startswith("src/partials/js/") and f.endswith(".js"):
            got["js"] += 1
        elif f.startswith("src/partials/css/") and f.endswith(".css"):
            got["css"] += 1
        elif f.startswith("src/partials/img/"):
            got["images"] += 1
            if f.endswith(".webp"):
                got["webp"] += 1
    want = {"migrations .py": n["migrations"], "pyc": n["py"] - n["migrations"], "templates": n["templates"],
            "js": n["js"], "css": n["css"], "images": n["images"],
            "block js": sum(1 for k, _ in blocks if k == "js"), "block css": sum(1 for k, _ in blocks if k == "css")}
    bad = {k: (got.get(k, 0), v) for k, v in want.items() if got.get(k, 0) != v}
    if got.get("other .py"):
        bad["other .py"] = (got["other .py"], 0)
    if bad or not {"manifest.json", ".env.production"} <= set(fs) or ".env" in fs:
        raise BenchError(f"kiln build's dist {out} is incomplete (got, expected): {bad}")
    return dict(got)


def run(ctx):
    work = ctx.workdir(clean=True)
    gen = ctx.generator("gen_asok")
    proj = work / "project"
    made = gen.generate(proj)
    edit_file = made["edit"][0]
    # The edited file ends with a line the edit rewrites (a statement no minifier may drop).
    edit_file.write_text(edit_file.read_text() + EDIT_MARK + "\n")
    n = {k: len(made[k]) for k in gen.COUNTS}
    n["migrations"] = sum(1 for p in made["py"] if p.parent.name == "migrations")
    blocks = blocks_of(made["templates"])
    edit_rel = edit_file.relative_to(proj / "src" / "partials").as_posix()
    edit_blocks = sum(1 for _, paths in blocks if edit_rel in paths)
    digest = source_digest(proj)
    n_files = len(files(proj))

    # --- the peers: asok from the venv; esbuild (npm) and cwebp (Debian) where asok looks ---
    asok = link_asok_tools(ctx, proj)

    kiln = ctx.bin("kiln")
    py = ctx.python
    q = shlex.quote
    asok_out, cold_out, warm_out, cache = work / "asok-dist", work / "kiln-cold", work / "kiln-dist", work / "kiln-cache"
    asok_cmd = f"{q(str(asok))} build -o {q(str(asok_out))} > /dev/null"
    kiln_base = f"{kiln} build {q(str(proj))} --quiet --framework plain --python {q(str(py))}"
    cold_cmd = f"{kiln_base} -o {q(str(cold_out))} --no-cache > /dev/null"
    warm_cmd = f"{kiln_base} -o {q(str(warm_out))} --cache-dir {q(str(cache))} > /dev/null"
    # Each edit is new content (a nanosecond stamp), so the cache never already holds it.
    edit_cmd = (f"sed -i '$ s/.*/window.__kilnBenchEdit = '\"$(date +%s%N)\"';/' {q(str(edit_file))}")
    restore = lambda: edit_file.write_text(edit_file.read_text().rsplit("\n", 2)[0] + "\n" + EDIT_MARK + "\n")  # noqa: E731

    # --- check both dists once (and that asok left the sources alone) before timing ---
    ctx.sh(asok_cmd, cwd=proj)
    asok_counts = check_asok(asok_out, n)
    if source_digest(proj) != digest:
        raise BenchError("asok build changed the project's sources")
    ctx.sh(cold_cmd)
    kiln_counts = check_kiln(cold_out, n, blocks)
    ctx.sh(warm_cmd)  # fills the cache
    ctx.sh(warm_cmd)  # a no-change rebuild
    if tree_digest(warm_out) != tree_digest(cold_out):
        raise BenchError("kiln build: the dist rebuilt from the cache differs from the cold (--no-cache) one")
    ctx.sh(edit_cmd)
    ctx.sh(warm_cmd)
    check_kiln(warm_out, n, blocks)
    restore()

    asok_st = ctx.hyperfine("asok build", asok_cmd, runs=ctx.reps(5, 2), warmup=ctx.reps(1, 0),
                            prepare=ctx.clear_cmd(asok_out), cwd=proj)
    check_asok(asok_out, n)
    cold_st = ctx.hyperfine("kiln build cold", cold_cmd, runs=ctx.reps(5, 2), warmup=ctx.reps(1, 0),
                            prepare=ctx.clear_cmd(cold_out))
    check_kiln(cold_out, n, blocks)
    # The twins' cost: asok writes none (`off` is like for like); `max` is brotli 11 / zstd 19.
    level_st = {}
    for level in ("off", "max"):
        level_out = work / f"kiln-cold-{level}"
        level_st[level] = ctx.hyperfine(f"kiln build cold --compress {level}",
                                        f"{kiln_base} -o {q(str(level_out))} --no-cache --compress {level} > /dev/null",
                                        runs=ctx.reps(3, 1), warmup=0, prepare=ctx.clear_cmd(level_out))
    ctx.sh(warm_cmd)
    same_st = ctx.hyperfine("kiln build no change", warm_cmd, runs=ctx.reps(10, 3), warmup=1)
    edit_st = ctx.hyperfine("kiln build one JS edit", warm_cmd, runs=ctx.reps(10, 3), warmup=1, prepare=edit_cmd)
    check_kiln(warm_out, n, blocks)
    restore()
    if source_digest(proj) != digest:
        raise BenchError("the project's sources changed during the benchmark")

    # asok converts the images with one cwebp process each; say what that costs, since kiln may not.
    imgs = [str(p) for p in made["images"]]
    cwebp = str(proj / ".asok" / "bin" / "cwebp")  # the one asok runs (link_asok_tools)
    webp_dir = ctx.workdir("cwebp")
    script = work / "cwebp-all.sh"
    script.write_text("set -e\n" + "".join(f"{q(cwebp)} -quiet -q 80 {q(p)} -o {q(str(webp_dir / (Path(p).name + '.webp')))}\n"
                                            for p in imgs))
    cwebp_st = ctx.hyperfine(f"cwebp x{len(imgs)}", f"bash {q(str(script))}", runs=ctx.reps(3, 1), warmup=0)

    def no_twins(d: Path) -> int:
        return sum(p.stat().st_size for p in d.rglob("*") if p.is_file() and not p.name.endswith(TWINS))

    ctx.describe(
        f"Wall time of a production build of one generated asok-style project (bench/gen_asok.py, seed "
        f"{gen.SEED}, digest `{digest}`: {n_files} files, {n['py']} .py of which {n['migrations']} migrations, "
        f"{n['templates']} Tornado templates with {len(blocks)} distinct asset blocks, {n['js']} JS, {n['css']} CSS, "
        f"{n['images']} JPEG/PNG, `.env` with IMAGE_OPTIMIZATION=true): `asok build -o DIR` run in the project "
        f"(esbuild and cwebp linked into `.asok/bin/`, where `asok assets --install` puts them) against "
        f"`kiln build SRC -o DIR --python PY` cold (`--no-cache`), rebuilt with nothing changed (warm "
        f"`--cache-dir`, previous dist in place), and rebuilt after an edit of `{edit_rel}` (a new statement "
        f"each run; the file is in {edit_blocks} of the asset blocks), each timed by hyperfine with the "
        f"cold outputs moved away before every run. The same interpreter (`{py}`) compiles the bytecode "
        f"for both.")
    conv = kiln_counts.get("webp", 0)
    ctx.note(f"Both dists were counted before timing (sources excluded, twins not counted): asok "
             f"{asok_counts.get('pyc', 0)} .pyc, {asok_counts.get('migrations .py', 0)} migrations kept as .py, "
             f"{asok_counts.get('templates', 0)} templates, {asok_counts.get('js', 0)} .min.js, "
             f"{asok_counts.get('css', 0)} .min.css, {asok_counts.get('images', 0)} .webp; kiln "
             f"{kiln_counts.get('pyc', 0)} .pyc, {kiln_counts.get('migrations .py', 0)} migrations, "
             f"{kiln_counts.get('templates', 0)} templates (asset blocks rewritten to tags), {kiln_counts.get('js', 0)} JS "
             f"and {kiln_counts.get('css', 0)} CSS (minified, content-named), {kiln_counts.get('block js', 0)} JS and "
             f"{kiln_counts.get('block css', 0)} CSS block bundles, {kiln_counts.get('images', 0)} images "
             f"({conv} converted to WebP), plus .br/.gz/.zst twins of every text asset that asok does not write. "
             f"kiln's dist from the cache is byte-identical to its cold dist.")
    if conv < n["images"]:
        fair = (asok_st.median - cwebp_st.median) / cold_st.median
        ctx.note(f"**Not like for like:** this kiln converted {conv} of the {n['images']} images to WebP; asok "
                 f"runs cwebp on all {n['images']}, which alone takes {fmt_time(cwebp_st.median)} here "
                 f"({n['images']} `cwebp -q 80` processes in a row, median of {len(cwebp_st.times)}). Without that "
                 f"stage asok's cold build would be about {fmt_time(asok_st.median - cwebp_st.median)}: "
                 f"{fair:.2f}× kiln's cold time.")
    ratio = asok_st.median / cold_st.median
    ctx.note(f"Goals (issue 9): kiln cold at least {COLD_GOAL:.0f}× faster than asok — "
             f"**{'met' if ratio >= COLD_GOAL else 'NOT met'}** ({ratio:.2f}×: {fmt_time(cold_st.median)} vs "
             f"{fmt_time(asok_st.median)}); a no-change rebuild under {NO_CHANGE_GOAL * 1000:.0f} ms — "
             f"**{'met' if same_st.median < NO_CHANGE_GOAL else 'NOT met'}** ({fmt_time(same_st.median)}); "
             f"the one-file edit took {fmt_time(edit_st.median)}. asok has no incremental mode: its every build "
             f"is the cold one. Without twins (asok writes none) kiln's cold build is "
             f"{asok_st.median / level_st['off'].median:.2f}× faster than asok. Output bytes leave out kiln's "
             f".br/.gz/.zst twins ({dir_bytes(cold_out) - no_twins(cold_out):,} bytes more).")
    return [
        Row("asok build (cold, always)", asok_st, out_bytes=dir_bytes(asok_out), peer=True),
        Row("kiln build cold (--no-cache; twins --compress fast, the default)", cold_st, out_bytes=no_twins(cold_out)),
        Row("kiln build cold, no twins (--compress off)", level_st["off"]),
        Row("kiln build cold, --compress max (brotli 11, zstd 19)", level_st["max"]),
        Row("kiln build, no change (warm cache)", same_st, out_bytes=no_twins(warm_out)),
        Row(f"kiln build, one JS file edited ({edit_blocks} blocks)", edit_st, out_bytes=no_twins(warm_out)),
    ]
