//! Versions assets: md5 of the content combined with the dependencies' versions, references
//! inside stylesheets rewritten to the dependencies' versioned URLs, SRI, and precompressed
//! twins. A batch is processed in dependency order, each level in parallel.

pub mod block;
pub mod css;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;

use base64::Engine;
use md5::{Digest, Md5};
use rayon::prelude::*;
use sha2::Sha384;

use crate::fsutil::{self, FsError};
use crate::manifest::{hex, md5_hex, AssetEntry, Manifest};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UrlStyle {
    /// `css/app.<first 12 hex of version>.css`: a file of its own, servable by any CDN.
    #[default]
    Filename,
    /// `<prefix>v:<version>/css/app.css`: Assetman's URL; the file keeps its path.
    Assetman,
    /// `css/app.css`: the file keeps its name and is found by it (asok's `static()` adds its own
    /// `?v=`); references still follow renames (`img/a.png` → `img/a.webp`).
    Source,
}

/// Which precompressed twins to write, and how hard to compress them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Compression {
    /// No twins.
    #[default]
    Off,
    /// brotli q5, gzip 9, zstd 9: within ~7% of `max` at ~1/20 of its CPU time, so a cold build
    /// and an edit stay fast.
    Fast,
    /// brotli q11 (lgwin 22), gzip 9, zstd 19: the smallest files, for a release pipeline that
    /// can spend the time.
    Max,
}

impl Compression {
    /// (brotli quality, zstd level); gzip is always level 9 (cheap at any level).
    fn levels(self) -> Option<(i32, i32)> {
        match self {
            Compression::Off => None,
            Compression::Fast => Some((5, 9)),
            Compression::Max => Some((11, 19)),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::Off => "off",
            Compression::Fast => "fast",
            Compression::Max => "max",
        }
    }
}

#[derive(Debug, Clone)]
pub struct HashOptions {
    pub url_style: UrlStyle,
    /// URL prefix the static root is served under (`/s/`); absolute references under it are ours.
    pub prefix: String,
    /// Also write `.br`, `.gz` and `.zst` twins that are at most 95% of the original's size.
    pub compress: Compression,
    /// Absolute URLs written into outputs start with this instead of `prefix` (a CDN origin).
    pub cdn_prefix: Option<String>,
}

impl HashOptions {
    /// The prefix of every absolute URL kiln writes.
    pub fn url_prefix(&self) -> &str {
        self.cdn_prefix.as_deref().unwrap_or(&self.prefix)
    }
}

impl Default for HashOptions {
    fn default() -> Self {
        HashOptions { url_style: UrlStyle::Filename, prefix: "/s/".into(), compress: Compression::Off, cdn_prefix: None }
    }
}

/// One asset to version: its manifest key (path relative to the static root), where it lives
/// (named in messages), and its bytes when they are already in memory (else read from `path`).
#[derive(Debug, Clone)]
pub struct Input {
    pub key: String,
    pub path: PathBuf,
    pub bytes: Option<Vec<u8>>,
}

