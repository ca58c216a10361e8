//! kiln: the umbrella command. Each subcommand is a thin front end over one library module,
//! whose arguments and flow live in `kiln::cmd`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kiln::cli;

#[derive(Parser)]
#[command(name = "kiln", version, about = "Build, scan and preview a web app's production dist")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The whole pipeline in-process: SRC → dist (asok-compatible flags).
    Build(kiln::cmd::build::BuildArgs),
    /// Find asset blocks and static_url calls in templates; write block JSON or a Bazel file.
    Scan(kiln::cmd::scan::ScanArgs),
    /// Drop-in for Assetman's compiler: scan, compile blocks, rewrite templates, write manifest.
    #[command(name = "assetman-compile")]
    AssetmanCompile(kiln::cmd::assetman_compile::CompileArgs),
    /// Preview a dist: static files in the three Assetman URL forms, and optionally the WSGI app.
    Serve(kiln::cmd::serve::ServeArgs),
}

fn main() -> ExitCode {
    let cli: Cli = match cli::parse() {
        Ok(c) => c,
        Err(code) => return code,
    };
    match cli.command {
        Command::Build(args) => kiln::cmd::build::main(args),
        Command::Scan(args) => kiln::cmd::scan::main(args),
        Command::AssetmanCompile(args) => kiln::cmd::assetman_compile::main(args),
        Command::Serve(args) => kiln::cmd::serve::main(args),
    }
}
