//! The minifiers' inputs: JS (swc), CSS (lightningcss) and HTML templates (minify-html with
//! template syntax kept), through kiln-minify's batch write path.

use std::cell::RefCell;
use std::path::Path;

use super::text;
use crate::fuzz::{check, deterministic, position_inside, PropertyViolation, Sig, Target, Verdict};
use crate::minify::{minify_batch, minify_source, Job, Kind, MinifyError, MinifyOptions};
use crate::scan::template::tags;

const JS_PROPERTIES: &str = "errors inside the input; deterministic; the output minifies again; in a batch \
                             with a good file, an error writes nothing (real write path, tempdir) and \
                             success writes the same bytes as a direct minify";

pub const JS: Target = Target {
    name: "minify_js",
    properties: JS_PROPERTIES,
    dictionary: &[
        "function",
        "(",
        ")",
        "{",
        "}",
        "=>",
        "var ",
        "let ",
        "const ",
        "import ",
        "export ",
        "default",
        "from ",
        "\"x\"",
        "'y'",
        "`",
        "${",
        "/*!",
        "*/",
        "//",
        "\n",
        ";",
        "return ",
        "class ",
        "async ",
        "await ",
        "yield",
        "new ",
        "this",
        "?.",
        "??",
        "**",
        "/re/g",
        "0x1f",
        "1e9",
        "\\u0041",
        "with(a)",
        "eval(",
        "arguments",
        "delete ",
        "typeof ",
    ],
    max_len: 4096,
    run: run_js,
};

pub const CSS: Target = Target {
    name: "minify_css",
    properties: JS_PROPERTIES,
    dictionary: &[
        "{",
        "}",
        ";",
        ":",
        "@media ",
        "@import ",
        "@supports ",
        "@font-face",
        "@keyframes ",
        "url(",
        ")",
        "/*",
        "*/",
        "!important",
        "color:red",
        "var(--x)",
        "calc(1px + 2%)",
        "#fff",
        "rgb(",
        ">",
        "+",
        "~",
        "::before",
        ":hover",
        "[a=\"b\"]",
        "\\",
        "\"",
        "'",
        "\n",
        "@layer ",
        "&",
        "nest",
    ],
    max_len: 4096,
    run: run_css,
};

pub const HTML: Target = Target {
    name: "minify_html",
    properties: "errors inside the input; deterministic; the output minifies again; the template tags \
                 of the output are the input's, byte for byte; batch write path as minify_js",
    dictionary: &[
        "<div>",
        "</div>",
        "<span>",
        "</span>",
        "<pre>",
        "</pre>",
        "<textarea>",
        "</textarea>",
        "<script>",
        "</script>",
        "<style>",
        "</style>",
        "<script type=\"module\">",
        "<!--",
        "-->",
        "{{ x }}",
        "{% if a %}",
        "{% end %}",
        "{# c #}",
        "<% z %>",
        "{{!",
        "{% apply assetman.include_js %}",
        "{% endassetman %}",
        "<a href=\"{{ u }}\">",
        "=\"",
        "'",
        " ",
        "\n",
        "&amp;",
        "<br>",
        "<p>",
        "<!doctype html>",
        "<html>",
        "<body>",
    ],
    max_len: 4096,
    run: run_html,
};

fn run_js(input: &[u8]) -> Verdict {
    run(input, Kind::Js, "js")
}

fn run_css(input: &[u8]) -> Verdict {
    run(input, Kind::Css, "css")
}

fn run_html(input: &[u8]) -> Verdict {
    run(input, Kind::Html, "html")
}

