"""WORKSPACE (Bazel 4–6) entry point of kiln's rules.

    load("@kiln//rules:repositories.bzl", "kiln_register_toolchains")
    kiln_register_toolchains()

Bazel 7+ with MODULE.bazel needs none of this: `bazel_dep(name = "kiln")` registers the toolchain.
"""

load("//rules/private:repo.bzl", _kiln_register_toolchains = "kiln_register_toolchains")

kiln_register_toolchains = _kiln_register_toolchains
