"""remote_cache: `kiln build` cold, warm local and on a fresh clone with a warm remote cache
(`--remote-cache`, nginx's WebDAV module on 127.0.0.1, as the Bazel tests run it), next to
`asok build` in the same run, on examples/asok-blog scaled by bench/gen_frameworks.py (asok
profile, defaults) and on examples/shop (versioned names, .br/.gz/.zst twins).

The fresh clone is a copy of the project at another path whose dist and local cache are moved
away before every timed run; the cache server was filled by one build of the project. Its dist
is checked byte for byte against the cold one, and its summary must say that every unit came
from the remote cache.
"""

from __future__ import annotations

import shlex
import shutil
import socket
import subprocess
import time
from pathlib import Path

from bench import BenchError, Row, dir_bytes, fmt_time, link_asok_tools, tree_digest

TITLE = "kiln build cold, warm local and fresh clone + warm remote cache (nginx) vs asok build"

NGINX_CONF = """daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{port};
    root {d}/store;
    location / {{
      dav_methods PUT;
      create_full_put_path on;
      client_max_body_size 0;
    }}
  }}
}}
"""


def start_nginx(d: Path) -> tuple[subprocess.Popen, int]:
    exe = next((p for p in ("/usr/sbin/nginx", "/usr/bin/nginx") if Path(p).exists()), shutil.which("nginx"))
    if not exe:
        raise BenchError("nginx is required (Debian's nginx package)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (d / "store").mkdir(parents=True, exist_ok=True)
    (d / "nginx.conf").write_text(NGINX_CONF.format(d=d, port=port))
    proc = subprocess.Popen([exe, "-p", str(d), "-e", str(d / "error.log"), "-c", str(d / "nginx.conf")],
                            stdin=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise BenchError(f"nginx does not listen on 127.0.0.1:{port}: {(d / 'error.log').read_text()}")


def summary(cmd: str) -> tuple[str, str]:
    """kiln build's own account of one run (without --quiet): the units line and the stages."""
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True, executable="/bin/bash")
    if r.returncode != 0:
        raise BenchError(f"command failed ({r.returncode}): {cmd}\n{r.stdout[-4000:]}{r.stderr[-4000:]}")
    lines = r.stderr.splitlines()
    if any("warning" in ln for ln in lines):
        raise BenchError(f"kiln build warned: {cmd}\n{r.stderr}")
    units = next((ln.split("(", 1)[1].split(")", 1)[0] for ln in lines if "reused from the cache" in ln), "?")
    stages = next((ln.strip().removeprefix("stages: ") for ln in lines if ln.strip().startswith("stages:")), "?")
    return units, " ".join(stages.split())


def measure(ctx, label: str, proj: Path, kiln_flags: str, url: str, asok_cmd: str | None) -> tuple[list[Row], list[str]]:
    work = ctx.workdir(f"run-{label}", clean=True)
    kiln = ctx.bin("kiln")
    q = lambda p: shlex.quote(str(p))  # noqa: E731
    cold_out, warm_out, cache = work / "cold", work / "warm", work / "cache"
    clone = work / "elsewhere" / "clone" / proj.name
    shutil.copytree(proj, clone, symlinks=True)
    clone_out, clone_cache = clone.parent / "dist", clone.parent / "cache"
    base = f"{kiln} build --quiet {kiln_flags}"
    cold_cmd = f"{base} {q(proj)} -o {q(cold_out)} --no-cache > /dev/null"
    warm_cmd = f"{base} {q(proj)} -o {q(warm_out)} --cache-dir {q(cache)} > /dev/null"
    fill_cmd = f"{base} {q(proj)} -o {q(warm_out)} --cache-dir {q(cache)} --remote-cache {url} > /dev/null"
    clone_cmd = (f"{base} {q(clone)} -o {q(clone_out)} --cache-dir {q(clone_cache)} --remote-cache {url} "
                 f"--remote-cache-upload=false > /dev/null")

    ctx.sh(cold_cmd)
    ctx.sh(fill_cmd)  # fills the local cache and the remote one
    ctx.sh(clone_cmd)
    if not (tree_digest(warm_out) == tree_digest(cold_out) == tree_digest(clone_out)):
        raise BenchError(f"{label}: the dists of the cold build, the warm one and the fresh clone differ")
    ctx.sh(ctx.clear_cmd(clone_out, clone_cache))
    units, clone_stages = summary(clone_cmd.replace("--quiet", "").replace(" > /dev/null", ""))
    n = units.split(" of ")[0]
    if f", {n} of them from the remote cache" not in units or not units.startswith(f"{n} of {n} "):
        raise BenchError(f"{label}: the fresh clone did not get every unit from the remote cache: {units}")
    _, cold_stages = summary(cold_cmd.replace("--quiet", "").replace(" > /dev/null", ""))

    rows, notes = [], []
    if asok_cmd:
        asok_out = work / "asok-dist"
        asok_st = ctx.hyperfine(f"{label} asok build", asok_cmd.format(out=q(asok_out)), runs=ctx.reps(3, 1), warmup=0,
                                cwd=proj, prepare=ctx.clear_cmd(asok_out))
        if not (asok_out / ".env.production").is_file():
            raise BenchError(f"asok build wrote no dist in {asok_out}")
        rows.append(Row(f"{label}: asok build (cold, always)", asok_st, out_bytes=dir_bytes(asok_out), peer=True))
    cold_st = ctx.hyperfine(f"{label} kiln cold", cold_cmd, runs=ctx.reps(5, 1), warmup=1, prepare=ctx.clear_cmd(cold_out))
    ctx.sh(warm_cmd)
    same_st = ctx.hyperfine(f"{label} kiln no change", warm_cmd, runs=ctx.reps(10, 2), warmup=2)
    clone_st = ctx.hyperfine(f"{label} kiln fresh clone warm remote", clone_cmd, runs=ctx.reps(10, 2), warmup=1,
                             prepare=ctx.clear_cmd(clone_out, clone_cache))
    if tree_digest(clone_out) != tree_digest(cold_out):
        raise BenchError(f"{label}: the fresh clone's dist differs from the cold one after timing")
    rows += [
        Row(f"{label}: kiln build cold (--no-cache)", cold_st, out_bytes=dir_bytes(cold_out), peer=not asok_cmd),
        Row(f"{label}: kiln build, no change (warm local cache)", same_st, out_bytes=dir_bytes(warm_out)),
        Row(f"{label}: kiln build, fresh clone + warm remote cache", clone_st, out_bytes=dir_bytes(clone_out)),
    ]
    ratio = clone_st.median / same_st.median
    notes.append(f"{label}: fresh clone + warm remote {fmt_time(clone_st.median)} = {ratio:.1f}× the local no-change "
                 f"build ({fmt_time(same_st.median)}; goal ≤ 3×: {'**met**' if ratio <= 3 else '**not met**'}); "
                 f"the clone's summary: {units}; its stages: {clone_stages}.")
    if asok_cmd:
        speedup = asok_st.median / cold_st.median
        notes.append(f"{label}: cold {speedup:.2f}× asok build ({fmt_time(cold_st.median)} vs "
                     f"{fmt_time(asok_st.median)}; goal ≥ 10×: {'**met**' if speedup >= 10 else '**not met**'}); "
                     f"kiln's cold stages: {cold_stages}.")
    else:
        notes.append(f"{label}: kiln's cold stages: {cold_stages}.")
    return rows, notes


def run(ctx):
    work = ctx.workdir(clean=True)
    gen = ctx.generator("gen_frameworks")
    proj = work / "asok-project"
    gen.scale_asok(proj)
    asok = link_asok_tools(ctx, proj)
    nginx_v = subprocess.run([shutil.which("nginx") or "/usr/sbin/nginx", "-v"], capture_output=True, text=True).stderr.strip()
    ctx.peer("nginx (the remote cache, WebDAV)", nginx_v.replace("nginx version: ", ""))
    shop = work / "shop"
    shutil.copytree(ctx.root / "examples" / "shop", shop, symlinks=True)

    proc, port = start_nginx(work / "nginx")
    try:
        url = f"http://127.0.0.1:{port}"
        q = shlex.quote
        asok_cmd = f"{q(str(asok))} build -o {{out}} > /dev/null 2>&1"
        rows, notes = measure(ctx, "asok", proj, f"--python {q(str(ctx.python))}", url, asok_cmd)
        shop_rows, shop_notes = measure(ctx, "shop", shop, f"--python {q(str(ctx.python))}", url, None)
    finally:
        proc.kill()
        proc.wait()
    ctx.describe(
        f"Wall time of `kiln build` (defaults) on examples/asok-blog scaled by bench/gen_frameworks.py "
        f"(`{tree_digest(proj)}`, asok profile, IMAGE_OPTIMIZATION=true) and on examples/shop: cold (`--no-cache`), "
        f"rebuilt with nothing changed (warm local cache, dist in place), and a fresh clone at another path "
        f"(dist and local cache moved away before each run) with `--remote-cache` on nginx's WebDAV module "
        f"(127.0.0.1) that one build of the project filled, next to `asok build` in the same run.")
    for n in notes + shop_notes:
        ctx.note(n)
    return rows + shop_rows
