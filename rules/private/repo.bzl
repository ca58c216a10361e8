"""The `kiln_toolchain` repository: the cargo-built kiln binaries and a Python interpreter.

Which binaries: `$KILN_BIN_DIR` when set (the tests point it at this checkout's target/release),
else `target/release` of the kiln checkout these rules come from (after `cargo build --release`),
else the `kiln-*` found on PATH. Which Python: `$KILN_PYTHON`, else `python3` on PATH, resolved to
the real executable (a pyenv shim is a shell script that would not survive the sandbox), with its
standard library as files, so that the bytecode action runs on a remote worker with no Python.

The repository also probes what the binaries can do (`--help` output) into capabilities.bzl, so the
rules use a tool's contract form only once the tool implements it: capabilities, not versions.
"""

_TOOLS = [
    "kiln",
    "kiln-dist-assemble",
    "kiln-hash",
    "kiln-manifest-merge",
    "kiln-minify",
    "kiln-pyc-wrap",
    "kiln-webp",
]

# feature name → (tool, text its --help prints once the contract form exists).
_PROBES = {
    "webp": ("kiln-webp", "--partial"),
}

def _find_tool(rctx, tool, dirs):
    for d in dirs:
        p = rctx.path(d + "/" + tool)
        if p.exists:
            return p
    return rctx.which(tool)

# Run by the interpreter itself (-S -E: no site, no PYTHON* variables): where its install is, and
# the files of its standard library an action needs, as paths relative to the install's prefix.
# Left out: site-packages, tests, GUI and packaging tools, bytecode caches (a worker's copies have
# new mtimes, so the caches would be stale there anyway).
_PROBE_PYTHON = """
import os, re, sys, sysconfig
SKIP = {"site-packages", "dist-packages", "__pycache__", "test", "tests", "idle_test", "idlelib",
        "tkinter", "turtledemo", "ensurepip", "lib2to3"}
NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")  # what a Bazel label takes without quoting
prefix = os.path.realpath(sys.base_prefix)
print("executable\t" + os.path.realpath(sys.executable))
roots = []
for key in ("stdlib", "platstdlib"):
    path = os.path.realpath(sysconfig.get_path(key))
    rel = os.path.relpath(path, prefix)
    if rel == "." or rel.startswith(".."):
        print("error\t%s %s is not inside the prefix %s" % (key, path, prefix))
        sys.exit(0)
    if not any(rel == r or rel.startswith(r + "/") for r, _ in roots):
        roots.append((rel, path))
for rel, path in roots:
    print("root\t%s\t%s" % (rel, path))
    for d, dirs, files in os.walk(path):
        dirs[:] = sorted(x for x in dirs if x not in SKIP and not x.startswith("config-") and NAME.match(x))
        for f in sorted(files):
            full = os.path.join(d, f)
            if NAME.match(f) and not f.endswith((".pyc", ".pyo")) and os.path.isfile(full):
                print("file\t" + os.path.join(rel, os.path.relpath(full, path)))
# A shared libpython this process has loaded (Debian's python3.11 links it statically; pyenv's
# and python.org's builds load it from their prefix through an absolute RUNPATH).
try:
    with open("/proc/self/maps") as maps:
        libs = sorted({l.split(None, 5)[5].strip() for l in maps if "/libpython" in l})
except OSError:
    libs = []
for lib in libs:
    print("lib\t%s\t%s" % (os.path.realpath(lib), os.path.basename(lib)))
"""

