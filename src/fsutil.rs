//! Deterministic file-system helpers shared by every action: sorted walking, path safety,
//! atomic (all-or-nothing) writes and stable JSON.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

/// File mode of every regular file kiln writes, whatever the umask.
pub const FILE_MODE: u32 = 0o644;

#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: no such file")]
    Missing { path: String },
    #[error("{path}: is a directory, expected a file")]
    IsDir { path: String },
    #[error("{path}: path escapes the root {root}")]
    Escapes { path: String, root: String },
    #[error("{path}: symlink points outside the root {root}")]
    SymlinkEscapes { path: String, root: String },
    #[error("{path}: not a valid relative path ({why})")]
    BadPath { path: String, why: &'static str },
    #[error("{path}: build cache entry is corrupt (removed; run the build again)")]
    CorruptCache { path: String },
}

impl FsError {
    pub fn io(path: &Path, source: io::Error) -> Self {
        FsError::Io { path: display(path), source }
    }
}

/// A path for messages: as given, with `/` separators.
pub fn display(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

/// Where `program` runs from: itself when it names a path, else the first file of that name in
/// the caller's PATH (the lookup the shell does).
pub fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return Some(program.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(program)).find(|c| c.is_file()))
}

/// Reads a whole file, with errors that say what was wrong with the path.
pub fn read(path: &Path) -> Result<Vec<u8>, FsError> {
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => return Err(FsError::IsDir { path: display(path) }),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(FsError::Missing { path: display(path) }),
        Err(e) => return Err(FsError::io(path, e)),
    }
    fs::read(path).map_err(|e| FsError::io(path, e))
}

/// Normalizes a `/`-separated relative path lexically (`a/./b/../c` → `a/c`).
/// Refuses absolute paths, NUL, backslashes, empty paths and any `..` that climbs above the start.
pub fn normalize_rel(rel: &str) -> Result<String, FsError> {
    let bad = |why| FsError::BadPath { path: rel.to_string(), why };
    if rel.is_empty() {
        return Err(bad("empty"));
    }
    if rel.contains('\0') {
        return Err(bad("contains NUL"));
    }
    if rel.contains('\\') {
        return Err(bad("contains a backslash"));
    }
    if rel.starts_with('/') {
        return Err(bad("absolute"));
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(bad("climbs above the root with .."));
                }
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(bad("names the root itself"));
    }
    Ok(parts.join("/"))
}

/// Makes `path` absolute against the current directory and removes `.`/`..` lexically
/// (without touching the file system, so symlinks are not followed).
pub fn absolute_lexical(path: &Path) -> Result<PathBuf, FsError> {
    let joined = if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir().map_err(|e| FsError::io(path, e))?.join(path) };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    Ok(out)
}

/// The `/`-separated path of `path` relative to `root`, decided lexically.
/// `Err(Escapes)` when `path` is not inside `root`.
pub fn rel_to_root(root: &Path, path: &Path) -> Result<String, FsError> {
    let abs_root = absolute_lexical(root)?;
    let abs = absolute_lexical(path)?;
    let rel = abs.strip_prefix(&abs_root).map_err(|_| FsError::Escapes { path: display(path), root: display(root) })?;
    let rel = display(rel);
    normalize_rel(&rel).map_err(|_| FsError::Escapes { path: display(path), root: display(root) })
}

/// Whether `a` and `b` are the same directory or one contains the other (decided lexically):
/// an output that overlaps an input root could overwrite sources or read its own output.
pub fn overlaps(a: &Path, b: &Path) -> bool {
    match (absolute_lexical(a), absolute_lexical(b)) {
        (Ok(a), Ok(b)) => a.starts_with(&b) || b.starts_with(&a),
        _ => true,
    }
}

/// Joins a relative path onto `root`, refusing anything that resolves outside it:
/// `..` above the root, absolute paths, and symlinks (at any depth) that point out.
/// The path need not exist; its deepest existing ancestor is checked.
pub fn safe_join(root: &Path, rel: &str) -> Result<PathBuf, FsError> {
    let norm = normalize_rel(rel).map_err(|e| match e {
        FsError::BadPath { why: "climbs above the root with ..", .. } | FsError::BadPath { why: "absolute", .. } => {
            FsError::Escapes { path: rel.to_string(), root: display(root) }
        }
        other => other,
    })?;
    let joined = root.join(&norm);
    let canon_root = fs::canonicalize(root).map_err(|e| FsError::io(root, e))?;
    let mut probe = joined.as_path();
    loop {
        match fs::canonicalize(probe) {
            Ok(real) => {
                if !real.starts_with(&canon_root) {
                    return Err(FsError::SymlinkEscapes { path: rel.to_string(), root: display(root) });
                }
                return Ok(joined);
            }
            Err(_) => match probe.parent() {
                Some(p) => probe = p,
                None => return Ok(joined),
            },
        }
    }
}

