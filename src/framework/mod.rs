//! Framework profiles (docs/design.md §9). The runtime that serves the dist is the contract: it
//! decides where templates, assets and Python live, by which names it looks files up and which
//! manifest it reads. `detect` picks a profile from the tree; each profile is one file that
//! fills the engine's `Profile`.

pub mod asok;
pub mod assetman;
pub mod django;
pub mod plain;
pub mod pyproject;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::assemble::Layout;
pub use crate::pipeline::Naming;

/// The runtimes kiln builds for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Framework {
    /// asok (`wsgi.py` with `Asok()`, file routes under `src/pages`).
    Asok,
    /// Django (`manage.py` naming a settings module).
    Django,
    /// A Tornado (or other) app whose templates use Assetman blocks and `static_url`.
    Assetman,
    /// Any other WSGI/Tornado app: versioned assets and kiln's manifest.json.
    Plain,
}

impl Framework {
    pub fn name(self) -> &'static str {
        match self {
            Framework::Asok => "asok",
            Framework::Django => "django",
            Framework::Assetman => "assetman",
            Framework::Plain => "plain",
        }
    }
}

/// What a profile tells the engine. Paths are relative to the app root, `/`-separated.
#[derive(Debug, Clone)]
pub struct Profile {
    pub framework: Framework,
    /// Why this profile was chosen (printed by `kiln build`).
    pub reason: String,
    /// Where the app keeps templates, static files, Python kept as source, data shipped as it is,
    /// and the framework's own outputs (`with_db` is the command line's).
    pub layout: Layout,
    /// Static files found by the runtime's own lookup (Django's finders): URL name → file.
    /// They may live outside the app (an installed package's `static/`).
    pub statics: Vec<(String, PathBuf)>,
    pub naming: Naming,
    /// The URL prefix the runtime serves static files under (`/s/`, `/` for asok, STATIC_URL).
    pub url_prefix: String,
}

#[derive(Debug, thiserror::Error)]
pub enum FrameworkError {
    #[error("{path}: {message}")]
    At { path: String, message: String },
}

/// What a `kiln build` caller may set; `None` lets the profile decide.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub framework: Option<Framework>,
    pub static_root: Option<String>,
    pub templates: Option<String>,
    pub prefix: Option<String>,
}

/// The profile the tree calls for, with the reason: Django (`manage.py` naming a settings
/// module), then asok (`wsgi.py` that builds an `Asok()` app, or `src/pages`), then Assetman
/// (templates that use blocks or `static_url`), else plain.
pub fn detect(src: &Path, python: &Path) -> Result<Profile, FrameworkError> {
    if django::settings_module(src).is_some() {
        return django::profile(src, python);
    }
    if let Some(why) = asok::detect(src) {
        return Ok(Profile { reason: why, ..asok::profile() });
    }
    if let Some(p) = assetman::detect(src) {
        return Ok(p);
    }
    Ok(Profile { reason: "no manage.py, no asok app, no Assetman blocks".into(), ..plain::profile() })
}

/// The profile for `src`: detected, or the one `overrides` names.
pub fn profile(src: &Path, python: &Path, overrides: &Overrides) -> Result<Profile, FrameworkError> {
    let mut p = match overrides.framework {
        None => detect(src, python)?,
        Some(framework) => {
            let p = match framework {
                Framework::Asok => asok::profile(),
                Framework::Django => django::profile(src, python)?,
                Framework::Assetman => assetman::profile(src),
                Framework::Plain => plain::profile(),
            };
            Profile { reason: "chosen with --framework or [tool.kiln]".into(), ..p }
        }
    };
    if let Some(s) = &overrides.static_root {
        p.layout.static_root = s.trim_end_matches('/').to_string();
    }
    if let Some(t) = &overrides.templates {
        p.layout.template_dirs = vec![t.trim_end_matches('/').to_string()];
    }
    if let Some(prefix) = &overrides.prefix {
        p.url_prefix = prefix.clone();
    }
    Ok(p)
}
