#!/usr/bin/env python3
"""Loads pages of a running server in headless Chromium: no console messages, and the JS ran.

    browse.py BASE_URL PAGE... [--chromium PATH]

For each page: `chromium --headless=new --dump-dom` (a fresh profile each), its console log taken
from Chromium's stderr (`:CONSOLE` lines, uncaught exceptions, CSP refusals). The page's HTML as
the server sent it names the scripts that must have run: every data-expect-js="a b" attribute;
each name must be a data-js-NAME="ran" attribute of <html> in the DOM after load (the test apps'
scripts set it). A page whose HTML expects nothing is only checked for console messages.

Prints one JSON object {"pages": [{"page", "console", "expected", "ran", "missing"}], "failures": [...]}
and exits 1 on any console message, missing marker, or Chromium failure.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

EXPECT = re.compile(r"""data-expect-js\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")
RAN = re.compile(r"""data-js-([\w-]+)\s*=\s*"ran\"""")
HTML_TAG = re.compile(r"<html\b[^>]*>", re.I)


def console_lines(log: str) -> list[str]:
    return [line for line in log.splitlines()
            if ":CONSOLE" in line or "Uncaught" in line or "Refused to" in line or "Content Security Policy" in line]


def check_page(chromium: str, url: str) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            served = r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:  # the crawl reports the status; the browser still loads it
        served = e.read().decode("utf-8", "replace")
    expected = sorted({name for m in EXPECT.finditer(served) for v in m.groups() if v for name in v.split()})
    with tempfile.TemporaryDirectory(prefix="kiln-browse-") as profile:
        try:
            p = subprocess.run([chromium, "--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run",
                                "--disable-extensions", "--enable-logging=stderr", "--v=0",
                                f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom", url],
                               capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            return {"page": url, "error": "chromium timed out after 120 s", "expected": expected}
    if p.returncode != 0:
        return {"page": url, "error": f"chromium exited {p.returncode}: {p.stderr[-2000:]}", "expected": expected}
    tag = HTML_TAG.search(p.stdout)
    ran = sorted(set(RAN.findall(tag.group(0)))) if tag else []
    return {"page": url, "console": console_lines(p.stderr), "expected": expected, "ran": ran,
            "missing": [n for n in expected if n not in ran]}


def browse(base: str, pages: list[str], chromium: str = "chromium") -> dict:
    exe = shutil.which(chromium)
    if exe is None:
        raise SystemExit(f"{chromium}: not found (Debian's chromium package)")
    urls = [urllib.parse.urljoin(base.rstrip("/") + "/", p) for p in pages]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda u: check_page(exe, u), urls))
    failures = []
    for r in results:
        if r.get("error"):
            failures.append(f"{r['page']}: {r['error']}")
            continue
        for line in r["console"]:
            failures.append(f"{r['page']}: console: {line}")
        if r["missing"]:
            failures.append(f"{r['page']}: scripts did not run (no data-js-NAME=\"ran\" on <html>): "
                            f"{', '.join(r['missing'])}; ran: {', '.join(r['ran']) or 'none'}")
    return {"pages": results, "failures": failures}


def main() -> int:
    args = sys.argv[1:]
    chromium = "chromium"
    if "--chromium" in args:
        i = args.index("--chromium")
        chromium = args[i + 1]
        del args[i:i + 2]
    if len(args) < 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    out = browse(args[0], args[1:], chromium)
    for f in out["failures"]:
        print(f"FAIL {f}", file=sys.stderr)
    print(json.dumps(out, indent=1))
    return 1 if out["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
