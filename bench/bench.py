#!/usr/bin/env python3
"""Driver for kiln's benchmarks (normally started by bench/run, inside bench/work/venv).

Each benchmark is one module bench/benches/<name>.py with
    TITLE = "..."                      # section heading
    def run(ctx) -> list[Row]          # rows of the section's table
A benchmark generates its inputs (fixed seed) under ctx.workdir(), checks the tools' outputs once
(raise BenchError to fail loudly), times commands with ctx.hyperfine() or ctx.timeit(), says what
it measured with ctx.describe(), and names its peers with ctx.peer(). See bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

# Benchmarks do `from bench import ...`: make that this very module, not a second copy.
sys.modules.setdefault("bench", sys.modules[__name__])

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / "work"
BENCHES = BENCH / "benches"
TRASH = WORK / ".trash"  # cleared outputs wait here until every timing is done (see Ctx.clear_cmd)
# The kiln binaries measured: target/release (bench/run builds it), or KILN_BIN_DIR's prebuilt ones.
BIN_DIR = Path(os.environ["KILN_BIN_DIR"]).resolve() if os.environ.get("KILN_BIN_DIR") else ROOT / "target" / "release"


class BenchError(Exception):
    """A benchmark's inputs, tools or outputs are not what it expects: the run stops."""


@dataclass
class Stats:
    """Wall-clock times of one command, in seconds (and, from hyperfine, its mean user + system
    CPU time, which the load of other processes inflates far less than the wall time)."""

    times: list[float]
    cpu: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def min(self) -> float:
        return min(self.times)

    @property
    def max(self) -> float:
        return max(self.times)


@dataclass
class Row:
    tool: str
    stats: Stats
    out_bytes: int | None = None
    peer: bool = False  # the row the others are compared with


@dataclass
class Section:
    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    description: str = ""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    foreign_cpu: float = 0.0  # share of the machine's CPU time other processes used meanwhile


class CpuMeter:
    """How busy the machine was with *other* processes: all CPUs' busy time from /proc/stat minus
    the CPU time of this process and its waited-for children (hyperfine and what it runs)."""

    def __init__(self):
        self.t0, self.busy0, self.own0 = time.monotonic(), self._busy(), self._own()

    @staticmethod
    def _busy() -> float:
        try:
            f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return 0.0
        user, nice, system, _idle, _iowait, irq, softirq, steal = (f + [0] * 8)[:8]
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def foreign_share(self) -> float:
        wall = (time.monotonic() - self.t0) * (os.cpu_count() or 1)
        foreign = (self._busy() - self.busy0) - (self._own() - self.own0)
        return max(0.0, foreign / wall) if wall > 0 else 0.0


