"""asok_app: `kiln build` vs `asok build` (PyPI asok, with esbuild and cwebp wired in as in
build.py) on examples/asok-blog, a real `asok create` app, scaled up to 515 files by
bench/gen_frameworks.py (22 renamed, distinct copies of its pages, layout partials, CSS, JS and
images; IMAGE_OPTIMIZATION=true in its .env).

kiln detects the asok profile (wsgi.py with Asok(), src/pages): its dist keeps every asset's
source name (WebP beside the images) as asok's runtime looks them up. kiln is timed cold
(--no-cache), on a rebuild with nothing changed and after an edit of one CSS file (css/base.css,
which every original page links). asok has no incremental mode: every asok build is a cold one.
Both dists are checked file by file before anything is timed.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
from collections import Counter
from pathlib import Path

from bench import TWINS, BenchError, Row, dir_bytes, fmt_time, link_asok_tools, tree_digest

TITLE = "kiln build vs asok build, examples/asok-blog scaled to 515 files (asok profile)"

EDIT_MARK = ".kiln-bench-edit { --edit: 0; }"  # last line of the edited CSS; the edit rewrites it
IMAGES = (".jpg", ".jpeg", ".png")
# Build-system files kiln never ships (the app's BUILD.bazel, flake.nix, …), which asok copies.
NOT_SHIPPED = set(json.loads((Path(__file__).resolve().parents[2] / "src/assemble/not_shipped.json").read_text())["dev_names"])


def source_digest(root: Path) -> str:
    """tree_digest without .asok/ (the tool binaries the benchmark links there)."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if ".asok" in p.relative_to(root).parts or not p.is_file():
            continue
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:16]


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def sources(proj: Path) -> list[str]:
    return [f for f in files(proj) if not f.startswith(".asok/") and f != ".gitignore"]


def expect_asok(rel: str) -> str:
    """The name `asok build` gives a source file in its dist."""
    if rel == ".env":
        return ".env.production"
    if rel.endswith(".py"):
        return rel if rel.startswith("src/migrations/") else rel[:-3] + ".pyc"
    if rel.startswith("src/partials/") and rel.endswith((".css", ".js")):
        stem, ext = rel.rsplit(".", 1)
        return f"{stem}.min.{ext}"
    if rel.startswith("src/partials/") and rel.lower().endswith(IMAGES):
        return rel + ".webp"
    return rel


def expect_kiln(rel: str) -> str:
    """The name kiln's asok profile gives a source file: its own (bytecode for modules)."""
    if rel == ".env":
        return ".env.production"
    if rel.endswith(".py") and not rel.startswith("src/migrations/"):
        return rel[:-3] + ".pyc"
    return rel


def check_asok(out: Path, srcs: list[str]) -> dict[str, int]:
    got = set(files(out))
    want = {expect_asok(f) for f in srcs}
    if got != want:
        raise BenchError(f"asok build's dist {out} differs from what asok writes: missing "
                         f"{sorted(want - got)[:10]}, unexpected {sorted(got - want)[:10]}")
    return Counter(f.rsplit(".", 1)[-1] for f in got)


def check_kiln(out: Path, srcs: list[str]) -> dict[str, int]:
    """Every source but build-system files under the name asok's runtime asks for; beside them only manifest.json, the
    WebP of converted images (`x.webp` for `x.png`) and .br/.gz/.zst twins."""
    got = {f for f in files(out) if not f.endswith(TWINS)}
    want = {expect_kiln(f) for f in srcs if Path(f).name not in NOT_SHIPPED}
    webp = {f.rsplit(".", 1)[0] + ".webp" for f in srcs if f.startswith("src/partials/") and f.lower().endswith(IMAGES)}
    missing, extra = want - got, got - want - webp - {"manifest.json"}
    if missing or extra:
        raise BenchError(f"kiln build's dist {out} is not the asok layout: missing {sorted(missing)[:10]}, "
                         f"unexpected {sorted(extra)[:10]}")
    counts = Counter(f.rsplit(".", 1)[-1] for f in got)
    counts["converted"] = len(got & webp)
    return counts


