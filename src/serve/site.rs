//! What `kiln serve` serves under its prefix: the dist's static files, addressed the three
//! Assetman ways (design.md §4) and by their filename-style versioned paths, through the manifest.
//!
//! The servable files are listed when the dist is loaded, by the same sorted, symlink-refusing walk
//! the build uses (`fsutil::walk`): a request is answered from that list, so no request path is
//! ever joined onto the file system, and a symlink that leads out of the static root is not in it.
//!
//! [`Live`] reloads the dist when its manifest or static root is replaced (`kiln build` swaps the
//! whole dist in with a rename). A load reads the dist through an open handle on its directory
//! (`/proc/self/fd/N`) and keeps one on its static root, which files are opened relative to, so
//! each loaded [`Site`] keeps naming the files of the dist it listed even after a newer one is
//! renamed over its path: a request takes one `Arc<Site>` and is answered wholly from it.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
use rustix::io::Errno;

use crate::fsutil::{self, EntryKind, FsError};
use crate::manifest::{self, Manifest, MergeError};

#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Manifest(#[from] MergeError),
}

/// How long a client may keep a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// The URL names one version: cache it for a year and never revalidate.
    Immutable,
    /// The URL names whatever is current: revalidate every time (ETag makes that a 304).
    NoCache,
}

impl Cache {
    pub fn header(self) -> &'static str {
        match self {
            Cache::Immutable => "public, max-age=31536000, immutable",
            Cache::NoCache => "no-cache",
        }
    }
}

/// A file to send, with what is known about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served<'a> {
    /// Its path under the static root.
    pub rel: &'a str,
    /// The file to open with [`Site::open`] (its link's target, for a symlink).
    pub path: &'a Path,
    pub content_type: String,
    pub cache: Cache,
    /// The manifest version of its content, when the manifest knows it (the ETag).
    pub version: Option<&'a str>,
    /// Precompressed twins on disk: (Content-Encoding, file), in the server's order of preference.
    pub twins: Vec<(&'static str, &'a Path)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    File(Served<'a>),
    /// A block whose compiled file is missing or not the requested version, answered from its
    /// constituents (listed, in order, for the `X-Kiln-Fallback` header).
    Fallback {
        content_type: String,
        body: Vec<u8>,
        parts: Vec<String>,
    },
    NotFound,
}

/// Content-Encodings kiln writes twins for, best first (brotli q11 is the smallest; zstd decodes
/// fastest; gzip is understood everywhere).
const ENCODINGS: [(&str, &str); 3] = [("br", ".br"), ("zstd", ".zst"), ("gzip", ".gz")];

pub struct Site {
    /// The static root it was read from, held open: files are opened relative to it.
    root: Option<File>,
    prefix: String,
    /// Servable files: path under the static root → file to open.
    files: HashMap<String, PathBuf>,
    manifest: Manifest,
    /// Filename-style versioned paths (assets' and blocks') → (version, twins by encoding).
    versioned: HashMap<String, (String, BTreeMap<String, String>)>,
    /// Block name hash → its manifest keys (the bare hash, as Assetman keys blocks; `<kind>:<hash>` in older manifests).
    blocks_by_hash: HashMap<String, Vec<String>>,
}

impl Site {
    /// Lists `static_root` and reads the manifest (`None`: serve files as they are, unversioned;
    /// else the file to read and the name to report it by).
    pub fn load(static_root: &Path, manifest_file: Option<(&Path, &str)>, prefix: &str) -> Result<Site, SiteError> {
        let root = File::open(static_root).map_err(|e| FsError::io(static_root, e))?;
        let mut files = HashMap::new();
        for entry in fsutil::walk(static_root, &|_, _| false)? {
            match entry.kind {
                EntryKind::File => {
                    files.insert(entry.rel.clone(), entry.rel.into());
                }
                EntryKind::LinkInside { target } => {
                    files.insert(entry.rel, target.into());
                }
                EntryKind::LinkOutside => {}
            }
        }
        let manifest = match manifest_file {
            Some((p, shown)) => manifest::parse(shown, &fsutil::read(p)?)?,
            None => Manifest::default(),
        };
        Ok(Site { root: Some(root), ..Site::new(files, manifest, prefix) })
    }

