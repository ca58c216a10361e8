//! HTML and templates with minify-html. Template syntax (`{{ }}`, `{% %}`, `{# #}`, `<% %>`) is
//! kept byte for byte. Inline scripts and styles are minified with kiln's own engines, except
//! those that hold template tags, which come out unchanged; so do the bodies of
//! `{% apply … %}…{% end %}` (Assetman blocks list one path per line).

use super::css;
use super::js::{self, JsMode};
use crate::diag::{LineIndex, Problem};
use crate::scan::template::{block_end, has_template_syntax, tags, Tag, TagKind};

/// Byte ranges whose content must not change: bodies of `{% apply %}` (Tornado) and
/// `{% assetman %}` (Django) blocks.
fn protected_bodies(src: &str, tags: &[Tag], lines: &LineIndex) -> Result<Vec<(usize, usize)>, Problem> {
    let mut out = Vec::new();
    for i in 0..tags.len() {
        if let Some(j) = block_end(src, tags, i, lines)? {
            // A block inside another block's body is kept with it.
            if !out.iter().any(|&(s, e)| s <= tags[i].start && tags[i].start < e) {
                out.push((tags[i].end, tags[j].start));
            }
        }
    }
    Ok(out)
}

/// A start tag as minify-html reads it (`<` and a tag-name character, then attributes).
#[derive(Debug)]
struct StartTag {
    start: usize,
    /// Just past its `>` (or the end of the input, with `closed` false).
    end: usize,
    closed: bool,
    /// Lower case, as minify-html compares it.
    name: String,
    /// A template tag outside quoted values: among the attributes, or in a name.
    templated: bool,
    /// The first place where a browser and minify-html read the tag differently.
    misread: Option<(usize, String)>,
}

/// The markup outside template tags, read the way minify-html 0.18 reads it (parse/content.rs,
/// parse/element.rs): kiln must find the script and style elements and the start tags that the
/// minifier finds, or it minifies text as code (`<m<script>x`: `<script` is an attribute there)
/// or leaves code unchecked behind a construct it misread (`</<script>` is a dropped malformed
/// tag, not a script).
#[derive(Debug, Default)]
struct Markup {
    start_tags: Vec<StartTag>,
    /// `<script>` and `<style>` elements with a closing tag: (content start, content end,
    /// is_script, open tag). An unclosed one runs to the end and is left as it is.
    raw: Vec<(usize, usize, bool, String)>,
    /// HTML comments (an unclosed one runs to the end, as in a browser).
    comments: Vec<(usize, usize)>,
}

fn is_tag_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b':' || c == b'-'
}

