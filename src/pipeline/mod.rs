//! The build engine: asok's whole build (clone minus artifacts and secrets, minify, WebP,
//! bytecode, `.env.production`) plus Assetman's (blocks, versions, rewritten templates), in one
//! process, on the same library code as the single-purpose binaries, so the dist is
//! byte-identical to the one Bazel and Nix assemble from those binaries (docs/design.md §8).
//!
//! `build` is the stage order; each step is a file of its own (sources, assets, webp, twins,
//! blocks, templates, pyc, output). Every unit of work is cached (cache.rs); the last build is
//! remembered (memo.rs), so a rebuild with nothing changed stops after reading its inputs.
//! What the engine builds, and where an app keeps what, is a plain `BuildConfig`.

pub mod assets;
pub mod blocks;
pub mod cache;
pub mod memo;
pub mod outcome;
pub mod output;
pub mod pyc;
pub mod remote;
pub mod report;
pub mod schedule;
pub mod sources;
pub mod templates;
pub mod twins;
pub mod webp;

use std::path::PathBuf;

use crate::assemble::{check_output, output_kind, DistError, Layout, OutputKind};
use crate::fsutil::{self, FsError};
use crate::hash::{Compression, HashError, UrlStyle};
use crate::manifest::MergeError;
use crate::minify::MinifyError;
use crate::pyc::PycError;
use crate::scan::ScanError;
use crate::webp::WebpError;

pub use assets::{AssetOptions, AssetsOut, StaticFile};
pub use cache::{default_cache_dir, Cache};
pub use memo::{write_if_changed, Memo, Update};
pub use outcome::{KindStats, Outcome};
pub use remote::RemoteConfig;

/// One problem found by the engine. A build reports every one of them, one per line.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Dist(#[from] DistError),
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error(transparent)]
    Minify(#[from] MinifyError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Merge(#[from] MergeError),
    #[error(transparent)]
    Webp(#[from] WebpError),
    #[error(transparent)]
    Pyc(#[from] PycError),
    /// A problem the engine finds itself (a symlink out of the tree, two outputs for one path, …).
    #[error("{0}")]
    Message(String),
}

/// Every problem of a failed build.
pub type Errors = Vec<BuildError>;

/// A single problem as a failed build's errors.
pub fn one(e: impl Into<BuildError>) -> Errors {
    vec![e.into()]
}

/// The problems found so far. A step goes on past a bad input, so that one run reports them all;
/// the build stops at the end of the step that found any.
#[derive(Debug, Default)]
pub struct Problems(Errors);

impl Problems {
    pub fn push(&mut self, e: impl Into<BuildError>) {
        self.0.push(e.into());
    }

    pub fn extend<E: Into<BuildError>>(&mut self, errors: impl IntoIterator<Item = E>) {
        self.0.extend(errors.into_iter().map(Into::into));
    }

    /// The values of the results that succeeded, in order; every failure is recorded.
    pub fn keep<T, E: Into<BuildError>>(&mut self, results: impl IntoIterator<Item = Result<T, Vec<E>>>) -> Vec<T> {
        let mut ok = Vec::new();
        for r in results {
            match r {
                Ok(v) => ok.push(v),
                Err(e) => self.extend(e),
            }
        }
        ok
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of a step that succeeded; a failed one's problems are recorded.
    pub fn take<T>(&mut self, result: Result<T, Errors>) -> Option<T> {
        result.map_err(|e| self.0.extend(e)).ok()
    }

    /// Both steps' values when neither they nor an earlier step found a problem, else every problem.
    pub fn join<A, B>(&mut self, a: Result<A, Errors>, b: Result<B, Errors>) -> Result<(A, B), Errors> {
        let (a, b) = (self.take(a), self.take(b));
        self.check()?;
        a.zip(b).ok_or_else(Vec::new)
    }

    /// Nothing went wrong so far, or every problem.
    pub fn check(&mut self) -> Result<(), Errors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(std::mem::take(&mut self.0))
        }
    }
}

/// What to build and how: a plain struct, so that the command line (`kiln build`) or a framework
/// profile fills it. `layout` decides which files are templates, static assets, modules kept as
/// source, and where the static root is.
#[derive(Debug, Clone)]
pub struct BuildConfig {
    /// The app's source tree.
    pub src: PathBuf,
    /// The dist directory (built beside it and swapped in only when the build succeeds).
    pub out: PathBuf,
    pub layout: Layout,
    /// How the dist names static files: how the runtime finds them.
    pub naming: Naming,
    /// Static files the framework finds outside the static root (Django's finders): name → file.
    pub found: Vec<(String, PathBuf)>,
    /// The runtime the dist is made for, and why (said in the summary).
    pub framework: String,
    /// URL prefix the static root is served under.
    pub prefix: String,
    /// Absolute URLs written into outputs use this prefix (a CDN origin).
    pub cdn_prefix: Option<String>,
    /// How versioned files are named and addressed (`Filename`: versioned names; `Assetman`, `Source`: source names).
    pub url_style: UrlStyle,
    /// Browser targets for CSS (a browserslist query).
    pub targets: String,
    pub compress: Compression,
    /// LESS compiler for include_less blocks.
    pub lessc: Option<PathBuf>,
    /// Convert images to WebP.
    pub webp: bool,
    /// Keep the .py sources beside their bytecode.
    pub keep_source: bool,
    /// Python interpreter for bytecode.
    pub python: PathBuf,
    /// Also write the dist as a deterministic archive.
    pub archive: Option<PathBuf>,
    /// Bytecode workers (default: all cores).
    pub jobs: Option<usize>,
    /// Say which input changed for every unit rebuilt.
    pub explain: bool,
    /// The cache directory; none: nothing is reused or kept.
    pub cache_dir: Option<PathBuf>,
    /// A shared remote cache of units (Bazel's HTTP protocol), beside the local one.
    pub remote: Option<RemoteConfig>,
    /// A progress bar on a terminal.
    pub progress: bool,
}

impl BuildConfig {
    /// Problems with where the outputs go (usage errors), found before any work.
    pub fn output_problem(&self) -> Option<String> {
        if let Err(e) = check_output(&self.out, &self.src) {
            return Some(e.to_string());
        }
        if output_kind(&self.out) != OutputKind::Dir {
            return Some(format!("{}: -o is the dist directory; use --archive for an archive", fsutil::display(&self.out)));
        }
        let a = self.archive.as_ref()?;
        let (abs, src) = (fsutil::absolute_lexical(a).ok()?, fsutil::absolute_lexical(&self.src).ok()?);
        (abs.starts_with(&src) || output_kind(a) == OutputKind::Dir)
            .then(|| format!("refusing --archive {}: it must be a .tar.zst, .tar.gz or .zip outside the source tree", fsutil::display(a)))
    }

    /// The static root's path in the app with one trailing `/` (empty: no static root).
    pub fn static_prefix(&self) -> String {
        let root = self.layout.static_root.trim_end_matches('/');
        if root.is_empty() {
            String::new()
        } else {
            format!("{root}/")
        }
    }

    /// Where the processed static files go in the dist, with one trailing `/`.
    pub fn out_prefix(&self) -> String {
        match &self.naming {
            Naming::Django { static_root, .. } => format!("{}/", static_root.trim_end_matches('/')),
            _ => self.static_prefix(),
        }
    }
}

/// How the dist names the static files, which is how the runtime finds them (a framework
/// profile chooses; docs/design.md §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Naming {
    /// Content-named copies (`css/app.<v12>.css`) and kiln's `manifest.json` (Assetman's three
    /// sections); templates rewritten so blocks and `static_url` calls name those copies.
    Versioned,
    /// Every file under its source name (minified; a WebP beside each converted image), since
    /// the runtime looks assets up by name (asok's `static()`); references to converted images
    /// are rewritten.
    SourceNames,
    /// collectstatic's layout under `static_root` (relative to the app): every file under its
    /// name and under its hashed name, and Django's manifest `manifest_name` when the storage
    /// reads one.
    Django { static_root: String, manifest_name: Option<String> },
}

