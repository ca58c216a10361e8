//! Versions assets: md5 of the content combined with the dependencies' versions, references
//! inside stylesheets and JavaScript rewritten to the dependencies' versioned URLs, SRI, and
//! precompressed twins. A batch is processed in dependency order, each level in parallel; the
//! modules of an import cycle are versioned together (see `component_version`).

pub mod block;
pub mod css;
pub mod js;

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
pub(crate) const PRECOMPRESSED: &[&str] =
    &["png", "jpg", "jpeg", "gif", "webp", "avif", "woff", "woff2", "gz", "br", "zst", "zip", "mp3", "mp4", "webm", "ogg"];

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

/// How a reference is written, so its replacement is a token of the same form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `url(…)` or a bare string (`@import "x.css"`).
    Css { is_url_fn: bool },
    /// A JS string literal or a comment's URL. `dot_slash`: a relative replacement starts with
    /// `./` (a module specifier without it would be bare).
    Js { quote: js::Quote, dot_slash: bool },
}

/// A reference found in an asset, resolved to a manifest key.
struct Reference {
    span: (usize, usize),
    /// 1-based position of the token, for messages.
    line: usize,
    col: usize,
    form: Form,
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
            s.as_bytes()[0].is_ascii_alphabetic() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
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

/// JavaScript that browsers load: its imports, `new URL(…, import.meta.url)`s and source-map
/// comments are references.
pub(crate) fn is_js(key: &str) -> bool {
    matches!(extension(key).as_str(), "js" | "mjs")
}

struct Loaded {
    input: Input,
    bytes: Vec<u8>,
    refs: Vec<Reference>,
    /// Bare module specifiers (`"lodash"`), left as written: (specifier, line, col).
    bare: Vec<(String, usize, usize)>,
}

/// Resolves one reference of `key` and records it (or its error).
#[allow(clippy::too_many_arguments)]
fn push_ref(
    key: &str,
    shown: &str,
    prefix: &str,
    url: &str,
    span: (usize, usize),
    (line, col): (usize, usize),
    form: Form,
    refs: &mut Vec<Reference>,
    errors: &mut Vec<HashError>,
) {
    match resolve(key, url, prefix) {
        Ok(Some((dep, suffix, absolute))) => refs.push(Reference { span, line, col, form, key: dep, suffix, absolute }),
        Ok(None) => {}
        Err(message) => errors.push(HashError::At { path: shown.to_string(), line, col, message }),
    }
}

fn utf8<'a>(bytes: &'a [u8], shown: &str, what: &str) -> Result<&'a str, Vec<HashError>> {
    std::str::from_utf8(bytes).map_err(|_| vec![HashError::File { path: shown.to_string(), message: format!("{what} is not UTF-8") }])
}

