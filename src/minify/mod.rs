//! Minification: JS (swc), CSS (lightningcss), HTML and templates (minify-html with template
//! syntax kept). One file, an ordered concatenation (an asset block), or a parallel batch.

pub mod css;
pub mod html;
pub mod js;

use std::path::PathBuf;

use rayon::prelude::*;

use crate::scan::Rewrite;

pub use crate::diag::Problem;
use crate::fsutil::{self, FsError};
pub use js::JsMode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Js,
    Css,
    Html,
}

impl Kind {
    /// The kind a file name implies: .js/.mjs/.cjs, .css, .html/.htm (and template extensions).
    pub fn from_name(name: &str) -> Option<Kind> {
        let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
        match ext.as_str() {
            "js" | "mjs" | "cjs" => Some(Kind::Js),
            "css" => Some(Kind::Css),
            "html" | "htm" | "xhtml" | "jinja" | "jinja2" | "j2" | "tmpl" | "tpl" => Some(Kind::Html),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MinifyError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{path}:{line}:{col}: {message}")]
    At { path: String, line: usize, col: usize, message: String },
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

#[derive(Debug, Clone, Copy)]
pub struct MinifyOptions {
    pub targets: lightningcss::targets::Targets,
    pub js_mode: JsMode,
}

impl Default for MinifyOptions {
    fn default() -> Self {
        MinifyOptions { targets: Default::default(), js_mode: JsMode::Detect }
    }
}

fn text<'a>(bytes: &'a [u8], path: &str) -> Result<&'a str, MinifyError> {
    let s = std::str::from_utf8(bytes).map_err(|e| MinifyError::File { path: path.to_string(), message: format!("not UTF-8 ({e})") })?;
    Ok(s.strip_prefix('\u{feff}').unwrap_or(s))
}

/// Minifies one source; `path` names it in errors.
pub fn minify_source(kind: Kind, bytes: &[u8], path: &str, opts: &MinifyOptions) -> Result<Vec<u8>, MinifyError> {
    let src = text(bytes, path)?;
    let at = |p: Problem| MinifyError::At { path: path.to_string(), line: p.line, col: p.col, message: p.message };
    let out = match kind {
        Kind::Js => js::minify(src, path, opts.js_mode).map_err(at)?,
        Kind::Css => css::minify(src, path, opts.targets).map_err(at)?,
        Kind::Html => html::minify(src, path, opts.targets).map_err(at)?,
    };
    Ok(out.into_bytes())
}

/// Minifies an ordered list of files as one unit. JS files are joined with `\n;\n`, so a file
/// ending without a semicolon (or in a line comment) never runs into the next one. Errors name
/// the file and line they come from.
pub fn minify_concat(kind: Kind, files: &[(String, Vec<u8>)], opts: &MinifyOptions) -> Result<Vec<u8>, MinifyError> {
    let sep = if kind == Kind::Js { "\n;\n" } else { "\n" };
    let mut joined = String::new();
    // (first line of the file in `joined`, its path)
    let mut starts: Vec<(usize, &str)> = Vec::new();
    let mut line = 1;
    for (i, (path, bytes)) in files.iter().enumerate() {
        if i > 0 {
            joined.push_str(sep);
            line += sep.matches('\n').count();
        }
        starts.push((line, path));
        let src = text(bytes, path)?;
        joined.push_str(src);
        line += src.matches('\n').count();
    }
    let name = files.first().map(|f| f.0.as_str()).unwrap_or("concat");
    minify_source(kind, joined.as_bytes(), name, opts).map_err(|e| match e {
        MinifyError::At { line, col, message, .. } => {
            let idx = starts.partition_point(|(s, _)| *s <= line).saturating_sub(1);
            let (first, path) = starts.get(idx).copied().unwrap_or((1, name));
            MinifyError::At { path: path.to_string(), line: line - first + 1, col, message }
        }
        other => other,
    })
}

/// One file of a batch: where to read it, its kind, its output path, and whether to write a
/// source map (`<output>.map`, JS only) beside it.
#[derive(Debug, Clone)]
pub struct Job {
    pub input: PathBuf,
    pub kind: Kind,
    pub output: PathBuf,
    pub source_map: bool,
}

/// One job's output files: (path, bytes).
pub type Minified = Vec<(PathBuf, Vec<u8>)>;

/// Minifies a batch in parallel. Each job gives its output files; results are in the jobs'
/// order, so the outputs do not depend on thread count or scheduling. With `rewrite`,
/// templates get their asset blocks and static_url calls replaced first.
pub fn minify_batch(jobs: &[Job], opts: &MinifyOptions, rewrite: Option<&Rewrite>) -> Vec<Result<Minified, MinifyError>> {
    jobs.par_iter().map(|j| minify_job(j, opts, rewrite)).collect()
}

/// A template with its blocks and static_url calls replaced (errors at the template's positions).
pub fn rewrite_template(bytes: &[u8], path: &str, rewrite: &Rewrite) -> Result<Vec<u8>, MinifyError> {
    let src = text(bytes, path)?;
    match crate::scan::rewrite_source(src, rewrite) {
        Ok(s) => Ok(s.into_bytes()),
        Err(problems) => {
            let p = &problems[0];
            Err(MinifyError::At { path: path.to_string(), line: p.line, col: p.col, message: p.message.clone() })
        }
    }
}

fn minify_job(job: &Job, opts: &MinifyOptions, rewrite: Option<&Rewrite>) -> Result<Vec<(PathBuf, Vec<u8>)>, MinifyError> {
    let mut bytes = fsutil::read(&job.input)?;
    let path = fsutil::display(&job.input);
    if let (Kind::Html, Some(rw)) = (job.kind, rewrite) {
        bytes = rewrite_template(&bytes, &path, rw)?;
    }
    if !(job.source_map && job.kind == Kind::Js) {
        return Ok(vec![(job.output.clone(), minify_source(job.kind, &bytes, &path, opts)?)]);
    }
    let src = text(&bytes, &path)?;
    let file_name = |p: &std::path::Path| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let (mut code, map) = js::minify_with_map(src, &path, opts.js_mode, &file_name(&job.input)).map_err(|p| MinifyError::At {
        path: path.clone(),
        line: p.line,
        col: p.col,
        message: p.message,
    })?;
    let mut map_path = job.output.clone().into_os_string();
    map_path.push(".map");
    let map_path = PathBuf::from(map_path);
    code.push_str(&format!("\n//# sourceMappingURL={}", file_name(&map_path)));
    Ok(vec![(job.output.clone(), code.into_bytes()), (map_path, map)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_guards_and_maps_errors_to_files() {
        let files =
            vec![("a.js".to_string(), b"var a = 1 // no semicolon".to_vec()), ("b.js".to_string(), b"(function(){ window.b = a })()".to_vec())];
        let out = String::from_utf8(minify_concat(Kind::Js, &files, &MinifyOptions::default()).unwrap()).unwrap();
        assert!(out.contains("window.b"), "{out}");
        let bad = vec![("a.js".to_string(), b"var a = 1;\nvar b = 2;\n".to_vec()), ("b.js".to_string(), b"var c = 3;\nvar d = ;\n".to_vec())];
        let e = minify_concat(Kind::Js, &bad, &MinifyOptions::default()).unwrap_err().to_string();
        assert!(e.starts_with("b.js:2:9: "), "{e}");
    }

    #[test]
    fn kinds_from_names() {
        assert_eq!(Kind::from_name("a/b.min.JS"), Some(Kind::Js));
        assert_eq!(Kind::from_name("x.css"), Some(Kind::Css));
        assert_eq!(Kind::from_name("t.html"), Some(Kind::Html));
        assert_eq!(Kind::from_name("README"), None);
    }
}
