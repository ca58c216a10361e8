//! kiln-hash: versions assets (md5 of content + dependencies' versions), rewrites stylesheet
//! references to versioned URLs, and writes the versioned copies, their precompressed twins and
//! a partial manifest. Nothing is written unless the whole batch succeeds.

use std::process::ExitCode;

fn main() -> ExitCode {
    match kiln::cli::parse::<kiln::cmd::hash::Args>() {
        Ok(args) => kiln::cmd::hash::main(args),
        Err(code) => code,
    }
}
