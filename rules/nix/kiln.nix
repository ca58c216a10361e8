# The kiln executables, built by nixpkgs' rustPlatform from Cargo.toml and Cargo.lock.
{ rustPlatform, python3, src }:
let
  cargoToml = builtins.fromTOML (builtins.readFile (src + "/Cargo.toml"));
in
rustPlatform.buildRustPackage {
  pname = "kiln";
  inherit (cargoToml.package) version;
  src = (import ./source.nix).crate { inherit src; };
  cargoLock.lockFile = src + "/Cargo.lock";
  # The integration tests need tornado, node and the npm registry, which the sandbox lacks:
  # Nix runs the unit tests (kiln-pyc-wrap's need python3); CI runs all (`bash .ci/run`).
  cargoTestFlags = [ "--lib" ];
  nativeCheckInputs = [ python3 ];
  meta = {
    inherit (cargoToml.package) description;
    mainProgram = "kiln";
  };
}