    pub fn new(files: HashMap<String, PathBuf>, manifest: Manifest, prefix: &str) -> Site {
        let mut versioned = HashMap::new();
        for entry in manifest.assets.values() {
            if !entry.versioned_path.starts_with("v:") {
                versioned.insert(entry.versioned_path.clone(), (entry.version.clone(), entry.encodings.clone()));
            }
        }
        let mut blocks_by_hash: HashMap<String, Vec<String>> = HashMap::new();
        for (key, block) in &manifest.blocks {
            if !block.versioned_path.starts_with("v:") {
                versioned.insert(block.versioned_path.clone(), (block.version.clone(), block.encodings.clone()));
            }
            let hash = key.rsplit(':').next().unwrap_or(key);
            blocks_by_hash.entry(hash.to_string()).or_default().push(key.clone());
        }
        Site { root: None, prefix: prefix.to_string(), files, manifest, versioned, blocks_by_hash }
    }

    pub fn asset_count(&self) -> usize {
        self.manifest.assets.len()
    }

    pub fn block_count(&self) -> usize {
        self.manifest.blocks.len()
    }

    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// Opens a file [`Site::route`] named (relative to the static root: one short path walk).
    pub fn open(&self, path: &Path) -> std::io::Result<File> {
        match &self.root {
            Some(root) => {
                Ok(rustix::fs::openat(root, path, rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC, rustix::fs::Mode::empty())?.into())
            }
            None => File::open(path),
        }
    }

