# Offline stand-in for nixpkgs, used only by the tests (tests/nix.rs) through
#   --override-input nixpkgs path:./tests/offline/nixpkgs
# It has just what kiln's flake uses, built from `builtins.derivation`, the host's /bin/sh and
# /usr/bin tools (exposed to the sandbox by `extra-sandbox-paths = /bin /usr /lib /lib64
# /etc/alternatives`). Real nixpkgs needs none of this. See docs/design.md §6.
{
  description = "offline stand-in for nixpkgs (x86_64-linux); builds with the host's /usr";
  outputs = { self }:
    let
      system = "x86_64-linux";
      lib.genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
      # Strict sh; PATH = bin/ of (native)buildInputs, then the host's /usr/bin:/bin.
      prologue = ''
        set -eu
        export SOURCE_DATE_EPOCH=315532800   # as nixpkgs' stdenv does: .pyc become hash-based
        PATH=/usr/bin:/bin
        for p in ''${nativeBuildInputs-} ''${buildInputs-}; do
          if [ -d "$p/bin" ]; then PATH="$p/bin:$PATH"; fi
        done
        export PATH
      '';
      runCommand = name: env: buildCommand: derivation (env // {
        inherit name system buildCommand;
        builder = "/bin/sh";
        args = [ "-c" (prologue + ''eval "$buildCommand"'') ];
      });
      mkDerivation = attrs: derivation (builtins.removeAttrs attrs [ "meta" "passthru" ] // {
        name = attrs.name or "${attrs.pname}-${attrs.version}";
        inherit system;
        builder = "/bin/sh";
        doCheck = attrs.doCheck or false;
        args = [ "-c" (prologue + ''
          runHook() { :; }
          if [ -n "''${src-}" ]; then cp -R "$src" source; chmod -R u+w source; cd source; fi
          eval "''${buildPhase-}"
          if [ -n "$doCheck" ]; then eval "''${checkPhase-}"; fi
          eval "''${installPhase-}"
        '') ];
      }) // (attrs.passthru or { });
      # A shell environment only (`nix develop`); building it just records its inputs.
      mkShell = { name ? "shell", packages ? [ ], ... }:
        runCommand name { inherit packages; } ''echo "$packages" > $out'';
      hostTool = name: exe: runCommand "${name}-host" { } ''
        mkdir -p $out/bin
        ln -s ${exe} $out/bin/${name}
      '';
      python3 = hostTool "python3" "/usr/bin/python3";
      # No Nix formatter offline: `nix fmt` says so instead of pretending.
      nixfmt-rfc-style = runCommand "nixfmt-stub" { } ''
        mkdir -p $out/bin
        printf '#!/bin/sh\necho "offline stub nixpkgs: no formatter (use real nixpkgs)" >&2\nexit 1\n' > $out/bin/nixfmt
        chmod +x $out/bin/nixfmt
      '';
      writeShellScript = name: text: runCommand name { inherit text; } ''
        printf '#!/bin/sh\n%s\n' "$text" > $out
        chmod +x $out
      '';
      # NOT a vendor directory: the lock file alone (nothing can be fetched offline).
      importCargoLock = { lockFile, ... }: runCommand "cargo-vendor-dir" { inherit lockFile; } ''
        mkdir -p $out
        cp "$lockFile" $out/Cargo.lock
      '';
      # NOT a compiler: installs the executables `cargo build --release` already put in
      # $src/<prebuiltDir> (the flake's source filter keeps them; a git flake sees them only
      # after `git add -N -f`). They are linked against the host glibc, which the sandbox has.
      # A build that installs something else (kiln's dependencies-only build: its own
      # installPhase) gets an empty target/ where cargo would have left its work.
      buildRustPackage = { pname, version, src, cargoLock ? { },
          prebuiltDir ? "target/release", ... }@args:
        assert cargoLock ? lockFile -> builtins.pathExists cargoLock.lockFile;
        mkDerivation (builtins.removeAttrs args [ "cargoLock" "cargoTestFlags" ] // {
          inherit prebuiltDir;
          buildPhase = "mkdir -p target";
        } // (if args ? installPhase then { } else {
          installPhase = ''
            mkdir -p $out/bin
            for f in "$prebuiltDir"/*; do
              if [ -f "$f" ] && [ -x "$f" ]; then cp "$f" $out/bin/; fi
            done
            if [ -z "$(ls $out/bin)" ]; then
              echo "stub buildRustPackage: no executable in $prebuiltDir (cargo build --release, then git add -N -f them?)" >&2
              exit 1
            fi
          '';
        }));
    in {
      inherit lib;
      legacyPackages.${system} = {
        inherit lib runCommand mkShell python3 nixfmt-rfc-style writeShellScript;
        stdenv.mkDerivation = mkDerivation;
        rustPlatform = { inherit buildRustPackage importCargoLock; };
      };
    };
}
