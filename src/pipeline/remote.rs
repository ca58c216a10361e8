//! The shared remote cache of units (`--remote-cache URL`): the engine's side of
//! `crate::remote_cache`. Two kinds of entries, both in Bazel's protocol:
//!
//! - one per unit: `/ac/<sha256(kiln's version, the unit's name, its inputs)>` is an
//!   `ActionResult` naming the unit's outputs, each a `/cas/<sha256>` blob;
//! - one per build: `/ac/<sha256(kiln's version, the digest of every input of the dist)>` names a
//!   single `/cas/` blob, the pack of every unit of that build and their blobs, so that a fresh
//!   clone of a commit CI already built is two requests, not one per unit.
//!
//! Nothing here fails a build: every problem becomes the build's one warning line and the unit
//! is built locally (a blob that does not match its digest is refused, rebuilt and re-uploaded).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use super::cache::{Built, Inputs};
use crate::remote_cache::{decode_action_result, encode_action_result, sha256_hex, OutputFile, RemoteCache, RemoteError};

/// What `--remote-cache` and its companion flags ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteConfig {
    /// `http://host[:port][/prefix]`.
    pub url: String,
    /// Upload what this build made (`--remote-cache-upload=false`: a read-only client).
    pub upload: bool,
    /// Bound on every request.
    pub timeout: Duration,
}

/// A unit to upload: its name, inputs and outputs.
pub type UnitUpload = (String, Inputs, Built);

/// The name of the pack in a build entry's `ActionResult`.
const PACK: &str = "kiln-units.pack";

/// A remote cache for one build, and the problems it had (reported as one warning line).
pub struct Remote {
    client: RemoteCache,
    upload: bool,
    /// The first problem, and how many there were.
    problems: Mutex<(Option<RemoteError>, usize)>,
}

impl Remote {
    pub fn new(config: &RemoteConfig) -> Result<Remote, RemoteError> {
        Ok(Remote { client: RemoteCache::new(&config.url, config.timeout)?, upload: config.upload, problems: Mutex::default() })
    }

    /// Whether this build's new units are to be uploaded (asked for, and the server still answers).
    pub fn uploads(&self) -> bool {
        self.upload && !self.client.gave_up()
    }

    /// Whether the server still answers.
    pub fn usable(&self) -> bool {
        !self.client.gave_up()
    }

    fn note(&self, e: RemoteError) {
        if matches!(e, RemoteError::GaveUp) {
            return;
        }
        if let Ok(mut p) = self.problems.lock() {
            p.1 += 1;
            p.0.get_or_insert(e);
        }
    }

    /// The build's one warning line about the remote cache, if it had any problem.
    pub fn warning(&self) -> Option<String> {
        let p = self.problems.lock().ok()?;
        let first = p.0.as_ref()?;
        let more = match p.1 {
            0 | 1 => String::new(),
            n => format!(", and {} more problem{}", n - 1, if n == 2 { "" } else { "s" }),
        };
        let what = if first.is_server_failure() { "built locally without it" } else { "rebuilt locally and re-uploaded" };
        Some(format!("warning: remote cache {}: {first}{more}; {what}", self.client.url()))
    }

    /// The outputs (name, bytes) of unit `name` with these inputs, when the cache holds them all
    /// intact.
    pub fn fetch_unit(&self, name: &str, inputs: &Inputs) -> Option<Built> {
        if !self.usable() {
            return None;
        }
        let ac = format!("ac/{}", unit_key(name, inputs));
        let entry = self.client.get(&ac).map_err(|e| self.note(e)).ok()??;
        let Some(files) = decode_action_result(&entry) else {
            self.note(RemoteError::BadEntry { path: format!("GET /{ac}") });
            return None;
        };
        self.fetch_files(&files)
    }

