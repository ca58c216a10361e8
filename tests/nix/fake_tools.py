"""Stand-ins for the kiln tools that are still stubs (tests/nix.rs, feature switches test).

    fake_tools.py NAME REAL_EXE ARGS...

Each checks its command line against docs/design.md §8 and writes outputs of the documented
shape (not the real bytes), so that mkDist's wiring with every switch of rules/nix/features.nix
on can be built before the real tools land. Whatever is already real is exec'd:
`kiln-hash` without --block, `kiln-minify` (after checking and dropping --manifest/--prefix),
`kiln-manifest-merge`, `kiln-pyc-wrap`, `kiln` other than `scan`.
"""
import base64
import hashlib
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


def scan():
    opts, pos = parse(ARGS[1:], {"--static-root"}, set())
    static = one(opts, "--static-root")
    if len(pos) != 1:
        die("kiln scan TEMPLATE_DIR --static-root DIR")
    root, blocks = pos[0], []
    block_re = re.compile(r"\{%\s*apply\s+assetman\.include_(css|js|less)\s*%\}(.*?)\{%\s*end\s*%\}", re.S)
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(d, name)
            text = open(full, encoding="utf-8").read()
            for m in block_re.finditer(text):
                paths = [line.strip() for line in m.group(2).splitlines() if line.strip()]
                for p in paths:
                    if not os.path.isfile(os.path.join(static, p)):
                        die("%s: block path %s is not in the static root" % (full, p))
                blocks.append({"kind": m.group(1), "namehash": hashlib.md5("\n".join(paths).encode()).hexdigest(),
                               "paths": paths, "template": os.path.relpath(full, root),
                               "line": text.count("\n", 0, m.start()) + 1})
    json.dump({"blocks": blocks}, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")


def hash_block():
    opts, pos = parse(ARGS, {"--block", "--root", "--dep", "--prefix", "-o", "--out", "--partial", "--url-style"},
                      {"--compress"})
    kind = one(opts, "--block")
    if kind not in ("css", "js", "less"):
        die("--block css|js|less, not %s" % kind)
    for dep in opts.get("--dep", []):
        json.load(open(dep, encoding="utf-8"))
    out, partial = (opts.get("-o") or opts.get("--out") or die("-o missing"))[0], one(opts, "--partial")
    if not pos:
        die("a block needs its paths")
    rels = [rel_to(opts.get("--root", []), p) for p in pos]
    bundle = b"\n".join(open(p, "rb").read() for p in pos)
    namehash = hashlib.md5("\n".join(rels).encode()).hexdigest()
    version = hashlib.md5(bundle).hexdigest()
    vp = "f/%s.%s.%s" % (namehash, version[:12], "js" if kind == "js" else "css")
    os.makedirs(os.path.join(out, "f"), exist_ok=True)
    with open(os.path.join(out, vp), "wb") as f:
        f.write(bundle)
    sri = "sha384-" + base64.b64encode(hashlib.sha384(bundle).digest()).decode()
    p = empty_partial()
    p["blocks"]["%s:%s" % (kind, namehash)] = {"integrity": sri, "paths": rels, "version": version, "versioned_path": vp}
    write_json(partial, p)


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


def minify():
    args, i, manifest, prefix = [], 0, None, None
    while i < len(ARGS):
        if ARGS[i] in ("--manifest", "--prefix") and i + 1 < len(ARGS):
            if ARGS[i] == "--manifest":
                manifest = ARGS[i + 1]
            else:
                prefix = ARGS[i + 1]
            i += 2
        else:
            args.append(ARGS[i])
            i += 1
    if manifest is not None:
        if prefix is None:
            die("--manifest without --prefix")
        if not json.load(open(manifest, encoding="utf-8")).get("blocks"):
            die("%s has no blocks" % manifest)
    exec_real(args)


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


if NAME == "kiln" and ARGS[:1] == ["scan"]:
    scan()
elif NAME == "kiln-hash" and "--block" in ARGS:
    hash_block()
elif NAME == "kiln-webp":
    webp()
elif NAME == "kiln-minify":
    minify()
elif NAME == "kiln-dist-assemble":
    assemble()
else:
    exec_real(ARGS)
