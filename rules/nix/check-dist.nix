# A check that the example dist runs: the sourceless bytecode imports with the flake's python3
# and the WSGI app answers from the dist alone (no source tree, read-only store).
{ pkgs, dist }:
pkgs.runCommand "shop-dist-serves" { nativeBuildInputs = [ pkgs.python3 ]; } ''
  SECRET_KEY=nix-check python3 ${./shop_smoke.py} ${dist} > $out
''
