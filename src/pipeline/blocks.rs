//! Step 4: the asset blocks of the templates, each cached by its version (known before it is
//! compiled, so an unchanged block is never recompiled), with its twins.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;

use super::assets::AssetOptions;
use super::cache::{Cache, Outputs, Read};
use super::{twins, BuildError, Errors, Problems};
use crate::hash;
use crate::hash::block::{self, BlockOptions};
use crate::manifest::{BlockEntry, Manifest};
use crate::minify::{Kind, MinifyOptions};
use crate::scan::{self, BlockDef, Template};

/// Every distinct block of `templates`: the blocks' manifest and their files (bundles and twins).
pub fn compile(
    static_root: &Path,
    static_files: &BTreeMap<String, Vec<u8>>,
    templates: &[Template],
    static_manifest: &Manifest,
    o: &AssetOptions,
    mopts: &MinifyOptions,
    cache: &Cache,
) -> Result<(Manifest, Outputs), Errors> {
    // A block's JS pieces are exactly the minified static files (same function, same options).
    let pieces = block::Pieces::default();
    if o.minify_static {
        for (key, bytes) in static_files {
            if Kind::from_name(key) == Some(Kind::Js) {
                pieces.insert_js(key, bytes.clone());
            }
        }
    }
    let bopts = BlockOptions { hash: o.hash_options(), minify: *mopts, lessc: o.lessc.clone(), pieces: Some(Arc::new(pieces)), ..Default::default() };
    let results: Vec<Result<(String, BlockEntry, Outputs), Errors>> =
        scan::block_defs(templates).par_iter().map(|d| one_block(d, static_root, static_manifest, &bopts, o, cache)).collect();
    let mut problems = Problems::default();
    let mut manifest = Manifest::default();
    let mut files = Vec::new();
    for (key, entry, outs) in problems.keep(results) {
        manifest.blocks.insert(key, entry);
        files.extend(outs);
    }
    problems.check()?;
    Ok((manifest, files))
}

/// One block: its entry (read from the cache, or compiled) and its bundle with the bundle's twins.
fn one_block(
    d: &BlockDef,
    static_root: &Path,
    static_manifest: &Manifest,
    bopts: &BlockOptions,
    o: &AssetOptions,
    cache: &Cache,
) -> Result<(String, BlockEntry, Outputs), Errors> {
    let versions: Vec<(String, String)> =
        d.paths.iter().map(|p| (p.clone(), static_manifest.asset(p).map(|(_, e)| e.version.clone()).unwrap_or_default())).collect();
    let version = block::block_version(d.kind, &versions, bopts);
    let inputs: BTreeMap<String, String> = versions.iter().cloned().chain([("version".to_string(), version)]).collect();
    // The entry is the unit's last output, read now (a corrupt one makes the block a miss); the
    // bundle is read only if it must be written.
    let mut outs = cache.get_or_build(&format!("block {}", d.key), inputs, Read::Last, || {
        let c = block::compile_block(d.kind, &d.paths, static_root, static_manifest, bopts)
            .map_err(|e| e.into_iter().map(Into::into).collect::<Errors>())?;
        let mut outs = c.outputs;
        outs.push(("entry.json".into(), serde_json::to_vec(&c.entry).map_err(|e| super::one(BuildError::Message(e.to_string())))?));
        Ok::<_, Errors>(outs)
    })?;
    let entry_json = outs.pop().map(|(_, c)| c.into_bytes()).transpose().map_err(super::one)?.unwrap_or_default();
    let mut entry: BlockEntry =
        serde_json::from_slice(&entry_json).map_err(|e| super::one(BuildError::Message(format!("block {}: cached entry: {e}", d.key))))?;
    let mut all: Outputs = Vec::new();
    for (rel, content) in outs {
        let tw = twins::twins(cache, &d.key, &rel, &content, o.compress).map_err(super::one)?;
        entry.encodings.extend(hash::encodings_of(tw.iter().map(|(rel, _)| rel)));
        all.push((rel, content));
        all.extend(tw);
    }
    Ok((d.key.clone(), entry, all))
}
