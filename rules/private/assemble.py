"""Interim stand-in for kiln-dist-assemble (same CLI, directory output only), used by kiln_dist
until the toolchain's kiln-dist-assemble implements `--params`. Deterministic: sorted walk, file
contents only (sandbox inputs are symlinks), fixed modes."""

import argparse
import os
import shutil
import sys

ENV_PRODUCTION = (
    "# Written by kiln: production defaults. SECRET_KEY must come from the environment.\n"
    "DEBUG=false\n"
    "ALLOWED_HOSTS=\n"
    "SESSION_COOKIE_SECURE=true\n"
    "CSRF_COOKIE_SECURE=true\n"
    "SECRET_KEY=\n"
)


def main():
    ap = argparse.ArgumentParser(prog="kiln-dist-assemble (interim)")
    ap.add_argument("--params", required=True)
    ap.add_argument("--env-production", action="store_true")
    ap.add_argument("-o", dest="out", required=True)
    a = ap.parse_args()
    files = {}  # dest → src file
    with open(a.params, encoding="utf-8") as fh:
        for n, line in enumerate(fh.read().splitlines(), 1):
            if not line:
                continue
            dest, sep, src = line.partition("\t")
            if not sep:
                sys.exit("%s:%d: expected dest<TAB>src" % (a.params, n))
            dest = os.path.normpath(dest)
            if os.path.isdir(src):
                for dirpath, dirs, names in os.walk(src):
                    dirs.sort()
                    for name in sorted(names):
                        p = os.path.join(dirpath, name)
                        add(files, os.path.normpath(os.path.join(dest, os.path.relpath(p, src))), p)
            else:
                add(files, dest, src)
    if a.env_production:
        files[".env.production"] = None
    os.makedirs(a.out, exist_ok=True)
    for dest in sorted(files):
        target = os.path.join(a.out, dest)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if files[dest] is None:
            with open(target, "w", encoding="utf-8") as fh:
                fh.write(ENV_PRODUCTION)
        else:
            shutil.copyfile(files[dest], target)
        os.chmod(target, 0o644)


def add(files, dest, src):
    if dest.startswith("..") or os.path.isabs(dest):
        sys.exit("%s: destination %s leaves the dist" % (src, dest))
    if dest in files and files[dest] != src:
        sys.exit("%s: destination %s is also %s" % (src, dest, files[dest]))
    files[dest] = src


if __name__ == "__main__":
    main()
