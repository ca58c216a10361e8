"""`kiln_minify`: one kiln-minify process over its srcs (JS, CSS, HTML templates)."""

load(":common.bzl", "EXEC_REQS", "RUN_TOOLCHAIN", "TOOLCHAIN", "dist_info", "dist_output_line", "join", "params", "pkg_path", "rel_to", "toolchain")
load(":providers.bzl", "KilnFilesInfo")

def _kiln_minify_impl(ctx):
    tc = toolchain(ctx)
    root = pkg_path(ctx, ctx.attr.root)
    entries = []
    outs = []
    lines = []
    for f in ctx.files.srcs:
        key = rel_to(root, f, str(ctx.label))
        out = ctx.actions.declare_file("%s.kiln/%s" % (ctx.label.name, key))
        entries.append(struct(key = key, file = out))
        outs.append(out)
        lines.append(dist_output_line(join(ctx.attr.root, key), out))
    if not outs:
        fail("%s: no srcs" % ctx.label)
    out_root = outs[0].path[:-(len(entries[0].key) + 1)]

    args = ctx.actions.args()
    args.add("--root", root)
    args.add("-o", out_root)
    if ctx.attr.kind:
        args.add("--kind", ctx.attr.kind)
    if ctx.attr.targets:
        args.add("--targets", ctx.attr.targets)
    inputs = list(ctx.files.srcs)
    if ctx.file.manifest:
        args.add("--manifest", ctx.file.manifest)
        args.add("--prefix", ctx.attr.prefix)
        if ctx.attr.cdn_prefix:
            args.add("--cdn-prefix", ctx.attr.cdn_prefix)
        inputs.append(ctx.file.manifest)
    inputs_args = params(ctx.actions.args())
    inputs_args.add_all(ctx.files.srcs)

    what = ctx.files.srcs[0].short_path if len(outs) == 1 else "%d files of %s" % (len(outs), ctx.label)
    ctx.actions.run(
        executable = tc.minify,
        arguments = [args, inputs_args],
        inputs = inputs,
        outputs = outs,
        mnemonic = "KilnMinify",
        progress_message = "Minifying %s" % what,
        execution_requirements = EXEC_REQS,
        **RUN_TOOLCHAIN
    )
    return [
        DefaultInfo(files = depset(outs)),
        KilnFilesInfo(entries = entries, root = out_root, pkg_root = ctx.attr.root),
        dist_info(lines = lines, inputs = outs),
    ]

kiln_minify = rule(
    implementation = _kiln_minify_impl,
    doc = "Minifies srcs in one kiln-minify process; each output keeps its path relative to `root`. With `manifest`, templates get their asset blocks and static_url() calls rewritten to versioned URLs first.",
    attrs = {
        "srcs": attr.label_list(allow_files = True, mandatory = True, doc = "JS, CSS or HTML templates, under `root`"),
        "root": attr.string(default = ".", doc = "Directory (relative to the package) the outputs keep their paths under"),
        "kind": attr.string(values = ["", "js", "css", "html"], doc = "Default: from each file's extension"),
        "targets": attr.string(doc = "Browserslist query for CSS (kiln-minify's default when empty)"),
        "manifest": attr.label(allow_single_file = [".json"], doc = "A kiln_manifest: rewrite templates against it"),
        "prefix": attr.string(default = "/s/", doc = "URL prefix the static root is served under"),
        "cdn_prefix": attr.string(doc = "With manifest: URL prefix written into templates instead of prefix (a CDN origin)"),
    },
    toolchains = [TOOLCHAIN],
)
