//! Template syntax: finds Assetman asset blocks
//! (`{% apply assetman.include_js %}…{% end %}`, Django's `{% assetman include_css %}…
//! {% endassetman %}`) and `assetman.static_url('…')` calls in templates, checks their paths
//! against the static root, and rewrites templates so that each block becomes its final tag and
//! each static_url call its versioned URL (the runtime then needs no manifest).

pub mod template;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::diag::{LineIndex, Problem};
use crate::fsutil::{self, EntryKind, FsError};
use crate::manifest::{md5_hex, AssetEntry, BlockEntry, Manifest};
use template::{block_end, tags, TagKind};

/// What an asset block compiles. Assetman keys a block by its paths alone, so one path list
/// used as two kinds is an error (see `check_paths`), never two manifest entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BlockKind {
    Css,
    Js,
    Less,
}

impl BlockKind {
    pub fn name(self) -> &'static str {
        match self {
            BlockKind::Css => "css",
            BlockKind::Js => "js",
            BlockKind::Less => "less",
        }
    }

    /// Extension of the compiled bundle.
    pub fn ext(self) -> &'static str {
        match self {
            BlockKind::Js => "js",
            BlockKind::Css | BlockKind::Less => "css",
        }
    }

    fn from_helper(name: &str) -> Option<BlockKind> {
        match name {
            "include_css" => Some(BlockKind::Css),
            "include_js" => Some(BlockKind::Js),
            "include_less" => Some(BlockKind::Less),
            _ => None,
        }
    }
}

/// Assetman's name hash: md5 of the block's paths joined by `\n`.
pub fn namehash(paths: &[String]) -> String {
    md5_hex(paths.join("\n").as_bytes())
}

/// The manifest key of a block, exactly as Assetman's runtime looks it up
/// (`AssetManager.get_hash`): the name hash, nothing prefixed.
pub fn block_key(paths: &[String]) -> String {
    namehash(paths)
}

/// One asset block in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockUse {
    pub kind: BlockKind,
    pub paths: Vec<String>,
    pub line: usize,
    pub col: usize,
    /// From the opening tag's `{` to the closing tag's `}` inclusive.
    pub span: (usize, usize),
}

/// One `assetman.static_url('<literal>')` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticUrl {
    pub path: String,
    pub line: usize,
    pub col: usize,
    /// The call `assetman.static_url('…')` itself.
    pub call: (usize, usize),
    /// The whole `{{ … }}` when it holds nothing but this call (then the tag becomes the URL).
    pub whole_tag: Option<(usize, usize)>,
}

/// What one template uses.
#[derive(Debug, Clone, Default)]
pub struct TemplateScan {
    pub blocks: Vec<BlockUse>,
    pub static_urls: Vec<StaticUrl>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{path}:{line}:{col}: {message}")]
    At { path: String, line: usize, col: usize, message: String },
    #[error("{0}")]
    Other(String),
}

impl ScanError {
    pub fn at(path: &str, p: Problem) -> Self {
        ScanError::At { path: path.to_string(), line: p.line, col: p.col, message: p.message }
    }
}

/// Finds the blocks and static_url calls of one template.
pub fn scan_source(src: &str) -> Result<TemplateScan, Problem> {
    let lines = LineIndex::new(src);
    let tags = tags(src, &lines)?;
    let mut out = TemplateScan::default();
    for (i, t) in tags.iter().enumerate() {
        match t.kind {
            TagKind::Stmt => {
                let helper = match t.word.as_str() {
                    "apply" => t.inner["apply".len()..].trim().strip_prefix("assetman."),
                    "assetman" => Some(t.inner["assetman".len()..].trim()),
                    _ => None,
                };
                if let Some(kind) = helper.and_then(BlockKind::from_helper) {
                    let Some(j) = block_end(src, &tags, i, &lines)? else { continue };
                    if let Some(outer) = out.blocks.last().filter(|b| t.start < b.span.1) {
                        let message = format!("asset block inside the asset block of line {}", outer.line);
                        return Err(lines.problem(src, t.start, message));
                    }
                    let body = &src[t.end..tags[j].start];
                    let paths = body.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| l.trim_start_matches('/').to_string()).collect();
                    let (line, col) = lines.at(src, t.start);
                    out.blocks.push(BlockUse { kind, paths, line, col, span: (t.start, tags[j].end) });
                }
                find_static_urls(src, t.start, t.end, None, &lines, &mut out.static_urls);
            }
            TagKind::Expr => find_static_urls(src, t.start, t.end, Some((t.start, t.end)), &lines, &mut out.static_urls),
            _ => {}
        }
    }
    // Blocks' bodies are not expressions: drop anything found inside them.
    let blocks = out.blocks.clone();
    out.static_urls.retain(|u| !blocks.iter().any(|b| b.span.0 < u.call.0 && u.call.1 <= b.span.1));
    Ok(out)
}

