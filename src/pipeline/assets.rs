//! The asset steps that `kiln build` and `kiln assetman-compile` share (docs/design.md §8 steps
//! 1–6): static files minified or converted to WebP, versioned with their twins, asset blocks,
//! the merged manifest, and templates rewritten. Every unit is cached.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

use super::cache::{Built, Cache, Read};
use super::{blocks, schedule, templates, twins, webp, BuildConfig, BuildError, Errors, Naming, Problems};
use crate::assemble::Content;
use crate::fsutil;
use crate::hash::{self, Compression, HashOptions, Input, UrlStyle};
use crate::manifest::{self, md5_hex, Manifest};
use crate::minify::{self, Kind, MinifyOptions};
use crate::scan::Template;

/// How the static tree and the templates are processed.
#[derive(Debug, Clone)]
pub struct AssetOptions {
    pub prefix: String,
    pub cdn_prefix: Option<String>,
    pub url_style: UrlStyle,
    pub targets: String,
    pub compress: Compression,
    pub lessc: Option<PathBuf>,
    pub webp: bool,
    pub minify_static: bool,
    pub minify_templates: bool,
    /// A converted image keeps its original beside the WebP (references still go to the WebP).
    pub webp_beside: bool,
    /// Each asset is also written under its source name (collectstatic's layout).
    pub also_source_names: bool,
    /// Prefixes that name units in `--explain` (the static root's and the template dir's path in the app).
    pub static_label: String,
    pub template_label: String,
}

impl AssetOptions {
    /// `kiln build`'s: static files and templates minified, units named by their path in the
    /// app, files named as the runtime looks them up.
    pub fn of(config: &BuildConfig) -> AssetOptions {
        let source_names = config.naming == Naming::SourceNames;
        AssetOptions {
            prefix: config.prefix.clone(),
            cdn_prefix: config.cdn_prefix.clone(),
            url_style: config.url_style,
            targets: config.targets.clone(),
            compress: config.compress,
            lessc: config.lessc.clone(),
            webp: config.webp,
            minify_static: true,
            minify_templates: true,
            webp_beside: source_names,
            also_source_names: matches!(config.naming, Naming::Django { .. }),
            static_label: config.out_prefix(),
            // Templates are named by their path in the app.
            template_label: String::new(),
        }
    }

    /// How static files are versioned (their twins are separate units).
    pub fn hash_options(&self) -> HashOptions {
        HashOptions { url_style: self.url_style, prefix: self.prefix.clone(), compress: Compression::Off, cdn_prefix: self.cdn_prefix.clone() }
    }
}