/// What a walk found at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File,
    /// A symlink whose target stays inside the root; `target` is its `/`-separated path from the root.
    LinkInside {
        target: String,
    },
    /// A symlink that resolves outside the root (or dangles): never followed.
    LinkOutside,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkEntry {
    /// `/`-separated path relative to the walk's root.
    pub rel: String,
    pub path: PathBuf,
    pub kind: EntryKind,
}

/// Walks `root` in sorted order (byte order of file names at each level, so the result is
/// independent of the file system's order), never following symlinks. `skip` gets each
/// relative path (directories too) and prunes it when it returns true.
pub fn walk(root: &Path, skip: &dyn Fn(&str, bool) -> bool) -> Result<Vec<WalkEntry>, FsError> {
    let canon_root = fs::canonicalize(root).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => FsError::Missing { path: display(root) },
        _ => FsError::io(root, e),
    })?;
    if !canon_root.is_dir() {
        return Err(FsError::BadPath { path: display(root), why: "not a directory" });
    }
    let mut out = Vec::new();
    let mut it = walkdir::WalkDir::new(root).follow_links(false).sort_by(|a, b| a.file_name().cmp(b.file_name())).into_iter();
    while let Some(entry) = it.next() {
        let entry = entry.map_err(|e| {
            let path = e.path().map(display).unwrap_or_else(|| display(root));
            FsError::Io { path, source: e.into() }
        })?;
        if entry.depth() == 0 {
            continue;
        }
        let rel = display(entry.path().strip_prefix(root).unwrap_or(entry.path()));
        let ft = entry.file_type();
        if skip(&rel, ft.is_dir()) {
            if ft.is_dir() {
                it.skip_current_dir();
            }
            continue;
        }
        if ft.is_dir() {
            continue;
        }
        let kind = if ft.is_symlink() {
            match fs::canonicalize(entry.path()) {
                Ok(real) if real.starts_with(&canon_root) && real.is_file() => {
                    EntryKind::LinkInside { target: display(real.strip_prefix(&canon_root).unwrap_or(&real)) }
                }
                _ => EntryKind::LinkOutside,
            }
        } else {
            EntryKind::File
        };
        out.push(WalkEntry { rel, path: entry.path().to_path_buf(), kind });
    }
    Ok(out)
}

/// Writes `bytes` to `path` atomically: a temp file in the same directory, mode 0644, then rename.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    atomic_write_mode(path, bytes, FILE_MODE)
}

/// `atomic_write` with the file's mode given (whatever the umask).
pub fn atomic_write_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FsError> {
    let tmp = write_temp_beside(path, bytes, mode)?;
    tmp.persist(path).map_err(|e| FsError::io(path, e.error))?;
    Ok(())
}

fn write_temp_beside(path: &Path, bytes: &[u8], mode: u32) -> Result<tempfile::NamedTempFile, FsError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(|e| FsError::io(dir, e))?;
    let mut tmp = tempfile::Builder::new().prefix(".kiln-tmp-").tempfile_in(dir).map_err(|e| FsError::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| FsError::io(path, e))?;
    set_mode(tmp.path(), mode).map_err(|e| FsError::io(path, e))?;
    Ok(tmp)
}

/// Sets a file's permission bits (a no-op off Unix).
#[cfg(unix)]
pub fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
pub fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// A set of output files that appear together or not at all: every file is first written to a
/// temp file beside its destination; only when all of them are written are they renamed into place.
#[derive(Default)]
pub struct Staged {
    files: BTreeMap<PathBuf, Vec<u8>>,
}

