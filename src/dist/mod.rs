//! The dist: which files of an app ship and how (`classify`), the generated `.env.production`,
//! and the deterministic writer (`write_dist`: a directory swapped in whole, or a `.tar.zst`,
//! `.tar.gz` or `.zip` with fixed times, owners and modes). `kiln-dist-assemble` lays a dist out
//! from `dest<TAB>src` lines; `kiln build` (build.rs) runs the whole pipeline in-process.

pub mod archive;
pub mod build;
pub mod report;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rayon::prelude::*;

use crate::fsutil::{self, FsError};

pub use build::{build_main, BuildArgs};

/// mtime of every archive entry: 2000-01-01T00:00:00Z.
pub const FIXED_MTIME: u64 = 946_684_800;

#[derive(Debug, thiserror::Error)]
pub enum DistError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{dest}: two different files for one destination: {first} and {second}")]
    Conflict { dest: String, first: String, second: String },
    #[error("{0}")]
    Refused(String),
    #[error("{path}: {message}")]
    Archive { path: String, message: String },
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Several(Vec<FsError>),
}

/// All the errors, or none.
fn all_ok(mut errors: Vec<FsError>) -> Result<(), DistError> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0).into()),
        _ => Err(DistError::Several(errors)),
    }
}

/// Where an app keeps what (paths relative to the app root, `/`-separated). A framework
/// profile fills it (src/framework).
#[derive(Debug, Clone)]
pub struct Layout {
    /// The static tree (empty: the static files do not come from the tree).
    pub static_root: String,
    /// Directories whose files with one of `template_exts` are templates. They take precedence
    /// over the static root, which may hold one (asok's `src/partials/html`).
    pub template_dirs: Vec<String>,
    pub template_exts: Vec<String>,
    /// Directories and files whose `.py` ship as source (migrations, Django's manage.py).
    pub python_source: Vec<String>,
    /// Directories that ship exactly as they are, even inside the static root (uploads).
    pub verbatim_dirs: Vec<String>,
    /// The framework's own build outputs in the tree (Django's STATIC_ROOT): never shipped.
    pub outputs: Vec<String>,
    pub with_db: bool,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            static_root: "src/partials".into(),
            template_dirs: vec!["src/templates".into()],
            template_exts: vec!["html".into()],
            python_source: vec!["src/migrations".into()],
            verbatim_dirs: Vec::new(),
            outputs: Vec::new(),
            with_db: false,
        }
    }
}

/// What happens to a file of the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Development artifacts (virtualenvs, VCS data, caches, bytecode): never shipped.
    DevArtifact,
    /// Credentials and environment files: never shipped, whatever their directory.
    Secret,
    /// The development database (shipped only with `--with-db`).
    Database,
    /// The root `.gitignore` (removed, as asok does, so a git-deployed dist keeps its built files).
    RootGitignore,
    /// Python compiled to bytecode.
    Python,
    /// Python kept as source (migrations).
    PythonSource,
    /// A file under the static root: minified/converted, then versioned.
    Static,
    /// A template: rewritten and minified.
    Template,
    /// Everything else: copied as is.
    Copy,
}

/// Directory names that are development artifacts at any depth.
const DEV_DIRS: &[&str] = &[
    ".git", ".hg", ".svn", ".asok", ".kiln-cache", ".venv", "venv", "node_modules", "__pycache__", ".pytest_cache",
    ".mypy_cache", ".ruff_cache", ".tox", ".idea", ".vscode",
];

pub fn is_dev_dir(name: &str) -> bool {
    DEV_DIRS.contains(&name)
}

fn is_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == ".env"
        || lower.starts_with(".env.")
        || [".npmrc", ".pypirc", ".netrc", ".htpasswd", ".git-credentials"].contains(&lower.as_str())
        || ["id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"].iter().any(|k| lower.starts_with(k))
        || [".pem", ".key", ".p12", ".pfx", ".jks", ".keystore"].iter().any(|x| lower.ends_with(x))
}