class Ctx:
    """What a benchmark gets: paths, repetition counts, timing helpers and the report."""

    def __init__(self, name: str, quick: bool, section: Section, peers: dict[str, str]):
        self.name = name
        self.quick = quick
        self.root = ROOT
        self.bench = BENCH
        self.python = Path(sys.executable)  # the venv's interpreter: peers are installed there
        self.bin_dir = BIN_DIR
        self._section = section
        self._peers = peers

    # --- paths and tools ---
    def workdir(self, *parts: str, clean: bool = False) -> Path:
        """bench/work/<name>/<parts…>; `clean` moves an old one to the trash first."""
        d = WORK.joinpath(self.name, *parts)
        if clean:
            discard(d)
        d.mkdir(parents=True, exist_ok=True)
        return d

    def clear_cmd(self, *paths: Path | str) -> str:
        """A shell command (for hyperfine's --prepare) that clears outputs by moving them to the
        trash, which is emptied only after the last benchmark. Deleting instead would make every
        timed run slower than the last on ext4: it skips inodes freed in the last minutes when it
        allocates new ones, so a loop of rm -rf and re-create measures the allocator's scan."""
        quoted = " ".join(shlex.quote(str(p)) for p in paths)
        return (f"for p in {quoted}; do if [ -e \"$p\" ]; then "
                f"mv \"$p\" {shlex.quote(str(TRASH))}/$(date +%s%N)-$RANDOM; fi; done")

    def generator(self, name: str):
        """The project generator bench/<name>.py as a module (it imports its sibling generators)."""
        sys.path.insert(0, str(self.bench))
        try:
            return importlib.import_module(name)
        finally:
            sys.path.remove(str(self.bench))

    def bin(self, name: str) -> Path:
        p = BIN_DIR / name
        if not p.is_file():
            raise BenchError(f"{p} is missing: run `cargo build --release` (bench/run does unless KILN_BIN_DIR is set)")
        return p

    def reps(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def sh(self, cmd: str | list[str], cwd: Path | None = None, env: dict | None = None) -> str:
        """Runs a command once; a non-zero exit is a BenchError carrying its output."""
        shell = isinstance(cmd, str)
        r = subprocess.run(cmd, shell=shell, cwd=cwd, env=self._env(env), capture_output=True, text=True,
                           executable="/bin/bash" if shell else None)
        if r.returncode != 0:
            shown = cmd if shell else shlex.join(map(str, cmd))
            raise BenchError(f"command failed ({r.returncode}): {shown}\n{r.stdout[-4000:]}{r.stderr[-4000:]}")
        return r.stdout

    @staticmethod
    def _env(extra: dict | None) -> dict:
        env = dict(os.environ)
        env.update({k: str(v) for k, v in (extra or {}).items()})
        return env

    # --- timing ---
    def hyperfine(self, label: str, cmd: str, runs: int, warmup: int, prepare: str | None = None,
                  cwd: Path | None = None, env: dict | None = None) -> Stats:
        """Times a whole shell command with hyperfine (bash; hyperfine subtracts the shell's
        start-up); `prepare` runs before every timed and warm-up run, untimed."""
        out = self.workdir("hyperfine") / (label.replace(" ", "_").replace("/", "_") + ".json")
        args = ["hyperfine", "--style", "basic", "--shell", "bash", "--runs", str(runs),
                "--warmup", str(warmup), "--command-name", label, "--export-json", str(out)]
        if prepare:
            args += ["--prepare", prepare]
        args.append(cmd)
        print(f"  $ {cmd}", file=sys.stderr)
        r = subprocess.run(args, cwd=cwd, env=self._env(env), stdout=sys.stderr)
        if r.returncode != 0:
            raise BenchError(f"hyperfine failed for {label!r} (exit {r.returncode}): {cmd}")
        result = json.loads(out.read_text())["results"][0]
        if any(code != 0 for code in result.get("exit_codes", [])):
            raise BenchError(f"{label}: the command failed during timing")
        return Stats(result["times"], cpu=result.get("user", 0.0) + result.get("system", 0.0))

    def timeit(self, fn: Callable[[], object], runs: int, warmup: int,
               setup: Callable[[], object] | None = None) -> Stats:
        """For what hyperfine cannot time (an in-process call): warm-up runs, then `runs` timed
        calls with time.perf_counter; `setup` runs untimed before each call."""
        for _ in range(warmup):
            if setup:
                setup()
            fn()
        times = []
        for _ in range(runs):
            if setup:
                setup()
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return Stats(times)

    # --- report ---
    def describe(self, sentence: str) -> None:
        """What was measured and how (one sentence under the section heading)."""
        self._section.description = sentence

    def note(self, text: str) -> None:
        self._section.notes.append(text)

    def peer(self, name: str, version: str) -> None:
        """A peer tool (or input generator) whose exact version belongs in the header."""
        self._peers[name] = version


# ---------------------------------------------------------------------------------------------
# helpers for benchmarks


def discard(path: Path) -> None:
    """Moves a file or directory to the trash (same file system: a rename, no inode freed now)."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        TRASH.mkdir(parents=True, exist_ok=True)
        path.rename(TRASH / f"{time.time_ns()}-{path.name}")


def empty_trash() -> None:
    shutil.rmtree(TRASH, ignore_errors=True)


def link_asok_tools(ctx, proj: Path) -> Path:
    """Makes `asok build` runnable in `proj` as its docs set it up, and returns the asok command.

    asok runs `.asok/bin/esbuild` (else esbuild on PATH) and only ever `.asok/bin/cwebp` (it refuses
    a cwebp elsewhere): `asok assets --install` downloads them there; the benches link esbuild from
    npm (bench/work/node_modules) and Debian's cwebp instead, and record both as peers."""
    nm = ctx.bench / "work" / "node_modules"
    esbuilds = sorted(nm.glob("@esbuild/*/bin/esbuild")) or sorted(nm.glob("esbuild/bin/esbuild"))
    if not esbuilds:
        raise BenchError(f"{nm}: esbuild's native binary is missing (bench/run installs the npm peers)")
    cwebp = shutil.which("cwebp")
    if not cwebp:
        raise BenchError("cwebp is required (Debian's webp package: apt-get install webp)")
    asok = ctx.python.parent / "asok"
    if not asok.is_file():
        raise BenchError(f"{asok} is missing (bench/requirements.txt pins asok)")
    bindir = proj / ".asok" / "bin"
    bindir.mkdir(parents=True)
    (bindir / "esbuild").symlink_to(esbuilds[0])
    (bindir / "cwebp").symlink_to(cwebp)
    ctx.peer("asok (PyPI)", importlib.metadata.version("asok"))
    ctx.peer("esbuild (asok's minifier, npm)", ctx.sh([str(esbuilds[0]), "--version"]).strip())
    webp_deb = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "webp"], capture_output=True, text=True).stdout.strip()
    ctx.peer("cwebp (asok's image converter, Debian webp)", webp_deb or ctx.sh([cwebp, "-version"]).strip())
    return asok


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def tree_digest(path: Path) -> str:
    """sha256 over the sorted (relative path, content) pairs: proves the inputs are the same."""
    h = hashlib.sha256()
    for p in sorted(q for q in Path(path).rglob("*") if q.is_file()):
        h.update(p.relative_to(path).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:16]


