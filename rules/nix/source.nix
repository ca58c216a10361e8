# Source filters: which files of an app each mkDist derivation sees. Narrow sources are what
# keep the derivations' inputs as narrow as kiln's actions (a template edit changes neither the
# bytecode's nor the static assets' input hash). The excluded set is kiln's own
# (src/assemble/not_shipped.json, read by `assemble::classify`), docs/design.md §7.
let
  inherit (builtins) elem stringLength substring baseNameOf;
  hasPrefix = pre: s: substring 0 (stringLength pre) s == pre;
  hasSuffix = suf: s:
    let ls = stringLength s; lf = stringLength suf;
    in ls >= lf && substring (ls - lf) lf s == suf;

  # What never ships: kiln's own list (src/assemble/not_shipped.json), matched as written.
  notShipped = builtins.fromJSON (builtins.readFile ../../src/assemble/not_shipped.json);
  # Development artifacts: directories skipped wherever they are.
  devDirs = notShipped.dev_dirs;
  # Build outputs: only at the app root.
  outputDirs = notShipped.root_output_dirs;

  secretFile = name:
    elem name notShipped.secret_names
    || builtins.any (p: hasPrefix p name) notShipped.secret_prefixes
    || builtins.any (x: hasSuffix x name) notShipped.secret_suffixes;
  devFile = withDb: name:
    elem name (notShipped.dev_names ++ notShipped.dev_names_any_case)
    || builtins.any (x: hasSuffix x name) notShipped.dev_suffixes
    || (!withDb && hasPrefix notShipped.database_prefix name);

  # rel: path relative to the app root ("" for the root itself).
  relTo = root: path:
    let r = toString root; in
    if path == r then "" else substring (stringLength r + 1) (stringLength path) path;

  # True for what a dist may contain (before splitting it between the derivations).
  shipped = { withDb }: rel: type:
    let name = baseNameOf rel; in
    if type == "directory" then
      !(elem name devDirs) && !(elem rel outputDirs)
    else
      !(secretFile name) && !(devFile withDb name) && rel != ".gitignore"
      && type != "unknown";

  under = dir: rel: rel == dir || hasPrefix "${dir}/" rel;

  # The files of `src` outside the static and template roots that ship: its Python when `py`,
  # everything else otherwise.
  outsideRoots = py: { src, name, withDb ? false, staticRoot, templateDir }:
    builtins.path {
      inherit name;
      path = src;
      filter = path: type:
        let rel = relTo src path; in
        shipped { inherit withDb; } rel type
        && !(under staticRoot rel) && !(under templateDir rel)
        && (type == "directory" || hasSuffix ".py" rel == py);
    };
in
{
  inherit hasPrefix hasSuffix;

  # The files of `src` under `dir` that ship, as their own store path (named `name`).
  subtree = { src, dir, name, withDb ? false, dotfiles ? true }:
    builtins.path {
      inherit name;
      path = src + "/${dir}";
      filter = path: type:
        let rel = relTo (src + "/${dir}") path; in
        shipped { inherit withDb; } "${dir}/${rel}" type
        && (dotfiles || !(hasPrefix "." (baseNameOf rel)));
    };

  # The shipped .py files of `src` (and only them), outside the static and template roots.
  python = outsideRoots true;

  # Everything else that ships as is: not Python, not under the static or template roots.
  rest = outsideRoots false;

  # kiln's own crate: what cargo needs, plus the binaries a `cargo build --release` left in
  # target/release (only the offline stub nixpkgs installs those; real nixpkgs compiles from
  # Cargo.toml/Cargo.lock/src and never sees them in a clean checkout).
  crate = { src }:
    builtins.path {
      name = "kiln-source";
      path = src;
      filter = path: type:
        let rel = relTo src path; name = baseNameOf rel; in
        elem rel [ "Cargo.toml" "Cargo.lock" "src" "target" "target/release" ]
        || hasPrefix "src/" rel
        || (hasPrefix "target/release/" rel && type == "regular"
            && (name == "kiln" || hasPrefix "kiln-" name) && builtins.match ".*\\..*" name == null);
    };
}
