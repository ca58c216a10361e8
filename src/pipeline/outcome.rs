//! What a build did, for the summary, `--explain` and the HTML report: files in and out, bytes
//! per kind, the stages' times, the cache's hits, and the asset graph.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::cache::Cache;
use super::sources::Tree;
use super::BuildConfig;
use crate::assemble::DistFile;
use crate::hash;
use crate::manifest::Manifest;
use crate::scan::{self, Template};

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
    /// The runtime the dist is made for, and why (`asok app (wsgi.py builds an Asok() app)`).
    #[serde(default)]
    pub framework: String,
    pub files_in: usize,
    pub files_out: usize,
    pub kinds: BTreeMap<String, KindStats>,
    pub stages: Vec<(String, f64)>,
    pub explain: Vec<String>,
    pub cache_hits: usize,
    /// Of `cache_hits`, the units that came from the remote cache.
    #[serde(default)]
    pub remote_hits: usize,
    pub units: usize,
    /// (dest, bytes before, bytes after) of every shipped file.
    pub files: Vec<(String, u64, u64)>,
    /// The asset graph: template → blocks/assets, block → assets, asset → deps.
    pub edges: Vec<(String, String)>,
    /// The remote cache's one warning line, if it had a problem (this run's only: not kept).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// The stages' times, and a progress bar on a terminal (cleared however the build ends).
pub struct Clock {
    stages: Vec<(String, f64)>,
    start: Instant,
    bar: Option<indicatif::ProgressBar>,
}

impl Clock {
    pub fn start(progress: bool) -> Clock {
        let bar = (progress && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
            let b = indicatif::ProgressBar::new(4);
            if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} [{pos}/{len}] {msg} {elapsed}") {
                b.set_style(style);
            }
            b.enable_steady_tick(Duration::from_millis(100));
            b
        });
        Clock { stages: Vec::new(), start: Instant::now(), bar }
    }

    fn stop(&mut self) {
        if let Some((_, t)) = self.stages.last_mut() {
            *t = (Instant::now() - self.start).as_secs_f64();
        }
    }

    /// Ends the current stage and starts `name`.
    pub fn next(&mut self, name: &str) {
        self.stop();
        self.stages.push((name.to_string(), 0.0));
        self.start = Instant::now();
        if let Some(b) = &self.bar {
            b.set_message(name.to_string());
            b.inc(1);
        }
    }

    /// Lists the previous stage's own steps (indented) before the current stage.
    pub fn nest(&mut self, steps: &[(String, f64)]) {
        let at = self.stages.len().saturating_sub(1);
        self.stages.splice(at..at, steps.iter().map(|(n, t)| (format!("  {n}"), *t)));
    }

    /// Ends the current stage: every stage's time.
    pub fn finish(mut self) -> Vec<(String, f64)> {
        self.stop();
        std::mem::take(&mut self.stages)
    }
}

impl Drop for Clock {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// The outcome of a build that found nothing changed: the previous one, with this run's times.
pub fn unchanged(mut previous: Outcome, stages: Vec<(String, f64)>, explain: bool) -> Outcome {
    previous.stages = stages;
    previous.explain = if explain { vec!["nothing changed since the last build: the dist is kept as it is".into()] } else { Vec::new() };
    previous.cache_hits = previous.units;
    previous.remote_hits = 0;
    previous
}

/// The outcome of a build that wrote `files`.
pub fn summarize(
    config: &BuildConfig,
    tree: &Tree,
    templates: &[Template],
    merged: &Manifest,
    files: &[DistFile],
    cache: &Cache,
    stages: Vec<(String, f64)>,
) -> Outcome {
    let out_prefix = config.out_prefix();
    let mut outcome = Outcome { framework: config.framework.clone(), files_in: tree.files_in, files_out: files.len(), stages, ..Outcome::default() };
    let blocks_dir = format!("{out_prefix}f/");
    // Input sizes by the path a dist file is traced back to (found files: under the output prefix).
    let found: BTreeMap<String, u64> = tree.found.iter().map(|f| (format!("{out_prefix}{}", f.key), f.bytes.len() as u64)).collect();
    let size_in = |r: &String| tree.sources.get(r).map(|s| s.bytes.len() as u64).or_else(|| found.get(r).copied());
    for f in files {
        // A file under the static prefix that is no asset (an asok template in src/partials/html/)
        // is its own source, copied to the same path.
        let b = match source_of(&f.dest, &out_prefix, merged) {
            Some(src_rel) => size_in(&src_rel),
            None => tree.sources.get(&f.dest).map(|s| s.bytes.len() as u64),
        }
        .unwrap_or(0);
        let is_block = f.dest.starts_with(&blocks_dir) && kind_name(&f.dest) != "precompressed";
        let k = outcome.kinds.entry(if is_block { "blocks (new)".to_string() } else { kind_name(&f.dest) }).or_default();
        k.files += 1;
        k.bytes_in += b;
        k.bytes_out += f.content.len();
        outcome.files.push((f.dest.clone(), b, f.content.len()));
    }
    outcome.edges = edges(merged, templates);
    outcome.explain = cache.explained();
    outcome.cache_hits = cache.hits();
    outcome.remote_hits = cache.remote_hits();
    outcome.warnings = cache.remote_warning().into_iter().collect();
    outcome.units = cache.units();
    outcome
}

/// The asset graph, sorted: asset → its deps, block → its assets, template → its blocks and URLs.
fn edges(merged: &Manifest, templates: &[Template]) -> Vec<(String, String)> {
    let mut edges = Vec::new();
    for (key, e) in &merged.assets {
        edges.extend(e.deps.iter().map(|d| (key.clone(), d.clone())));
    }
    for (key, b) in &merged.blocks {
        edges.extend(b.paths.iter().map(|p| (key.clone(), p.clone())));
    }
    for t in templates {
        let name = t.name.clone();
        edges.extend(t.scan.blocks.iter().map(|b| (name.clone(), scan::block_key(&b.paths))));
        edges.extend(t.scan.static_urls.iter().map(|u| (name.clone(), u.path.clone())));
    }
    edges.sort();
    edges.dedup();
    edges
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
