//! `kiln build`: asok's whole build (clone minus artifacts and secrets, minify, WebP, bytecode,
//! `.env.production`) plus Assetman's (blocks, versions, rewritten templates), in one process,
//! on the same library code as the single-purpose binaries, so the dist is byte-identical to the
//! one Bazel and Nix assemble from those binaries (docs/design.md §8).
//!
//! Every unit of work (one file minified, one image encoded, one module compiled, one block, one
//! template, one set of compressed twins) is cached by a digest of its inputs; a rebuild reuses
//! what did not change and `--explain` says, for each unit it redid, which input changed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{check_output, classify, env_production, file_mode, is_executable, output_kind, write_dist, Class, Content, DistFile, Layout, OutputKind, WrittenFile};
use crate::framework::{self, Framework, Naming, Profile};
use crate::fsutil::{self, EntryKind};
use crate::hash::block::{self, BlockOptions};
use crate::hash::{self, Compression, HashOptions, Input, UrlStyle};
use crate::manifest::{self, md5_hex, Manifest};
use crate::minify::{self, Kind, MinifyOptions};
use crate::pyc::{self, Compiler, PycOptions, Source};
use crate::scan::{self, Rewrite, Template};

#[derive(clap::Args, Debug, Clone)]
pub struct BuildArgs {
    /// The app's source tree.
    #[arg(default_value = ".")]
    pub src: PathBuf,
    /// The dist directory (built beside it and swapped in only when the build succeeds).
    #[arg(short = 'o', long = "out", default_value = "dist")]
    pub out: PathBuf,
    /// Keep the .py sources beside their bytecode (`__pycache__/mod.<tag>.pyc`).
    #[arg(long)]
    pub keep_source: bool,
    /// Ship the development database (db.sqlite3).
    #[arg(long)]
    pub with_db: bool,
    /// Also write the dist as a deterministic archive (.tar.zst, .tar.gz or .zip).
    #[arg(long, value_name = "FILE")]
    pub archive: Option<PathBuf>,
    /// Worker threads (default: all cores). Outputs never depend on it.
    #[arg(short = 'j', long)]
    pub jobs: Option<usize>,
    /// For every unit rebuilt instead of reused from the cache, say which input changed.
    #[arg(long)]
    pub explain: bool,
    /// Write a self-contained HTML report (sizes per kind and file, the asset graph).
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Python interpreter for bytecode (default: python3 on PATH).
    #[arg(long, default_value = "python3")]
    pub python: PathBuf,
    /// Convert images to WebP: `auto` follows IMAGE_OPTIMIZATION (environment, then the app's .env).
    #[arg(long, value_enum, default_value = "auto")]
    pub image_optimization: Toggle,
    /// The runtime that serves the dist (default: detected from the tree, and said).
    #[arg(long, value_enum)]
    pub framework: Option<Framework>,
    /// Static root, relative to SRC (default: the framework's, e.g. src/partials).
    #[arg(long)]
    pub static_root: Option<String>,
    /// Template directory, relative to SRC (default: the framework's, e.g. src/templates).
    #[arg(long)]
    pub templates: Option<String>,
    /// URL prefix the static root is served under (default: the framework's: /s/, / for asok,
    /// STATIC_URL for Django).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Absolute URLs written into outputs use this prefix (a CDN origin).
    #[arg(long)]
    pub cdn_prefix: Option<String>,
    /// Browser targets for CSS (a browserslist query).
    #[arg(long, default_value = "defaults")]
    pub targets: String,
    /// Precompressed .br/.gz/.zst twins of text assets: `fast` (brotli 5, zstd 9), `max`
    /// (brotli 11, zstd 19: ~7% smaller, ~20× the CPU) or `off`.
    #[arg(long, value_enum, value_name = "LEVEL", default_value = "fast")]
    pub compress: Compression,
    /// LESS compiler for include_less blocks.
    #[arg(long, value_name = "PATH")]
    pub lessc: Option<PathBuf>,
    /// Cache directory (default: .kiln-cache beside the output).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Neither read nor write the cache.
    #[arg(long)]
    pub no_cache: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toggle {
    Auto,
    On,
    Off,
}

/// One unit of cached work: the digests of its inputs and its outputs' blobs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Unit {
    key: String,
    inputs: BTreeMap<String, String>,
    outputs: Vec<(String, String)>,
}

/// Content-addressed cache of units: `units.json` plus `objects/<md5>` blobs.
pub struct Cache {
    dir: Option<PathBuf>,
    previous: BTreeMap<String, Unit>,
    current: Mutex<BTreeMap<String, Unit>>,
    new_blobs: Mutex<BTreeMap<String, Vec<u8>>>,
    explain: Mutex<Vec<String>>,
    hits: Mutex<usize>,
}

/// A unit's outputs: each file's name and content (a cache blob is read only when needed).
type Outputs = Vec<(String, Content)>;
/// A unit's outputs as just built, or read back whole.
type Built = Vec<(String, Vec<u8>)>;

