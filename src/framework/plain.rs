//! A plain WSGI or Tornado app: static files under `src/partials`, templates under
//! `src/templates`, assets content-named and found through kiln's `manifest.json`.

use super::{Framework, Naming, Profile};

pub fn profile() -> Profile {
    Profile {
        framework: Framework::Plain,
        reason: String::new(),
        static_root: "src/partials".into(),
        statics: Vec::new(),
        template_dirs: vec!["src/templates".into()],
        template_exts: vec!["html".into()],
        python_source: vec!["src/migrations".into()],
        verbatim_dirs: Vec::new(),
        outputs: Vec::new(),
        naming: Naming::Versioned,
        url_prefix: "/s/".into(),
    }
}
