//! `kiln build` and `kiln-dist-assemble`: the whole pipeline, and the deterministic dist layout.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct BuildArgs {}

pub fn build_main(_args: BuildArgs) -> ExitCode {
    crate::cli::fail(["kiln build: not implemented yet"])
}
