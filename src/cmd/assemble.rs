//! `kiln-dist-assemble`: lays out a dist from `dest<TAB>src` lines, as a directory swapped in
//! whole or a deterministic archive.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::assemble::{env_production, files_from_params, output_kind, replaceable, write_dist, DistFile, OutputKind};
use crate::fsutil;

#[derive(clap::Parser)]
#[command(name = "kiln-dist-assemble", version, about = "Lay out a dist (directory or deterministic archive)")]
pub struct AssembleArgs {
    /// File of `dest<TAB>src` lines (src relative to the current directory).
    #[arg(long, value_name = "FILE")]
    pub params: PathBuf,
    /// Also write the generated `.env.production`.
    #[arg(long)]
    pub env_production: bool,
    /// A directory, or an archive: `.tar.zst`, `.tar.gz`, `.zip`.
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    pub out: PathBuf,
}

pub fn main(args: AssembleArgs) -> ExitCode {
    let text = match fsutil::read(&args.params).map(String::from_utf8) {
        Ok(Ok(t)) => t,
        Ok(Err(_)) => return crate::cli::fail([format!("{}: params file is not UTF-8", fsutil::display(&args.params))]),
        Err(e) => return crate::cli::fail([e]),
    };
    let mut files = match files_from_params(&text, Path::new(".")) {
        Ok(f) => f,
        Err(e) => return crate::cli::fail(e),
    };
    if args.env_production {
        if files.iter().any(|f| f.dest == ".env.production") {
            return crate::cli::fail([".env.production: given in the params and by --env-production"]);
        }
        files.push(DistFile { dest: ".env.production".into(), content: env_production().into(), executable: false });
    }
    if output_kind(&args.out) == OutputKind::Dir && args.out.is_dir() && !replaceable(&args.out) {
        return crate::cli::usage(format!("refusing to replace {}: it exists and is not a kiln dist", fsutil::display(&args.out)));
    }
    match write_dist(&args.out, &files) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => crate::cli::fail([e]),
    }
}
