"""`kiln_pyc`: reproducible bytecode from the toolchain's Python, one batch process."""

load(":common.bzl", "EXEC_REQS", "RUN_TOOLCHAIN", "TOOLCHAIN", "dist_info", "dist_tree", "params", "pkg_path", "toolchain")

def _kiln_pyc_impl(ctx):
    tc = toolchain(ctx)
    root = pkg_path(ctx, ctx.attr.root)

    # A tree: the file names depend on the interpreter (__pycache__/mod.<tag>.pyc) and on the
    # excludes, which kiln-pyc-wrap alone decides.
    tree = ctx.actions.declare_directory(ctx.label.name + ".pyc")
    args = ctx.actions.args()
    args.add("--python", tc.python)
    args.add("--root", root)
    for g in ctx.attr.exclude:
        args.add("--exclude", g)
    if ctx.attr.keep_source:
        args.add("--keep-source")
    if ctx.attr.optimize:
        args.add("--optimize", str(ctx.attr.optimize))
    args.add("-o", tree.path)
    srcs = params(ctx.actions.args())
    srcs.add_all(ctx.files.srcs)
    reqs = dict(EXEC_REQS)
    if tc.python_is_host:
        reqs["no-remote-exec"] = "1"
    ctx.actions.run(
        executable = tc.pyc,
        arguments = [args, srcs],
        inputs = depset(ctx.files.srcs + [tc.python], transitive = [tc.python_files]),
        outputs = [tree],
        env = tc.python_env,
        mnemonic = "KilnPyc",
        progress_message = "Compiling %d Python files of %s" % (len(ctx.files.srcs), ctx.label),
        execution_requirements = reqs,
        **RUN_TOOLCHAIN
    )
    return [
        DefaultInfo(files = depset([tree])),
        dist_info(trees = [dist_tree(ctx.attr.root, tree)]),
    ]

kiln_pyc = rule(
    implementation = _kiln_pyc_impl,
    doc = "Compiles .py files to sourceless .pyc (kiln-pyc-wrap) with the toolchain's interpreter; sources matching `exclude` are shipped as source.",
    attrs = {
        "srcs": attr.label_list(allow_files = [".py"], mandatory = True, doc = "The app's .py files, under `root`"),
        "root": attr.string(default = ".", doc = "App root relative to the package: co_filename and output paths are relative to it"),
        "exclude": attr.string_list(doc = "Globs (relative to root) shipped as source, e.g. src/migrations/**"),
        "keep_source": attr.bool(doc = "Ship each .py beside its __pycache__/*.pyc instead of a sourceless .pyc"),
        "optimize": attr.int(default = 0, values = [0, 1, 2], doc = "Python's -O level of the bytecode"),
    },
    toolchains = [TOOLCHAIN],
)
