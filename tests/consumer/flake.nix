# An app's flake that builds its dist with kiln (README, "Use kiln in your repository"). It sits
# at the app's root (tests/nix.rs copies it into a copy of examples/shop, and points the kiln
# input at this checkout and nixpkgs at the offline stub with --override-input).
{
  inputs.kiln.url = "github:OWNER/kiln"; # wherever you get kiln from
  inputs.nixpkgs.follows = "kiln/nixpkgs"; # or your own nixpkgs (26.05 or newer)

  outputs = { self, kiln, nixpkgs }:
    let
      pkgs = nixpkgs.legacyPackages.x86_64-linux;
    in
    {
      # The app's production dist, as `kiln build .` makes it (IMAGE_OPTIMIZATION from .env).
      packages.x86_64-linux.default = kiln.lib.mkDist { inherit pkgs; src = ./.; };
      # The same through the overlay: pkgs.kiln and pkgs.kilnMkDist.
      packages.x86_64-linux.from-overlay =
        let kpkgs = pkgs // kiln.overlays.default kpkgs pkgs; in kpkgs.kilnMkDist { src = ./.; };
    };
}
