//! The content-addressed cache of units. A unit is one piece of work (one file minified, one
//! image encoded, one module compiled, one block, one template, one set of twins), keyed by a
//! digest of its inputs; `Cache::get_or_build` reuses the previous build's outputs when the
//! inputs are the same and builds (and stores) them otherwise. `--explain` says, for each unit
//! rebuilt, which input changed.
//!
//! With a remote cache (remote.rs), a unit the local cache lacks is looked up there before it is
//! built, the units built are uploaded, and `--explain` says which units came from it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::remote::{Remote, UnitUpload};
use super::BuildError;
use crate::assemble::content::read_blob;
use crate::assemble::Content;
use crate::fsutil::{self, FsError};
use crate::manifest::md5_hex;

/// What a unit's output depends on: input name → digest (a file's md5, an options string, …).
pub type Inputs = BTreeMap<String, String>;
/// A unit's outputs: each file's name and content (a cache blob is read only when needed).
pub type Outputs = Vec<(String, Content)>;
/// A unit's outputs as just built.
pub type Built = Vec<(String, Vec<u8>)>;

/// One unit of cached work: the digests of its inputs and its outputs' blobs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Unit {
    key: String,
    inputs: Inputs,
    outputs: Vec<(String, String)>,
}

/// Which outputs of a reused unit are read (and checked against their md5) at once. An output
/// that is only written to the dist stays a blob, read only if the dist lacks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// None: every output stays a blob.
    Lazy,
    /// All of them: the step needs their bytes.
    All,
    /// The last one only (a block's entry; its bundle stays a blob).
    Last,
}

/// Where a reused unit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Local,
    Remote,
}

/// Content-addressed cache of units: `units.json` plus `objects/<md5>` blobs, and `pack`, the
/// last pack imported from the remote cache (one file instead of one per blob: a fresh clone
/// writes its dist and this, not a second tree of small files).
pub struct Cache {
    dir: Option<PathBuf>,
    explain: bool,
    previous: BTreeMap<String, Unit>,
    current: Mutex<BTreeMap<String, Unit>>,
    /// Blobs not (yet) in `objects/`: built in this run, or fetched from the remote cache.
    new_blobs: Mutex<BTreeMap<String, Vec<u8>>>,
    explained: Mutex<Vec<String>>,
    hits: Mutex<usize>,
    remote: Option<RemoteState>,
    pack: Option<LocalPack>,
}

/// A pack in the cache dir or just imported: where each blob is in it, and its bytes (read when
/// first needed).
struct LocalPack {
    index: PackIndex,
    bytes: OnceLock<Option<Vec<u8>>>,
    imported: bool,
}

/// md5 → (offset, length) of each blob of a pack.
type PackIndex = BTreeMap<String, (usize, usize)>;

/// The remote cache of one build: the units it holds (fetched), the names looked up there, what
/// came from it, and whether this build's pack is to be uploaded.
struct RemoteState {
    remote: Remote,
    /// The digest of the build's inputs (its entry's key), when its pack is to be uploaded.
    pack_digest: Option<String>,
    fetched: Mutex<BTreeMap<String, Unit>>,
    looked_up: Mutex<BTreeSet<String>>,
    reused: Mutex<BTreeSet<String>>,
    built: Mutex<BTreeSet<String>>,
}

impl Cache {
    /// The cache in `dir` (none: nothing is reused or kept). With `explain`, every rebuilt unit
    /// is explained.
    pub fn open(dir: Option<PathBuf>, explain: bool) -> Cache {
        let previous =
            dir.as_ref().and_then(|d| std::fs::read(d.join("units.json")).ok()).and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        Cache {
            explain,
            previous,
            current: Mutex::default(),
            new_blobs: Mutex::default(),
            explained: Mutex::default(),
            hits: Mutex::new(0),
            remote: None,
            pack: dir.as_ref().and_then(|d| read_pack_index(&d.join(PACK_FILE))).map(|index| LocalPack {
                index,
                bytes: OnceLock::new(),
                imported: false,
            }),
            dir,
        }
    }

