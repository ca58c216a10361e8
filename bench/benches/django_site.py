"""django_site: `kiln build` vs Django's `manage.py collectstatic` (ManifestStaticFilesStorage) on
examples/django-site scaled up by bench/gen_frameworks.py (40 distinct copies of the shop app's
static files under STATICFILES_DIRS, plus the app's own and Django admin's: about 500 static files).

kiln detects the Django profile (manage.py) and asks Django's own finders, through the venv's
Python, what collectstatic would collect; its dist holds STATIC_ROOT laid out as
ManifestStaticFilesStorage lays it out (original and hashed names, staticfiles.json), besides the
project's bytecode and minified templates. Each tool is timed cold (kiln --no-cache; collectstatic
into a fresh STATIC_ROOT), with nothing changed (kiln's warm cache and previous dist;
collectstatic again into the STATIC_ROOT it filled) and after an edit of one CSS file that
another @imports. Both STATIC_ROOTs are compared key by key before anything is timed.
"""

from __future__ import annotations

import importlib.metadata
import json
import shlex
import subprocess
from pathlib import Path

from bench import TWINS, BenchError, Row, dir_bytes, fmt_time, tree_digest

TITLE = "kiln build vs Django collectstatic (ManifestStaticFilesStorage), examples/django-site scaled"

EDIT_MARK = ".kiln-bench-edit { --edit: 0; }"  # last line of the edited CSS; the edit rewrites it
EDIT_REL = "shop/static/shop/css/reset.css"   # site.css @imports it: its hashed name changes too


def check_static_root(root: Path, who: str) -> dict[str, str]:
    """STATIC_ROOT as ManifestStaticFilesStorage leaves it: staticfiles.json maps every collected
    name to a hashed name, and both files exist."""
    manifest = root / "staticfiles.json"
    if not manifest.is_file():
        raise BenchError(f"{who}: {manifest} is missing")
    paths = json.loads(manifest.read_text())["paths"]
    missing = [p for kv in paths.items() for p in kv if not (root / p).is_file()]
    if missing or not paths:
        raise BenchError(f"{who}: {len(missing)} files named by {manifest} are missing: {missing[:10]}")
    return paths


def no_twins(d: Path) -> int:
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file() and not p.name.endswith(TWINS))


