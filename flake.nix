{
  description = "kiln: deterministic build actions that turn a web app's source tree into a content-addressed dist";

  # NixOS 26.05 (supported until the end of 2026), pinned in flake.lock; its rustc is newer than
  # Cargo.toml's rust-version. Offline tests replace it: --override-input nixpkgs
  # path:./tests/offline/nixpkgs (README, Nix).
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";

  outputs = { self, nixpkgs }:
    let
      # The systems the given nixpkgs has (the offline stub has x86_64-linux only).
      systems = builtins.filter (s: nixpkgs.legacyPackages ? ${s})
        [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAll = f: builtins.listToAttrs (map
        (system: { name = system; value = f system nixpkgs.legacyPackages.${system}; })
        systems);
      features = import ./rules/nix/features.nix;
      mkKiln = pkgs: import ./rules/nix/kiln.nix { inherit pkgs; src = ./.; };
      # mkDist { pkgs, src, … }: see rules/nix/mkdist.nix for the rest of the arguments.
      mkDist = { pkgs, kiln ? mkKiln pkgs, features ? self.lib.features, ... }@args:
        import ./rules/nix/mkdist.nix { inherit pkgs kiln features; }
          (builtins.removeAttrs args [ "pkgs" "kiln" "features" ]);
    in
    {
      # For your own app (README, "Use kiln in your repository"):
      #   kiln.lib.mkDist { inherit pkgs; src = ./.; }
      # `kiln` (lib.mkKiln pkgs, by default) and `features` (rules/nix/features.nix) may be replaced.
      lib = { inherit mkDist mkKiln features; };

      # pkgs.kiln, and pkgs.kilnMkDist { src = ./.; } (mkDist with this pkgs).
      overlays.default = final: prev: {
        kiln = mkKiln final;
        kilnMkDist = args: mkDist ({ pkgs = final; } // args);
      };

      packages = forAll (system: pkgs: rec {
        kiln = mkKiln pkgs;
        # examples/shop, as `kiln build examples/shop` builds it (its .env asks for WebP).
        dist = mkDist { inherit pkgs kiln; src = ./examples/shop; pname = "shop"; };
        # examples/asok-blog, as `kiln build examples/asok-blog` builds it (asok's layout).
        asok-blog = mkDist { inherit pkgs kiln; src = ./examples/asok-blog; pname = "asok-blog"; framework = "asok"; };
        default = kiln;
      });

      # `nix run .#serve`: the example shop's dist, previewed with `kiln serve` (its WSGI app too:
      # SECRET_KEY=… nix run .#serve). Extra arguments go to `kiln serve`.
      apps = forAll (system: pkgs:
        let p = self.packages.${system}; in {
          serve = {
            type = "app";
            program = toString (pkgs.writeShellScript "kiln-serve-shop" ''
              exec ${p.kiln}/bin/kiln serve ${p.dist} --app wsgi:app --python ${pkgs.python3}/bin/python3 "$@"
            '');
          };
          default = { type = "app"; program = "${p.kiln}/bin/kiln"; };
        });

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
