//! JavaScript with swc: parse → resolver → compress + mangle (terser's defaults) → fixer →
//! minified codegen. License comments (`/*!`, `@license`, `@preserve`) are kept.

use swc_core::common::comments::{Comment, SingleThreadedComments};
use swc_core::common::source_map::SourceMapGenConfig;
use swc_core::common::sync::Lrc;
use swc_core::common::{FileName, Mark, SourceMap, Spanned, GLOBALS};
use swc_core::ecma::ast::{EsVersion, Program};
use swc_core::ecma::codegen::text_writer::{omit_trailing_semi, JsWriter};
use swc_core::ecma::codegen::{Config, Emitter};
use swc_core::ecma::minifier::option::terser::TerserCompressorOptions;
use swc_core::ecma::minifier::option::{ExtraOptions, MangleOptions, MinifyOptions};
use swc_core::ecma::parser::{EsSyntax, Parser, StringInput, Syntax};
use swc_core::ecma::transforms::base::fixer::{fixer, paren_remover};
use swc_core::ecma::transforms::base::resolver;
use swc_core::ecma::visit::VisitMutWith;

use super::Problem;

/// Whether the source is a script or an ES module decides top-level renaming: a script's
/// top-level names are globals other scripts may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsMode {
    Script,
    Module,
    /// Module when the source has `import`/`export`, else script.
    Detect,
}

/// Bytes of whitespace and comments (and a `#!` line) before the first token.
fn leading_trivia_len(source: &str) -> usize {
    let b = source.as_bytes();
    let mut i = 0;
    if source.starts_with("#!") {
        i = source.find('\n').unwrap_or(source.len());
    }
    loop {
        while i < b.len() && (b[i] as char).is_whitespace() {
            i += 1;
        }
        if source[i..].starts_with("//") {
            i = source[i..].find('\n').map(|n| i + n).unwrap_or(source.len());
        } else if source[i..].starts_with("/*") {
            i = source[i + 2..].find("*/").map(|n| i + n + 4).unwrap_or(source.len());
        } else {
            return i;
        }
    }
}

fn is_license(c: &Comment) -> bool {
    c.text.starts_with('!') || c.text.contains("@license") || c.text.contains("@preserve")
}

pub fn minify(source: &str, name: &str, mode: JsMode) -> Result<String, Problem> {
    GLOBALS.set(&Default::default(), || minify_inner(source, name, mode, None)).map(|(code, _)| code)
}

/// Minifies and builds a source map whose `sources` is `[map_source]` (a path relative to the
/// map) with the original inlined as `sourcesContent`, so the map stands on its own.
pub fn minify_with_map(source: &str, name: &str, mode: JsMode, map_source: &str) -> Result<(String, Vec<u8>), Problem> {
    let (code, map) = GLOBALS.set(&Default::default(), || minify_inner(source, name, mode, Some(map_source)))?;
    Ok((code, map.unwrap_or_default()))
}

struct MapConfig<'a> {
    source: &'a str,
}

impl SourceMapGenConfig for MapConfig<'_> {
    fn file_name_to_source(&self, _f: &FileName) -> String {
        self.source.to_string()
    }
    fn inline_sources_content(&self, _f: &FileName) -> bool {
        true
    }
}