impl Cache {
    pub fn open(dir: Option<PathBuf>) -> Cache {
        let previous = dir
            .as_ref()
            .and_then(|d| std::fs::read(d.join("units.json")).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Cache { dir, previous, current: Mutex::default(), new_blobs: Mutex::default(), explain: Mutex::default(), hits: Mutex::new(0) }
    }

    fn key(inputs: &BTreeMap<String, String>) -> String {
        md5_hex(serde_json::to_string(inputs).unwrap_or_default().as_bytes())
    }

    /// The unit `name` of the previous build, if its inputs were these.
    fn previous(&self, name: &str, inputs: &BTreeMap<String, String>) -> Option<&Unit> {
        let key = Self::key(inputs);
        self.previous.get(name).filter(|u| u.key == key)
    }

    /// Counts a unit of the previous build as reused.
    fn reuse(&self, name: &str, unit: &Unit) {
        if let Ok(mut c) = self.current.lock() {
            c.insert(name.to_string(), unit.clone());
        }
        if let Ok(mut h) = self.hits.lock() {
            *h += 1;
        }
    }

    fn blob_path(&self, md5: &str) -> Option<PathBuf> {
        Some(self.dir.as_ref()?.join("objects").join(md5))
    }

    /// Looks a unit up; `None` when it must be (re)built. Its blobs are not read (see Content).
    pub fn lookup(&self, name: &str, inputs: &BTreeMap<String, String>) -> Option<Outputs> {
        let (unit, out) = self.peek(name, inputs)?;
        self.reuse(name, unit);
        Some(out)
    }

    /// `lookup` without counting the unit as reused: the caller calls `reuse` if it can use it.
    fn peek(&self, name: &str, inputs: &BTreeMap<String, String>) -> Option<(&Unit, Outputs)> {
        let unit = self.previous(name, inputs)?;
        let mut out = Vec::with_capacity(unit.outputs.len());
        for (rel, md5) in &unit.outputs {
            let path = self.blob_path(md5)?;
            let meta = std::fs::metadata(&path).ok().filter(|m| m.is_file())?;
            out.push((rel.clone(), Content::Blob { path, md5: md5.clone(), size: meta.len() }));
        }
        Some((unit, out))
    }

    /// Looks a unit up and reads its outputs, for a step that needs their bytes; a blob that
    /// is missing or not its md5 makes it a miss.
    pub fn lookup_bytes(&self, name: &str, inputs: &BTreeMap<String, String>) -> Option<Built> {
        let unit = self.previous(name, inputs)?;
        let mut out = Vec::with_capacity(unit.outputs.len());
        for (rel, md5) in &unit.outputs {
            let bytes = super::read_blob(&self.blob_path(md5)?, md5).ok()?;
            out.push((rel.clone(), bytes));
        }
        self.reuse(name, unit);
        Some(out)
    }

    /// Records a freshly built unit, and why it was built.
    pub fn store(&self, name: &str, inputs: BTreeMap<String, String>, outputs: &Built, explain: bool) {
        let mut blobs = Vec::new();
        for (rel, bytes) in outputs {
            let md5 = md5_hex(bytes);
            if let Ok(mut nb) = self.new_blobs.lock() {
                nb.entry(md5.clone()).or_insert_with(|| bytes.clone());
            }
            blobs.push((rel.clone(), md5));
        }
        if explain {
            let why = match self.previous.get(name) {
                None => "new (not in the previous build)".to_string(),
                Some(prev) => {
                    let mut changed: Vec<String> = inputs
                        .iter()
                        .filter(|(k, v)| prev.inputs.get(*k) != Some(*v))
                        .map(|(k, _)| k.clone())
                        .collect();
                    changed.extend(prev.inputs.keys().filter(|k| !inputs.contains_key(*k)).map(|k| format!("{k} (removed)")));
                    if changed.is_empty() {
                        "its cached output was missing".to_string()
                    } else {
                        format!("changed: {}", changed.join(", "))
                    }
                }
            };
            if let Ok(mut e) = self.explain.lock() {
                e.push(format!("rebuilt {name}: {why}"));
            }
        }
        let unit = Unit { key: Self::key(&inputs), inputs, outputs: blobs };
        if let Ok(mut c) = self.current.lock() {
            c.insert(name.to_string(), unit);
        }
    }

    /// The `--explain` lines, sorted.
    pub fn explained(&self) -> Vec<String> {
        let mut e = self.explain.lock().map(|e| e.clone()).unwrap_or_default();
        e.sort();
        e
    }

    /// Units built (not reused) in this run.
    pub fn misses(&self) -> usize {
        let total = self.current.lock().map(|c| c.len()).unwrap_or(0);
        total - self.hits.lock().map(|h| *h).unwrap_or(0)
    }

    /// Writes new blobs and the unit index (only after a successful build).
    pub fn save(&self) -> Result<(), String> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let objects = dir.join("objects");
        std::fs::create_dir_all(&objects).map_err(|e| format!("{}: {e}", fsutil::display(&objects)))?;
        let blobs = std::mem::take(&mut *self.new_blobs.lock().map_err(|_| "cache lock")?);
        // Written in place, not through a temp file: every read checks a blob against its md5
        // (a torn write is a miss), and a blob of that name that exists may be a corrupt one a
        // lazy lookup never read.
        blobs.par_iter().try_for_each(|(md5, bytes)| {
            let p = objects.join(md5);
            std::fs::write(&p, bytes).map_err(|e| format!("{}: {e}", fsutil::display(&p)))
        })?;
        let current = self.current.lock().map_err(|_| "cache lock")?;
        // Blobs no unit refers to any more are removed, so the cache does not grow forever.
        let live: BTreeSet<&str> = current.values().flat_map(|u| u.outputs.iter().map(|(_, m)| m.as_str())).collect();
        if let Ok(rd) = std::fs::read_dir(&objects) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !live.contains(name.as_str()) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        // Compact, in the types' own order (sorted maps): read only by kiln.
        let json = serde_json::to_vec(&*current).map_err(|e| e.to_string())?;
        fsutil::atomic_write(&dir.join("units.json"), &json).map_err(|e| e.to_string())
    }
}

/// Per-kind byte counts for the summary and the report.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct KindStats {
    pub files: usize,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// What a build did.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Outcome {
    pub files_in: usize,
    pub files_out: usize,
    pub kinds: BTreeMap<String, KindStats>,
    pub stages: Vec<(String, f64)>,
    pub explain: Vec<String>,
    pub cache_hits: usize,
    pub units: usize,
    /// (dest, bytes before, bytes after) of every shipped file.
    pub files: Vec<(String, u64, u64)>,
    /// The asset graph: template → blocks/assets, block → assets, asset → deps.
    pub edges: Vec<(String, String)>,
}

struct Stage<'a> {
    outcome: &'a mut Outcome,
    start: Instant,
    bar: Option<indicatif::ProgressBar>,
}

impl<'a> Stage<'a> {
    fn next(&mut self, name: &str) {
        let now = Instant::now();
        if let Some((_, t)) = self.outcome.stages.last_mut() {
            *t = (now - self.start).as_secs_f64();
        }
        self.outcome.stages.push((name.to_string(), 0.0));
        self.start = now;
        if let Some(b) = &self.bar {
            b.set_message(name.to_string());
            b.inc(1);
        }
    }

    fn finish(&mut self) {
        if let Some((_, t)) = self.outcome.stages.last_mut() {
            *t = (Instant::now() - self.start).as_secs_f64();
        }
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

fn kind_name(dest: &str) -> String {
    let ext = hash::extension(dest);
    match ext.as_str() {
        "pyc" | "py" => "python".into(),
        "js" | "mjs" => "js".into(),
        "css" => "css".into(),
        "html" => "templates".into(),
        "jpg" | "jpeg" | "png" | "gif" | "webp" | "svg" | "ico" | "avif" => "images".into(),
        "br" | "gz" | "zst" => "precompressed".into(),
        _ => "other".into(),
    }
}

/// IMAGE_OPTIMIZATION from the environment, else from the app's `.env` (read, never shipped).
fn image_optimization(src: &Path, toggle: Toggle) -> bool {
    let truthy = |v: &str| matches!(v.trim().trim_matches(['"', '\'']).to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on");
    match toggle {
        Toggle::On => true,
        Toggle::Off => false,
        Toggle::Auto => {
            if let Ok(v) = std::env::var("IMAGE_OPTIMIZATION") {
                return truthy(&v);
            }
            let Ok(text) = std::fs::read_to_string(src.join(".env")) else { return false };
            text.lines()
                .filter_map(|l| l.trim().trim_start_matches("export ").split_once('='))
                .filter(|(k, _)| k.trim() == "IMAGE_OPTIMIZATION")
                .last()
                .is_some_and(|(_, v)| truthy(v.split(" #").next().unwrap_or("")))
        }
    }
}

/// The whole pipeline. Errors: every problem found, one line each; nothing is written then.
pub fn build(args: &BuildArgs) -> Result<Outcome, Vec<String>> {
    let src = &args.src;
    let one = |e: String| vec![e];
    if !src.is_dir() {
        return Err(one(format!("{}: not a directory", fsutil::display(src))));
    }
    if let Some(problem) = output_problem(args) {
        return Err(one(problem));
    }
    let abs_src = fsutil::absolute_lexical(src).map_err(|e| one(e.to_string()))?;
    let abs_out = fsutil::absolute_lexical(&args.out).map_err(|e| one(e.to_string()))?;
    let cache_dir = if args.no_cache {
        None
    } else {
        Some(args.cache_dir.clone().unwrap_or_else(|| default_cache_dir(&abs_out)))
    };
    let mut outcome = Outcome::default();
    let bar = (!args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
        let b = indicatif::ProgressBar::new(4);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} [{pos}/{len}] {msg} {elapsed}") {
            b.set_style(style);
        }
        b.enable_steady_tick(Duration::from_millis(100));
        b
    });
    let mut stage = Stage { outcome: &mut outcome, start: Instant::now(), bar };
    stage.next("clone");