    /// This cache backed by `remote`. `inputs_digest` is the digest of the build's inputs (none
    /// when they could not be identified); with `fetch_pack`, the pack of a build with those
    /// inputs is fetched at once (every unit in two requests), else units are looked up one by
    /// one as the local cache misses them.
    pub fn with_remote(mut self, remote: Remote, inputs_digest: Option<String>, fetch_pack: bool) -> Cache {
        let mut fetched = BTreeMap::new();
        let mut found = false;
        if let Some(digest) = inputs_digest.as_deref().filter(|_| fetch_pack) {
            if let Some(bytes) = remote.fetch_pack(digest) {
                if let Some((units, index)) = unpack(&bytes) {
                    fetched = units;
                    found = true;
                    self.pack = Some(LocalPack { index, bytes: OnceLock::from(Some(bytes)), imported: true });
                }
            }
        }
        self.remote = Some(RemoteState {
            remote,
            pack_digest: inputs_digest.filter(|_| !found),
            fetched: Mutex::new(fetched),
            looked_up: Mutex::default(),
            reused: Mutex::default(),
            built: Mutex::default(),
        });
        self
    }

    fn key(inputs: &Inputs) -> String {
        md5_hex(serde_json::to_string(inputs).unwrap_or_default().as_bytes())
    }

    fn blob_path(&self, md5: &str) -> Option<PathBuf> {
        Some(self.dir.as_ref()?.join("objects").join(md5))
    }

    /// The blob `md5` from the pack, if it holds it intact.
    fn pack_blob(&self, md5: &str) -> Option<Vec<u8>> {
        let pack = self.pack.as_ref()?;
        let &(at, len) = pack.index.get(md5)?;
        let path = self.dir.as_ref().map(|d| d.join(PACK_FILE));
        let bytes = pack.bytes.get_or_init(|| path.and_then(|p| std::fs::read(p).ok())).as_ref()?;
        let blob = bytes.get(at..at.checked_add(len)?)?;
        (md5_hex(blob) == md5).then(|| blob.to_vec())
    }

    /// The unit `name`'s outputs: the previous build's when its inputs were these and its blobs
    /// are intact (`read` says which are read now), else `build`'s, stored for the next build.
    pub fn get_or_build<E>(&self, name: &str, inputs: Inputs, read: Read, build: impl FnOnce() -> Result<Built, E>) -> Result<Outputs, E> {
        if let Some((unit, outputs, origin)) = self.reusable(name, &inputs, read) {
            self.reuse(name, unit, origin);
            return Ok(outputs);
        }
        let built = build()?;
        self.store(name, inputs, &built);
        Ok(built.into_iter().map(|(rel, bytes)| (rel, Content::from(bytes))).collect())
    }

    /// Whether `get_or_build` would reuse the unit (a step that batches its misses asks first).
    pub fn holds(&self, name: &str, inputs: &Inputs) -> bool {
        self.reusable(name, inputs, Read::Lazy).is_some()
    }

    /// The unit `name` with these inputs and its outputs, from the previous build if it had it
    /// with every blob there (and, for those `read` names, holding its md5), else from the
    /// remote cache.
    fn reusable(&self, name: &str, inputs: &Inputs, read: Read) -> Option<(Unit, Outputs, Origin)> {
        let key = Self::key(inputs);
        if let Some(unit) = self.previous.get(name).filter(|u| u.key == key) {
            if let Some(outputs) = self.outputs(unit, read) {
                return Some((unit.clone(), outputs, Origin::Local));
            }
        }
        let unit = self.remote_unit(name, inputs, &key)?;
        let outputs = self.outputs(&unit, read)?;
        Some((unit, outputs, Origin::Remote))
    }

