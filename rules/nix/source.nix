# Source filters: which files of an app each mkDist derivation sees. Narrow sources are what
# keep the derivations' inputs as narrow as kiln's actions (a template edit changes neither the
# bytecode's nor the static assets' input hash). The excluded set mirrors docs/design.md §7
# (`dist::classify`); keep them in step.
let
  inherit (builtins) elem stringLength substring baseNameOf;
  hasPrefix = pre: s: substring 0 (stringLength pre) s == pre;
  hasSuffix = suf: s:
    let ls = stringLength s; lf = stringLength suf;
    in ls >= lf && substring (ls - lf) lf s == suf;

  # Development artifacts: directories skipped wherever they are.
  devDirs = [
    ".git" ".hg" ".svn" ".asok" ".kiln-cache" ".venv" "venv" "node_modules" "__pycache__" ".pytest_cache"
    ".mypy_cache" ".ruff_cache" ".tox" ".idea" ".vscode"
  ];
  # Build outputs: only at the app root.
  outputDirs = [ "dist" "build" ];

  secretFile = name:
    elem name [ ".env" ".npmrc" ".pypirc" ".netrc" ".htpasswd" ".git-credentials" ]
    || hasPrefix ".env." name
    || builtins.any (p: hasPrefix p name) [ "id_rsa" "id_dsa" "id_ecdsa" "id_ed25519" ]
    || builtins.any (x: hasSuffix x name) [ ".pem" ".key" ".p12" ".pfx" ".jks" ".keystore" ];
  devFile = withDb: name:
    elem name [ ".DS_Store" "Thumbs.db" "BUILD" "BUILD.bazel" "WORKSPACE" "WORKSPACE.bazel" "MODULE.bazel" ]
    || hasSuffix ".pyc" name || hasSuffix ".pyo" name || hasSuffix ".bzl" name
    || (!withDb && hasPrefix "db.sqlite3" name);

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
