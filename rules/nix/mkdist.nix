# mkDist: an app's source tree → its production dist, by the docs/design.md §8 pipeline, split
# into derivations whose inputs are as narrow as kiln's actions:
#
#   static     static root only            minify JS/CSS (1), WebP (2), version + twins (3)
#   blocks     templates + static + static's partial   kiln scan, one kiln-hash --block each (4)
#   manifest   the partials                kiln-manifest-merge (5)
#   templates  templates + manifest        kiln-minify --manifest (6)
#   pyc        the .py files only          kiln-pyc-wrap with the flake's python3 (7)
#   dist       the outputs above + the rest of the tree   kiln-dist-assemble (8)
#
# so editing a template rebuilds blocks, manifest, templates and dist, never the bytecode or the
# static assets. The result is `dist` with `parts` and `sources` attached for inspection.
{ pkgs, kiln, features ? import ./features.nix }:

{ src                          # the app root (a path)
, pname ? "app"                # names the derivations
, framework ? null             # "asok": asok's layout (the defaults marked asok below); null: kiln's
, keepSource ? false           # ship .py beside __pycache__/*.pyc instead of sourceless .pyc
, withDb ? false               # ship db.sqlite3*
  # WebP twins, references renamed: as `kiln build` decides, from IMAGE_OPTIMIZATION in the app's
  # .env (read at evaluation, never shipped)
, imageOptimization ? (import ./source.nix).envFlag src "IMAGE_OPTIMIZATION"
, staticRoot ? "src/partials"  # served under `prefix`
, templateDir ? "src/templates"
  # Files with a template extension under these are templates (minified, never renamed), even
  # inside the static root; asok: its pages and its shared templates.
, templateDirs ? (if framework == "asok" then [ "src/pages" "src/partials/html" ] else [ templateDir ])
  # Shipped exactly as they are, even inside the static root; asok: user uploads.
, verbatimDirs ? (if framework == "asok" then [ "src/partials/uploads" ] else [ ])
, prefix ? (if framework == "asok" then "/" else "/s/")
  # .br/.gz/.zst twins: "fast" (kiln build's default), "max" or "off" (asok: its runtime serves none)
, compress ? (if framework == "asok" then "off" else "fast")
  # "filename": content-named copies; "source" (asok): every asset keeps its name, references
  # still follow the WebP renames, and a converted image's original stays beside its WebP.
, urlStyle ? (if framework == "asok" then "source" else "filename")
, pycExclude ? [ "src/migrations/**" ]   # shipped as source
, python3 ? pkgs.python3       # the interpreter the bytecode is for
, templateExts ? [ "html" ]    # files under templateDirs that are templates (the rest is as elsewhere)
, lessc ? null                 # LESS compiler executable for include_less blocks (a toolchain input)
}:
let
  source = import ./source.nix;
  inherit (builtins) concatStringsSep pathExists;
  sh = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString s) + "'";

  empty = name: pkgs.runCommand "${pname}-${name}" { } "mkdir -p $out";
  # Each file goes to the one derivation its class (source.nix's classOf, dist::classify) says.
  layout = { inherit staticRoot templateDirs templateExts verbatimDirs; };
  ofClass = class: name: args: source.${class} ({ inherit src withDb layout; name = "${pname}-${name}"; } // args);

  sources = {
    # The static root's files (dotfiles are not served: kiln-hash --all skips them too).
    static = if pathExists (src + "/${staticRoot}") then ofClass "static" "static-src" { dir = staticRoot; } else empty "static-src";
    # The rest keep their path in the app.
    templates = ofClass "templates" "templates-src" { };
    python = ofClass "python" "py-src" { };
    rest = ofClass "rest" "rest-src" { };
  };

  useWebp = imageOptimization && features.webp;
  warnWebp = x:
    if imageOptimization && !features.webp
    then builtins.trace "kiln mkDist: kiln-webp is not wired yet (rules/nix/features.nix); imageOptimization ignored" x
    else x;

  step = name: inputs: script:
    pkgs.runCommand "${pname}-${name}" { nativeBuildInputs = [ kiln ] ++ inputs; } ''
      # Sorted lists of the files under a directory, relative to it.
      files() { (cd "$1" && find . -type f | sed 's|^\./||' | LC_ALL=C sort); }
      ${script}
    '';

  # 1-3: minify, WebP, version (+ precompressed twins). $out/files is S, $out/*.json partials.
  static = step "static" [ ] ''
    root=${sources.static}
    mkdir -p M W $out
    files "$root" > all
    grep -iE '\.(m?js|cjs|css)$' all > minify || true
    ${if useWebp then ''
      grep -iE '\.(jpe?g|png|gif)$' all > images || true
    '' else ''
      : > images
    ''}
    grep -viE '\.(m?js|cjs|css)$' all | grep -vxF -f images > other || true
    if [ -s minify ]; then
      sed "s|^|$root/|" minify > minify.params
      kiln-minify --root "$root" -o M @minify.params
    fi
    ${if useWebp then ''
      sed "s|^|$root/|" images > webp.params
      kiln-webp --replace --root "$root" -o W --partial $out/webp.json @webp.params
    '' else ""}
    { sed 's|^|M/|' minify; files W | sed 's|^|W/|'; sed "s|^|$root/|" other; } > hash.params
    kiln-hash --root M ${if useWebp then "--root W --dep $out/webp.json" else ""} --root "$root" \
      --url-style ${sh urlStyle} --prefix ${sh prefix} --compress=${sh compress} \
      -o $out/files --partial $out/static.json @hash.params
    ${if useWebp && urlStyle == "source" then ''
      # Under source names, a converted image's original stays beside its WebP (kiln-hash wrote
      # the original itself when its WebP was not smaller).
      while IFS= read -r f; do
        [ -e "$out/files/$f" ] || { mkdir -p "$out/files/$(dirname "$f")"; cp "$root/$f" "$out/files/$f"; }
      done < images
    '' else ""}
  '';

  # 4: one kiln-hash --block per distinct block that `kiln scan` finds in the templates.
  blocks = if !features.blocks then empty "blocks" else
    step "blocks" [ python3 ] ''
      kiln scan ${sources.templates} --static-root ${sources.static} \
        --template-ext ${sh (concatStringsSep "," templateExts)} -o blocks.json
      mkdir -p params $out/files
      python3 - ${sources.static} <<'PY'
      import json, sys
      root = sys.argv[1]
      for b in json.load(open("blocks.json"))["blocks"]:
          # The same block in two templates is one block (same kind and name hash).
          with open("params/block-%s-%s" % (b["kind"], b["namehash"]), "w") as f:
              f.write("".join("%s/%s\n" % (root, p) for p in b["paths"]))
      PY
      for p in params/block-*; do
        [ -e "$p" ] || continue
        b=''${p#params/}; kind=''${b#block-}; kind=''${kind%%-*}
        kiln-hash --block "$kind" --root ${sources.static} ${if lessc == null then "" else "--lessc ${sh lessc}"} \
          --dep ${static}/static.json ${if useWebp then "--dep ${static}/webp.json" else ""} \
          --prefix ${sh prefix} --compress=${sh compress} -o $out/files --partial "$out/$b.json" @"$p"
      done
    '';

  # 5: the manifest.
  manifest = step "manifest" [ ] ''
    set -- ${blocks}/block-*.json
    [ -e "$1" ] || set --
    mkdir -p $out
    kiln-manifest-merge -o $out/manifest.json ${static}/static.json \
      ${if useWebp then "${static}/webp.json" else ""} "$@"
  '';

  # 6: templates: blocks and static_url('…') rewritten to versioned URLs, then minified.
  templates = step "templates" [ ] ''
    root=${sources.templates}
    files "$root" | sed "s|^|$root/|" > templates.params
    mkdir -p $out
    if [ -s templates.params ]; then
      kiln-minify --kind html --root "$root" -o $out \
        ${if features.templateRewrite then "--manifest ${manifest}/manifest.json --prefix ${sh prefix}" else ""} \
        @templates.params
    fi
  '';

  # 7: bytecode, compiled by the flake's python3.
  pyc = step "pyc" [ python3 ] ''
    root=${sources.python}
    files "$root" | sed "s|^|$root/|" > py.params
    mkdir -p $out
    if [ -s py.params ]; then
      kiln-pyc-wrap --python ${python3}/bin/python3 --root "$root" -o $out \
        ${concatStringsSep " " (map (g: "--exclude ${sh g}") pycExclude)} \
        ${if keepSource then "--keep-source" else ""} @py.params
    fi
  '';

  # 8: the dist: one `dest<TAB>src` line per file, laid out by kiln-dist-assemble.
  dist = step "dist" [ ] ''
    tab=$(printf '\t')
    under() { files "$1" | while IFS= read -r f; do printf '%s\t%s\n' "$2$f" "$1/$f"; done; }
    {
      printf 'manifest.json\t%s\n' ${manifest}/manifest.json
      under ${static}/files ${sh "${staticRoot}/"}
      ${if features.blocks then "under ${blocks}/files ${sh "${staticRoot}/"}" else ""}
      under ${templates} ""
      under ${pyc} ""
      under ${sources.rest} ""
    } | LC_ALL=C sort > dist.params
    ${if features.assemble then ''
      kiln-dist-assemble --params dist.params --env-production -o $out
    '' else ''
      # Interim (kiln-dist-assemble is a stub): the same lines, laid out with cp.
      while IFS="$tab" read -r dest from; do
        mkdir -p "$out/$(dirname "$dest")"
        cp "$from" "$out/$dest"
      done < dist.params
    ''}
  '';
in
warnWebp (dist // {
  parts = { inherit static blocks manifest templates pyc; };
  inherit sources;
})
