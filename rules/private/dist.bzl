"""`kiln_dist`: lays out the dist (a directory, or a deterministic archive)."""

load(":common.bzl", "EXEC_REQS", "RUN_TOOLCHAIN", "TOOLCHAIN", "dist_line", "pkg_path", "rel_to", "toolchain")
load(":providers.bzl", "KilnDistInfo")

_ARCHIVES = ["tar.zst", "tar.gz", "zip"]

def _tree_line(f):
    # One generated file of an expanded tree artifact (mode 644, not Bazel's 0555);
    # kiln_dist's format_each puts the dest prefix first.
    return "%s\t%s\t644" % (f.tree_relative_path, f.path)

def _kiln_dist_impl(ctx):
    tc = toolchain(ctx)
    fmt = ctx.attr.format
    if fmt == "dir":
        out = ctx.actions.declare_directory(ctx.label.name)
    else:
        out = ctx.actions.declare_file("%s.%s" % (ctx.label.name, fmt))

    # Every dest is relative to the package: the app's package holds kiln_dist and its deps.
    root = pkg_path(ctx)
    lines = [dist_line(rel_to(root, f, str(ctx.label)), f) for f in ctx.files.data]
    infos = [d[KilnDistInfo] for d in ctx.attr.deps]

    # kiln-dist-assemble's params: `dest<TAB>src` lines, in a file Bazel writes. File lines stay
    # a depset; the trees (one per asset, block, bytecode batch) are listed here, in the one
    # top-level rule, and expanded into their files only when the action runs.
    params = ctx.actions.args()
    params.use_param_file("--params=%s", use_always = True)
    params.set_param_file_format("multiline")
    params.add_all(depset(lines, transitive = [i.lines for i in infos]))
    for t in depset(transitive = [i.trees for i in infos]).to_list():
        prefix = "" if t.dest in ("", ".") else t.dest.rstrip("/") + "/"
        params.add_all([t.tree], map_each = _tree_line, format_each = prefix + "%s")

    args = ctx.actions.args()
    if ctx.attr.env_production:
        args.add("--env-production")
    args.add("-o", out.path)

    ctx.actions.run(
        executable = tc.assemble,
        arguments = [args, params],
        inputs = depset(ctx.files.data, transitive = [i.inputs for i in infos]),
        outputs = [out],
        mnemonic = "KilnDist",
        progress_message = "Assembling %s" % out.short_path,
        execution_requirements = EXEC_REQS,
        **RUN_TOOLCHAIN
    )
    return [DefaultInfo(files = depset([out]))]

kiln_dist = rule(
    implementation = _kiln_dist_impl,
    doc = "The production dist of an app: the files its deps contribute (kiln_manifest with the versioned assets, kiln_minify'd templates, kiln_pyc, …) plus `data` copied as is at their path relative to the package (the app root).",
    attrs = {
        "deps": attr.label_list(providers = [KilnDistInfo], doc = "What the rules put in the dist: kiln_manifest (with the versioned assets of its deps), kiln_minify'd templates, kiln_pyc, …"),
        "data": attr.label_list(allow_files = True, doc = "Files shipped as they are (the rest of the app)"),
        "format": attr.string(default = "dir", values = ["dir"] + _ARCHIVES, doc = "`dir`: a directory; or one deterministic archive (`kiln build --archive`)"),
        "env_production": attr.bool(default = True, doc = "Write .env.production (DEBUG=false, no secret)"),
    },
    toolchains = [TOOLCHAIN],
)
