//! `kiln serve`: a preview server for a dist.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ServeArgs {}

pub fn serve_main(_args: ServeArgs) -> ExitCode {
    crate::cli::fail(["kiln serve: not implemented yet"])
}
