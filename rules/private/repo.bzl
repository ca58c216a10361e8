"""The `kiln_toolchain` repository: the kiln binaries and a Python interpreter.

Which binaries, first found wins:
1. `$KILN_BIN_DIR` (a directory holding the `kiln*` executables; the tests point it at a checkout's
   target/release);
2. `target/release` of the kiln checkout these rules come from (after `cargo build --release`
   there: the developer's loop inside kiln itself);
3. the `kiln*` executables on PATH (a prebuilt install);
4. built here from the kiln source these rules came with: `cargo build --release --locked` with
   the host's cargo (at least Cargo.toml's rust-version), into `$KILN_CARGO_TARGET_DIR`, else
   `${XDG_CACHE_HOME:-~/.cache}/kiln/<version>/target`, so that a second fetch (another
   workspace, `bazel clean --expunge`) finds cargo's work done. The repository is fetched again
   only when one of its inputs changes (kiln's Cargo.toml and Cargo.lock, the variables below):
   once per kiln version.

Which Python: `$KILN_PYTHON`, else `python3` on PATH, resolved to the real executable (a pyenv shim
is a shell script that would not survive the sandbox), with its standard library as files, so that
the bytecode action runs on a remote worker with no Python.

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
            print("kiln_toolchain: %s: %s; kiln_pyc will run it locally only" % (python, parts[1]))  # buildifier: disable=print
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

def _version_tuple(text):
    """(major, minor, patch) of the first `X.Y[.Z]` in `text`; None when there is none."""
    for word in text.replace("\"", " ").replace("\n", " ").split(" "):
        parts = word.split(".")
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
            patch = parts[2] if len(parts) > 2 and parts[2].isdigit() else "0"
            return (int(parts[0]), int(parts[1]), int(patch))
    return None

def _manifest_value(toml, key):
    """The string value of `key = "…"` in Cargo.toml's [package] table."""
    in_package = False
    for line in toml.splitlines():
        line = line.strip()
        if line.startswith("["):
            in_package = line == "[package]"
        elif in_package and line.startswith(key) and "=" in line and line.split("=")[0].strip() == key:
            return line.split("=", 1)[1].strip().strip("\"")
    return None

def _build_with_cargo(rctx, checkout):
    """Runs `cargo build --release --locked` on the kiln source; returns its target/release."""
    toml = rctx.read(rctx.attr._cargo_toml)
    version = _manifest_value(toml, "version") or "unknown"
    need = _manifest_value(toml, "rust-version") or "0.0"
    env = rctx.os.environ
    cargo = env.get("CARGO") or rctx.which("cargo")
    if not cargo and env.get("HOME"):
        home_cargo = rctx.path(env["HOME"] + "/.cargo/bin/cargo")
        if home_cargo.exists:
            cargo = home_cargo
    how = "Install Rust %s or newer (https://rustup.rs), put kiln's binaries on PATH, or set KILN_BIN_DIR to a directory holding them." % need
    if not cargo:
        fail("kiln_toolchain: no kiln binaries (KILN_BIN_DIR, %s/target/release, PATH) and no cargo to build them from source. %s" % (checkout, how))
    res = rctx.execute([cargo, "--version"])
    have = _version_tuple(res.stdout) if res.return_code == 0 else None
    if have == None:
        fail("kiln_toolchain: `%s --version` failed (%s). %s" % (cargo, res.stderr.strip(), how))
    if have < _version_tuple(need):
        fail("kiln_toolchain: %s is cargo %d.%d.%d; kiln %s needs Rust %s or newer (Cargo.toml rust-version). %s" % (
            cargo,
            have[0],
            have[1],
            have[2],
            version,
            need,
            how,
        ))
    target = env.get("KILN_CARGO_TARGET_DIR")
    if not target:
        cache = env.get("XDG_CACHE_HOME") or (env.get("HOME", "") + "/.cache")
        target = "%s/kiln/%s/target" % (cache, version)
    rctx.report_progress("Building kiln %s with %s (cargo build --release --locked, into %s)" % (version, res.stdout.strip(), target))
    res = rctx.execute(
        [cargo, "build", "--release", "--locked", "--manifest-path", str(checkout) + "/Cargo.toml", "--bins"],
        environment = {"CARGO_TARGET_DIR": target},
        timeout = 7200,
        quiet = False,
    )
    if res.return_code != 0:
        fail("kiln_toolchain: `cargo build --release --locked` of %s failed:\n%s" % (checkout, res.stderr))
    return target + "/release"

