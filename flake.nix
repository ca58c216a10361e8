{
  description = "kiln: deterministic build actions that turn a web app's source tree into a content-addressed dist";

  # Offline tests replace it: --override-input nixpkgs path:./tests/offline/nixpkgs (README, Nix).
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";

  outputs = { self, nixpkgs }:
    let
      # The systems the given nixpkgs has (the offline stub has x86_64-linux only).
      systems = builtins.filter (s: nixpkgs.legacyPackages ? ${s})
        [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAll = f: builtins.listToAttrs (map
        (system: { name = system; value = f system nixpkgs.legacyPackages.${system}; })
        systems);
      kilnFor = pkgs: import ./rules/nix/kiln.nix { inherit (pkgs) rustPlatform python3; src = ./.; };
      mkDistWith = pkgs: kiln: import ./rules/nix/mkdist.nix { inherit pkgs kiln; };
    in
    {
      packages = forAll (system: pkgs: rec {
        kiln = kilnFor pkgs;
        # examples/shop, as `kiln build examples/shop` builds it (its .env asks for WebP).
        dist = mkDistWith pkgs kiln { src = ./examples/shop; pname = "shop"; imageOptimization = true; };
        default = kiln;
      });

      # lib.mkDist { src = ./.; pname = "myapp"; } for your own app; see rules/nix/mkdist.nix.
      lib.mkDist = { system ? "x86_64-linux", pkgs ? nixpkgs.legacyPackages.${system}, kiln ? kilnFor pkgs, ... }@args:
        mkDistWith pkgs kiln (builtins.removeAttrs args [ "system" "pkgs" "kiln" ]);

      checks = forAll (system: pkgs: {
        inherit (self.packages.${system}) kiln dist;
        dist-serves = import ./rules/nix/check-dist.nix { inherit pkgs; dist = self.packages.${system}.dist; };
      });

      devShells = forAll (system: pkgs: {
        default = pkgs.mkShell {
          inputsFrom = [ self.packages.${system}.kiln ];
          packages = [ self.packages.${system}.kiln pkgs.python3 ];
        };
      });

      formatter = forAll (system: pkgs: pkgs.nixfmt-rfc-style);
    };
}
