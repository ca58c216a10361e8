"""Providers shared by the kiln rules."""

KilnFilesInfo = provider(
    doc = "Files whose manifest keys are known at analysis (kiln_minify outputs, source files).",
    fields = {
        "entries": "list of struct(key, file): key is the path relative to `root`",
        "root": "exec path of the directory the keys are relative to",
        "pkg_root": "the same directory's place in the dist, relative to the package",
    },
)

KilnWebpInfo = provider(
    doc = "A kiln_webp action: a tree holding the WebPs (or the originals) and its partial with `renames`.",
    fields = {
        "keys": "the original images' keys",
        "tree": "tree artifact, relative to the static root",
        "partial": "partial manifest File",
        "pkg_root": "the static root relative to the package",
    },
)

KilnAssetInfo = provider(
    doc = "Versioned assets and the partial manifests that describe them.",
    fields = {
        "own_partials": "list of the partial Files of this asset (what a dependent passes as --dep)",
        "partials": "depset of every partial File, transitively (what kiln_manifest merges)",
        "by_key": "dict: asset key → depset of the partials of that asset and its dependencies",
    },
)

KilnDistInfo = provider(
    doc = "What a target puts in the dist (dests relative to the dist root, i.e. the package).",
    fields = {
        "lines": "depset of `dest<TAB>src` strings, one per file",
        "trees": "depset of struct(dest, tree): tree artifacts whose files go under dest",
        "inputs": "depset of the Files and trees named",
    },
)
