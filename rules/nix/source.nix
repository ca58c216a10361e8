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

  under = dir: rel: dir != "" && hasPrefix "${dir}/" rel;

  lower = builtins.replaceStrings
    [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ]
    [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];
  parts = rel: builtins.filter builtins.isString (builtins.split "/" rel);

  # What `kiln build` does with a shipped file at `rel` (dist::classify, in the same order):
  # "copy" (uploads and the like, and anything else as it is), "template" (minified, never
  # renamed), "static" (minified, converted, versioned), null (a dotfile under the static root:
  # not served), "python" (bytecode, or source where pycExclude says so).
  classOf = { staticRoot, templateDirs, templateExts, verbatimDirs }: rel:
    let
      base = lower (baseNameOf rel);
      ext = let m = builtins.match ".*\\.([^.]*)" base; in if m == null then "" else builtins.head m;
    in
    if builtins.any (d: under d rel) verbatimDirs then "copy"
    else if builtins.any (d: under d rel) templateDirs && elem ext templateExts then "template"
    else if under staticRoot rel then
      (if builtins.any (hasPrefix ".") (parts (substring (stringLength staticRoot + 1) (stringLength rel) rel))
       then null else "static")
    else if hasSuffix ".py" base then "python"
    else "copy";

  # The shipped files of `src` under `dir` ("" for all) of one class, as their own store path
  # (named `name`), laid out as in `dir`.
  ofClass = class: { src, name, layout, dir ? "", withDb ? false }:
    builtins.path {
      inherit name;
      path = if dir == "" then src else src + "/${dir}";
      filter = path: type:
        let rel = relTo src path; in
        shipped { inherit withDb; } rel type
        && (type == "directory" || classOf layout rel == class);
    };
in
{
  inherit hasPrefix hasSuffix;

  inherit classOf;

  # By class: the static root's files (laid out under it), and the templates, Python and the
  # rest of the app (laid out as in the app).
  static = ofClass "static";
  templates = ofClass "template";
  python = ofClass "python";
  rest = ofClass "copy";

  # kiln's own crate: what cargo needs (build.rs too: it links the binaries as cargo does), plus
  # the binaries a `cargo build --release` left in target/release (only the offline stub nixpkgs
  # installs those; real nixpkgs compiles from Cargo.toml/Cargo.lock/src and never sees them in a
  # clean checkout).
  crate = { src }:
    builtins.path {
      name = "kiln-source";
      path = src;
      filter = path: type:
        let rel = relTo src path; name = baseNameOf rel; in
        elem rel [ "Cargo.toml" "Cargo.lock" "build.rs" "src" "target" "target/release" ]
        || hasPrefix "src/" rel
        || (hasPrefix "target/release/" rel && type == "regular"
            && (name == "kiln" || hasPrefix "kiln-" name) && builtins.match ".*\\..*" name == null);
    };

  # What the dependencies' build depends on: an edit anywhere else leaves it alone.
  manifests = { src }:
    builtins.path {
      name = "kiln-manifests";
      path = src;
      filter = path: _type: elem (relTo src path) [ "Cargo.toml" "Cargo.lock" "build.rs" ];
    };

  inherit lower;

  # `kiln build`'s reading of a flag in the app's .env (cmd/build.rs, image_optimization): the last
  # `[export ]NAME=value` line, true for 1, true, yes or on (any case, quotes and a trailing
  # ` # comment` ignored); false without .env or without the name.
  envFlag = src: name:
    let
      file = src + "/.env";
      lines = if builtins.pathExists file then builtins.filter builtins.isString (builtins.split "\n" (builtins.readFile file)) else [ ];
      value = line:
        let m = builtins.match "[[:space:]]*(export[[:space:]]+)?${name}[[:space:]]*=[[:space:]]*[\"']?([A-Za-z0-9]*)[\"']?([[:space:]]+#.*)?[[:space:]]*" line;
        in if m == null then [ ] else [ (lower (builtins.elemAt m 1)) ];
      values = builtins.concatMap value lines;
    in
    values != [ ] && elem (builtins.elemAt values (builtins.length values - 1)) [ "1" "true" "yes" "on" ];
}
