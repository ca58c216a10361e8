//! `kiln assetman-compile`: a drop-in for Assetman's compiler, with its flags. It scans the
//! templates, versions the static tree, compiles every block and writes, under the output dir,
//! the versioned files, the blocks (`f/`), the rewritten templates (`templates/`) and
//! manifest.json. Unchanged blocks and assets are reused from the cache, and the output dir is
//! updated in place (new files first, manifest.json last, then stale files removed), so a
//! server reading it meanwhile always finds what it refers to, and outputs of earlier builds
//! never linger.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use rayon::prelude::*;

use crate::assemble::{self, DistFile};
use crate::fsutil::{self, EntryKind};
use crate::manifest::md5_hex;
use crate::pipeline::sources::program_id;
use crate::pipeline::{
    assets, default_cache_dir, one, write_if_changed, AssetOptions, BuildError, Cache, Errors, Memo, Problems, StaticFile, Update,
};
use crate::scan;

#[derive(clap::Args, Debug)]
pub struct CompileArgs {
    /// Where the compiled files, rewritten templates and manifest.json go (updated in place; stale files removed).
    #[arg(long = "output_dir", visible_alias = "output-dir", value_name = "DIR")]
    pub output_dir: PathBuf,
    /// URL prefix the static dir is served under.
    #[arg(long = "static_url_prefix", visible_alias = "static-url-prefix", default_value = "/s/")]
    pub static_url_prefix: String,
    /// Template directories (repeat the flag for several).
    #[arg(long = "template_dir", visible_alias = "template-dir", required = true, value_name = "DIR")]
    pub template_dirs: Vec<PathBuf>,
    /// The static root that block paths are relative to.
    #[arg(long = "static_dir", visible_alias = "static-dir", default_value = "static", value_name = "DIR")]
    pub static_dir: PathBuf,
    /// Template file extensions.
    #[arg(long = "template_ext", visible_alias = "template-ext", default_value = "html", value_delimiter = ',')]
    pub template_ext: Vec<String>,
    /// Absolute URLs written into outputs use this prefix (a CDN origin).
    #[arg(long = "cdn_prefix", visible_alias = "cdn-prefix")]
    pub cdn_prefix: Option<String>,
    /// LESS compiler for include_less blocks.
    #[arg(long, value_name = "PATH")]
    pub lessc: Option<PathBuf>,
    /// Browser targets for CSS (a browserslist query).
    #[arg(long, default_value = "defaults")]
    pub targets: String,
    /// Precompressed .br/.gz/.zst twins: `fast` (brotli 5, zstd 9), `max` (brotli 11, zstd 19) or `off`.
    #[arg(long, value_enum, value_name = "LEVEL", default_value = "fast")]
    pub compress: crate::hash::Compression,
    /// Cache directory (default: .kiln-cache/<output dir name> beside the output dir).
    #[arg(long = "cache_dir", visible_alias = "cache-dir", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Say, for each unit rebuilt instead of reused, which input changed.
    #[arg(long)]
    pub explain: bool,
}

fn run(args: &CompileArgs) -> Result<usize, Errors> {
    for t in &args.template_dirs {
        assemble::check_output(&args.output_dir, t).map_err(one)?;
    }
    assemble::check_output(&args.output_dir, &args.static_dir).map_err(one)?;
    let mut problems = Problems::default();
    let templates = scan::scan_dirs(&args.template_dirs, &args.template_ext).map_err(|e| e.into_iter().map(Into::into).collect::<Errors>())?;
    let entries = fsutil::walk(&args.static_dir, &|rel, _| rel.rsplit('/').next().is_some_and(|n| n.starts_with('.'))).map_err(one)?;
    let listing: BTreeSet<&str> = entries.iter().filter(|e| e.kind != EntryKind::LinkOutside).map(|e| e.rel.as_str()).collect();
    problems.extend(scan::check_paths(&templates, &args.static_dir, Some(&listing)));
    let read: Vec<Result<StaticFile, Errors>> = entries
        .into_par_iter()
        .map(|e| match e.kind {
            EntryKind::LinkOutside => Err(one(BuildError::Message(format!("{}: symlink points outside the static dir", fsutil::display(&e.path))))),
            _ => fsutil::read(&e.path).map(|b| StaticFile::new(e.rel, e.path.clone(), b)).map_err(one),
        })
        .collect();
    let statics = problems.keep(read);
    problems.check()?;
    let cache_dir = args.cache_dir.clone().unwrap_or_else(|| default_cache_dir(&args.output_dir));
    let inputs = inputs_digest(args, &templates, &statics);
    let memo = Memo::<()>::load(&cache_dir);
    if let (Some(memo), Some(inputs)) = (&memo, &inputs) {
        if memo.holds(inputs, &args.output_dir) {
            return Ok(0);
        }
    }
    let known = memo.map(Memo::into_written).unwrap_or_default();
    let cache = Cache::open(Some(cache_dir.clone()), args.explain);
    let opts = AssetOptions {
        prefix: args.static_url_prefix.clone(),
        cdn_prefix: args.cdn_prefix.clone(),
        url_style: crate::hash::UrlStyle::Filename,
        targets: args.targets.clone(),
        compress: args.compress,
        lessc: args.lessc.clone(),
        webp: false,
        minify_static: true,
        minify_templates: false,
        webp_beside: false,
        also_source_names: false,
        static_label: String::new(),
        template_label: "templates/".into(),
    };
    let out = assets::assets(&args.static_dir, statics, &templates, &opts, &cache)?;
    let mut files: Vec<DistFile> = out.static_out.into_iter().map(|(dest, content)| DistFile { dest, content, executable: false }).collect();
    files.extend(out.templates.into_iter().map(|(name, content)| DistFile { dest: format!("templates/{name}"), content, executable: false }));
    files.push(DistFile { dest: "manifest.json".into(), content: out.manifest_json.into(), executable: false });
    let written = write_if_changed(&args.output_dir, &files, &known, Update::InPlace).map_err(one)?;
    for line in cache.explained() {
        eprintln!("{line}");
    }
    cache.save().map_err(one)?;
    if let Some(inputs) = inputs {
        Memo::record(&cache_dir, inputs, written, ()).map_err(one)?;
    }
    Ok(cache.misses())
}

/// The digest of everything the output is made of (see pipeline::Memo); None when lessc
/// cannot be identified (the compile then reports it if a block needs it).
fn inputs_digest(args: &CompileArgs, templates: &[scan::Template], statics: &[StaticFile]) -> Option<String> {
    let lessc = match &args.lessc {
        Some(l) => program_id(l).ok()?,
        None => String::new(),
    };
    let mut text = format!(
        "kiln assetman-compile {}\nprefix {:?} cdn_prefix {:?} targets {:?} compress {} lessc {lessc}\n",
        env!("CARGO_PKG_VERSION"),
        args.static_url_prefix,
        args.cdn_prefix,
        args.targets,
        args.compress.name(),
    );
    let lines: Vec<String> = templates
        .par_iter()
        .map(|t| format!("template {}\t{}\n", t.name, md5_hex(t.source.as_bytes())))
        .chain(statics.par_iter().map(|f| format!("static {}\t{}\n", f.key, f.md5)))
        .collect();
    lines.iter().for_each(|l| text.push_str(l));
    Some(md5_hex(text.as_bytes()))
}

pub fn main(args: CompileArgs) -> ExitCode {
    match run(&args) {
        Ok(compiled) => {
            eprintln!("kiln assetman-compile: {} units compiled → {}", compiled, fsutil::display(&args.output_dir));
            ExitCode::SUCCESS
        }
        Err(e) => crate::cli::fail(e),
    }
}
