//! Django 5.2 (design.md §9): the project's own Python, with its own settings, says what
//! collectstatic would collect (every staticfiles finder, `django.contrib.admin`'s files
//! included), where STATIC_ROOT is, the template directories and each app's migrations. The dist
//! then holds STATIC_ROOT as ManifestStaticFilesStorage lays it out: every file under its name
//! and its hashed name, and `staticfiles.json`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use super::{Framework, FrameworkError, Layout, Naming, Profile};
use crate::fsutil;

/// The question asked of the project's Python (see the script for what it prints).
const QUERY: &str = include_str!("django_query.py");

/// The settings module `manage.py` sets, when `src` is a Django project.
pub fn settings_module(src: &Path) -> Option<String> {
    let text = std::fs::read_to_string(src.join("manage.py")).ok()?;
    let at = text.find("DJANGO_SETTINGS_MODULE")?;
    // os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    let rest = &text[at + "DJANGO_SETTINGS_MODULE".len()..];
    let rest = rest.trim_start_matches(['"', '\'']).trim_start().strip_prefix(',')?.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &rest[1..];
    let end = value.find(quote)?;
    let module = &value[..end];
    module.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then(|| module.to_string())
}

/// What the query prints.
#[derive(Debug, Deserialize)]
struct Answer {
    django: String,
    static_root: Option<String>,
    static_url: Option<String>,
    manifest_name: Option<String>,
    statics: Vec<(String, PathBuf)>,
    template_dirs: Vec<PathBuf>,
    migration_dirs: Vec<PathBuf>,
}

pub fn profile(src: &Path, python: &Path) -> Result<Profile, FrameworkError> {
    let manage = fsutil::display(&src.join("manage.py"));
    let fail = |message: String| FrameworkError::At { path: manage.clone(), message };
    let settings = settings_module(src).ok_or_else(|| fail("does not set DJANGO_SETTINGS_MODULE".into()))?;
    // A relative `--python dir/python` means from here, as for the bytecode step, not from SRC
    // (where the query runs).
    let program = if python.components().count() > 1 {
        fsutil::absolute_lexical(python).unwrap_or_else(|_| python.to_path_buf())
    } else {
        python.to_path_buf()
    };
    let out =
        Command::new(&program).arg("-c").arg(QUERY).arg(&settings).current_dir(src).env("PYTHONDONTWRITEBYTECODE", "1").output().map_err(|e| {
            fail(format!("cannot run {} to ask Django for its static files: {e} (use --python with the project's interpreter)", python.display()))
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output");
        return Err(fail(format!(
            "{} could not load the settings {settings}: {last} (use --python with the project's interpreter)",
            python.display()
        )));
    }
    let answer: Answer = serde_json::from_slice(&out.stdout).map_err(|e| fail(format!("unexpected answer from Django: {e}")))?;
    let root = std::fs::canonicalize(src).map_err(|e| fail(format!("{}: {e}", fsutil::display(src))))?;
    // Paths Django names inside the project, relative to it (it resolves BASE_DIR, so do we).
    let inside = |p: &Path| -> Option<String> {
        let p = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        p.strip_prefix(&root).ok().map(|r| r.to_string_lossy().replace('\\', "/"))
    };
    let static_root =
        answer.static_root.ok_or_else(|| fail(format!("{settings}.STATIC_ROOT is not set: Django (and kiln) collect static files there")))?;
    let static_root = inside(Path::new(&static_root))
        .filter(|r| !r.is_empty())
        .ok_or_else(|| fail(format!("STATIC_ROOT {static_root} is not inside the project; the dist can only hold it there")))?;
    let url = answer.static_url.unwrap_or_else(|| "/static/".into());
    let url_prefix = if url.starts_with('/') || url.contains("://") { url } else { format!("/{url}") };
    let mut template_dirs: Vec<String> = answer.template_dirs.iter().filter_map(|d| inside(d)).filter(|r| !r.is_empty()).collect();
    template_dirs.sort();
    // Each app's migrations stay source, and so does manage.py (`python manage.py migrate`).
    let mut python_source: Vec<String> = answer.migration_dirs.iter().filter_map(|d| inside(d)).filter(|r| !r.is_empty()).collect();
    python_source.push("manage.py".into());
    python_source.sort();
    Ok(Profile {
        framework: Framework::Django,
        reason: format!("manage.py names the settings module {settings}; Django {}", answer.django),
        // No static root of its own: the finders' files are `statics`.
        layout: Layout { static_root: String::new(), template_dirs, python_source, outputs: vec![static_root.clone()], ..Layout::default() },
        statics: answer.statics,
        naming: Naming::Django { static_root, manifest_name: answer.manifest_name },
        url_prefix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_module_is_read_from_manage_py() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n", Some("mysite.settings")),
            ("os.environ.setdefault(\"DJANGO_SETTINGS_MODULE\", \"a_b.settings.prod\")", Some("a_b.settings.prod")),
            ("os.environ.setdefault('DJANGO_SETTINGS_MODULE', f'{x}.settings')", None),
            ("print('hello')", None),
        ];
        for (text, want) in cases {
            std::fs::write(dir.path().join("manage.py"), text).unwrap();
            assert_eq!(settings_module(dir.path()).as_deref(), want, "{text}");
        }
    }
}
