# Which kiln tools mkDist may call yet. Each switch turns on the step written against its
# docs/design.md §8 contract; while a tool is still a stub, its switch is false and mkDist runs
# the documented interim instead (the dist then differs from `kiln build`, and tests/nix.rs's
# byte-identity test says so). Flip a switch in the same commit that lands the tool.
{
  # kiln-webp --replace (step 2). Off: imageOptimization is ignored, with a warning at eval time.
  webp = true;
  # kiln scan + kiln-hash --block (step 4). Off: no asset blocks are compiled.
  blocks = true;
  # kiln-minify --manifest --prefix (step 6). Off: templates are minified but not rewritten.
  templateRewrite = true;
  # kiln-dist-assemble --params --env-production (step 8). Off: the same params are laid out
  # with cp, and no .env.production is written.
  assemble = true;
}