fn load(input: &Input, opts: &HashOptions) -> Result<Loaded, Vec<HashError>> {
    let bytes = match &input.bytes {
        Some(b) => b.clone(),
        None => fsutil::read(&input.path).map_err(|e| vec![e.into()])?,
    };
    let shown = fsutil::display(&input.path);
    let key = input.key.as_str();
    let mut refs = Vec::new();
    let mut bare = Vec::new();
    let mut errors = Vec::new();
    if extension(key) == "css" {
        let text = utf8(&bytes, &shown, "stylesheet")?;
        let found =
            css::find_refs(text, &shown).map_err(|e| vec![HashError::At { path: shown.clone(), line: e.line, col: e.col, message: e.message }])?;
        for r in found {
            let form = Form::Css { is_url_fn: r.is_url_fn };
            push_ref(key, &shown, &opts.prefix, &r.url, (r.start, r.end), (r.line, r.col), form, &mut refs, &mut errors);
        }
        for r in js::css_source_map_refs(text) {
            let form = Form::Js { quote: r.quote, dot_slash: false };
            push_ref(key, &shown, &opts.prefix, &r.url, (r.start, r.end), (r.line, r.col), form, &mut refs, &mut errors);
        }
    } else if is_js(key) {
        let text = utf8(&bytes, &shown, "script")?;
        let found = js::find_refs(text).map_err(|e| vec![HashError::At { path: shown.clone(), line: e.line, col: e.col, message: e.message }])?;
        for r in found {
            if r.kind == js::JsRefKind::Module && !js::is_path_specifier(&r.url) {
                if !has_scheme(&r.url) {
                    bare.push((r.url, r.line, r.col));
                }
                continue;
            }
            if js::names_directory(&r.url) {
                continue;
            }
            let dot_slash = r.kind == js::JsRefKind::Module || r.url.starts_with("./");
            let form = Form::Js { quote: r.quote, dot_slash };
            push_ref(key, &shown, &opts.prefix, &r.url, (r.start, r.end), (r.line, r.col), form, &mut refs, &mut errors);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    refs.sort_by_key(|r| r.span.0);
    Ok(Loaded { input: input.clone(), bytes, refs, bare })
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
    let exists = |k: &str| assets.contains_key(k) || known.contains_key(k);
    // Known entries that depend, directly or not, on an asset of this batch: a batch asset
    // referencing one closes a cycle across two runs, which cannot agree on one version for it.
    let mut dependents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, e) in known.iter().filter(|(k, _)| !assets.contains_key(*k)) {
        for d in &e.deps {
            dependents.entry(d.as_str()).or_default().push(k.as_str());
        }
    }
    let mut reaches_batch: BTreeSet<&str> = BTreeSet::new();
    let mut todo: Vec<&str> = assets.keys().map(String::as_str).collect();
    while let Some(k) = todo.pop() {
        for &d in dependents.get(k).into_iter().flatten() {
            if reaches_batch.insert(d) {
                todo.push(d);
            }
        }
    }
    for l in assets.values() {
        let at = |line, col, message| HashError::At { path: fsutil::display(&l.input.path), line, col, message };
        for r in &l.refs {
            if !exists(&r.key) {
                errors.push(at(r.line, r.col, format!("references {}, which is not an input nor in any dependency manifest", r.key)));
            } else if !assets.contains_key(&r.key) && reaches_batch.contains(r.key.as_str()) {
                errors.push(at(
                    r.line,
                    r.col,
                    format!("references {}, whose --dep entry depends on this batch in turn: version an import cycle in one kiln-hash run", r.key),
                ));
            }
        }
        // A bare specifier is left for an import map to resolve; one that names a file of the
        // static tree would load it by its unversioned name, which a versioned dist lacks.
        for (spec, line, col) in l.bare.iter().filter(|_| opts.url_style != UrlStyle::Source) {
            let beside = resolve(&l.input.key, &format!("./{spec}"), &opts.prefix).ok().flatten().map(|(k, _, _)| k);
            let from_root = fsutil::normalize_rel(spec.split(['?', '#']).next().unwrap_or(spec)).ok();
            if let Some(k) = beside.iter().chain(from_root.iter()).find(|k| exists(k)) {
                let hint = if beside.as_deref() == Some(k.as_str()) { format!("\"./{spec}\"") } else { format!("\"{}{k}\"", opts.prefix) };
                errors.push(at(
                    *line,
                    *col,
                    format!("bare specifier \"{spec}\" names {k}, which is served only under its versioned name: import it as {hint}"),
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let order = components(&assets).map_err(|c| vec![c])?;
    let mut done: BTreeMap<String, AssetEntry> = BTreeMap::new();
    let mut results = Vec::with_capacity(assets.len());
    for level in order {
        let hashed: Vec<Vec<Hashed>> = level
            .par_iter()
            .map(|component| {
                let lookup = |k: &str| done.get(k).or_else(|| known.get(k));
                match component.as_slice() {
                    [key] if !self_referencing(&assets[key]) => vec![version_one(&assets[key], &lookup, opts)],
                    _ => version_component(&component.iter().map(|k| &assets[k]).collect::<Vec<_>>(), &lookup, opts),
                }
            })
            .collect();
        for h in hashed.into_iter().flatten() {
            done.insert(h.key.clone(), h.entry.clone());
            results.push(h);
        }
    }
    results.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(results)
}

/// A module that references itself (a worker that starts copies of itself): it is a cycle of one.
fn self_referencing(l: &Loaded) -> bool {
    is_js(&l.input.key) && l.refs.iter().any(|r| r.key == l.input.key)
}

/// The batch's strongly connected components (Tarjan), in levels: every component depends only
/// on components of earlier levels (dependencies outside the batch are already known). A cycle
/// is legal between JS modules only; any other (`a.css @import b.css @import a.css`) is an error
/// naming it. A stylesheet's reference to itself is left alone, as before cycles were legal.
fn components(assets: &BTreeMap<String, Loaded>) -> Result<Vec<Vec<Vec<String>>>, HashError> {
    let keys: Vec<&str> = assets.keys().map(String::as_str).collect();
    let index_of: BTreeMap<&str, usize> = keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let succ: Vec<Vec<usize>> = keys
        .iter()
        .map(|k| {
            let l = &assets[*k];
            let own_ok = is_js(k);
            let set: BTreeSet<usize> =
                l.refs.iter().filter(|r| own_ok || r.key != *k).filter_map(|r| index_of.get(r.key.as_str()).copied()).collect();
            set.into_iter().collect()
        })
        .collect();
    let n = keys.len();
    const UNSEEN: usize = usize::MAX;
    let (mut index, mut low, mut on_stack) = (vec![UNSEEN; n], vec![0; n], vec![false; n]);
    let (mut stack, mut next, mut comps): (Vec<usize>, usize, Vec<Vec<usize>>) = (Vec::new(), 0, Vec::new());
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        let mut call: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&(v, edge)) = call.last() {
            if edge < succ[v].len() {
                if let Some(top) = call.last_mut() {
                    top.1 += 1;
                }
                let w = succ[v][edge];
                if index[w] == UNSEEN {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    call.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            call.pop();
            if let Some(&(u, _)) = call.last() {
                low[u] = low[u].min(low[v]);
            }
            if low[v] == index[v] {
                let mut comp = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                comp.sort_unstable();
                comps.push(comp);
            }
        }
    }
    // Tarjan emits a component after every component it reaches: dependencies come first.
    let mut comp_of = vec![0; n];
    for (c, comp) in comps.iter().enumerate() {
        for &m in comp {
            comp_of[m] = c;
        }
    }
    let mut level = vec![0usize; comps.len()];
    for (c, comp) in comps.iter().enumerate() {
        let cyclic = comp.len() > 1 || succ[comp[0]].contains(&comp[0]);
        if cyclic && !comp.iter().all(|&m| is_js(keys[m])) {
            let members: BTreeSet<usize> = comp.iter().copied().collect();
            let deps: BTreeMap<&str, BTreeSet<&str>> =
                comp.iter().map(|&m| (keys[m], succ[m].iter().filter(|s| members.contains(s)).map(|&s| keys[s]).collect())).collect();
            return Err(HashError::Cycle(find_cycle(&deps).unwrap_or_else(|| comp.iter().map(|&m| keys[m].to_string()).collect())));
        }
        level[c] = comp.iter().flat_map(|&m| &succ[m]).map(|&s| comp_of[s]).filter(|&d| d != c).map(|d| level[d] + 1).max().unwrap_or(0);
    }
    let mut out: Vec<Vec<Vec<String>>> = vec![Vec::new(); level.iter().max().map_or(0, |m| m + 1)];
    for (c, comp) in comps.iter().enumerate() {
        out[level[c]].push(comp.iter().map(|&m| keys[m].to_string()).collect());
    }
    for l in &mut out {
        l.sort();
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

type Lookup<'a> = dyn Fn(&str) -> Option<&'a AssetEntry> + 'a;

fn version_one<'a>(l: &Loaded, lookup: &Lookup<'a>, opts: &HashOptions) -> Hashed {
    let mut dep_versions = BTreeMap::new();
    for r in &l.refs {
        if let Some(e) = lookup(&r.key) {
            dep_versions.insert(r.key.clone(), e.version.clone());
        }
    }
    let version = version_of(&l.bytes, &dep_versions);
    finish(l, version, dep_versions.into_keys().collect(), lookup, opts)
}

/// The version shared by every module of an import cycle: no member can go first (each one's
/// URL is inside the others), so one version covers the whole component: the md5 of
/// `kiln-cycle`, then `\n<member> <md5 of its content>` for each member and
/// `\n<dep> <dep version>` for each dependency outside the component, both sorted by path.
/// An edit to any member, or to anything a member imports, changes it; nothing else does.
pub fn component_version(members: &BTreeMap<String, String>, external: &BTreeMap<String, String>) -> String {
    let mut h = Md5::new();
    h.update(b"kiln-cycle");
    for (path, content_md5) in members {
        h.update(format!("\n{path} {content_md5}"));
    }
    h.update(b"\nexternal");
    for (path, version) in external {
        h.update(format!("\n{path} {version}"));
    }
    hex(&h.finalize())
}

fn version_component<'a>(members: &[&Loaded], lookup: &Lookup<'a>, opts: &HashOptions) -> Vec<Hashed> {
    let contents: BTreeMap<String, String> = members.iter().map(|l| (l.input.key.clone(), md5_hex(&l.bytes))).collect();
    let mut external = BTreeMap::new();
    for r in members.iter().flat_map(|l| &l.refs) {
        if !contents.contains_key(&r.key) {
            if let Some(e) = lookup(&r.key) {
                external.insert(r.key.clone(), e.version.clone());
            }
        }
    }
    let version = component_version(&contents, &external);
    // The members' URLs, known before any of them is rewritten.
    let own: BTreeMap<String, AssetEntry> = contents
        .keys()
        .map(|k| {
            let entry = AssetEntry { version: version.clone(), versioned_path: versioned_path(k, &version, opts.url_style), ..Default::default() };
            (k.clone(), entry)
        })
        .collect();
    let local = |k: &str| own.get(k).or_else(|| lookup(k));
    members
        .iter()
        .map(|l| {
            let deps = l.refs.iter().filter(|r| r.key != l.input.key && local(&r.key).is_some()).map(|r| r.key.clone()).collect();
            finish(l, version.clone(), deps, &local, opts)
        })
        .collect()
}

/// The versioned file (references rewritten), its twins and its manifest entry.
fn finish<'a>(l: &Loaded, version: String, deps: BTreeSet<String>, lookup: &Lookup<'a>, opts: &HashOptions) -> Hashed {
    let key = &l.input.key;
    let vpath = versioned_path(key, &version, opts.url_style);
    let file = match opts.url_style {
        UrlStyle::Filename | UrlStyle::Source => vpath.clone(),
        UrlStyle::Assetman => key.clone(),
    };
    let bytes = if l.refs.is_empty() { l.bytes.clone() } else { rewrite(l, &file, lookup, opts) };
    let mut outputs = twins(&file, &bytes, opts.compress);
    let encodings = encodings_of(outputs.iter().map(|(rel, _)| rel));
    let entry = AssetEntry { version, versioned_path: vpath, deps: deps.into_iter().collect(), integrity: sri(&bytes), encodings };
    outputs.push((file, bytes));
    outputs.sort();
    Hashed { key: key.clone(), entry, outputs }
}

/// The URL a reference is rewritten to: relative references stay relative (to the versioned
/// file, which sits beside the original); absolute ones and every one in assetman style become
/// `<prefix><versioned path>`.
fn target_url(r: &Reference, dep: &AssetEntry, file_dir: &str, opts: &HashOptions) -> String {
    let target = if opts.url_style == UrlStyle::Assetman || r.absolute {
        format!("{}{}", opts.url_prefix(), dep.versioned_path)
    } else {
        let rel = relative_url(file_dir, &dep.versioned_path);
        match r.form {
            Form::Js { dot_slash: true, .. } if !rel.starts_with("../") => format!("./{rel}"),
            _ => rel,
        }
    };
    format!("{target}{}", r.suffix)
}

/// Replaces every local reference with its dependency's versioned URL; all other bytes stay.
fn rewrite<'a>(l: &Loaded, file: &str, lookup: &Lookup<'a>, opts: &HashOptions) -> Vec<u8> {
    let src = &l.bytes;
    let file_dir = file.rfind('/').map(|i| &file[..=i]).unwrap_or("");
    let mut out = Vec::with_capacity(src.len() + 64);
    let mut pos = 0;
    for r in &l.refs {
        let Some(dep) = lookup(&r.key) else { continue };
        let url = target_url(r, dep, file_dir, opts);
        let token = match r.form {
            Form::Css { is_url_fn } => css::url_token(&url, is_url_fn),
            Form::Js { quote, .. } => js::token(&url, quote),
        };
        out.extend_from_slice(&src[pos..r.span.0]);
        out.extend_from_slice(token.as_bytes());
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

    fn batch(files: &[(&str, &str)], known: &Manifest) -> Result<BTreeMap<String, Hashed>, Vec<HashError>> {
        let inputs: Vec<Input> =
            files.iter().map(|(k, text)| Input { key: k.to_string(), path: PathBuf::from(k), bytes: Some(text.as_bytes().to_vec()) }).collect();
        Ok(hash_batch(&inputs, known, &HashOptions::default())?.into_iter().map(|h| (h.key.clone(), h)).collect())
    }

    fn hashed(files: &[(&str, &str)]) -> BTreeMap<String, Hashed> {
        batch(files, &Manifest::default()).unwrap_or_else(|e| panic!("{:?}", e.iter().map(|e| e.to_string()).collect::<Vec<_>>()))
    }

    fn text(h: &Hashed) -> String {
        let file = &h.entry.versioned_path;
        String::from_utf8(h.outputs.iter().find(|(rel, _)| rel == file).unwrap().1.clone()).unwrap()
    }

    fn versions(h: &BTreeMap<String, Hashed>) -> BTreeMap<String, String> {
        h.iter().map(|(k, h)| (k.clone(), h.entry.version.clone())).collect()
    }

    const GRAPH: [(&str, &str); 7] = [
        ("js/main.js", "import { a } from \"./a.js\";\nimport(\"./lazy.js\");\nnew URL(\"../img/dot.png\", import.meta.url);\n"),
        ("js/a.js", "import { b } from './b.js';\nimport { leaf } from './leaf.js';\nexport const a = 1;\n"),
        ("js/b.js", "import { a } from './a.js';\nexport const b = 2;\n"),
        ("js/leaf.js", "export const leaf = 3;\n"),
        ("js/lazy.js", "export default 4;\n"),
        ("js/other.js", "import './lazy.js';\n"),
        ("img/dot.png", "png"),
    ];

    #[test]
    fn import_like_strings_and_comments_are_not_rewritten() {
        let main = "// import { x } from \"./a.js\";\n/* import(\"./a.js\") */\nconst s = 'import x from \"./a.js\"';\n\
                    const t = `new URL(\"./a.js\", import.meta.url)`;\nimport { a } from \"./a.js\";\n";
        let h = hashed(&[("main.js", main), ("a.js", "export const a = 1;\n")]);
        let a = &h["a.js"].entry.versioned_path;
        let out = text(&h["main.js"]);
        assert_eq!(out, main.replace("import { a } from \"./a.js\";", &format!("import {{ a }} from \"./{a}\";")));
        assert_eq!(out.matches(a.as_str()).count(), 1, "{out}");
    }

    #[test]
    fn every_reference_form_is_rewritten_and_nothing_else_changes() {
        let h = hashed(&GRAPH);
        let vp = |k: &str| h[k].entry.versioned_path.rsplit('/').next().unwrap().to_string();
        let main = text(&h["js/main.js"]);
        let want = format!(
            "import {{ a }} from \"./{}\";\nimport(\"./{}\");\nnew URL(\"../img/{}\", import.meta.url);\n",
            vp("js/a.js"),
            vp("js/lazy.js"),
            vp("img/dot.png")
        );
        assert_eq!(main, want);
        assert_eq!(h["js/main.js"].entry.deps, ["img/dot.png", "js/a.js", "js/lazy.js"]);
    }

    #[test]
    fn a_cycle_gets_one_stable_version() {
        let h = hashed(&GRAPH);
        let (a, b) = (&h["js/a.js"].entry, &h["js/b.js"].entry);
        assert_eq!(a.version, b.version, "one version for the component");
        let leaf = &h["js/leaf.js"].entry.version;
        let members: BTreeMap<String, String> =
            [("js/a.js", GRAPH[1].1), ("js/b.js", GRAPH[2].1)].iter().map(|(k, t)| (k.to_string(), md5_hex(t.as_bytes()))).collect();
        let external: BTreeMap<String, String> = [("js/leaf.js".to_string(), leaf.clone())].into();
        assert_eq!(a.version, component_version(&members, &external));
        // Each member names the other's versioned file.
        assert!(text(&h["js/a.js"]).contains(&format!("'./{}'", b.versioned_path.trim_start_matches("js/"))));
        assert!(text(&h["js/b.js"]).contains(&format!("'./{}'", a.versioned_path.trim_start_matches("js/"))));
        // Same inputs in another order, twice: same versions and bytes.
        let mut reversed = GRAPH.to_vec();
        reversed.reverse();
        let again = hashed(&reversed);
        assert_eq!(versions(&h), versions(&again));
        for (k, x) in &h {
            assert_eq!(x.outputs, again[k].outputs, "{k}");
        }
        // A self-referencing worker is a cycle of one: it names its own versioned file.
        let w = hashed(&[("w.js", "new Worker(new URL(\"./w.js\", import.meta.url));\n")]);
        let vp = &w["w.js"].entry.versioned_path;
        assert_eq!(text(&w["w.js"]), format!("new Worker(new URL(\"./{vp}\", import.meta.url));\n"));
        assert!(w["w.js"].entry.deps.is_empty());
    }

    #[test]
    fn an_edit_re_versions_exactly_the_modules_that_import_it() {
        let before = versions(&hashed(&GRAPH));
        let changed_of = |edited: &str| {
            let files: Vec<(&str, String)> =
                GRAPH.iter().map(|(k, t)| (*k, if *k == edited { format!("{t}// edited\n") } else { t.to_string() })).collect();
            let files: Vec<(&str, &str)> = files.iter().map(|(k, t)| (*k, t.as_str())).collect();
            let after = versions(&hashed(&files));
            before.keys().filter(|k| before[*k] != after[*k]).cloned().collect::<Vec<_>>()
        };
        assert_eq!(changed_of("js/leaf.js"), ["js/a.js", "js/b.js", "js/leaf.js", "js/main.js"]);
        assert_eq!(changed_of("js/b.js"), ["js/a.js", "js/b.js", "js/main.js"]);
        assert_eq!(changed_of("js/lazy.js"), ["js/lazy.js", "js/main.js", "js/other.js"]);
        assert_eq!(changed_of("js/other.js"), ["js/other.js"]);
        assert_eq!(changed_of("js/main.js"), ["js/main.js"]);
    }

    #[test]
    fn one_run_per_component_gives_the_entries_of_one_run_for_all() {
        let all = hashed(&GRAPH);
        let mut known = Manifest::default();
        let runs: [&[&str]; 5] = [&["img/dot.png", "js/leaf.js", "js/lazy.js"], &["js/other.js"], &["js/a.js", "js/b.js"], &["js/main.js"], &[]];
        for run in runs {
            let files: Vec<(&str, &str)> = GRAPH.iter().filter(|(k, _)| run.contains(k)).copied().collect();
            for (k, h) in batch(&files, &known).unwrap() {
                assert_eq!(h.entry, all[&k].entry, "{k}");
                assert_eq!(h.outputs, all[&k].outputs, "{k}");
                known.assets.insert(k, h.entry);
            }
        }
        // A cycle split across two runs cannot get one version: refused, not mis-versioned.
        let mut known = Manifest::default();
        known.assets.insert("js/b.js".into(), all["js/b.js"].entry.clone());
        known.assets.insert("js/leaf.js".into(), all["js/leaf.js"].entry.clone());
        let e = batch(&[GRAPH[1]], &known).unwrap_err();
        assert!(e[0].to_string().starts_with("js/a.js:1:19: references js/b.js, whose --dep entry depends on this batch"), "{}", e[0]);
    }

    #[test]
    fn bare_specifiers_are_left_alone_unless_they_name_a_static_file() {
        let main = "import _ from \"lodash\";\nimport { h } from 'https://esm.example/h.js';\nimport(\"lit/html.js\");\n";
        let h = hashed(&[("js/main.js", main)]);
        assert_eq!(text(&h["js/main.js"]), main);
        assert!(h["js/main.js"].entry.deps.is_empty());
        let e =
            batch(&[("js/main.js", "import { u } from \"util.js\";\n"), ("js/util.js", "export const u = 1;\n")], &Manifest::default()).unwrap_err();
        assert_eq!(
            e[0].to_string(),
            "js/main.js:1:19: bare specifier \"util.js\" names js/util.js, which is served only under its versioned name: import it as \"./util.js\""
        );
    }

    #[test]
    fn missing_modules_are_errors_at_their_position() {
        let e = batch(&[("js/main.js", "\nconst m = import(\"./gone.js\");\n")], &Manifest::default()).unwrap_err();
        assert_eq!(e[0].to_string(), "js/main.js:2:18: references js/gone.js, which is not an input nor in any dependency manifest");
        let e = batch(&[("js/bad.js", "import x from './a.js'\nlet = ;\n")], &Manifest::default()).unwrap_err();
        assert!(e[0].to_string().starts_with("js/bad.js:2:"), "{}", e[0]);
    }

    #[test]
    fn stylesheet_cycles_stay_errors() {
        let e = batch(&[("a.css", "@import 'b.css';\n"), ("b.css", "@import 'a.css';\n")], &Manifest::default()).unwrap_err();
        assert_eq!(e[0].to_string(), "dependency cycle: a.css -> b.css -> a.css");
        let e = batch(&[("a.js", "new URL('./b.css', import.meta.url)\n"), ("b.css", "a { background: url(a.js) }\n")], &Manifest::default())
            .unwrap_err();
        assert!(e[0].to_string().starts_with("dependency cycle: "), "{}", e[0]);
    }

    #[test]
    fn every_source_map_url_in_the_output_names_an_output_file() {
        let files = [
            ("js/util.js", "export const u = 1;\n//# sourceMappingURL=util.js.map\n"),
            ("js/util.js.map", "{\"version\":3,\"sources\":[],\"mappings\":\"\"}"),
            ("js/inline.js", "export {};\n//# sourceMappingURL=data:application/json;base64,e30=\n"),
            ("css/site.css", "a { color: red }\n/*# sourceMappingURL=site.css.map */\n"),
            ("css/site.css.map", "{\"version\":3,\"sources\":[],\"mappings\":\"\"}"),
            ("css/abs.css", "/*# sourceMappingURL=/s/css/site.css.map */\n"),
        ];
        for style in [UrlStyle::Filename, UrlStyle::Assetman] {
            let inputs: Vec<Input> =
                files.iter().map(|(k, t)| Input { key: k.to_string(), path: PathBuf::from(k), bytes: Some(t.as_bytes().to_vec()) }).collect();
            let opts = HashOptions { url_style: style, ..HashOptions::default() };
            let h = hash_batch(&inputs, &Manifest::default(), &opts).unwrap();
            let written: BTreeSet<String> = h.iter().flat_map(|h| h.outputs.iter().map(|(rel, _)| rel.clone())).collect();
            let served = |url: &str, from: &str| -> Option<String> {
                let rest = url.strip_prefix("/s/").map(str::to_string).or_else(|| {
                    let dir = from.rfind('/').map(|i| &from[..=i]).unwrap_or("");
                    fsutil::normalize_rel(&format!("{dir}{url}")).ok()
                })?;
                // Assetman URLs name `v:<version>/<path>`; the file is `<path>`.
                Some(if rest.starts_with("v:") { rest.split_once('/')?.1.to_string() } else { rest })
            };
            let mut seen = 0;
            for h in &h {
                for (rel, bytes) in &h.outputs {
                    let text = std::str::from_utf8(bytes).unwrap();
                    let refs = if rel.ends_with(".css") {
                        js::css_source_map_refs(text)
                    } else if rel.ends_with(".js") {
                        js::find_refs(text).unwrap()
                    } else {
                        continue;
                    };
                    for r in refs.iter().filter(|r| r.kind == js::JsRefKind::SourceMap && !r.url.starts_with("data:")) {
                        seen += 1;
                        let file = served(&r.url, rel).unwrap_or_else(|| panic!("{rel}: {}", r.url));
                        assert!(written.contains(&file), "{style:?} {rel}: {} names {file}, which is not written ({written:?})", r.url);
                        assert!(file.contains(".map") && file != "js/util.js.map" || style == UrlStyle::Assetman, "{file}");
                    }
                }
            }
            assert_eq!(seen, 3, "{style:?}");
        }
    }
}
