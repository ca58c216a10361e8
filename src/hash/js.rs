//! Finds the references of a JavaScript file through swc's AST, so that strings and comments
//! that only look like imports are never seen, and locates each one's byte span in the source,
//! so a rewrite changes those bytes and nothing else. References:
//! - module specifiers: static `import`/`export … from`, `import("lit")`, `import.meta.resolve("lit")`;
//! - `new URL("lit", import.meta.url)` (workers, wasm, images: anything a module loads by URL);
//! - `//# sourceMappingURL=…` comments (and, in stylesheets, `/*# sourceMappingURL=… */`).

use swc_core::common::comments::{Comment, SingleThreadedComments};
use swc_core::common::sync::Lrc;
use swc_core::common::{FileName, SourceMap, Span, Spanned};
use swc_core::ecma::ast::{CallExpr, Callee, ExportAll, Expr, ImportDecl, Lit, MemberExpr, MemberProp, MetaPropKind, NamedExport, NewExpr, Str};
use swc_core::ecma::parser::{EsSyntax, Parser, StringInput, Syntax};
use swc_core::ecma::visit::{Visit, VisitWith};

use crate::diag::{LineIndex, Problem};

/// What kind of reference a token is: it decides which specifiers count and how the new one is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsRefKind {
    /// A module specifier: only `./`, `../` and `/` ones name files; others are bare (an import
    /// map's business) or full URLs.
    Module,
    /// The first argument of `new URL(…, import.meta.url)`: any relative URL.
    Url,
    /// The URL of a `sourceMappingURL` comment.
    SourceMap,
}

/// How the token is written in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quote {
    /// A string or template literal; the byte is its quote (`"`, `'` or `` ` ``).
    Literal(u8),
    /// Bare text (a comment's URL).
    Raw,
}

/// One reference in a JS (or, for source maps, CSS) source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsRef {
    /// The specifier as the program sees it (escapes resolved).
    pub url: String,
    /// Byte span of the token: the whole literal with its quotes, or a comment's URL.
    pub start: usize,
    pub end: usize,
    /// 1-based line and column of the token, for messages.
    pub line: usize,
    pub col: usize,
    pub kind: JsRefKind,
    pub quote: Quote,
}

/// A module specifier that names a file (relative or root-prefixed), as opposed to a bare one
/// (`"lodash"`) or a full URL.
pub fn is_path_specifier(spec: &str) -> bool {
    spec.starts_with("./") || spec.starts_with("../") || spec.starts_with('/') && !spec.starts_with("//")
}

/// A URL that names a directory (`new URL("./", import.meta.url)`), not a file.
pub fn names_directory(url: &str) -> bool {
    let path = &url[..url.find(['?', '#']).unwrap_or(url.len())];
    path.is_empty() || path.ends_with('/') || path.rsplit('/').next().is_some_and(|last| last == "." || last == "..")
}

/// Parses `source` (module or script, as kiln-minify detects it) and returns its references in
/// source order. A file with none of the words a reference needs is not parsed.
pub fn find_refs(source: &str) -> Result<Vec<JsRef>, Problem> {
    if !source.contains("import") && !source.contains("sourceMappingURL") && !source.contains("export") {
        return Ok(Vec::new());
    }
    // A byte order mark is not part of the program; spans are shifted back past it.
    let (base, text) = match source.strip_prefix('\u{feff}') {
        Some(rest) => (source.len() - rest.len(), rest),
        None => (0, source),
    };
    let cm: Lrc<SourceMap> = Default::default();
    let fm = cm.new_source_file(Lrc::new(FileName::Anon), text.to_string());
    let comments = SingleThreadedComments::default();
    let syntax = Syntax::Es(EsSyntax { allow_return_outside_function: false, ..Default::default() });
    let mut parser = Parser::new(syntax, StringInput::from(&*fm), Some(&comments));
    let offset = |pos: swc_core::common::BytePos| base + (pos.0 - fm.start_pos.0) as usize;
    let lines = LineIndex::new(source);
    let program = parser.parse_program().map_err(|e| lines.problem(source, offset(e.span().lo), e.kind().msg().to_string()))?;
    if let Some(e) = parser.take_errors().into_iter().next() {
        return Err(lines.problem(source, offset(e.span().lo), e.kind().msg().to_string()));
    }
    let mut collector = Collector { found: Vec::new() };
    program.visit_with(&mut collector);
    let mut refs = Vec::new();
    for (url, span, kind) in collector.found {
        let (start, end) = (offset(span.lo), offset(span.hi));
        let quote = match source.as_bytes().get(start) {
            Some(&q @ (b'"' | b'\'' | b'`')) => Quote::Literal(q),
            _ => continue,
        };
        refs.push(JsRef { url, start, end, line: 0, col: 0, kind, quote });
    }
    let (leading, trailing) = comments.take_all();
    let all: Vec<Comment> = leading.borrow().values().chain(trailing.borrow().values()).flatten().cloned().collect();
    for c in all {
        let start = offset(c.span.lo);
        let end = offset(c.span.hi);
        if let Some((at, url)) = source_map_url(&source[start..end]) {
            refs.push(JsRef {
                url: url.to_string(),
                start: start + at,
                end: start + at + url.len(),
                line: 0,
                col: 0,
                kind: JsRefKind::SourceMap,
                quote: Quote::Raw,
            });
        }
    }
    refs.sort_by_key(|r| r.start);
    refs.dedup_by_key(|r| r.start);
    for r in &mut refs {
        (r.line, r.col) = lines.at(source, r.start);
    }
    Ok(refs)
}

