"""`kiln_hashed` (one asset + the assets it references), `kiln_asset_block`, `kiln_assets`."""

load(":common.bzl", "EXEC_REQS", "RUN_TOOLCHAIN", "TOOLCHAIN", "dist_info", "dist_tree", "params", "pkg_path", "rel_to", "toolchain")
load(":providers.bzl", "KilnAssetInfo", "KilnDistInfo", "KilnFilesInfo", "KilnWebpInfo")

def _common_hash_args(ctx, args):
    args.add("--prefix", ctx.attr.prefix)
    if ctx.attr.cdn_prefix:
        args.add("--cdn-prefix", ctx.attr.cdn_prefix)
    if ctx.attr.url_style != "filename":
        args.add("--url-style", ctx.attr.url_style)
    if ctx.attr.compress != "off":
        args.add("--compress=" + ctx.attr.compress)

def _kiln_hashed_impl(ctx):
    tc = toolchain(ctx)
    keys = []
    roots = []  # kiln-hash keys an input by the first root holding it: minified, WebP, sources (§8)
    source_roots = []
    files = []  # inputs named on the command line (a WebP tree expands to its files)
    own_before = []
    pkg_roots = {}
    for src in ctx.attr.srcs:
        if KilnWebpInfo in src:
            w = src[KilnWebpInfo]
            keys.extend(w.keys)
            roots.append(w.tree.path)
            files.append(w.tree)
            own_before.append(w.partial)
            pkg_roots[w.pkg_root] = True
        elif KilnFilesInfo in src:
            info = src[KilnFilesInfo]
            for e in info.entries:
                keys.append(e.key)
                files.append(e.file)
            if info.root not in roots:
                roots.append(info.root)
            pkg_roots[info.pkg_root] = True
        else:
            root = pkg_path(ctx, ctx.attr.root)
            for f in src.files.to_list():
                keys.append(rel_to(root, f, str(ctx.label)))
                files.append(f)
            if root not in source_roots:
                source_roots.append(root)
            pkg_roots[ctx.attr.root] = True
    if len(pkg_roots) != 1:
        fail("%s: srcs come from different static roots: %s" % (ctx.label, sorted(pkg_roots.keys())))
    pkg_root = pkg_roots.keys()[0]
    if not keys and not own_before:
        fail("%s: no srcs" % ctx.label)

    args = ctx.actions.args()
    for r in roots + [r for r in source_roots if r not in roots]:
        args.add("--root", r)
    dep_partials = list(own_before)
    transitive = []
    for d in ctx.attr.deps:
        info = d[KilnAssetInfo]
        dep_partials.extend(info.own_partials)
        transitive.append(info.partials)
    args.add_all(dep_partials, before_each = "--dep")
    _common_hash_args(ctx, args)

    tree = ctx.actions.declare_directory(ctx.label.name + ".hashed")
    partial = ctx.actions.declare_file(ctx.label.name + ".partial.json")
    args.add("-o", tree.path)
    args.add("--partial", partial)
    inputs_args = params(ctx.actions.args())
    inputs_args.add_all(files)  # tree artifacts expand to their files at execution
    if len(keys) == 1:
        shown = "%s (%s)" % (keys[0], ctx.label)
    else:
        shown = "%d assets of %s" % (len(keys), ctx.label)
    ctx.actions.run(
        executable = tc.hash,
        arguments = [args, inputs_args],
        inputs = files + dep_partials,
        outputs = [tree, partial],
        mnemonic = "KilnHash",
        progress_message = "Versioning %s" % shown,
        execution_requirements = EXEC_REQS,
        **RUN_TOOLCHAIN
    )
    own = own_before + [partial]
    partials = depset(own, transitive = transitive)
    by_key = {}
    for k in keys:
        by_key[k] = partials
    return [
        DefaultInfo(files = depset([tree, partial])),
        KilnAssetInfo(own_partials = own, partials = partials, by_key = by_key),
        dist_info(trees = [dist_tree(pkg_root, tree)]),
    ]

_HASH_ATTRS = {
    "prefix": attr.string(default = "/s/", doc = "URL prefix the static root is served under"),
    "cdn_prefix": attr.string(doc = "Absolute URLs written into outputs use this prefix instead (a CDN origin)"),
    "url_style": attr.string(
        default = "filename",
        values = ["filename", "assetman", "source"],
        doc = "filename: content-named copies; assetman: Assetman's URLs; source: every file keeps its name (asok), references still follow WebP renames",
    ),
    "compress": attr.string(
        default = "fast",
        values = ["off", "fast", "max"],
        doc = ".br/.gz/.zst twins: fast (brotli 5, zstd 9; kiln build's default), max (brotli 11, zstd 19) or off",
    ),
}

def _attrs(extra):
    d = dict(_HASH_ATTRS)
    d.update(extra)
    return d

