//! HTML and templates with minify-html. Template syntax (`{{ }}`, `{% %}`, `{# #}`, `<% %>`) is
//! kept byte for byte. Inline scripts and styles are minified with kiln's own engines, except
//! those that hold template tags, which come out unchanged; so do the bodies of
//! `{% apply … %}…{% end %}` (Assetman blocks list one path per line).

use super::css;
use super::js::{self, JsMode};
use crate::diag::{LineIndex, Problem};
use crate::scan::template::{block_end, has_template_syntax, tags, Tag};

/// Byte ranges whose content must not change: bodies of `{% apply %}` (Tornado) and
/// `{% assetman %}` (Django) blocks.
fn protected_bodies(src: &str, tags: &[Tag], lines: &LineIndex) -> Result<Vec<(usize, usize)>, Problem> {
    let mut out = Vec::new();
    for i in 0..tags.len() {
        if let Some(j) = block_end(src, tags, i, lines)? {
            out.push((tags[i].end, tags[j].start));
        }
    }
    Ok(out)
}

/// `<script …>` and `<style …>` elements: (content start, content end, is_script, open tag).
fn raw_text_elements(src: &str) -> Vec<(usize, usize, bool, String)> {
    let lower = src.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(rel) = lower[i..].find('<') {
        let at = i + rel;
        let rest = &lower[at + 1..];
        let name = if rest.starts_with("script") {
            "script"
        } else if rest.starts_with("style") {
            "style"
        } else {
            ""
        };
        let after = rest.as_bytes().get(name.len()).copied();
        if name.is_empty() || !matches!(after, Some(b'>' | b' ' | b'\t' | b'\n' | b'\r' | b'/')) {
            i = at + 1;
            continue;
        }
        let Some(gt) = lower[at..].find('>') else { break };
        let content_start = at + gt + 1;
        let close = format!("</{name}");
        let Some(crel) = lower[content_start..].find(&close) else { break };
        let content_end = content_start + crel;
        out.push((content_start, content_end, name == "script", src[at..content_start].to_string()));
        i = content_end;
    }
    out
}

/// Phrasing elements: whitespace between two of them renders as a space.
const INLINE: &[&str] = &[
    "a", "abbr", "b", "bdi", "bdo", "button", "cite", "code", "data", "dfn", "em", "i", "img", "input", "kbd", "label", "mark", "meter", "output",
    "progress", "q", "s", "samp", "select", "small", "span", "strong", "sub", "sup", "svg", "textarea", "time", "u", "var",
];

/// The element name of the tag that ends at `gt` (`<name …>` or `</name>`), if it is one.
fn tag_ending_at(src: &str, gt: usize) -> Option<(String, bool)> {
    let lt = src[..gt].rfind('<')?;
    let inner = &src[lt + 1..gt];
    let (closing, inner) = match inner.strip_prefix('/') {
        Some(rest) => (true, rest),
        None => (false, inner),
    };
    let name: String = inner.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
    (!name.is_empty()).then(|| (name.to_ascii_lowercase(), closing))
}

/// Whitespace-only runs between an inline element's end and the next inline element's start,
/// which minify-html would drop inside layout elements such as `<div>` (changing the text).
fn significant_spaces(src: &str) -> Vec<(usize, usize)> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    for (gt, _) in src.match_indices('>') {
        let mut end = gt + 1;
        while end < b.len() && b[end].is_ascii_whitespace() {
            end += 1;
        }
        if end == gt + 1 || b.get(end) != Some(&b'<') {
            continue;
        }
        let Some((before, _)) = tag_ending_at(src, gt) else { continue };
        let next: String = src[end + 1..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        if INLINE.contains(&before.as_str()) && INLINE.contains(&next.to_ascii_lowercase().as_str()) {
            out.push((gt + 1, end));
        }
    }
    out
}

fn script_kind(open_tag: &str) -> Option<JsMode> {
    let lower = open_tag.to_ascii_lowercase();
    let Some(pos) = lower.find("type=") else { return Some(JsMode::Script) };
    let v = lower[pos + 5..].trim_start_matches(['"', '\'']);
    let v: String = v.chars().take_while(|c| !matches!(c, '"' | '\'' | ' ' | '>')).collect();
    match v.as_str() {
        "module" => Some(JsMode::Module),
        "" | "text/javascript" | "application/javascript" | "text/ecmascript" | "application/ecmascript" => Some(JsMode::Script),
        _ => None,
    }
}

