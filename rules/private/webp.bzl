"""`kiln_webp`: images → WebP (or the original when WebP is not smaller), with renames."""

load(":common.bzl", "EXEC_REQS", "RUN_TOOLCHAIN", "TOOLCHAIN", "params", "pkg_path", "rel_to", "toolchain")
load(":providers.bzl", "KilnFilesInfo", "KilnWebpInfo")

def _kiln_webp_impl(ctx):
    tc = toolchain(ctx)
    root = pkg_path(ctx, ctx.attr.root)
    keys = [rel_to(root, f, str(ctx.label)) for f in ctx.files.srcs]
    if "webp" not in tc.capabilities:
        # Interim, until kiln-webp lands: the original images go on unchanged.
        return [
            DefaultInfo(files = depset(ctx.files.srcs)),
            KilnFilesInfo(
                entries = [struct(key = k, file = f) for k, f in zip(keys, ctx.files.srcs)],
                root = root,
                pkg_root = ctx.attr.root,
            ),
        ]

    # A tree: whether each image becomes x.webp or stays x.jpg is known only once converted.
    tree = ctx.actions.declare_directory(ctx.label.name + ".webp")
    partial = ctx.actions.declare_file(ctx.label.name + ".partial.json")
    args = ctx.actions.args()
    args.add("-q", str(ctx.attr.quality))
    if ctx.attr.replace:
        args.add("--replace")
    args.add("--root", root)
    args.add("-o", tree.path)
    args.add("--partial", partial)
    images = params(ctx.actions.args())
    images.add_all(ctx.files.srcs)
    shown = ctx.files.srcs[0].short_path if len(keys) == 1 else "%d images of %s" % (len(keys), ctx.label)
    ctx.actions.run(
        executable = tc.webp,
        arguments = [args, images],
        inputs = ctx.files.srcs,
        outputs = [tree, partial],
        mnemonic = "KilnWebp",
        progress_message = "Converting %s to WebP" % shown,
        execution_requirements = EXEC_REQS,
        **RUN_TOOLCHAIN
    )
    return [
        DefaultInfo(files = depset([tree, partial])),
        KilnWebpInfo(keys = keys, tree = tree, partial = partial, pkg_root = ctx.attr.root),
    ]

kiln_webp = rule(
    implementation = _kiln_webp_impl,
    doc = "Converts JPEG/PNG/GIF images to WebP in one kiln-webp process (--replace: references follow the rename), for kiln_hashed to version.",
    attrs = {
        "srcs": attr.label_list(mandatory = True, allow_files = [".jpg", ".jpeg", ".png", ".gif"], doc = "JPEG, PNG and GIF images under `root`"),
        "root": attr.string(default = ".", doc = "Static root relative to the package"),
        "quality": attr.int(default = 80, doc = "WebP quality, 0–100 (kiln-webp -q)"),
        "replace": attr.bool(default = True, doc = "Record original → .webp so references follow"),
    },
    toolchains = [TOOLCHAIN],
)
