//! `kiln serve`'s static side: the URL path under the prefix → `site::clean_path` (decoding and
//! traversal rules) → `Site::route` on a real static root. A function boundary that does not
//! depend on how the HTTP head is read.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::text;
use crate::fuzz::{check, deterministic, PropertyViolation, Sig, Target, Verdict};
use crate::serve::site::{clean_path, Route, Site};

pub const TARGET: Target = Target {
    name: "serve_path",
    properties: "a clean path has no empty, '.'-led, '..' or control-character segment and no \
                 backslash; whatever routes to a file is inside the static root and not hidden; the \
                 file outside the root, the hidden files and the link out are never served; \
                 deterministic",
    dictionary: &[
        "/",
        "..",
        ".",
        "%2e",
        "%2E",
        "%2f",
        "%5c",
        "%00",
        "%",
        "%e9",
        "%c3%a9",
        "\\",
        "//",
        "v:",
        "f:",
        "css/app.css",
        "js/a.js",
        ".env",
        ".hidden/secret",
        "link-out",
        "secret.txt",
        "0123456789ab",
        "?",
        "#",
        ":",
        "%25",
        "%20",
        "%0a",
    ],
    max_len: 512,
    run,
};

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    site: Site,
}

fn fixture() -> Result<&'static Fixture, PropertyViolation> {
    static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();
    FIXTURE.get_or_init(|| build_fixture().ok()).as_ref().ok_or_else(|| PropertyViolation("fuzz harness: cannot build the static root".into()))
}

fn build_fixture() -> std::io::Result<Fixture> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("static");
    let files = [
        "css/app.css",
        "css/app.css.br",
        "css/app.0123456789ab.css",
        "js/a.js",
        "js/b.js",
        "f/0123.js",
        "img/x.png",
        "index.html",
        ".env",
        ".hidden/secret",
        "css/.secret.css",
    ];
    for f in files {
        let p = root.join(f);
        std::fs::create_dir_all(p.parent().unwrap_or(&root))?;
        std::fs::write(&p, f)?;
    }
    std::fs::write(dir.path().join("secret.txt"), "SECRET")?;
    #[cfg(unix)]
    std::os::unix::fs::symlink("../secret.txt", root.join("link-out"))?;
    let manifest = serde_json::json!({
        "version": 1,
        "assets": {
            "css/app.css": {"version": "0123456789abcdef", "versioned_path": "css/app.0123456789ab.css", "integrity": "x", "encodings": {"br": "css/app.css.br"}},
            "js/a.js": {"version": "aaaa", "versioned_path": "v:aaaa/js/a.js", "integrity": "x"},
            "js/b.js": {"version": "bbbb", "versioned_path": "v:bbbb/js/b.js", "integrity": "x"},
            "img/x.png": {"version": "cccc", "versioned_path": "v:cccc/img/x.png", "integrity": "x"}
        },
        "blocks": {"0123": {"version": "dddd", "versioned_path": "v:dddd/f:a:b/0123.js", "integrity": "x", "paths": ["js/a.js", "js/b.js"]}},
        "lookups": {"a": "js/a.js", "b": "js/b.js"},
        "renames": {"img/x.jpg": "img/x.png"}
    });
    let manifest_path = dir.path().join("manifest.json");
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest)?)?;
    let site = Site::load(&root, Some((&manifest_path, "manifest.json")), "/s/").map_err(|e| std::io::Error::other(e.to_string()))?;
    let root = root.canonicalize()?;
    Ok(Fixture { _dir: dir, root, site })
}

fn run(input: &[u8]) -> Verdict {
    let fx = fixture()?;
    let raw = text(input);
    let clean = clean_path(&raw);
    deterministic("clean_path", &clean, &clean_path(&raw))?;
    let mut sig = Sig::new("serve");
    let Some(rel) = clean else {
        return Ok(sig.add("refused").done());
    };
    check(!rel.contains('\\') && !rel.chars().any(char::is_control), || format!("{rel:?} kept a backslash or control character"))?;
    for seg in rel.split('/') {
        check(!seg.is_empty() && !seg.starts_with('.'), || format!("{raw:?} cleaned to {rel:?}, with segment {seg:?}"))?;
    }
    let route = fx.site.route(&rel);
    deterministic("route", &route, &fx.site.route(&rel))?;
    match &route {
        Route::NotFound => {
            sig.add("404");
        }
        Route::Fallback { parts, .. } => {
            sig.add("fallback").bucket(parts.len());
        }
        Route::File(s) => {
            inside(&fx.root, &fx.root.join(s.path), &raw)?;
            for (_, twin) in &s.twins {
                inside(&fx.root, &fx.root.join(twin), &raw)?;
            }
            check(!s.rel.split('/').any(|seg| seg.starts_with('.')), || format!("{raw:?} served the hidden {:?}", s.rel))?;
            sig.add("file").add(&s.content_type).add(&s.cache.header()).bucket(s.twins.len()).add(&s.version.is_some());
        }
    }
    Ok(sig.done())
}

fn inside(root: &Path, path: &Path, raw: &str) -> Result<(), PropertyViolation> {
    let real = path.canonicalize().map_err(|e| PropertyViolation(format!("{raw:?} routed to {} which cannot be opened: {e}", path.display())))?;
    check(real.starts_with(root), || format!("{raw:?} routed to {} outside the static root", real.display()))?;
    let content = std::fs::read(&real).unwrap_or_default();
    check(content != b"SECRET", || format!("{raw:?} served the secret"))
}