    /// The blobs of `files`, each checked against its digest.
    fn fetch_files(&self, files: &[OutputFile]) -> Option<Built> {
        let paths: Vec<String> = files.iter().map(|f| format!("cas/{}", f.sha256)).collect();
        let mut out = Vec::with_capacity(files.len());
        for (f, r) in files.iter().zip(self.client.get_many(&paths)) {
            match r {
                Ok(Some(bytes)) => out.push((f.path.clone(), bytes)),
                Ok(None) => return None,
                Err(e) => {
                    self.note(e);
                    return None;
                }
            }
        }
        Some(out)
    }

    /// The pack of the build whose inputs have this digest, checked against its digest.
    pub fn fetch_pack(&self, inputs_digest: &str) -> Option<Vec<u8>> {
        let ac = format!("ac/{}", build_key(inputs_digest));
        let entry = self.client.get(&ac).map_err(|e| self.note(e)).ok()??;
        match decode_action_result(&entry).as_deref() {
            Some([f]) if f.path == PACK => self.fetch_files(std::slice::from_ref(f)).and_then(|mut v| v.pop()).map(|(_, b)| b),
            _ => {
                self.note(RemoteError::BadEntry { path: format!("GET /{ac}") });
                None
            }
        }
    }

    /// Uploads units (name, inputs, outputs) and, when given, the build's pack: every blob first,
    /// then the entries naming them, so an entry never names a blob the cache lacks.
    pub fn upload(&self, units: &[UnitUpload], pack: Option<(&str, Vec<u8>)>) {
        if !self.uploads() {
            return;
        }
        let mut blobs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut entries = Vec::new();
        let described = |outputs: &[(String, Vec<u8>)], blobs: &mut BTreeMap<String, Vec<u8>>| -> Vec<u8> {
            let files: Vec<OutputFile> = outputs
                .iter()
                .map(|(path, bytes)| {
                    let sha256 = sha256_hex(bytes);
                    blobs.entry(sha256.clone()).or_insert_with(|| bytes.clone());
                    OutputFile { path: path.clone(), sha256, size: bytes.len() as u64 }
                })
                .collect();
            encode_action_result(&files)
        };
        for (name, inputs, outputs) in units {
            entries.push((format!("ac/{}", unit_key(name, inputs)), described(outputs, &mut blobs)));
        }
        if let Some((digest, bytes)) = pack {
            entries.push((format!("ac/{}", build_key(digest)), described(&[(PACK.to_string(), bytes)], &mut blobs)));
        }
        let blobs: Vec<(String, Vec<u8>)> = blobs.into_iter().map(|(sha, b)| (format!("cas/{sha}"), b)).collect();
        for batch in [blobs, entries] {
            for r in self.client.put_many(batch) {
                if let Err(e) = r {
                    self.note(e);
                }
            }
            if !self.usable() {
                return;
            }
        }
    }
}

/// A unit's entry: kiln's version, the unit's name and every input (which already names the
/// tools' identities and the options).
pub fn unit_key(name: &str, inputs: &Inputs) -> String {
    let inputs = serde_json::to_string(inputs).unwrap_or_default();
    sha256_hex(format!("kiln {} unit\n{name}\n{inputs}", env!("CARGO_PKG_VERSION")).as_bytes())
}

/// A build's entry: kiln's version and the digest of everything the dist is made of
/// (`sources::inputs_digest`).
pub fn build_key(inputs_digest: &str) -> String {
    sha256_hex(format!("kiln {} build\n{inputs_digest}", env!("CARGO_PKG_VERSION")).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_the_name_and_every_input() {
        let inputs = Inputs::from([("a.js".to_string(), "1".to_string())]);
        let other = Inputs::from([("a.js".to_string(), "2".to_string())]);
        assert_eq!(unit_key("minify a.js", &inputs), unit_key("minify a.js", &inputs.clone()));
        assert_ne!(unit_key("minify a.js", &inputs), unit_key("minify a.js", &other));
        assert_ne!(unit_key("minify a.js", &inputs), unit_key("twins a.js", &inputs));
        assert_ne!(build_key("d1"), build_key("d2"));
        assert_eq!(unit_key("x", &inputs).len(), 64);
    }
}