    // 0. The runtime that will serve the dist decides where things are and how they are named.
    let overrides = framework::Overrides {
        framework: args.framework,
        static_root: args.static_root.clone(),
        templates: args.templates.clone(),
        prefix: args.prefix.clone(),
    };
    let profile = framework::profile(src, &args.python, &overrides).map_err(|e| one(e.to_string()))?;
    if !args.quiet {
        eprintln!("kiln build: {} app ({})", profile.framework.name(), profile.reason);
    }
    let layout = Layout {
        static_root: profile.static_root.clone(),
        template_dirs: profile.template_dirs.clone(),
        template_exts: profile.template_exts.clone(),
        python_source: profile.python_source.clone(),
        verbatim_dirs: profile.verbatim_dirs.clone(),
        outputs: profile.outputs.clone(),
        with_db: args.with_db,
    };

    // 1. The tree, minus artifacts, secrets, the output and the cache.
    let skip_abs: Vec<PathBuf> = [Some(abs_out.clone()), cache_dir.clone().and_then(|c| fsutil::absolute_lexical(&c).ok())].into_iter().flatten().collect();
    let out_name = abs_out.file_name().map(|n| format!(".{}.kiln-", n.to_string_lossy())).unwrap_or_default();
    let entries = fsutil::walk(src, &|rel, is_dir| {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        (is_dir && super::is_dev_dir(name)) || name.starts_with(&out_name) || skip_abs.iter().any(|s| *s == abs_src.join(rel))
    })
    .map_err(|e| one(e.to_string()))?;
    let mut errors: Vec<String> = Vec::new();
    let mut files: BTreeMap<String, (Class, PathBuf)> = BTreeMap::new();
    for e in entries {
        if e.kind == EntryKind::LinkOutside {
            let class = classify(&e.rel, &layout);
            if !matches!(class, Class::DevArtifact | Class::Secret) {
                errors.push(format!("{}: symlink points outside the source tree; refusing to follow it", fsutil::display(&e.path)));
            }
            continue;
        }
        if let EntryKind::LinkInside { target } = &e.kind {
            if matches!(classify(target, &layout), Class::Secret) && !matches!(classify(&e.rel, &layout), Class::DevArtifact | Class::Secret) {
                errors.push(format!("{}: symlink to the secret {target}; refusing to ship it", fsutil::display(&e.path)));
                continue;
            }
        }
        files.insert(e.rel.clone(), (classify(&e.rel, &layout), e.path));
    }
    stage.outcome.files_in = files.len();
    let webp = image_optimization(src, args.image_optimization);
    // Where the static files come from (the static root, or the framework's own lookup) and
    // where they go in the dist.
    let static_prefix = if profile.static_root.is_empty() { String::new() } else { format!("{}/", profile.static_root) };
    let out_prefix = match &profile.naming {
        Naming::Django { static_root, .. } => format!("{static_root}/"),
        _ => static_prefix.clone(),
    };
    let read_all: Vec<(String, Class, Result<Vec<u8>, String>, bool)> = files
        .par_iter()
        .filter(|(_, (c, _))| !matches!(c, Class::DevArtifact | Class::Secret | Class::Database | Class::RootGitignore))
        .map(|(rel, (c, p))| (rel.clone(), *c, fsutil::read(p).map_err(|e| e.to_string()), is_executable(p)))
        .collect();
    let mut sources: BTreeMap<String, (Class, Vec<u8>, bool)> = BTreeMap::new();
    for (rel, c, r, x) in read_all {
        match r {
            Ok(b) => {
                sources.insert(rel, (c, b, x));
            }
            Err(e) => errors.push(e),
        }
    }

    // Static files the framework finds outside the static root (Django's finders).
    let found: Vec<Result<StaticFile, String>> =
        profile.statics.par_iter().map(|(key, path)| fsutil::read(path).map(|b| StaticFile::new(key.clone(), path.clone(), b)).map_err(|e| e.to_string())).collect();
    let mut statics: Vec<StaticFile> = Vec::new();
    for f in found {
        match f {
            Ok(f) => statics.push(f),
            Err(e) => errors.push(e),
        }
    }

    // Each source's md5, once: for the build's own digest and for its units' cache keys.
    let digests: BTreeMap<&String, String> = sources.par_iter().map(|(rel, (_, bytes, _))| (rel, md5_hex(bytes))).collect();
    // Nothing that shapes the dist changed since the last build, and that dist is intact: done.
    let inputs_digest = errors.is_empty().then(|| inputs_digest(args, &profile, webp, &sources, &digests, &statics)).flatten();
    let memo = cache_dir.as_deref().and_then(Memo::<Outcome>::load);
    let unchanged = |m: &Memo<Outcome>| args.archive.is_none() && inputs_digest.as_ref().is_some_and(|d| m.holds(d, &args.out));
    if memo.as_ref().is_some_and(unchanged) {
        let mut previous = memo.map(Memo::into_outcome).unwrap_or_default();
        stage.finish();
        previous.stages = std::mem::take(&mut stage.outcome.stages);
        previous.explain = if args.explain { vec!["nothing changed since the last build: the dist is kept as it is".into()] } else { Vec::new() };
        previous.cache_hits = previous.units;
        return Ok(previous);
    }
    let cache = Cache::open(cache_dir.clone());