    /// Routes a path under the prefix (already decoded and checked by [`clean_path`]).
    pub fn route(&self, rel: &str) -> Route<'_> {
        if let Some(rest) = rel.strip_prefix("v:") {
            let Some((version, rest)) = rest.split_once('/') else { return Route::NotFound };
            if let Some(f) = rest.strip_prefix("f:") {
                let Some((keys, name)) = f.split_once('/') else { return Route::NotFound };
                return self.block(version, keys, name);
            }
            return self.versioned_asset(version, rest);
        }
        if let Some((version, encodings)) = self.versioned.get(rel) {
            return self.serve(rel, Cache::Immutable, Some(version), Some(encodings));
        }
        // Unversioned: the file itself when it is there (an assetman-style or unversioned
        // dist), else the current version of that asset.
        let entry = self.manifest.asset(rel);
        if self.files.contains_key(rel) {
            let known = entry.filter(|(key, e)| e.file(key) == rel);
            return self.serve(rel, Cache::NoCache, known.map(|(_, e)| &e.version), known.map(|(_, e)| &e.encodings));
        }
        match entry {
            Some((key, e)) => self.serve(e.file(key), Cache::NoCache, Some(&e.version), Some(&e.encodings)),
            None => Route::NotFound,
        }
    }

    /// `v:{version}/{path}`: exactly that version or nothing.
    fn versioned_asset(&self, version: &str, path: &str) -> Route<'_> {
        match self.manifest.asset(path) {
            Some((key, e)) if e.version == version => self.serve(e.file(key), Cache::Immutable, Some(&e.version), Some(&e.encodings)),
            _ => Route::NotFound,
        }
    }

    /// `v:{version}/f:{a:b:c}/{namehash}.{ext}`: the compiled block when it is that version and
    /// on disk; otherwise its constituents, found through `lookups` (or, when none of the keys
    /// is known, the block's own path list).
    fn block(&self, version: &str, keys: &str, name: &str) -> Route<'_> {
        let Some((hash, ext)) = name.rsplit_once('.') else { return Route::NotFound };
        let candidates: Vec<&manifest::BlockEntry> = self
            .blocks_by_hash
            .get(hash)
            .into_iter()
            .flatten()
            .filter_map(|k| self.manifest.blocks.get(k))
            .filter(|b| extension(&b.versioned_path) == ext)
            .collect();
        if let Some(b) = candidates.iter().find(|b| b.version == version && self.files.contains_key(&b.versioned_path)) {
            return self.serve(&b.versioned_path, Cache::Immutable, Some(&b.version), Some(&b.encodings));
        }
        let mut paths: Vec<&str> = keys.split(':').filter_map(|k| self.manifest.lookups.get(k)).map(String::as_str).collect();
        if paths.is_empty() {
            if let Some(b) = candidates.first() {
                paths = b.paths.iter().map(String::as_str).collect();
            }
        }
        let mut parts = Vec::new();
        let mut body = Vec::new();
        for path in paths {
            let Some((key, e)) = self.manifest.asset(path) else { continue };
            let Some(file) = self.files.get(e.file(key)) else { continue };
            if ext == "css" {
                // Concatenated stylesheets would break: their relative url()s and @imports
                // resolve against the block's URL, and an @import after the first rule is
                // ignored. Importing each constituent at its own versioned URL keeps them right.
                body.extend_from_slice(format!("@import url(\"{}{}\");\n", self.prefix, e.versioned_path).as_bytes());
            } else {
                let mut bytes = Vec::new();
                let Ok(_) = self.open(file).and_then(|mut f| std::io::Read::read_to_end(&mut f, &mut bytes)) else { continue };
                if !parts.is_empty() {
                    // The separator kiln-minify --concat uses: a file ending in a line comment
                    // or without a semicolon never runs into the next.
                    body.extend_from_slice(if ext == "js" || ext == "mjs" { b"\n;\n" } else { b"\n" });
                }
                body.extend_from_slice(&bytes);
            }
            parts.push(key.to_string());
        }
        if parts.is_empty() {
            return Route::NotFound;
        }
        Route::Fallback { content_type: content_type(name), body, parts }
    }

    /// A file under the static root, with the twins the manifest lists for it (or, for a file
    /// the manifest does not know, the `.br`/`.zst`/`.gz` files beside it).
    fn serve<'a>(&'a self, rel: &str, cache: Cache, version: Option<&'a String>, encodings: Option<&BTreeMap<String, String>>) -> Route<'a> {
        let Some((rel, path)) = self.files.get_key_value(rel) else { return Route::NotFound };
        let twins = ENCODINGS
            .iter()
            .filter_map(|&(enc, suffix)| {
                match encodings {
                    Some(map) => self.files.get(map.get(enc)?),
                    None => self.files.get(&format!("{rel}{suffix}")),
                }
                .map(|p| (enc, p.as_path()))
            })
            .collect();
        Route::File(Served { rel, path, content_type: content_type(rel), cache, version: version.map(String::as_str), twins })
    }
}

/// What identifies a loaded dist on disk: the static root's inode and the manifest's inode, size
/// and mtime (`None`: missing). Both change when `kiln build` swaps in a new dist; an in-place
/// update (`kiln assetman-compile`) renames the manifest over its old self last.
type Identity = [Option<(u64, u64, u64, i64, i64)>; 2];

fn identity(static_root: &Path, manifest: &Path) -> Identity {
    let stat = |p: &Path, whole: bool| {
        let m = std::fs::metadata(p).ok()?;
        Some(if whole { (m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec()) } else { (m.dev(), m.ino(), 0, 0, 0) })
    };
    [stat(static_root, false), stat(manifest, true)]
}

/// Watches every directory on the way to either path (a rename, write or removal in any of
/// them can change the identity); `None` when one cannot be watched.
fn watch(w: OwnedFd, paths: &(PathBuf, PathBuf)) -> Option<OwnedFd> {
    use WatchFlags as F;
    let events = F::CREATE | F::DELETE | F::MOVED_FROM | F::MOVED_TO | F::MODIFY | F::ATTRIB | F::CLOSE_WRITE | F::DELETE_SELF | F::MOVE_SELF;
    for path in [&paths.0, &paths.1] {
        for dir in fsutil::absolute_lexical(path).ok()?.ancestors().skip(1) {
            match inotify::add_watch(&w, dir, events | F::ONLYDIR) {
                // One not there (yet) is created in a watched directory.
                Ok(_) | Err(Errno::NOENT | Errno::NOTDIR) => {}
                Err(_) => return None,
            }
        }
    }
    Some(w)
}

