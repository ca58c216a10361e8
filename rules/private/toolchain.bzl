"""`kiln_toolchain`: the kiln binaries and the Python interpreter the actions run."""

def _exe(doc):
    return attr.label(mandatory = True, executable = True, cfg = "exec", allow_single_file = True, doc = doc)

def _kiln_toolchain_impl(ctx):
    python_files = depset(ctx.files.python_files + ctx.files.python_libs)
    lib_dirs = []
    for f in ctx.files.python_libs:
        if f.dirname not in lib_dirs:
            lib_dirs.append(f.dirname)
    return [platform_common.ToolchainInfo(
        minify = ctx.executable.minify,
        hash = ctx.executable.hash,
        merge = ctx.executable.merge,
        webp = ctx.executable.webp,
        pyc = ctx.executable.pyc,
        assemble = ctx.executable.assemble,
        python = ctx.executable.python,
        python_files = python_files,
        # Exec paths, relative to the action's working directory, as every input is.
        python_env = {"LD_LIBRARY_PATH": ":".join(lib_dirs)} if lib_dirs else {},
        # A host interpreter is not an input a remote executor can have: cache, but run locally.
        python_is_host = not ctx.files.python_files,
        lessc = ctx.executable.lessc,
        kiln = ctx.executable.kiln,
        capabilities = ctx.attr.capabilities,
    )]

kiln_toolchain = rule(
    implementation = _kiln_toolchain_impl,
    doc = """The kiln binaries and a Python interpreter (for kiln_pyc). To compile with rules_python's hermetic interpreter instead of the
host's, declare your own kiln_toolchain with `python = "@python_3_11_host//:python"` (any
executable file target) and `python_files = ["@python_3_11//:files"]` (its standard library,
so that remote executors receive it), wrap it in `toolchain(toolchain_type =
"@kiln//rules:toolchain_type")`, and register it before kiln's default.""",
    attrs = {
        "minify": _exe("kiln-minify"),
        "hash": _exe("kiln-hash"),
        "merge": _exe("kiln-manifest-merge"),
        "webp": _exe("kiln-webp"),
        "pyc": _exe("kiln-pyc-wrap"),
        "assemble": _exe("kiln-dist-assemble"),
        "python": _exe("Python interpreter for kiln-pyc-wrap"),
        "python_files": attr.label_list(allow_files = True, cfg = "exec", doc = "The interpreter's runtime files, its standard library (empty: a host interpreter, run locally only)"),
        "python_libs": attr.label_list(allow_files = True, cfg = "exec", doc = "Shared libraries the interpreter loads (a shared libpython): inputs, found through LD_LIBRARY_PATH"),
        "kiln": attr.label(executable = True, cfg = "exec", allow_single_file = True, doc = "The `kiln` executable, for kiln_serve (`bazel run`); optional"),
        "lessc": attr.label(executable = True, cfg = "exec", allow_single_file = True, doc = "LESS compiler for kiln_asset_block(kind = \"less\"); optional"),
        "capabilities": attr.string_list(doc = "Contract forms the binaries implement (probed by the kiln_toolchain repository)"),
    },
)
