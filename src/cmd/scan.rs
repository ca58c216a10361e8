//! `kiln scan`: the asset blocks and static_url calls of templates, as JSON or as a Bazel file
//! of `kiln_asset_block` targets (`--check`: fail when the file on disk is stale).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::fsutil;
use crate::scan::{bazel_file, block_defs, check_paths, scan_dirs, scan_json};

#[derive(clap::Args)]
pub struct ScanArgs {
    /// Template directories to scan (sorted walk; dotfiles skipped).
    #[arg(required = true, value_name = "TEMPLATE_DIR")]
    pub template_dirs: Vec<PathBuf>,
    /// The static root that block paths and static_url paths are relative to.
    #[arg(long, value_name = "DIR")]
    pub static_root: PathBuf,
    /// Template file extensions.
    #[arg(long = "template-ext", default_value = "html", value_delimiter = ',')]
    pub template_ext: Vec<String>,
    /// Write the block JSON here instead of stdout.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write a Starlark file of `kiln_asset_block` targets (paths relative to its directory).
    #[arg(long, value_name = "FILE.bzl")]
    pub bazel: Option<PathBuf>,
    /// With --bazel or -o: write nothing; fail when the file is not what scan would write.
    #[arg(long)]
    pub check: bool,
}

pub fn main(args: ScanArgs) -> ExitCode {
    let templates = match scan_dirs(&args.template_dirs, &args.template_ext) {
        Ok(t) => t,
        Err(e) => return crate::cli::fail(e),
    };
    let problems = check_paths(&templates, &args.static_root, None);
    if !problems.is_empty() {
        return crate::cli::fail(problems);
    }
    let mut outputs: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    if let Some(bzl) = &args.bazel {
        let Some(pkg) = fsutil::absolute_lexical(bzl).ok().and_then(|p| p.parent().map(Path::to_path_buf)) else {
            return crate::cli::usage(format!("--bazel {}: no parent directory", fsutil::display(bzl)));
        };
        let root_rel = match fsutil::rel_to_root(&pkg, &args.static_root) {
            Ok(r) => r,
            Err(_) => {
                return crate::cli::usage(format!(
                    "the static root {} is not inside the package directory {} of --bazel",
                    fsutil::display(&args.static_root),
                    fsutil::display(&pkg)
                ))
            }
        };
        let root_rel = if root_rel == "." { String::new() } else { root_rel };
        outputs.push((bzl.clone(), bazel_file(&block_defs(&templates), &root_rel).into_bytes()));
    }
    let json = fsutil::stable_json(&scan_json(&templates));
    match &args.out {
        Some(p) => outputs.push((p.clone(), json)),
        None if !args.check && args.bazel.is_none() => {
            use std::io::Write;
            let _ = std::io::stdout().write_all(&json);
        }
        None => {}
    }
    if args.check {
        let stale: Vec<String> = outputs
            .iter()
            .filter(|(p, want)| std::fs::read(p).ok().as_ref() != Some(want))
            .map(|(p, _)| format!("{}: stale; regenerate it with kiln scan (without --check)", fsutil::display(p)))
            .collect();
        return if stale.is_empty() { ExitCode::SUCCESS } else { crate::cli::fail(stale) };
    }
    for (p, bytes) in outputs {
        if let Err(e) = fsutil::atomic_write(&p, &bytes) {
            return crate::cli::fail([e]);
        }
    }
    ExitCode::SUCCESS
}