fn is_space(c: u8) -> bool {
    matches!(c, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

/// `opaque` ranges (block bodies, kept verbatim) are skipped like template tags.
fn read_markup(src: &str, tags: &[Tag], opaque: &[(usize, usize)]) -> Markup {
    let b = src.as_bytes();
    let lower = src.to_ascii_lowercase();
    let tag_end: std::collections::HashMap<usize, usize> =
        tags.iter().map(|t| (t.start, t.end)).chain(opaque.iter().copied().filter(|&(s, e)| s < e)).collect();
    let find = |from: usize, pat: &str| lower[from..].find(pat).map(|r| from + r);
    let mut m = Markup::default();
    let mut i = 0;
    while i < b.len() {
        if let Some(&e) = tag_end.get(&i) {
            i = e;
            continue;
        }
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &lower[i..];
        if rest.starts_with("<!--") {
            let end = find(i + 4, "-->").map_or(b.len(), |e| e + 3);
            m.comments.push((i, end));
            i = end;
        } else if rest.starts_with("<!") {
            i = find(i + 2, ">").map_or(b.len(), |e| e + 1);
        } else if rest.starts_with("<?") {
            i = find(i + 2, "?>").map_or(b.len(), |e| e + 2);
        } else if rest.starts_with("</") {
            // A closing tag's attributes are read (and dropped) like a start tag's; `</` without a
            // name is dropped up to the next `>`.
            i = if b.get(i + 2).copied().is_some_and(is_tag_name_char) {
                read_tag(src, i, &tag_end).end
            } else {
                find(i + 2, ">").map_or(b.len(), |e| e + 1)
            };
        } else if b.get(i + 1).copied().is_some_and(is_tag_name_char) {
            let tag = read_tag(src, i, &tag_end);
            let (start, name) = (tag.start, tag.name.clone());
            i = tag.end;
            m.start_tags.push(tag);
            if matches!(name.as_str(), "script" | "style" | "textarea" | "title") {
                // Raw text up to the closing tag, whatever it holds.
                match find(i, &format!("</{name}")) {
                    Some(close) => {
                        if name == "script" || name == "style" {
                            m.raw.push((i, close, name == "script", src[start..i].to_string()));
                        }
                        i = close;
                    }
                    None => i = b.len(),
                }
            }
        } else {
            i += 1;
        }
    }
    m
}

/// Reads the tag at `start` (`<name …>` or `</name …>`) as minify-html does; template tags
/// (`tag_end`: start → end) are skipped whole.
fn read_tag(src: &str, start: usize, tag_end: &std::collections::HashMap<usize, usize>) -> StartTag {
    let b = src.as_bytes();
    let char_at = |at: usize| src[at..].chars().next().unwrap_or(' ');
    let mut misread: Option<(usize, String)> = None;
    let mut note = |at: usize, message: String| {
        misread.get_or_insert((at, message));
    };
    let mut j = start + 1;
    if b.get(j) == Some(&b'/') {
        j += 1;
    }
    let name_start = j;
    while j < b.len() && is_tag_name_char(b[j]) {
        j += 1;
    }
    let name = src[name_start..j].to_ascii_lowercase();
    if !b[name_start].is_ascii_alphabetic() {
        note(start, format!("`<{}` is text to a browser but a tag to the HTML minifier (write `&lt;` for a `<` in text)", char_at(name_start)));
    }
    if j < b.len() && !(is_space(b[j]) || b[j] == b'/' || b[j] == b'>' || tag_end.contains_key(&j)) {
        note(j, format!("{:?} in a tag name: a browser reads it as part of the name, the HTML minifier as the start of an attribute", char_at(j)));
    }
    let mut templated = false;
    let (end, closed) = loop {
        while j < b.len() && (is_space(b[j]) || b[j] == b'/') {
            j += 1;
        }
        let Some(&c) = b.get(j) else { break (b.len(), false) };
        if c == b'>' {
            break (j + 1, true);
        }
        if let Some(&e) = tag_end.get(&j) {
            templated = true;
            j = e;
            continue;
        }
        // An attribute name: its first character may be `=`; it ends at a space, `/`, `=` or `>`.
        if matches!(c, b'=' | b'"' | b'\'' | b'<') {
            note(j, format!("{:?} in an attribute name (the HTML minifier would rewrite the tag so that it reads differently)", char_at(j)));
        }
        j += 1;
        while j < b.len() && !(is_space(b[j]) || matches!(b[j], b'/' | b'=' | b'>')) {
            if let Some(&e) = tag_end.get(&j) {
                templated = true;
                j = e;
                continue;
            }
            if matches!(b[j], b'"' | b'\'' | b'<') {
                note(j, format!("{:?} in an attribute name (the HTML minifier would rewrite the tag so that it reads differently)", char_at(j)));
            }
            j += 1;
        }
        while j < b.len() && is_space(b[j]) {
            j += 1;
        }
        if b.get(j) != Some(&b'=') {
            continue;
        }
        j += 1;
        while j < b.len() && is_space(b[j]) {
            j += 1;
        }
        match b.get(j) {
            Some(&q @ (b'"' | b'\'')) => {
                j += 1;
                while j < b.len() && b[j] != q {
                    j = tag_end.get(&j).copied().unwrap_or(j + 1);
                }
                j = (j + 1).min(b.len());
            }
            _ => {
                while j < b.len() && !(is_space(b[j]) || b[j] == b'>') {
                    if let Some(&e) = tag_end.get(&j) {
                        templated = true;
                        j = e;
                    } else {
                        j += 1;
                    }
                }
            }
        }
    };
    StartTag { start, end, closed, name, templated, misread }
}

/// minify-html must leave every template tag as it was; where it did not, the first tag it
/// changed is the error (kiln refuses rather than write a broken template). Tags are compared as
/// a multiset: minify-html sorts the attributes of a tag, which reorders the tags in quoted values
/// (`alt="{{ a }}" src="{{ b }}"`) harmlessly; tags among attributes are kept whole before it runs.
fn check_template_tags(src: &str, src_tags: &[Tag], out: &str, lines: &LineIndex) -> Result<(), Problem> {
    let out_lines = LineIndex::new(out);
    let out_tags = tags(out, &out_lines);
    let unreadable = out_tags.is_err();
    let out_tags = out_tags.unwrap_or_default();
    let mut left: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for t in &out_tags {
        *left.entry(&out[t.start..t.end]).or_default() += 1;
    }
    let mut missing = None;
    for t in src_tags {
        match left.get_mut(&src[t.start..t.end]) {
            Some(n) if *n > 0 => *n -= 1,
            _ => {
                missing = Some(t.start);
                break;
            }
        }
    }
    let at = match missing {
        Some(at) => at,
        None if unreadable => {
            // Text joined across a dropped tag or comment (`{</>#` gives `{#`).
            let in_tag = |at: usize| src_tags.iter().any(|t| t.start <= at && at < t.end);
            let at = src.match_indices(['{', '<', '%', '#', '}']).map(|(i, _)| i).find(|&i| !in_tag(i)).unwrap_or(src.len());
            return Err(lines.problem(
                src,
                at,
                "the HTML minifier would join text into template syntax here (kiln-minify cannot minify this template safely)",
            ));
        }
        None if src_tags.len() == out_tags.len() => return Ok(()),
        None => src.len(),
    };
    Err(lines.problem(src, at, "the HTML minifier would change this template tag here (kiln-minify cannot minify this template safely)"))
}

/// Phrasing elements: whitespace between two of them renders as a space.
const INLINE: &[&str] = &[
    "a", "abbr", "b", "bdi", "bdo", "button", "cite", "code", "data", "dfn", "em", "i", "img", "input", "kbd", "label", "mark", "meter", "output",
    "progress", "q", "s", "samp", "select", "small", "span", "strong", "sub", "sup", "svg", "textarea", "time", "u", "var", "br", "wbr",
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
/// Template tags count as inline content too (what they output is usually text), so the space
/// between `<b>x</b>` and `{{ name }}`, or between `{{ a }}` and `{% end %}`, stays.
fn significant_spaces(src: &str, tags: &[Tag]) -> Vec<(usize, usize)> {
    let b = src.as_bytes();
    let starts_inline = |at: usize| {
        if src[at..].starts_with("{{") || src[at..].starts_with("{%") || src[at..].starts_with("<%") {
            return true;
        }
        if b.get(at) != Some(&b'<') {
            return false;
        }
        let next: String = src[at + 1..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
        INLINE.contains(&next.to_ascii_lowercase().as_str())
    };
    let mut out = Vec::new();
    let tag_ends: Vec<usize> = tags.iter().filter(|t| t.kind != TagKind::Comment).map(|t| t.end).collect();
    // Whether inline content ends at `at`: an inline element's tag, a template tag, or text. An
    // HTML comment, which minify-html drops, counts as what stands before it (`x<!-- c --> {{ a }}`
    // renders "x Ann", and without the space "xAnn").
    let ends_inline = |end: usize| {
        let mut at = end;
        while let Some(before) = src[..at].strip_suffix("-->") {
            match before.rfind("<!--") {
                Some(open) => at = open,
                None => return false,
            }
        }
        match at.checked_sub(1).map(|i| b[i]) {
            Some(b'>') => tag_ends.contains(&at) || tag_ending_at(src, at - 1).is_some_and(|(before, _)| INLINE.contains(&before.as_str())),
            Some(c) => !c.is_ascii_whitespace(),
            None => false,
        }
    };
    // Whitespace inside <pre> and <textarea> is content; minify-html keeps it as it is.
    let lower = src.to_ascii_lowercase();
    let mut verbatim = Vec::new();
    for name in ["pre", "textarea"] {
        let mut i = 0;
        while let Some(rel) = lower[i..].find(&format!("<{name}")) {
            let at = i + rel;
            let end = lower[at..].find(&format!("</{name}")).map_or(src.len(), |r| at + r);
            verbatim.push((at, end));
            i = end.max(at + 1);
        }
    }
    for (gt, _) in src.match_indices('>') {
        if verbatim.iter().any(|&(s, e)| s < gt && gt < e) {
            continue;
        }
        let mut end = gt + 1;
        while end < b.len() && b[end].is_ascii_whitespace() {
            end += 1;
        }
        if end == gt + 1 || end == b.len() {
            continue;
        }
        let after_inline = ends_inline(gt + 1);
        if after_inline && starts_inline(end) {
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
    let bodies: Vec<(usize, usize)> = keep.iter().map(|k| (k.0, k.1)).collect();
    let markup = read_markup(src, &tags, &bodies);
    // A block that starts inside a tag (`<a title="{% apply f %}">…{% end %}`) would be kept
    // across the tag's end, which minify-html then reads differently.
    for &(s, _) in &bodies {
        if markup.start_tags.iter().any(|t| t.start < s && s < t.end) {
            let open = tags.iter().find(|t| t.end == s).map_or(s, |t| t.start);
            return Err(lines.problem(src, open, "a block that starts inside an HTML tag (kiln-minify cannot minify this template safely)"));
        }
    }
    // Markup that a browser and minify-html read differently is refused, not rewritten.
    if let Some((at, message)) =
        markup.start_tags.iter().filter(|t| !keep.iter().any(|&(s, e, _)| t.start < e && s < t.end)).find_map(|t| t.misread.clone())
    {
        return Err(lines.problem(src, at, message));
    }
    for (start, end, is_script, open_tag) in markup.raw {
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
    for (s, e) in markup.comments.into_iter().filter(|&(s, e)| has_template_syntax(&src[s..e])) {
        if !keep.iter().any(|&(ks, ke, _)| s < ke && ks < e) {
            keep.push((s, e, src[s..e].to_string()));
        }
    }
    for (s, e) in significant_spaces(src, &tags) {
        if !keep.iter().any(|&(ks, ke, _)| s < ke && ks < e) {
            keep.push((s, e, " ".to_string()));
        }
    }
    // Start tags with template tags among their attributes stay as written; minify-html sees
    // `<name kiln-keep-N>` (the element is still there, for whitespace and closing tags).
    let skip: Vec<(usize, usize)> = keep.iter().map(|k| (k.0, k.1)).collect();
    let start_tags: Vec<_> = markup
        .start_tags
        .into_iter()
        .filter(|t| t.templated && t.closed && !skip.iter().any(|&(ks, ke)| t.start < ke && ks < t.end))
        .map(|t| (t.start, t.end, t.name))
        .collect();
    let mut keep: Vec<(usize, usize, String, Option<String>)> = keep.into_iter().map(|(s, e, t)| (s, e, t, None)).collect();
    keep.extend(start_tags.into_iter().map(|(s, e, name)| (s, e, src[s..e].to_string(), Some(name))));
    keep.sort_by_key(|k| k.0);
    // Placeholders are brace template tags, which minify-html passes through untouched, or
    // start tags with one bare attribute.
    let marker = |n: usize, element: &Option<String>| match element {
        None => format!("{{%kiln:keep:{n}%}}"),
        Some(name) => format!("<{name} kiln-keep-{n}>"),
    };
    if src.contains("{%kiln:keep:") || src.contains("kiln-keep-") {
        return Err(Problem { line: 1, col: 1, message: "template contains kiln's reserved marker {%kiln:keep: or kiln-keep-".into() });
    }
    let mut staged = String::with_capacity(src.len());
    let mut pos = 0;
    for (n, (s, e, _, element)) in keep.iter().enumerate() {
        staged.push_str(&src[pos..*s]);
        staged.push_str(&marker(n, element));
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
    for (n, (s, _, text, element)) in keep.iter().enumerate() {
        let m = marker(n, element);
        match out.find(&m) {
            Some(at) => out.replace_range(at..at + m.len(), text),
            None => {
                return Err(lines.problem(
                    src,
                    *s,
                    "the HTML minifier would drop or change this part (kiln-minify cannot minify this template safely)",
                ))
            }
        }
    }
    check_template_tags(src, &tags, &out, &lines)?;
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

    /// Found by the render comparison of fuzz-generated templates (tests/fuzz.rs): a dropped
    /// comment joined the text before it to a template tag after it, and so did a `<br>`.
    #[test]
    fn the_space_after_a_dropped_comment_or_a_br_before_a_template_tag_stays() {
        for (src, must) in [
            ("<ul><li>x<!-- c --> {{ name }} {% end %}</li></ul>", "x {{ name }}"),
            ("<div>x<!-- a --><!-- b -->  {{ name }}</div>", "x {{ name }}"),
            ("<div><b>x</b><!-- c --> <i>y</i></div>", "</b> <i>"),
            ("<div>{{ x }}<br> {{ name }} </div>", "<br> {{ name }}"),
        ] {
            let out = minify(src, "t.html", t()).unwrap();
            assert!(out.contains(must), "{must:?} lost in {out:?} (from {src:?})");
            assert!(!out.contains("<!--"), "{out}");
        }
        // Where a browser shows no space, none is kept: after a block's start.
        let out = minify("<div><!-- c --> {{ name }}</div>", "t.html", t()).unwrap();
        assert_eq!(out, "<div>{{ name }}</div>");
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

    /// Found by the fuzzer (fuzz/regressions/minify_html/): minify-html sorts and merges
    /// attributes, which scrambled template tags among them.
    #[test]
    fn template_tags_among_attributes_stay_in_place() {
        for src in [
            "<input type=\"checkbox\" {% if c %}checked{% end %}>",
            "<option {{ 'selected' if s else '' }}>a</option>",
            "<div {% if a %}class=\"b\"{% end %} id=\"c\">\n  x\n</div>",
            "<p class={{ c }}>x</p>",
            "<pre {% if a %}id=x{% end %}>\n  kept\n</pre>",
        ] {
            let out = minify(src, "t.html", t()).unwrap();
            let open = &src[..src.find('>').unwrap() + 1];
            assert!(out.contains(open), "{src:?} -> {out:?}");
        }
        let out = minify("<pre {% if a %}id=x{% end %}>\n  kept\n</pre>", "t.html", t()).unwrap();
        assert!(out.contains("\n  kept\n</pre>"), "{out:?}");
    }

    /// Found by the fuzzer: comments were dropped with the template tags in them.
    #[test]
    fn comments_with_template_tags_are_kept() {
        let out = minify("<p>a</p>\n<!-- {% block x %} -->\n<p>b</p><!-- plain -->", "t.html", t()).unwrap();
        assert!(out.contains("<p>a</p><!-- {% block x %} -->") && !out.contains("plain"), "{out:?}");
        assert_eq!(minify("<!--{{}}", "t.html", t()).unwrap(), "<!--{{}}");
    }

    /// Found by the fuzzer: minify-html reads `<style%>` as a style element (and writes
    /// `<style %>`), so kiln does too; a template tag inside an unfinished tag is refused.
    #[test]
    fn tags_minify_html_reads_differently_are_errors_not_rewrites() {
        let e = minify("<style%>'</style", "t.html", t()).unwrap_err();
        assert_eq!((e.line, e.col), (1, 7), "{e:?}");
        assert!(e.message.starts_with("'%' in a tag name"), "{e:?}");
        let e = minify("<p>\n<e{% %}", "t.html", t()).unwrap_err();
        assert_eq!((e.line, e.col), (2, 3), "{e:?}");
    }

    /// Found by the fuzzer: a start tag with a template tag in it that also held a comment, and
    /// a `<script>` inside a template tag.
    #[test]
    fn overlapping_kept_parts_and_script_in_a_template_tag() {
        for src in
            ["{% extends \"base.html\" %}\n<s\"\"{{\"<!--{{}}>", "{% </textarea>se.html\" %}\n<input\"> <span\"{{}}>", "{%<script>%}<t{% %}</script"]
        {
            if let Ok(out) = minify(src, "t.html", t()) {
                minify(&out, "t.html", t()).unwrap_or_else(|e| panic!("{src:?} -> {out:?} -> {e:?}"));
            }
        }
    }

    /// Found by the fuzzer (fuzz/regressions/minify_html/): broken markup that minify-html reads
    /// differently from a browser came out so that it minified differently again, or not at all.
    /// kiln now reads the markup as minify-html does, and refuses what a browser reads otherwise.
    #[test]
    fn markup_a_browser_reads_differently_is_refused_with_its_position() {
        for (src, at, starts) in [
            // A browser's tag name is `m<script`; minify-html's is `m`, with an attribute `<script`.
            ("<p>\n<m<script>x</script>", (2, 3), "'<' in a tag name"),
            // A browser's tag name is `h="`; minify-html wrote `<h " =">`, which reads differently again.
            ("<h=\" \">{%\"%}", (1, 3), "'=' in a tag name"),
            ("<h =\"a\">", (1, 4), "'=' in an attribute name"),
            ("<g \"{%%}\">", (1, 4), "'\"' in an attribute name"),
            ("<p>I <3 you</p>", (1, 6), "`<3` is text to a browser"),
        ] {
            let e = minify(src, "t.html", t()).unwrap_err();
            assert_eq!((e.line, e.col), at, "{src:?}: {e:?}");
            assert!(e.message.starts_with(starts), "{src:?}: {e:?}");
        }
        // Inside quoted values, comments, scripts and template tags nothing of that is markup.
        for src in ["<a title=\"<m<script> =x\">y</a>", "<!-- <h=x> -->", "<script>if (a <3) b()</script>", "{% if a <3 %}x{% end %}"] {
            let out = minify(src, "t.html", t()).unwrap_or_else(|e| panic!("{src:?}: {e:?}"));
            assert_eq!(minify(&out, "t.html", t()).unwrap(), out, "{src:?}");
        }
    }

    /// Found by the fuzzer: `</<script>` is a malformed end tag that minify-html drops (a browser
    /// reads a bogus comment), not a script; kiln took it for an unclosed script and stopped
    /// looking, so the style after it went out unchecked and failed the next minify.
    #[test]
    fn a_malformed_end_tag_hides_no_script_or_style() {
        let e = minify("</<script><style>a{c lo\u{fffd}}</style>", "t.html", t()).unwrap_err();
        assert_eq!((e.line, e.col), (1, 21), "{e:?}");
        let out = minify("</<script><style>a { color : red }</style>", "t.html", t()).unwrap();
        assert_eq!(out, "<style>a{color:red}</style>");
        // An unclosed script runs to the end, as it does for minify-html, and is left as it is.
        let out = minify("<p>a</p> <script>var  a = 1; <b>", "t.html", t()).unwrap();
        assert_eq!(out, "<p>a</p><script>var  a = 1; <b>");
        // A textarea's content is text, not a script.
        let src = "<textarea><script>var  a = 1;</script></textarea>";
        assert_eq!(minify(src, "t.html", t()).unwrap(), src);
    }

    /// Found by the fuzzer: nested blocks gave overlapping kept ranges (a slice panic); a block
    /// opened inside a tag's attribute was kept across the tag's end; text joined across a
    /// dropped malformed tag made template syntax (`{</>#` → `{#`) that went out unchecked.
    #[test]
    fn nested_blocks_blocks_in_tags_and_joined_template_syntax() {
        // An empty body after one that the first `{% end %}` closes (an endless loop).
        assert_eq!(minify("{n%}{%apply%}{%end%}{%end%}", "t.html", t()).unwrap(), "{n%}{%apply%}{%end%}{%end%}");
        let src = "{n\n{%apply%}{%apply%}{%end%}{%end%}";
        let out = minify(src, "t.html", t()).unwrap();
        assert_eq!(minify(&out, "t.html", t()).unwrap(), out);
        assert!(out.ends_with("{%apply%}{%apply%}{%end%}{%end%}"), "{out:?}");
        let e = minify("<p>\n<m a=\"{%apply%}\">{%end%}<i>", "t.html", t()).unwrap_err();
        assert_eq!((e.line, e.col), (2, 7), "{e:?}");
        let e = minify("x {</>#", "t.html", t()).unwrap_err();
        assert_eq!((e.line, e.col), (1, 3), "{e:?}");
        assert!(e.message.contains("join text into template syntax"), "{e:?}");
    }
}
