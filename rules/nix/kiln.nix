# The kiln executables, built by nixpkgs' rustPlatform in three derivations:
#
#   vendor  the crates of Cargo.lock (importCargoLock: one fixed-output derivation per crate)
#   deps    those crates compiled: Cargo.toml, Cargo.lock and build.rs with empty kiln sources,
#           `cargo build --release`, its target/ kept (crane's "deps only" idea)
#   kiln    the real sources, built on a copy of deps' target/: cargo finds every dependency
#           fresh and compiles kiln alone
#
# so an edit of src/ rebuilds `kiln` only (seconds to minutes), never the ~400 dependencies,
# whose derivation depends on Cargo.toml, Cargo.lock and build.rs alone.
{ pkgs, src }:
let
  inherit (pkgs) rustPlatform python3;
  source = import ./source.nix;
  # Cargo.toml, Cargo.lock and build.rs as their own store path: read from there (not from
  # `src + "/Cargo.lock"`, which in a flake is a file inside the whole source's store path, so
  # that its every edit would change the vendor and deps derivations too).
  manifests = source.manifests { inherit src; };
  cargoToml = builtins.fromTOML (builtins.readFile "${manifests}/Cargo.toml");
  inherit (cargoToml.package) version;
  bins = map (b: b.name) (cargoToml.bin or [ ]);
  vendor = rustPlatform.importCargoLock { lockFile = "${manifests}/Cargo.lock"; };

  # The manifests, with an empty library and `fn main() {}` per binary.
  depsSource = pkgs.runCommand "kiln-deps-source" { } ''
    mkdir -p $out/src/bin
    cp ${manifests}/* $out/
    : > $out/src/lib.rs
    for b in ${toString bins}; do echo 'fn main() {}' > "$out/src/bin/$b.rs"; done
  '';

  common = {
    inherit version;
    cargoDeps = vendor;
    # build.rs links the binaries with -no-pie (it says why); the cc wrapper must not add -pie.
    hardeningDisable = [ "pie" ];
  };

  deps = rustPlatform.buildRustPackage (common // {
    pname = "kiln-deps";
    src = depsSource;
    doCheck = false;
    installPhase = ''
      runHook preInstall
      mkdir -p $out
      cp -r target $out/target
      runHook postInstall
    '';
  });
in
rustPlatform.buildRustPackage (common // {
  pname = "kiln";
  src = source.crate { inherit src; };
  # Start from the dependencies' build. The empty kiln of `deps` must not count as fresh: its
  # fingerprints go (the real sources keep the store's mtime, older than any artifact).
  preBuild = ''
    cp -r ${deps}/target target
    chmod -R u+w target
    find target -path '*/release/*' \( -name 'kiln*' -o -name 'libkiln*' \) -prune -exec rm -rf {} +
  '';
  # The integration tests need tornado, node and the npm registry, which the sandbox lacks:
  # Nix runs the unit tests (kiln-pyc-wrap's need python3); CI runs all (`bash .ci/run`).
  cargoTestFlags = [ "--lib" ];
  nativeCheckInputs = [ python3 ];
  passthru = { inherit deps vendor; };
  meta = {
    inherit (cargoToml.package) description;
    mainProgram = "kiln";
  };
})
