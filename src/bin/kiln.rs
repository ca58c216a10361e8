//! kiln: the umbrella command. Each subcommand is a thin front end over one library module,
//! whose `Args` and `run` live beside the code they drive.

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
    Build(kiln::dist::BuildArgs),
    /// Find asset blocks and static_url calls in templates; write block JSON or a Bazel file.
    Scan(kiln::scan::ScanArgs),
    /// Drop-in for Assetman's compiler: scan, compile blocks, rewrite templates, write manifest.
    #[command(name = "assetman-compile")]
    AssetmanCompile(kiln::scan::CompileArgs),
    /// Preview a dist: static files in the three Assetman URL forms, and optionally the WSGI app.
    Serve(kiln::serve::ServeArgs),
}

fn main() -> ExitCode {
    let cli: Cli = match cli::parse() {
        Ok(c) => c,
        Err(code) => return code,
    };
    match cli.command {
        Command::Build(args) => kiln::dist::build_main(args),
        Command::Scan(args) => kiln::scan::scan_main(args),
        Command::AssetmanCompile(args) => kiln::scan::compile_main(args),
        Command::Serve(args) => kiln::serve::serve_main(args),
    }
}