    // 2. Templates are scanned first, so a bad block path is reported with the other input errors.
    let templates: Vec<Template> = sources
        .iter()
        .filter(|(_, (c, _, _))| *c == Class::Template)
        .filter_map(|(rel, (_, bytes, _))| match Template::parse(rel.clone(), src.join(rel), bytes.clone()) {
            Ok(t) => Some(t),
            Err(e) => {
                errors.push(e.to_string());
                None
            }
        })
        .collect();
    let static_root = src.join(&profile.static_root);
    statics.extend(
        sources
            .iter()
            .filter(|(_, (c, _, _))| *c == Class::Static)
            .map(|(rel, (_, b, _))| StaticFile { key: rel[static_prefix.len()..].to_string(), path: src.join(rel), bytes: b.clone(), md5: digests[rel].clone() }),
    );
    let static_files: BTreeSet<&str> = statics.iter().map(|f| f.key.as_str()).collect();
    // Input sizes for the summary (Django's files are not in `sources`).
    let found_sizes: Vec<(String, u64)> = statics.iter().map(|f| (f.key.clone(), f.bytes.len() as u64)).collect();
    errors.extend(scan::check_paths(&templates, &static_root, Some(&static_files)).into_iter().map(|e| e.to_string()));
    // With broken templates the static files and modules are still checked (every problem in
    // one run), but no block or template is compiled.
    let templates: Vec<Template> = if errors.is_empty() { templates } else { Vec::new() };

    // 3. Static assets and templates, and the bytecode, in parallel.
    stage.next("assets and bytecode");
    let pys: Vec<(&String, &str)> = sources.iter().filter(|(_, (c, _, _))| *c == Class::Python).map(|(r, _)| (r, digests[r].as_str())).collect();
    let popts = PycOptions { keep_source: args.keep_source, ..PycOptions::default() };
    let source_names = profile.naming == Naming::SourceNames;
    let aopts = AssetOptions {
        prefix: profile.url_prefix.clone(),
        cdn_prefix: args.cdn_prefix.clone(),
        targets: args.targets.clone(),
        // asok's runtime serves files by name and knows no precompressed twins.
        compress: if source_names { Compression::Off } else { args.compress },
        lessc: args.lessc.clone(),
        webp,
        minify_static: true,
        minify_templates: true,
        url_style: if source_names { UrlStyle::Source } else { UrlStyle::Filename },
        webp_beside: source_names,
        also_source_names: matches!(profile.naming, Naming::Django { .. }),
        explain: args.explain,
        static_label: out_prefix.clone(),
        template_label: String::new(),
    };
    let (assets_result, (pyc_files, pyc_errors)) = rayon::join(
        || assets(&static_root, statics, &templates, &aopts, &cache),
        || pyc_stage(&cache, src, &pys, &popts, &args.python, args.jobs, args.explain),
    );
    let assets_out = match assets_result {
        Ok(a) => Some(a),
        Err(e) => {
            errors.extend(e);
            None
        }
    };
    errors.extend(pyc_errors);
    let Some(assets_out) = assets_out.filter(|_| errors.is_empty()) else {
        stage.finish();
        return Err(errors);
    };
    let sub_stages: Vec<(String, f64)> = assets_out.stages.iter().map(|(n, t)| (format!("  {n}"), *t)).collect();
    let AssetsOut { static_out, templates: template_out, manifest: merged, manifest_json, .. } = assets_out;

    // 4. The dist.
    stage.next("assemble");
    let at = stage.outcome.stages.len() - 1;
    stage.outcome.stages.splice(at..at, sub_stages);
    let mut dist: Vec<DistFile> = Vec::new();
    let mut before: BTreeMap<String, u64> = BTreeMap::new();
    for (rel, (class, bytes, exec)) in &sources {
        match class {
            Class::Copy | Class::PythonSource => dist.push(DistFile { dest: rel.clone(), content: bytes.clone().into(), executable: *exec }),
            Class::Python if args.keep_source => dist.push(DistFile { dest: rel.clone(), content: bytes.clone().into(), executable: *exec }),
            _ => {}
        }
        before.insert(rel.clone(), bytes.len() as u64);
    }
    for (key, size) in &found_sizes {
        before.insert(format!("{out_prefix}{key}"), *size);
    }
    for (rel, content) in pyc_files {
        dist.push(DistFile { dest: rel, content, executable: false });
    }
    for (rel, content) in static_out {
        dist.push(DistFile { dest: format!("{out_prefix}{rel}"), content, executable: false });
    }
    for (name, content) in template_out {
        dist.push(DistFile { dest: name, content, executable: false });
    }
    // kiln's manifest (Assetman's sections: what `kiln serve` and the next build read), and
    // Django's staticfiles.json where its storage reads one.
    dist.push(DistFile { dest: "manifest.json".into(), content: manifest_json.into(), executable: false });
    if let Naming::Django { manifest_name: Some(name), .. } = &profile.naming {
        let json = fsutil::stable_json(&manifest::django_staticfiles(&merged));
        dist.push(DistFile { dest: format!("{out_prefix}{name}"), content: json.into(), executable: false });
    }
    dist.push(DistFile { dest: ".env.production".into(), content: env_production().into(), executable: false });
    dist.sort_by(|a, b| a.dest.cmp(&b.dest));
    if let Some(w) = dist.windows(2).find(|w| w[0].dest == w[1].dest) {
        stage.finish();
        return Err(one(format!("{}: two outputs for one path (a source file collides with a generated one)", w[0].dest)));
    }
    let known = memo.map(Memo::into_written).unwrap_or_default();
    let written = write_if_changed(&args.out, &dist, &known, Update::Swap).map_err(one)?;
    if let Some(a) = &args.archive {
        write_dist(a, &dist).map_err(|e| one(e.to_string()))?;
    }
    cache.save().map_err(one)?;
    stage.finish();

    // Stats, explain lines and the asset graph for the summary and the report.
    outcome.files_out = dist.len();
    for f in &dist {
        let src_rel = source_of(&f.dest, &out_prefix, &merged);
        let b = src_rel.as_ref().and_then(|r| before.get(r)).copied().unwrap_or(0);
        let is_block = f.dest.starts_with(&format!("{out_prefix}f/")) && kind_name(&f.dest) != "precompressed";
        let k = outcome.kinds.entry(if is_block { "blocks (new)".to_string() } else { kind_name(&f.dest) }).or_default();
        k.files += 1;
        k.bytes_in += b;
        k.bytes_out += f.content.len();
        outcome.files.push((f.dest.clone(), b, f.content.len()));
    }
    for (key, e) in &merged.assets {
        for d in &e.deps {
            outcome.edges.push((key.clone(), d.clone()));
        }
    }
    for (key, b) in &merged.blocks {
        for p in &b.paths {
            outcome.edges.push((key.clone(), p.clone()));
        }
    }
    for t in &templates {
        for b in &t.scan.blocks {
            outcome.edges.push((t.name.clone(), scan::block_key(&b.paths)));
        }
        for u in &t.scan.static_urls {
            outcome.edges.push((t.name.clone(), u.path.clone()));
        }
    }
    outcome.edges.sort();
    outcome.edges.dedup();
    outcome.explain = cache.explained();
    outcome.cache_hits = cache.hits.lock().map(|h| *h).unwrap_or(0);
    outcome.units = cache.current.lock().map(|c| c.len()).unwrap_or(0);
    match (&cache_dir, inputs_digest) {
        (Some(dir), Some(inputs)) => Memo::record(dir, inputs, written, outcome).map_err(one),
        _ => Ok(outcome),
    }
}