/// Whether the watch reported anything since the last call (it is read empty).
fn changed(w: &OwnedFd) -> bool {
    let (mut buf, mut any) = ([0u8; 4096], false);
    loop {
        match rustix::io::read(w, &mut buf) {
            Ok(n) if n > 0 => any = true,
            r => return any || r != Err(Errno::AGAIN),
        }
    }
}

/// Loads the dist at `dist` and its identity, reading it through an open handle on it.
fn open(dist: &Path, static_dir: &Path, manifest: &Path, prefix: &str) -> Result<(Identity, Arc<Site>), SiteError> {
    let dir = File::open(dist).map_err(|e| FsError::io(dist, e))?;
    let fd = Path::new("/proc/self/fd").join(std::os::fd::AsRawFd::as_raw_fd(&dir).to_string());
    let base = if fd.is_dir() { fd } else { dist.to_path_buf() };
    let id = identity(&base.join(static_dir), &base.join(manifest));
    let (file, shown) = (base.join(manifest), fsutil::display(&dist.join(manifest)));
    let site = Site::load(&base.join(static_dir), file.is_file().then_some((file.as_path(), shown.as_str())), prefix)?;
    Ok((id, Arc::new(site)))
}

/// The dist as it is on disk now: [`Live::current`] checks its identity (two stats) when a
/// directory on the way to the static root or the manifest changed (inotify; on every request
/// where inotify is unavailable), and reloads it when the identity changed.
pub struct Live {
    dist: PathBuf,
    static_dir: PathBuf,
    manifest: PathBuf,
    prefix: String,
    /// The static root and the manifest under `dist`, whose identity is checked.
    paths: (PathBuf, PathBuf),
    /// The identity seen, the site loaded, and the inotify watching the paths' directories.
    current: Mutex<(Identity, Arc<Site>, Option<OwnedFd>)>,
}

impl Live {
    /// Loads the dist (an error here is fatal; later, a dist that does not load is reported and
    /// the previous one kept).
    pub fn load(dist: &Path, static_dir: &Path, manifest: &Path, prefix: &str) -> Result<Live, SiteError> {
        let paths = (dist.join(static_dir), dist.join(manifest));
        let watch = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC).ok().and_then(|w| watch(w, &paths));
        let (id, site) = open(dist, static_dir, manifest, prefix)?;
        let (dist, static_dir, manifest) = (dist.to_path_buf(), static_dir.to_path_buf(), manifest.to_path_buf());
        Ok(Live { dist, static_dir, manifest, prefix: prefix.to_string(), paths, current: Mutex::new((id, site, watch)) })
    }

    /// The site to answer one request from.
    pub fn current(&self) -> Arc<Site> {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        match &cur.2 {
            Some(w) if !changed(w) => return cur.1.clone(),
            // Watched again before the identity is read: a change after this read is an event.
            Some(_) => cur.2 = cur.2.take().and_then(|w| watch(w, &self.paths)),
            None => {}
        }
        let id = identity(&self.paths.0, &self.paths.1);
        if cur.0 != id {
            match open(&self.dist, &self.static_dir, &self.manifest, &self.prefix) {
                Ok((id, site)) => {
                    let (files, assets, blocks) = (site.file_count(), site.asset_count(), site.block_count());
                    eprintln!("kiln serve: reloaded {} ({files} files, {assets} assets, {blocks} blocks)", fsutil::display(&self.dist));
                    (cur.0, cur.1) = (id, site);
                }
                // Half-written by hand, or mid-swap: keep serving the last good one, and try
                // again when it changes.
                Err(e) => {
                    eprintln!("kiln serve: {e}; still serving the dist loaded before");
                    cur.0 = id;
                }
            }
        }
        cur.1.clone()
    }

    pub fn has_manifest(&self) -> bool {
        self.dist.join(&self.manifest).is_file()
    }
}