# The precompressed twins kiln writes beside a text asset.
TWINS = (".br", ".gz", ".zst")

BAZEL_WS_FILES = ["WORKSPACE", "WORKSPACE.bzlmod", "MODULE.bazel", "BUILD.bazel", "Cargo.toml", ".bazelrc", ".bazelignore"]


def bazel_workspace(ctx, ws: Path, dirs: list[str]) -> Path:
    """A copy of this repository's Bazel workspace files and `dirs` at `ws`, set up to build offline."""
    ws.mkdir(parents=True)
    for f in BAZEL_WS_FILES:
        shutil.copy(ctx.root / f, ws / f)
    for d in dirs:
        shutil.copytree(ctx.root / d, ws / d, symlinks=True)
    ctx.sh(["sh", str(ws / "tests/offline/setup")])
    return ws


def fmt_time(s: float) -> str:
    if s >= 1:
        return f"{s:.3f} s"
    if s >= 0.001:
        return f"{s * 1000:.1f} ms"
    return f"{s * 1e6:.0f} µs"


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "—"
    return f"{n:,}"


# ---------------------------------------------------------------------------------------------
# driver


BUSY_WARNING = 0.05


def discover() -> dict[str, Path]:
    return {p.stem: p for p in sorted(BENCHES.glob("*.py")) if not p.stem.startswith("_")}


