//! kiln-minify: JS (swc), CSS (lightningcss) and HTML templates (minify-html, template syntax
//! kept). Many files in one process, in parallel, or `--concat` for an asset block.

use std::process::ExitCode;

fn main() -> ExitCode {
    match kiln::cli::parse::<kiln::cmd::minify::Args>() {
        Ok(args) => kiln::cmd::minify::main(args),
        Err(code) => code,
    }
}
