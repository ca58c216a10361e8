"""Bazel 7+ (bzlmod): the module extension behind MODULE.bazel's kiln_toolchain repository."""

load(":repo.bzl", "kiln_binaries")

def _kiln_impl(_module_ctx):
    # MODULE.bazel requires Bazel 7+ (bazel_compatibility), which takes actions.run(toolchain = …).
    kiln_binaries(name = "kiln_toolchain", action_toolchain = True)

kiln = module_extension(
    implementation = _kiln_impl,
    doc = "The kiln_toolchain repository (see repo.bzl: KILN_BIN_DIR, target/release, PATH, or cargo).",
)