fn extension(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rfind('.') {
        Some(i) if i > 0 => &name[i + 1..],
        _ => "",
    }
}

/// Content-Type by extension: mime_guess's table, corrected where browsers expect otherwise, with
/// the charset of text (dists are UTF-8).
pub fn content_type(path: &str) -> String {
    let ext = extension(path).to_ascii_lowercase();
    let mime = match ext.as_str() {
        "js" | "mjs" | "cjs" => "text/javascript",
        "map" => "application/json",
        "xml" => "application/xml",
        "woff" => "font/woff",
        "otf" => "font/otf",
        "br" => "application/x-brotli",
        "zst" => "application/zstd",
        _ => mime_guess::from_ext(&ext).first_raw().unwrap_or("application/octet-stream"),
    };
    match mime.starts_with("text/") {
        true => format!("{mime}; charset=utf-8"),
        false => mime.to_string(),
    }
}

/// Decodes and checks the part of a URL path under the prefix. `None` (→ 404) for anything that
/// could step outside the static root or name something hidden: `..` and `.` segments (also
/// percent-encoded), encoded `/` and `\`, backslashes, NUL and other control characters, empty
/// segments (`//`, which would make an absolute path), segments starting with `.`, bad
/// percent-encoding and non-UTF-8.
pub fn clean_path(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            // An encoded `/` is refused (an encoded `\` or NUL is, below, as the character).
            out.push(u8::from_str_radix(hex, 16).ok().filter(|&b| b != b'/')?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let path = String::from_utf8(out).ok()?;
    if path.is_empty() || path.chars().any(|c| c.is_control() || c == '\\') {
        return None;
    }
    if path.split('/').any(|seg| seg.is_empty() || seg.starts_with('.')) {
        return None;
    }
    Some(path)
}

/// Picks the Content-Encoding to send from `Accept-Encoding` (q-values honoured, `*` and
/// `identity` included): the available coding with the highest q; on a tie the server's order
/// (`available` is best first), and a coding over identity. `None` means identity.
pub fn negotiate<'a>(accept: Option<&str>, available: &[&'a str]) -> Option<&'a str> {
    let accept = accept?;
    let mut explicit: Vec<(String, f32)> = Vec::new();
    for item in accept.split(',') {
        let mut params = item.split(';');
        let coding = params.next().unwrap_or("").trim().to_ascii_lowercase();
        if coding.is_empty() {
            continue;
        }
        let mut q = 1.0f32;
        for p in params {
            if let Some((k, v)) = p.split_once('=') {
                if k.trim().eq_ignore_ascii_case("q") {
                    // A q-value that does not parse makes the whole item unusable.
                    q = v.trim().parse().ok().filter(|q: &f32| (0.0..=1.0).contains(q)).unwrap_or(-1.0);
                }
            }
        }
        if q >= 0.0 {
            let coding = if coding == "x-gzip" { "gzip".to_string() } else { coding };
            explicit.push((coding, q));
        }
    }
    let find = |c: &str| explicit.iter().find(|(n, _)| n == c).map(|(_, q)| *q);
    let star = find("*");
    let q_of = |c: &str| find(c).or(star).unwrap_or(0.0);
    // Identity is always acceptable (unless refused), but a client that lists a coding and not
    // identity prefers the coding, whatever its q.
    let identity = find("identity").or(star).unwrap_or(0.0);
    let mut best: Option<(&'a str, f32)> = None;
    for &c in available {
        let q = q_of(c);
        if q > 0.0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((c, q));
        }
    }
    best.filter(|&(_, q)| q >= identity).map(|(c, _)| c)
}

/// The strong ETag of a version, one per representation (RFC 9110 §8.8.3: each encoding is a
/// different sequence of bytes).
pub fn etag(version: &str, encoding: Option<&str>) -> String {
    match encoding {
        None => format!("\"{version}\""),
        Some(e) => format!("\"{version}-{e}\""),
    }
}