def static_bytes(dist: Path) -> int:
    """The bytes of kiln's STATIC_ROOT without its twins (what collectstatic's compares with)."""
    return no_twins(dist / "staticfiles")


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
    # Two identical copies: collectstatic writes STATIC_ROOT (BASE_DIR/staticfiles) inside its
    # project, which must not become an input of kiln's.
    projects = {}
    for who in ("django", "kiln"):
        proj = work / f"project-{who}"
        made = gen.scale_django(proj)
        edit = proj / EDIT_REL
        edit.write_text(edit.read_text() + EDIT_MARK + "\n")
        projects[who] = proj
    digest = tree_digest(projects["kiln"])
    if tree_digest(projects["django"]) != digest:
        raise BenchError("the two generated Django projects differ")
    n_files, n_static = len(made["files"]), len(made["static"])

    py = ctx.python
    q = shlex.quote
    ctx.peer("Django (PyPI)", importlib.metadata.version("django"))
    ctx.peer("whitenoise (PyPI; in the site's MIDDLEWARE)", importlib.metadata.version("whitenoise"))
    kiln = ctx.bin("kiln")
    dj_proj, kiln_proj = projects["django"], projects["kiln"]
    dj_root = dj_proj / "staticfiles"
    cold_out, warm_out, cache = work / "kiln-cold", work / "kiln-dist", work / "kiln-cache"
    collect_cmd = f"{q(str(py))} manage.py collectstatic --noinput -v 0"
    kiln_base = f"{kiln} build {q(str(kiln_proj))} --quiet --python {q(str(py))}"
    cold_cmd = f"{kiln_base} -o {q(str(cold_out))} --no-cache > /dev/null"
    warm_cmd = f"{kiln_base} -o {q(str(warm_out))} --cache-dir {q(str(cache))} > /dev/null"

    def edit_cmd(proj: Path) -> str:
        return f"sed -i '$ s/.*/.kiln-bench-edit {{ --edit: '\"$(date +%s%N)\"'; }}/' {q(str(proj / EDIT_REL))}"

    def restore(proj: Path) -> None:
        f = proj / EDIT_REL
        f.write_text(f.read_text().rsplit("\n", 2)[0] + "\n" + EDIT_MARK + "\n")

    # --- check both STATIC_ROOTs once before timing: the same collected names ---
    detect = subprocess.run(f"{kiln} build {q(str(kiln_proj))} --python {q(str(py))} -o {q(str(cold_out))} --no-cache",
                            shell=True, capture_output=True, text=True, executable="/bin/bash")
    if detect.returncode != 0 or not any(ln.startswith("kiln build: django app") for ln in detect.stderr.splitlines()):
        raise BenchError(f"kiln build did not choose the Django profile:\n{detect.stdout}{detect.stderr}")
    ctx.sh(collect_cmd, cwd=dj_proj)
    dj_paths = check_static_root(dj_root, "collectstatic")
    ctx.sh(cold_cmd)
    kiln_paths = check_static_root(cold_out / "staticfiles", "kiln build")
    if set(dj_paths) != set(kiln_paths):
        raise BenchError(f"the collected names differ: only Django {sorted(set(dj_paths) - set(kiln_paths))[:10]}, "
                         f"only kiln {sorted(set(kiln_paths) - set(dj_paths))[:10]}")
    same_hash = sum(dj_paths[k] == kiln_paths[k] for k in dj_paths)
    ctx.sh(warm_cmd)  # fills the cache
    ctx.sh(warm_cmd)  # a no-change rebuild
    if tree_digest(warm_out) != tree_digest(cold_out):
        raise BenchError("kiln build: the dist rebuilt from the cache differs from the cold (--no-cache) one")
    edited = ["shop/css/reset.css", "shop/css/site.css"]  # the edit and the file that @imports it
    before = {who: {k: paths[k] for k in edited} for who, paths in (("django", dj_paths), ("kiln", kiln_paths))}
    for who, proj, cmd, root in (("django", dj_proj, collect_cmd, dj_root), ("kiln", kiln_proj, warm_cmd, warm_out / "staticfiles")):
        ctx.sh(edit_cmd(proj))
        ctx.sh(cmd, cwd=proj)
        after = check_static_root(root, who)
        if any(after[k] == before[who][k] for k in edited):
            raise BenchError(f"{who}: the edit of {EDIT_REL} did not change the hashed names of {edited}")
        restore(proj)
    ctx.sh(collect_cmd, cwd=dj_proj)
    ctx.sh(warm_cmd)

    # --- timing ---
    dj_cold = ctx.hyperfine("collectstatic cold", collect_cmd, runs=ctx.reps(3, 1), warmup=0,
                            prepare=ctx.clear_cmd(dj_root), cwd=dj_proj)
    check_static_root(dj_root, "collectstatic")
    dj_same = ctx.hyperfine("collectstatic no change", collect_cmd, runs=ctx.reps(5, 2), warmup=1, cwd=dj_proj)
    dj_edit = ctx.hyperfine("collectstatic one CSS edit", collect_cmd, runs=ctx.reps(5, 2), warmup=1,
                            prepare=edit_cmd(dj_proj), cwd=dj_proj)
    check_static_root(dj_root, "collectstatic")
    restore(dj_proj)
    cold_st = ctx.hyperfine("kiln build cold", cold_cmd, runs=ctx.reps(3, 1), warmup=0, prepare=ctx.clear_cmd(cold_out))
    check_static_root(cold_out / "staticfiles", "kiln build")
    off_out = work / "kiln-cold-off"
    off_st = ctx.hyperfine("kiln build cold --compress off",
                           f"{kiln_base} -o {q(str(off_out))} --no-cache --compress off > /dev/null",
                           runs=ctx.reps(3, 1), warmup=0, prepare=ctx.clear_cmd(off_out))
    ctx.sh(warm_cmd)
    same_st = ctx.hyperfine("kiln build no change", warm_cmd, runs=ctx.reps(5, 2), warmup=1)
    edit_st = ctx.hyperfine("kiln build one CSS edit", warm_cmd, runs=ctx.reps(5, 2), warmup=1, prepare=edit_cmd(kiln_proj))
    loud = f"{kiln} build {q(str(kiln_proj))} --python {q(str(py))} -o {q(str(warm_out))} --cache-dir {q(str(cache))}"
    same_stages = kiln_stages(loud)
    ctx.sh(edit_cmd(kiln_proj))
    edit_stages = kiln_stages(loud)
    check_static_root(warm_out / "staticfiles", "kiln build")
    restore(kiln_proj)
    restore(dj_proj)
    if tree_digest(kiln_proj) != digest:
        raise BenchError("kiln's project changed during the benchmark")

    ctx.describe(
        f"Wall time of collecting the static files of examples/django-site scaled by bench/gen_frameworks.py "
        f"({gen.DJANGO_COPIES} distinct copies of the shop app's static tree under STATICFILES_DIRS; digest "
        f"`{digest}`: {n_files} files, {n_static} of them static, {len(dj_paths)} collected with Django admin's): "
        f"`python manage.py collectstatic --noinput` (STORAGES staticfiles = ManifestStaticFilesStorage, as the "
        f"site's settings say) against `kiln build SRC -o DIR --python PY` (Django profile, detected; the same "
        f"venv's Python answers for Django's finders). Cold: collectstatic into a fresh STATIC_ROOT, kiln "
        f"`--no-cache`; no change: collectstatic again into the STATIC_ROOT it filled, kiln with its warm "
        f"`--cache-dir` and previous dist; one edit: a new rule in `{EDIT_REL}` each run (site.css "
        f"@imports it, so both tools rename both). Each timed by hyperfine, outputs moved away before every "
        f"cold run.")
    ctx.note(f"Both STATIC_ROOTs were checked before timing: the same {len(dj_paths)} names in staticfiles.json, "
             f"every original and hashed file present ({same_hash} hashed names identical; kiln's differ where it "
             f"minifies the file before hashing). After the edit both tools gave reset.css and site.css new "
             f"hashed names. kiln's dist from the cache is byte-identical to its cold dist.")
    ctx.note(f"Not like for like: collectstatic only copies, hashes and rewrites CSS references; kiln build "
             f"also minifies the CSS and JS, compiles the project's bytecode, minifies its templates and "
             f"(default `--compress fast`) writes .br/.gz/.zst twins of the text assets "
             f"({dir_bytes(cold_out) - no_twins(cold_out):,} bytes; `--compress off` leaves them out). Output "
             f"bytes are STATIC_ROOT's, without twins, for both. Both ask Django for its settings and finders, one Python start-up each "
             f"run. The input's site.css has a comment naming `url(missing.png)` in examples/django-site; "
             f"Django's collectstatic fails on a `url()` inside a CSS comment (ticket 21080), so the generator "
             f"drops that `url()` for both tools. Ratios: cold {dj_cold.median / cold_st.median:.2f}× "
             f"({fmt_time(cold_st.median)} vs {fmt_time(dj_cold.median)}), no change "
             f"{dj_same.median / same_st.median:.2f}× ({fmt_time(same_st.median)} vs {fmt_time(dj_same.median)}), "
             f"one CSS edit {dj_edit.median / edit_st.median:.2f}× ({fmt_time(edit_st.median)} vs "
             f"{fmt_time(dj_edit.median)}), each against collectstatic in the same state.")
    ctx.note(f"kiln's own stage times (one more run of each, without --quiet): no change: {same_stages}; "
             f"one CSS edit: {edit_stages}.")
    return [
        Row("collectstatic cold (fresh STATIC_ROOT)", dj_cold, out_bytes=dir_bytes(dj_root), peer=True),
        Row("kiln build cold (--no-cache; twins --compress fast, the default)", cold_st, out_bytes=static_bytes(cold_out)),
        Row("kiln build cold, no twins (--compress off)", off_st, out_bytes=static_bytes(off_out)),
        Row("collectstatic, no change", dj_same, out_bytes=dir_bytes(dj_root)),
        Row("kiln build, no change (warm cache)", same_st, out_bytes=static_bytes(warm_out)),
        Row("collectstatic, one CSS file edited", dj_edit, out_bytes=dir_bytes(dj_root)),
        Row("kiln build, one CSS file edited", edit_st, out_bytes=static_bytes(warm_out)),
    ]
