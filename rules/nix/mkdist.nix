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
, pname
, keepSource ? false           # ship .py beside __pycache__/*.pyc instead of sourceless .pyc
, withDb ? false               # ship db.sqlite3*
, imageOptimization ? false    # IMAGE_OPTIMIZATION=true: WebP twins, references renamed
, staticRoot ? "src/partials"  # served under `prefix`
, templateDir ? "src/templates"
, prefix ? "/s/"
, compress ? "fast"            # .br/.gz/.zst twins: "fast" (kiln build's default), "max" or "off"
, pycExclude ? [ "src/migrations/**" ]   # shipped as source
, python3 ? pkgs.python3       # the interpreter the bytecode is for
, templateExts ? [ "html" ]    # files under templateDir that are templates (the rest is copied)
, lessc ? null                 # LESS compiler executable for include_less blocks (a toolchain input)
}:
let
  source = import ./source.nix;
  inherit (builtins) concatStringsSep pathExists;
  extRegex = "\\.(${concatStringsSep "|" templateExts})$";
  sh = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString s) + "'";

  empty = name: pkgs.runCommand "${pname}-${name}" { } "mkdir -p $out";
  subtree = dir: name: dotfiles:
    if pathExists (src + "/${dir}")
    then source.subtree { inherit src dir withDb dotfiles; name = "${pname}-${name}"; }
    else empty name;
  splitArgs = { inherit src withDb staticRoot templateDir; };

  sources = {
    # Dotfiles under the static root are not served (kiln-hash --all skips them too).
    static = subtree staticRoot "static-src" false;
    templates = subtree templateDir "templates-src" true;
    python = source.python (splitArgs // { name = "${pname}-py-src"; });
    rest = source.rest (splitArgs // { name = "${pname}-rest-src"; });
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
    grep -E '\.(js|css)$' all > minify || true
    ${if useWebp then ''
      grep -iE '\.(jpe?g|png|gif)$' all > images || true
    '' else ''
      : > images
    ''}
    grep -vE '\.(js|css)$' all | grep -vxF -f images > other || true
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
      --prefix ${sh prefix} --compress=${sh compress} -o $out/files --partial $out/static.json @hash.params
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
  # Other files in the template directory are copied as they are.
  templates = step "templates" [ ] ''
    root=${sources.templates}
    files "$root" > all
    grep -E ${sh extRegex} all | sed "s|^|$root/|" > templates.params || true
    grep -vE ${sh extRegex} all > copy || true
    mkdir -p $out
    if [ -s templates.params ]; then
      kiln-minify --kind html --root "$root" -o $out \
        ${if features.templateRewrite then "--manifest ${manifest}/manifest.json --prefix ${sh prefix}" else ""} \
        @templates.params
    fi
    while IFS= read -r f; do mkdir -p "$out/$(dirname "$f")"; cp "$root/$f" "$out/$f"; done < copy
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
      under ${templates} ${sh "${templateDir}/"}
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