/// A static file: its key (its path under the static root, or the name the framework finds it
/// by), where it was read, its bytes and their md5.
pub struct StaticFile {
    pub key: String,
    /// Errors name it; Django's files may live outside the app.
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

/// The processed static tree (paths relative to the static root), templates (by name) and manifest.
pub struct AssetsOut {
    pub static_out: BTreeMap<String, Content>,
    pub templates: Vec<(String, Content)>,
    pub manifest: Manifest,
    pub manifest_json: Vec<u8>,
    pub stages: Vec<(String, f64)>,
}

/// Times the asset steps, for the summary.
struct Laps {
    stages: Vec<(String, f64)>,
    clock: Instant,
}

impl Laps {
    fn lap(&mut self, name: &str) {
        let now = Instant::now();
        self.stages.push((name.to_string(), (now - self.clock).as_secs_f64()));
        self.clock = now;
    }
}

/// Static files (minified, WebP), versions and twins, asset blocks, the manifest, and templates
/// rewritten (and minified). Each step reports every problem it finds; the next runs only when
/// there were none.
pub fn assets(static_root: &Path, statics: Vec<StaticFile>, templates: &[Template], o: &AssetOptions, cache: &Cache) -> Result<AssetsOut, Errors> {
    let mut laps = Laps { stages: Vec::new(), clock: Instant::now() };
    let mopts =
        MinifyOptions { targets: minify::css::targets(&o.targets).map_err(|e| super::one(BuildError::Message(e)))?, js_mode: minify::JsMode::Detect };
    let (static_files, renames) = minify_and_convert(&statics, o, &mopts, cache)?;
    laps.lap("minify and webp");
    let (static_manifest, mut static_out) = version(static_root, &statics, &static_files, renames, o, cache)?;
    laps.lap("hash");
    let (block_manifest, block_out) = blocks::compile(static_root, &static_files, templates, &static_manifest, o, &mopts, cache)?;
    static_out.extend(block_out);
    let merged = manifest::merge(vec![("static".into(), static_manifest), ("blocks".into(), block_manifest)])
        .map_err(|e| e.into_iter().map(Into::into).collect::<Errors>())?;
    let manifest_json = fsutil::stable_json(&merged);
    laps.lap("blocks");
    let templates = templates::rewrite(templates, &merged, &manifest_json, o, &mopts, cache)?;
    laps.lap("templates");
    Ok(AssetsOut { static_out, templates, manifest: merged, manifest_json, stages: laps.stages })
}

/// Static files' bytes by key.
type StaticBytes = BTreeMap<String, Vec<u8>>;
/// `original → .webp` renames by key.
type Renames = BTreeMap<String, String>;

/// Steps 1–2: each static file minified (JS, CSS) or converted to WebP (an image, when asked),
/// else as it is; one unit each. Returns the files by key, and the renames WebP made.
fn minify_and_convert(statics: &[StaticFile], o: &AssetOptions, mopts: &MinifyOptions, cache: &Cache) -> Result<(StaticBytes, Renames), Errors> {
    let mopts_id = minify_options_id(o);
    // (key, the files it became, its rename)
    type Converted = (String, Built, Option<String>);
    let minified = |key: &str| Kind::from_name(key).filter(|k| *k != Kind::Html && o.minify_static);
    let converted = |key: &str| crate::webp::webp_rel(key).filter(|_| o.webp);
    // WebP encodes are most of a cold build's CPU: they start first, largest first, and the
    // minifier's files fill the cores beside them (a cached unit costs little either way).
    let cost = |f: &StaticFile| {
        let tier = if converted(&f.key).is_some() {
            2
        } else if minified(&f.key).is_some() {
            1
        } else {
            0
        };
        (tier << 40) | f.bytes.len().min((1 << 40) - 1) as u64
    };
    let results: Vec<Result<Converted, Errors>> = schedule::map_costliest_first(statics, cost, |StaticFile { key, path, bytes, md5 }| {
        let shown = fsutil::display(path);
        if let Some(kind) = minified(key) {
            let inputs = BTreeMap::from([(key.clone(), md5.clone()), ("options".into(), mopts_id.clone())]);
            let name = format!("minify {}{key}", o.static_label);
            let outs = cache.get_or_build(&name, inputs, Read::All, || {
                let out = minify::minify_source(kind, bytes, &shown, mopts).map_err(super::one)?;
                Ok::<_, Errors>(vec![(key.clone(), out)])
            })?;
            return Ok((key.clone(), in_bytes(outs)?, None));
        }
        match converted(key) {
            Some(webp_key) => {
                let unit_rel = format!("{}{key}", o.static_label);
                let (outs, rename) = webp::convert(cache, &unit_rel, key, &webp_key, bytes, md5, &shown)?;
                Ok((key.clone(), outs, rename))
            }
            None => Ok((key.clone(), vec![(key.clone(), bytes.clone())], None)),
        }
    });
    let mut problems = Problems::default();
    let mut static_files = BTreeMap::new();
    let mut renames = BTreeMap::new();
    for (key, outs, rename) in problems.keep(results) {
        if let Some(to) = rename {
            renames.insert(key, to);
        }
        static_files.extend(outs);
    }
    problems.check()?;
    Ok((static_files, renames))
}

/// What identifies the minifier's options in a unit's inputs.
pub fn minify_options_id(o: &AssetOptions) -> String {
    format!("{} targets={} ", env!("CARGO_PKG_VERSION"), o.targets)
}

/// The bytes of outputs read whole (`Read::All`, or just built).
pub fn in_bytes(outputs: super::cache::Outputs) -> Result<Built, Errors> {
    outputs.into_iter().map(|(rel, c)| Ok((rel, c.into_bytes().map_err(super::one)?))).collect()
}

/// Step 3: versions (stylesheets' references rewritten) and each versioned file's twins.
fn version(
    static_root: &Path,
    statics: &[StaticFile],
    static_files: &BTreeMap<String, Vec<u8>>,
    renames: BTreeMap<String, String>,
    o: &AssetOptions,
    cache: &Cache,
) -> Result<(Manifest, BTreeMap<String, Content>), Errors> {
    let known = Manifest { renames: renames.clone(), ..Manifest::default() };
    let paths: BTreeMap<&str, &Path> = statics.iter().map(|f| (f.key.as_str(), f.path.as_path())).collect();
    let path_of = |key: &str| paths.get(key).map(|p| p.to_path_buf()).unwrap_or_else(|| static_root.join(key));
    let inputs: Vec<Input> =
        static_files.iter().map(|(key, bytes)| Input { key: key.clone(), path: path_of(key), bytes: Some(bytes.clone()) }).collect();
    let hashed = hash::hash_batch(&inputs, &known, &o.hash_options()).map_err(|e| e.into_iter().map(Into::into).collect::<Errors>())?;
    let mut static_manifest = hash::partial(&hashed);
    static_manifest.renames = renames;
    let versioned: Vec<(String, String, Content)> =
        hashed.into_iter().flat_map(|h| h.outputs.into_iter().map(move |(rel, bytes)| (h.key.clone(), rel, Content::from(bytes)))).collect();
    let twins: Vec<Result<(String, super::cache::Outputs), BuildError>> =
        versioned.par_iter().map(|(key, rel, content)| Ok((key.clone(), twins::twins(cache, key, rel, content, o.compress)?))).collect();
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
        let (key, outs) = r.map_err(super::one)?;
        if let Some(entry) = static_manifest.assets.get_mut(&key) {
            entry.encodings.extend(hash::encodings_of(outs.iter().map(|(rel, _)| rel)));
        }
        static_out.extend(outs);
    }
    Ok((static_manifest, static_out))
}