fn run(input: &[u8], kind: Kind, ext: &str) -> Verdict {
    let src = text(input);
    let opts = MinifyOptions::default();
    let first = minify_source(kind, src.as_bytes(), "case", &opts);
    let second = minify_source(kind, src.as_bytes(), "case", &opts);
    deterministic("minify", &first.as_ref().map_err(ToString::to_string), &second.as_ref().map_err(ToString::to_string))?;
    let mut sig = Sig::new(ext);
    // What minify sees: the text without a byte order mark.
    let seen = src.strip_prefix('\u{feff}').unwrap_or(&src);
    match &first {
        Err(MinifyError::At { line, col, message, .. }) => {
            position_inside(seen, *line, *col, "minify error")?;
            sig.add("err").message(message);
        }
        Err(e) => return Err(PropertyViolation(format!("an error without a position: {e}"))),
        Ok(out) => {
            let out_text = std::str::from_utf8(out).map_err(|_| PropertyViolation("output is not UTF-8".into()))?;
            if let Err(e) = minify_source(kind, out, "again", &opts) {
                return Err(PropertyViolation(format!("the output does not minify again ({e}):\n{out_text}")));
            }
            if kind == Kind::Html {
                same_template_tags(seen, out_text)?;
            }
            sig.add("ok").bucket(out.len()).add(&(out.len() < seen.len()));
        }
    }
    write_path(kind, ext, src.as_bytes(), first.as_ref().ok())?;
    Ok(sig.done())
}

fn same_template_tags(src: &str, out: &str) -> Result<(), PropertyViolation> {
    let of = |s: &str| -> Vec<String> {
        let lines = crate::diag::LineIndex::new(s);
        tags(s, &lines).map(|t| t.iter().map(|t| s[t.start..t.end].to_string()).collect()).unwrap_or_else(|p| vec![format!("error {p:?}")])
    };
    // As a multiset: minify-html sorts attributes, which reorders tags in quoted values.
    let (mut a, mut b) = (of(src), of(out));
    a.sort();
    b.sort();
    check(a == b, || format!("template tags changed:\n  in:  {a:?}\n  out: {b:?}"))
}

thread_local! {
    static TMP: RefCell<Option<tempfile::TempDir>> = const { RefCell::new(None) };
}

/// A good file and the case minified as one batch into a clean directory with kiln-minify's
/// decision (`cli::commit_batch`, no --keep-going): all or nothing.
fn write_path(kind: Kind, ext: &str, case: &[u8], direct: Option<&Vec<u8>>) -> Result<(), PropertyViolation> {
    TMP.with(|t| {
        let mut t = t.borrow_mut();
        if t.is_none() {
            *t = Some(tempfile::tempdir().map_err(|e| PropertyViolation(format!("tempdir: {e}")))?);
        }
        let root = t.as_ref().map(|d| d.path().to_path_buf()).unwrap_or_default();
        let io = |e: std::io::Error| PropertyViolation(format!("fuzz harness I/O: {e}"));
        let (input, out) = (root.join("in"), root.join("out"));
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&input).map_err(io)?;
        let good: &[u8] = match kind {
            Kind::Js => b"var good = 1;\n",
            Kind::Css => b"a { color: red }\n",
            Kind::Html => b"<p> good </p>\n",
        };
        let files = [(format!("a.{ext}"), good), (format!("b.{ext}"), case)];
        let mut jobs = Vec::new();
        for (name, bytes) in &files {
            std::fs::write(input.join(name), bytes).map_err(io)?;
            jobs.push(Job { input: input.join(name), kind, output: out.join(name), source_map: false });
        }
        let mut staged = crate::fsutil::Staged::new();
        let mut failed = false;
        for r in minify_batch(&jobs, &MinifyOptions::default(), None) {
            match r {
                Ok(files) => files.into_iter().for_each(|(p, b)| staged.add(p, b)),
                Err(_) => failed = true,
            }
        }
        check(failed == direct.is_none(), || {
            format!(
                "the batch {} but a direct minify {}",
                if failed { "failed" } else { "succeeded" },
                if direct.is_some() { "succeeded" } else { "failed" }
            )
        })?;
        crate::cli::commit_batch(staged, failed, false).map_err(|e| PropertyViolation(format!("commit: {e}")))?;
        let written = listing(&out);
        match direct {
            None => check(written.is_empty(), || format!("a failed batch wrote {written:?}")),
            Some(bytes) => {
                let got = std::fs::read(out.join(format!("b.{ext}"))).unwrap_or_default();
                check(written.len() == 2 && &got == bytes, || format!("the batch wrote {written:?}, the case's bytes differ from a direct minify"))
            }
        }
    })
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}
