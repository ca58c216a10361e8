//! A plain WSGI or Tornado app: static files under `src/partials`, templates under
//! `src/templates`, assets content-named and found through kiln's `manifest.json`.

use super::{Framework, Layout, Naming, Profile};

pub fn profile() -> Profile {
    Profile {
        framework: Framework::Plain,
        reason: String::new(),
        // kiln's own default layout: src/partials, src/templates, src/migrations.
        layout: Layout::default(),
        statics: Vec::new(),
        naming: Naming::Versioned,
        url_prefix: "/s/".into(),
    }
}