/// The whole build, in the order of docs/design.md §8. Errors: every problem found, one line
/// each; nothing is written then.
pub fn build(config: &BuildConfig) -> Result<Outcome, Errors> {
    if !config.src.is_dir() {
        return Err(one(BuildError::Message(format!("{}: not a directory", fsutil::display(&config.src)))));
    }
    if let Some(problem) = config.output_problem() {
        return Err(one(BuildError::Message(problem)));
    }
    let mut clock = outcome::Clock::start(config.progress);
    let mut problems = Problems::default();
    clock.next("clone");
    let tree = sources::read_tree(config, &mut problems)?;
    // Nothing that shapes the dist changed since the last build, and that dist is intact: done.
    let inputs = if problems.is_empty() { sources::inputs_digest(config, &tree) } else { None };
    let memo = config.cache_dir.as_deref().and_then(Memo::<Outcome>::load);
    let unchanged = |m: &Memo<Outcome>| config.archive.is_none() && inputs.as_ref().is_some_and(|d| m.holds(d, &config.out));
    if memo.as_ref().is_some_and(unchanged) {
        let previous = memo.map(Memo::into_outcome).unwrap_or_default();
        return Ok(outcome::unchanged(previous, clock.finish(), config.explain));
    }
    let mut cache = Cache::open(config.cache_dir.clone(), config.explain);
    if let Some(rc) = &config.remote {
        let remote = remote::Remote::new(rc).map_err(|e| one(BuildError::Message(e.to_string())))?;
        // The local cache holds every unit of a build with these inputs (only the dist was
        // touched): no need for the remote's pack.
        let local = memo.as_ref().is_some_and(|m| Some(m.inputs()) == inputs.as_deref());
        cache = cache.with_remote(remote, inputs.clone(), !local);
    }
    // Templates are scanned first, so a bad block path is reported with the other input errors.
    let templates = templates::scan(config, &tree, &mut problems);
    clock.next("assets and bytecode");
    let (assets, pyc) = rayon::join(
        || assets::assets(&config.src.join(&config.layout.static_root), tree.statics(config), &templates, &assets::AssetOptions::of(config), &cache),
        || pyc::compile(&cache, config, &tree.modules()),
    );
    // With broken templates the static files and modules are still checked (every problem in
    // one run), but nothing is assembled.
    let (mut assets, pyc) = problems.join(assets, pyc)?;
    clock.next("assemble");
    clock.nest(&assets.stages);
    let manifest = std::mem::take(&mut assets.manifest);
    let files = output::dist_files(config, &tree, pyc, assets, &manifest)?;
    let known = memo.map(Memo::into_written).unwrap_or_default();
    let written = output::write(config, &files, &known)?;
    cache.save().map_err(one)?;
    let outcome = outcome::summarize(config, &tree, &templates, &manifest, &files, &cache, clock.finish());
    match (&config.cache_dir, inputs) {
        (Some(dir), Some(inputs)) => Memo::record(dir, inputs, written, outcome).map_err(one),
        _ => Ok(outcome),
    }
}
