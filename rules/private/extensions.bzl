"""Bazel 7+ (bzlmod): the module extension behind MODULE.bazel's kiln_toolchain repository."""

load(":repo.bzl", "kiln_binaries")

def _kiln_impl(_module_ctx):
    kiln_binaries(name = "kiln_toolchain")

kiln = module_extension(implementation = _kiln_impl)
