"""`kiln_static`: every file under a static root, one minify/webp/hash action per asset."""

load(":hash.bzl", "kiln_assets", "kiln_hashed")
load(":minify.bzl", "kiln_minify")
load(":webp.bzl", "kiln_webp")

_MINIFY = ["js", "mjs", "cjs", "css"]
_IMAGES = ["jpg", "jpeg", "png", "gif"]

def _ext(key):
    base = key.split("/")[-1]
    return base.split(".")[-1].lower() if "." in base else ""

def kiln_static(
        name,
        srcs,
        root = "src/partials",
        deps = {},
        minify = True,
        webp = False,
        webp_quality = 80,
        batch = False,
        prefix = "/s/",
        compress = "fast",
        url_style = "filename",
        visibility = None):
    """Versions every file of a static root (steps 1–3 of the pipeline, docs/design.md §8).

    Per asset `K` (its path relative to `root`): `<name>_min/K` (kiln_minify, JS and CSS),
    `<name>_webp/K` (kiln_webp, images, when `webp`), `<name>_hash/K` (kiln_hashed; names that
    cannot be a source path of the package when `root` starts with `name`): an edit re-runs
    only that asset's actions and their dependents, and each action is cached on its own. With
    `batch = True`: one action per step instead (`<name>_min`, `<name>_webp`, `<name>_all`),
    which is several times faster cold when there are hundreds of small files (one process start
    instead of hundreds) but re-runs the whole step on any edit. `<name>` groups the result
    (kiln_assets) for kiln_manifest and kiln_asset_block.

    Args:
      name: the kiln_assets target grouping the result; the per-asset targets are named after it.
      srcs: the files (a glob under root; dotfiles are skipped, like kiln-hash --all).
      root: the static root, relative to the package; asset keys are relative to it.
      deps: {asset key: [keys it references]}: a stylesheet's @import and url() targets, a JS
        module's imports, import()s, `new URL(…, import.meta.url)` targets and source map (not
        needed with batch, where kiln-hash orders the batch itself). A reference missing here is
        an error at its line and column when the asset is versioned. Modules that import each
        other (a cycle, legal in ES modules) are versioned together in one action, which is
        named after the first of them (`<name>_hash/<first key>`).
      minify: minify JS and CSS first (kiln_minify).
      webp: convert images to WebP first (IMAGE_OPTIMIZATION=true in the app's .env).
      webp_quality: WebP quality, 0–100 (kiln_webp `quality`).
      batch: one action per step instead of one per asset (see above).
      prefix: URL prefix the static root is served under.
      compress: .br/.gz/.zst twins: "fast" (kiln build's default), "max" or "off".
      url_style: "filename" (content-named copies), "assetman", or "source" (every file keeps its
        name, for runtimes that look assets up by name, such as asok; references still follow
        the WebP renames). With "source", a converted image's original is not in the output:
        ship it from the sources (kiln_dist `data`), as examples/asok-blog/BUILD.bazel does.
      visibility: of the `name` target.
    """
    keys = {}
    for s in srcs:
        if not s.startswith(root + "/"):
            fail("kiln_static %s: %s is not under %s" % (name, s, root))
        key = s[len(root) + 1:]
        if key.split("/")[-1].startswith("."):
            continue
        keys[key] = s
    for key, refs in deps.items():
        for k in [key] + refs:
            if k not in keys:
                fail("kiln_static %s: deps names %s, which is not in srcs" % (name, k))
    if batch:
        _batch(name, keys, root, minify, webp, webp_quality, prefix, compress, url_style, visibility)
        return

    # One kiln_hashed per asset, or per import cycle (its modules share one version, computed
    # over the whole cycle: docs/design.md §3; Bazel's graph cannot have the cycle itself).
    group_of = _cycle_groups(deps)
    hash_label = {}
    members_of = {}
    for key in keys:
        hash_label[key] = ":%s_hash/%s" % (name, group_of.get(key, [key])[0])
        members_of[hash_label[key]] = group_of.get(key, [key])
    hashed_srcs = {}
    for key in sorted(keys.keys()):
        src = keys[key]
        ext = _ext(key)
        if minify and ext in _MINIFY:
            kiln_minify(name = "%s_min/%s" % (name, key), srcs = [src], root = root)
            src = ":%s_min/%s" % (name, key)
        elif webp and ext in _IMAGES:
            kiln_webp(name = "%s_webp/%s" % (name, key), srcs = [src], root = root, quality = webp_quality)
            src = ":%s_webp/%s" % (name, key)
        hashed_srcs.setdefault(hash_label[key], []).append(src)
    for label in sorted(hashed_srcs.keys()):
        dep_labels = []
        for m in members_of[label]:
            for d in deps.get(m, []):
                if hash_label[d] != label and hash_label[d] not in dep_labels:
                    dep_labels.append(hash_label[d])
        kiln_hashed(
            name = label[1:],
            srcs = hashed_srcs[label],
            root = root,
            deps = sorted(dep_labels),
            prefix = prefix,
            compress = compress,
            url_style = url_style,
        )
    kiln_assets(name = name, srcs = sorted(hashed_srcs.keys()), visibility = visibility)

def _reachable(key, deps, limit):
    """The keys `key` reaches through `deps` (itself only through a cycle).

    Starlark has no while loop: breadth-first, at most `limit` rounds.
    """
    seen = {}
    frontier = [key]
    for _ in range(limit):
        if not frontier:
            break
        found = []
        for k in frontier:
            for d in deps.get(k, []):
                if d not in seen:
                    seen[d] = True
                    found.append(d)
        frontier = found
    return seen

def _cycle_groups(deps):
    """{key: its cycle's keys, sorted} for every key that lies on a cycle of `deps`."""
    reach = {}
    for k in deps:
        reach[k] = _reachable(k, deps, len(deps) + 1)
    groups = {}
    for k in sorted(deps.keys()):
        if k in groups or k not in reach[k]:
            continue
        members = sorted([j for j in reach[k] if j == k or (j in reach and k in reach[j])])
        for m in members:
            groups[m] = members
    return groups

def _batch(name, keys, root, minify, webp, webp_quality, prefix, compress, url_style, visibility):
    to_minify = []
    images = []
    rest = []
    for key in sorted(keys.keys()):
        ext = _ext(key)
        if minify and ext in _MINIFY:
            to_minify.append(keys[key])
        elif webp and ext in _IMAGES:
            images.append(keys[key])
        else:
            rest.append(keys[key])
    srcs = list(rest)
    if to_minify:
        kiln_minify(name = name + "_min", srcs = to_minify, root = root)
        srcs.append(":%s_min" % name)
    if images:
        kiln_webp(name = name + "_webp", srcs = images, root = root, quality = webp_quality)
        srcs.append(":%s_webp" % name)
    kiln_hashed(name = name + "_all", srcs = srcs, root = root, prefix = prefix, compress = compress, url_style = url_style)
    kiln_assets(name = name, srcs = [":%s_all" % name], visibility = visibility)