    /// The unit `name` with this key from the remote cache: in the build's pack, or fetched now
    /// (once per name).
    fn remote_unit(&self, name: &str, inputs: &Inputs, key: &str) -> Option<Unit> {
        let state = self.remote.as_ref()?;
        let fetched = |n: &str| state.fetched.lock().ok()?.get(n).filter(|u| u.key == key).cloned();
        if let Some(unit) = fetched(name) {
            return Some(unit);
        }
        if !state.looked_up.lock().ok()?.insert(name.to_string()) {
            return None;
        }
        let outputs = state.remote.fetch_unit(name, inputs)?;
        let mut blobs = Vec::with_capacity(outputs.len());
        let mut nb = self.new_blobs.lock().ok()?;
        for (rel, bytes) in outputs {
            let md5 = md5_hex(&bytes);
            nb.entry(md5.clone()).or_insert(bytes);
            blobs.push((rel, md5));
        }
        drop(nb);
        let unit = Unit { key: key.to_string(), inputs: inputs.clone(), outputs: blobs };
        state.fetched.lock().ok()?.insert(name.to_string(), unit.clone());
        Some(unit)
    }

    /// A unit's outputs, if every blob is there (`read` says which are read now).
    fn outputs(&self, unit: &Unit, read: Read) -> Option<Outputs> {
        let last = unit.outputs.len().checked_sub(1);
        let mut out = Vec::with_capacity(unit.outputs.len());
        let new_blobs = self.new_blobs.lock().ok()?;
        for (i, (rel, md5)) in unit.outputs.iter().enumerate() {
            if let Some(bytes) = new_blobs.get(md5).cloned().or_else(|| self.pack_blob(md5)) {
                out.push((rel.clone(), Content::Bytes(bytes, md5.clone().into())));
                continue;
            }
            let path = self.blob_path(md5)?;
            let content = if read == Read::All || (read == Read::Last && Some(i) == last) {
                Content::from(read_blob(&path, md5).ok()?)
            } else {
                let meta = std::fs::metadata(&path).ok().filter(|m| m.is_file())?;
                Content::Blob { path, md5: md5.clone(), size: meta.len() }
            };
            out.push((rel.clone(), content));
        }
        Some(out)
    }

    /// Counts a unit of the previous build, or of the remote cache, as reused.
    fn reuse(&self, name: &str, unit: Unit, origin: Origin) {
        if let Ok(mut c) = self.current.lock() {
            c.insert(name.to_string(), unit);
        }
        if let Ok(mut h) = self.hits.lock() {
            *h += 1;
        }
        if let (Origin::Remote, Some(state)) = (origin, &self.remote) {
            if let Ok(mut r) = state.reused.lock() {
                r.insert(name.to_string());
            }
            if self.explain {
                if let Ok(mut e) = self.explained.lock() {
                    e.push(format!("from the remote cache: {name}"));
                }
            }
        }
    }

    /// Records a freshly built unit, and why it was built.
    fn store(&self, name: &str, inputs: Inputs, outputs: &Built) {
        let mut blobs = Vec::new();
        // With nowhere to keep them (--no-cache and no remote cache) the outputs are neither
        // hashed nor copied: the unit is only counted.
        let kept = if self.dir.is_some() || self.remote.is_some() { &outputs[..] } else { &[] };
        for (rel, bytes) in kept {
            let md5 = md5_hex(bytes);
            if let Ok(mut nb) = self.new_blobs.lock() {
                nb.entry(md5.clone()).or_insert_with(|| bytes.clone());
            }
            blobs.push((rel.clone(), md5));
        }
        if self.explain {
            let line = format!("rebuilt {name}: {}", self.why(name, &inputs));
            if let Ok(mut e) = self.explained.lock() {
                e.push(line);
            }
        }
        if let Some(Ok(mut b)) = self.remote.as_ref().map(|s| s.built.lock()) {
            b.insert(name.to_string());
        }
        let unit = Unit { key: Self::key(&inputs), inputs, outputs: blobs };
        if let Ok(mut c) = self.current.lock() {
            c.insert(name.to_string(), unit);
        }
    }

