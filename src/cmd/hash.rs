//! kiln-hash: versions assets (md5 of content + dependencies' versions), rewrites stylesheet
//! references to versioned URLs, and writes the versioned copies, their precompressed twins and
//! a partial manifest. Nothing is written unless the whole batch succeeds.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::fsutil::{self, EntryKind, Staged};
use crate::hash::block::{self, BlockOptions};
use crate::hash::{self, Compression, HashOptions, Input, UrlStyle};
use crate::minify::{self, MinifyOptions};
use crate::scan::BlockKind;
use crate::{cli, manifest};
use clap::{Parser, ValueEnum};

#[derive(Clone, Copy, ValueEnum)]
enum Style {
    Filename,
    Assetman,
    Source,
}

#[derive(Parser)]
#[command(version, about = "Version assets and write a partial manifest")]
pub struct Args {
    /// Static root(s): an input's manifest key is its path relative to the first root containing it.
    #[arg(long = "root", required = true, value_name = "DIR")]
    roots: Vec<PathBuf>,
    /// Partial manifest(s) of dependencies that are not in this batch.
    #[arg(long = "dep", value_name = "PARTIAL.json")]
    deps: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "filename")]
    url_style: Style,
    /// URL prefix the static root is served under; absolute references under it are rewritten.
    #[arg(long, default_value = "/s/")]
    prefix: String,
    /// Absolute URLs written into outputs use this prefix instead (e.g. https://cdn.example/s/).
    #[arg(long, value_name = "URL")]
    cdn_prefix: Option<String>,
    /// Also write .br/.gz/.zst twins (kept only when at most 95% of the original): `--compress`
    /// is `--compress=fast` (brotli 5, zstd 9); `--compress=max` is brotli 11, zstd 19.
    #[arg(long, value_enum, value_name = "LEVEL", num_args = 0..=1, require_equals = true, default_value = "off", default_missing_value = "fast")]
    compress: Compression,
    /// Compile the inputs, in order, as ONE asset block of this kind (concatenated, minified,
    /// versioned from the constituents' versions in the --dep manifests) → f/<namehash>.<v12>.<ext>.
    #[arg(long, value_enum, value_name = "KIND")]
    block: Option<BlockKind>,
    /// LESS compiler for `--block less` (a toolchain input).
    #[arg(long, value_name = "PATH")]
    lessc: Option<PathBuf>,
    /// Browser targets for stylesheet bundles (a browserslist query), as kiln-minify's.
    #[arg(long, value_name = "QUERY", default_value = "defaults")]
    targets: String,
    /// Version every file under the roots (sorted walk; dotfiles skipped; symlinks out refused).
    #[arg(long)]
    all: bool,
    /// Output directory for the versioned files.
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    out: PathBuf,
    /// Where to write the partial manifest.
    #[arg(long, value_name = "FILE")]
    partial: PathBuf,
    /// Assets to version (paths inside a root); `@FILE` reads them from a params file.
    inputs: Vec<PathBuf>,
}

pub fn main(args: Args) -> ExitCode {
    if let Some(msg) = output_problem(&args) {
        return cli::usage(msg);
    }
    let mut errors: Vec<String> = Vec::new();
    let mut inputs: Vec<Input> = Vec::new();
    for path in &args.inputs {
        match args.roots.iter().find_map(|r| fsutil::rel_to_root(r, path).ok()) {
            Some(key) => inputs.push(Input { key, path: path.clone(), bytes: None }),
            None => errors.push(format!("{}: path escapes every --root", fsutil::display(path))),
        }
    }
    if args.all {
        for root in &args.roots {
            match fsutil::walk(root, &|rel, _| rel.rsplit('/').next().is_some_and(|n| n.starts_with('.'))) {
                Ok(entries) => {
                    for e in entries {
                        match e.kind {
                            EntryKind::LinkOutside => {
                                errors.push(format!("{}: symlink points outside the root {}", fsutil::display(&e.path), fsutil::display(root)))
                            }
                            _ => inputs.push(Input { key: e.rel, path: e.path, bytes: None }),
                        }
                    }
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
    }
    if args.block.is_none() {
        inputs.sort_by(|a, b| a.key.cmp(&b.key));
        inputs.dedup_by(|a, b| a.key == b.key);
    }
    let mut known = manifest::Manifest::default();
    for dep in &args.deps {
        let name = fsutil::display(dep);
        match fsutil::read(dep).map_err(|e| e.to_string()).and_then(|b| manifest::parse(&name, &b).map_err(|e| e.to_string())) {
            Ok(m) => {
                known.assets.extend(m.assets);
                known.renames.extend(m.renames);
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return cli::fail(errors);
    }
    let opts = HashOptions {
        url_style: match args.url_style {
            Style::Filename => UrlStyle::Filename,
            Style::Assetman => UrlStyle::Assetman,
            Style::Source => UrlStyle::Source,
        },
        prefix: args.prefix.clone(),
        compress: args.compress,
        cdn_prefix: args.cdn_prefix.clone(),
    };
    if let Some(kind) = args.block {
        let mut mopts = MinifyOptions::default();
        match minify::css::targets(&args.targets) {
            Ok(t) => mopts.targets = t,
            Err(e) => return cli::usage(format!("--targets {}: {e}", args.targets)),
        }
        // The block's files as named (a sandbox presents them as symlinks).
        let given = inputs.iter().map(|i| (i.key.clone(), i.path.clone())).collect();
        let bopts = BlockOptions { hash: opts, minify: mopts, lessc: args.lessc.clone(), given, pieces: None };
        let paths: Vec<String> = inputs.iter().map(|i| i.key.clone()).collect();
        let root = &args.roots[0];
        let compiled = match block::compile_block(kind, &paths, root, &known, &bopts) {
            Ok(c) => c,
            Err(errs) => return cli::fail(errs),
        };
        let mut staged = Staged::new();
        for (rel, bytes) in &compiled.outputs {
            staged.add(args.out.join(rel), bytes.clone());
        }
        let mut partial = manifest::Manifest::default();
        partial.blocks.insert(compiled.key.clone(), compiled.entry.clone());
        staged.add(args.partial.clone(), fsutil::stable_json(&partial));
        return match staged.commit() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => cli::fail([e]),
        };
    }
    let hashed = match hash::hash_batch(&inputs, &known, &opts) {
        Ok(h) => h,
        Err(errs) => return cli::fail(errs),
    };
    let mut staged = Staged::new();
    for h in &hashed {
        for (rel, bytes) in &h.outputs {
            staged.add(args.out.join(rel), bytes.clone());
        }
    }
    staged.add(args.partial.clone(), fsutil::stable_json(&hash::partial(&hashed)));
    match staged.commit() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => cli::fail([e]),
    }
}

/// Outputs must never land in (or wrap) an input root: that would overwrite sources.
fn output_problem(args: &Args) -> Option<String> {
    for root in &args.roots {
        if fsutil::overlaps(&args.out, root) {
            return Some(format!("output directory {} overlaps the input root {}", fsutil::display(&args.out), fsutil::display(root)));
        }
        if fsutil::overlaps(&args.partial, root) {
            return Some(format!("partial manifest {} is inside the input root {}", fsutil::display(&args.partial), fsutil::display(root)));
        }
    }
    None
}