/// Classifies a file by its path relative to the app root.
pub fn classify(rel: &str, layout: &Layout) -> Class {
    let parts: Vec<&str> = rel.split('/').collect();
    let name = parts.last().copied().unwrap_or("");
    if parts[..parts.len() - 1].iter().any(|d| is_dev_dir(d)) {
        return Class::DevArtifact;
    }
    // Earlier build outputs at the root (not `dist/` or `build/` folders deeper down).
    if parts.len() > 1 && matches!(parts[0], "dist" | "build") {
        return Class::DevArtifact;
    }
    if is_secret(name) {
        return Class::Secret;
    }
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".pyc") || lower.ends_with(".pyo") || lower == ".ds_store" || lower == "thumbs.db" {
        return Class::DevArtifact;
    }
    // The project's own build files (Bazel, generated by `kiln scan --bazel`) are not the app.
    if matches!(name, "BUILD" | "BUILD.bazel" | "WORKSPACE" | "WORKSPACE.bazel" | "MODULE.bazel") || lower.ends_with(".bzl") {
        return Class::DevArtifact;
    }
    if lower.starts_with("db.sqlite3") {
        return if layout.with_db { Class::Copy } else { Class::Database };
    }
    if rel == ".gitignore" {
        return Class::RootGitignore;
    }
    let under = |dir: &str| !dir.is_empty() && rel.len() > dir.len() && rel.starts_with(dir) && rel.as_bytes()[dir.len()] == b'/';
    if layout.outputs.iter().any(|d| under(d)) {
        return Class::DevArtifact;
    }
    if layout.verbatim_dirs.iter().any(|d| under(d)) {
        return Class::Copy;
    }
    let in_template_dir = layout.template_dirs.iter().any(|d| under(d));
    if in_template_dir && lower.rsplit_once('.').is_some_and(|(_, x)| layout.template_exts.iter().any(|e| e == x)) {
        return Class::Template;
    }
    if under(&layout.static_root) {
        // Like `kiln-hash --all`: dotfiles in the static tree are not served.
        let inner = &rel[layout.static_root.len() + 1..];
        return if inner.split('/').any(|p| p.starts_with('.')) { Class::DevArtifact } else { Class::Static };
    }
    if lower.ends_with(".py") {
        let as_source = layout.python_source.iter().any(|d| under(d) || rel == d);
        return if as_source { Class::PythonSource } else { Class::Python };
    }
    Class::Copy
}

/// The generated production settings: safe defaults and, deliberately, no SECRET_KEY value.
pub fn env_production() -> Vec<u8> {
    b"# Written by kiln build: production defaults. Secrets are not here on purpose:\n\
# set SECRET_KEY (and any other secret) in the server's environment.\n\
DEBUG=false\n\
ALLOWED_HOSTS=\n\
SESSION_COOKIE_SECURE=true\n\
SESSION_COOKIE_HTTPONLY=true\n\
SESSION_COOKIE_SAMESITE=Lax\n\
CSRF_COOKIE_SECURE=true\n\
SECURE_HSTS_SECONDS=31536000\n\
SECURE_CONTENT_TYPE_NOSNIFF=true\n"
        .to_vec()
}

/// One file of a dist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistFile {
    pub dest: String,
    pub content: Content,
    pub executable: bool,
}

/// The bytes of a dist file: in memory, or a blob of the build cache that is read (and its md5
/// checked) only if the file must be written: a rebuild leaves most files as they are.
#[derive(Debug, Clone)]
pub enum Content {
    /// Bytes in memory, and their md5 once something asked for it (the twins' cache key and
    /// the dist writer both do).
    Bytes(Vec<u8>, std::sync::OnceLock<String>),
    Blob { path: PathBuf, md5: String, size: u64 },
}

/// Same content: the same bytes, or the same blob (whether an md5 was computed does not count).
impl PartialEq for Content {
    fn eq(&self, other: &Content) -> bool {
        match (self, other) {
            (Content::Bytes(a, _), Content::Bytes(b, _)) => a == b,
            (Content::Blob { path: p, md5: m, size: s }, Content::Blob { path: q, md5: n, size: t }) => p == q && m == n && s == t,
            _ => false,
        }
    }
}

impl Eq for Content {}

/// A cache blob's bytes, checked against its md5; a corrupt blob is removed, so the unit that
/// made it is redone by the next build instead of being trusted again.
pub(crate) fn read_blob(path: &Path, md5: &str) -> Result<Vec<u8>, FsError> {
    let bytes = fsutil::read(path)?;
    if crate::manifest::md5_hex(&bytes) != md5 {
        let _ = std::fs::remove_file(path);
        return Err(FsError::CorruptCache { path: fsutil::display(path) });
    }
    Ok(bytes)
}

impl From<Vec<u8>> for Content {
    fn from(bytes: Vec<u8>) -> Content {
        Content::Bytes(bytes, std::sync::OnceLock::new())
    }
}

impl Content {
    pub fn len(&self) -> u64 {
        match self {
            Content::Bytes(b, _) => b.len() as u64,
            Content::Blob { size, .. } => *size,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn md5(&self) -> &str {
        match self {
            Content::Bytes(b, md5) => md5.get_or_init(|| crate::manifest::md5_hex(b)),
            Content::Blob { md5, .. } => md5,
        }
    }

    /// The bytes; a blob whose bytes are not its md5 any more is removed (so the next build
    /// redoes its unit) and reported.
    pub fn bytes(&self) -> Result<std::borrow::Cow<'_, [u8]>, FsError> {
        match self {
            Content::Bytes(b, _) => Ok(b.as_slice().into()),
            Content::Blob { path, md5, .. } => read_blob(path, md5).map(Into::into),
        }
    }

    pub fn into_bytes(self) -> Result<Vec<u8>, FsError> {
        match self {
            Content::Bytes(b, _) => Ok(b),
            blob => blob.bytes().map(|b| b.into_owned()),
        }
    }
}

/// The output kinds, by file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    Dir,
    TarZst,
    TarGz,
    Zip,
}