fn minify_inner(source: &str, name: &str, mode: JsMode, map_source: Option<&str>) -> Result<(String, Option<Vec<u8>>), Problem> {
    let cm: Lrc<SourceMap> = Default::default();
    let fm = cm.new_source_file(Lrc::new(FileName::Custom(name.to_string())), source.to_string());
    let comments = SingleThreadedComments::default();
    let syntax = Syntax::Es(EsSyntax { allow_return_outside_function: false, ..Default::default() });
    let mut parser = Parser::new(syntax, StringInput::from(&*fm), Some(&comments));
    // Positions in characters from the byte offset (swc's col_display counts display width:
    // a tab or a wide character is several columns).
    let lines = crate::diag::LineIndex::new(source);
    let at = |span: swc_core::common::Span, message: String| {
        let offset = span.lo.0.saturating_sub(fm.start_pos.0) as usize;
        // The end of input is reported at the end of the last line, not after its newline.
        let offset = if offset >= source.len() { source.trim_end_matches(['\n', '\r']).len() } else { offset };
        lines.problem(source, offset, message)
    };
    let parsed = match mode {
        JsMode::Script => parser.parse_script().map(Program::Script),
        JsMode::Module => parser.parse_module().map(Program::Module),
        JsMode::Detect => parser.parse_program(),
    };
    let mut program = parsed.map_err(|e| at(e.span(), e.kind().msg().to_string()))?;
    if let Some(e) = parser.take_errors().into_iter().next() {
        return Err(at(e.span(), e.kind().msg().to_string()));
    }
    let is_module = matches!(program, Program::Module(_));
    // License comments before the first token go first in the output, whatever the optimizer
    // does to the code they were attached to (an IIFE's parenthesis becomes a `!`).
    let header_end = fm.start_pos + swc_core::common::BytePos(leading_trivia_len(source) as u32);
    let mut header = String::new();
    {
        let (mut leading, mut trailing) = comments.borrow_all_mut();
        let mut at_start: Vec<Comment> = Vec::new();
        leading.retain(|pos, cs| {
            if *pos <= header_end {
                at_start.extend(cs.drain(..).filter(is_license));
            }
            cs.retain(is_license);
            !cs.is_empty()
        });
        at_start.sort_by_key(|c| c.span.lo);
        for c in at_start {
            match c.kind {
                swc_core::common::comments::CommentKind::Block => header.push_str(&format!("/*{}*/", c.text)),
                swc_core::common::comments::CommentKind::Line => header.push_str(&format!("//{}\n", c.text)),
            }
        }
        trailing.retain(|_, cs| {
            cs.retain(is_license);
            !cs.is_empty()
        });
    }
    let unresolved_mark = Mark::new();
    let top_level_mark = Mark::new();
    program.visit_mut_with(&mut resolver(unresolved_mark, top_level_mark, false));
    // The optimizer expects no parenthesis nodes (swc's own minify removes them first): left in,
    // collapse_vars moved `x = l[0]` into the right side of `(a || x.k)` (jQuery's .off()).
    program.visit_mut_with(&mut paren_remover(Some(&comments)));
    // terser's defaults, as swc's own JS API reads them.
    let compress_json = if is_module { r#"{"module": true}"# } else { "{}" };
    let terser: TerserCompressorOptions =
        serde_json::from_str(compress_json).map_err(|e| Problem { line: 1, col: 1, message: format!("internal: compressor options: {e}") })?;
    let options = MinifyOptions {
        compress: Some(terser.into_config(cm.clone())),
        mangle: Some(MangleOptions { top_level: Some(is_module), ..Default::default() }),
        ..Default::default()
    };
    let extra = ExtraOptions { unresolved_mark, top_level_mark, mangle_name_cache: None };
    let mut program = swc_core::ecma::minifier::optimize(program, cm.clone(), Some(&comments), None, &options, &extra);
    program.visit_mut_with(&mut fixer(Some(&comments)));
    let mut out = Vec::with_capacity(source.len() / 2);
    let mut mappings = Vec::new();
    {
        let writer = JsWriter::new(cm.clone(), "\n", &mut out, map_source.map(|_| &mut mappings));
        let mut emitter = Emitter {
            cfg: Config::default().with_minify(true).with_target(EsVersion::Es2022),
            cm: cm.clone(),
            comments: Some(&comments),
            wr: omit_trailing_semi(writer),
        };
        emitter.emit_program(&program).map_err(|e| Problem { line: 1, col: 1, message: format!("cannot print: {e}") })?;
    }
    if map_source.is_some() && !header.is_empty() && !header.ends_with('\n') {
        // Keep the code on a line of its own so the map only needs whole-line offsets.
        header.push('\n');
    }
    let header_lines = header.matches('\n').count();
    let body = String::from_utf8(out).map_err(|_| Problem { line: 1, col: 1, message: "printer produced invalid UTF-8".into() })?;
    // A `#!` line must stay the very first line.
    let code = match body.strip_prefix("#!").and_then(|_| body.find('\n')) {
        Some(nl) => format!("{}{header}{}", &body[..=nl], &body[nl + 1..]),
        None => header + &body,
    };
    let map = match map_source {
        Some(src) => {
            let mut bytes = Vec::new();
            cm.build_source_map(&mappings, None, MapConfig { source: src }).to_writer(&mut bytes).map_err(|e| Problem {
                line: 1,
                col: 1,
                message: format!("cannot write the source map: {e}"),
            })?;
            if header_lines > 0 {
                let mut map: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|e| Problem { line: 1, col: 1, message: format!("internal: source map: {e}") })?;
                let shifted = format!("{}{}", ";".repeat(header_lines), map["mappings"].as_str().unwrap_or(""));
                map["mappings"] = serde_json::Value::String(shifted);
                bytes = serde_json::to_vec(&map).unwrap_or(bytes);
            }
            Some(bytes)
        }
        None => None,
    };
    Ok((code, map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minifies_and_keeps_license_and_strict() {
        let src = "/*! keep me | MIT */\n\"use strict\";\n// drop me\nfunction add(first, second) { return first + second; }\nwindow.add = add;\n";
        let out = minify(src, "a.js", JsMode::Script).unwrap();
        assert!(out.starts_with("/*! keep me | MIT */"), "{out}");
        assert!(out.contains("\"use strict\""), "{out}");
        assert!(!out.contains("drop me") && !out.contains("first"), "{out}");
        assert!(out.contains("function add("), "script globals keep their names: {out}");
    }

    #[test]
    fn modules_mangle_top_level() {
        let out = minify("const longName = 1; export function f() { return longName + 1; }", "m.js", JsMode::Detect).unwrap();
        assert!(!out.contains("longName"), "{out}");
        assert!(out.contains("export"), "{out}");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = minify("let a = 1;\nlet b = ;\n", "a.js", JsMode::Script).unwrap_err();
        assert_eq!((e.line, e.col), (2, 9), "{e:?}");
        let e = minify("var x = 1;\nvar y = {\n", "a.js", JsMode::Script).unwrap_err();
        assert_eq!(e.line, 2, "end of input is reported where the source ends: {e:?}");
    }

    /// Found by the fuzzer (fuzz/regressions/minify_js/): columns were swc's display width, so a
    /// tab or a wide character pushed them past the end of the line.
    #[test]
    fn error_columns_count_characters() {
        let e = minify("(\t", "a.js", JsMode::Script).unwrap_err();
        assert_eq!((e.line, e.col), (1, 3), "{e:?}");
        let e = minify("var s = '漢字';\n\tlet = ;", "a.js", JsMode::Script).unwrap_err();
        assert_eq!(e.line, 2, "{e:?}");
        let e = minify("'漢字' +", "a.js", JsMode::Script).unwrap_err();
        assert_eq!((e.line, e.col), (1, 7), "{e:?}");
    }

    #[test]
    fn source_maps_point_back_to_the_original() {
        let src = "function add(first, second) {\n  return first + second;\n}\nwindow.add = add;\n";
        let (code, map) = minify_with_map(src, "js/add.js", JsMode::Script, "add.js").unwrap();
        let map: serde_json::Value = serde_json::from_slice(&map).unwrap();
        assert_eq!(map["version"], 3);
        assert_eq!(map["sources"], serde_json::json!(["add.js"]));
        assert_eq!(map["sourcesContent"], serde_json::json!([src]));
        assert!(!map["mappings"].as_str().unwrap().is_empty());
        assert_eq!(code, minify(src, "js/add.js", JsMode::Script).unwrap());
    }

    #[test]
    fn leading_license_stays_first_before_an_iife() {
        let src = "/*!\n * Lib v1 | MIT\n */\n( function( global, factory ) {\n  factory( global );\n} )( this, function( w ) { w.lib = 1; } );\n";
        let out = minify(src, "lib.js", JsMode::Script).unwrap();
        assert!(out.starts_with("/*!\n * Lib v1 | MIT\n */"), "{out}");
        assert_eq!(out.matches("Lib v1").count(), 1, "{out}");
    }

    #[test]
    fn hashbang_stays_first() {
        let out = minify("#!/usr/bin/env node\n/*! tool | MIT */\nconsole.log(1 + 2);\n", "t.js", JsMode::Script).unwrap();
        assert!(out.starts_with("#!/usr/bin/env node\n/*! tool | MIT */"), "{out:?}");
    }

    #[test]
    fn assignments_are_not_moved_into_short_circuits() {
        // Reduced from jQuery.event.remove, which the optimizer broke without paren_remover.
        let out = minify("function f(l, a) { var x; x = l[0]; return (a || x.k) && x.v; }\nwindow.f = f;", "a.js", JsMode::Script).unwrap();
        assert!(!out.contains("||(") || !out.contains("=n[0]).k"), "{out}");
        let assign = out.find("=n[0]").or_else(|| out.find("[0]")).unwrap();
        let or = out.find("||").unwrap();
        assert!(assign < or, "the assignment must run before the ||: {out}");
    }

    #[test]
    fn eval_keeps_names() {
        let out = minify("function f(){ var secret = 1; return eval('secret'); } window.f = f;", "a.js", JsMode::Script).unwrap();
        assert!(out.contains("secret"), "names visible to eval must stay: {out}");
    }
}