/// The digest of everything a dist is made of: kiln's version, the options that shape its bytes,
/// the tools' identities and every source file (path, class, content, mode). None when a tool
/// cannot be identified (the build then reports it).
fn inputs_digest(
    args: &BuildArgs,
    profile: &Profile,
    webp: bool,
    sources: &BTreeMap<String, (Class, Vec<u8>, bool)>,
    digests: &BTreeMap<&String, String>,
    found: &[StaticFile],
) -> Option<String> {
    let python = program_id(&args.python).ok()?;
    let lessc = match &args.lessc {
        Some(l) => program_id(l).ok()?,
        None => String::new(),
    };
    let mut text = format!(
        "kiln {}\nkeep_source {} with_db {} webp {webp}\nframework {:?} static_root {:?} templates {:?} naming {:?} prefix {:?} cdn_prefix {:?}\ntargets {:?} compress {}\npython {python}\nlessc {lessc}\n",
        env!("CARGO_PKG_VERSION"),
        args.keep_source,
        args.with_db,
        profile.framework,
        profile.static_root,
        profile.template_dirs,
        profile.naming,
        profile.url_prefix,
        args.cdn_prefix,
        args.targets,
        args.compress.name(),
    );
    for (rel, (class, _, exec)) in sources {
        text.push_str(&format!("{rel}\t{class:?}\t{}\t{exec}\n", digests.get(rel)?));
    }
    for f in found {
        text.push_str(&format!("found {}\t{}\n", f.key, f.md5));
    }
    Some(md5_hex(text.as_bytes()))
}

/// How the static tree and the templates are processed.
#[derive(Debug, Clone)]
pub struct AssetOptions {
    pub prefix: String,
    pub cdn_prefix: Option<String>,
    pub targets: String,
    pub compress: Compression,
    pub lessc: Option<PathBuf>,
    pub webp: bool,
    pub minify_static: bool,
    pub minify_templates: bool,
    /// How versioned files are named (asok keeps source names).
    pub url_style: UrlStyle,
    /// A converted image keeps its original beside the WebP (references still go to the WebP).
    pub webp_beside: bool,
    /// Each asset is also written under its source name (collectstatic's layout).
    pub also_source_names: bool,
    pub explain: bool,
    /// Prefixes that name units in `--explain` (the static root's and the template dir's path in the app).
    pub static_label: String,
    pub template_label: String,
}

/// The processed static tree (paths relative to the static root), templates (by name) and manifest.
pub struct AssetsOut {
    pub static_out: BTreeMap<String, Content>,
    pub templates: Vec<(String, Content)>,
    pub manifest: Manifest,
    pub manifest_json: Vec<u8>,
    pub stages: Vec<(String, f64)>,
}

/// Static files (minified, WebP), versions and twins, asset blocks, the manifest, and templates
/// rewritten (and minified): design.md §8 steps 1–6, every unit cached.
/// A file of the static root: its key (its path under the root), bytes, and their md5.
pub struct StaticFile {
    pub key: String,
    /// Where it was read (errors name it; Django's files may live outside the app).
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub md5: String,
}

impl StaticFile {
    pub fn new(key: String, path: PathBuf, bytes: Vec<u8>) -> StaticFile {
        let md5 = md5_hex(&bytes);
        StaticFile { key, path, bytes, md5 }
    }
}

