"""Public API of kiln's Bazel rules. See README.md ("Bazel") and docs/design.md §5 and §8.

    load("@kiln//rules:defs.bzl", "kiln_static", "kiln_manifest", "kiln_minify", "kiln_pyc", "kiln_dist", "kiln_serve")

Loads on Bazel 4.2.3 (Debian's bazel-bootstrap) and on Bazel 7/8.
"""

load("//rules/private:dist.bzl", _kiln_dist = "kiln_dist")
load("//rules/private:hash.bzl", _kiln_asset_block_rule = "kiln_asset_block_rule", _kiln_assets = "kiln_assets", _kiln_hashed = "kiln_hashed")
load("//rules/private:manifest.bzl", _kiln_manifest = "kiln_manifest")
load("//rules/private:minify.bzl", _kiln_minify = "kiln_minify")
load("//rules/private:providers.bzl", _KilnAssetInfo = "KilnAssetInfo", _KilnDistInfo = "KilnDistInfo", _KilnFilesInfo = "KilnFilesInfo")
load("//rules/private:pyc.bzl", _kiln_pyc = "kiln_pyc")
load("//rules/private:serve.bzl", _kiln_serve = "kiln_serve")
load("//rules/private:static.bzl", _kiln_static = "kiln_static")
load("//rules/private:toolchain.bzl", _kiln_toolchain = "kiln_toolchain")
load("//rules/private:webp.bzl", _kiln_webp = "kiln_webp")

kiln_toolchain = _kiln_toolchain
kiln_minify = _kiln_minify
kiln_webp = _kiln_webp
kiln_hashed = _kiln_hashed
kiln_assets = _kiln_assets
kiln_static = _kiln_static
kiln_manifest = _kiln_manifest
kiln_pyc = _kiln_pyc
kiln_dist = _kiln_dist
kiln_serve = _kiln_serve

KilnAssetInfo = _KilnAssetInfo
KilnDistInfo = _KilnDistInfo
KilnFilesInfo = _KilnFilesInfo

def kiln_asset_block(name, kind, srcs, static_root = "src/partials", assets = ":static", **kwargs):
    """One Assetman block (`{% apply assetman.include_<kind> %}`), as `kiln scan --bazel` writes it.

    Args:
      name: the target's name (`kiln scan --bazel` names it after the block's kind and name hash).
      kind: "css", "js" or "less".
      srcs: the block's files, in block order.
      static_root: the static root, relative to the package.
      assets: the kiln_static (or kiln_assets) its files are versioned by; `:static` by default.
      **kwargs: the other attributes of the rule (prefix, cdn_prefix, url_style, compress, targets)
        and the common ones (visibility, tags).
    """
    _kiln_asset_block_rule(name = name, kind = kind, srcs = srcs, static_root = static_root, assets = assets, **kwargs)
