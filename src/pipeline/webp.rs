//! One image to WebP with kiln-webp's `--replace` rule (the same library call, so the same
//! bytes): the WebP and a rename when it is smaller, else the original unchanged.

use std::collections::BTreeMap;

use super::cache::{Built, Cache, Read};
use super::Errors;
use crate::webp::{convert_bytes, WebpOptions};

/// The image `key` (`rel`: its path in the app, naming the unit) converted to `webp_key`:
/// the files it becomes, and the rename when that is the WebP.
pub fn convert(cache: &Cache, rel: &str, key: &str, webp_key: &str, bytes: &[u8], md5: &str, shown: &str) -> Result<(Built, Option<String>), Errors> {
    let opts = WebpOptions::default();
    let inputs = BTreeMap::from([(rel.to_string(), md5.to_string()), ("options".to_string(), format!("{} {opts:?}", env!("CARGO_PKG_VERSION")))]);
    let outs = cache.get_or_build(&format!("webp {rel}"), inputs, Read::All, || {
        convert_bytes(key, webp_key, bytes.to_vec(), shown, &opts, true).map(|c| c.files).map_err(super::one)
    })?;
    let outs = super::assets::in_bytes(outs)?;
    let rename = outs.first().filter(|(k, _)| k != key).map(|(k, _)| k.clone());
    Ok((outs, rename))
}
