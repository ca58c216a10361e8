//! The last build of an output (`last-build.json` in its cache dir), and the dist writer that
//! uses it: a rebuild whose inputs did not change and whose output is intact does nothing, and
//! any other rebuild still keeps the files the memo vouches for instead of reading them.

use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::BuildError;
use crate::assemble::{self, file_mode, output_kind, with_md5, write_dist, DistFile, OutputKind, WrittenFile};
use crate::fsutil;

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
pub fn write_if_changed(out: &Path, files: &[DistFile], known: &[WrittenFile], update: Update) -> Result<Vec<WrittenFile>, BuildError> {
    if output_kind(out) != OutputKind::Dir {
        write_dist(out, files)?;
        return Ok(Vec::new());
    }
    let files = with_md5(files);
    let written = match update {
        Update::InPlace => assemble::update_dir(out, &files, known),
        Update::Swap => {
            let same_as_known = !known.is_empty()
                && files.len() == known.len()
                && files.iter().zip(known).all(|((f, md5), k)| f.dest == k.dest && *md5 == k.md5 && k.stat.is_file_with_mode(file_mode(f)))
                && intact(out, known);
            if same_as_known {
                return Ok(known.to_vec());
            }
            assemble::write_dir(out, &files, known)
        }
    };
    Ok(written?)
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

    /// The digest of the last build's inputs.
    pub fn inputs(&self) -> &str {
        &self.inputs
    }

    pub fn into_outcome(self) -> T {
        self.outcome
    }

    /// What the previous build wrote.
    pub fn into_written(self) -> Vec<WrittenFile> {
        self.output
    }

    /// Remembers a finished build and what it wrote.
    pub fn record(cache_dir: &Path, inputs: String, output: Vec<WrittenFile>, outcome: T) -> Result<T, BuildError> {
        let memo = Memo { inputs, output, outcome };
        // Compact, and in the types' own order (sorted maps and lists): read only by kiln.
        let json = serde_json::to_vec(&memo).map_err(|e| BuildError::Message(e.to_string()))?;
        fsutil::atomic_write(&cache_dir.join(LAST_BUILD), &json)?;
        Ok(memo.outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assemble::FileStat;
    use std::time::{Duration, SystemTime};

    fn files(list: &[(&str, &str)]) -> Vec<DistFile> {
        list.iter().map(|(d, b)| DistFile { dest: d.to_string(), content: b.as_bytes().to_vec().into(), executable: false }).collect()
    }

    /// Sets the memo file's mtime: the files written after it are "racy", those before are not.
    fn memo_time(cache: &Path, t: SystemTime) {
        std::fs::File::options().write(true).open(cache.join(LAST_BUILD)).unwrap().set_modified(t).unwrap();
    }

    #[test]
    fn the_memo_holds_for_the_same_inputs_and_an_untouched_output_only() {
        let dir = tempfile::tempdir().unwrap();
        let (out, cache) = (dir.path().join("dist"), dir.path().join("cache"));
        std::fs::create_dir_all(&cache).unwrap();
        let dist = files(&[("a.js", "a"), ("sub/b.css", "b")]);
        let written = write_if_changed(&out, &dist, &[], Update::Swap).unwrap();
        assert_eq!(Memo::record(&cache, "inputs-1".into(), written, 7u32).unwrap(), 7);
        memo_time(&cache, SystemTime::now() + Duration::from_secs(60));

        let memo = Memo::<u32>::load(&cache).unwrap();
        assert!(memo.holds("inputs-1", &out));
        assert!(!memo.holds("inputs-2", &out), "other inputs");
        std::fs::write(out.join("stray.txt"), "?").unwrap();
        assert!(!memo.holds("inputs-1", &out), "a file added");
        std::fs::remove_file(out.join("stray.txt")).unwrap();
        assert!(memo.holds("inputs-1", &out));
        std::fs::write(out.join("a.js"), "A").unwrap();
        assert!(!memo.holds("inputs-1", &out), "a file edited");
        assert_eq!(memo.into_outcome(), 7);
        assert!(Memo::<u32>::load(&dir.path().join("none")).is_none());
    }

    #[test]
    fn a_racy_file_is_checked_by_its_bytes_and_others_by_their_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let (out, cache) = (dir.path().join("dist"), dir.path().join("cache"));
        std::fs::create_dir_all(&cache).unwrap();
        write_if_changed(&out, &files(&[("a.js", "a")]), &[], Update::Swap).unwrap();
        // A record whose md5 is not the file's, as when an edit within the same clock tick left
        // the metadata as recorded.
        let stat = FileStat::of(&out.join("a.js")).unwrap();
        let stale = WrittenFile { dest: "a.js".into(), stat, md5: crate::manifest::md5_hex(b"before the edit"), racy: false };
        Memo::record(&cache, "i".into(), vec![stale], ()).unwrap();

        memo_time(&cache, SystemTime::now() - Duration::from_secs(3600));
        let memo = Memo::<()>::load(&cache).unwrap();
        assert!(!memo.holds("i", &out), "racy (changed no earlier than the memo): its bytes decide");

        memo_time(&cache, SystemTime::now() + Duration::from_secs(3600));
        let memo = Memo::<()>::load(&cache).unwrap();
        assert!(memo.holds("i", &out), "not racy: unchanged metadata vouches for it");
    }

    #[test]
    fn an_unchanged_dist_is_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("dist");
        let dist = files(&[("a.js", "a"), ("b.css", "b")]);
        let first = write_if_changed(&out, &dist, &[], Update::Swap).unwrap();
        let again = write_if_changed(&out, &dist, &first, Update::Swap).unwrap();
        assert_eq!(again, first, "same files, same inodes and ctimes: nothing written");
        let changed = files(&[("a.js", "a"), ("b.css", "B")]);
        let next = write_if_changed(&out, &changed, &first, Update::Swap).unwrap();
        assert_eq!(std::fs::read(out.join("b.css")).unwrap(), b"B");
        assert_ne!(next, first);
    }
}
