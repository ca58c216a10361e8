//! A tokenizer for Tornado/Jinja/Django-style templates: `{{ expr }}`, `{% stmt %}`, `{# … #}`
//! (and legacy `<% %>`), with Tornado's `{{!`/`{%!` escapes, plus the block structure kiln needs:
//! which `{% end %}` closes which `{% apply %}`.

use crate::diag::{LineIndex, Problem};

pub const OPENERS: [(&str, &str); 4] = [("{{", "}}"), ("{%", "%}"), ("{#", "#}"), ("<%", "%>")];

pub fn has_template_syntax(s: &str) -> bool {
    OPENERS.iter().any(|(o, _)| s.contains(o))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagKind {
    /// `{{ … }}`
    Expr,
    /// `{% … %}`
    Stmt,
    /// `{# … #}`
    Comment,
    /// `<% … %>`
    Legacy,
}

/// A template tag: its byte span, its kind, its trimmed inside and, for statements, the first word.
#[derive(Debug, Clone)]
pub struct Tag {
    pub start: usize,
    pub end: usize,
    pub kind: TagKind,
    pub inner: String,
    pub word: String,
}

impl Tag {
    pub fn is_stmt(&self) -> bool {
        self.kind == TagKind::Stmt
    }
}

/// Every tag of `src` in order; an opener without its closer is an error at the opener.
pub fn tags(src: &str, lines: &LineIndex) -> Result<Vec<Tag>, Problem> {
    let mut out = Vec::new();
    let b = src.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        let two = &b[i..i + 2];
        let Some(n) = OPENERS.iter().position(|(o, _)| o.as_bytes() == two) else {
            i += 1;
            continue;
        };
        let (open, close) = OPENERS[n];
        // Tornado's `{{!`/`{%!` write the delimiters literally.
        if b.get(i + 2) == Some(&b'!') && (open == "{{" || open == "{%") {
            i += 3;
            continue;
        }
        let Some(rel) = src[i + 2..].find(close) else {
            return Err(lines.problem(src, i, format!("unterminated template tag: {open} has no {close}")));
        };
        let end = i + 2 + rel + 2;
        // `{{ a </h1> … {{ b }}`: the closer found belongs to a later tag.
        if matches!(open, "{{" | "{%") && opener_outside_strings(&src[i + 2..end - 2]) {
            return Err(lines.problem(src, i, format!("unterminated template tag: {open} has no {close}")));
        }
        let inner = src[i + 2..end - 2].trim().to_string();
        let kind = [TagKind::Expr, TagKind::Stmt, TagKind::Comment, TagKind::Legacy][n];
        let word = if kind == TagKind::Stmt { inner.split(|c: char| c.is_whitespace()).next().unwrap_or("").to_string() } else { String::new() };
        out.push(Tag { start: i, end, kind, inner, word });
        i = end;
    }
    Ok(out)
}

/// Whether a tag's inside holds the start of another tag outside Python string literals.
fn opener_outside_strings(inner: &str) -> bool {
    let b = inner.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        match (quote, b[i]) {
            (Some(_), b'\\') => i += 1,
            (Some(q), c) if c == q => quote = None,
            (None, c @ (b'"' | b'\'')) => quote = Some(c),
            (None, b'{') if matches!(b.get(i + 1), Some(b'{' | b'%')) => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// Tornado statements that a `{% end %}` closes.
pub const TORNADO_BLOCKS: &[&str] = &["apply", "autoescape_block", "block", "for", "if", "try", "while", "with"];

/// For the block statement `tags[i]` (`{% apply %}` or Django's `{% assetman %}`), the index of
/// the tag that closes it, or `None` when `tags[i]` opens no such block.
pub fn block_end(src: &str, tags: &[Tag], i: usize, lines: &LineIndex) -> Result<Option<usize>, Problem> {
    let t = &tags[i];
    let (closer, nests): (&str, bool) = match (t.kind, t.word.as_str()) {
        (TagKind::Stmt, "apply") => ("end", true),
        (TagKind::Stmt, "assetman") => ("endassetman", false),
        _ => return Ok(None),
    };
    let mut depth = 0;
    for (j, u) in tags.iter().enumerate().skip(i + 1) {
        if !u.is_stmt() {
            continue;
        }
        if nests && TORNADO_BLOCKS.contains(&u.word.as_str()) {
            depth += 1;
        } else if u.word == closer {
            if depth == 0 {
                return Ok(Some(j));
            }
            depth -= 1;
        }
    }
    Err(lines.problem(src, t.start, format!("{{% {} %}} has no {{% {closer} %}}", t.word)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizes_every_tag_kind_and_escapes() {
        let src = "a {{ x }} {%! raw %} {% if y %}{# c #}<% z %>{% end %}";
        let lines = LineIndex::new(src);
        let t = tags(src, &lines).unwrap();
        let kinds: Vec<TagKind> = t.iter().map(|t| t.kind).collect();
        assert_eq!(kinds, [TagKind::Expr, TagKind::Stmt, TagKind::Comment, TagKind::Legacy, TagKind::Stmt]);
        assert_eq!(t[1].word, "if");
        assert_eq!(t[0].inner, "x");
    }

    #[test]
    fn a_tag_closed_only_by_a_later_tag_is_unterminated() {
        let src = "<h1>{{ name </h1>\n<p>{{ x }}</p>";
        let e = tags(src, &LineIndex::new(src)).unwrap_err();
        assert_eq!((e.line, e.col), (1, 5));
        let ok = "{{ '{{' + x }}";
        assert!(tags(ok, &LineIndex::new(ok)).is_ok());
    }

    #[test]
    fn apply_blocks_close_at_their_own_end() {
        let src = "{% apply f %}{% if a %}x{% end %}y{% end %}{% end %}";
        let lines = LineIndex::new(src);
        let t = tags(src, &lines).unwrap();
        assert_eq!(block_end(src, &t, 0, &lines).unwrap(), Some(3));
        let bad = "\n{% assetman include_js %}a.js";
        let l2 = LineIndex::new(bad);
        let t2 = tags(bad, &l2).unwrap();
        let e = block_end(bad, &t2, 0, &l2).unwrap_err();
        assert_eq!((e.line, e.col), (2, 1));
    }
}