def _python(rctx, python):
    """python/bin/python3 and, beside it, the install's standard library (python/FILES lists them).

    Python finds its prefix by walking up from its executable to `lib/python3.X/os.py`, so on a
    remote worker, where the inputs are plain files, it runs on the declared standard library, not
    on anything installed there. A shared libpython is declared too (python/lib/, found through the
    action's LD_LIBRARY_PATH). An install whose standard library lies outside its prefix cannot be
    laid out like that: its FILES stay empty and kiln_pyc runs it locally (`no-remote-exec`).
    """
    if not python:
        fail("kiln_toolchain: no python3 on PATH; set KILN_PYTHON to an interpreter")
    res = rctx.execute([python, "-S", "-E", "-c", _PROBE_PYTHON])
    if res.return_code != 0:
        fail("kiln_toolchain: %s does not run: %s" % (python, res.stderr))
    files = []
    for line in res.stdout.splitlines():
        parts = line.split("\t")
        if parts[0] == "executable":
            rctx.symlink(parts[1], "python/bin/python3")
        elif parts[0] == "error":
            print("kiln_toolchain: %s: %s; kiln_pyc will run it locally only" % (python, parts[1]))
            files = []
            break
        elif parts[0] == "root":
            rctx.symlink(parts[2], "python/" + parts[1])
        elif parts[0] == "file":
            files.append("python/" + parts[1])
        elif parts[0] == "lib":
            rctx.symlink(parts[1], "python/lib/" + parts[2])
            files.append("python/lib/" + parts[2])
    rctx.file("python/FILES", "".join([f + "\n" for f in files]))

def _kiln_binaries_impl(rctx):
    env = rctx.os.environ
    dirs = []
    if env.get("KILN_BIN_DIR"):
        dirs.append(env["KILN_BIN_DIR"])
    else:
        # The checkout holding these rules: its Cargo.toml sits at the repository root.
        checkout = rctx.path(rctx.attr._cargo_toml).dirname
        dirs.append(str(checkout) + "/target/release")
    missing = []
    for tool in _TOOLS:
        p = _find_tool(rctx, tool, dirs)
        if p == None:
            missing.append(tool)
        else:
            rctx.symlink(p, "bin/" + tool)
    if missing:
        fail("kiln_toolchain: cannot find %s in %s or on PATH. Run `cargo build --release` in the kiln checkout, or set KILN_BIN_DIR to a directory holding the kiln binaries." % (", ".join(missing), " or ".join(dirs)))

    _python(rctx, env.get("KILN_PYTHON") or rctx.which("python3"))

    found = []
    for name in sorted(_PROBES.keys()):
        tool, needle = _PROBES[name]
        res = rctx.execute([str(rctx.path("bin/" + tool)), "--help"])
        if res.return_code == 0 and needle in res.stdout:
            found.append(name)
    rctx.file("capabilities.bzl", "# Probed from the binaries' --help by //rules/private:repo.bzl.\nCAPABILITIES = %r\n" % found)
    rctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % rctx.name)
    rctx.file("BUILD.bazel", "\n".join([
        "# Generated by //rules/private:repo.bzl: the kiln binaries and the host Python's install.",
        "exports_files(glob([\"bin/*\"]) + [\"python/bin/python3\", \"capabilities.bzl\"], visibility = [\"//visibility:public\"])",
        "",
        "# The standard library (and libpython), so that a remote worker without Python runs kiln_pyc.",
        "filegroup(",
        "    name = \"python_files\",",
        "    srcs = [",
    ] + ["        %r," % f for f in rctx.read("python/FILES").splitlines() if f] + [
        "    ],",
        "    visibility = [\"//visibility:public\"],",
        ")",
        "",
        "# Shared libraries the interpreter links (LD_LIBRARY_PATH of the action): none when static.",
        "filegroup(",
        "    name = \"python_libs\",",
        "    srcs = glob([\"python/lib/libpython*\"]),",
        "    visibility = [\"//visibility:public\"],",
        ")",
        "",
    ]))

kiln_binaries = repository_rule(
    implementation = _kiln_binaries_impl,
    attrs = {
        "_cargo_toml": attr.label(default = Label("//:Cargo.toml"), allow_single_file = True),
    },
    environ = ["KILN_BIN_DIR", "KILN_PYTHON", "PATH"],
    local = True,
)

def kiln_register_toolchains(name = "kiln_toolchain"):
    """WORKSPACE entry point: the binaries repository and the default toolchain."""
    kiln_binaries(name = name)
    native.register_toolchains("@kiln//rules:local_toolchain")