pub fn output_kind(out: &Path) -> OutputKind {
    let name = out.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    if name.ends_with(".tar.zst") || name.ends_with(".tzst") {
        OutputKind::TarZst
    } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        OutputKind::TarGz
    } else if name.ends_with(".zip") {
        OutputKind::Zip
    } else {
        OutputKind::Dir
    }
}

/// Whether an existing directory may be replaced by a dist: empty, or a previous kiln output
/// (its `manifest.json` is a kiln manifest).
fn replaceable(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            entries.next().is_none()
                || std::fs::read(dir.join("manifest.json")).is_ok_and(|b| crate::manifest::parse("manifest.json", &b).is_ok())
        }
        Err(_) => false,
    }
}

/// Refuses outputs that would destroy sources: the source root itself, a directory that contains
/// it, an existing directory that is not a previous dist, or a path inside one of the inputs.
pub fn check_output(out: &Path, src: &Path) -> Result<(), DistError> {
    let o = fsutil::absolute_lexical(out)?;
    let s = fsutil::absolute_lexical(src)?;
    let shown = fsutil::display(out);
    if o == s {
        return Err(DistError::Refused(format!("refusing to write the dist to {shown}: it is the source tree itself")));
    }
    if s.starts_with(&o) {
        return Err(DistError::Refused(format!("refusing to write the dist to {shown}: it contains the source tree {}", fsutil::display(src))));
    }
    if o.is_dir() && output_kind(out) == OutputKind::Dir && !replaceable(&o) {
        return Err(DistError::Refused(format!(
            "refusing to replace {shown}: it exists and is not a kiln output (no kiln manifest.json in it)"
        )));
    }
    if o.exists() && !o.is_dir() && output_kind(out) == OutputKind::Dir {
        return Err(DistError::Refused(format!("refusing to replace {shown}: it is a file")));
    }
    Ok(())
}

/// Writes a dist: a directory (built beside `out`, swapped in only when complete) or an archive
/// chosen by the extension. Files are sorted; modes are 0644, or 0755 for executables.
pub fn write_dist(out: &Path, files: &[DistFile]) -> Result<(), DistError> {
    match output_kind(out) {
        OutputKind::Dir => write_dir(out, &with_md5(files), &[]).map(|_| ()),
        kind => {
            let mut sorted: Vec<&DistFile> = files.iter().collect();
            sorted.sort_by(|a, b| a.dest.cmp(&b.dest));
            let bytes = archive::archive(kind, &sorted).map_err(|message| DistError::Archive { path: fsutil::display(out), message })?;
            fsutil::atomic_write(out, &bytes)?;
            Ok(())
        }
    }
}

/// Each file with the md5 of its bytes (computed in parallel), sorted by destination.
pub(crate) fn with_md5(files: &[DistFile]) -> Vec<(&DistFile, String)> {
    let mut out: Vec<(&DistFile, String)> = files.par_iter().map(|f| (f, f.content.md5().to_string())).collect();
    out.sort_by(|a, b| a.0.dest.cmp(&b.0.dest));
    out
}

/// What a file's metadata says about its content: any write, replacement or chmod changes the
/// inode or the ctime.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileStat {
    size: u64,
    mode: u32,
    ino: u64,
    ctime: (i64, i64),
}

impl FileStat {
    /// The metadata of `path` itself (a symlink is not followed).
    pub fn of(path: &Path) -> Option<FileStat> {
        let m = std::fs::symlink_metadata(path).ok()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Some(FileStat { size: m.len(), mode: m.mode(), ino: m.ino(), ctime: (m.ctime(), m.ctime_nsec()) })
        }
        #[cfg(not(unix))]
        {
            Some(FileStat { size: m.len(), mode: 0, ino: 0, ctime: (0, 0) })
        }
    }

    /// A regular file (not a symlink or directory) with exactly these permission bits.
    pub fn is_file_with_mode(&self, mode: u32) -> bool {
        self.mode & 0o170000 == 0o100000 && self.mode & 0o7777 == mode
    }
}

/// One file of a dist directory as written: where, its metadata just after the write, and its
/// md5. A later write trusts a file whose metadata is unchanged to still hold these bytes,
/// unless it is `racy`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WrittenFile {
    pub dest: String,
    pub stat: FileStat,
    pub md5: String,
    /// Its ctime is not older than the record of it: on a file system with coarse timestamps
    /// an edit in that same tick would leave the metadata as recorded, so only the bytes tell.
    #[serde(skip)]
    pub racy: bool,
}

impl WrittenFile {
    /// Marks the files whose ctime is not older than `recorded` (seconds, nanoseconds).
    pub fn mark_racy(files: &mut [WrittenFile], recorded: (i64, i64)) {
        for f in files {
            f.racy = f.stat.ctime >= recorded;
        }
    }

