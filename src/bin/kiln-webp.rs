//! kiln-webp: JPEG/PNG/GIF → WebP, many images in one process, in parallel; the partial
//! manifest records `original → .webp` renames (with --replace) so references follow them.

use std::process::ExitCode;

fn main() -> ExitCode {
    match kiln::cli::parse::<kiln::cmd::webp::Args>() {
        Ok(args) => kiln::cmd::webp::main(args),
        Err(code) => code,
    }
}