    /// Why a unit was rebuilt: new, which inputs changed, or its cached output was missing.
    fn why(&self, name: &str, inputs: &Inputs) -> String {
        let Some(prev) = self.previous.get(name) else { return "new (not in the previous build)".to_string() };
        let mut changed: Vec<String> = inputs.iter().filter(|(k, v)| prev.inputs.get(*k) != Some(*v)).map(|(k, _)| k.clone()).collect();
        changed.extend(prev.inputs.keys().filter(|k| !inputs.contains_key(*k)).map(|k| format!("{k} (removed)")));
        if changed.is_empty() {
            "its cached output was missing".to_string()
        } else {
            format!("changed: {}", changed.join(", "))
        }
    }

    /// The `--explain` lines, sorted.
    pub fn explained(&self) -> Vec<String> {
        let mut e = self.explained.lock().map(|e| e.clone()).unwrap_or_default();
        e.sort();
        e
    }

    /// Units reused from the previous build in this run.
    pub fn hits(&self) -> usize {
        self.hits.lock().map(|h| *h).unwrap_or(0)
    }

    /// Units of this run, reused or built.
    pub fn units(&self) -> usize {
        self.current.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// Units built (not reused) in this run.
    pub fn misses(&self) -> usize {
        self.units().saturating_sub(self.hits())
    }

    /// Units reused from the remote cache in this run.
    pub fn remote_hits(&self) -> usize {
        self.remote.as_ref().and_then(|s| s.reused.lock().ok().map(|r| r.len())).unwrap_or(0)
    }

    /// The one warning line about the remote cache, if it had a problem.
    pub fn remote_warning(&self) -> Option<String> {
        self.remote.as_ref()?.remote.warning()
    }

    /// Writes new blobs and the unit index (only after a successful build), then uploads the
    /// units built in this run (and the build's pack) to the remote cache.
    pub fn save(&self) -> Result<(), BuildError> {
        let poisoned = || BuildError::Message("cache lock".into());
        let blobs = std::mem::take(&mut *self.new_blobs.lock().map_err(|_| poisoned())?);
        let current = self.current.lock().map_err(|_| poisoned())?;
        if let Some(dir) = &self.dir {
            let objects = dir.join("objects");
            std::fs::create_dir_all(&objects).map_err(|e| FsError::io(&objects, e))?;
            let live: BTreeSet<&str> = current.values().flat_map(|u| u.outputs.iter().map(|(_, m)| m.as_str())).collect();
            // Written in place, not through a temp file: every read checks a blob against its md5
            // (a torn write is a miss), and a blob of that name that exists may be a corrupt one a
            // lazy lookup never read.
            blobs.par_iter().filter(|(md5, _)| live.contains(md5.as_str())).try_for_each(|(md5, bytes)| {
                let p = objects.join(md5);
                std::fs::write(&p, bytes).map_err(|e| FsError::io(&p, e))
            })?;
            remove_dead_blobs(&objects, &current);
            let pack_file = dir.join(PACK_FILE);
            match &self.pack {
                Some(LocalPack { bytes, imported: true, .. }) => {
                    if let Some(Some(b)) = bytes.get() {
                        fsutil::atomic_write(&pack_file, b)?;
                    }
                }
                Some(p) if !p.index.keys().any(|m| live.contains(m.as_str())) => {
                    let _ = std::fs::remove_file(&pack_file);
                }
                _ => {}
            }
            // Compact, in the types' own order (sorted maps): read only by kiln.
            let json = serde_json::to_vec(&*current).map_err(|e| BuildError::Message(e.to_string()))?;
            fsutil::atomic_write(&dir.join("units.json"), &json)?;
        }
        if let Some(state) = &self.remote {
            self.upload(state, &current, &blobs);
        }
        Ok(())
    }

    /// Uploads the units built in this run and, when the remote cache lacked this build's pack,
    /// the pack. A blob that cannot be read any more leaves its unit (and the pack) out.
    fn upload(&self, state: &RemoteState, current: &BTreeMap<String, Unit>, blobs: &BTreeMap<String, Vec<u8>>) {
        if !state.remote.uploads() {
            return;
        }
        let bytes_of = |md5: &str| blobs.get(md5).cloned().or_else(|| self.pack_blob(md5)).or_else(|| read_blob(&self.blob_path(md5)?, md5).ok());
        let with_bytes = |unit: &Unit| unit.outputs.iter().map(|(rel, md5)| Some((rel.clone(), bytes_of(md5)?))).collect::<Option<Vec<_>>>();
        let built = state.built.lock().map(|b| b.clone()).unwrap_or_default();
        let units: Vec<UnitUpload> = current
            .iter()
            .filter(|(name, _)| built.contains(*name))
            .filter_map(|(name, unit)| Some((name.clone(), unit.inputs.clone(), with_bytes(unit)?)))
            .collect();
        let build_pack = state.pack_digest.as_deref().and_then(|digest| {
            let mut packed = BTreeMap::new();
            for unit in current.values() {
                for (_, md5) in &unit.outputs {
                    if !packed.contains_key(md5) {
                        packed.insert(md5.clone(), bytes_of(md5)?);
                    }
                }
            }
            Some((digest, pack(current, &packed)))
        });
        state.remote.upload(&units, build_pack);
    }
}

/// A build's pack: `kiln-pack 1\n`, the length of a JSON header (8 bytes, little-endian), the
/// header (the units, and each blob's md5 and length), then the blobs in that order.
fn pack(units: &BTreeMap<String, Unit>, blobs: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let sizes: Vec<(&String, usize)> = blobs.iter().map(|(m, b)| (m, b.len())).collect();
    let header = serde_json::to_vec(&(units, sizes)).unwrap_or_default();
    let mut out = Vec::with_capacity(header.len() + blobs.values().map(Vec::len).sum::<usize>() + 20);
    out.extend_from_slice(PACK_MAGIC);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    for b in blobs.values() {
        out.extend_from_slice(b);
    }
    out
}

const PACK_MAGIC: &[u8] = b"kiln-pack 1\n";

/// The pack imported last, in the cache dir.
const PACK_FILE: &str = "pack";

/// A pack's header: its units, and where its blobs are (offsets from the start of the pack).
fn pack_header(bytes: &[u8]) -> Option<(BTreeMap<String, Unit>, PackIndex, usize)> {
    let rest = bytes.strip_prefix(PACK_MAGIC)?;
    let len = usize::try_from(u64::from_le_bytes(rest.get(..8)?.try_into().ok()?)).ok()?;
    let header = rest.get(8..8usize.checked_add(len)?)?;
    let (units, sizes): (BTreeMap<String, Unit>, Vec<(String, usize)>) = serde_json::from_slice(header).ok()?;
    let mut at = PACK_MAGIC.len() + 8 + len;
    let mut index = BTreeMap::new();
    for (md5, size) in sizes {
        index.insert(md5, (at, size));
        at = at.checked_add(size)?;
    }
    Some((units, index, at))
}

/// The units and blob index of a pack, every blob checked against its md5; none when it is
/// malformed.
fn unpack(bytes: &[u8]) -> Option<(BTreeMap<String, Unit>, PackIndex)> {
    let (units, index, end) = pack_header(bytes)?;
    let intact = end == bytes.len() && index.iter().all(|(md5, &(at, len))| bytes.get(at..at + len).is_some_and(|b| md5_hex(b) == *md5));
    intact.then_some((units, index))
}

/// The blob index of the pack file at `path`, from its header alone (each blob is checked when
/// read).
fn read_pack_index(path: &Path) -> Option<PackIndex> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path).ok()?;
    let mut head = vec![0; PACK_MAGIC.len() + 8];
    file.read_exact(&mut head).ok()?;
    let len = usize::try_from(u64::from_le_bytes(head[PACK_MAGIC.len()..].try_into().ok()?)).ok()?;
    let mut header = vec![0; len];
    file.read_exact(&mut header).ok()?;
    head.extend(header);
    pack_header(&head).map(|(_, index, _)| index)
}

