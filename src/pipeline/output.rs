//! Step 8: the dist's files (copied sources, bytecode, the processed static tree and templates,
//! manifest.json, `.env.production`) and their writing: the dist swapped in whole, and the
//! archive when asked.

use super::assets::AssetsOut;
use super::cache::Outputs;
use super::memo::{write_if_changed, Update};
use super::sources::Tree;
use super::{BuildConfig, BuildError, Errors, Naming};
use crate::assemble::{env_production, write_dist, Class, Content, DistFile, WrittenFile};
use crate::fsutil;
use crate::manifest::{self, Manifest};

/// Every file of the dist, sorted by destination; two for one path is an error.
pub fn dist_files(config: &BuildConfig, tree: &Tree, pyc: Outputs, assets: AssetsOut, manifest: &Manifest) -> Result<Vec<DistFile>, Errors> {
    let out_prefix = config.out_prefix();
    let file = |dest: String, content: Content, executable: bool| DistFile { dest, content, executable };
    let mut dist: Vec<DistFile> = Vec::new();
    for (rel, s) in &tree.sources {
        let copied = match s.class {
            Class::Copy | Class::PythonSource => true,
            Class::Python => config.keep_source,
            _ => false,
        };
        if copied {
            dist.push(file(rel.clone(), s.bytes.clone().into(), s.executable));
        }
    }
    dist.extend(pyc.into_iter().map(|(rel, content)| file(rel, content, false)));
    dist.extend(assets.static_out.into_iter().map(|(rel, content)| file(format!("{out_prefix}{rel}"), content, false)));
    dist.extend(assets.templates.into_iter().map(|(name, content)| file(name, content, false)));
    // kiln's manifest (Assetman's sections: what `kiln serve` and the next build read), and
    // Django's staticfiles.json where its storage reads one.
    if let Naming::Django { manifest_name: Some(name), .. } = &config.naming {
        let json = fsutil::stable_json(&manifest::django_staticfiles(manifest));
        dist.push(file(format!("{out_prefix}{name}"), json.into(), false));
    }
    dist.push(file("manifest.json".into(), assets.manifest_json.into(), false));
    dist.push(file(".env.production".into(), env_production().into(), false));
    dist.sort_by(|a, b| a.dest.cmp(&b.dest));
    if let Some(w) = dist.windows(2).find(|w| w[0].dest == w[1].dest) {
        let message = format!("{}: two outputs for one path (a source file collides with a generated one)", w[0].dest);
        return Err(super::one(BuildError::Message(message)));
    }
    Ok(dist)
}

/// Writes the dist (keeping what `known`, the last build's files, vouches for) and the archive.
pub fn write(config: &BuildConfig, files: &[DistFile], known: &[WrittenFile]) -> Result<Vec<WrittenFile>, Errors> {
    let written = write_if_changed(&config.out, files, known, Update::Swap).map_err(super::one)?;
    if let Some(a) = &config.archive {
        write_dist(a, files).map_err(super::one)?;
    }
    Ok(written)
}