/// A versioned asset: its manifest entry and the files to write (paths relative to the output root).
#[derive(Debug, Clone)]
pub struct Hashed {
    pub key: String,
    pub entry: AssetEntry,
    pub outputs: Vec<(String, Vec<u8>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{path}:{line}:{col}: {message}")]
    At { path: String, line: usize, col: usize, message: String },
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("dependency cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
}

impl From<crate::minify::MinifyError> for HashError {
    fn from(e: crate::minify::MinifyError) -> Self {
        use crate::minify::MinifyError as M;
        match e {
            M::Fs(e) => HashError::Fs(e),
            M::At { path, line, col, message } => HashError::At { path, line, col, message },
            M::File { path, message } => HashError::File { path, message },
        }
    }
}

/// An asset's version: the md5 of its content when it has no dependencies; otherwise the md5 of
/// that content md5 followed by `\n<dep path> <dep version>` for each dependency in sorted order.
pub fn version_of(content: &[u8], deps: &BTreeMap<String, String>) -> String {
    let content_md5 = md5_hex(content);
    if deps.is_empty() {
        return content_md5;
    }
    let mut h = Md5::new();
    h.update(content_md5.as_bytes());
    for (path, version) in deps {
        h.update(b"\n");
        h.update(path.as_bytes());
        h.update(b" ");
        h.update(version.as_bytes());
    }
    hex(&h.finalize())
}

/// `sha384-<base64>` of the bytes, as browsers check it.
pub fn sri(bytes: &[u8]) -> String {
    format!("sha384-{}", base64::engine::general_purpose::STANDARD.encode(Sha384::digest(bytes)))
}

/// Where a version is served, relative to the static prefix.
pub fn versioned_path(key: &str, version: &str, style: UrlStyle) -> String {
    match style {
        UrlStyle::Assetman => format!("v:{version}/{key}"),
        UrlStyle::Source => key.to_string(),
        UrlStyle::Filename => {
            let short = &version[..version.len().min(12)];
            let (dir, name) = match key.rfind('/') {
                Some(i) => (&key[..=i], &key[i + 1..]),
                None => ("", key),
            };
            match name.rfind('.') {
                Some(dot) if dot > 0 => format!("{dir}{}.{short}{}", &name[..dot], &name[dot..]),
                _ => format!("{dir}{name}.{short}"),
            }
        }
    }
}

/// Extensions that are already compressed: twins would not be smaller.
pub(crate) const PRECOMPRESSED: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "webp", "avif", "woff", "woff2", "gz", "br", "zst", "zip", "mp3", "mp4", "webm", "ogg",
];

pub(crate) fn extension(key: &str) -> String {
    let name = key.rsplit('/').next().unwrap_or(key);
    match name.rfind('.') {
        Some(i) if i > 0 => name[i + 1..].to_ascii_lowercase(),
        _ => String::new(),
    }
}

/// Content-Encoding name and file extension of each twin, in the order compress_all writes them.
const TWIN_ENCODINGS: [(&str, &str); 3] = [("br", "br"), ("gzip", "gz"), ("zstd", "zst")];

/// Whether twins of a served file are worth writing (not for already-compressed formats).
pub fn compressible(file: &str) -> bool {
    !PRECOMPRESSED.contains(&extension(file).as_str())
}

/// The twins of the served file `file`: `(twin path, bytes)`, kept only when smaller (see
/// compress_all); none for already-compressed formats.
pub fn twins(file: &str, bytes: &[u8], level: Compression) -> Vec<(String, Vec<u8>)> {
    if !compressible(file) {
        return Vec::new();
    }
    compress_all(bytes, level).into_iter().map(|(_, ext, data)| (format!("{file}.{ext}"), data)).collect()
}

/// The `encodings` of a manifest entry for these twins: Content-Encoding → twin path.
pub fn encodings_of<'a>(twins: impl IntoIterator<Item = &'a String>) -> BTreeMap<String, String> {
    twins
        .into_iter()
        .filter_map(|path| {
            let ext = path.rsplit('.').next()?;
            TWIN_ENCODINGS.iter().find(|(_, e)| *e == ext).map(|(name, _)| (name.to_string(), path.clone()))
        })
        .collect()
}

