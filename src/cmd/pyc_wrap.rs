//! kiln-pyc-wrap: compiles .py to reproducible .pyc with a given interpreter. Sourceless
//! `mod.pyc` beside where `mod.py` was (default) or `.py` + `__pycache__/mod.<tag>.pyc`
//! (--keep-source). Excluded sources (e.g. migrations) are copied as source.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli;
use crate::fsutil::{self, Staged};
use crate::pyc::{self, Compiler, Invalidation, PycOptions, Source};
use clap::{Parser, ValueEnum};
use globset::{Glob, GlobSetBuilder};

#[derive(Clone, Copy, ValueEnum)]
enum Inval {
    UncheckedHash,
    CheckedHash,
    Timestamp,
}

#[derive(Parser)]
#[command(version, about = "Compile Python sources to reproducible bytecode")]
pub struct Args {
    /// The interpreter to compile with (a toolchain input). Without it, python3 from PATH is used
    /// and named on stderr; inside a Nix build it is required.
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
    /// App root: `co_filename` and output paths are relative to it.
    #[arg(long, value_name = "DIR")]
    root: PathBuf,
    /// Keep each .py and write __pycache__/mod.<tag>.pyc beside it.
    #[arg(long)]
    keep_source: bool,
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    optimize: u8,
    #[arg(long, value_enum, default_value = "unchecked-hash")]
    invalidation: Inval,
    /// Sources matching this glob (relative to --root) are copied as source, e.g. 'src/migrations/**'.
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Write the files that compiled, list every failure, and still exit 1.
    #[arg(long)]
    keep_going: bool,
    /// Compiler workers (default: available cores).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    out: PathBuf,
    /// Python sources inside --root; `@FILE` reads them from a params file.
    inputs: Vec<PathBuf>,
}

pub fn main(args: Args) -> ExitCode {
    if fsutil::overlaps(&args.out, &args.root) {
        return cli::usage(format!("output directory {} overlaps the app root {}", fsutil::display(&args.out), fsutil::display(&args.root)));
    }
    let mut globs = GlobSetBuilder::new();
    for g in &args.exclude {
        match Glob::new(g) {
            Ok(g) => {
                globs.add(g);
            }
            Err(e) => return cli::usage(format!("--exclude {g}: {e}")),
        }
    }
    let Ok(globs) = globs.build() else { return cli::usage("bad --exclude globs") };
    let mut errors = Vec::new();
    let (mut compile, mut copy) = (Vec::new(), Vec::new());
    for path in &args.inputs {
        match fsutil::rel_to_root(&args.root, path) {
            Ok(key) if globs.is_match(&key) => copy.push(Source { key, path: path.clone() }),
            Ok(key) => compile.push(Source { key, path: path.clone() }),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        return cli::fail(errors);
    }
    let python = match &args.python {
        Some(p) => p.clone(),
        None if std::env::var_os("NIX_BUILD_TOP").is_some() => {
            return cli::usage("--python is required inside a Nix build (the interpreter is a toolchain input)")
        }
        None => PathBuf::from("python3"),
    };
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let jobs = jobs.min(compile.len().max(1));
    let compiler = match Compiler::start(&python, jobs) {
        Ok(c) => c,
        Err(e) => return cli::fail([e]),
    };
    if args.python.is_none() {
        eprintln!(
            "kiln-pyc-wrap: no --python given; using {} (Python {}) from PATH",
            fsutil::display(&compiler.info.executable),
            compiler.info.version
        );
    }
    let opts = PycOptions {
        optimize: args.optimize,
        invalidation: match args.invalidation {
            Inval::UncheckedHash => Invalidation::UncheckedHash,
            Inval::CheckedHash => Invalidation::CheckedHash,
            Inval::Timestamp => Invalidation::Timestamp,
        },
        keep_source: args.keep_source,
    };
    let (files, failures) = pyc::layout(&compiler, &compile, &copy, &opts);
    let mut staged = Staged::new();
    for (rel, bytes) in files {
        staged.add(args.out.join(rel), bytes);
    }
    cli::finish_batch(staged, failures, args.keep_going)
}
