"""remote: `bazel build //:dist` (the example shop, Debian's Bazel 4.2.3, offline) on the local REAPI
cluster of tests/remote/ (BuildGrid 0.4.4, two workers of tests/remote/worker.py), next to the
same build run locally (linux-sandbox): cold with every action executed remotely, and the
all-hits rebuild after `bazel clean --expunge`.

Every variant must give the same dist as `kiln build`, byte for byte, and the remote runs must be
what they claim (every kiln spawn `remote`, then every one a `remote cache hit`, read from the
execution log), checked before timing.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

from bench import BenchError, Row, bazel_workspace, tree_digest

TITLE = "bazel build //:dist on a local REAPI cluster (BuildGrid, 2 workers) vs local, cold and all cache hits"

DIST = "bazel-bin/examples/shop/dist"


def kiln_spawns(exec_log: Path) -> list[tuple[str, str]]:
    """(mnemonic, runner) of every Kiln* spawn in a JSON execution log (a stream of objects)."""
    text, dec, pos, out = exec_log.read_text(), json.JSONDecoder(), 0, []
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return out
        obj, pos = dec.raw_decode(text, pos)
        if obj.get("mnemonic", "").startswith("Kiln"):
            out.append((obj["mnemonic"], obj.get("runner", "")))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(ctx):
    if shutil.which("bazel") is None:
        raise BenchError("bazel is not installed (apt-get install bazel-bootstrap)")
    for tool in ("redis-server", "setpriv"):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} is missing (see tests/remote/README.md; .ci/run installs it)")
    work = ctx.workdir(clean=True)
    # The cluster's unprivileged user (as root) must traverse to its state directory.
    for d in (work, work.parent):
        d.chmod(d.stat().st_mode | 0o005)
    ws = bazel_workspace(ctx, work / "ws", ["rules", "examples", "tests/offline"])

    # The toolchain's interpreter, given to Bazel and `kiln build` alike (bytecode depends on it).
    python = ctx.sh(["python3", "-S", "-E", "-c", "import os, sys; print(os.path.realpath(sys.executable))"]).strip()
    kiln = ctx.bin("kiln")
    ctx.sh([str(kiln), "build", str(ws / "examples/shop"), "-o", str(work / "kiln-dist"), "--python", python, "--quiet"])
    want = tree_digest(work / "kiln-dist")

    cluster = ctx.root / "tests/remote/cluster"
    state = work / "state"
    # Its own port: not the default 50051, which a test's cluster may hold at the same time.
    up = subprocess.run([str(cluster), "up", str(state)], capture_output=True, text=True,
                        env={**os.environ, "KILN_REMOTE_GRPC_PORT": str(free_port())})
    try:
        if up.returncode != 0:
            raise BenchError(f"tests/remote/cluster up failed:\n{up.stderr[-4000:]}")
        executor = next(l.split("=", 1)[1] for l in up.stdout.splitlines() if l.startswith("REMOTE_EXECUTOR="))
        return measure(ctx, ws, work, python, executor, want)
    finally:
        subprocess.run([str(cluster), "down", str(state)], capture_output=True)


def measure(ctx, ws: Path, work: Path, python: str, executor: str, want: str):
    env = {"KILN_BIN_DIR": str(ctx.bin_dir), "KILN_PYTHON": python}
    bazel = f"bazel --output_user_root={work / 'bazel-root'} --nohome_rc"
    local = f"{bazel} build --config=offline //:dist"
    remote = f"{bazel} build --config=offline --config=remote --remote_executor={executor} //:dist"
    # Every timed run starts from a fresh output base (the server too), as a new checkout would.
    fresh = f"{bazel} clean --expunge"

    def check(what: str, cmd: str, runner: str | None) -> int:
        log = work / f"{what}.json"
        ctx.sh(fresh, cwd=ws, env=env)
        ctx.sh(f"{cmd} --execution_log_json_file={log}", cwd=ws, env=env)
        if tree_digest(ws / DIST) != want:
            raise BenchError(f"{what}: the dist differs from kiln build's")
        spawns = kiln_spawns(log)
        if not spawns:
            raise BenchError(f"{what}: no kiln spawn in the execution log")
        if runner is not None and any(r != runner for _, r in spawns):
            raise BenchError(f"{what}: not every kiln spawn ran as {runner!r}: {sorted(set(spawns))}")
        return len(spawns)

    # Checked once: the local build, every kiln action executed remotely, then every one a hit.
    n = check("local", local, None)
    cold = f"{remote} --noremote_accept_cached"
    if check("remote-cold", cold, "remote") != n:
        raise BenchError("the remote build ran a different number of kiln actions")
    if check("remote-hits", remote, "remote cache hit") != n:
        raise BenchError("the all-hits build ran a different number of kiln actions")

    runs = ctx.reps(3, 1)
    rows = [
        Row("bazel build //:dist, local (linux-sandbox), fresh output base", ctx.hyperfine(
            "bazel local cold", local, runs=runs, warmup=0, prepare=fresh, cwd=ws, env=env), peer=True),
        Row(f"bazel build --config=remote //:dist, fresh output base, {n} kiln actions executed remotely",
            ctx.hyperfine("bazel remote cold", cold, runs=runs, warmup=0, prepare=fresh, cwd=ws, env=env)),
        Row(f"the same after clean --expunge: {n} of {n} kiln actions remote cache hits",
            ctx.hyperfine("bazel remote hits", remote, runs=runs, warmup=0, prepare=fresh, cwd=ws, env=env)),
    ]
    ctx.sh(f"{bazel} shutdown", cwd=ws, env=env)
    ctx.describe(
        f"The example shop's `//:dist` ({n} kiln actions): locally (sandboxed), on tests/remote/'s cluster on "
        "this machine (BuildGrid 0.4.4, PostgreSQL, Redis, 2 Python workers with 1 slot each) with "
        "`--noremote_accept_cached` so that every action executes on a worker, and with the cache; "
        "`bazel clean --expunge` before every run (a fresh output base and Bazel server), same dist "
        "as `kiln build` checked for each.")
    ctx.note("The cluster shares the machine with Bazel: the remote rows measure the REAPI round trips "
             "and the workers' per-action cost (input tree, namespace, upload), not a faster farm. The "
             "cluster's CPU time counts as other processes' in the busy column.")
    return rows
