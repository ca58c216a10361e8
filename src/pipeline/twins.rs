//! Precompressed twins: `.br`, `.gz` and `.zst` of one versioned file or block, cached by its
//! content (an unchanged file keeps its twins even when its name's version changed).

use std::collections::BTreeMap;

use super::cache::{Cache, Outputs, Read};
use super::BuildError;
use crate::assemble::Content;
use crate::hash::{self, Compression};

/// The twins of `rel`, one output of `owner` (an asset or block key); none when it is not
/// compressible or twins are off.
pub fn twins(cache: &Cache, owner: &str, rel: &str, content: &Content, level: Compression) -> Result<Outputs, BuildError> {
    if !hash::compressible(rel) || level == Compression::Off {
        return Ok(Vec::new());
    }
    let inputs = BTreeMap::from([
        ("content".to_string(), content.md5().to_string()),
        ("file".to_string(), rel.to_string()),
        ("level".to_string(), level.name().to_string()),
    ]);
    cache.get_or_build(&format!("twins {owner}"), inputs, Read::Lazy, || Ok(hash::twins(rel, &content.bytes()?, level)))
}
