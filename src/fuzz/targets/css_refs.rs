//! The CSS reference finder (`hash::css::find_refs`): the `url(…)` and `@import` spans that
//! kiln-hash rewrites.

use super::text;
use crate::fuzz::{check, deterministic, position_inside, PropertyViolation, Sig, Target, Verdict};
use crate::hash::css::{find_refs, url_token, CssRef};

pub const TARGET: Target = Target {
    name: "css_refs",
    properties: "errors inside the input; every span holds the URL it claims (url(…) or a string, \
                 unescaped as CSS does); spans sorted, disjoint, line:col right; @import rule spans \
                 hold their URL; rewriting every span with url_token() parses again to the same URLs; \
                 deterministic",
    dictionary: &[
        "url(",
        ")",
        "url(\"",
        "\")",
        "url('",
        "')",
        "@import ",
        "@import url(",
        ";",
        "{",
        "}",
        "/*",
        "*/",
        "\\",
        "\\\"",
        "\\)",
        "\\a ",
        "\\31 ",
        "@media print{",
        "@font-face{src:",
        "background:",
        "a{",
        "--v:",
        "image-set(",
        "\n",
        "\r\n",
        "\x0c",
        "é",
        "𝄞",
        "\"",
        "'",
    ],
    max_len: 4096,
    run,
};

fn run(input: &[u8]) -> Verdict {
    let src = text(input);
    let first = find_refs(&src, "t.css");
    deterministic("find_refs", &first, &find_refs(&src, "t.css"))?;
    let mut sig = Sig::new("css_refs");
    let refs = match first {
        Err(p) => {
            position_inside(&src, p.line, p.col, "css error")?;
            sig.add("err").message(&p.message);
            return Ok(sig.done());
        }
        Ok(r) => r,
    };
    let lines = crate::diag::LineIndex::new(&src);
    let mut prev_end = 0;
    for r in &refs {
        check(prev_end <= r.start && r.start < r.end && r.end <= src.len(), || {
            format!("span {}..{} overlaps the previous or is out of bounds", r.start, r.end)
        })?;
        check(src.is_char_boundary(r.start) && src.is_char_boundary(r.end), || format!("span {}..{} cuts a character", r.start, r.end))?;
        let token = &src[r.start..r.end];
        let held = token_url(token, r.is_url_fn)
            .ok_or_else(|| PropertyViolation(format!("span {}..{} = {token:?} is not a url() or string token", r.start, r.end)))?;
        check(held == r.url, || format!("span {}..{} = {token:?} holds {held:?}, not the claimed {:?}", r.start, r.end, r.url))?;
        check(lines.at(&src, r.start) == (r.line, r.col), || format!("span at {} claims {}:{}", r.start, r.line, r.col))?;
        if let Some((s, e)) = r.import_rule {
            check(s <= r.start && r.end <= e && e <= src.len() && src[s..].starts_with('@'), || {
                format!("@import rule {s}..{e} does not hold its URL {}..{}", r.start, r.end)
            })?;
        }
        prev_end = r.end;
        sig.add(&(r.is_url_fn, r.import_rule.is_some())).add(&r.url.is_empty());
    }
    sig.bucket(refs.len());
    // kiln-hash's rewrite: each span becomes url_token(url); the result must read back the same.
    if !refs.is_empty() {
        let rewritten = rewrite(&src, &refs);
        match find_refs(&rewritten, "t.css") {
            Ok(again) => {
                let a: Vec<&str> = refs.iter().map(|r| r.url.as_str()).collect();
                let b: Vec<&str> = again.iter().map(|r| r.url.as_str()).collect();
                check(a == b, || format!("after rewriting every span with url_token: {b:?}, was {a:?}\n{rewritten}"))?;
            }
            Err(p) => {
                return Err(PropertyViolation(format!(
                    "the rewritten stylesheet no longer parses ({}:{}: {}):\n{rewritten}",
                    p.line, p.col, p.message
                )))
            }
        }
    }
    Ok(sig.done())
}

fn rewrite(src: &str, refs: &[CssRef]) -> String {
    let mut out = String::new();
    let mut pos = 0;
    for r in refs {
        out.push_str(&src[pos..r.start]);
        out.push_str(&url_token(&r.url, r.is_url_fn));
        pos = r.end;
    }
    out.push_str(&src[pos..]);
    out
}

/// The URL a `url(…)` or string token holds, decoded as css-syntax §4.3 does (an independent
/// reading, not the finder's).
fn token_url(token: &str, is_url_fn: bool) -> Option<String> {
    let inner = if is_url_fn {
        let lower = token.get(..4)?.to_ascii_lowercase();
        if lower != "url(" || !token.ends_with(')') {
            return None;
        }
        let inner = token[4..token.len() - 1].trim_start_matches([' ', '\t', '\n', '\r', '\x0c']);
        let trimmed = inner.trim_end_matches([' ', '\t', '\n', '\r', '\x0c']);
        // `url(a\ )`: the escaped space belongs to the URL.
        if trimmed.ends_with('\\') && trimmed.len() < inner.len() {
            &inner[..trimmed.len() + inner[trimmed.len()..].chars().next().map_or(0, char::len_utf8)]
        } else {
            trimmed
        }
    } else {
        token
    };
    let quoted = inner.starts_with(['"', '\'']);
    let body = if quoted {
        let q = inner.chars().next()?;
        if inner.len() < 2 || !inner.ends_with(q) {
            return None;
        }
        &inner[1..inner.len() - 1]
    } else {
        inner
    };
    unescape(body, quoted)
}

fn unescape(s: &str, in_string: bool) -> Option<String> {
    let mut out = String::new();
    // css-syntax §3.3: NUL is U+FFFD before tokenizing (so `\` + NUL escapes U+FFFD).
    let s = s.replace('\0', "\u{fffd}");
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            None => {
                if !in_string {
                    out.push('\u{fffd}');
                }
            }
            Some('\n' | '\x0c') if in_string => {
                chars.next();
            }
            Some('\r') if in_string => {
                chars.next();
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
            }
            Some(h) if h.is_ascii_hexdigit() => {
                let mut n = 0u32;
                let mut k = 0;
                while k < 6 && chars.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                    n = n * 16 + chars.next()?.to_digit(16)?;
                    k += 1;
                }
                match chars.peek() {
                    Some('\r') => {
                        chars.next();
                        if chars.peek() == Some(&'\n') {
                            chars.next();
                        }
                    }
                    Some(' ' | '\t' | '\n' | '\x0c') => {
                        chars.next();
                    }
                    _ => {}
                }
                let c = char::from_u32(n).filter(|_| n != 0).unwrap_or('\u{fffd}');
                out.push(c);
            }
            Some(_) => out.push(chars.next()?),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_decode_as_css_does() {
        assert_eq!(token_url("url( \"a b.png\" )", true).as_deref(), Some("a b.png"));
        assert_eq!(token_url("URL(x\\).png)", true).as_deref(), Some("x).png"));
        assert_eq!(token_url("'q\\'s\\31 x'", false).as_deref(), Some("q's1x"));
        assert_eq!(token_url("\"a\\\nb\"", false).as_deref(), Some("ab"));
        assert_eq!(token_url("url(x", true), None);
    }
}
