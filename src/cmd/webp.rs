//! kiln-webp: JPEG/PNG/GIF → WebP, many images in one process, in parallel; the partial
//! manifest records `original → .webp` renames (with --replace) so references follow them.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli;
use crate::fsutil::{self, Staged};
use crate::manifest::Manifest;
use crate::webp::{self, Job, WebpOptions};
use clap::Parser;

#[derive(Parser)]
#[command(version, about = "Convert JPEG, PNG and GIF images to WebP, deterministically")]
pub struct Args {
    /// Lossy quality 0–100; with --lossless (and for GIFs, which are always lossless) the
    /// compression effort, as cwebp's -q.
    #[arg(short = 'q', long, default_value_t = 80.0, value_parser = quality)]
    quality: f32,
    /// Lossless WebP for every input.
    #[arg(long)]
    lossless: bool,
    /// Near-lossless preprocessing level 0–100 (100 = off, lower = smaller); implies --lossless.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=100))]
    near_lossless: Option<u8>,
    /// Write only the WebP when it is smaller than the original (and record the rename); keep
    /// only the original otherwise. Without it, both are written and nothing is renamed.
    #[arg(long)]
    replace: bool,
    /// Refuse an image with more pixels than this, before decoding it (decompression bombs).
    #[arg(long, value_name = "N", default_value_t = webp::DEFAULT_MAX_PIXELS)]
    max_pixels: u64,
    /// Outputs keep their path relative to this directory.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Write the images that converted, list every failure, and still exit 1.
    #[arg(long)]
    keep_going: bool,
    /// Images encoded at once (default: available cores); each encode is single-threaded, so
    /// the bytes do not depend on it.
    #[arg(short = 'j', long, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// Output directory.
    #[arg(short = 'o', long = "out", value_name = "OUT_DIR")]
    out: PathBuf,
    /// Partial manifest to write (its `renames` section).
    #[arg(long, value_name = "FILE")]
    partial: PathBuf,
    /// Images inside --root; `@FILE` reads them from a params file.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

fn quality(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(q) if (0.0..=100.0).contains(&q) => Ok(q),
        _ => Err(format!("{s} is not a number from 0 to 100")),
    }
}

pub fn main(args: Args) -> ExitCode {
    // An output written over an input would replace a source.
    for input in &args.inputs {
        if fsutil::absolute_lexical(input).is_ok_and(|i| fsutil::overlaps(&i, &args.out)) {
            return cli::usage(format!("output directory {} contains the input {}", fsutil::display(&args.out), fsutil::display(input)));
        }
        if fsutil::absolute_lexical(input).ok() == fsutil::absolute_lexical(&args.partial).ok() {
            return cli::usage(format!("--partial {} is one of the inputs", fsutil::display(&args.partial)));
        }
    }
    let mut errors = Vec::new();
    let mut jobs: Vec<Job> = Vec::new();
    for input in &args.inputs {
        match fsutil::rel_to_root(&args.root, input) {
            // The same file named twice is one job.
            Ok(rel) if jobs.iter().any(|j| j.rel == rel) => {}
            Ok(rel) => jobs.push(Job { input: input.clone(), rel }),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        return cli::fail(errors);
    }
    let opts = WebpOptions { quality: args.quality, lossless: args.lossless, near_lossless: args.near_lossless, max_pixels: args.max_pixels };
    let threads = args.jobs.map(usize::from).unwrap_or(0); // 0: rayon's default, the available cores
    let pool = match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(p) => p,
        Err(e) => return cli::fail([format!("kiln-webp: cannot start worker threads: {e}")]),
    };
    let results = pool.install(|| webp::convert_batch(&jobs, &opts, args.replace));

    let mut staged = Staged::new();
    let mut partial = Manifest::default();
    let mut notes = Vec::new();
    let mut failures = Vec::new();
    for result in results {
        match result {
            Ok(c) => {
                for (rel, bytes) in c.files {
                    staged.add(args.out.join(rel), bytes);
                }
                if let Some((from, to)) = c.rename {
                    partial.renames.insert(from, to);
                }
                notes.extend(c.note);
            }
            Err(e) => failures.push(e),
        }
    }
    if failures.is_empty() || args.keep_going {
        for n in &notes {
            eprintln!("{n}");
        }
    }
    staged.add(args.partial.clone(), fsutil::stable_json(&partial));
    cli::finish_batch(staged, failures, args.keep_going)
}