pub fn minify(src: &str, name: &str, css_targets: lightningcss::targets::Targets) -> Result<String, Problem> {
    let lines = LineIndex::new(src);
    let tags = tags(src, &lines)?;
    // Ranges replaced before minify-html runs: (start, end, replacement kept verbatim).
    let mut keep: Vec<(usize, usize, String)> =
        protected_bodies(src, &tags, &lines)?.into_iter().map(|(s, e)| (s, e, src[s..e].to_string())).collect();
    for (start, end, is_script, open_tag) in raw_text_elements(src) {
        if keep.iter().any(|&(s, e, _)| start < e && s < end) {
            continue;
        }
        let content = &src[start..end];
        if content.trim().is_empty() {
            continue;
        }
        if has_template_syntax(content) {
            keep.push((start, end, content.to_string()));
            continue;
        }
        let shift = |p: Problem| {
            let (line0, col0) = lines.at(src, start);
            let col = if p.line == 1 { col0 + p.col - 1 } else { p.col };
            Problem { line: line0 + p.line - 1, col, message: p.message }
        };
        let minified = if is_script {
            match script_kind(&open_tag) {
                Some(mode) => js::minify(content, name, mode).map_err(shift)?,
                None => continue,
            }
        } else {
            css::minify(content, name, css_targets).map_err(shift)?
        };
        keep.push((start, end, minified));
    }
    for (s, e) in significant_spaces(src) {
        if !keep.iter().any(|&(ks, ke, _)| s < ke && ks < e) {
            keep.push((s, e, " ".to_string()));
        }
    }
    keep.sort_by_key(|k| k.0);
    // Placeholders are brace template tags, which minify-html passes through untouched.
    let marker = |n: usize| format!("{{%kiln:keep:{n}%}}");
    if src.contains("{%kiln:keep:") {
        return Err(Problem { line: 1, col: 1, message: "template contains kiln's reserved marker {%kiln:keep:".into() });
    }
    let mut staged = String::with_capacity(src.len());
    let mut pos = 0;
    for (n, (s, e, _)) in keep.iter().enumerate() {
        staged.push_str(&src[pos..*s]);
        staged.push_str(&marker(n));
        pos = *e;
    }
    staged.push_str(&src[pos..]);
    let mut cfg = minify_html::Cfg::new();
    cfg.preserve_brace_template_syntax = true;
    cfg.preserve_chevron_percent_template_syntax = true;
    // Templates are fragments that other templates complete: keep every tag explicit.
    cfg.keep_closing_tags = true;
    cfg.keep_html_and_head_opening_tags = true;
    cfg.keep_ssi_comments = true;
    cfg.minify_js = false;
    cfg.minify_css = false;
    let out = minify_html::minify(staged.as_bytes(), &cfg);
    let mut out = String::from_utf8(out).map_err(|_| Problem { line: 1, col: 1, message: "minified HTML is not UTF-8".into() })?;
    for (n, (_, _, text)) in keep.iter().enumerate() {
        let m = marker(n);
        match out.find(&m) {
            Some(at) => out.replace_range(at..at + m.len(), text),
            None => return Err(Problem { line: 1, col: 1, message: format!("internal: placeholder {n} lost by the HTML minifier") }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> lightningcss::targets::Targets {
        Default::default()
    }

    #[test]
    fn keeps_template_syntax_and_whitespace_sensitive_content() {
        let src = "<div class=\"a  b\">\n  {% if x %}\n    <b>Price:</b> <span>{{ price }}</span>\n  {% end %}\n  {# note #}\n  <%= legacy %>\n</div>\n<pre>\n  keep\n    this\n</pre>\n<textarea>\n a\n  b\n</textarea>\n";
        let out = minify(src, "t.html", t()).unwrap();
        for must in [
            "{% if x %}",
            "{{ price }}",
            "{% end %}",
            "{# note #}",
            "<%= legacy %>",
            "<pre>\n  keep\n    this\n</pre>",
            "<b>Price:</b> <span>",
            "<textarea>\n a\n  b\n</textarea>",
        ] {
            assert!(out.contains(must), "{must:?} lost in {out:?}");
        }
        assert!(out.len() < src.len());
    }

    #[test]
    fn scripts_with_template_tags_are_untouched_others_minified() {
        let src = "<script>\n  var count = {{ len(items) }};\n  {{ x }}\n</script>\n<script>\n  function hello(name) { return 'hi ' + name; }\n  window.hello = hello;\n</script>\n<style>\n  a { color: #ff0000; }\n</style>\n";
        let out = minify(src, "t.html", t()).unwrap();
        assert!(out.contains("\n  var count = {{ len(items) }};\n  {{ x }}\n"), "{out}");
        assert!(out.contains("function hello(") && !out.contains("return 'hi '"), "{out}");
        assert!(out.contains("a{color:red}"), "{out}");
    }

    #[test]
    fn apply_block_bodies_keep_their_lines() {
        let src = "<head>\n  {% apply assetman.include_js %}\n    js/a.js\n    js/b.js\n  {% end %}\n  {% assetman include_css %}\n    css/a.css\n    css/b.css\n  {% endassetman %}\n</head>";
        let out = minify(src, "t.html", t()).unwrap();
        assert!(out.contains("{% apply assetman.include_js %}\n    js/a.js\n    js/b.js\n  {% end %}"), "{out}");
        assert!(out.contains("\n    css/a.css\n    css/b.css\n  {% endassetman %}"), "{out}");
    }

    #[test]
    fn broken_tags_and_inline_errors_have_positions() {
        let e = minify("<p>\n  {{ name </p>\n", "t.html", t()).unwrap_err();
        assert_eq!((e.line, e.col, e.message.as_str()), (2, 3, "unterminated template tag: {{ has no }}"));
        let e = minify("<p>\n{% apply f %}\nx\n", "t.html", t()).unwrap_err();
        assert_eq!((e.line, e.col), (2, 1), "{e:?}");
        let e = minify("<p>x</p>\n<script>\nvar a = 1;\nvar b = ;\n</script>", "t.html", t()).unwrap_err();
        assert_eq!((e.line, e.col), (4, 9), "{e:?}");
    }
}
