//! The asset manifest (Assetman's blocks/assets/lookups, plus integrity and encodings),
//! partial manifests, and their order-independent merge.

use std::collections::{BTreeMap, BTreeSet};

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

pub const MANIFEST_VERSION: u32 = 1;

/// One versioned asset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetEntry {
    /// md5 of the content, combined with the dependencies' versions (see `hash::version_of`).
    pub version: String,
    /// URL path under the static prefix that serves exactly this version:
    /// `css/app.<v12>.css` (filename style, also the file's path) or
    /// `v:<version>/css/app.css` (assetman style; the file stays at `css/app.css`).
    pub versioned_path: String,
    /// Local assets this one references, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deps: Vec<String>,
    /// Subresource Integrity of the served bytes: `sha384-<base64>`.
    pub integrity: String,
    /// Precompressed twins: encoding (`br`, `gzip`, `zstd`) → file path under the output root.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub encodings: BTreeMap<String, String>,
}

impl AssetEntry {
    /// The file that holds this version, relative to the output root.
    pub fn file<'a>(&'a self, key: &'a str) -> &'a str {
        if self.versioned_path.starts_with("v:") {
            key
        } else {
            &self.versioned_path
        }
    }
}

/// One compiled asset block (an ordered list of assets concatenated into one file), keyed by
/// its namehash (md5 of the paths joined by `\n`, Assetman's key). Filename style: `f/<namehash>.<v12>.<ext>`, also the file; assetman
/// style: `v:<version>/f:<a:b:c>/<namehash>.<ext>` (a, b, c: the constituents' lookups), file
/// `f/<namehash>.<ext>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockEntry {
    pub version: String,
    pub versioned_path: String,
    pub integrity: String,
    pub paths: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub encodings: BTreeMap<String, String>,
}

impl BlockEntry {
    /// The file that holds the compiled block, relative to the output root.
    pub fn file(&self) -> String {
        if self.versioned_path.starts_with("v:") {
            format!("f/{}", self.versioned_path.rsplit('/').next().unwrap_or(""))
        } else {
            self.versioned_path.clone()
        }
    }
}

impl Manifest {
    /// The entry (and its key) of an asset path, following a rename (`img/a.jpg` → `img/a.webp`).
    pub fn asset(&self, path: &str) -> Option<(&str, &AssetEntry)> {
        let key = self.renames.get(path).map_or(path, String::as_str);
        self.assets.get_key_value(key).map(|(k, e)| (k.as_str(), e))
    }
}

/// A manifest. A partial manifest is the same shape with empty `lookups`
/// (lookups need every path at once, so only the merge computes them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    #[serde(default)]
    pub blocks: BTreeMap<String, BlockEntry>,
    #[serde(default)]
    pub assets: BTreeMap<String, AssetEntry>,
    #[serde(default)]
    pub lookups: BTreeMap<String, String>,
    /// `original → replacement` (e.g. `img/a.jpg → img/a.webp` from kiln-webp `--replace`):
    /// references to the original resolve to the replacement's entry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub renames: BTreeMap<String, String>,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest { version: MANIFEST_VERSION, blocks: BTreeMap::new(), assets: BTreeMap::new(), lookups: BTreeMap::new(), renames: BTreeMap::new() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{file}: not a kiln manifest: {why}")]
    Unreadable { file: String, why: String },
    #[error("{file}: manifest version {found} is not supported (expected {MANIFEST_VERSION})")]
    Version { file: String, found: u32 },
    #[error("{section} entry {key:?} differs between {first} and {second}")]
    Conflict { section: &'static str, key: String, first: String, second: String },
    #[error("{file}: {key} depends on {dep}, which has no entry in any input")]
    MissingDep { file: String, key: String, dep: String },
    #[error("{file}: block {key} lists {path}, which has no asset entry in any input")]
    MissingBlockPath { file: String, key: String, path: String },
}

/// Parses a manifest (partial or whole) and names `file` in any error.
pub fn parse(file: &str, bytes: &[u8]) -> Result<Manifest, MergeError> {
    let m: Manifest = serde_json::from_slice(bytes).map_err(|e| MergeError::Unreadable { file: file.to_string(), why: e.to_string() })?;
    if m.version != MANIFEST_VERSION {
        return Err(MergeError::Version { file: file.to_string(), found: m.version });
    }
    Ok(m)
}

