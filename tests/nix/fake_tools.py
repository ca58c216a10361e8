"""Stand-ins for the kiln tools that are still stubs (tests/nix.rs, feature switches test).

    fake_tools.py NAME REAL_EXE ARGS...

Each checks its command line against docs/design.md §8 and writes outputs of the documented
shape (not the real bytes), so that mkDist's wiring with every switch of rules/nix/features.nix
on can be built before the real tools land: kiln-webp and kiln-dist-assemble for now. Every
other tool is the real one (exec'd). Delete a stand-in when its tool lands.
"""
import json
import os
import re
import shutil
import sys

NAME, REAL, ARGS = sys.argv[1], sys.argv[2], sys.argv[3:]


def die(msg):
    sys.stderr.write("fake %s: %s\n" % (NAME, msg))
    sys.exit(2)


def expand(args):
    out = []
    for a in args:
        if a.startswith("@") and len(a) > 1:
            with open(a[1:], encoding="utf-8") as f:
                out.extend(line for line in f.read().splitlines() if line)
        else:
            out.append(a)
    return out


def parse(args, valued, flags):
    """Options with a value (repeatable → list), boolean flags, and positionals."""
    opts, pos, it = {}, [], iter(expand(args))
    for a in it:
        if a in valued:
            try:
                opts.setdefault(a, []).append(next(it))
            except StopIteration:
                die("%s needs a value" % a)
        elif a in flags:
            opts[a] = True
        elif a.startswith("-"):
            die("unexpected option %s" % a)
        else:
            pos.append(a)
    return opts, pos


def one(opts, name):
    v = opts.get(name)
    if not v or len(v) != 1:
        die("exactly one %s expected" % name)
    return v[0]


def rel_to(roots, path):
    for r in roots:
        r = r.rstrip("/") + "/"
        if path.startswith(r):
            return path[len(r):]
    die("%s is under no --root %s" % (path, roots))


def empty_partial():
    return {"assets": {}, "blocks": {}, "lookups": {}, "version": 1}


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, sort_keys=True)
        f.write("\n")


def exec_real(args):
    os.execv(REAL, [REAL] + args)


def webp():
    opts, pos = parse(ARGS, {"--root", "-o", "--out", "--partial", "--quality"}, {"--replace", "--lossless"})
    if "--replace" not in opts:
        die("mkDist runs kiln-webp with --replace")
    out, partial = (opts.get("-o") or opts.get("--out") or die("-o missing"))[0], one(opts, "--partial")
    for p in pos:
        if not re.search(r"\.(jpe?g|png|gif)$", p, re.I):
            die("%s is not an image" % p)
        dest = os.path.join(out, rel_to(opts.get("--root", []), p))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(p, dest)  # "the original when WebP is not smaller"
    write_json(partial, empty_partial())


def assemble():
    opts, pos = parse(ARGS, {"--params", "-o", "--out"}, {"--env-production"})
    if pos:
        die("unexpected %s" % pos)
    out = (opts.get("-o") or opts.get("--out") or die("-o missing"))[0]
    if os.path.exists(out):
        die("%s exists" % out)
    seen = set()
    for n, line in enumerate(open(one(opts, "--params"), encoding="utf-8").read().splitlines(), 1):
        parts = line.split("\t")
        if len(parts) != 2:
            die("line %d: not dest<TAB>src: %r" % (n, line))
        dest, src = parts
        if dest.startswith("/") or ".." in dest.split("/") or dest in seen:
            die("line %d: bad or repeated dest %r" % (n, dest))
        if dest in (".gitignore", ".env") or not os.path.isfile(src):
            die("line %d: refused %r from %r" % (n, dest, src))
        seen.add(dest)
        os.makedirs(os.path.dirname(os.path.join(out, dest)) or out, exist_ok=True)
        shutil.copyfile(src, os.path.join(out, dest))
    if opts.get("--env-production"):
        with open(os.path.join(out, ".env.production"), "w") as f:
            f.write("DEBUG=false\n")


if NAME == "kiln-webp":
    webp()
elif NAME == "kiln-dist-assemble":
    assemble()
else:
    exec_real(ARGS)
