//! CSS with lightningcss: parse (no error recovery, unclosed blocks refused), minify for the
//! browser targets, print. `@import` and `url()` stay as references for kiln-hash.

use lightningcss::stylesheet::{MinifyOptions, ParserOptions, PrinterOptions, StyleSheet};
use lightningcss::targets::{Browsers, Targets};

use crate::diag::{from_lightningcss, Problem};

/// Browser targets from a browserslist query (`defaults`, `> 0.5%, last 2 versions`, …).
pub fn targets(query: &str) -> Result<Targets, String> {
    let queries: Vec<&str> = query.split(',').map(str::trim).filter(|q| !q.is_empty()).collect();
    let browsers = Browsers::from_browserslist(queries).map_err(|e| format!("--targets {query:?}: {e}"))?;
    Ok(Targets::from(browsers))
}

pub fn minify(source: &str, name: &str, targets: Targets) -> Result<String, Problem> {
    crate::hash::css::check_structure(source)?;
    let options = ParserOptions { filename: name.to_string(), error_recovery: false, ..ParserOptions::default() };
    let mut sheet = StyleSheet::parse(source, options).map_err(from_lightningcss)?;
    sheet.minify(MinifyOptions { targets, ..MinifyOptions::default() }).map_err(from_lightningcss)?;
    let out = sheet
        .to_css(PrinterOptions { minify: true, targets, ..PrinterOptions::default() })
        .map_err(from_lightningcss)?;
    Ok(out.code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minifies_keeping_references() {
        let t = targets("defaults").unwrap();
        let out = minify("/*! license */\n@import \"base.css\";\na {\n  color: #ff0000;\n  background: url( '../img/x.png' );\n}\n", "a.css", t).unwrap();
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
}