pub fn assets(static_root: &Path, statics: Vec<StaticFile>, templates: &[Template], o: &AssetOptions, cache: &Cache) -> Result<AssetsOut, Vec<String>> {
    let mut stages = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |name: &str, stages: &mut Vec<(String, f64)>| {
        let now = Instant::now();
        stages.push((name.to_string(), (now - clock).as_secs_f64()));
        clock = now;
    };
    let targets = minify::css::targets(&o.targets).map_err(|e| vec![e])?;
    let mopts = MinifyOptions { targets, js_mode: minify::JsMode::Detect };
    let mopts_id = format!("{} targets={} ", env!("CARGO_PKG_VERSION"), o.targets);
    let mut errors = Vec::new();

    let paths: BTreeMap<String, PathBuf> = statics.iter().map(|f| (f.key.clone(), f.path.clone())).collect();
    // Minify and convert.
    let results: Vec<Result<(String, Built, Option<String>), String>> = statics
        .par_iter()
        .map(|StaticFile { key, path, bytes, md5 }| {
            let shown = fsutil::display(path);
            let unit_rel = format!("{}{key}", o.static_label);
            match Kind::from_name(key).filter(|k| *k != Kind::Html && o.minify_static) {
                Some(kind) => {
                    let inputs = BTreeMap::from([(key.clone(), md5.clone()), ("options".into(), mopts_id.clone())]);
                    let name = format!("minify {}{key}", o.static_label);
                    if let Some(out) = cache.lookup_bytes(&name, &inputs) {
                        return Ok((key.clone(), out, None));
                    }
                    let out = minify::minify_source(kind, bytes, &shown, &mopts).map_err(|e| e.to_string())?;
                    let outs = vec![(key.clone(), out)];
                    cache.store(&name, inputs, &outs, o.explain);
                    Ok((key.clone(), outs, None))
                }
                None => match crate::webp::webp_rel(key).filter(|_| o.webp) {
                    Some(webp_key) => {
                        let (outs, rename) = webp_unit(cache, &unit_rel, key, &webp_key, bytes, md5, &shown, o.explain)?;
                        Ok((key.clone(), outs, rename))
                    }
                    None => Ok((key.clone(), vec![(key.clone(), bytes.clone())], None)),
                },
            }
        })
        .collect();
    let mut static_files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut renames: BTreeMap<String, String> = BTreeMap::new();
    for r in results {
        match r {
            Ok((key, outs, rename)) => {
                if let Some(to) = rename {
                    renames.insert(key, to);
                }
                static_files.extend(outs);
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    lap("minify and webp", &mut stages);

    // Versions, rewritten stylesheets, twins.
    let hopts = HashOptions { url_style: o.url_style, prefix: o.prefix.clone(), compress: Compression::Off, cdn_prefix: o.cdn_prefix.clone() };
    let known = Manifest { renames: renames.clone(), ..Manifest::default() };
    let inputs: Vec<Input> = static_files
        .iter()
        .map(|(key, bytes)| Input { key: key.clone(), path: paths.get(key).cloned().unwrap_or_else(|| static_root.join(key)), bytes: Some(bytes.clone()) })
        .collect();
    let hashed = hash::hash_batch(&inputs, &known, &hopts).map_err(|e| e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
    let mut static_manifest = hash::partial(&hashed);
    static_manifest.renames = renames;
    let versioned: Vec<(String, String, Content)> =
        hashed.into_iter().flat_map(|h| h.outputs.into_iter().map(move |(rel, bytes)| (h.key.clone(), rel, Content::from(bytes)))).collect();
    let twins: Vec<Result<(String, Outputs), String>> = versioned
        .par_iter()
        .map(|(key, rel, content)| Ok((key.clone(), twins_unit(cache, key, rel, content, o.compress, o.explain)?)))
        .collect();
    let mut static_out: BTreeMap<String, Content> = BTreeMap::new();
    for (key, rel, content) in versioned {
        if o.also_source_names && rel != key {
            static_out.insert(key, content.clone());
        }
        static_out.insert(rel, content);
    }
    // The original of a converted image stays where it was, as it was; references go to the WebP.
    if o.webp_beside {
        for f in statics.iter().filter(|f| static_manifest.renames.contains_key(&f.key)) {
            static_out.insert(f.key.clone(), Content::from(f.bytes.clone()));
        }
    }
    for r in twins {
        let (key, outs) = r.map_err(|e| vec![e])?;
        if let Some(entry) = static_manifest.assets.get_mut(&key) {
            entry.encodings.extend(hash::encodings_of(outs.iter().map(|(rel, _)| rel)));
        }
        static_out.extend(outs);
    }
    lap("hash", &mut stages);

    // Asset blocks, each cached by its version (known before compiling).
    let defs = scan::block_defs(templates);
    // A block's JS pieces are exactly the minified static files (same function, same options).
    let pieces = block::Pieces::default();
    if o.minify_static {
        for (key, bytes) in &static_files {
            if Kind::from_name(key) == Some(Kind::Js) {
                pieces.insert_js(key, bytes.clone());
            }
        }
    }
    let bopts = BlockOptions { hash: hopts.clone(), minify: mopts, lessc: o.lessc.clone(), pieces: Some(Arc::new(pieces)), ..Default::default() };
    let block_results: Vec<Result<(String, manifest::BlockEntry, Outputs), String>> = defs
        .par_iter()
        .map(|d| {
            let versions: Vec<(String, String)> = d
                .paths
                .iter()
                .map(|p| (p.clone(), static_manifest.asset(p).map(|(_, e)| e.version.clone()).unwrap_or_default()))
                .collect();
            let version = block::block_version(d.kind, &versions, &bopts);
            let name = format!("block {}", d.key);
            let inputs: BTreeMap<String, String> = versions.iter().cloned().chain([("version".to_string(), version)]).collect();
            // The entry is read now (a corrupt one makes the block a miss); the bundle only if written.
            let cached = cache.peek(&name, &inputs).and_then(|(unit, mut outs)| {
                let entry = outs.pop()?.1.into_bytes().ok()?;
                Some((unit, serde_json::from_slice::<manifest::BlockEntry>(&entry).ok()?, outs))
            });
            let (mut entry, outs) = match cached {
                Some((unit, entry, outs)) => {
                    cache.reuse(&name, unit);
                    (entry, outs)
                }
                None => {
                    let c = block::compile_block(d.kind, &d.paths, static_root, &static_manifest, &bopts)
                        .map_err(|e| e.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))?;
                    let mut outs = c.outputs;
                    outs.push(("entry.json".into(), serde_json::to_vec(&c.entry).map_err(|e| e.to_string())?));
                    cache.store(&name, inputs, &outs, o.explain);
                    outs.pop();
                    (c.entry, in_memory(outs))
                }
            };
            let mut all = Vec::new();
            for (rel, content) in outs {
                let tw = twins_unit(cache, &d.key, &rel, &content, o.compress, o.explain)?;
                entry.encodings.extend(hash::encodings_of(tw.iter().map(|(rel, _)| rel)));
                all.push((rel, content));
                all.extend(tw);
            }
            Ok((d.key.clone(), entry, all))
        })
        .collect();
    let mut block_manifest = Manifest::default();
    for r in block_results {
        match r {
            Ok((key, entry, outs)) => {
                block_manifest.blocks.insert(key, entry);
                static_out.extend(outs);
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let merged = manifest::merge(vec![("static".into(), static_manifest), ("blocks".into(), block_manifest)])
        .map_err(|e| e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
    let manifest_json = fsutil::stable_json(&merged);
    lap("blocks", &mut stages);

    // Templates: blocks → tags, static_url → URLs, then minified.
    let rewrite = Rewrite { manifest: merged.clone(), url_prefix: hopts.url_prefix().to_string() };
    let manifest_md5 = md5_hex(&manifest_json);
    let results: Vec<Result<(String, Content), String>> = templates
        .par_iter()
        .map(|t| {
            let inputs = BTreeMap::from([
                (t.name.clone(), md5_hex(t.source.as_bytes())),
                ("manifest.json".to_string(), manifest_md5.clone()),
                ("options".to_string(), format!("{mopts_id} prefix={} minify={}", rewrite.url_prefix, o.minify_templates)),
            ]);
            let name = format!("template {}{}", o.template_label, t.name);
            if let Some(mut out) = cache.lookup(&name, &inputs) {
                return out.pop().ok_or_else(|| "cache: empty template unit".to_string());
            }
            let shown = fsutil::display(&t.path);
            let mut out = minify::rewrite_template(t.source.as_bytes(), &shown, &rewrite).map_err(|e| e.to_string())?;
            if o.minify_templates {
                out = minify::minify_source(Kind::Html, &out, &shown, &mopts).map_err(|e| e.to_string())?;
            }
            let outs = vec![(t.name.clone(), out)];
            cache.store(&name, inputs, &outs, o.explain);
            in_memory(outs).pop().ok_or_else(|| "template unit: no output".to_string())
        })
        .collect();
    let mut template_out = Vec::new();
    for r in results {
        match r {
            Ok(x) => template_out.push(x),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    lap("templates", &mut stages);
    Ok(AssetsOut { static_out, templates: template_out, manifest: merged, manifest_json, stages })
}

/// `.kiln-cache/<output name>` beside the output: one cache per output, so two outputs never
/// evict each other's units.
pub fn default_cache_dir(out: &Path) -> PathBuf {
    let abs = fsutil::absolute_lexical(out).unwrap_or_else(|_| out.to_path_buf());
    let name = abs.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "dist".into());
    abs.parent().unwrap_or(Path::new(".")).join(".kiln-cache").join(name)
}

/// How a dist directory is brought up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// A new tree built beside it and swapped in whole (`kiln build`: code and assets switch together).
    Swap,
    /// Changed in place, new files first and removals last (`assetman-compile`: versioned names).
    InPlace,
}

/// Writes the dist unless the one on disk already holds exactly these files (same names, bytes
/// and modes): a rebuild whose outputs did not change writes nothing. `known` is what the last
/// build wrote there (its memo); files it vouches for are neither read nor rewritten. Returns
/// what the directory now holds (nothing for an archive).
pub fn write_if_changed(out: &Path, files: &[DistFile], known: &[WrittenFile], update: Update) -> Result<Vec<WrittenFile>, String> {
    if output_kind(out) != OutputKind::Dir {
        return write_dist(out, files).map(|()| Vec::new()).map_err(|e| e.to_string());
    }
    let files = super::with_md5(files);
    let written = match update {
        Update::InPlace => super::update_dir(out, &files, known),
        Update::Swap => {
            let same_as_known = !known.is_empty()
                && files.len() == known.len()
                && files.iter().zip(known).all(|((f, md5), k)| f.dest == k.dest && *md5 == k.md5 && k.stat.is_file_with_mode(file_mode(f)))
                && intact(out, known);
            if same_as_known {
                return Ok(known.to_vec());
            }
            super::write_dir(out, &files, known)
        }
    };
    written.map_err(|e| e.to_string())
}

/// Whether the tree at `out` holds exactly the files written (`known`, sorted), none of them
/// changed since: same names, and the same metadata for each.
fn intact(out: &Path, known: &[WrittenFile]) -> bool {
    let Ok(entries) = fsutil::walk(out, &|_, _| false) else { return false };
    let mut names: Vec<(&str, &Path)> = entries.iter().map(|e| (e.rel.as_str(), e.path.as_path())).collect();
    names.sort_unstable();
    names.len() == known.len()
        && names.iter().zip(known).all(|((rel, _), k)| *rel == k.dest)
        && names.par_iter().zip(known).all(|((_, path), k)| k.still_at(path))
}

/// The last build of an output, kept in its cache dir: the digest of every input that shapes
/// the output (sources, options, tools, kiln's version), every file it wrote (metadata and md5),
/// and what the build reported. A rebuild with the same inputs whose output files are all
/// still the ones written (same inode, size, mode and ctime: not edited, replaced or removed)
/// does nothing else: no unit to look up, nothing to hash or write. Any other rebuild still
/// links the files the memo vouches for instead of reading them.
#[derive(Serialize, Deserialize)]
pub struct Memo<T> {
    inputs: String,
    output: Vec<WrittenFile>,
    outcome: T,
}

const LAST_BUILD: &str = "last-build.json";

impl<T: Serialize + serde::de::DeserializeOwned> Memo<T> {
    /// The memo of the last build into this cache dir, if any.
    pub fn load(cache_dir: &Path) -> Option<Memo<T>> {
        let path = cache_dir.join(LAST_BUILD);
        let mut memo: Memo<T> = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let m = std::fs::metadata(&path).ok()?;
            WrittenFile::mark_racy(&mut memo.output, (m.mtime(), m.mtime_nsec()));
        }
        Some(memo)
    }

    /// Whether the previous build had these inputs and its output is intact.
    pub fn holds(&self, inputs: &str, out: &Path) -> bool {
        self.inputs == inputs && intact(out, &self.output)
    }

    pub fn into_outcome(self) -> T {
        self.outcome
    }

    /// What the previous build wrote.
    pub fn into_written(self) -> Vec<WrittenFile> {
        self.output
    }

    /// Remembers a finished build and what it wrote.
    pub fn record(cache_dir: &Path, inputs: String, output: Vec<WrittenFile>, outcome: T) -> Result<T, String> {
        let memo = Memo { inputs, output, outcome };
        // Compact, and in the types' own order (sorted maps and lists): read only by kiln.
        let json = serde_json::to_vec(&memo).map_err(|e| e.to_string())?;
        fsutil::atomic_write(&cache_dir.join(LAST_BUILD), &json).map_err(|e| e.to_string())?;
        Ok(memo.outcome)
    }
}

/// The source file a dist file came from (for before/after sizes).
fn source_of(dest: &str, static_prefix: &str, m: &Manifest) -> Option<String> {
    if let Some(rel) = dest.strip_prefix(static_prefix) {
        let key = m.assets.iter().find(|(_, e)| e.versioned_path == rel).map(|(k, _)| k.clone())?;
        let orig = m.renames.iter().find(|(_, to)| **to == key).map(|(from, _)| from.clone()).unwrap_or(key);
        return Some(format!("{static_prefix}{orig}"));
    }
    if let Some(stem) = dest.strip_suffix(".pyc") {
        return Some(format!("{stem}.py"));
    }
    Some(dest.to_string())
}

/// `.br`/`.gz`/`.zst` twins of one output of `owner` (an asset or block key), cached by content.
fn twins_unit(cache: &Cache, owner: &str, rel: &str, content: &Content, level: Compression, explain: bool) -> Result<Outputs, String> {
    if !hash::compressible(rel) || level == Compression::Off {
        return Ok(Vec::new());
    }
    let inputs = BTreeMap::from([
        ("content".to_string(), content.md5().to_string()),
        ("file".to_string(), rel.to_string()),
        ("level".to_string(), level.name().to_string()),
    ]);
    let name = format!("twins {owner}");
    if let Some(out) = cache.lookup(&name, &inputs) {
        return Ok(out);
    }
    let outs = hash::twins(rel, &content.bytes().map_err(|e| e.to_string())?, level);
    cache.store(&name, inputs, &outs, explain);
    Ok(in_memory(outs))
}

fn in_memory(built: Built) -> Outputs {
    built.into_iter().map(|(rel, bytes)| (rel, Content::from(bytes))).collect()
}

/// One image to WebP with kiln-webp's `--replace` rule (the same library call, so the same
/// bytes): the WebP and a rename when it is smaller, else the original unchanged.
#[allow(clippy::too_many_arguments)]
fn webp_unit(cache: &Cache, rel: &str, key: &str, webp_key: &str, bytes: &[u8], md5: &str, shown: &str, explain: bool) -> Result<(Built, Option<String>), String> {
    let opts = crate::webp::WebpOptions::default();
    let inputs = BTreeMap::from([(rel.to_string(), md5.to_string()), ("options".to_string(), format!("{} {opts:?}", env!("CARGO_PKG_VERSION")))]);
    let name = format!("webp {rel}");
    let outs = match cache.lookup_bytes(&name, &inputs) {
        Some(o) => o,
        None => {
            let converted = crate::webp::convert_bytes(key, webp_key, bytes.to_vec(), shown, &opts, true).map_err(|e| e.to_string())?;
            cache.store(&name, inputs, &converted.files, explain);
            converted.files
        }
    };
    let rename = outs.first().filter(|(k, _)| k != key).map(|(k, _)| k.clone());
    Ok((outs, rename))
}

/// Bytecode for every module, compiled only when its source changed; the interpreter is
/// started only when something must be compiled.
fn pyc_stage(cache: &Cache, src: &Path, pys: &[(&String, &str)], opts: &PycOptions, python: &Path, jobs: Option<usize>, explain: bool) -> (Outputs, Vec<String>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    if pys.is_empty() {
        return (files, errors);
    }
    let interp_id = match program_id(python) {
        Ok(id) => id,
        Err(e) => return (files, vec![e]),
    };
    let mut misses: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    for (rel, digest) in pys {
        let inputs = BTreeMap::from([
            (rel.to_string(), digest.to_string()),
            ("interpreter".to_string(), interp_id.clone()),
            ("options".to_string(), format!("{} {opts:?}", env!("CARGO_PKG_VERSION"))),
        ]);
        match cache.lookup(&format!("pyc {rel}"), &inputs) {
            Some(out) => files.extend(out),
            None => misses.push((rel.to_string(), inputs)),
        }
    }
    if misses.is_empty() {
        return (files, errors);
    }
    let n = jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).min(misses.len()).max(1);
    let compiler = match Compiler::start(python, n) {
        Ok(c) => c,
        Err(e) => {
            errors.push(e.to_string());
            return (files, errors);
        }
    };
    let sources: Vec<Source> = misses.iter().map(|(rel, _)| Source { key: rel.clone(), path: src.join(rel) }).collect();
    for ((rel, inputs), r) in misses.into_iter().zip(compiler.compile(&sources, opts)) {
        match r {
            Ok(bytes) => {
                let outs = vec![(pyc::pyc_path(&rel, &compiler.info, opts), bytes)];
                cache.store(&format!("pyc {rel}"), inputs, &outs, explain);
                files.extend(in_memory(outs));
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    (files, errors)
}

/// Identifies a program (the interpreter, lessc) without starting it: its path as found on PATH,
/// resolved through symlinks, with size and mtime, so a no-change rebuild starts no Python at all.
pub(crate) fn program_id(python: &Path) -> Result<String, String> {
    let found = if python.components().count() > 1 {
        Some(python.to_path_buf())
    } else {
        std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(python)).find(|c| c.is_file()))
    };
    let Some(found) = found else { return Err(format!("python interpreter {}: not found on PATH", fsutil::display(python))) };
    let real = std::fs::canonicalize(&found).map_err(|e| format!("{}: {e}", fsutil::display(&found)))?;
    let meta = std::fs::metadata(&real).map_err(|e| format!("{}: {e}", fsutil::display(&real)))?;
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_secs()).unwrap_or(0);
    let pyenv = std::env::var("PYENV_VERSION").unwrap_or_default();
    Ok(format!("{} {} {mtime} {pyenv}", fsutil::display(&real), meta.len()))
}

/// Problems with where the outputs go: usage errors (exit 2), found before any work.
fn output_problem(args: &BuildArgs) -> Option<String> {
    if let Err(e) = check_output(&args.out, &args.src) {
        return Some(e.to_string());
    }
    if output_kind(&args.out) != OutputKind::Dir {
        return Some(format!("{}: -o is the dist directory; use --archive for an archive", fsutil::display(&args.out)));
    }
    let a = args.archive.as_ref()?;
    let (abs, src) = (fsutil::absolute_lexical(a).ok()?, fsutil::absolute_lexical(&args.src).ok()?);
    (abs.starts_with(&src) || output_kind(a) == OutputKind::Dir).then(|| {
        format!("refusing --archive {}: it must be a .tar.zst, .tar.gz or .zip outside the source tree", fsutil::display(a))
    })
}

/// `kiln build`'s flags alone, for re-reading the command line under `[tool.kiln]`.
#[derive(clap::Parser)]
#[command(name = "kiln build", args_override_self = true)]
struct BuildCommand {
    #[command(flatten)]
    args: BuildArgs,
}

/// The arguments with `[tool.kiln]` of SRC's pyproject.toml beneath them: the file's settings
/// come first, so every flag given on the command line (`user`, after `build`) wins.
pub fn with_pyproject(args: BuildArgs, user: &[std::ffi::OsString]) -> Result<BuildArgs, String> {
    use clap::CommandFactory;
    let cmd = BuildCommand::command();
    let known: Vec<(String, bool)> = cmd.get_arguments().filter_map(|a| Some((a.get_long()?.to_string(), a.get_action().takes_values()))).collect();
    let from_file = framework::pyproject::tool_kiln_args(&args.src, &known).map_err(|e| e.to_string())?;
    if from_file.is_empty() {
        return Ok(args);
    }
    let argv = std::iter::once("kiln build".into()).chain(from_file.into_iter().map(Into::into)).chain(user.iter().cloned());
    <BuildCommand as clap::Parser>::try_parse_from(argv).map(|b| b.args).map_err(|e| e.to_string())
}

pub fn build_main(args: BuildArgs) -> ExitCode {
    let user: Vec<std::ffi::OsString> = crate::cli::args_with_params().unwrap_or_default().into_iter().skip_while(|a| a != "build").skip(1).collect();
    let args = match with_pyproject(args, &user) {
        Ok(a) => a,
        Err(e) => return crate::cli::fail([e]),
    };
    if let Some(problem) = output_problem(&args) {
        return crate::cli::usage(problem);
    }
    if let Some(j) = args.jobs {
        let _ = rayon::ThreadPoolBuilder::new().num_threads(j.max(1)).build_global();
    }
    let started = Instant::now();
    match build(&args) {
        Ok(outcome) => {
            for line in &outcome.explain {
                eprintln!("{line}");
            }
            print_summary(&args, &outcome, started.elapsed());
            if let Some(report) = &args.report {
                if let Err(e) = fsutil::atomic_write(report, super::report::html(&outcome).as_bytes()) {
                    return crate::cli::fail([e]);
                }
            }
            ExitCode::SUCCESS
        }
        Err(errors) => crate::cli::fail(errors),
    }
}

fn print_summary(args: &BuildArgs, o: &Outcome, took: Duration) {
    eprintln!(
        "kiln build: {} files in, {} files out → {} ({} of {} units reused from the cache) in {:.0} ms",
        o.files_in,
        o.files_out,
        fsutil::display(&args.out),
        o.cache_hits,
        o.units,
        took.as_secs_f64() * 1000.0
    );
    for (kind, k) in &o.kinds {
        let saved = k.bytes_in as i64 - k.bytes_out as i64;
        eprintln!("  {kind:<14} {:>5} files  {:>10} → {:>10} bytes  ({saved:+} saved)", k.files, k.bytes_in, k.bytes_out);
    }
    let stages: Vec<String> = o.stages.iter().map(|(s, t)| format!("{s} {:.0} ms", t * 1000.0)).collect();
    eprintln!("  stages: {}", stages.join(", "));
}
