//! `kiln scan` and `kiln assetman-compile`: asset blocks and static_url calls found in templates.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ScanArgs {}

#[derive(clap::Args)]
pub struct CompileArgs {}

pub fn scan_main(_args: ScanArgs) -> ExitCode {
    crate::cli::fail(["kiln scan: not implemented yet"])
}

pub fn compile_main(_args: CompileArgs) -> ExitCode {
    crate::cli::fail(["kiln assetman-compile: not implemented yet"])
}
