//! Partial manifests (`manifest::parse`) and their merge (`manifest::merge`), as
//! kiln-manifest-merge runs them. A case is up to three JSON documents separated by 0x1E.

use crate::fsutil::stable_json;
use crate::fuzz::{check, deterministic, PropertyViolation, Sig, Target, Verdict};
use crate::manifest::{self, Manifest};

pub const TARGET: Target = Target {
    name: "manifest",
    properties: "parse errors name the file and a line:column inside it; merge gives the same bytes \
                 (or fails, with as many errors) whatever the order and names of its inputs; a merged \
                 manifest has every dep and block path, lookups for every asset, and reads back equal; \
                 Django/Vite views deterministic",
    dictionary: &[
        "\x1e",
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"version\": 1",
        "\"version\": 2",
        "\"assets\"",
        "\"blocks\"",
        "\"renames\"",
        "\"lookups\"",
        "\"deps\"",
        "\"paths\"",
        "\"versioned_path\"",
        "\"integrity\"",
        "\"encodings\"",
        "\"br\"",
        "\"css/a.css\"",
        "\"js/b.js\"",
        "\"v:1/css/a.css\"",
        "null",
        "true",
        "\"\\u0000\"",
        "1e999",
        "-0",
        "\"\"",
    ],
    max_len: 4096,
    run,
};

fn run(input: &[u8]) -> Verdict {
    let mut sig = Sig::new("manifest");
    let mut parts = Vec::new();
    for (i, bytes) in input.split(|&b| b == 0x1e).take(3).enumerate() {
        let name = format!("p{i}.json");
        let parsed = manifest::parse(&name, bytes);
        deterministic("parse", &parsed.as_ref().map_err(ToString::to_string), &manifest::parse(&name, bytes).as_ref().map_err(ToString::to_string))?;
        match parsed {
            Ok(m) => parts.push(m),
            Err(e) => {
                let msg = e.to_string();
                check(msg.starts_with(&format!("{name}: ")), || format!("the error does not name the file: {msg}"))?;
                if let Err(j) = serde_json::from_slice::<Manifest>(bytes) {
                    json_position_inside(bytes, j.line(), j.column())?;
                }
                sig.add("err").message(&msg.chars().take(40).collect::<String>());
            }
        }
    }
    sig.bucket(parts.len());
    if parts.is_empty() {
        return Ok(sig.done());
    }
    // Every order of the inputs under every naming: one outcome.
    let n = parts.len();
    let orders: Vec<Vec<usize>> = permutations(n);
    let mut outcome: Option<Result<Vec<u8>, usize>> = None;
    for order in &orders {
        let named: Vec<(String, Manifest)> = order.iter().enumerate().map(|(slot, &i)| (format!("in{slot}.json"), parts[i].clone())).collect();
        let got = manifest::merge(named).map(|m| stable_json(&m)).map_err(|e| e.len());
        match &outcome {
            None => outcome = Some(got),
            Some(first) => check(first == &got, || format!("merge order {order:?} gives {:?}, the first order {:?}", summary(&got), summary(first)))?,
        }
    }
    let merged = manifest::merge(parts.iter().enumerate().map(|(i, m)| (format!("in{i}.json"), m.clone())).collect());
    match merged {
        Ok(m) => {
            let looked_up: std::collections::BTreeSet<&String> = m.lookups.values().collect();
            for (key, e) in &m.assets {
                check(e.deps.iter().all(|d| m.assets.contains_key(d)), || format!("{key} has a dep with no entry"))?;
                check(looked_up.contains(key), || format!("{key} has no lookup"))?;
            }
            check(m.lookups.len() == m.assets.len(), || "lookups and assets differ in number".into())?;
            for (key, b) in &m.blocks {
                check(b.paths.iter().all(|p| m.assets.contains_key(p)), || format!("block {key} has a path with no entry"))?;
            }
            let bytes = stable_json(&m);
            let back =
                manifest::parse("merged.json", &bytes).map_err(|e| PropertyViolation(format!("the merged manifest does not read back: {e}")))?;
            check(back == m, || "the merged manifest reads back different".into())?;
            deterministic("django view", &manifest::django_staticfiles(&m), &manifest::django_staticfiles(&m))?;
            deterministic("vite view", &manifest::vite_manifest(&m), &manifest::vite_manifest(&m))?;
            sig.add("merged").bucket(m.assets.len()).bucket(m.blocks.len()).bucket(m.renames.len());
        }
        Err(e) => {
            for err in &e {
                sig.message(&err.to_string().chars().take(30).collect::<String>());
            }
        }
    }
    Ok(sig.done())
}

fn summary(r: &Result<Vec<u8>, usize>) -> String {
    match r {
        Ok(b) => format!("Ok({} bytes)", b.len()),
        Err(n) => format!("{n} errors"),
    }
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n <= 1 {
        return vec![(0..n).collect()];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for at in 0..=p.len() {
            let mut q = p.clone();
            q.insert(at, n - 1);
            out.push(q);
        }
    }
    out
}

/// serde_json's line (1-based) and column (bytes; 0 before the first byte of a line) must name
/// a place in the input.
fn json_position_inside(bytes: &[u8], line: usize, col: usize) -> Result<(), PropertyViolation> {
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    check(line >= 1 && line <= lines.len(), || format!("JSON error line {line} outside the input ({} lines)", lines.len()))?;
    let width = lines[line - 1].len();
    check(col <= width + 1, || format!("JSON error column {col} outside line {line} ({width} bytes)"))
}