    /// Whether `path` still is this file: same metadata and, when racy, the same md5.
    pub fn still_at(&self, path: &Path) -> bool {
        FileStat::of(path).as_ref() == Some(&self.stat) && (!self.racy || fsutil::read(path).is_ok_and(|b| crate::manifest::md5_hex(&b) == self.md5))
    }
}

pub(crate) fn file_mode(f: &DistFile) -> u32 {
    if f.executable {
        0o755
    } else {
        0o644
    }
}

/// Whether `known` (a previous write of this dist) vouches that `path` still holds exactly the
/// bytes with this md5, as a regular file with this mode: its metadata has not changed since.
fn vouched(known: Option<&&WrittenFile>, path: &Path, md5: &str, mode: u32) -> bool {
    known.is_some_and(|k| k.md5 == md5 && k.stat.is_file_with_mode(mode) && k.still_at(path))
}

/// Builds the directory beside `out` and swaps it in. A file the current dist already holds
/// (vouched for by `known`, or else compared byte for byte) is hard-linked instead of written.
/// Returns what was written, for the next call's `known`.
pub(crate) fn write_dir(out: &Path, files: &[(&DistFile, String)], known: &[WrittenFile]) -> Result<Vec<WrittenFile>, DistError> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| FsError::io(&parent, e))?;
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "dist".into());
    let tmp = tempfile::Builder::new().prefix(&format!(".{name}.kiln-new-")).tempdir_in(&parent).map_err(|e| FsError::io(&parent, e))?;
    // Directories first (sorted, so parents precede children), then the files in parallel:
    // thousands of small files are bound by file creation, not by bytes.
    let mut targets = Vec::with_capacity(files.len());
    let mut dirs = std::collections::BTreeSet::new();
    for (f, md5) in files {
        let rel = fsutil::normalize_rel(&f.dest)?;
        let path = tmp.path().join(&rel);
        // Every ancestor, so each gets its mode set (create_dir_all's follow the umask).
        let mut dir = path.parent();
        while let Some(d) = dir.filter(|d| *d != tmp.path()) {
            if !dirs.insert(d.to_path_buf()) {
                break;
            }
            dir = d.parent();
        }
        targets.push((rel, path, *f, md5.as_str()));
    }
    for dir in &dirs {
        std::fs::create_dir(dir).map_err(|e| FsError::io(dir, e))?;
        set_mode(dir, 0o755)?;
    }
    set_mode(tmp.path(), 0o755)?;
    let previous = out.is_dir().then_some(out);
    let known: BTreeMap<&str, &WrittenFile> = known.iter().map(|k| (k.dest.as_str(), k)).collect();
    // Every file is tried, so every corrupt cache blob is reported (and removed) in one run.
    let failed: Vec<FsError> = targets
        .par_iter()
        .filter_map(|(rel, path, f, md5)| {
            let mode = file_mode(f);
            if let Some(prev) = previous.map(|o| o.join(rel)) {
                let same = vouched(known.get(f.dest.as_str()), &prev, md5, mode) || holds(&prev, f.content.len(), md5, mode);
                if same && std::fs::hard_link(&prev, path).is_ok() {
                    return None;
                }
            }
            f.content.bytes().and_then(|b| write_file(path, &b, mode)).err()
        })
        .collect();
    all_ok(failed)?;
    let staged = tmp.keep();
    if out.exists() {
        let old = tempfile::Builder::new().prefix(&format!(".{name}.kiln-old-")).tempdir_in(&parent).map_err(|e| FsError::io(&parent, e))?;
        let old_path = old.path().join("d");
        std::fs::rename(out, &old_path).map_err(|e| FsError::io(out, e))?;
        if let Err(e) = std::fs::rename(&staged, out) {
            let _ = std::fs::rename(&old_path, out);
            let _ = std::fs::remove_dir_all(&staged);
            return Err(FsError::io(out, e).into());
        }
        // The files first, in parallel (thousands of unlinks), then what is left.
        let files: Vec<PathBuf> =
            walkdir::WalkDir::new(&old_path).into_iter().filter_map(Result::ok).filter(|e| !e.file_type().is_dir()).map(|e| e.into_path()).collect();
        files.par_iter().for_each(|f| {
            let _ = std::fs::remove_file(f);
        });
        drop(old);
    } else if let Err(e) = std::fs::rename(&staged, out) {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(FsError::io(out, e).into());
    }
    // Metadata is read last: unlinking the old tree's name of a linked file changes its ctime.
    targets
        .par_iter()
        .map(|(rel, _, f, md5)| {
            let path = out.join(rel);
            let stat = FileStat::of(&path).ok_or_else(|| FsError::Missing { path: fsutil::display(&path) })?;
            Ok(WrittenFile { dest: f.dest.clone(), stat, md5: md5.to_string(), racy: false })
        })
        .collect()
}