impl Staged {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, path: PathBuf, bytes: Vec<u8>) {
        self.files.insert(path, bytes);
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Writes everything; on any error no destination has been touched (temp files are removed).
    pub fn commit(self) -> Result<(), FsError> {
        let mut temps = Vec::with_capacity(self.files.len());
        for (path, bytes) in &self.files {
            temps.push((write_temp_beside(path, bytes, FILE_MODE)?, path));
        }
        for (tmp, path) in temps {
            tmp.persist(path).map_err(|e| FsError::io(path, e.error))?;
        }
        Ok(())
    }
}

/// Serializes to kiln's stable JSON: keys sorted at every level, two-space indent, trailing newline.
pub fn stable_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing our own types to a Value cannot fail (no non-string map keys, no custom errors).
    let value = serde_json::to_value(value).unwrap_or(Value::Null);
    let mut out = serde_json::to_vec_pretty(&sort_keys(value)).unwrap_or_default();
    out.push(b'\n');
    out
}

fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<String, Value> = map.into_iter().map(|(k, v)| (k, sort_keys(v))).collect();
            Value::Object(sorted.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_rel_handles_dots_and_refuses_escapes() {
        assert_eq!(normalize_rel("a/./b/../c").unwrap(), "a/c");
        assert_eq!(normalize_rel("a//b/").unwrap(), "a/b");
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a\\b", "a\0b", ".", "a/.."] {
            assert!(normalize_rel(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn safe_join_refuses_symlinks_out_of_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(root.join("sub/a.txt"), "a").unwrap();
        fs::write(dir.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("leak")).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("updir")).unwrap();
        assert!(safe_join(&root, "sub/a.txt").is_ok());
        assert!(safe_join(&root, "sub/new/file").is_ok(), "non-existing paths inside are fine");
        assert!(matches!(safe_join(&root, "leak"), Err(FsError::SymlinkEscapes { .. })));
        assert!(matches!(safe_join(&root, "updir/secret"), Err(FsError::SymlinkEscapes { .. })));
        assert!(matches!(safe_join(&root, "updir/not-yet"), Err(FsError::SymlinkEscapes { .. })));
        assert!(matches!(safe_join(&root, "../secret"), Err(FsError::Escapes { .. })));
        assert!(matches!(safe_join(&root, "/etc/passwd"), Err(FsError::Escapes { .. })));
    }

    #[test]
    fn walk_is_sorted_prunes_and_classifies_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for p in ["b/z.txt", "b/a.txt", "a.txt", "skip/x.txt", "C.txt"] {
            let p = root.join(p);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, "x").unwrap();
        }
        std::os::unix::fs::symlink(root.join("a.txt"), root.join("link-in")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("link-out")).unwrap();
        let entries = walk(root, &|rel, _| rel == "skip").unwrap();
        let rels: Vec<&str> = entries.iter().map(|e| e.rel.as_str()).collect();
        assert_eq!(rels, ["C.txt", "a.txt", "b/a.txt", "b/z.txt", "link-in", "link-out"]);
        assert_eq!(entries[4].kind, EntryKind::LinkInside { target: "a.txt".into() });
        assert_eq!(entries[5].kind, EntryKind::LinkOutside);
    }

    #[test]
    fn staged_commit_writes_all_with_fixed_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mut s = Staged::new();
        s.add(dir.path().join("x/a"), b"a".to_vec());
        s.add(dir.path().join("b"), b"b".to_vec());
        s.commit().unwrap();
        assert_eq!(fs::read(dir.path().join("x/a")).unwrap(), b"a");
        let mode = fs::metadata(dir.path().join("b")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, FILE_MODE);
        let leftovers: Vec<_> =
            fs::read_dir(dir.path()).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().starts_with(".kiln-tmp-")).collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn stable_json_sorts_keys_and_ends_with_newline() {
        let v = serde_json::json!({"b": 1, "a": {"d": [ {"z": 1, "y": 2} ], "c": true}});
        let s = String::from_utf8(stable_json(&v)).unwrap();
        assert_eq!(
            s,
            "{\n  \"a\": {\n    \"c\": true,\n    \"d\": [\n      {\n        \"y\": 2,\n        \"z\": 1\n      }\n    ]\n  },\n  \"b\": 1\n}\n"
        );
    }

    #[test]
    fn read_names_missing_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        let e = read(&dir.path().join("nope")).unwrap_err().to_string();
        assert!(e.ends_with("nope: no such file"), "{e}");
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
    }
}
