//! Assetman (bitly's, as a Tornado app uses it): templates with asset blocks and
//! `assetman.static_url`, assets versioned by content and listed in `manifest.json`, whose blocks
//! are keyed exactly as Assetman's runtime looks them up.

use std::path::Path;

use super::{Framework, Layout, Profile};
use crate::fsutil;
use crate::scan;

/// Where Assetman apps keep templates, each with the static root that goes with it: kiln's
/// layout, then Assetman's own defaults (`--template_dir=templates`, `--static_dir=static`).
const LAYOUTS: [(&str, &str); 2] = [("src/templates", "src/partials"), ("templates", "static")];

/// The first layout of `src` whose templates use a block or `static_url`, and why.
fn find(src: &Path) -> Option<(String, &'static str, &'static str)> {
    LAYOUTS.iter().find_map(|&(dir, static_root)| {
        let entries = fsutil::walk(&src.join(dir), &|_, _| false).ok()?;
        entries.iter().find_map(|e| {
            let text = std::fs::read_to_string(&e.path).ok()?;
            let s = scan::scan_source(&text).ok()?;
            let uses = !s.blocks.is_empty() || !s.static_urls.is_empty();
            uses.then(|| (format!("{dir}/{} uses Assetman blocks or static_url", e.rel), dir, static_root))
        })
    })
}

/// The Assetman profile when `src`'s templates use Assetman (its reason says where).
pub fn detect(src: &Path) -> Option<Profile> {
    find(src).map(|(why, templates, static_root)| at(templates, static_root, why))
}

/// The Assetman profile: the layout whose templates use it, else kiln's.
pub fn profile(src: &Path) -> Profile {
    detect(src).unwrap_or_else(|| at(LAYOUTS[0].0, LAYOUTS[0].1, String::new()))
}

fn at(templates: &str, static_root: &str, reason: String) -> Profile {
    let layout = Layout { template_dirs: vec![templates.into()], static_root: static_root.into(), ..Layout::default() };
    Profile { framework: Framework::Assetman, reason, layout, ..super::plain::profile() }
}
