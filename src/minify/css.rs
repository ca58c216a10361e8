//! CSS with lightningcss: parse (no error recovery, unclosed blocks refused), minify for the
//! browser targets, print. `@import` and `url()` stay as references for kiln-hash.

use lightningcss::stylesheet::{MinifyOptions, ParserOptions, PrinterOptions, StyleSheet};
use lightningcss::targets::{Browsers, Targets};

use crate::diag::{from_lightningcss, LineIndex, Problem};

/// Browser targets from a browserslist query (`defaults`, `> 0.5%, last 2 versions`, …).
pub fn targets(query: &str) -> Result<Targets, String> {
    let queries: Vec<&str> = query.split(',').map(str::trim).filter(|q| !q.is_empty()).collect();
    let browsers = Browsers::from_browserslist(queries).map_err(|e| format!("--targets {query:?}: {e}"))?;
    Ok(Targets::from(browsers))
}

pub fn minify(source: &str, name: &str, targets: Targets) -> Result<String, Problem> {
    check_structure(source)?;
    let options = ParserOptions { filename: name.to_string(), error_recovery: false, ..ParserOptions::default() };
    let mut sheet = StyleSheet::parse(source, options).map_err(|e| from_lightningcss(source, e))?;
    sheet.minify(MinifyOptions { targets, ..MinifyOptions::default() }).map_err(|e| from_lightningcss(source, e))?;
    let out = sheet.to_css(PrinterOptions { minify: true, targets, ..PrinterOptions::default() }).map_err(|e| from_lightningcss(source, e))?;
    // lightningcss prints some tokens of rules it does not know so that they no longer parse
    // (an escaped newline in an at-rule name, a `url(…)` holding `}`), or parse as something else
    // (`@\\` printed `@\;`, a rule named `;`, which prints `@;;`): the output must parse and print
    // back to itself, up to whitespace (lightningcss drops a space it printed inside `var()`), or
    // it is refused rather than written.
    let reparsed = check_structure(&out.code).is_ok()
        && StyleSheet::parse(&out.code, ParserOptions { filename: name.to_string(), error_recovery: false, ..ParserOptions::default() })
            .ok()
            .and_then(|again| again.to_css(PrinterOptions { minify: true, targets, ..PrinterOptions::default() }).ok())
            .is_some_and(|again| same_but_spaces(&again.code, &out.code));
    if !reparsed {
        return Err(Problem {
            line: 1,
            col: 1,
            message: "the CSS minifier's output would not parse again as the same stylesheet (lightningcss misprints a token here); not minified"
                .into(),
        });
    }
    Ok(out.code)
}

fn same_but_spaces(a: &str, b: &str) -> bool {
    a.chars().filter(|c| !c.is_ascii_whitespace()).eq(b.chars().filter(|c| !c.is_ascii_whitespace()))
}

/// CSS parsers close whatever is open at end of file without a word (css-syntax §5), which hides
/// truncated files and missing braces. Refuse an unclosed block, string or comment, and a stray
/// closing brace, naming where it starts.
pub fn check_structure(source: &str) -> Result<(), Problem> {
    let b = source.as_bytes();
    let lines = LineIndex::new(source);
    let at = |i: usize, message: String| lines.problem(source, i, message);
    let mut open: Vec<(u8, usize)> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'/' if b.get(i + 1) == Some(&b'*') => match source[i + 2..].find("*/") {
                Some(end) => i += end + 3,
                None => return Err(at(i, "unterminated comment".into())),
            },
            q @ (b'"' | b'\'') => {
                let mut j = i + 1;
                loop {
                    match b.get(j) {
                        None | Some(b'\n') => return Err(at(i, "unterminated string".into())),
                        Some(b'\\') => j += 2,
                        Some(&c) if c == q => break,
                        _ => j += 1,
                    }
                }
                i = j;
            }
            c @ (b'{' | b'(' | b'[') => open.push((c, i)),
            c @ (b'}' | b')' | b']') => {
                let want = match c {
                    b'}' => b'{',
                    b')' => b'(',
                    _ => b'[',
                };
                match open.last() {
                    Some(&(o, _)) if o == want => {
                        open.pop();
                    }
                    // A stray ')' or ']' is legal inside some values; only braces are structural.
                    _ if c != b'}' => {}
                    Some(&(o, start)) => {
                        let o = o as char;
                        return Err(at(start, format!("'{o}' is closed by '}}' at line {}", at(i, String::new()).line)));
                    }
                    None => return Err(at(i, "unexpected '}' with no open block".into())),
                }
            }
            _ => {}
        }
        i += 1;
    }
    match open.iter().find(|(c, _)| *c == b'{') {
        Some(&(_, start)) => Err(at(start, "unclosed block: '{' has no matching '}'".into())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minifies_keeping_references() {
        let t = targets("defaults").unwrap();
        let out =
            minify("/*! license */\n@import \"base.css\";\na {\n  color: #ff0000;\n  background: url( '../img/x.png' );\n}\n", "a.css", t).unwrap();
        assert!(out.contains("/*! license */"), "{out}");
        assert!(out.contains("@import \"base.css\""), "{out}");
        assert!(out.contains("../img/x.png"), "{out}");
        assert!(out.contains("a{color:red;"), "{out}");
    }

    #[test]
    fn errors_have_positions() {
        let t = Targets::default();
        let e = minify("a { color: red }\nb { color: blue;\n", "a.css", t).unwrap_err();
        assert_eq!((e.line, e.col), (2, 3));
        assert!(targets("not a browser query at all 999").is_err());
    }

    /// Found by the fuzzer (fuzz/regressions/minify_css/): lightningcss printed these unknown
    /// at-rules as CSS that no longer parses (`@\a` became `@` and a newline; `url("}")` lost its
    /// quotes); and, found by the 5-minute run, as CSS that parses as something else (`@\\`, a
    /// rule named `\`, printed `@\;`, a rule named `;`).
    #[test]
    fn output_that_would_not_parse_again_is_refused() {
        for src in ["@\\a", "@l\"\"{url(\"}\")('')}", "@\\\\"] {
            let e = minify(src, "a.css", Targets::default()).unwrap_err();
            assert!(e.message.contains("would not parse again"), "{src:?}: {e:?}");
        }
    }

    /// The output check does not refuse what lightningcss prints back to itself: the examples'
    /// stylesheets minify.
    #[test]
    fn real_stylesheets_print_back_to_themselves() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let mut n = 0;
        for f in [
            "shop/src/partials/css/base.css",
            "shop/src/partials/css/shop.css",
            "django-site/shop/static/shop/css/site.css",
            "asok-blog/src/partials/css/posts.css",
        ] {
            let src = std::fs::read_to_string(root.join(f)).unwrap();
            minify(&src, f, targets("defaults").unwrap()).unwrap_or_else(|e| panic!("{f}: {e:?}"));
            n += 1;
        }
        assert_eq!(n, 4);
    }
}
