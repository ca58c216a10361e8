"""Helpers shared by the kiln rules (Bazel 4.2.3 Starlark: no lambdas, no `dict | dict`)."""

load("@kiln_toolchain//:capabilities.bzl", "ACTION_TOOLCHAIN")
load(":providers.bzl", "KilnDistInfo")

# A string: Bazel 4.2.3 takes no Label in rule(toolchains = …). str() keeps it this repository's.
TOOLCHAIN = str(Label("//rules:toolchain_type"))

# `**RUN_TOOLCHAIN` in every ctx.actions.run: the action's executable comes from the kiln
# toolchain, which Bazel 7+'s automatic exec groups need to be told (`toolchain = …`). Bazel 4.2.3
# rejects that keyword ("run() got unexpected keyword argument 'toolchain'"), and a .bzl file
# cannot ask which Bazel runs it, so the kiln_toolchain repository records it (repo.bzl).
RUN_TOOLCHAIN = {"toolchain": TOOLCHAIN} if ACTION_TOOLCHAIN else {}

# Every kiln action reads only its declared inputs and writes only its outputs: it may run in
# the sandbox, remotely, and be cached anywhere. (Nothing here is "local", "no-sandbox" or
# "no-remote"; kiln_pyc adds "no-remote-exec" only for a host interpreter.)
EXEC_REQS = {}

def toolchain(ctx):
    return ctx.toolchains[TOOLCHAIN]

def join(*parts):
    """Joins path parts, skipping empty and "." ones; "." when nothing is left."""
    kept = [p.strip("/") for p in parts if p and p != "."]
    kept = [p for p in kept if p]
    return "/".join(kept) if kept else "."

def pkg_path(ctx, rel = "."):
    """Exec path of `rel` inside the package of ctx (source tree)."""
    return join(ctx.label.workspace_root, ctx.label.package, rel)

def rel_to(root, f, what):
    """The path of File `f` relative to the exec path `root`; fails when it is not inside.

    Args:
      root: an exec path ("." for the execution root).
      f: a File.
      what: names the target in the error.

    Returns:
      The path relative to `root`.
    """
    if root == ".":
        return f.path
    if not f.path.startswith(root + "/"):
        fail("%s: %s is not under %s" % (what, f.path, root))
    return f.path[len(root) + 1:]

def params(args):
    """Long input lists go through a params file, one argument per line (kiln's `@FILE`)."""
    args.use_param_file("@%s", use_always = False)
    args.set_param_file_format("multiline")
    return args

def dist_info(lines = [], trees = [], inputs = [], transitive = []):
    return KilnDistInfo(
        lines = depset(lines, transitive = [t.lines for t in transitive]),
        trees = depset(trees, transitive = [t.trees for t in transitive]),
        inputs = depset(inputs + [t.tree for t in trees], transitive = [t.inputs for t in transitive]),
    )

def dist_line(dest, src):
    """A source file's line of kiln-dist-assemble's params: `dest<TAB>src` (its mode kept)."""
    return "%s\t%s" % (dest, src.path)

def dist_output_line(dest, out):
    """A generated file's line: mode 644, not the 0555 Bazel gives every output."""
    return "%s\t%s\t644" % (dest, out.path)

def dist_tree(dest, tree):
    """A tree artifact whose files go under `dest` (expanded into lines by kiln_dist)."""
    return struct(dest = dest, tree = tree)