kiln_hashed = rule(
    implementation = _kiln_hashed_impl,
    doc = "Versions one asset (or a batch) in one kiln-hash process, given the kiln_hashed targets of the assets it references outside the batch. srcs: source files, kiln_minify and kiln_webp targets. Output: a tree relative to the static root, and a partial manifest.",
    attrs = _attrs({
        "srcs": attr.label_list(mandatory = True, allow_files = True, doc = "The asset(s): source files, kiln_minify or kiln_webp targets, all under one static root"),
        "root": attr.string(default = ".", doc = "Static root relative to the package, for source-file srcs"),
        "deps": attr.label_list(providers = [KilnAssetInfo], doc = "kiln_hashed targets of the assets src references"),
    }),
    toolchains = [TOOLCHAIN],
)

def _kiln_asset_block_impl(ctx):
    tc = toolchain(ctx)
    root = pkg_path(ctx, ctx.attr.static_root)
    assets = ctx.attr.assets[KilnAssetInfo]
    transitive = []
    for f in ctx.files.srcs:
        key = rel_to(root, f, str(ctx.label))
        if key not in assets.by_key:
            fail("%s: %s is not an asset of %s" % (ctx.label, key, ctx.attr.assets.label))
        transitive.append(assets.by_key[key])
    if ctx.attr.url_style == "assetman":
        # Assetman block URLs abbreviate the constituents by their lookups, which depend on
        # every key of the static tree.
        transitive = [assets.partials]
    deps = depset(transitive = transitive)

    tree = ctx.actions.declare_directory(ctx.label.name + ".hashed")
    partial = ctx.actions.declare_file(ctx.label.name + ".partial.json")
    args = ctx.actions.args()
    args.add("--block", ctx.attr.kind)
    args.add("--root", root)
    args.add_all(deps, before_each = "--dep")
    _common_hash_args(ctx, args)
    if ctx.attr.targets:
        args.add("--targets", ctx.attr.targets)
    tools = []
    if ctx.attr.kind == "less":
        if not tc.lessc:
            fail("%s: a LESS block needs a lessc in the kiln toolchain (kiln_toolchain(lessc = …))" % ctx.label)
        args.add("--lessc", tc.lessc)
        tools.append(tc.lessc)
    args.add("-o", tree.path)
    args.add("--partial", partial)
    srcs = params(ctx.actions.args())
    srcs.add_all(ctx.files.srcs)
    ctx.actions.run(
        executable = tc.hash,
        arguments = [args, srcs],
        inputs = depset(ctx.files.srcs, transitive = [deps]),
        tools = tools,
        outputs = [tree, partial],
        mnemonic = "KilnBlock",
        progress_message = "Bundling %s block %s" % (ctx.attr.kind, ctx.label.name),
        execution_requirements = EXEC_REQS,
        **RUN_TOOLCHAIN
    )
    return [
        DefaultInfo(files = depset([tree, partial])),
        KilnAssetInfo(own_partials = [partial], partials = depset([partial], transitive = [deps]), by_key = {}),
        dist_info(trees = [dist_tree(ctx.attr.static_root, tree)]),
    ]

kiln_asset_block_rule = rule(
    implementation = _kiln_asset_block_impl,
    doc = "One Assetman block: its files in block order, bundled and versioned as f/<namehash>.<v12>.<ext>.",
    attrs = _attrs({
        "kind": attr.string(mandatory = True, values = ["css", "js", "less"], doc = "The block's kind: `assetman.include_<kind>`"),
        "srcs": attr.label_list(allow_files = True, mandatory = True, doc = "In block order"),
        "static_root": attr.string(default = "src/partials", doc = "Relative to the package"),
        "targets": attr.string(doc = "Browserslist query for CSS (kiln's default when empty)"),
        "assets": attr.label(mandatory = True, providers = [KilnAssetInfo], doc = "The versioned static files (e.g. a kiln_static) the block's files are looked up in"),
    }),
    toolchains = [TOOLCHAIN],
)

def _kiln_assets_impl(ctx):
    by_key = {}
    for s in ctx.attr.srcs:
        by_key.update(s[KilnAssetInfo].by_key)
    return [
        DefaultInfo(files = depset(transitive = [s[DefaultInfo].files for s in ctx.attr.srcs])),
        KilnAssetInfo(
            own_partials = [],
            partials = depset(transitive = [s[KilnAssetInfo].partials for s in ctx.attr.srcs]),
            by_key = by_key,
        ),
        dist_info(transitive = [s[KilnDistInfo] for s in ctx.attr.srcs if KilnDistInfo in s]),
    ]

kiln_assets = rule(
    implementation = _kiln_assets_impl,
    doc = "Groups versioned assets (no action): their partials, dist entries and keys.",
    attrs = {"srcs": attr.label_list(providers = [KilnAssetInfo], doc = "kiln_hashed and kiln_asset_block targets")},
)