/// Brings the directory `out` to exactly these files in place, in an order that keeps it whole
/// for a server reading it meanwhile: first the files it does not have yet (new versioned names,
/// which nothing refers to yet), then the changed ones, each renamed over its old self with
/// `manifest.json` last, and only then the removal of files no longer listed. A file `known`
/// vouches for, or that holds the same bytes and mode, is left alone. A failed write leaves the
/// previous files in place. When the tree's shape is in the way (a file where a directory goes,
/// a directory or symlink where a file goes), the dist is swapped in whole instead.
pub(crate) fn update_dir(out: &Path, files: &[(&DistFile, String)], known: &[WrittenFile]) -> Result<Vec<WrittenFile>, DistError> {
    if !out.is_dir() {
        return write_dir(out, files, known);
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Action<'a> {
        /// Already there; with the metadata the last write recorded, when that vouches for it.
        Keep(Option<&'a FileStat>),
        Add,
        Replace,
    }
    let present: BTreeMap<String, fsutil::WalkEntry> = fsutil::walk(out, &|_, _| false)?.into_iter().map(|e| (e.rel.clone(), e)).collect();
    let vouchers: BTreeMap<&str, &WrittenFile> = known.iter().map(|k| (k.dest.as_str(), k)).collect();
    let mut plan = Vec::with_capacity(files.len());
    for (f, md5) in files {
        let rel = fsutil::normalize_rel(&f.dest)?;
        if rel.match_indices('/').any(|(i, _)| present.contains_key(&rel[..i])) {
            return write_dir(out, files, known);
        }
        plan.push((out.join(&rel), rel, *f, md5.as_str()));
    }
    let actions: Vec<Action> = plan
        .par_iter()
        .map(|(path, rel, f, md5)| {
            let mode = file_mode(f);
            let voucher = vouchers.get(f.dest.as_str());
            if vouched(voucher, path, md5, mode) {
                Action::Keep(voucher.map(|k| &k.stat))
            } else if holds(path, f.content.len(), md5, mode) {
                Action::Keep(None)
            } else if present.contains_key(rel) {
                Action::Replace
            } else {
                Action::Add
            }
        })
        .collect();
    // A directory where a file goes (the walk lists no directories).
    if plan.iter().zip(&actions).any(|((path, ..), a)| *a == Action::Add && std::fs::symlink_metadata(path).is_ok()) {
        return write_dir(out, files, known);
    }
    // Every byte to write is in hand (each cache blob checked) before the first write.
    let doing = |want: Action<'static>| plan.iter().zip(&actions).filter(move |(_, a)| **a == want).map(|(p, _)| p);
    type Ready<'a> = (&'a PathBuf, &'a DistFile, std::borrow::Cow<'a, [u8]>);
    fn load<'a>(files: Vec<&'a (PathBuf, String, &'a DistFile, &'a str)>) -> (Vec<Ready<'a>>, Vec<FsError>) {
        let loaded: Vec<_> = files.into_par_iter().map(|p| p.2.content.bytes().map(|b| (&p.0, p.2, b))).collect();
        let mut ready = Vec::with_capacity(loaded.len());
        let mut failed = Vec::new();
        for l in loaded {
            match l {
                Ok(x) => ready.push(x),
                Err(e) => failed.push(e),
            }
        }
        (ready, failed)
    }
    let (adds, mut failed) = load(doing(Action::Add).collect());
    let (replaces, failed_too) = load(doing(Action::Replace).collect());
    failed.extend(failed_too);
    all_ok(failed)?;
    let write = |(path, f, bytes): &Ready| -> Result<(), FsError> {
        make_dirs(out, path)?;
        fsutil::atomic_write_mode(path, bytes, file_mode(f))
    };
    adds.par_iter().try_for_each(write)?;
    let (last, replaces): (Vec<_>, Vec<_>) = replaces.into_iter().partition(|(_, f, _)| f.dest == "manifest.json");
    replaces.par_iter().try_for_each(write)?;
    last.iter().try_for_each(write)?;
    let wanted: std::collections::BTreeSet<&str> = plan.iter().map(|(_, rel, ..)| rel.as_str()).collect();
    let stale: Vec<&fsutil::WalkEntry> = present.iter().filter(|(rel, _)| !wanted.contains(rel.as_str())).map(|(_, e)| e).collect();
    stale.par_iter().try_for_each(|e| std::fs::remove_file(&e.path).map_err(|err| FsError::io(&e.path, err)))?;
    // Directories the removals emptied, deepest first (one still in use is not empty).
    let mut emptied: Vec<&Path> = stale.iter().flat_map(|e| e.path.ancestors().skip(1).take_while(|a| *a != out)).collect();
    emptied.sort_by(|a, b| b.components().count().cmp(&a.components().count()).then(a.cmp(b)));
    emptied.dedup();
    for dir in emptied {
        let _ = std::fs::remove_dir(dir);
    }
    plan.par_iter()
        .zip(&actions)
        .map(|((path, _, f, md5), action)| {
            let stat = match action {
                Action::Keep(Some(stat)) => (*stat).clone(),
                _ => FileStat::of(path).ok_or_else(|| FsError::Missing { path: fsutil::display(path) })?,
            };
            Ok(WrittenFile { dest: f.dest.clone(), stat, md5: md5.to_string(), racy: false })
        })
        .collect()
}

