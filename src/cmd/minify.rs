//! kiln-minify: JS (swc), CSS (lightningcss) and HTML templates (minify-html, template syntax
//! kept). Many files in one process, in parallel, or `--concat` for an asset block.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::fsutil::{self, Staged};
use crate::minify::{self, css, Job, JsMode, Kind, MinifyOptions};
use crate::scan::Rewrite;
use crate::{cli, manifest};
use clap::{Parser, ValueEnum};

#[derive(Clone, Copy, ValueEnum)]
enum KindArg {
    Js,
    Css,
    Html,
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    Detect,
    Script,
    Module,
}

#[derive(Parser)]
#[command(version, about = "Minify JS, CSS and HTML templates")]
pub struct Args {
    /// Kind of every input (default: from each file's extension).
    #[arg(long, value_enum)]
    kind: Option<KindArg>,
    /// Browser targets for CSS, as a browserslist query.
    #[arg(long, default_value = "defaults")]
    targets: String,
    /// How JS is parsed: a module (top-level names renamed) or a script (globals kept).
    #[arg(long, value_enum, default_value = "detect")]
    js_mode: ModeArg,
    /// Minify the inputs, in order, as one unit (an asset block); OUT is then a file.
    #[arg(long)]
    concat: bool,
    /// Outputs keep their path relative to this directory (batch mode).
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Also write `<output>.map` beside each minified JS file (sources inlined).
    #[arg(long)]
    source_map: bool,
    /// Merged manifest: templates get each asset block replaced by its final tag and each
    /// `assetman.static_url('…')` by its versioned URL before they are minified.
    #[arg(long, value_name = "manifest.json")]
    manifest: Option<PathBuf>,
    /// URL prefix of the static root (with --manifest).
    #[arg(long, default_value = "/s/")]
    prefix: String,
    /// URL prefix written into templates instead of --prefix (a CDN origin; with --manifest).
    #[arg(long, value_name = "URL")]
    cdn_prefix: Option<String>,
    /// Write the files that minified, list every failure, and still exit 1.
    #[arg(long)]
    keep_going: bool,
    /// Output directory (batch) or file (--concat).
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    out: PathBuf,
    /// Sources; `@FILE` reads them from a params file.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

pub fn main(args: Args) -> ExitCode {
    let targets = match css::targets(&args.targets) {
        Ok(t) => t,
        Err(e) => return cli::usage(e),
    };
    let js_mode = match args.js_mode {
        ModeArg::Detect => JsMode::Detect,
        ModeArg::Script => JsMode::Script,
        ModeArg::Module => JsMode::Module,
    };
    let opts = MinifyOptions { targets, js_mode };
    let forced = args.kind.map(|k| match k {
        KindArg::Js => Kind::Js,
        KindArg::Css => Kind::Css,
        KindArg::Html => Kind::Html,
    });
    let mut errors = Vec::new();
    let mut kinds = Vec::new();
    for input in &args.inputs {
        match forced.or_else(|| Kind::from_name(&input.to_string_lossy())) {
            Some(k) => kinds.push(k),
            None => errors.push(format!("{}: unknown kind (use --kind js|css|html)", fsutil::display(input))),
        }
    }
    if !errors.is_empty() {
        return cli::fail(errors);
    }
    if let Ok(out) = fsutil::absolute_lexical(&args.out) {
        if args.inputs.iter().any(|i| fsutil::absolute_lexical(i).is_ok_and(|i| i == out)) {
            return cli::usage(format!("output {} is one of the inputs", fsutil::display(&args.out)));
        }
    }
    if args.concat {
        if args.source_map {
            return cli::usage("--source-map is not supported with --concat yet");
        }
        return concat(&args, &kinds, &opts);
    }
    let mut jobs = Vec::new();
    for (input, kind) in args.inputs.iter().zip(&kinds) {
        match fsutil::rel_to_root(&args.root, input) {
            Ok(rel) => jobs.push(Job { input: input.clone(), kind: *kind, output: args.out.join(rel), source_map: args.source_map }),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        return cli::fail(errors);
    }
    let rewrite = match &args.manifest {
        None => None,
        Some(path) => {
            let name = fsutil::display(path);
            match fsutil::read(path).map_err(|e| e.to_string()).and_then(|b| manifest::parse(&name, &b).map_err(|e| e.to_string())) {
                Ok(m) => Some(Rewrite { manifest: m, url_prefix: args.cdn_prefix.clone().unwrap_or_else(|| args.prefix.clone()) }),
                Err(e) => return cli::fail([e]),
            }
        }
    };
    let mut staged = Staged::new();
    let mut failures = Vec::new();
    for result in minify::minify_batch(&jobs, &opts, rewrite.as_ref()) {
        match result {
            Ok(files) => {
                for (path, bytes) in files {
                    staged.add(path, bytes);
                }
            }
            Err(e) => failures.push(e),
        }
    }
    cli::finish_batch(staged, failures, args.keep_going)
}

fn concat(args: &Args, kinds: &[Kind], opts: &MinifyOptions) -> ExitCode {
    let kind = kinds[0];
    if let Some((i, _)) = kinds.iter().enumerate().find(|(_, k)| **k != kind) {
        return cli::usage(format!("--concat needs inputs of one kind; {} differs", fsutil::display(&args.inputs[i])));
    }
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for input in &args.inputs {
        match fsutil::read(input) {
            Ok(b) => files.push((fsutil::display(input), b)),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return cli::fail(errors);
    }
    match minify::minify_concat(kind, &files, opts) {
        Ok(bytes) => {
            let mut staged = Staged::new();
            staged.add(args.out.clone(), bytes);
            cli::finish_batch(staged, Vec::<minify::MinifyError>::new(), false)
        }
        Err(e) => cli::fail([e]),
    }
}
