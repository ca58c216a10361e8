//! asok 0.8 (design.md §9): pages are `src/pages/**/page.html`, shared templates live in
//! `src/partials/html`, and templates ask for assets by source name (`static('css/base.css')`),
//! which the runtime serves from `src/partials` at `/`, preferring `x.webp` beside `x.png`.

use std::path::Path;

use super::{Framework, Layout, Naming, Profile};

/// Why `src` is an asok app, if it is one: its `wsgi.py` builds an `Asok()` app, or it has
/// asok's file routes.
pub fn detect(src: &Path) -> Option<String> {
    let wsgi = std::fs::read_to_string(src.join("wsgi.py")).unwrap_or_default();
    if wsgi.contains("Asok(") && (wsgi.contains("from asok") || wsgi.contains("import asok")) {
        return Some("wsgi.py builds an Asok() app".into());
    }
    src.join("src/pages").is_dir().then(|| "src/pages holds asok's file routes".into())
}

pub fn profile() -> Profile {
    Profile {
        framework: Framework::Asok,
        reason: String::new(),
        layout: Layout {
            template_dirs: vec!["src/pages".into(), "src/partials/html".into()],
            // User uploads are data: they ship exactly as they are.
            verbatim_dirs: vec!["src/partials/uploads".into()],
            ..Layout::default()
        },
        statics: Vec::new(),
        naming: Naming::SourceNames,
        url_prefix: "/".into(),
    }
}
