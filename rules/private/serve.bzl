"""`kiln_serve`: `bazel run` previews a kiln_dist with `kiln serve`."""

load(":common.bzl", "TOOLCHAIN", "toolchain")

def _sh(s):
    return "'" + s.replace("'", "'\\''") + "'"

def _kiln_serve_impl(ctx):
    tc = toolchain(ctx)
    if not tc.kiln:
        fail("%s: the kiln toolchain has no `kiln` executable (kiln_toolchain(kiln = …))" % ctx.label)
    dists = ctx.files.dist
    if len(dists) != 1:
        fail("%s: dist must be one kiln_dist with format = \"dir\"" % ctx.label)
    args = ["--prefix", ctx.attr.prefix, "--static-dir", ctx.attr.static_dir]
    if ctx.attr.app:
        args.extend(["--app", ctx.attr.app])
    script = ctx.actions.declare_file(ctx.label.name + ".sh")

    # `bazel run` starts the script in its runfiles directory, where the dist's files may be
    # symlinks, which `kiln serve` refuses (it never follows a link out of the dist): serve the
    # real directory they point into instead.
    ctx.actions.write(script, "\n".join([
        "#!/bin/sh",
        "set -eu",
        "# Run from bazel-bin/ directly: into the runfiles, where `bazel run` starts it.",
        "if [ -d \"$0.runfiles/%s\" ]; then cd \"$0.runfiles/%s\"; fi" % (ctx.workspace_name, ctx.workspace_name),
        "dist=%s" % _sh(dists[0].short_path),
        "first=$(find -L \"$dist\" -type f | LC_ALL=C sort | head -n 1)",
        "[ -n \"$first\" ] || { echo \"kiln_serve: $dist is empty\" >&2; exit 1; }",
        "rel=${first#\"$dist\"/}",
        "real=$(readlink -f \"$first\")",
        "exec %s serve \"${real%%/\"$rel\"}\" %s \"$@\"" % (_sh(tc.kiln.short_path), " ".join([_sh(a) for a in args])),
        "",
    ]), is_executable = True)
    runfiles = ctx.runfiles(files = [tc.kiln] + dists)
    return [DefaultInfo(executable = script, runfiles = runfiles)]

kiln_serve = rule(
    implementation = _kiln_serve_impl,
    doc = "`bazel run` target that previews a dist with `kiln serve` (static files as production serves them; with `app`, the WSGI app too). Extra arguments after `--` go to `kiln serve` (e.g. `--port 0`; it listens on 127.0.0.1:8000 by default).",
    attrs = {
        "app": attr.string(doc = "Also serve the dist's WSGI app, `module:attribute` (kiln serve --app); empty: static files only"),
        "dist": attr.label(mandatory = True, allow_files = True, doc = "A kiln_dist with format = \"dir\""),
        "prefix": attr.string(default = "/s/", doc = "URL prefix the static root is served under"),
        "static_dir": attr.string(default = "src/partials", doc = "The static root, relative to the dist"),
    },
    executable = True,
    toolchains = [TOOLCHAIN],
)