/// Deterministic twins: fixed levels, no names or times in headers, single-threaded.
pub fn compress_all(bytes: &[u8], level: Compression) -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let Some((br_quality, zstd_level)) = level.levels() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut br = Vec::new();
    {
        // lgwin stays 22 for small files too: a window sized to the input made this brotli
        // encoder ~10× slower at q5. A file under 1 MiB goes in as one piece, so the encoder
        // sizes its ring buffer to the file instead of zeroing the window's 4 MiB for each one
        // (same bytes as 4 KiB pieces, checked on the bench corpora; larger files still stream).
        let params = brotli::enc::BrotliEncoderParams { quality: br_quality, lgwin: 22, ..Default::default() };
        let mut input_buffer = vec![0u8; if bytes.len() < 1 << 20 { bytes.len().max(1) } else { 4096 }];
        let mut output_buffer = [0u8; 4096];
        let _ = brotli::BrotliCompressCustomAlloc(
            &mut &bytes[..],
            &mut br,
            &mut input_buffer,
            &mut output_buffer,
            &params,
            brotli::enc::StandardAlloc::default(),
        );
    }
    let mut gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::best());
    let gz = gz.write_all(bytes).and_then(|_| gz.finish()).unwrap_or_default();
    let zst = zstd::bulk::compress(bytes, zstd_level).unwrap_or_default();
    for ((name, ext), data) in TWIN_ENCODINGS.into_iter().zip([br, gz, zst]) {
        out.push((name, ext, data));
    }
    out.retain(|(_, _, c)| !c.is_empty() && c.len() * 100 <= bytes.len() * 95);
    out
}

/// A reference found in an asset, resolved to a manifest key.
struct Reference {
    span: (usize, usize),
    /// 1-based position of the token, for messages.
    line: usize,
    col: usize,
    is_url_fn: bool,
    key: String,
    /// `?query#fragment` kept on the rewritten URL.
    suffix: String,
    absolute: bool,
}

/// Resolves a URL written in `from` to a manifest key. `Ok(None)`: not a local asset (data:,
/// a scheme, `//host`, a fragment, or an absolute path outside the static prefix).
pub(crate) fn resolve(from: &str, url: &str, prefix: &str) -> Result<Option<(String, String, bool)>, String> {
    let url = url.trim();
    if url.is_empty() || url.starts_with('#') || url.starts_with("//") || has_scheme(url) {
        return Ok(None);
    }
    let cut = url.find(['?', '#']).unwrap_or(url.len());
    let (path, suffix) = url.split_at(cut);
    let path = percent_decode(path);
    let (joined, absolute) = if let Some(rest) = path.strip_prefix('/') {
        let pfx = prefix.trim_start_matches('/');
        match rest.strip_prefix(pfx) {
            Some(inner) if !pfx.is_empty() || !inner.is_empty() => (inner.to_string(), true),
            _ => return Ok(None),
        }
    } else {
        let dir = from.rfind('/').map(|i| &from[..=i]).unwrap_or("");
        (format!("{dir}{path}"), false)
    };
    match fsutil::normalize_rel(&joined) {
        Ok(key) => Ok(Some((key, suffix.to_string(), absolute))),
        Err(_) => Err(format!("{url} resolves outside the static root")),
    }
}