/// In a whole comment (`//# sourceMappingURL=x.map` or `/*# sourceMappingURL=x.map */`), the
/// offset and text of the URL. The `@` form is the deprecated spelling browsers still honour.
pub fn source_map_url(comment: &str) -> Option<(usize, &str)> {
    let body_at = 2;
    let body = comment.get(body_at..)?;
    let body = body.strip_suffix("*/").unwrap_or(body);
    let rest = body.strip_prefix(['#', '@'])?;
    let trimmed = rest.trim_start_matches([' ', '\t']);
    let value = trimmed.strip_prefix("sourceMappingURL=")?;
    let url_len = value.find(|c: char| c.is_whitespace()).unwrap_or(value.len());
    if url_len == 0 || !value[url_len..].trim().is_empty() {
        return None;
    }
    let at = body_at + 1 + (rest.len() - trimmed.len()) + "sourceMappingURL=".len();
    Some((at, &value[..url_len]))
}

/// The `sourceMappingURL` comments of a stylesheet (outside strings), as references.
pub fn css_source_map_refs(source: &str) -> Vec<JsRef> {
    let b = source.as_bytes();
    let lines = LineIndex::new(source);
    let mut refs = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = source[i + 2..].find("*/").map(|e| i + 2 + e + 2).unwrap_or(b.len());
                if let Some((at, url)) = source_map_url(&source[i..end]) {
                    let (line, col) = lines.at(source, i + at);
                    refs.push(JsRef {
                        url: url.to_string(),
                        start: i + at,
                        end: i + at + url.len(),
                        line,
                        col,
                        kind: JsRefKind::SourceMap,
                        quote: Quote::Raw,
                    });
                }
                i = end;
                continue;
            }
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q && b[i] != b'\n' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    refs
}

