"""`kiln_dist`: lays out the dist (a directory, or a deterministic archive)."""

load(":common.bzl", "EXEC_REQS", "TOOLCHAIN", "dist_line", "pkg_path", "rel_to", "toolchain")
load(":providers.bzl", "KilnDistInfo")

_ARCHIVES = ["tar.zst", "tar.gz", "zip"]

def _kiln_dist_impl(ctx):
    tc = toolchain(ctx)
    fmt = ctx.attr.format
    if fmt == "dir":
        out = ctx.actions.declare_directory(ctx.label.name)
    else:
        out = ctx.actions.declare_file("%s.%s" % (ctx.label.name, fmt))

    # Every dest is relative to the package: the app's package holds kiln_dist and its deps.
    root = pkg_path(ctx)
    lines = []
    for f in ctx.files.data:
        lines.append(dist_line(rel_to(root, f, str(ctx.label)), f))
    infos = [d[KilnDistInfo] for d in ctx.attr.deps]
    all_lines = depset(lines, transitive = [i.lines for i in infos])

    # `dest<TAB>src` lines, one per line: a params file written by Bazel, never flattened here.
    lines_args = ctx.actions.args()
    lines_args.use_param_file("--params=%s", use_always = True)
    lines_args.set_param_file_format("multiline")
    lines_args.add_all(all_lines)

    args = ctx.actions.args()
    if ctx.attr.env_production:
        args.add("--env-production")
    args.add("-o", out.path)

    inputs = depset(ctx.files.data, transitive = [i.inputs for i in infos])
    reqs = dict(EXEC_REQS)
    if "dist_assemble" in tc.capabilities:
        executable = tc.assemble
        arguments = [args, lines_args]
    else:
        # Interim, until kiln-dist-assemble lands: the same CLI in a short Python script.
        if fmt != "dir":
            fail("%s: format %r needs kiln-dist-assemble, which this toolchain lacks" % (ctx.label, fmt))
        executable = tc.python
        script = ctx.actions.args()
        script.add(tc.interim_assemble)
        arguments = [script, args, lines_args]
        inputs = depset([tc.interim_assemble], transitive = [inputs, tc.python_files])
        if tc.python_is_host:
            reqs["no-remote-exec"] = "1"

    ctx.actions.run(
        executable = executable,
        arguments = arguments,
        inputs = inputs,
        outputs = [out],
        mnemonic = "KilnDist",
        progress_message = "Assembling %s" % out.short_path,
        execution_requirements = reqs,
    )
    return [DefaultInfo(files = depset([out]))]

kiln_dist = rule(
    implementation = _kiln_dist_impl,
    doc = "The production dist of an app: the files its deps contribute (kiln_manifest with the versioned assets, kiln_minify'd templates, kiln_pyc, …) plus `data` copied as is at their path relative to the package (the app root).",
    attrs = {
        "deps": attr.label_list(providers = [KilnDistInfo]),
        "data": attr.label_list(allow_files = True, doc = "Files shipped as they are (the rest of the app)"),
        "format": attr.string(default = "dir", values = ["dir"] + _ARCHIVES),
        "env_production": attr.bool(default = True, doc = "Write .env.production (DEBUG=false, no secret)"),
    },
    toolchains = [TOOLCHAIN],
)
