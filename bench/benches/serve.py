"""serve: kiln serve vs nginx (Debian) serving the same versioned files, under ApacheBench load.

Goal (from the issue): 20,000 requests at 64 connections to a versioned asset with no errors;
throughput and p99 latency next to nginx with a similar configuration (immutable cache headers,
gzip_static on, access log off). With KILN_SERVE_BASELINE=/path/to/kiln, that binary's `kiln serve`
(an earlier server, e.g. main's) is measured too, the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench import BenchError, Row, Stats, tree_digest

TITLE = "kiln serve vs nginx, 20,000 requests at 64 keep-alive connections"

REQUESTS = 20_000
CONCURRENCY = 64
IMMUTABLE = "public, max-age=31536000, immutable"
BASELINE = "kiln serve (baseline)"

NGINX_CONF = """\
{user}worker_processes auto;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 5s;
    keepalive_requests 100000;
    client_body_temp_path {work}/tmp/body;
    proxy_temp_path {work}/tmp/proxy;
    fastcgi_temp_path {work}/tmp/fastcgi;
    uwsgi_temp_path {work}/tmp/uwsgi;
    scgi_temp_path {work}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        location /s/ {{
            alias {root}/;
            gzip_static on;
            gzip_vary on;
            etag on;
            add_header Cache-Control "{immutable}";
            add_header X-Content-Type-Options nosniff;
        }}
    }}
}}
"""


def need(tool: str, package: str) -> str:
    """The tool's path; installs its Debian package when missing (as bench/run does for hyperfine)."""
    path = shutil.which(tool) or (f"/usr/sbin/{tool}" if os.path.exists(f"/usr/sbin/{tool}") else None)
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"bench: installing {package} (Debian package)", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
                       stdout=subprocess.DEVNULL, check=False)
        path = shutil.which(tool) or (f"/usr/sbin/{tool}" if os.path.exists(f"/usr/sbin/{tool}") else None)
    if not path:
        raise BenchError(f"{tool} is required (apt-get install {package})")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{what} exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"{what} is not listening on {port}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children (nginx's workers), from /proc."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            pass
    return total


