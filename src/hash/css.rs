//! Finds the URL references of a stylesheet through lightningcss's AST (so URLs in comments
//! are never seen) and locates each one's exact byte span in the source, so a rewrite changes
//! those bytes and nothing else.

use std::convert::Infallible;

use lightningcss::rules::CssRule;

use crate::diag::{self, LineIndex, Problem};
use lightningcss::stylesheet::{ParserOptions, StyleSheet};
use lightningcss::values::url::Url;
use lightningcss::visit_types;
use lightningcss::visitor::{Visit, VisitTypes, Visitor};

/// One `url(…)` or `@import "…"` in a stylesheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CssRef {
    /// The URL as written (unescaped by the CSS tokenizer).
    pub url: String,
    /// Byte span of the whole token in the source (`url(…)` or the quoted string).
    pub start: usize,
    pub end: usize,
    /// 1-based line and column of the token, for messages.
    pub line: usize,
    pub col: usize,
    /// Whether the token is a `url(…)` (else a bare string, as `@import "x.css"` allows).
    pub is_url_fn: bool,
    /// For an `@import`: the byte span of the whole rule, `@import` to `;` inclusive.
    pub import_rule: Option<(usize, usize)>,
}

/// Where a reference was seen: 0-based line, 1-based column in UTF-16 units.
struct Collector {
    found: Vec<(String, u32, u32, bool)>,
}

impl<'i> Visitor<'i> for Collector {
    type Error = Infallible;

    fn visit_types(&self) -> VisitTypes {
        visit_types!(URLS | RULES)
    }

    fn visit_url(&mut self, url: &mut Url<'i>) -> Result<(), Self::Error> {
        // Url locations count lines from 1, rule locations from 0.
        self.found.push((url.url.to_string(), url.loc.line.saturating_sub(1), url.loc.column, false));
        Ok(())
    }

    fn visit_rule(&mut self, rule: &mut lightningcss::rules::CssRule<'i>) -> Result<(), Self::Error> {
        if let CssRule::Import(import) = rule {
            self.found.push((import.url.to_string(), import.loc.line, import.loc.column, true));
        }
        rule.visit_children(self)
    }
}

/// Parses `source` and returns its references in source order.
pub fn find_refs(source: &str, filename: &str) -> Result<Vec<CssRef>, Problem> {
    check_structure(source)?;
    let options = ParserOptions { filename: filename.to_string(), error_recovery: false, ..ParserOptions::default() };
    let mut sheet = StyleSheet::parse(source, options).map_err(|e| diag::from_lightningcss(source, e))?;
    let mut collector = Collector { found: Vec::new() };
    let Ok(()) = sheet.visit(&mut collector);
    let lines = LineIndex::new(source);
    let mut refs = Vec::with_capacity(collector.found.len());
    for (url, line, column, is_import) in collector.found {
        let at = byte_offset(source, lines.line_start(line as usize, source), column as usize);
        if let Some(mut r) = token_at(source, at, url) {
            if is_import {
                let rule_start = source[..r.start].rfind('@').unwrap_or(r.start);
                r.import_rule = Some((rule_start, rule_end(source.as_bytes(), r.end)));
            }
            refs.push(r);
        }
    }
    refs.sort_by_key(|r| r.start);
    refs.dedup_by_key(|r| r.start);
    for r in &mut refs {
        (r.line, r.col) = lines.at(source, r.start);
    }
    Ok(refs)
}

/// The structure check is the minifier's (hash calls into minify, never the reverse).
pub use crate::minify::css::check_structure;

/// lightningcss locations are a 0-based line and a 1-based column in UTF-16 units.
fn byte_offset(source: &str, start: usize, col_utf16: usize) -> usize {
    let mut units = 1;
    for (i, c) in source[start..].char_indices() {
        if units >= col_utf16 {
            return start + i;
        }
        units += c.len_utf16();
    }
    source.len()
}

/// From `at` (which may sit on whitespace, a comment or an `@import` keyword before the token),
/// finds the `url(…)` or string token and its span.
fn token_at(source: &str, mut at: usize, url: String) -> Option<CssRef> {
    let b = source.as_bytes();
    loop {
        at = skip_ws_and_comments(b, at);
        if b.get(at) == Some(&b'@') {
            // `@import`: skip the keyword.
            at += 1;
            while at < b.len() && (b[at].is_ascii_alphanumeric() || b[at] == b'-') {
                at += 1;
            }
            continue;
        }
        break;
    }
    let start = at;
    let is_url_fn = b.len() >= at + 4 && b[at..at + 4].eq_ignore_ascii_case(b"url(");
    let end = if is_url_fn {
        let mut i = skip_ws_and_comments_inside_url(b, at + 4);
        if let Some(&q @ (b'"' | b'\'')) = b.get(i) {
            i = string_end(b, i, q)?;
            i = skip_ws_and_comments_inside_url(b, i);
            if b.get(i) != Some(&b')') {
                return None;
            }
            i + 1
        } else {
            while i < b.len() && b[i] != b')' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            if i >= b.len() {
                return None;
            }
            i + 1
        }
    } else if let Some(&q @ (b'"' | b'\'')) = b.get(at) {
        string_end(b, at, q)?
    } else {
        return None;
    };
    Some(CssRef { url, start, end, line: 0, col: 0, is_url_fn, import_rule: None })
}

