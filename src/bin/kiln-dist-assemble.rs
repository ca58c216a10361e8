//! kiln-dist-assemble: lays out a dist from `dest<TAB>src` lines, as a directory swapped in whole
//! or a deterministic archive (.tar.zst, .tar.gz, .zip).

use std::process::ExitCode;

use kiln::cmd::assemble::{main as run, AssembleArgs};

fn main() -> ExitCode {
    match kiln::cli::parse::<AssembleArgs>() {
        Ok(args) => run(args),
        Err(code) => code,
    }
}