def _kiln_binaries_impl(rctx):
    env = rctx.os.environ

    # The kiln source these rules came with: its Cargo.toml sits at the repository root (a
    # symlink for local_repository / local_path_override; realpath keeps cargo's paths short).
    checkout = rctx.path(rctx.attr._cargo_toml).realpath.dirname
    dirs = [env["KILN_BIN_DIR"]] if env.get("KILN_BIN_DIR") else [str(checkout) + "/target/release"]
    found = {}
    for tool in _TOOLS:
        p = _find_tool(rctx, tool, dirs)
        if p != None:
            found[tool] = p
    built = False
    if len(found) < len(_TOOLS):
        if env.get("KILN_BIN_DIR"):
            fail("kiln_toolchain: KILN_BIN_DIR=%s lacks %s" % (env["KILN_BIN_DIR"], ", ".join([t for t in _TOOLS if t not in found])))
        release = _build_with_cargo(rctx, checkout)
        found = {tool: rctx.path(release + "/" + tool) for tool in _TOOLS}
        built = True
    if built:
        rctx.file("bin/SOURCE", "built by cargo in %s\n" % found[_TOOLS[0]].dirname)
    else:
        rctx.file("bin/SOURCE", "found: %s\n" % found[_TOOLS[0]].dirname)
    for tool in _TOOLS:
        if built:
            # A copy: the next cargo build in that target dir must not change this repository.
            res = rctx.execute(["cp", str(found[tool]), str(rctx.path("bin/" + tool))])
            if res.return_code != 0:
                fail("kiln_toolchain: cannot copy %s: %s" % (found[tool], res.stderr))
        else:
            rctx.symlink(found[tool], "bin/" + tool)

    _python(rctx, env.get("KILN_PYTHON") or rctx.which("python3"))

    caps = []
    for name in sorted(_PROBES.keys()):
        tool, needle = _PROBES[name]
        res = rctx.execute([str(rctx.path("bin/" + tool)), "--help"])
        if res.return_code == 0 and needle in res.stdout:
            caps.append(name)
    rctx.file("capabilities.bzl", "\n".join([
        "\"\"\"Generated by @kiln//rules/private:repo.bzl.\"\"\"",
        "",
        "# Contract forms the binaries implement, probed from their --help.",
        "CAPABILITIES = %r" % caps,
        "",
        "# Whether this Bazel takes ctx.actions.run(toolchain = …) (automatic exec groups, Bazel 7+).",
        "ACTION_TOOLCHAIN = %r" % rctx.attr.action_toolchain,
        "",
    ]))
    rctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % rctx.name)
    rctx.file("BUILD.bazel", "\n".join([
        "# Generated by @kiln//rules/private:repo.bzl: the kiln binaries and the host Python's install.",
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
        "    srcs = glob([\"python/lib/libpython*\"], allow_empty = True),",
        "    visibility = [\"//visibility:public\"],",
        ")",
        "",
    ]))

kiln_binaries = repository_rule(
    implementation = _kiln_binaries_impl,
    doc = "The kiln binaries (KILN_BIN_DIR, the checkout's target/release, PATH, or built with cargo) and the host Python.",
    attrs = {
        "action_toolchain": attr.bool(doc = "The Bazel running takes ctx.actions.run(toolchain = …) (Bazel 7+)"),
        "_cargo_lock": attr.label(default = Label("//:Cargo.lock"), allow_single_file = True, doc = "Refetch when the crates change"),
        "_cargo_toml": attr.label(default = Label("//:Cargo.toml"), allow_single_file = True, doc = "The kiln source: its version and rust-version"),
    },
    environ = ["CARGO", "HOME", "KILN_BIN_DIR", "KILN_CARGO_TARGET_DIR", "KILN_PYTHON", "PATH", "XDG_CACHE_HOME"],
    local = True,
)

def _bazel_major():
    """The running Bazel's major version (WORKSPACE macros see native.bazel_version); 0 if unknown."""
    version = getattr(native, "bazel_version", "") or ""
    first = version.split(".")[0]
    return int(first) if first.isdigit() else 0

def kiln_register_toolchains(name = "kiln_toolchain"):
    """WORKSPACE entry point: the binaries repository and kiln's default toolchain.

    Args:
      name: the repository's name; the default toolchain expects `kiln_toolchain`.
    """
    kiln_binaries(name = name, action_toolchain = _bazel_major() >= 7)
    native.register_toolchains(str(Label("//rules:local_toolchain")))
