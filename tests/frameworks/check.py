#!/usr/bin/env python3
"""Serves a dist with its framework's own runtime (serve.py), crawls it (crawl.py) and, with
--browser, loads its pages in headless Chromium (browse.py); stops the server.

    check.py asok|django DIST PAGE... [--settings MOD] [--versioned PREFIX=REGEX]... [--browser]

Prints one JSON object {"crawl": ..., "browser": ..., "server_log": last lines} and, on stderr,
one line per failure (which URL, which status, from where) followed by the server's log (the
framework's traceback of a 500 is there). Exit status 1 when anything failed, 2 on bad usage.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import browse  # noqa: E402
import crawl  # noqa: E402


# The last line of a Python traceback: `module.ExceptionName: message`.
ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit)\b:.*$", re.M)


def start(kind: str, dist: str, settings: str | None, log) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, str(HERE / "serve.py"), kind, dist] + (["--settings", settings] if settings else [])
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    found: list[str] = []

    def read():
        for line in p.stdout:
            if line.startswith("LISTENING ") and not found:
                found.append(line.split()[1])

    t = threading.Thread(target=read, daemon=True)
    t.start()
    deadline = time.monotonic() + 60
    while not found and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not found:
        p.kill()
        p.wait()
        log.flush()
        log.seek(0)
        raise SystemExit(f"check.py: the {kind} runtime did not start on {dist}:\n{log.read()[-6000:]}")
    return p, found[0]


def main() -> int:
    args = sys.argv[1:]
    settings, versioned, browser, rest = None, [], False, []
    i = 0
    while i < len(args):
        if args[i] == "--settings":
            settings = args[i + 1]
            i += 2
        elif args[i] == "--versioned" and "=" in args[i + 1]:
            prefix, rx = args[i + 1].split("=", 1)
            versioned.append((prefix, re.compile(rx)))
            i += 2
        elif args[i] == "--browser":
            browser = True
            i += 1
        else:
            rest.append(args[i])
            i += 1
    if len(rest) < 3 or rest[0] not in ("asok", "django"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    kind, dist, pages = rest[0], os.path.abspath(rest[1]), rest[2:]
    with tempfile.TemporaryFile("w+") as log:
        server, base = start(kind, dist, settings, log)
        try:
            crawled = crawl.crawl(base, pages, versioned)
            browsed = browse.browse(base, pages) if browser else None
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        log.flush()
        log.seek(0)
        server_log = log.read()
    failures = [f"{f['status']} {f['url']} (from {f['from']}): {f['why']}" for f in crawled["failures"]]
    failures += browsed["failures"] if browsed else []
    print(json.dumps({"base": base, "crawl": crawled, "browser": browsed,
                      "server_log": server_log[-20000:]}, indent=1))
    if failures:
        for f in failures:
            print(f"FAIL {f}", file=sys.stderr)
        errors = list(dict.fromkeys(m.group(0) for m in ERROR_LINE.finditer(server_log)))
        if errors:
            print(f"--- distinct errors in the {kind} runtime's log ---", file=sys.stderr)
            for e in errors[:12]:
                print(f"  {e}", file=sys.stderr)
        print(f"--- the {kind} runtime's log (last 3000 characters) ---\n{server_log[-3000:]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