fn has_scheme(url: &str) -> bool {
    match url.find(':') {
        Some(i) if i > 0 => {
            let s = &url[..i];
            s.as_bytes()[0].is_ascii_alphabetic()
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
        }
        _ => false,
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = ((b[i + 1] as char).to_digit(16), (b[i + 2] as char).to_digit(16)) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// Path from directory `from_dir` (`a/b/`, or empty for the root) to `to` (a root-relative path).
fn relative_url(from_dir: &str, to: &str) -> String {
    let from: Vec<&str> = from_dir.split('/').filter(|s| !s.is_empty()).collect();
    let to_parts: Vec<&str> = to.split('/').collect();
    let common = from.iter().zip(&to_parts).take_while(|(a, b)| a == b).count();
    let common = common.min(to_parts.len() - 1);
    let mut out = "../".repeat(from.len() - common);
    out.push_str(&to_parts[common..].join("/"));
    out
}

struct Loaded {
    input: Input,
    bytes: Vec<u8>,
    refs: Vec<Reference>,
}

fn load(input: &Input, opts: &HashOptions) -> Result<Loaded, Vec<HashError>> {
    let bytes = match &input.bytes {
        Some(b) => b.clone(),
        None => fsutil::read(&input.path).map_err(|e| vec![e.into()])?,
    };
    let shown = fsutil::display(&input.path);
    let mut refs = Vec::new();
    if extension(&input.key) == "css" {
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| vec![HashError::File { path: shown.clone(), message: "stylesheet is not UTF-8".into() }])?;
        let found = css::find_refs(text, &shown).map_err(|e| {
            vec![HashError::At { path: shown.clone(), line: e.line, col: e.col, message: e.message }]
        })?;
        let mut errors = Vec::new();
        for r in found {
            match resolve(&input.key, &r.url, &opts.prefix) {
                Ok(Some((key, suffix, absolute))) => {
                    refs.push(Reference { span: (r.start, r.end), line: r.line, col: r.col, is_url_fn: r.is_url_fn, key, suffix, absolute })
                }
                Ok(None) => {}
                Err(message) => errors.push(HashError::At { path: shown.clone(), line: r.line, col: r.col, message }),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
    }
    Ok(Loaded { input: input.clone(), bytes, refs })
}

/// Versions a batch of assets. `known` holds the entries and renames of assets outside the
/// batch (from dependency partial manifests); a reference to an asset neither in the batch nor
/// known is an error. A reference to a renamed original (`img/a.jpg` → `img/a.webp`) that is not
/// itself in the batch points at its replacement. Every problem in the batch is reported.
pub fn hash_batch(inputs: &[Input], known: &Manifest, opts: &HashOptions) -> Result<Vec<Hashed>, Vec<HashError>> {
    let loaded: Vec<Result<Loaded, Vec<HashError>>> = inputs.par_iter().map(|i| load(i, opts)).collect();
    let mut errors = Vec::new();
    let mut assets: BTreeMap<String, Loaded> = BTreeMap::new();
    for l in loaded {
        match l {
            Ok(l) => {
                assets.insert(l.input.key.clone(), l);
            }
            Err(e) => errors.extend(e),
        }
    }
    let in_batch: BTreeSet<String> = assets.keys().cloned().collect();
    for l in assets.values_mut() {
        for r in &mut l.refs {
            if !in_batch.contains(&r.key) {
                if let Some(to) = known.renames.get(&r.key) {
                    r.key = to.clone();
                }
            }
        }
    }
    let known = &known.assets;
    for l in assets.values() {
        for r in &l.refs {
            if !assets.contains_key(&r.key) && !known.contains_key(&r.key) {
                errors.push(HashError::At {
                    path: fsutil::display(&l.input.path),
                    line: r.line,
                    col: r.col,
                    message: format!("references {}, which is not an input nor in any dependency manifest", r.key),
                });
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let order = levels(&assets).map_err(|c| vec![c])?;
    let mut done: BTreeMap<String, AssetEntry> = BTreeMap::new();
    let mut results = Vec::with_capacity(assets.len());
    for level in order {
        let hashed: Vec<Hashed> = level
            .par_iter()
            .map(|key| {
                let l = &assets[key];
                let lookup = |k: &str| done.get(k).or_else(|| known.get(k));
                version_one(l, &lookup, opts)
            })
            .collect();
        for h in hashed {
            done.insert(h.key.clone(), h.entry.clone());
            results.push(h);
        }
    }
    results.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(results)
}

/// Topological levels of the batch (dependencies outside the batch are already known).
fn levels(assets: &BTreeMap<String, Loaded>) -> Result<Vec<Vec<String>>, HashError> {
    let deps: BTreeMap<&str, BTreeSet<&str>> = assets
        .iter()
        .map(|(k, l)| {
            let d = l.refs.iter().map(|r| r.key.as_str()).filter(|d| assets.contains_key(*d) && d != k).collect();
            (k.as_str(), d)
        })
        .collect();
    if let Some(cycle) = find_cycle(&deps) {
        return Err(HashError::Cycle(cycle));
    }
    let mut level_of: BTreeMap<&str, usize> = BTreeMap::new();
    fn depth<'a>(k: &'a str, deps: &BTreeMap<&'a str, BTreeSet<&'a str>>, memo: &mut BTreeMap<&'a str, usize>) -> usize {
        if let Some(&d) = memo.get(k) {
            return d;
        }
        let d = deps[k].iter().map(|d| depth(d, deps, memo) + 1).max().unwrap_or(0);
        memo.insert(k, d);
        d
    }
    for k in deps.keys() {
        depth(k, &deps, &mut level_of);
    }
    let n = level_of.values().copied().max().map(|m| m + 1).unwrap_or(0);
    let mut out = vec![Vec::new(); n];
    for (k, d) in level_of {
        out[d].push(k.to_string());
    }
    Ok(out)
}

fn find_cycle(deps: &BTreeMap<&str, BTreeSet<&str>>) -> Option<Vec<String>> {
    // Iterative DFS with colours; the first back edge found (in sorted order) names the cycle.
    let mut state: BTreeMap<&str, u8> = BTreeMap::new();
    for &start in deps.keys() {
        if state.contains_key(start) {
            continue;
        }
        let mut stack: Vec<(&str, Vec<&str>)> = vec![(start, deps[start].iter().copied().collect())];
        state.insert(start, 1);
        while let Some((node, pending)) = stack.last_mut() {
            let node = *node;
            match pending.pop() {
                Some(next) => match state.get(next) {
                    Some(1) => {
                        let pos = stack.iter().position(|(n, _)| *n == next).unwrap_or(0);
                        let mut cycle: Vec<String> = stack[pos..].iter().map(|(n, _)| n.to_string()).collect();
                        cycle.push(next.to_string());
                        return Some(cycle);
                    }
                    Some(_) => {}
                    None => {
                        state.insert(next, 1);
                        let mut succ: Vec<&str> = deps[next].iter().copied().collect();
                        succ.reverse();
                        stack.push((next, succ));
                    }
                },
                None => {
                    state.insert(node, 2);
                    stack.pop();
                }
            }
        }
    }
    None
}

fn version_one<'a>(l: &Loaded, lookup: &dyn Fn(&str) -> Option<&'a AssetEntry>, opts: &HashOptions) -> Hashed {
    let key = &l.input.key;
    let mut dep_versions = BTreeMap::new();
    for r in &l.refs {
        if let Some(e) = lookup(&r.key) {
            dep_versions.insert(r.key.clone(), e.version.clone());
        }
    }
    let version = version_of(&l.bytes, &dep_versions);
    let vpath = versioned_path(key, &version, opts.url_style);
    let file = match opts.url_style {
        UrlStyle::Filename | UrlStyle::Source => vpath.clone(),
        UrlStyle::Assetman => key.clone(),
    };
    let bytes = if l.refs.is_empty() { l.bytes.clone() } else { rewrite(l, &file, lookup, opts) };
    let mut outputs = twins(&file, &bytes, opts.compress);
    let encodings = encodings_of(outputs.iter().map(|(rel, _)| rel));
    let entry = AssetEntry {
        version,
        versioned_path: vpath,
        deps: dep_versions.keys().cloned().collect(),
        integrity: sri(&bytes),
        encodings,
    };
    outputs.push((file, bytes));
    outputs.sort();
    Hashed { key: key.clone(), entry, outputs }
}

/// Replaces every local reference with its dependency's versioned URL; all other bytes stay.
fn rewrite<'a>(l: &Loaded, file: &str, lookup: &dyn Fn(&str) -> Option<&'a AssetEntry>, opts: &HashOptions) -> Vec<u8> {
    let src = &l.bytes;
    let file_dir = file.rfind('/').map(|i| &file[..=i]).unwrap_or("");
    let mut out = Vec::with_capacity(src.len() + 64);
    let mut pos = 0;
    for r in &l.refs {
        let Some(dep) = lookup(&r.key) else { continue };
        let target = if opts.url_style == UrlStyle::Assetman || r.absolute {
            format!("{}{}", opts.url_prefix(), dep.versioned_path)
        } else {
            relative_url(file_dir, &dep.versioned_path)
        };
        out.extend_from_slice(&src[pos..r.span.0]);
        out.extend_from_slice(css::url_token(&format!("{target}{}", r.suffix), r.is_url_fn).as_bytes());
        pos = r.span.1;
    }
    out.extend_from_slice(&src[pos..]);
    out
}

/// The partial manifest of a hashed batch.
pub fn partial(hashed: &[Hashed]) -> Manifest {
    Manifest { assets: hashed.iter().map(|h| (h.key.clone(), h.entry.clone())).collect(), ..Manifest::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_paths() {
        let v = "0123456789abcdef0123456789abcdef";
        assert_eq!(versioned_path("css/app.css", v, UrlStyle::Filename), "css/app.0123456789ab.css");
        assert_eq!(versioned_path("LICENSE", v, UrlStyle::Filename), "LICENSE.0123456789ab");
        assert_eq!(versioned_path(".htaccess", v, UrlStyle::Filename), ".htaccess.0123456789ab");
        assert_eq!(versioned_path("a/b.tar.gz", v, UrlStyle::Filename), "a/b.tar.0123456789ab.gz");
        assert_eq!(versioned_path("css/app.css", v, UrlStyle::Assetman), format!("v:{v}/css/app.css"));
        assert_eq!(versioned_path("css/app.css", v, UrlStyle::Source), "css/app.css");
    }

    #[test]
    fn version_covers_deps_in_sorted_order() {
        let leaf = version_of(b"x", &BTreeMap::new());
        assert_eq!(leaf, md5_hex(b"x"));
        let a: BTreeMap<String, String> = [("b".into(), "1".into()), ("a".into(), "2".into())].into();
        let v = version_of(b"x", &a);
        assert_eq!(v, md5_hex(format!("{leaf}\na 2\nb 1").as_bytes()));
        let changed: BTreeMap<String, String> = [("b".into(), "3".into()), ("a".into(), "2".into())].into();
        assert_ne!(v, version_of(b"x", &changed));
    }

    #[test]
    fn resolve_classifies_urls() {
        let r = |u: &str| resolve("css/app.css", u, "/s/");
        assert_eq!(r("../img/a.png").unwrap(), Some(("img/a.png".into(), "".into(), false)));
        assert_eq!(r("font.woff2?#iefix").unwrap(), Some(("css/font.woff2".into(), "?#iefix".into(), false)));
        assert_eq!(r("/s/img/a%20b.png").unwrap(), Some(("img/a b.png".into(), "".into(), true)));
        for ext in ["data:image/png;base64,xx", "https://x/y.png", "//cdn/x.png", "#frag", "/other/x.png", "HTTP://x"] {
            assert_eq!(r(ext).unwrap(), None, "{ext}");
        }
        assert!(r("../../etc/passwd").is_err());
        assert!(r("/s/../etc/passwd").is_err());
    }

    #[test]
    fn relative_urls() {
        assert_eq!(relative_url("css/", "img/a.1.png"), "../img/a.1.png");
        assert_eq!(relative_url("css/", "css/b.1.css"), "b.1.css");
        assert_eq!(relative_url("", "img/a.png"), "img/a.png");
        assert_eq!(relative_url("a/b/", "a/c/d.png"), "../c/d.png");
    }

    #[test]
    fn twins_are_deterministic_and_only_when_smaller() {
        let text = "body { color: red; }\n".repeat(50);
        for level in [Compression::Fast, Compression::Max] {
            let a = compress_all(text.as_bytes(), level);
            let b = compress_all(text.as_bytes(), level);
            assert_eq!(a.len(), 3);
            assert_eq!(a, b);
            assert!(compress_all(b"x", level).is_empty());
        }
        assert!(compress_all(text.as_bytes(), Compression::Off).is_empty());
    }
}
