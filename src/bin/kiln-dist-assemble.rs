//! kiln-dist-assemble: lays out a dist from `dest<TAB>src` lines, as a directory swapped in whole
//! or a deterministic archive (.tar.zst, .tar.gz, .zip).

use std::process::ExitCode;

use kiln::{cli, dist};

fn main() -> ExitCode {
    match cli::parse::<dist::AssembleArgs>() {
        Ok(args) => dist::assemble_main(args),
        Err(code) => code,
    }
}