def load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(f"kiln_bench_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    if not callable(getattr(mod, "run", None)):
        raise BenchError(f"{path}: no run(ctx) function")
    return mod


def cmd_out(args: list[str], cwd: Path | None = None) -> str | None:
    try:
        r = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    except OSError:
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def kiln_revision() -> str:
    if BIN_DIR != ROOT / "target" / "release":
        version = cmd_out([str(BIN_DIR / "kiln"), "--version"]) or "unknown version"
        return f"prebuilt binaries from KILN_BIN_DIR={BIN_DIR} ({version}); this checkout is at " + _checkout_revision()
    return _checkout_revision()


def _checkout_revision() -> str:
    head = cmd_out(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT)
    if not head:
        return "uncommitted"
    dirty = cmd_out(["git", "status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock"], cwd=ROOT)
    return f"{head} (plus uncommitted changes to src/ or Cargo.*)" if dirty else head


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    os_name = platform.system()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return {
        "date": cmd_out(["date", "-u", "+%F"]) or time.strftime("%Y-%m-%d", time.gmtime()),
        "cpu": cpu,
        "nproc": cmd_out(["nproc"]) or str(os.cpu_count()),
        "ram": ram,
        "os": f"{os_name}, Linux {platform.release()}" if platform.system() == "Linux" else os_name,
    }


def render(sections: list[Section], peers: dict[str, str], quick: bool, wall: float) -> str:
    m = machine()
    lines = [
        "# kiln benchmarks",
        "",
        "Generated by `bench/run`" + (" --quick" if quick else "") + "; do not edit by hand.",
        "",
        f"- Date (UTC): {m['date']}",
        f"- Machine: {m['cpu']}, {m['nproc']} CPUs (nproc), {m['ram']} RAM",
        f"- OS: {m['os']}",
        f"- rustc: {cmd_out(['rustc', '--version']) or 'unknown'}",
        f"- kiln: {kiln_revision()} (release profile, `cargo build --release`)",
        f"- Python: {platform.python_version()} ({sys.executable.replace(str(ROOT) + '/', '')})",
        f"- hyperfine: {(cmd_out(['hyperfine', '--version']) or 'unknown').replace('hyperfine ', '')}",
    ]
    for name, version in sorted(peers.items()):
        lines.append(f"- {name}: {version}")
    if quick:
        lines.append("- Mode: --quick (fewer repetitions; not for comparison)")
    lines.append(f"- Harness time: {wall:.0f} s for these benchmarks, plus "
                 f"{os.environ.get('BENCH_SETUP_SECONDS', '?')} s of build and setup")
    busy = [s for s in sections if s.foreign_cpu > BUSY_WARNING]
    if busy:
        lines.append(f"- **Warning: the machine was not idle** (other processes used "
                     + ", ".join(f"{s.foreign_cpu:.0%} of the CPU time during {s.name}" for s in busy)
                     + "): these numbers are noisy; run again on a quiet machine")
    lines += ["", "Times are wall-clock. \"vs peer\" is the peer's median divided by the row's median "
              "(above 1 = faster than the peer)."]
    for s in sections:
        lines += ["", f"## {s.name}: {s.title}", ""]
        if s.description:
            lines += [s.description, ""]
        peer = next((r for r in s.rows if r.peer), None)
        has_bytes = any(r.out_bytes is not None for r in s.rows)
        head = ["Tool", "Median", "Min–max", "Runs"] + (["Output bytes"] if has_bytes else []) + ["vs peer"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
        for r in s.rows:
            if peer is None:
                ratio = "—"
            elif r is peer:
                ratio = "1.00× (peer)"
            else:
                ratio = f"{peer.stats.median / r.stats.median:.2f}×"
            cells = [r.tool, fmt_time(r.stats.median), f"{fmt_time(r.stats.min)} – {fmt_time(r.stats.max)}",
                     str(len(r.stats.times))]
            if has_bytes:
                cells.append(fmt_bytes(r.out_bytes))
            cells.append(ratio)
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        for n in s.notes:
            lines += [n, ""]
        lines.append(f"Took {s.seconds:.0f} s; other processes used {s.foreign_cpu:.1%} of the machine's "
                     f"CPU time meanwhile.")
    return "\n".join(lines) + "\n"


def main() -> int:
    available = discover()
    ap = argparse.ArgumentParser(prog="bench/run", description="Run kiln's benchmarks and write a report.")
    ap.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run (default: all of {', '.join(available)})")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke test, not a result)")
    ap.add_argument("--output", type=Path, help="report file (default: bench/RESULTS.md for a full run of "
                    "every benchmark, else bench/work/RESULTS.md so that the committed results stay whole)")
    ap.add_argument("--wait-idle", type=float, default=300, metavar="SECONDS",
                    help="before each benchmark, wait up to this long for other processes to leave the "
                    "CPUs idle (default 300; 0 = do not wait)")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = ap.parse_args()
    if args.list:
        for name, path in available.items():
            print(f"{name}\t{getattr(load(name, path), 'TITLE', '')}")
        return 0
    unknown = [n for n in args.names if n not in available]
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(unknown)} (have: {', '.join(available)})")
    names = args.names or list(available)
    full = not args.quick and set(names) == set(available)
    output = args.output or (BENCH / "RESULTS.md" if full else WORK / "RESULTS.md")

    TRASH.mkdir(parents=True, exist_ok=True)
    try:
        return run_all(names, args.quick, output, args.wait_idle)
    finally:
        empty_trash()


def wait_idle(limit: float) -> None:
    """Waits (at most `limit` seconds) until other processes use under 5% of the CPUs over 3 s."""
    if limit <= 0:
        return
    deadline = time.monotonic() + limit
    while True:
        m = CpuMeter()
        time.sleep(3)
        share = m.foreign_share()
        if share < BUSY_WARNING:
            return
        if time.monotonic() >= deadline:
            print(f"bench: machine still busy ({share:.0%} of the CPUs used by others); going on", file=sys.stderr)
            return
        print(f"bench: waiting for an idle machine ({share:.0%} of the CPUs used by others)", file=sys.stderr)


def run_all(names: list[str], quick: bool, output: Path, wait: float) -> int:
    available = discover()
    sections: list[Section] = []
    peers: dict[str, str] = {}
    t_start = time.monotonic()
    for name in names:
        print(f"bench: == {name} ==", file=sys.stderr)
        wait_idle(wait)
        mod = load(name, available[name])
        section = Section(name=name, title=getattr(mod, "TITLE", name))
        ctx = Ctx(name, quick, section, peers)
        t0, meter = time.monotonic(), CpuMeter()
        try:
            section.rows = list(mod.run(ctx))
        except BenchError as e:
            print(f"bench: {name} FAILED: {e}", file=sys.stderr)
            return 1
        except Exception:
            traceback.print_exc()
            print(f"bench: {name} FAILED (see the traceback above)", file=sys.stderr)
            return 1
        section.seconds = time.monotonic() - t0
        section.foreign_cpu = meter.foreign_share()
        if not section.rows:
            print(f"bench: {name} returned no rows", file=sys.stderr)
            return 1
        sections.append(section)
        print(f"bench: {name} done in {section.seconds:.0f} s", file=sys.stderr)
    report = render(sections, peers, quick, time.monotonic() - t_start)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report)
    print(report)
    print(f"bench: wrote {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