/// Removes the blobs no unit refers to any more, so the cache does not grow forever.
fn remove_dead_blobs(objects: &Path, units: &BTreeMap<String, Unit>) {
    let live: BTreeSet<&str> = units.values().flat_map(|u| u.outputs.iter().map(|(_, m)| m.as_str())).collect();
    if let Ok(rd) = std::fs::read_dir(objects) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !live.contains(name.as_str()) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// `.kiln-cache/<output name>` beside the output: one cache per output, so two outputs never
/// evict each other's units.
pub fn default_cache_dir(out: &Path) -> PathBuf {
    let abs = fsutil::absolute_lexical(out).unwrap_or_else(|_| out.to_path_buf());
    let name = abs.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "dist".into());
    abs.parent().unwrap_or(Path::new(".")).join(".kiln-cache").join(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn inputs(v: &str) -> Inputs {
        BTreeMap::from([("a.js".to_string(), v.to_string()), ("options".to_string(), "o".to_string())])
    }

    /// One unit `minify a.js` through `get_or_build`; returns its outputs and whether it was built.
    fn unit(cache: &Cache, v: &str, read: Read, bytes: &[u8]) -> (Outputs, bool) {
        let built = Cell::new(false);
        let out = cache
            .get_or_build("minify a.js", inputs(v), read, || {
                built.set(true);
                Ok::<_, BuildError>(vec![("a.js".to_string(), bytes.to_vec())])
            })
            .unwrap();
        (out, built.get())
    }

    fn blob(dir: &Path, bytes: &[u8]) -> PathBuf {
        dir.join("objects").join(md5_hex(bytes))
    }

    #[test]
    fn a_unit_is_built_once_then_reused_and_rebuilt_when_an_input_changes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(Some(dir.path().to_path_buf()), true);
        let (out, built) = unit(&cache, "1", Read::Lazy, b"x=1");
        assert!(built);
        assert_eq!(out, [("a.js".to_string(), Content::from(b"x=1".to_vec()))]);
        assert_eq!((cache.units(), cache.hits(), cache.misses()), (1, 0, 1));
        assert_eq!(cache.explained(), ["rebuilt minify a.js: new (not in the previous build)"]);
        cache.save().unwrap();

        // Hit: the closure is not called; a lazy output is the blob, not its bytes.
        let cache = Cache::open(Some(dir.path().to_path_buf()), true);
        let (out, built) = unit(&cache, "1", Read::Lazy, b"never built");
        assert!(!built);
        let want = Content::Blob { path: blob(dir.path(), b"x=1"), md5: md5_hex(b"x=1"), size: 3 };
        assert_eq!(out, [("a.js".to_string(), want)]);
        assert_eq!(out[0].1.bytes().unwrap().as_ref(), b"x=1");
        assert_eq!((cache.hits(), cache.misses()), (1, 0));
        let cache = Cache::open(Some(dir.path().to_path_buf()), true);
        let (out, built) = unit(&cache, "1", Read::All, b"never built");
        assert!(!built);
        assert_eq!(out, [("a.js".to_string(), Content::from(b"x=1".to_vec()))]);
        assert!(cache.explained().is_empty());

        // Miss: one input changed, and --explain names it.
        let cache = Cache::open(Some(dir.path().to_path_buf()), true);
        let (_, built) = unit(&cache, "2", Read::Lazy, b"x=2");
        assert!(built);
        assert_eq!(cache.explained(), ["rebuilt minify a.js: changed: a.js"]);
        cache.save().unwrap();
        assert!(!blob(dir.path(), b"x=1").exists(), "a blob no unit refers to is removed");
        assert!(blob(dir.path(), b"x=2").exists());
    }

    #[test]
    fn a_corrupt_blob_is_never_returned_and_is_removed_so_its_unit_is_redone() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(Some(dir.path().to_path_buf()), true);
        unit(&cache, "1", Read::Lazy, b"x=1");
        cache.save().unwrap();
        let path = blob(dir.path(), b"x=1");
        std::fs::write(&path, b"x=9").unwrap();

        // Read now: the corrupt blob makes the unit a miss, and the rebuild writes it again.
        let cache = Cache::open(Some(dir.path().to_path_buf()), true);
        let (out, built) = unit(&cache, "1", Read::All, b"x=1");
        assert!(built);
        assert_eq!(out[0].1.bytes().unwrap().as_ref(), b"x=1");
        assert!(!path.exists(), "the corrupt blob is removed when read");
        assert_eq!(cache.explained(), ["rebuilt minify a.js: its cached output was missing"]);
        cache.save().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"x=1");

        // Read later (lazily): the bytes are refused and the blob removed, so the next build redoes the unit.
        std::fs::write(&path, b"x=9").unwrap();
        let cache = Cache::open(Some(dir.path().to_path_buf()), false);
        let (out, built) = unit(&cache, "1", Read::Lazy, b"x=1");
        assert!(!built);
        let err = out[0].1.bytes().unwrap_err().to_string();
        assert!(err.contains("build cache entry is corrupt"), "{err}");
        assert!(!path.exists());
        let cache = Cache::open(Some(dir.path().to_path_buf()), false);
        assert!(!cache.holds("minify a.js", &inputs("1")));
        assert!(unit(&cache, "1", Read::Lazy, b"x=1").1);
    }

    #[test]
    fn without_a_directory_nothing_is_reused_or_kept() {
        let cache = Cache::open(None, false);
        assert!(unit(&cache, "1", Read::Lazy, b"x=1").1);
        cache.save().unwrap();
        let cache = Cache::open(None, false);
        assert!(unit(&cache, "1", Read::Lazy, b"x=1").1);
    }

    #[test]
    fn a_pack_round_trips_and_a_damaged_one_is_refused() {
        let units = BTreeMap::from([(
            "minify a.js".to_string(),
            Unit { key: "k".into(), inputs: inputs("1"), outputs: vec![("a.js".into(), md5_hex(b"x=1")), ("a.js.br".into(), md5_hex(b"br"))] },
        )]);
        let blobs = BTreeMap::from([(md5_hex(b"x=1"), b"x=1".to_vec()), (md5_hex(b"br"), b"br".to_vec())]);
        let packed = pack(&units, &blobs);
        let (got, index) = unpack(&packed).unwrap();
        assert_eq!(got, units);
        let (at, len) = index[&md5_hex(b"x=1")];
        assert_eq!(&packed[at..at + len], b"x=1");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(PACK_FILE), &packed).unwrap();
        assert_eq!(read_pack_index(&dir.path().join(PACK_FILE)).unwrap(), index);
        let mut bad = packed.clone();
        bad[index[&md5_hex(b"br")].0] ^= 1;
        assert!(unpack(&bad).is_none(), "a blob that does not match its md5");
        assert!(unpack(&packed[..packed.len() - 1]).is_none(), "truncated");
        // From the cache dir, a damaged blob is a miss, the others are read.
        std::fs::write(dir.path().join(PACK_FILE), &bad).unwrap();
        let cache = Cache::open(Some(dir.path().to_path_buf()), false);
        assert_eq!(cache.pack_blob(&md5_hex(b"x=1")).unwrap(), b"x=1");
        assert!(cache.pack_blob(&md5_hex(b"br")).is_none());
    }

    #[test]
    fn a_failed_build_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(Some(dir.path().to_path_buf()), false);
        let r = cache.get_or_build("minify a.js", inputs("1"), Read::Lazy, || Err(BuildError::Message("a.js:1:1: bad".into())));
        assert_eq!(r.unwrap_err().to_string(), "a.js:1:1: bad");
        assert_eq!(cache.units(), 0);
    }
}
