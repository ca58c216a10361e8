"""`kiln_manifest`: merges the partial manifests of its deps, collected transitively."""

load(":common.bzl", "EXEC_REQS", "RUN_TOOLCHAIN", "TOOLCHAIN", "dist_info", "dist_output_line", "params", "toolchain")
load(":providers.bzl", "KilnAssetInfo", "KilnDistInfo")

def _kiln_manifest_impl(ctx):
    tc = toolchain(ctx)
    partials = depset(transitive = [d[KilnAssetInfo].partials for d in ctx.attr.deps])
    out = ctx.actions.declare_file(ctx.label.name + "/manifest.json")
    outs = [out]
    args = ctx.actions.args()
    args.add("-o", out)
    if ctx.attr.django:
        django = ctx.actions.declare_file(ctx.label.name + "/staticfiles.json")
        args.add("--django", django)
        outs.append(django)
    if ctx.attr.vite:
        vite = ctx.actions.declare_file(ctx.label.name + "/.vite/manifest.json")
        args.add("--vite", vite)
        outs.append(vite)

    # The merge sorts its inputs by name itself; the depset is handed over unflattened.
    inputs_args = params(ctx.actions.args())
    inputs_args.add_all(partials)
    ctx.actions.run(
        executable = tc.merge,
        arguments = [args, inputs_args],
        inputs = partials,
        outputs = outs,
        mnemonic = "KilnManifest",
        progress_message = "Merging the manifest %s" % ctx.label,
        execution_requirements = EXEC_REQS,
        **RUN_TOOLCHAIN
    )
    by_key = {}
    for d in ctx.attr.deps:
        by_key.update(d[KilnAssetInfo].by_key)
    return [
        DefaultInfo(files = depset([out])),
        KilnAssetInfo(own_partials = [], partials = partials, by_key = by_key),
        dist_info(
            lines = [dist_output_line(ctx.attr.dest, out)],
            inputs = [out],
            transitive = [d[KilnDistInfo] for d in ctx.attr.deps if KilnDistInfo in d],
        ),
    ]

kiln_manifest = rule(
    implementation = _kiln_manifest_impl,
    doc = "Merges the partial manifests of deps (kiln_static, kiln_hashed, kiln_asset_block, …; transitively) into manifest.json. In a kiln_dist it brings the versioned files of its deps along.",
    attrs = {
        "deps": attr.label_list(providers = [KilnAssetInfo], mandatory = True, doc = "kiln_static, kiln_hashed, kiln_asset_block, kiln_assets: their partial manifests, transitively"),
        "dest": attr.string(default = "manifest.json", doc = "Its place in the dist"),
        "django": attr.bool(doc = "Also write Django's staticfiles.json"),
        "vite": attr.bool(doc = "Also write a Vite-style .vite/manifest.json"),
    },
    toolchains = [TOOLCHAIN],
)