def fetch(url: str, encoding: str | None) -> tuple[bytes, dict]:
    req = urllib.request.Request(url, headers={"Accept-Encoding": encoding} if encoding else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read(), {k.lower(): v for k, v in r.headers.items()}


def ab(ab_bin: str, url: str, encoding: str | None, csv: Path, n: int = REQUESTS) -> dict:
    """One ApacheBench run; returns its numbers (a failed or non-2xx request is a BenchError)."""
    cmd = [ab_bin, "-q", "-n", str(n), "-c", str(CONCURRENCY), "-k", "-e", str(csv)]
    if encoding:
        cmd += ["-H", f"Accept-Encoding: {encoding}"]
    r = subprocess.run(cmd + [url], capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"ab failed ({r.returncode}) on {url}:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    out = {}
    for line in r.stdout.splitlines():
        key, _, value = line.partition(":")
        out[key.strip()] = value.strip()
    complete = int(out.get("Complete requests", "0"))
    failed = int(out.get("Failed requests", "0"))
    non2xx = int(out.get("Non-2xx responses", "0"))
    if complete != n or failed or non2xx:
        raise BenchError(f"{url}: {complete} complete, {failed} failed, {non2xx} non-2xx of {n}:\n{r.stdout}")
    pct = {}
    for line in csv.read_text().splitlines()[1:]:
        p, _, ms = line.partition(",")
        pct[int(p)] = float(ms) / 1000
    return {
        "seconds": float(out["Time taken for tests"].split()[0]),
        "rps": float(out["Requests per second"].split()[0]),
        "p50": pct[50],
        "p99": pct[99],
        "max": pct[100],
        "bytes_per_response": int(out["HTML transferred"].split()[0]) // n,
    }


def run(ctx):
    work = ctx.workdir(clean=True)
    ab_bin = need("ab", "apache2-utils")
    nginx_bin = need("nginx", "nginx")
    ab_version = subprocess.run([ab_bin, "-V"], capture_output=True, text=True).stdout.split("\n")[0]
    nginx_version = subprocess.run([nginx_bin, "-v"], capture_output=True, text=True).stderr.strip()
    ctx.peer("nginx", nginx_version.replace("nginx version: ", ""))
    ctx.peer("ab (load generator)", ab_version.replace("This is ", ""))

    # The dist's static part, made by the real tools from the example shop.
    dist = work / "dist"
    root = dist / "src" / "partials"
    partials = ctx.root / "examples" / "shop" / "src" / "partials"
    ctx.sh([str(ctx.bin("kiln-hash")), "--root", str(partials), "--all", "--compress", "-o", str(root),
            "--partial", str(work / "static.json")])
    ctx.sh([str(ctx.bin("kiln-manifest-merge")), "-o", str(dist / "manifest.json"), str(work / "static.json")])
    manifest = json.loads((dist / "manifest.json").read_text())
    css = manifest["assets"]["css/shop.css"]
    jpg = manifest["assets"]["img/hero.jpg"]
    if "gzip" not in css.get("encodings", {}):
        raise BenchError("css/shop.css has no gzip twin")
    targets = [  # (label, versioned path, Accept-Encoding)
        (f"`{css['versioned_path']}` (gzip twin, {(root / css['encodings']['gzip']).stat().st_size:,} B)",
         css["versioned_path"], "gzip"),
        (f"`{jpg['versioned_path']}` ({(root / jpg['versioned_path']).stat().st_size:,} B)", jpg["versioned_path"], None),
    ]

    kiln_port, nginx_port = free_port(), free_port()
    (work / "tmp").mkdir()
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read bench/work as its owner
    conf = work / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user=user, work=work, port=nginx_port, root=root, immutable=IMMUTABLE))
    servers = {
        "kiln serve": subprocess.Popen([str(ctx.bin("kiln")), "serve", str(dist), "--port", str(kiln_port), "--quiet"],
                                       stdout=subprocess.DEVNULL),
        "nginx": subprocess.Popen([nginx_bin, "-c", str(conf), "-p", str(work)], stderr=subprocess.DEVNULL),
    }
    ports = {"kiln serve": kiln_port, "nginx": nginx_port}
    baseline = os.environ.get("KILN_SERVE_BASELINE")
    if baseline:
        ports[BASELINE] = free_port()
        servers[BASELINE] = subprocess.Popen([baseline, "serve", str(dist), "--port", str(ports[BASELINE]), "--quiet"],
                                             stdout=subprocess.DEVNULL)
    try:
        for name, proc in servers.items():
            wait_port(ports[name], proc, name)
        # Same bytes, same caching from both, before anything is timed.
        for _, path, enc in targets:
            got = {}
            for name, port in ports.items():
                body, headers = fetch(f"http://127.0.0.1:{port}/s/{path}", enc)
                if headers.get("cache-control") != IMMUTABLE:
                    raise BenchError(f"{name}: /s/{path} has Cache-Control {headers.get('cache-control')!r}")
                if enc and headers.get("content-encoding") != enc:
                    raise BenchError(f"{name}: /s/{path} not served with {enc}: {headers}")
                got[name] = body
            if any(body != got["nginx"] for body in got.values()):
                raise BenchError(f"/s/{path}: kiln serve and nginx sent different bytes")

        runs = ctx.reps(5, 2)
        results = {(name, path): [] for name in ports for _, path, _ in targets}
        for _, path, enc in targets:
            for name, port in ports.items():  # warm-up: threads, page cache
                ab(ab_bin, f"http://127.0.0.1:{port}/s/{path}", enc, work / "warm.csv", n=4000)
            for i in range(runs):
                # Alternate the servers so drift in the machine's load hits them alike.
                for name in (list(ports) if i % 2 == 0 else list(reversed(ports))):
                    url = f"http://127.0.0.1:{ports[name]}/s/{path}"
                    cpu0 = cpu_seconds(servers[name].pid)
                    r = ab(ab_bin, url, enc, work / f"{name[:5]}-{i}.csv")
                    r["cpu"] = cpu_seconds(servers[name].pid) - cpu0
                    results[(name, path)].append(r)
    finally:
        for proc in servers.values():
            stop(proc)

    rows, table = [], []
    table.append("| Server | Asset | Requests/s (median) | p50 | p99 | max | Server CPU per 1,000 requests | Failed |")
    table.append("|---|---|---:|---:|---:|---:|---:|---:|")
    ms = lambda s: f"{s * 1000:.2f} ms"  # noqa: E731
    for label, path, _ in targets:
        for name in ("nginx", "kiln serve", BASELINE):
            if name not in ports:
                continue
            rs = results[(name, path)]
            table.append(f"| {name} | {label} | {statistics.median(r['rps'] for r in rs):,.0f} "
                         f"| {ms(statistics.median(r['p50'] for r in rs))} | {ms(statistics.median(r['p99'] for r in rs))} "
                         f"| {ms(max(r['max'] for r in rs))} "
                         f"| {ms(statistics.median(r['cpu'] for r in rs) / REQUESTS * 1000)} | 0 of {REQUESTS * len(rs):,} |")
            if path == css["versioned_path"]:
                rows.append(Row(f"{name} (CSS, gzip)", Stats([r["seconds"] for r in rs]), peer=(name == "nginx")))

    ctx.describe(
        f"Wall time of `ab -n {REQUESTS} -c {CONCURRENCY} -k` (ApacheBench, HTTP/1.0 keep-alive, on the same "
        f"2-core machine as the servers) against one versioned asset of a dist made by kiln-hash --compress from "
        f"examples/shop/src/partials (digest `{tree_digest(root)}`), served by `kiln serve DIST --quiet` and by "
        f"Debian's nginx (`worker_processes auto`, sendfile, `gzip_static on`, `add_header Cache-Control "
        f"\"{IMMUTABLE}\"`, etag, access log off; bench/benches/serve.py has the whole config), {runs} runs each "
        f"after a 4,000-request warm-up, servers alternated; both were first checked to send the same bytes with "
        f"the same Cache-Control (and Content-Encoding: gzip for the CSS), and every run had to complete all "
        f"requests with no failure and no non-2xx response.")
    ctx.note("\n".join(table))
    if baseline:
        ctx.note(f"kiln serve (baseline) is `{baseline} serve` (KILN_SERVE_BASELINE), measured the same way.")
    ctx.note("Latencies are ab's percentiles (per run, then the median over runs; max is the worst of all runs). "
             "Server CPU is the user + system time the server's processes used during a run (median), from "
             "/proc: unlike throughput it does not depend on how the scheduler shares the 2 cores between ab, "
             "the server and other processes (kiln serve runs one tokio current-thread runtime per core, "
             f"{os.cpu_count() or 1} threads here, nginx 2 worker processes). "
             "The first table is the wall time of each 20,000-request run on the CSS.")
    return rows
