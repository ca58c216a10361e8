"""`kiln_webp`: one image → its WebP (or the original when WebP is not smaller) + renames."""

load(":common.bzl", "EXEC_REQS", "TOOLCHAIN", "pkg_path", "rel_to", "toolchain")
load(":providers.bzl", "KilnFilesInfo", "KilnWebpInfo")

def _kiln_webp_impl(ctx):
    tc = toolchain(ctx)
    root = pkg_path(ctx, ctx.attr.root)
    key = rel_to(root, ctx.file.src, str(ctx.label))
    if "webp" not in tc.capabilities:
        # Interim, until kiln-webp lands: the original image goes on unchanged.
        return [
            DefaultInfo(files = depset([ctx.file.src])),
            KilnFilesInfo(entries = [struct(key = key, file = ctx.file.src)], root = root, pkg_root = ctx.attr.root),
        ]
    tree = ctx.actions.declare_directory(ctx.label.name + ".webp")
    partial = ctx.actions.declare_file(ctx.label.name + ".partial.json")
    args = ctx.actions.args()
    args.add("-q", str(ctx.attr.quality))
    if ctx.attr.replace:
        args.add("--replace")
    args.add("--root", root)
    args.add("-o", tree.path)
    args.add("--partial", partial)
    args.add(ctx.file.src)
    ctx.actions.run(
        executable = tc.webp,
        arguments = [args],
        inputs = [ctx.file.src],
        outputs = [tree, partial],
        mnemonic = "KilnWebp",
        progress_message = "Converting %s to WebP" % ctx.file.src.short_path,
        execution_requirements = EXEC_REQS,
    )
    return [
        DefaultInfo(files = depset([tree, partial])),
        KilnWebpInfo(key = key, tree = tree, partial = partial, pkg_root = ctx.attr.root),
    ]

kiln_webp = rule(
    implementation = _kiln_webp_impl,
    doc = "Converts one JPEG/PNG/GIF to WebP (kiln-webp --replace), for kiln_hashed to version.",
    attrs = {
        "src": attr.label(mandatory = True, allow_single_file = [".jpg", ".jpeg", ".png", ".gif"]),
        "root": attr.string(default = ".", doc = "Static root relative to the package"),
        "quality": attr.int(default = 80),
        "replace": attr.bool(default = True, doc = "Record original → .webp so references follow"),
    },
    toolchains = [TOOLCHAIN],
)