/// Whether `If-None-Match` names the current version (in any of its encodings; weak comparison,
/// as RFC 9110 §13.1.2 asks).
pub fn none_match(header: &str, version: &str) -> bool {
    header.split(',').map(str::trim).any(|tag| {
        if tag == "*" {
            return true;
        }
        let tag = tag.strip_prefix("W/").unwrap_or(tag);
        let Some(inner) = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')) else { return false };
        inner == version || inner.strip_prefix(version).and_then(|r| r.strip_prefix('-')).is_some_and(|e| ENCODINGS.iter().any(|(n, _)| *n == e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{AssetEntry, BlockEntry};

    fn entry(version: &str, vpath: &str, enc: &[(&str, &str)]) -> AssetEntry {
        AssetEntry {
            version: version.into(),
            versioned_path: vpath.into(),
            deps: vec![],
            integrity: "sha384-x".into(),
            encodings: enc.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
        }
    }

    fn site(files: &[&str]) -> Site {
        let mut m = Manifest::default();
        m.assets.insert(
            "css/a.css".into(),
            entry("aaaa11112222ffff", "css/a.aaaa11112222.css", &[("gzip", "css/a.aaaa11112222.css.gz"), ("br", "css/a.aaaa11112222.css.br")]),
        );
        m.assets.insert("js/x.js".into(), entry("1111", "js/x.1111.js", &[]));
        m.assets.insert("js/y.js".into(), entry("2222", "js/y.2222.js", &[]));
        m.assets.insert("img/b.webp".into(), entry("bbbb", "v:bbbb/img/b.webp", &[]));
        m.renames.insert("img/b.jpg".into(), "img/b.webp".into());
        m.blocks.insert(
            "cafe".into(),
            BlockEntry {
                version: "bb01".into(),
                versioned_path: "f/cafe.bb01.js".into(),
                integrity: "sha384-y".into(),
                paths: vec!["js/x.js".into(), "js/y.js".into()],
                encodings: BTreeMap::new(),
            },
        );
        m.lookups = manifest::lookups(m.assets.keys().map(String::as_str));
        let files = files.iter().map(|f| (f.to_string(), PathBuf::from("/nonexistent").join(f))).collect();
        Site::new(files, m, "/s/")
    }

    fn served(r: Route<'_>) -> Served<'_> {
        match r {
            Route::File(s) => s,
            other => panic!("expected a file, got {other:?}"),
        }
    }

    #[test]
    fn routes_the_url_forms() {
        let s = site(&["css/a.aaaa11112222.css", "css/a.aaaa11112222.css.gz", "img/b.webp", "f/cafe.bb01.js", "robots.txt", "robots.txt.gz"]);
        let direct = served(s.route("css/a.aaaa11112222.css"));
        assert_eq!((direct.cache, direct.version), (Cache::Immutable, Some("aaaa11112222ffff")));
        assert_eq!(direct.twins.iter().map(|t| t.0).collect::<Vec<_>>(), ["gzip"], "the .br twin is not on disk");
        let plain = served(s.route("css/a.css"));
        assert_eq!((plain.rel, plain.cache), ("css/a.aaaa11112222.css", Cache::NoCache));
        let v = served(s.route("v:aaaa11112222ffff/css/a.css"));
        assert_eq!((v.rel, v.cache), ("css/a.aaaa11112222.css", Cache::Immutable));
        assert_eq!(s.route("v:aaaa11112222/css/a.css"), Route::NotFound, "a short or wrong version is a 404");
        assert_eq!(s.route("v:bbbb/img/b.jpg"), s.route("v:bbbb/img/b.webp"), "renames are followed");
        assert_eq!(served(s.route("img/b.webp")).version, Some("bbbb"));
        let txt = served(s.route("robots.txt"));
        assert_eq!((txt.version, txt.twins.len()), (None, 1));
        let block = served(s.route("v:bb01/f:0000:1111/cafe.js"));
        assert_eq!((block.rel, block.cache), ("f/cafe.bb01.js", Cache::Immutable));
        assert_eq!(s.route("nope.css"), Route::NotFound);
        assert_eq!(s.route("v:bb01/f:0000/"), Route::NotFound);
    }

    #[test]
    fn content_types_cover_every_kind() {
        for (name, ct) in [
            ("a.html", "text/html; charset=utf-8"),
            ("a.css", "text/css; charset=utf-8"),
            ("a.js", "text/javascript; charset=utf-8"),
            ("a.mjs", "text/javascript; charset=utf-8"),
            ("a.js.map", "application/json"),
            ("a.json", "application/json"),
            ("a.svg", "image/svg+xml"),
            ("a.png", "image/png"),
            ("a.JPG", "image/jpeg"),
            ("a.gif", "image/gif"),
            ("a.webp", "image/webp"),
            ("a.avif", "image/avif"),
            ("a.ico", "image/x-icon"),
            ("a.woff", "font/woff"),
            ("a.woff2", "font/woff2"),
            ("a.ttf", "font/ttf"),
            ("a.wasm", "application/wasm"),
            ("a.txt", "text/plain; charset=utf-8"),
            ("a.xml", "application/xml"),
            ("noext", "application/octet-stream"),
            (".hidden", "application/octet-stream"),
        ] {
            assert_eq!(content_type(name), ct, "{name}");
        }
    }

    #[test]
    fn clean_path_refuses_every_escape() {
        assert_eq!(clean_path("css/a%20b.css").as_deref(), Some("css/a b.css"));
        assert_eq!(clean_path("v:123/f:ab:cd/x.js").as_deref(), Some("v:123/f:ab:cd/x.js"));
        for bad in [
            "../x",
            "a/../../x",
            "%2e%2e/x",
            "%2E%2E/x",
            ".%2e/x",
            "a/%2e/b",
            "a%2fb",
            "a%2Fb",
            "..%5cx",
            "a\\b",
            "a%00b",
            "/etc/passwd",
            "a//b",
            "",
            "a/",
            ".env",
            "a/.git/config",
            "%zz",
            "a%2",
            "%c0%ae%c0%ae/x",
            "a%0ab",
        ] {
            assert_eq!(clean_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn negotiation_honours_q_values() {
        let all = ["br", "zstd", "gzip"];
        assert_eq!(negotiate(None, &all), None);
        assert_eq!(negotiate(Some("gzip, deflate, br, zstd"), &all), Some("br"));
        assert_eq!(negotiate(Some("gzip;q=1.0, br;q=0.5"), &all), Some("gzip"));
        assert_eq!(negotiate(Some("br;q=0, gzip"), &all), Some("gzip"));
        assert_eq!(negotiate(Some("*"), &all), Some("br"));
        assert_eq!(negotiate(Some("*;q=0.5, identity"), &all), None, "identity preferred");
        assert_eq!(negotiate(Some("identity"), &all), None);
        assert_eq!(negotiate(Some("x-gzip"), &["gzip"]), Some("gzip"));
        assert_eq!(negotiate(Some("gzip;q=bogus"), &all), None);
        assert_eq!(negotiate(Some("deflate"), &all), None);
        assert_eq!(negotiate(Some("gzip, br"), &["gzip"]), Some("gzip"));
        assert_eq!(negotiate(Some("zstd;q=0.9, gzip;q=0.8"), &all), Some("zstd"));
    }

    #[test]
    fn etags_match_in_any_encoding() {
        assert_eq!(etag("abc", None), "\"abc\"");
        assert_eq!(etag("abc", Some("br")), "\"abc-br\"");
        for h in ["\"abc\"", "W/\"abc\"", "\"x\", \"abc-gzip\"", "*"] {
            assert!(none_match(h, "abc"), "{h}");
        }
        for h in ["\"abcd\"", "abc", "\"abc-xx\"", "\"ab\""] {
            assert!(!none_match(h, "abc"), "{h}");
        }
    }
}
