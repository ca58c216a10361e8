//! `[tool.kiln]` in the app's pyproject.toml: any `kiln build` option, spelled as its flag
//! without the dashes (`static_root = "web/static"` or `static-root = …`, `keep_source = true`).
//! Flags given on the command line win over the file.

use std::path::Path;

use crate::diag::LineIndex;
use crate::fsutil;

#[derive(Debug, thiserror::Error)]
#[error("{path}:{line}:{col}: {message}")]
pub struct PyprojectError {
    pub path: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// The part of pyproject.toml kiln reads; everything else is the app's business.
#[derive(serde::Deserialize)]
struct Pyproject {
    tool: Option<Tools>,
}

#[derive(serde::Deserialize)]
struct Tools {
    kiln: Option<std::collections::BTreeMap<toml::Spanned<String>, toml::Spanned<toml::Value>>>,
}

/// The command-line arguments `[tool.kiln]` of `src/pyproject.toml` stands for, checked against
/// the long flags `known` (without dashes); `takes_value` says which of them take a value.
pub fn tool_kiln_args(src: &Path, known: &[(String, bool)]) -> Result<Vec<String>, PyprojectError> {
    let path = src.join("pyproject.toml");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(Vec::new()) };
    tool_kiln_args_of(&text, &fsutil::display(&path), known)
}

/// [`tool_kiln_args`] of a pyproject.toml's text; `shown` names it in errors.
pub fn tool_kiln_args_of(text: &str, shown: &str, known: &[(String, bool)]) -> Result<Vec<String>, PyprojectError> {
    let shown = shown.to_string();
    let lines = LineIndex::new(text);
    let at = |offset: usize, message: String| {
        let (line, col) = lines.at(text, offset);
        PyprojectError { path: shown.clone(), line, col, message }
    };
    let doc: Pyproject = toml::from_str(text).map_err(|e| at(e.span().map(|s| s.start).unwrap_or(0), e.message().to_string()))?;
    let Some(kiln) = doc.tool.and_then(|t| t.kiln) else { return Ok(Vec::new()) };
    let mut args = Vec::new();
    for (key, value) in &kiln {
        // Each key keeps its place in the file, for the error.
        let key_at = key.span().start;
        let (key, value) = (key.get_ref(), value.get_ref());
        let flag = key.replace('_', "-");
        let Some((_, takes_value)) = known.iter().find(|(name, _)| *name == flag) else {
            return Err(at(key_at, format!("[tool.kiln] {key}: kiln build has no --{flag}")));
        };
        match (value, takes_value) {
            (toml::Value::Boolean(true), false) => args.push(format!("--{flag}")),
            (toml::Value::Boolean(false), false) => {}
            // A flag that takes a boolean value (`remote_cache_upload = false`).
            (toml::Value::Boolean(b), true) => args.push(format!("--{flag}={b}")),
            (toml::Value::String(s), true) => args.extend([format!("--{flag}"), s.clone()]),
            (toml::Value::Integer(n), true) => args.extend([format!("--{flag}"), n.to_string()]),
            (_, false) => return Err(at(key_at, format!("[tool.kiln] {key}: --{flag} is a switch: use true or false"))),
            (_, true) => return Err(at(key_at, format!("[tool.kiln] {key}: --{flag} takes one string or integer"))),
        }
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<(String, bool)> {
        vec![("framework".into(), true), ("keep-source".into(), false), ("jobs".into(), true)]
    }

    #[test]
    fn tool_kiln_becomes_flags_and_mistakes_are_errors_at_their_place() {
        let dir = tempfile::tempdir().unwrap();
        let write = |s: &str| std::fs::write(dir.path().join("pyproject.toml"), s).unwrap();
        assert!(tool_kiln_args(dir.path(), &known()).unwrap().is_empty(), "no file");
        write("[project]\nname = \"x\"\n");
        assert!(tool_kiln_args(dir.path(), &known()).unwrap().is_empty(), "no [tool.kiln]");
        write("[project]\nname = \"x\"\n\n[tool.kiln]\nframework = \"asok\"\nkeep_source = true\njobs = 2\n");
        assert_eq!(tool_kiln_args(dir.path(), &known()).unwrap(), ["--framework", "asok", "--jobs", "2", "--keep-source"]);
        write("[tool.kiln]\nframework = \"asok\"\nfrobnicate = 1\n");
        let e = tool_kiln_args(dir.path(), &known()).unwrap_err().to_string();
        assert!(e.ends_with("pyproject.toml:3:1: [tool.kiln] frobnicate: kiln build has no --frobnicate"), "{e}");
        // The position is the key's own, not the first place its name appears.
        write("[tool.kiln]\n# frobnicate is not a flag\nframework = \"asok\"\nfrobnicate = 1\n");
        let e = tool_kiln_args(dir.path(), &known()).unwrap_err().to_string();
        assert!(e.ends_with("pyproject.toml:4:1: [tool.kiln] frobnicate: kiln build has no --frobnicate"), "{e}");
        write("[tool.kiln]\nkeep-source = \"yes\"\n");
        let e = tool_kiln_args(dir.path(), &known()).unwrap_err().to_string();
        assert!(e.contains(":2:1: [tool.kiln] keep-source: --keep-source is a switch"), "{e}");
        write("[tool.kiln\nframework = 1\n");
        let e = tool_kiln_args(dir.path(), &known()).unwrap_err().to_string();
        assert!(e.contains("pyproject.toml:1:"), "{e}");
    }
}