def kiln_stages(cmd: str) -> str:
    """kiln build's own account of one run (without --quiet): units reused and time per stage."""
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True, executable="/bin/bash")
    if r.returncode != 0:
        raise BenchError(f"command failed ({r.returncode}): {cmd}\n{r.stdout[-4000:]}{r.stderr[-4000:]}")
    lines = (r.stdout + r.stderr).splitlines()
    reused = next((ln.split("(", 1)[1].split(")", 1)[0] for ln in lines if "reused from the cache" in ln), "?")
    stages = next((ln.strip().removeprefix("stages: ") for ln in lines if ln.strip().startswith("stages:")), "?")
    return f"{reused}; {' '.join(stages.split())}"


def run(ctx):
    work = ctx.workdir(clean=True)
    gen = ctx.generator("gen_frameworks")
    proj = work / "project"
    made = gen.scale_asok(proj)
    edit_file = proj / "src" / "partials" / "css" / "base.css"
    edit_file.write_text(edit_file.read_text() + EDIT_MARK + "\n")
    srcs = sources(proj)
    n = {k: len(v) for k, v in made.items()}
    digest = source_digest(proj)

    # --- the peers: asok from the venv; esbuild (npm) and cwebp (Debian) where asok looks ---
    asok = link_asok_tools(ctx, proj)

    kiln = ctx.bin("kiln")
    py = ctx.python
    q = shlex.quote
    asok_out, cold_out, warm_out, cache = work / "asok-dist", work / "kiln-cold", work / "kiln-dist", work / "kiln-cache"
    asok_cmd = f"{q(str(asok))} build -o {q(str(asok_out))} > /dev/null 2>&1"
    kiln_base = f"{kiln} build {q(str(proj))} --quiet --python {q(str(py))}"
    cold_cmd = f"{kiln_base} -o {q(str(cold_out))} --no-cache > /dev/null"
    warm_cmd = f"{kiln_base} -o {q(str(warm_out))} --cache-dir {q(str(cache))} > /dev/null"
    # Each edit is new content (a nanosecond stamp), so the cache never already holds it.
    edit_cmd = f"sed -i '$ s/.*/.kiln-bench-edit {{ --edit: '\"$(date +%s%N)\"'; }}/' {q(str(edit_file))}"
    restore = lambda: edit_file.write_text(edit_file.read_text().rsplit("\n", 2)[0] + "\n" + EDIT_MARK + "\n")  # noqa: E731

    # --- check both dists once (and that neither tool touched the sources) before timing ---
    framework = subprocess.run(f"{kiln} build {q(str(proj))} --python {q(str(py))} -o {q(str(cold_out))} --no-cache", shell=True, capture_output=True,
                               text=True, executable="/bin/bash")
    if framework.returncode != 0 or not any(ln.startswith("kiln build: asok app") for ln in framework.stderr.splitlines()):
        raise BenchError(f"kiln build did not choose the asok profile:\n{framework.stdout}{framework.stderr}")
    ctx.sh(asok_cmd, cwd=proj)
    asok_counts = check_asok(asok_out, srcs)
    ctx.sh(cold_cmd)
    kiln_counts = check_kiln(cold_out, srcs)
    if source_digest(proj) != digest:
        raise BenchError("a build changed the project's sources")
    ctx.sh(warm_cmd)  # fills the cache
    ctx.sh(warm_cmd)  # a no-change rebuild
    if tree_digest(warm_out) != tree_digest(cold_out):
        raise BenchError("kiln build: the dist rebuilt from the cache differs from the cold (--no-cache) one")
    before = (warm_out / "src/partials/css/base.css").read_bytes()
    ctx.sh(edit_cmd)
    ctx.sh(warm_cmd)
    check_kiln(warm_out, srcs)
    if (warm_out / "src/partials/css/base.css").read_bytes() == before:
        raise BenchError("kiln build: the edited CSS did not reach the dist")
    restore()

    asok_st = ctx.hyperfine("asok build", asok_cmd, runs=ctx.reps(3, 1), warmup=0,
                            prepare=ctx.clear_cmd(asok_out), cwd=proj)
    check_asok(asok_out, srcs)
    cold_st = ctx.hyperfine("kiln build cold", cold_cmd, runs=ctx.reps(3, 1), warmup=0,
                            prepare=ctx.clear_cmd(cold_out))
    check_kiln(cold_out, srcs)
    ctx.sh(warm_cmd)
    same_st = ctx.hyperfine("kiln build no change", warm_cmd, runs=ctx.reps(5, 2), warmup=1)
    edit_st = ctx.hyperfine("kiln build one CSS edit", warm_cmd, runs=ctx.reps(5, 2), warmup=1, prepare=edit_cmd)
    loud = f"{kiln} build {q(str(proj))} --python {q(str(py))} -o {q(str(warm_out))} --cache-dir {q(str(cache))}"
    same_stages = kiln_stages(loud)
    ctx.sh(edit_cmd)
    edit_stages = kiln_stages(loud)
    check_kiln(warm_out, srcs)
    restore()
    if source_digest(proj) != digest:
        raise BenchError("the project's sources changed during the benchmark")

    twins = sum(1 for p in cold_out.rglob("*") if p.name.endswith(TWINS))
    n_img = sum(1 for f in srcs if f.startswith("src/partials/") and f.lower().endswith(IMAGES))
    ctx.describe(
        f"Wall time of a production build of examples/asok-blog scaled by bench/gen_frameworks.py "
        f"({gen.ASOK_COPIES} renamed, distinct copies of its pages, layout partials and assets; digest "
        f"`{digest}`: {len(srcs)} files, {n['py']} .py, {n['templates']} templates, {n['css']} CSS, {n['js']} JS, "
        f"{n['images']} images of which {n_img} JPEG/PNG, `.env` with IMAGE_OPTIMIZATION=true): `asok build -o DIR` "
        f"run in the project (esbuild and cwebp linked into `.asok/bin/`) against `kiln build SRC -o DIR "
        f"--python PY` (asok profile, detected) cold (`--no-cache`), rebuilt with nothing changed (warm "
        f"`--cache-dir`, previous dist in place) and rebuilt after an edit of `src/partials/css/base.css` "
        f"(a new rule each run), each timed by hyperfine with the cold outputs moved away before every run.")
    ctx.note(f"Both dists were checked file by file before and after timing: asok's holds {asok_counts.get('pyc', 0)} "
             f".pyc, {asok_counts.get('html', 0)} templates, .min.css/.min.js for the {n['css']} CSS and {n['js']} JS "
             f"and `x.png.webp` for all {n_img} JPEG/PNG (originals removed); kiln's holds every source under "
             f"its own name ({kiln_counts.get('pyc', 0)} .pyc, {kiln_counts.get('html', 0)} templates, CSS and JS "
             f"minified in place), `x.webp` beside {kiln_counts['converted']} of the {n_img} images (kiln keeps only "
             f"the original when its WebP would not be smaller), manifest.json and {twins} .br/.gz/.zst twins. "
             f"kiln's dist from the cache is byte-identical to its cold dist.")
    ctx.note(f"asok has no incremental mode: every asok build is the cold one, so the ratio of each kiln row "
             f"is against it: cold {asok_st.median / cold_st.median:.2f}×, no change "
             f"{asok_st.median / same_st.median:.1f}× ({fmt_time(same_st.median)}), one CSS edit "
             f"{asok_st.median / edit_st.median:.1f}× ({fmt_time(edit_st.median)}). `asok build` also pre-renders "
             f"its static pages (SSG), which kiln does not do; kiln keeps the original JPEG/PNG beside each WebP, "
             f"which asok removes, hence its larger dist.")
    ctx.note(f"kiln's own stage times (one more run of each, without --quiet): no change: {same_stages}; "
             f"one CSS edit: {edit_stages}.")
    return [
        Row("asok build (cold, always)", asok_st, out_bytes=dir_bytes(asok_out), peer=True),
        Row("kiln build cold (--no-cache)", cold_st, out_bytes=dir_bytes(cold_out)),
        Row("kiln build, no change (warm cache)", same_st, out_bytes=dir_bytes(warm_out)),
        Row("kiln build, one CSS file edited", edit_st, out_bytes=dir_bytes(warm_out)),
    ]
