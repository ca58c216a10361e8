//! kiln-hash: versions assets (md5 of content + dependencies' versions), rewrites stylesheet
//! references to versioned URLs, and writes the versioned copies, their precompressed twins and
//! a partial manifest. Nothing is written unless the whole batch succeeds.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use kiln::fsutil::{self, EntryKind, Staged};
use kiln::hash::{self, HashOptions, Input, UrlStyle};
use kiln::{cli, manifest};

#[derive(Clone, Copy, ValueEnum)]
enum Style {
    Filename,
    Assetman,
}

#[derive(Parser)]
#[command(version, about = "Version assets and write a partial manifest")]
struct Args {
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
    /// Also write .br/.gz/.zst twins (kept only when at most 95% of the original).
    #[arg(long)]
    compress: bool,
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

fn main() -> ExitCode {
    let args: Args = match cli::parse() {
        Ok(a) => a,
        Err(code) => return code,
    };
    if let Some(msg) = output_problem(&args) {
        return cli::usage(msg);
    }
    let mut errors: Vec<String> = Vec::new();
    let mut inputs: Vec<Input> = Vec::new();
    for path in &args.inputs {
        match args.roots.iter().find_map(|r| fsutil::rel_to_root(r, path).ok()) {
            Some(key) => inputs.push(Input { key, path: path.clone() }),
            None => errors.push(format!("{}: path escapes every --root", fsutil::display(path))),
        }
    }
    if args.all {
        for root in &args.roots {
            match fsutil::walk(root, &|rel, _| rel.rsplit('/').next().is_some_and(|n| n.starts_with('.'))) {
                Ok(entries) => {
                    for e in entries {
                        match e.kind {
                            EntryKind::LinkOutside => errors.push(format!(
                                "{}: symlink points outside the root {}",
                                fsutil::display(&e.path),
                                fsutil::display(root)
                            )),
                            _ => inputs.push(Input { key: e.rel, path: e.path }),
                        }
                    }
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
    }
    inputs.sort_by(|a, b| a.key.cmp(&b.key));
    inputs.dedup_by(|a, b| a.key == b.key);
    let mut known = BTreeMap::new();
    for dep in &args.deps {
        let name = fsutil::display(dep);
        match fsutil::read(dep).map_err(|e| e.to_string()).and_then(|b| manifest::parse(&name, &b).map_err(|e| e.to_string())) {
            Ok(m) => known.extend(m.assets),
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
        },
        prefix: args.prefix.clone(),
        compress: args.compress,
    };
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
            return Some(format!(
                "output directory {} overlaps the input root {}",
                fsutil::display(&args.out),
                fsutil::display(root)
            ));
        }
        if fsutil::overlaps(&args.partial, root) {
            return Some(format!("partial manifest {} is inside the input root {}", fsutil::display(&args.partial), fsutil::display(root)));
        }
    }
    None
}