/// Creates the missing directories between `out` and `path`'s parent, each with mode 0755.
fn make_dirs(out: &Path, path: &Path) -> Result<(), FsError> {
    let Some(parent) = path.parent() else { return Ok(()) };
    if parent == out || parent.is_dir() {
        return Ok(());
    }
    make_dirs(out, parent)?;
    match std::fs::create_dir(parent) {
        Ok(()) => set_mode(parent, 0o755),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(FsError::io(parent, e)),
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), FsError> {
    fsutil::set_mode(path, mode).map_err(|e| FsError::io(path, e))
}

/// Whether `path` is a regular file (not a symlink) of this size, md5 and mode.
pub(crate) fn holds(path: &Path, size: u64, md5: &str, mode: u32) -> bool {
    FileStat::of(path).is_some_and(|s| s.is_file_with_mode(mode) && s.size == size)
        && std::fs::read(path).is_ok_and(|b| crate::manifest::md5_hex(&b) == md5)
}

/// Creates `path` with `bytes` and exactly `mode` (whatever the umask).
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FsError> {
    use std::io::Write;
    let io = |e| FsError::io(path, e);
    let mut file = std::fs::File::create_new(path).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(io)?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    Ok(())
}

/// Whether a source file is executable (any x bit).
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map(|m| m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// Reads `dest<TAB>src[<TAB>MODE]` lines into dist files. A file is executable when `src` is,
/// unless MODE (`644` or `755`) says otherwise: Bazel makes every output it produces 0555, so its
/// rules mark generated files `644`. The same dest twice is fine with the same bytes and an error
/// naming both sources otherwise; a secret or development artifact is refused.
pub fn files_from_params(text: &str, base: &Path) -> Result<Vec<DistFile>, Vec<DistError>> {
    let mut errors = Vec::new();
    let mut by_dest: BTreeMap<String, (String, DistFile)> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Some((dest, src)) = line.split_once('\t') else {
            errors.push(DistError::Refused(format!("params line {}: expected dest<TAB>src", n + 1)));
            continue;
        };
        let (src, mode) = match src.split_once('\t') {
            None => (src, None),
            Some((src, "644")) => (src, Some(false)),
            Some((src, "755")) => (src, Some(true)),
            Some((_, other)) => {
                errors.push(DistError::Refused(format!("params line {}: mode {other:?} is neither 644 nor 755", n + 1)));
                continue;
            }
        };
        let dest = match fsutil::normalize_rel(dest) {
            Ok(d) => d,
            Err(e) => {
                errors.push(e.into());
                continue;
            }
        };
        // Bytecode is an output here; secrets and files inside development directories never are.
        let parts: Vec<&str> = dest.split('/').collect();
        // (`__pycache__/` holds the bytecode that `--keep-source` ships.)
        if is_secret(parts[parts.len() - 1]) || parts[..parts.len() - 1].iter().any(|d| is_dev_dir(d) && *d != "__pycache__") {
            errors.push(DistError::Refused(format!("{dest}: refusing to ship a secret or development artifact")));
            continue;
        }
        let src_path = base.join(src);
        let real = std::fs::canonicalize(&src_path).unwrap_or_else(|_| src_path.clone());
        let src_secret = [src_path.file_name(), real.file_name()].into_iter().flatten().any(|n| is_secret(&n.to_string_lossy()));
        if src_secret {
            errors.push(DistError::Refused(format!("{dest}: refusing to ship the secret {src}")));
            continue;
        }
        let bytes = match fsutil::read(&src_path) {
            Ok(b) => b,
            Err(e) => {
                errors.push(e.into());
                continue;
            }
        };
        let file = DistFile { dest: dest.clone(), executable: mode.unwrap_or_else(|| is_executable(&src_path)), content: bytes.into() };
        match by_dest.get(&dest) {
            Some((first, prev)) if prev.content != file.content => {
                errors.push(DistError::Conflict { dest, first: first.clone(), second: src.to_string() })
            }
            Some(_) => {}
            None => {
                by_dest.insert(dest, (src.to_string(), file));
            }
        }
    }
    if errors.is_empty() {
        Ok(by_dest.into_values().map(|(_, f)| f).collect())
    } else {
        Err(errors)
    }
}

#[derive(clap::Parser)]
#[command(name = "kiln-dist-assemble", version, about = "Lay out a dist (directory or deterministic archive)")]
pub struct AssembleArgs {
    /// File of `dest<TAB>src` lines (src relative to the current directory).
    #[arg(long, value_name = "FILE")]
    pub params: PathBuf,
    /// Also write the generated `.env.production`.
    #[arg(long)]
    pub env_production: bool,
    /// A directory, or an archive: `.tar.zst`, `.tar.gz`, `.zip`.
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    pub out: PathBuf,
}

pub fn assemble_main(args: AssembleArgs) -> ExitCode {
    let text = match fsutil::read(&args.params).map(String::from_utf8) {
        Ok(Ok(t)) => t,
        Ok(Err(_)) => return crate::cli::fail([format!("{}: params file is not UTF-8", fsutil::display(&args.params))]),
        Err(e) => return crate::cli::fail([e]),
    };
    let mut files = match files_from_params(&text, Path::new(".")) {
        Ok(f) => f,
        Err(e) => return crate::cli::fail(e),
    };
    if args.env_production {
        if files.iter().any(|f| f.dest == ".env.production") {
            return crate::cli::fail([".env.production: given in the params and by --env-production"]);
        }
        files.push(DistFile { dest: ".env.production".into(), content: env_production().into(), executable: false });
    }
    if output_kind(&args.out) == OutputKind::Dir && args.out.is_dir() && !replaceable(&args.out) {
        return crate::cli::usage(format!("refusing to replace {}: it exists and is not a kiln dist", fsutil::display(&args.out)));
    }
    match write_dist(&args.out, &files) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => crate::cli::fail([e]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_modes_override_the_source_exec_bit() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.pyc");
        std::fs::write(&out, "x").unwrap();
        // As Bazel leaves its outputs.
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o555)).unwrap();
        let p = out.display();
        let files = files_from_params(&format!("a.pyc\t{p}\t644\nb.pyc\t{p}\nc.pyc\t{p}\t755\n"), Path::new(".")).unwrap();
        let exec: Vec<(&str, bool)> = files.iter().map(|f| (f.dest.as_str(), f.executable)).collect();
        assert_eq!(exec, [("a.pyc", false), ("b.pyc", true), ("c.pyc", true)]);
        assert!(files_from_params(&format!("a\t{p}\t600\n"), Path::new(".")).is_err());
    }

    #[test]
    fn classifies_like_asok_minus_its_faults() {
        let l = Layout::default();
        for (rel, want) in [
            ("wsgi.py", Class::Python),
            ("src/migrations/0001_init.py", Class::PythonSource),
            ("src/partials/css/a.css", Class::Static),
            ("src/templates/base.html", Class::Template),
            ("src/templates/mail.txt", Class::Copy),
            (".env", Class::Secret),
            ("src/.env.local", Class::Secret),
            ("deploy/server.pem", Class::Secret),
            ("id_rsa", Class::Secret),
            (".npmrc", Class::Secret),
            ("node_modules/x/index.js", Class::DevArtifact),
            ("a/venv/lib/x.py", Class::DevArtifact),
            ("src/__pycache__/a.cpython-311.pyc", Class::DevArtifact),
            ("db.sqlite3", Class::Database),
            (".gitignore", Class::RootGitignore),
            ("src/.gitignore", Class::Copy),
            ("docs/build/index.md", Class::Copy),
            ("dist/wsgi.pyc", Class::DevArtifact),
            ("BUILD.bazel", Class::DevArtifact),
            ("tests/dist/fixture.txt", Class::Copy),
        ] {
            assert_eq!(classify(rel, &l), want, "{rel}");
        }
        assert_eq!(classify("db.sqlite3", &Layout { with_db: true, ..Layout::default() }), Class::Copy);
    }

    #[test]
    fn template_dirs_inside_the_static_root_win_and_uploads_ship_as_they_are() {
        // asok's layout: shared templates live in the static root, uploads are data.
        let l = Layout {
            template_dirs: vec!["src/pages".into(), "src/partials/html".into()],
            verbatim_dirs: vec!["src/partials/uploads".into()],
            python_source: vec!["src/migrations".into(), "manage.py".into()],
            outputs: vec!["staticfiles".into()],
            ..Layout::default()
        };
        for (rel, want) in [
            ("src/partials/html/base.html", Class::Template),
            ("src/partials/html/icon.svg", Class::Static),
            ("src/pages/products/page.html", Class::Template),
            ("src/pages/products/page.py", Class::Python),
            ("src/partials/uploads/a.png", Class::Copy),
            ("src/partials/uploads/.gitkeep", Class::Copy),
            ("src/partials/css/base.css", Class::Static),
            ("manage.py", Class::PythonSource),
            ("staticfiles/admin/css/base.css", Class::DevArtifact),
        ] {
            assert_eq!(classify(rel, &l), want, "{rel}");
        }
    }

    #[test]
    fn refuses_outputs_that_would_destroy_sources() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("app");
        std::fs::create_dir_all(src.join("src")).unwrap();
        std::fs::write(src.join("src/x.py"), "x = 1\n").unwrap();
        assert!(check_output(&src, &src).is_err());
        assert!(check_output(dir.path(), &src).is_err());
        assert!(check_output(&src.join("src"), &src).is_err());
        assert!(check_output(&src.join("dist"), &src).is_ok());
        assert!(check_output(&dir.path().join("elsewhere"), &src).is_ok());
    }

    fn dist(files: &[(&str, &str)]) -> Vec<DistFile> {
        files.iter().map(|(d, b)| DistFile { dest: d.to_string(), content: b.as_bytes().to_vec().into(), executable: d.ends_with(".sh") }).collect()
    }

    fn tree(out: &Path) -> Vec<(String, String, u32)> {
        use std::os::unix::fs::PermissionsExt;
        let mut t: Vec<_> = walkdir::WalkDir::new(out)
            .min_depth(1)
            .into_iter()
            .map(|e| e.unwrap())
            .map(|e| {
                let rel = e.path().strip_prefix(out).unwrap().display().to_string();
                let mode = e.path().symlink_metadata().unwrap().permissions().mode() & 0o7777;
                let text = if e.file_type().is_file() { std::fs::read_to_string(e.path()).unwrap() } else { String::new() };
                (rel, text, mode)
            })
            .collect();
        t.sort();
        t
    }

    fn ino(path: &Path) -> u64 {
        use std::os::unix::fs::MetadataExt;
        path.symlink_metadata().unwrap().ino()
    }

    #[test]
    fn an_update_in_place_adds_replaces_and_removes_but_leaves_unchanged_files_alone() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let first = dist(&[("a/keep.js", "k"), ("a/old.js", "o"), ("gone/deep/x.css", "x"), ("manifest.json", "{1}"), ("t.html", "1")]);
        let known = update_dir(&out, &with_md5(&first), &[]).unwrap();
        let keep_ino = ino(&out.join("a/keep.js"));
        let next = dist(&[("a/keep.js", "k"), ("a/new.js", "n"), ("b/c/d.sh", "#!"), ("manifest.json", "{2}"), ("t.html", "2")]);
        let written = update_dir(&out, &with_md5(&next), &known).unwrap();
        assert_eq!(
            tree(&out),
            [
                ("a".into(), "".into(), 0o755),
                ("a/keep.js".into(), "k".into(), 0o644),
                ("a/new.js".into(), "n".into(), 0o644),
                ("b".into(), "".into(), 0o755),
                ("b/c".into(), "".into(), 0o755),
                ("b/c/d.sh".into(), "#!".into(), 0o755),
                ("manifest.json".into(), "{2}".into(), 0o644),
                ("t.html".into(), "2".into(), 0o644),
            ]
        );
        assert_eq!(ino(&out.join("a/keep.js")), keep_ino, "an unchanged file is not rewritten");
        assert_eq!(written.iter().map(|w| w.dest.as_str()).collect::<Vec<_>>(), ["a/keep.js", "a/new.js", "b/c/d.sh", "manifest.json", "t.html"]);
        assert!(written.iter().all(|w| FileStat::of(&out.join(&w.dest)).as_ref() == Some(&w.stat)));
    }

    #[test]
    fn an_update_in_place_never_trusts_a_changed_file_nor_writes_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let outside = dir.path().join("outside.txt");
        std::fs::write(&outside, "secret").unwrap();
        let files = dist(&[("a.js", "aaaa"), ("b.js", "bbbb"), ("l.js", "llll"), ("sub/x.js", "x")]);
        let known = update_dir(&out, &with_md5(&files), &[]).unwrap();
        // Edited in place with the same size, replaced by a symlink, and a directory turned into a symlink.
        std::fs::write(out.join("a.js"), "AAAA").unwrap();
        std::fs::remove_file(out.join("l.js")).unwrap();
        std::os::unix::fs::symlink(&outside, out.join("l.js")).unwrap();
        std::fs::remove_dir_all(out.join("sub")).unwrap();
        std::os::unix::fs::symlink(dir.path(), out.join("sub")).unwrap();
        std::fs::write(out.join("stray.txt"), "?").unwrap();
        update_dir(&out, &with_md5(&files), &known).unwrap();
        assert_eq!(
            tree(&out),
            [
                ("a.js".into(), "aaaa".into(), 0o644),
                ("b.js".into(), "bbbb".into(), 0o644),
                ("l.js".into(), "llll".into(), 0o644),
                ("sub".into(), "".into(), 0o755),
                ("sub/x.js".into(), "x".into(), 0o644),
            ]
        );
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "secret");
        assert!(!dir.path().join("x.js").exists(), "nothing written through the symlinked directory");
        // A directory where a file now goes.
        let flat = dist(&[("a.js", "aaaa"), ("sub", "now a file")]);
        update_dir(&out, &with_md5(&flat), &[]).unwrap();
        assert_eq!(tree(&out), [("a.js".into(), "aaaa".into(), 0o644), ("sub".into(), "now a file".into(), 0o644)]);
    }
}
