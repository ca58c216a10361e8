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
      mkDistWith = pkgs: kiln: features: import ./rules/nix/mkdist.nix { inherit pkgs kiln features; };
      features = import ./rules/nix/features.nix;
    in
    {
      packages = forAll (system: pkgs: rec {
        kiln = kilnFor pkgs;
        # examples/shop, as `kiln build examples/shop` builds it (its .env asks for WebP).
        dist = mkDistWith pkgs kiln features { src = ./examples/shop; pname = "shop"; imageOptimization = true; };
        # examples/asok-blog, as `kiln build examples/asok-blog` builds it (asok's layout; its .env
        # asks for WebP).
        asok-blog = mkDistWith pkgs kiln features {
          src = ./examples/asok-blog; pname = "asok-blog"; framework = "asok"; imageOptimization = true;
        };
        default = kiln;
      });

      # lib.mkDist { src = ./.; pname = "myapp"; } for your own app; see rules/nix/mkdist.nix.
      # `kiln` and `features` (rules/nix/features.nix) may be replaced, e.g. by a newer kiln.
      lib.mkDist = { system ? "x86_64-linux", pkgs ? nixpkgs.legacyPackages.${system}
        , kiln ? kilnFor pkgs, features ? self.lib.features, ... }@args:
        mkDistWith pkgs kiln features (builtins.removeAttrs args [ "system" "pkgs" "kiln" "features" ]);
      lib.features = features;

      checks = forAll (system: pkgs: {
        inherit (self.packages.${system}) kiln dist asok-blog;
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