/// Merges named manifests. The result does not depend on their order: inputs are taken in
/// order of their names, equal entries are deduplicated, and unequal entries under one key are
/// an error naming both inputs. Every dependency and block path must have an asset entry.
pub fn merge(mut inputs: Vec<(String, Manifest)>) -> Result<Manifest, Vec<MergeError>> {
    inputs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Manifest::default();
    let mut asset_src: BTreeMap<String, &str> = BTreeMap::new();
    let mut block_src: BTreeMap<String, &str> = BTreeMap::new();
    let mut rename_src: BTreeMap<String, &str> = BTreeMap::new();
    let mut errors = Vec::new();
    for (name, m) in &inputs {
        merge_section("asset", name, &m.assets, &mut out.assets, &mut asset_src, &mut errors);
        merge_section("block", name, &m.blocks, &mut out.blocks, &mut block_src, &mut errors);
        merge_section("rename", name, &m.renames, &mut out.renames, &mut rename_src, &mut errors);
    }
    // An entry in conflict is already an error; which of its versions won depends on the
    // inputs' names, so its deps are not checked (the errors then do not depend on them either).
    let conflicted: BTreeSet<(&str, String)> =
        errors.iter().filter_map(|e| if let MergeError::Conflict { section, key, .. } = e { Some((*section, key.clone())) } else { None }).collect();
    for (key, entry) in &out.assets {
        if conflicted.contains(&("asset", key.clone())) {
            continue;
        }
        for dep in &entry.deps {
            if !out.assets.contains_key(dep) {
                errors.push(MergeError::MissingDep { file: asset_src[key].to_string(), key: key.clone(), dep: dep.clone() });
            }
        }
    }
    for (key, block) in &out.blocks {
        if conflicted.contains(&("block", key.clone())) {
            continue;
        }
        for path in &block.paths {
            if !out.assets.contains_key(path) {
                errors.push(MergeError::MissingBlockPath { file: block_src[key].to_string(), key: key.clone(), path: path.clone() });
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    out.lookups = lookups(out.assets.keys().map(String::as_str));
    Ok(out)
}

/// Adds one input's entries to a section; an unequal entry under a known key is a conflict
/// naming the input that brought the first one.
fn merge_section<'a, T: PartialEq + Clone>(
    section: &'static str,
    name: &'a str,
    from: &BTreeMap<String, T>,
    into: &mut BTreeMap<String, T>,
    sources: &mut BTreeMap<String, &'a str>,
    errors: &mut Vec<MergeError>,
) {
    for (key, entry) in from {
        match into.get(key) {
            Some(prev) if prev != entry => {
                errors.push(MergeError::Conflict { section, key: key.clone(), first: sources[key].to_string(), second: name.to_string() })
            }
            Some(_) => {}
            None => {
                into.insert(key.clone(), entry.clone());
                sources.insert(key.clone(), name);
            }
        }
    }
}

pub fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Assetman's asset abbreviations: for each path, the shortest prefix (at least 4 hex digits) of
/// md5(path) that no other path's md5 shares.
pub fn lookups<'a>(paths: impl Iterator<Item = &'a str>) -> BTreeMap<String, String> {
    let mut hashed: Vec<(String, &str)> = paths.map(|p| (md5_hex(p.as_bytes()), p)).collect();
    hashed.sort();
    let common = |a: &str, b: &str| a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    let mut out = BTreeMap::new();
    for i in 0..hashed.len() {
        // In sorted order the longest shared prefix is with a neighbour.
        let mut need = 4;
        if i > 0 {
            need = need.max(common(&hashed[i].0, &hashed[i - 1].0) + 1);
        }
        if i + 1 < hashed.len() {
            need = need.max(common(&hashed[i].0, &hashed[i + 1].0) + 1);
        }
        let need = need.min(hashed[i].0.len());
        out.insert(hashed[i].0[..need].to_string(), hashed[i].1.to_string());
    }
    out
}

/// Django's `staticfiles.json` (ManifestStaticFilesStorage, manifest version 1.1).
pub fn django_staticfiles(m: &Manifest) -> serde_json::Value {
    let paths: BTreeMap<&str, &str> = m.assets.iter().map(|(k, e)| (k.as_str(), e.file(k))).collect();
    // Django hashes json.dumps(sorted(paths.items())) and keeps 12 hex digits.
    let mut listing = String::from("[");
    for (i, (k, v)) in paths.iter().enumerate() {
        if i > 0 {
            listing.push_str(", ");
        }
        listing.push('[');
        listing.push_str(&python_json_str(k));
        listing.push_str(", ");
        listing.push_str(&python_json_str(v));
        listing.push(']');
    }
    listing.push(']');
    let hash = md5_hex(listing.as_bytes())[..12].to_string();
    serde_json::json!({ "paths": paths, "version": "1.1", "hash": hash })
}

/// A string as Python's `json.dumps` writes it by default (`ensure_ascii=True`).
fn python_json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{:04x}", u));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A Vite-style `.vite/manifest.json`: source path → `{file, src, integrity, assets}`;
/// blocks appear as entries keyed `block:<name hash>`.
pub fn vite_manifest(m: &Manifest) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for (key, e) in &m.assets {
        let mut v = serde_json::json!({ "file": e.file(key), "src": key, "integrity": e.integrity });
        if !e.deps.is_empty() {
            let files: BTreeSet<&str> = e.deps.iter().filter_map(|d| m.assets.get(d).map(|de| de.file(d))).collect();
            v["assets"] = serde_json::json!(files);
        }
        out.insert(key.clone(), v);
    }
    for (key, b) in &m.blocks {
        out.insert(
            format!("block:{key}"),
            serde_json::json!({ "file": b.versioned_path, "isEntry": true, "integrity": b.integrity, "imports": b.paths }),
        );
    }
    serde_json::Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the fuzzer (fuzz/regressions/manifest/): two versions of one asset, one with a
    /// missing dep, gave one error or two depending on the inputs' names.
    #[test]
    fn conflicting_entries_give_the_same_errors_in_any_order() {
        let a = AssetEntry { version: "1".into(), ..Default::default() };
        let b = AssetEntry { version: "1".into(), deps: vec!["gone".into()], ..Default::default() };
        let m = |e: &AssetEntry| Manifest { assets: [("css/a.css".to_string(), e.clone())].into(), ..Default::default() };
        let one = merge(vec![("x".into(), m(&a)), ("y".into(), m(&b))]).unwrap_err();
        let two = merge(vec![("y".into(), m(&a)), ("x".into(), m(&b))]).unwrap_err();
        assert_eq!((one.len(), two.len()), (1, 1));
    }

    fn entry(v: &str, deps: &[&str]) -> AssetEntry {
        AssetEntry {
            version: v.into(),
            versioned_path: format!("x.{}.css", &v[..v.len().min(12)]),
            deps: deps.iter().map(|s| s.to_string()).collect(),
            integrity: "sha384-x".into(),
            encodings: BTreeMap::new(),
        }
    }

    fn partial(assets: &[(&str, AssetEntry)]) -> Manifest {
        Manifest { assets: assets.iter().map(|(k, e)| (k.to_string(), e.clone())).collect(), ..Manifest::default() }
    }

    #[test]
    fn merge_is_order_independent_and_dedupes() {
        let a = ("a.json".to_string(), partial(&[("css/a.css", entry("aaaa", &["img/x.png"]))]));
        let b = ("b.json".to_string(), partial(&[("img/x.png", entry("bbbb", &[]))]));
        let c = ("c.json".to_string(), partial(&[("img/x.png", entry("bbbb", &[]))]));
        let m1 = merge(vec![a.clone(), b.clone(), c.clone()]).unwrap();
        let m2 = merge(vec![c, a, b]).unwrap();
        assert_eq!(m1, m2);
        assert_eq!(m1.assets.len(), 2);
        assert_eq!(m1.lookups.len(), 2);
    }

    #[test]
    fn merge_conflict_names_both_inputs_whatever_the_order() {
        let a = ("one.json".to_string(), partial(&[("img/x.png", entry("aaaa", &[]))]));
        let b = ("two.json".to_string(), partial(&[("img/x.png", entry("bbbb", &[]))]));
        for inputs in [vec![a.clone(), b.clone()], vec![b, a]] {
            let errs = merge(inputs).unwrap_err();
            assert_eq!(errs.len(), 1);
            assert_eq!(errs[0].to_string(), "asset entry \"img/x.png\" differs between one.json and two.json");
        }
    }

    #[test]
    fn merge_reports_missing_dependency() {
        let a = ("a.json".to_string(), partial(&[("css/a.css", entry("aaaa", &["img/gone.png"]))]));
        let errs = merge(vec![a]).unwrap_err();
        assert_eq!(errs[0].to_string(), "a.json: css/a.css depends on img/gone.png, which has no entry in any input");
    }

    #[test]
    fn lookups_are_shortest_unique_prefixes_of_at_least_four() {
        let paths: Vec<String> = (0..1500).map(|i| format!("js/file{i}.js")).collect();
        let l = lookups(paths.iter().map(String::as_str));
        assert_eq!(l.len(), paths.len());
        for (abbr, path) in &l {
            let h = md5_hex(path.as_bytes());
            assert!(abbr.len() >= 4 && h.starts_with(abbr.as_str()));
            let clashes = paths.iter().filter(|p| md5_hex(p.as_bytes()).starts_with(abbr.as_str())).count();
            assert_eq!(clashes, 1, "{abbr} is not unique");
            // One digit shorter (when above the minimum) must clash, or it was not the shortest.
            if abbr.len() > 4 {
                let shorter = &abbr[..abbr.len() - 1];
                let n = paths.iter().filter(|p| md5_hex(p.as_bytes()).starts_with(shorter)).count();
                assert!(n > 1, "{abbr} could be {shorter}");
            }
        }
    }

    #[test]
    fn python_json_strings_match_json_dumps() {
        // Expected values from Python 3.11: json.dumps(s)
        assert_eq!(python_json_str("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(python_json_str("é/€/𝄞\u{1}"), r#""\u00e9/\u20ac/\ud834\udd1e\u0001""#);
        assert_eq!(python_json_str("\u{7f}"), r#""\u007f""#);
    }
}
