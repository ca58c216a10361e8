"""cold_speed: `kiln build` cold vs `asok build` with asok's default settings (issue 23's goal).

IMAGE_OPTIMIZATION is opt-in in asok 0.8.0: `asok create` writes it into .env only when image
optimization is chosen, and `asok build` skips images without it. So asok's default build converts
no image, and kiln, reading the same .env, converts none either. Two projects, each built by both
tools with that default (IMAGE_OPTIMIZATION=false): examples/asok-blog scaled by
bench/gen_frameworks.py (a real `asok create` app) and bench/gen_asok.py's 704-file project. kiln
runs with its defaults (the asok profile is detected: no .br/.gz/.zst twins, as asok serves none;
gen_asok's templates use `/s/` URLs, hence `--prefix /s/`), cold (`--no-cache`). The builds with
images on are in asok_app and build.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from bench import BenchError, Row, dir_bytes, fmt_time, link_asok_tools, tree_digest

TITLE = "kiln build cold vs asok build with asok's default settings (no image optimization)"

GOAL = 10.0  # issue 23: asok's cold median / kiln's cold median


def images_off(proj: Path) -> None:
    env = proj / ".env"
    lines = [ln for ln in env.read_text().splitlines() if not ln.startswith("IMAGE_OPTIMIZATION=")]
    env.write_text("\n".join(lines + ["IMAGE_OPTIMIZATION=false"]) + "\n")


def stages(cmd: str) -> str:
    """kiln build's own account of a run (the same command without --quiet)."""
    r = subprocess.run(cmd.replace(" --quiet", "").replace("> /dev/null", ""), shell=True, capture_output=True, text=True)
    line = next((ln.strip() for ln in r.stderr.splitlines() if ln.strip().startswith("stages:")), "?")
    return " ".join(line.removeprefix("stages: ").split())


def count(root: Path, pattern: str) -> int:
    return sum(1 for _ in root.rglob(pattern))


def run(ctx):
    work = ctx.workdir(clean=True)
    projects = {}
    blog = work / "asok-blog"
    ctx.generator("gen_frameworks").scale_asok(blog)
    projects["asok-blog scaled"] = (blog, "")
    gen = work / "gen_asok"
    ctx.generator("gen_asok").generate(gen)
    projects["gen_asok"] = (gen, "--prefix /s/")

    kiln = ctx.bin("kiln")
    q = shlex.quote
    rows, notes = [], []
    for label, (proj, extra) in projects.items():
        images_off(proj)
        asok = link_asok_tools(ctx, proj)
        asok_out, kiln_out, again = proj.parent / f"{proj.name}-asok", proj.parent / f"{proj.name}-kiln", proj.parent / f"{proj.name}-again"
        asok_cmd = f"{q(str(asok))} build -o {q(str(asok_out))} > /dev/null 2>&1"
        kiln_cmd = f"{kiln} build {q(str(proj))} {extra} --quiet --no-cache --python {q(str(ctx.python))} -o {q(str(kiln_out))} > /dev/null"
        # Checked once before timing: both converted no image and compiled the same modules, and
        # kiln's cold dist is the same bytes twice.
        ctx.sh(asok_cmd, cwd=proj)
        ctx.sh(kiln_cmd)
        ctx.sh(kiln_cmd.replace(q(str(kiln_out)), q(str(again))))
        if tree_digest(kiln_out) != tree_digest(again):
            raise BenchError(f"{label}: two cold kiln builds differ")
        for name, out in (("asok", asok_out), ("kiln", kiln_out)):
            if count(out, "*.webp") != count(proj / "src", "*.webp"):
                raise BenchError(f"{label}: {name} converted images although IMAGE_OPTIMIZATION=false")
        if count(asok_out, "*.pyc") != count(kiln_out, "*.pyc"):
            raise BenchError(f"{label}: asok wrote {count(asok_out, '*.pyc')} .pyc, kiln {count(kiln_out, '*.pyc')}")
        asok_st = ctx.hyperfine(f"{label}: asok build", asok_cmd, runs=ctx.reps(5, 2), warmup=1,
                                prepare=ctx.clear_cmd(asok_out), cwd=proj)
        kiln_st = ctx.hyperfine(f"{label}: kiln build cold", kiln_cmd, runs=ctx.reps(10, 3), warmup=1,
                                prepare=ctx.clear_cmd(kiln_out))
        ratio = asok_st.median / kiln_st.median
        notes.append(f"{label}: kiln cold {ratio:.1f}× asok build ({fmt_time(kiln_st.median)} vs "
                     f"{fmt_time(asok_st.median)}; goal ≥ {GOAL:.0f}×: **{'met' if ratio >= GOAL else 'not met'}**); "
                     f"CPU time (user + system, mean) kiln {fmt_time(kiln_st.cpu)}, asok {fmt_time(asok_st.cpu)} "
                     f"({asok_st.cpu / kiln_st.cpu:.1f}×); {count(kiln_out, '*.pyc')} modules compiled by each; "
                     f"kiln's stages in one more run: {stages(kiln_cmd)}.")
        rows += [Row(f"{label}: asok build", asok_st, out_bytes=dir_bytes(asok_out), peer=label == "asok-blog scaled"),
                 Row(f"{label}: kiln build cold (--no-cache)", kiln_st, out_bytes=dir_bytes(kiln_out))]

    ctx.describe(
        "Wall time of `asok build -o DIR` (esbuild and cwebp linked into `.asok/bin/`) and `kiln build SRC -o DIR "
        "--no-cache --python PY` (defaults; asok profile detected) on examples/asok-blog scaled by "
        "bench/gen_frameworks.py and on bench/gen_asok.py's project, both with IMAGE_OPTIMIZATION=false in "
        "their .env (asok's default), each timed by hyperfine with outputs moved away before every run.")
    for n in notes:
        ctx.note(n)
    ctx.note("The vs-peer column compares every row with the asok-blog's asok build; each project's own ratio "
             "is in the lines above.")
    return rows