/// `assetman.static_url('literal')` calls inside the tag `src[start..end]`. Calls with a
/// non-literal argument are left to the runtime.
fn find_static_urls(src: &str, start: usize, end: usize, tag: Option<(usize, usize)>, lines: &LineIndex, out: &mut Vec<StaticUrl>) {
    const CALL: &str = "assetman.static_url";
    let text = &src[start..end];
    let b = text.as_bytes();
    // Which bytes are inside a string literal of the tag's expression: a call spelled inside one
    // (`{{ "assetman.static_url('x')" }}`, or another call's literal) is text, not a call, and
    // rewriting it would change the string or break the tag's quoting.
    let mut in_string = vec![false; b.len()];
    let mut quote: Option<u8> = None;
    let mut k = 0;
    while k < b.len() {
        in_string[k] = quote.is_some();
        match (quote, b[k]) {
            (Some(_), b'\\') => {
                if let Some(next) = in_string.get_mut(k + 1) {
                    *next = true;
                }
                k += 1;
            }
            (Some(q), c) if c == q => quote = None,
            (None, c @ (b'"' | b'\'')) => quote = Some(c),
            _ => {}
        }
        k += 1;
    }
    let mut taken_until = 0;
    for (off, _) in text.match_indices(CALL) {
        if off < taken_until || in_string[off] {
            continue;
        }
        let mut i = off + CALL.len();
        let skip_ws = |i: &mut usize| {
            while *i < b.len() && b[*i].is_ascii_whitespace() {
                *i += 1;
            }
        };
        skip_ws(&mut i);
        if b.get(i) != Some(&b'(') {
            continue;
        }
        i += 1;
        skip_ws(&mut i);
        let Some(&q @ (b'"' | b'\'')) = b.get(i) else { continue };
        let Some(len) = text[i + 1..].find(q as char) else { continue };
        let literal = &text[i + 1..i + 1 + len];
        if literal.contains('\\') {
            continue;
        }
        i += len + 2;
        skip_ws(&mut i);
        if b.get(i) != Some(&b')') {
            continue;
        }
        let call = (start + off, start + i + 1);
        taken_until = i + 1;
        // `{{ assetman.static_url('x') }}` with nothing else inside becomes the bare URL.
        let whole_tag = tag.filter(|&(s, e)| src[s + 2..e - 2].trim() == &src[call.0..call.1]);
        let (line, col) = lines.at(src, call.0);
        out.push(StaticUrl { path: literal.trim_start_matches('/').to_string(), line, col, call, whole_tag });
    }
}

/// A template found under a template directory.
#[derive(Debug, Clone)]
pub struct Template {
    /// Name used in outputs: the path under its template dir, prefixed with `<n>/` when there
    /// are several template dirs (n = the dir's position on the command line).
    pub name: String,
    pub path: PathBuf,
    pub source: String,
    pub scan: TemplateScan,
}

impl Template {
    /// A template from its bytes: UTF-8, then scanned; errors name `path`.
    pub fn parse(name: String, path: PathBuf, bytes: Vec<u8>) -> Result<Template, ScanError> {
        let shown = fsutil::display(&path);
        let source = String::from_utf8(bytes).map_err(|_| ScanError::Other(format!("{shown}: template is not UTF-8")))?;
        let scan = scan_source(&source).map_err(|p| ScanError::at(&shown, p))?;
        Ok(Template { name, path, source, scan })
    }
}