/// End of the rule whose last token ended at `i`: just past its `;` (strings and parentheses
/// skipped), or the end of the source.
fn rule_end(b: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'') => i = string_end(b, i, q).unwrap_or(b.len()).saturating_sub(1),
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b';' if depth == 0 => return i + 1,
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = b[i + 2..].windows(2).position(|w| w == b"*/").map(|p| i + 2 + p + 1).unwrap_or(b.len());
            }
            _ => {}
        }
        i += 1;
    }
    b.len()
}

fn skip_ws_and_comments(b: &[u8], mut i: usize) -> usize {
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if b.get(i) == Some(&b'/') && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i = (i + 2).min(b.len());
            continue;
        }
        return i;
    }
}

fn skip_ws_and_comments_inside_url(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// `b[at]` is the opening quote; returns the index just past the closing one.
fn string_end(b: &[u8], at: usize, quote: u8) -> Option<usize> {
    let mut i = at + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Writes a URL as a CSS token of the same form as the one it replaces.
pub fn url_token(url: &str, is_url_fn: bool) -> String {
    let mut quoted = String::with_capacity(url.len() + 2);
    quoted.push('"');
    for c in url.chars() {
        match c {
            '"' | '\\' => {
                quoted.push('\\');
                quoted.push(c);
            }
            // Line breaks (and other controls) cannot stand in a CSS string: escape them.
            c if c.is_control() => quoted.push_str(&format!("\\{:x} ", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    if is_url_fn {
        format!("url({quoted})")
    } else {
        quoted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(src: &str) -> Vec<(String, String)> {
        find_refs(src, "t.css").unwrap().into_iter().map(|r| (r.url, src[r.start..r.end].to_string())).collect()
    }

    #[test]
    fn finds_urls_imports_and_skips_comments() {
        let src = "@import \"base.css\";\n@import url('print.css') print;\n/* url(in-comment.png) */\n\
                   a { background: /* x */ url( \"a b.png\" ) no-repeat; }\n\
                   b { mask: url(m.svg#frag); --v: url(var.png); }\n\
                   @font-face { font-family: X; src: url(https://x.example/f.woff2) format(\"woff2\"); }\n";
        let got = urls(src);
        let want = [
            ("base.css", "\"base.css\""),
            ("print.css", "url('print.css')"),
            ("a b.png", "url( \"a b.png\" )"),
            ("m.svg#frag", "url(m.svg#frag)"),
            ("var.png", "url(var.png)"),
            ("https://x.example/f.woff2", "url(https://x.example/f.woff2)"),
        ];
        assert_eq!(got, want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>());
    }

    #[test]
    fn spans_are_right_after_multibyte_text() {
        let src = "/* ünïcødé 𝄞 */ a::before { content: \"€𝄞\"; background: url(x.png) }\nb{c:url(y.png)}";
        let refs = find_refs(src, "t.css").unwrap();
        assert_eq!(&src[refs[0].start..refs[0].end], "url(x.png)");
        assert_eq!(&src[refs[1].start..refs[1].end], "url(y.png)");
        assert_eq!((refs[1].line, refs[1].col), (2, 5));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = find_refs("a { color: red; }\nb { color: blue;\n", "t.css").unwrap_err();
        assert_eq!((err.line, err.col), (2, 3), "{err:?}");
        assert!(err.message.contains("unclosed block"), "{err:?}");
        let err = find_refs("a { }\n  }", "t.css").unwrap_err();
        assert_eq!((err.line, err.col), (2, 3), "{err:?}");
        let err = find_refs("a { content: \"x }\n", "t.css").unwrap_err();
        assert_eq!(err.message, "unterminated string");
        let err = find_refs("a { }\n/* x", "t.css").unwrap_err();
        assert_eq!((err.line, err.message.as_str()), (2, "unterminated comment"));
        // Braces inside strings, comments and escapes are not structure.
        assert!(find_refs("a::before { content: \"}{\" } /* { */ .b\\{ { }", "t.css").is_ok());
        // A real parse error from lightningcss keeps its position.
        let err = find_refs("a { color: red }\n@import 'late.css';\n", "t.css").unwrap_err();
        assert_eq!(err.line, 2, "{err:?}");
    }

    #[test]
    fn url_tokens_escape_quotes() {
        assert_eq!(url_token("a\"b.png", true), "url(\"a\\\"b.png\")");
        assert_eq!(url_token("x.css", false), "\"x.css\"");
        // Found by the fuzzer (fuzz/regressions/css_refs/): `\c` is a form feed, which ended the
        // rewritten string (a bad string: the stylesheet no longer parsed).
        assert_eq!(url_token("a\u{c}b\rc\nd", true), "url(\"a\\c b\\d c\\a d\")");
        let src = "@import url('print.\\c');";
        let url = find_refs(src, "t.css").unwrap()[0].url.clone();
        let again = format!("@import {};", url_token(&url, true));
        assert_eq!(url, "print.\u{c}");
        assert_eq!(find_refs(&again, "t.css").unwrap()[0].url, url);
    }
}
