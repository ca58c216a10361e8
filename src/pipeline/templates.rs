//! Templates: scanned before anything is compiled (a bad block path is an input error like any
//! other), and, as step 6, rewritten (blocks → tags, static_url → URLs) and minified, one
//! cached unit each.

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;

use super::assets::{minify_options_id, AssetOptions};
use super::cache::{Cache, Read};
use super::sources::Tree;
use super::{BuildConfig, BuildError, Errors, Problems};
use crate::assemble::{Class, Content};
use crate::fsutil;
use crate::manifest::{md5_hex, Manifest};
use crate::minify::{self, Kind, MinifyOptions};
use crate::scan::{self, Rewrite, Template};

/// The app's templates, parsed, with every path they name checked against the static files.
/// With any problem so far, none (the static files and modules are still checked, so that one
/// run reports every problem, but no block or template is compiled).
pub fn scan(config: &BuildConfig, tree: &Tree, problems: &mut Problems) -> Vec<Template> {
    // A template is named by its path in the app: an app may have many template dirs.
    let mut templates = Vec::new();
    for (rel, s) in tree.templates() {
        match Template::parse(rel.clone(), config.src.join(rel), s.bytes.clone()) {
            Ok(t) => templates.push(t),
            Err(e) => problems.push(e),
        }
    }
    let static_prefix = config.static_prefix();
    let static_files: BTreeSet<&str> = tree
        .sources
        .iter()
        .filter(|(_, s)| s.class == Class::Static)
        .map(|(rel, _)| &rel[static_prefix.len()..])
        .chain(tree.found.iter().map(|f| f.key.as_str()))
        .collect();
    problems.extend(scan::check_paths(&templates, &config.src.join(&config.layout.static_root), Some(&static_files)));
    if problems.is_empty() {
        templates
    } else {
        Vec::new()
    }
}

/// Step 6: each template with its blocks replaced by tags and its static_url calls by URLs,
/// then minified (when asked): (name, content) in template order.
pub fn rewrite(
    templates: &[Template],
    manifest: &Manifest,
    manifest_json: &[u8],
    o: &AssetOptions,
    mopts: &MinifyOptions,
    cache: &Cache,
) -> Result<Vec<(String, Content)>, Errors> {
    let rewrite = Rewrite { manifest: manifest.clone(), url_prefix: o.hash_options().url_prefix().to_string() };
    let manifest_md5 = md5_hex(manifest_json);
    let options = format!("{} prefix={} minify={}", minify_options_id(o), rewrite.url_prefix, o.minify_templates);
    let results: Vec<Result<(String, Content), Errors>> = templates
        .par_iter()
        .map(|t| {
            let inputs = BTreeMap::from([
                (t.name.clone(), md5_hex(t.source.as_bytes())),
                ("manifest.json".to_string(), manifest_md5.clone()),
                ("options".to_string(), options.clone()),
            ]);
            let mut outs = cache.get_or_build(&format!("template {}{}", o.template_label, t.name), inputs, Read::Lazy, || {
                let shown = fsutil::display(&t.path);
                let mut out = minify::rewrite_template(t.source.as_bytes(), &shown, &rewrite).map_err(super::one)?;
                if o.minify_templates {
                    out = minify::minify_source(Kind::Html, &out, &shown, mopts).map_err(super::one)?;
                }
                Ok::<_, Errors>(vec![(t.name.clone(), out)])
            })?;
            outs.pop().ok_or_else(|| super::one(BuildError::Message(format!("template {}: cache unit without output", t.name))))
        })
        .collect();
    let mut problems = Problems::default();
    let out = problems.keep(results);
    problems.check()?;
    Ok(out)
}