/// Reads and scans every template (`*.<ext>`) under the dirs, in sorted order.
pub fn scan_dirs(dirs: &[PathBuf], exts: &[String]) -> Result<Vec<Template>, Vec<ScanError>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (n, dir) in dirs.iter().enumerate() {
        let entries = match fsutil::walk(dir, &|rel, _| rel.rsplit('/').next().is_some_and(|s| s.starts_with('.'))) {
            Ok(e) => e,
            Err(e) => {
                errors.push(e.into());
                continue;
            }
        };
        for e in entries {
            let ext_ok = e.rel.rsplit_once('.').is_some_and(|(_, x)| exts.iter().any(|want| want.eq_ignore_ascii_case(x)));
            if !ext_ok {
                continue;
            }
            if e.kind == EntryKind::LinkOutside {
                errors.push(ScanError::Other(format!("{}: symlink points outside the template dir", fsutil::display(&e.path))));
                continue;
            }
            let name = if dirs.len() > 1 { format!("{n}/{}", e.rel) } else { e.rel.clone() };
            match fsutil::read(&e.path).map_err(ScanError::from).and_then(|bytes| Template::parse(name, e.path.clone(), bytes)) {
                Ok(t) => out.push(t),
                Err(err) => errors.push(err),
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Every path a template names must be a file inside the static root. `listing` is the static
/// root's files when the caller has walked it already (no file system lookups then).
pub fn check_paths(templates: &[Template], static_root: &Path, listing: Option<&BTreeSet<&str>>) -> Vec<ScanError> {
    let mut errors = Vec::new();
    let not_a_file = |what: &str, path: &str| format!("{what} path {path} is not a file under the static root {}", fsutil::display(static_root));
    let mut check = |t: &Template, path: &str, line: usize, col: usize, what: &str| {
        let message = match fsutil::normalize_rel(path) {
            _ if path.is_empty() => "asset block lists no paths".to_string(),
            Err(_) => format!("{what} path {path} escapes the static root"),
            Ok(rel) => match listing {
                Some(files) if files.contains(rel.as_str()) => return,
                Some(_) => not_a_file(what, path),
                None => match fsutil::safe_join(static_root, &rel) {
                    Ok(p) if p.is_file() => return,
                    Ok(_) => not_a_file(what, path),
                    Err(e) => format!("{what} path {path}: {e}"),
                },
            },
        };
        errors.push(ScanError::At { path: fsutil::display(&t.path), line, col, message });
    };
    for t in templates {
        for b in &t.scan.blocks {
            if b.paths.is_empty() {
                check(t, "", b.line, b.col, "block");
            }
            for p in &b.paths {
                check(t, p, b.line, b.col, "block");
            }
        }
        for u in &t.scan.static_urls {
            check(t, &u.path, u.line, u.col, "static_url");
        }
    }
    errors.extend(kind_collisions(templates));
    errors
}

/// One path list used as two kinds (say `include_css` here and `include_less` there) would need
/// two manifest entries under Assetman's one key: an error at the later use, naming the first.
fn kind_collisions(templates: &[Template]) -> Vec<ScanError> {
    let mut first: BTreeMap<String, (BlockKind, String)> = BTreeMap::new();
    let mut errors = Vec::new();
    for t in templates {
        for b in &t.scan.blocks {
            let at = format!("{}:{}:{}", fsutil::display(&t.path), b.line, b.col);
            match first.get(&block_key(&b.paths)) {
                None => {
                    first.insert(block_key(&b.paths), (b.kind, at));
                }
                Some((kind, there)) if *kind != b.kind => errors.push(ScanError::Other(format!(
                    "{at}: this block's paths are also used as an include_{} block at {there}; Assetman keys a block by its paths alone, so one list cannot be two kinds",
                    kind.name()
                ))),
                Some(_) => {}
            }
        }
    }
    errors
}

/// A distinct block (kind + paths) and where it is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockDef {
    pub kind: BlockKind,
    pub key: String,
    pub namehash: String,
    pub paths: Vec<String>,
    /// `template:line` of every use, sorted.
    pub used_in: Vec<String>,
}

/// The distinct blocks of a set of templates, sorted by key.
pub fn block_defs(templates: &[Template]) -> Vec<BlockDef> {
    let mut defs: BTreeMap<String, BlockDef> = BTreeMap::new();
    for t in templates {
        for b in &t.scan.blocks {
            let key = block_key(&b.paths);
            let def = defs.entry(key.clone()).or_insert_with(|| BlockDef {
                kind: b.kind,
                key,
                namehash: namehash(&b.paths),
                paths: b.paths.clone(),
                used_in: Vec::new(),
            });
            def.used_in.push(format!("{}:{}", t.name, b.line));
        }
    }
    let mut out: Vec<BlockDef> = defs.into_values().collect();
    for d in &mut out {
        d.used_in.sort();
    }
    out
}

/// The JSON that `kiln scan` prints.
pub fn scan_json(templates: &[Template]) -> serde_json::Value {
    let static_urls: Vec<serde_json::Value> = templates
        .iter()
        .flat_map(|t| t.scan.static_urls.iter().map(move |u| serde_json::json!({"path": u.path, "template": t.name, "line": u.line})))
        .collect();
    serde_json::json!({ "blocks": block_defs(templates), "static_urls": static_urls })
}

/// A Starlark file declaring one `kiln_asset_block` per block (the way Gazelle writes BUILD
/// files). `static_root` is the static root's path relative to the package holding the file.
pub fn bazel_file(defs: &[BlockDef], static_root: &str) -> String {
    let name = |d: &BlockDef| format!("block_{}_{}", d.kind.name(), &d.namehash[..12]);
    let mut names: Vec<String> = defs.iter().map(name).collect();
    names.sort();
    let mut s = String::from(
        "\"\"\"The Assetman blocks of the templates, generated by `kiln scan --bazel`; do not edit.\n\n\
         `kiln scan … --check` fails when this file is stale.\n\"\"\"\n\n\
         load(\"@kiln//rules:defs.bzl\", \"kiln_asset_block\")\n\nASSET_BLOCKS = [\n",
    );
    for n in &names {
        s.push_str(&format!("    \":{n}\",\n"));
    }
    s.push_str(&format!(
        "]\n\ndef asset_blocks(static_root = \"{static_root}\"):\n    \"\"\"Declares one kiln_asset_block per block (ASSET_BLOCKS).\n\n    \
         Args:\n      static_root: the static root, relative to the package.\n    \"\"\"\n"
    ));
    let mut sorted: Vec<&BlockDef> = defs.iter().collect();
    sorted.sort_by_key(|d| name(d));
    for (i, d) in sorted.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        s.push_str(&format!(
            "    kiln_asset_block(\n        name = \"{}\",\n        kind = \"{}\",\n        static_root = static_root,\n        srcs = [\n",
            name(d),
            d.kind.name()
        ));
        for p in &d.paths {
            let full = if static_root.is_empty() { p.clone() } else { format!("{static_root}/{p}") };
            s.push_str(&format!("            \"{full}\",\n"));
        }
        s.push_str("        ],\n    )\n");
    }
    s
}

/// How templates are rewritten: the merged manifest and the URL prefix to write
/// (`--cdn-prefix` when given, else the static prefix).
#[derive(Debug, Clone)]
pub struct Rewrite {
    pub manifest: Manifest,
    pub url_prefix: String,
}

impl Rewrite {
    /// The asset entry for a path, following `renames` (e.g. `img/a.jpg` → `img/a.webp`).
    pub fn asset(&self, path: &str) -> Option<&AssetEntry> {
        self.manifest.asset(path).map(|(_, e)| e)
    }

    pub fn block(&self, paths: &[String]) -> Option<&BlockEntry> {
        self.manifest.blocks.get(&block_key(paths))
    }

    /// The HTML that replaces a block.
    pub fn block_tag(&self, kind: BlockKind, entry: &BlockEntry) -> String {
        let url = html_attr(&format!("{}{}", self.url_prefix, entry.versioned_path));
        let sri = html_attr(&entry.integrity);
        match kind {
            BlockKind::Js => format!("<script src=\"{url}\" integrity=\"{sri}\" crossorigin=\"anonymous\"></script>"),
            BlockKind::Css | BlockKind::Less => {
                format!("<link rel=\"stylesheet\" href=\"{url}\" integrity=\"{sri}\" crossorigin=\"anonymous\">")
            }
        }
    }
}

fn html_attr(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;")
}

/// Replaces each block with its tag and each literal static_url call with its versioned URL.
/// A block or path missing from the manifest is an error at its position.
pub fn rewrite_source(src: &str, rw: &Rewrite) -> Result<String, Vec<Problem>> {
    let scan = scan_source(src).map_err(|p| vec![p])?;
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut problems = Vec::new();
    for b in &scan.blocks {
        match rw.block(&b.paths) {
            Some(entry) => edits.push((b.span.0, b.span.1, rw.block_tag(b.kind, entry))),
            None => {
                problems.push(Problem { line: b.line, col: b.col, message: format!("asset block {} is not in the manifest", block_key(&b.paths)) })
            }
        }
    }
    for u in &scan.static_urls {
        match rw.asset(&u.path) {
            Some(entry) => {
                let url = format!("{}{}", rw.url_prefix, entry.versioned_path);
                match u.whole_tag {
                    Some((s, e)) => edits.push((s, e, url)),
                    None => edits.push((u.call.0, u.call.1, format!("{url:?}"))),
                }
            }
            None => problems.push(Problem { line: u.line, col: u.col, message: format!("static_url path {} is not in the manifest", u.path) }),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    edits.sort_by_key(|e| e.0);
    let mut out = String::with_capacity(src.len());
    let mut pos = 0;
    for (s, e, text) in edits {
        out.push_str(&src[pos..s]);
        out.push_str(&text);
        pos = e;
    }
    out.push_str(&src[pos..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "<head>\n{% apply assetman.include_css %}\n  css/a.css\n  css/b.css\n{% end %}\n<img src=\"{{ assetman.static_url('img/x.png') }}\">\n{{ \"u=\" + assetman.static_url(\"img/y.png\") }}\n{{ assetman.static_url(name) }}\n{% assetman include_js %}\njs/a.js\n{% endassetman %}\n{% apply linkify %}x{% end %}\n";

    /// Found by the fuzzer (fuzz/regressions/template/): a static_url call spelled inside
    /// another's literal was a second, overlapping call, and the rewrite panicked on it.
    #[test]
    fn a_call_inside_a_literal_is_not_a_call() {
        let src = "<head>\n{%assetman.static_url(\"assetman.static_url('')\")%}";
        let s = scan_source(src).unwrap();
        assert_eq!(s.static_urls.len(), 1);
        assert_eq!(s.static_urls[0].path, "assetman.static_url('')");
        // Found by the 5-minute fuzz run: a call spelled inside a string of the tag's expression
        // was rewritten, and the URL's quotes closed the string early (the tag no longer ended).
        let s = scan_source("{%\"assetman.static_url('\"')\"{%%}").unwrap();
        assert!(s.static_urls.is_empty(), "{:?}", s.static_urls);
        let s = scan_source("{{ \"assetman.static_url('a')\" + assetman.static_url('b') }}").unwrap();
        let paths: Vec<&str> = s.static_urls.iter().map(|u| u.path.as_str()).collect();
        assert_eq!(paths, ["b"]);
    }

    /// Found by the fuzzer (fuzz/regressions/template/): a block inside a block gave two
    /// overlapping spans, and the rewrite then sliced backwards (a panic).
    #[test]
    fn nested_asset_blocks_are_an_error() {
        let src = "{%assetman include_js%}{%assetman include_js%}{%endassetman%}";
        let e = scan_source(src).unwrap_err();
        assert_eq!((e.line, e.col), (1, 24), "{e:?}");
        let src = "{% apply assetman.include_js %}\n{% apply assetman.include_css %}a.css{% end %}{% end %}";
        let e = scan_source(src).unwrap_err();
        assert_eq!((e.line, e.col, e.message.as_str()), (2, 1, "asset block inside the asset block of line 1"));
        // One after the other is fine.
        assert_eq!(scan_source("{%assetman include_js%}a.js{%endassetman%}{%assetman include_js%}b.js{%endassetman%}").unwrap().blocks.len(), 2);
    }

    #[test]
    fn finds_tornado_and_django_blocks_and_literal_static_urls() {
        let s = scan_source(T).unwrap();
        assert_eq!(s.blocks.len(), 2);
        assert_eq!(
            (s.blocks[0].kind, s.blocks[0].paths.clone(), s.blocks[0].line),
            (BlockKind::Css, vec!["css/a.css".to_string(), "css/b.css".to_string()], 2)
        );
        assert_eq!((s.blocks[1].kind, s.blocks[1].line), (BlockKind::Js, 9));
        let urls: Vec<(&str, bool)> = s.static_urls.iter().map(|u| (u.path.as_str(), u.whole_tag.is_some())).collect();
        assert_eq!(urls, [("img/x.png", true), ("img/y.png", false)]);
    }

    #[test]
    fn a_block_is_keyed_as_assetman_keys_it_and_one_list_cannot_be_two_kinds() {
        // assetman.managers.AssetManager.get_hash: md5 of the paths joined by newlines.
        assert_eq!(block_key(&["a".into(), "b".into()]), md5_hex(b"a\nb"));
        let t = |name: &str, helper: &str| {
            let src = format!("<p>\n{{% apply assetman.{helper} %}}\ncss/a.css\n{{% end %}}\n");
            Template::parse(name.into(), PathBuf::from(format!("t/{name}")), src.into_bytes()).unwrap()
        };
        let same = [t("a.html", "include_css"), t("b.html", "include_css")];
        assert!(kind_collisions(&same).is_empty());
        let clash = kind_collisions(&[t("a.html", "include_css"), t("b.html", "include_less")]);
        let msg: Vec<String> = clash.iter().map(|e| e.to_string()).collect();
        assert_eq!(msg.len(), 1, "{msg:?}");
        assert!(msg[0].starts_with("t/b.html:2:1: ") && msg[0].contains("include_css block at t/a.html:2:1"), "{msg:?}");
    }

    #[test]
    fn rewrites_blocks_and_static_urls_from_the_manifest() {
        let mut m = Manifest::default();
        let asset = |v: &str, vp: &str| AssetEntry { version: v.into(), versioned_path: vp.into(), ..AssetEntry::default() };
        m.assets.insert("img/x.png".into(), asset("1", "img/x.1.png"));
        m.assets.insert("img/y.webp".into(), asset("2", "img/y.2.webp"));
        m.renames.insert("img/y.png".into(), "img/y.webp".into());
        let css = vec!["css/a.css".to_string(), "css/b.css".to_string()];
        let js = vec!["js/a.js".to_string()];
        let block = |vp: &str| BlockEntry { versioned_path: vp.into(), integrity: "sha384-x".into(), ..BlockEntry::default() };
        m.blocks.insert(block_key(&css), block("f/c.css"));
        m.blocks.insert(block_key(&js), block("f/j.js"));
        let rw = Rewrite { manifest: m, url_prefix: "/s/".into() };
        let out = rewrite_source(T, &rw).unwrap();
        assert!(out.contains("<head>\n<link rel=\"stylesheet\" href=\"/s/f/c.css\" integrity=\"sha384-x\" crossorigin=\"anonymous\">\n"), "{out}");
        assert!(out.contains("<img src=\"/s/img/x.1.png\">"), "{out}");
        assert!(out.contains("{{ \"u=\" + \"/s/img/y.2.webp\" }}"), "{out}");
        assert!(out.contains("{{ assetman.static_url(name) }}"), "{out}");
        assert!(out.contains("<script src=\"/s/f/j.js\" integrity=\"sha384-x\" crossorigin=\"anonymous\"></script>\n{% apply linkify %}"), "{out}");
        let mut missing = rw.clone();
        missing.manifest.blocks.clear();
        let e = rewrite_source(T, &missing).unwrap_err();
        assert_eq!((e[0].line, e[0].col), (2, 1));
    }

    #[test]
    fn bazel_file_lists_targets_sorted_with_paths_in_block_order() {
        let defs = vec![BlockDef {
            kind: BlockKind::Css,
            key: "css:0123456789abcdef".into(),
            namehash: "0123456789abcdef".into(),
            paths: vec!["css/b.css".into(), "css/a.css".into()],
            used_in: vec![],
        }];
        let s = bazel_file(&defs, "src/partials");
        assert!(s.contains("ASSET_BLOCKS = [\n    \":block_css_0123456789ab\",\n]"), "{s}");
        assert!(s.contains("srcs = [\n            \"src/partials/css/b.css\",\n            \"src/partials/css/a.css\",\n        ],"), "{s}");
    }
}
