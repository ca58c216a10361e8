//! The two directory writers: a new tree swapped in whole (`write_dir`) and an update in place
//! (`update_dir`), both hard-linking or keeping every file the last write vouches for.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{all_ok, DistError, DistFile};
use crate::fsutil::{self, FsError};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assemble::with_md5;

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