/// Writes `url` as the token a reference of this form replaces (same quote character).
pub fn token(url: &str, quote: Quote) -> String {
    let Quote::Literal(q) = quote else {
        return url.to_string();
    };
    let q = q as char;
    let mut out = String::with_capacity(url.len() + 2);
    out.push(q);
    let mut chars = url.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '$' if q == '`' && chars.peek() == Some(&'{') => out.push_str("\\$"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

struct Collector {
    found: Vec<(String, Span, JsRefKind)>,
}

impl Collector {
    fn push_str(&mut self, s: &Str, kind: JsRefKind) {
        if let Some(atom) = s.value.as_atom() {
            self.found.push((atom.to_string(), s.span, kind));
        }
    }

    /// A string literal, or a template literal without substitutions.
    fn push_literal(&mut self, e: &Expr, kind: JsRefKind) {
        match e {
            Expr::Lit(Lit::Str(s)) => self.push_str(s, kind),
            Expr::Tpl(t) if t.exprs.is_empty() && t.quasis.len() == 1 => {
                if let Some(cooked) = t.quasis[0].cooked.as_ref().and_then(|c| c.as_atom()) {
                    self.found.push((cooked.to_string(), t.span, kind));
                }
            }
            Expr::Paren(p) => self.push_literal(&p.expr, kind),
            _ => {}
        }
    }
}

fn is_import_meta(e: &Expr) -> bool {
    matches!(e, Expr::MetaProp(m) if m.kind == MetaPropKind::ImportMeta)
}

/// `import.meta.<name>`
fn is_import_meta_prop(e: &Expr, name: &str) -> bool {
    match e {
        Expr::Member(MemberExpr { obj, prop: MemberProp::Ident(p), .. }) => is_import_meta(obj) && &*p.sym == name,
        Expr::Paren(p) => is_import_meta_prop(&p.expr, name),
        _ => false,
    }
}

impl Visit for Collector {
    fn visit_import_decl(&mut self, n: &ImportDecl) {
        self.push_str(&n.src, JsRefKind::Module);
    }

    fn visit_export_all(&mut self, n: &ExportAll) {
        self.push_str(&n.src, JsRefKind::Module);
    }

    fn visit_named_export(&mut self, n: &NamedExport) {
        if let Some(src) = &n.src {
            self.push_str(src, JsRefKind::Module);
        }
    }

    fn visit_call_expr(&mut self, n: &CallExpr) {
        let is_module_call = match &n.callee {
            Callee::Import(_) => true,
            Callee::Expr(e) => is_import_meta_prop(e, "resolve"),
            _ => false,
        };
        if is_module_call {
            if let Some(first) = n.args.first().filter(|a| a.spread.is_none()) {
                self.push_literal(&first.expr, JsRefKind::Module);
            }
        }
        n.visit_children_with(self);
    }

    fn visit_new_expr(&mut self, n: &NewExpr) {
        let is_url = matches!(&*n.callee, Expr::Ident(i) if &*i.sym == "URL");
        if let (true, Some(args)) = (is_url, &n.args) {
            if args.len() >= 2 && args[0].spread.is_none() && args[1].spread.is_none() && is_import_meta_prop(&args[1].expr, "url") {
                self.push_literal(&args[0].expr, JsRefKind::Url);
            }
        }
        n.visit_children_with(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(src: &str) -> Vec<(String, String, JsRefKind)> {
        find_refs(src).unwrap().into_iter().map(|r| (r.url, src[r.start..r.end].to_string(), r.kind)).collect()
    }

    #[test]
    fn finds_every_reference_form_and_nothing_that_only_looks_like_one() {
        let src = r#"import { a } from "./a.js";
import './side.js';
import def, * as ns from '../lib/x.mjs';
export * from "./all.js";
export { b } from "./b.js";
import _ from "lodash";
// import { fake } from "./comment.js";
/* import("./block-comment.js") */
const s = 'import { x } from "./in-string.js"';
const t = `new URL("./in-template.png", import.meta.url)`;
const lazy = () => import("./lazy.js");
const tpl = import(`./tpl.js`);
const dyn = import("./" + name);
const img = new URL("../img/dot.png", import.meta.url);
const w = new Worker(new URL('./worker.js', import.meta.url), { type: "module" });
const r = import.meta.resolve("./resolved.js");
const notMeta = new URL("./not-a-ref.png", location.href);
//# sourceMappingURL=main.js.map
"#;
        let got = found(src);
        let m = JsRefKind::Module;
        let want = vec![
            ("./a.js", "\"./a.js\"", m),
            ("./side.js", "'./side.js'", m),
            ("../lib/x.mjs", "'../lib/x.mjs'", m),
            ("./all.js", "\"./all.js\"", m),
            ("./b.js", "\"./b.js\"", m),
            ("lodash", "\"lodash\"", m),
            ("./lazy.js", "\"./lazy.js\"", m),
            ("./tpl.js", "`./tpl.js`", m),
            ("../img/dot.png", "\"../img/dot.png\"", JsRefKind::Url),
            ("./worker.js", "'./worker.js'", JsRefKind::Url),
            ("./resolved.js", "\"./resolved.js\"", m),
            ("main.js.map", "main.js.map", JsRefKind::SourceMap),
        ];
        let want: Vec<(String, String, JsRefKind)> = want.into_iter().map(|(a, b, k)| (a.to_string(), b.to_string(), k)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn files_without_reference_words_are_not_parsed() {
        assert_eq!(find_refs("this is not JavaScript at all {{{").unwrap(), vec![]);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = find_refs("import a from './a.js';\nlet b = ;\n").unwrap_err();
        assert_eq!((e.line, e.col), (2, 9), "{e:?}");
    }

    #[test]
    fn spans_after_multibyte_text_and_a_bom() {
        let src = "\u{feff}const s = \"ünï 𝄞\"; import('./x.js');\n";
        let r = &find_refs(src).unwrap()[0];
        assert_eq!(&src[r.start..r.end], "'./x.js'");
        // Columns count characters as diag::LineIndex does everywhere (the BOM too).
        assert_eq!((r.line, r.col), (1, 28));
    }

    #[test]
    fn source_map_comments() {
        assert_eq!(source_map_url("//# sourceMappingURL=a.js.map"), Some((21, "a.js.map")));
        assert_eq!(source_map_url("//@ sourceMappingURL=a.js.map  "), Some((21, "a.js.map")));
        assert_eq!(source_map_url("/*# sourceMappingURL=site.css.map */"), Some((21, "site.css.map")));
        assert_eq!(source_map_url("// sourceMappingURL=a.js.map"), None);
        assert_eq!(source_map_url("//# sourceMappingURL=a.js.map and more"), None);
        let css = "a::after { content: \"/*# sourceMappingURL=no.map */\" }\n/*# sourceMappingURL=site.css.map */\n";
        let refs = css_source_map_refs(css);
        assert_eq!(refs.len(), 1);
        assert_eq!(&css[refs[0].start..refs[0].end], "site.css.map");
        assert_eq!((refs[0].line, refs[0].col), (2, 22));
    }

    #[test]
    fn tokens_keep_their_quote() {
        assert_eq!(token("./a.1.js", Quote::Literal(b'\'')), "'./a.1.js'");
        assert_eq!(token("./a\"b.js", Quote::Literal(b'"')), "\"./a\\\"b.js\"");
        assert_eq!(token("./${x}.js", Quote::Literal(b'`')), "`./\\${x}.js`");
        assert_eq!(token("a.1.map", Quote::Raw), "a.1.map");
    }
}
