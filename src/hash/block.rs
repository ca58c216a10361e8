//! Compiles one Assetman asset block: its files concatenated in order and minified, as one
//! versioned bundle. Stylesheets are made self-contained: local `@import`s are inlined (in place,
//! wrapped in `@media` when the import has a media query), remote ones are hoisted to the top
//! (browsers ignore an `@import` after other rules), and every local `url()` becomes the absolute
//! versioned URL, so the bundle works from `f/` whatever directory its parts came from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use super::css::{self, CssRef};
use super::js;
use super::{encodings_of, resolve, sri, twins, versioned_path, HashError, HashOptions, UrlStyle};
use crate::fsutil;
use crate::manifest::{hex, lookups, BlockEntry, Manifest};
use crate::minify::{self, Kind, MinifyOptions};
use crate::scan::{block_key, namehash, BlockKind};

/// A compiled block: its manifest key and entry, and the files to write (relative to OUT).
#[derive(Debug, Clone)]
pub struct CompiledBlock {
    pub key: String,
    pub entry: BlockEntry,
    pub outputs: Vec<(String, Vec<u8>)>,
}

/// How to compile blocks.
#[derive(Debug, Clone, Default)]
pub struct BlockOptions {
    pub hash: HashOptions,
    pub minify: MinifyOptions,
    /// The `lessc` program for `include_less` blocks (a toolchain input: never looked up on PATH here).
    pub lessc: Option<PathBuf>,
    /// Files named on the command line (key → path): declared inputs, read as given even when
    /// they are symlinks out of the root, as Bazel's sandbox presents every input (design §2).
    /// Other files (imports) are joined to the root and refused if they escape it.
    pub given: BTreeMap<String, PathBuf>,
    /// Pieces shared between the blocks of one build.
    pub pieces: Option<Arc<Pieces>>,
}

/// The file holding `rel`: as given on the command line, else joined safely to the root.
fn source(root: &Path, rel: &str, opts: &BlockOptions) -> Result<PathBuf, Vec<HashError>> {
    match opts.given.get(rel) {
        Some(p) => Ok(p.clone()),
        None => fsutil::safe_join(root, rel).map_err(|e| vec![e.into()]),
    }
}

/// A block's version, known before it is compiled (so an unchanged block is never recompiled):
/// the md5 of its kind, its constituents' versions in block order, and everything else that
/// shapes the bundle's bytes (kiln's version, the URL prefix, the CSS targets).
pub fn block_version(kind: BlockKind, versions: &[(String, String)], opts: &BlockOptions) -> String {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    h.update(format!("kiln-block {} {}\n", env!("CARGO_PKG_VERSION"), kind.name()));
    h.update(format!("prefix {}\nstyle {:?}\ntargets {:?}\n", opts.hash.url_prefix(), opts.hash.url_style, opts.minify.targets));
    for (path, version) in versions {
        h.update(format!("{path} {version}\n"));
    }
    hex(&h.finalize())
}

/// Where the block is served (relative to the prefix) and the file that holds it.
pub fn block_paths(kind: BlockKind, paths: &[String], version: &str, known: &Manifest, style: UrlStyle) -> (String, String) {
    let name = format!("{}.{}", namehash(paths), kind.ext());
    match style {
        UrlStyle::Filename | UrlStyle::Source => {
            let p = versioned_path(&format!("f/{name}"), version, UrlStyle::Filename);
            (p.clone(), p)
        }
        UrlStyle::Assetman => {
            // The lookups of the whole static tree, as the merge will compute them.
            let table = lookups(known.assets.keys().map(String::as_str));
            let by_path: BTreeMap<&str, &str> = table.iter().map(|(k, v)| (v.as_str(), k.as_str())).collect();
            let abbrevs: Vec<&str> = paths.iter().map(|p| by_path.get(p.as_str()).copied().unwrap_or("")).collect();
            (format!("v:{version}/f:{}/{name}", abbrevs.join(":")), format!("f/{name}"))
        }
    }
}

/// Compiles the block `paths` (relative to `root`, in block order). `known` must hold every
/// constituent's entry (the static tree's partial manifest).
pub fn compile_block(kind: BlockKind, paths: &[String], root: &Path, known: &Manifest, opts: &BlockOptions) -> Result<CompiledBlock, Vec<HashError>> {
    let mut errors = Vec::new();
    let mut versions = Vec::new();
    for p in paths {
        match known.asset(p) {
            Some((_, e)) => versions.push((p.clone(), e.version.clone())),
            None => errors.push(HashError::File {
                path: p.clone(),
                message: "block path is not in any dependency manifest (version the static tree first)".into(),
            }),
        }
    }
    if paths.is_empty() {
        errors.push(HashError::File { path: block_key(paths), message: "asset block lists no paths".into() });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // Each file is minified on its own and the pieces are joined: a file shared by many blocks
    // is minified once per build (see Pieces), and every broken file is reported, not the first.
    let mut pieces = Vec::new();
    for p in paths {
        match piece(kind, root, p, known, opts) {
            Ok(x) => pieces.push(x),
            Err(e) => errors.extend(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let bundle = join_pieces(kind, &pieces, paths, root, known, opts)?;
    let version = block_version(kind, &versions, opts);
    let (served, file) = block_paths(kind, paths, &version, known, opts.hash.url_style);
    let mut outputs = twins(&file, &bundle, opts.hash.compress);
    let encodings = encodings_of(outputs.iter().map(|(rel, _)| rel));
    let entry = BlockEntry { version, versioned_path: served, integrity: sri(&bundle), paths: paths.to_vec(), encodings };
    outputs.push((file, bundle));
    outputs.sort();
    Ok(CompiledBlock { key: block_key(paths), entry, outputs })
}

/// One file of a block, minified: what the bundle is joined from.
#[derive(Debug)]
pub struct Piece {
    pub bytes: Vec<u8>,
    /// Remote `@import` rules found in the stylesheet (and its inlined imports), hoisted to
    /// the top of the bundle.
    pub hoisted: Vec<String>,
}

/// Pieces already made in this process, by kind and path: a file in many blocks is minified
/// once. Valid for one static manifest and one set of options (one build).
#[derive(Debug, Default)]
pub struct Pieces(Mutex<BTreeMap<(BlockKind, String), Arc<Piece>>>);

impl Pieces {
    /// Records `bytes` as the JS piece of `path` (its minified static output, which is exactly
    /// what piece() would make with the same options).
    pub fn insert_js(&self, path: &str, bytes: Vec<u8>) {
        self.insert(BlockKind::Js, path, Arc::new(Piece { bytes, hoisted: Vec::new() }));
    }

    fn get(&self, kind: BlockKind, path: &str) -> Option<Arc<Piece>> {
        self.0.lock().ok()?.get(&(kind, path.to_string())).cloned()
    }

    fn insert(&self, kind: BlockKind, path: &str, piece: Arc<Piece>) {
        if let Ok(mut m) = self.0.lock() {
            m.insert((kind, path.to_string()), piece);
        }
    }
}

fn piece(kind: BlockKind, root: &Path, rel: &str, known: &Manifest, opts: &BlockOptions) -> Result<Arc<Piece>, Vec<HashError>> {
    if let Some(p) = opts.pieces.as_ref().and_then(|m| m.get(kind, rel)) {
        return Ok(p);
    }
    let file = source(root, rel, opts)?;
    let shown = fsutil::display(&file);
    let made = match kind {
        BlockKind::Js => {
            let bytes = fsutil::read(&file).map_err(|e| vec![e.into()])?;
            Piece { bytes: minify::minify_source(Kind::Js, &bytes, &shown, &opts.minify).map_err(|e| vec![e.into()])?, hoisted: Vec::new() }
        }
        BlockKind::Css | BlockKind::Less => {
            let text = if kind == BlockKind::Less { lessc(root, rel, opts)? } else { read_text(root, rel, opts)? };
            let mut hoisted = Vec::new();
            let inlined = inline_css(root, rel, &text, known, opts, &mut vec![rel.to_string()], &mut hoisted)?;
            let bytes = minify::minify_source(Kind::Css, inlined.as_bytes(), &shown, &opts.minify).map_err(|e| vec![e.into()])?;
            Piece { bytes, hoisted }
        }
    };
    let made = Arc::new(made);
    if let Some(m) = &opts.pieces {
        m.insert(kind, rel, made.clone());
    }
    Ok(made)
}

/// The bundle: JS pieces joined with `\n;` (a piece ending without a semicolon never runs into
/// the next; a `#!` line, valid only first in a file, is dropped), each with its module
/// specifiers and `new URL(…, import.meta.url)`s made absolute (the bundle is served from `f/`);
/// stylesheets after their hoisted remote `@import`s, which browsers honour only at the top.
fn join_pieces(
    kind: BlockKind,
    pieces: &[Arc<Piece>],
    paths: &[String],
    root: &Path,
    known: &Manifest,
    opts: &BlockOptions,
) -> Result<Vec<u8>, Vec<HashError>> {
    let shown = fsutil::display(&root.join(&paths[0]));
    let mut out = Vec::new();
    match kind {
        BlockKind::Js => {
            let mut errors = Vec::new();
            for (i, (p, rel)) in pieces.iter().zip(paths).enumerate() {
                if i > 0 {
                    out.extend_from_slice(b"\n;");
                }
                let body = match p.bytes.strip_prefix(b"#!") {
                    Some(rest) => rest.iter().position(|&b| b == b'\n').map(|n| &rest[n + 1..]).unwrap_or_default(),
                    None => &p.bytes[..],
                };
                match absolute_js_refs(rel, body, &fsutil::display(&root.join(rel)), known, opts) {
                    Ok(Some(rewritten)) => out.extend_from_slice(&rewritten),
                    Ok(None) => out.extend_from_slice(body),
                    Err(e) => errors.extend(e),
                }
            }
            if !errors.is_empty() {
                return Err(errors);
            }
        }
        BlockKind::Css | BlockKind::Less => {
            let mut hoisted: Vec<&str> = Vec::new();
            for h in pieces.iter().flat_map(|p| &p.hoisted) {
                if !hoisted.contains(&h.as_str()) {
                    hoisted.push(h);
                }
            }
            if !hoisted.is_empty() {
                out = minify::minify_source(Kind::Css, hoisted.join("\n").as_bytes(), &shown, &opts.minify).map_err(|e| vec![e.into()])?;
            }
            for p in pieces {
                out.extend_from_slice(&p.bytes);
            }
        }
    }
    Ok(out)
}

/// A JS piece with its local module specifiers and `new URL(…, import.meta.url)` literals
/// replaced by absolute versioned URLs (`None`: nothing to replace). Bare specifiers and
/// source-map comments stay as they are.
fn absolute_js_refs(rel: &str, body: &[u8], shown: &str, known: &Manifest, opts: &BlockOptions) -> Result<Option<Vec<u8>>, Vec<HashError>> {
    let Ok(text) = std::str::from_utf8(body) else { return Ok(None) };
    let refs = js::find_refs(text).map_err(|p| vec![HashError::At { path: shown.to_string(), line: p.line, col: p.col, message: p.message }])?;
    let mut out = Vec::with_capacity(body.len());
    let mut pos = 0;
    let mut errors = Vec::new();
    for r in refs {
        let bare = r.kind == js::JsRefKind::Module && !js::is_path_specifier(&r.url);
        if r.kind == js::JsRefKind::SourceMap || bare || js::names_directory(&r.url) {
            continue;
        }
        let at = |message: String| HashError::At { path: shown.to_string(), line: r.line, col: r.col, message };
        match resolve(rel, &r.url, &opts.hash.prefix) {
            Ok(Some((dep, suffix, _))) => match known.asset(&dep) {
                Some((_, entry)) => {
                    out.extend_from_slice(&body[pos..r.start]);
                    let url = format!("{}{}{suffix}", opts.hash.url_prefix(), entry.versioned_path);
                    out.extend_from_slice(js::token(&url, r.quote).as_bytes());
                    pos = r.end;
                }
                None => errors.push(at(format!("references {dep}, which is not in any dependency manifest"))),
            },
            Ok(None) => {}
            Err(message) => errors.push(at(message)),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if pos == 0 {
        return Ok(None);
    }
    out.extend_from_slice(&body[pos..]);
    Ok(Some(out))
}

fn read_text(root: &Path, rel: &str, opts: &BlockOptions) -> Result<String, Vec<HashError>> {
    let file = source(root, rel, opts)?;
    let bytes = fsutil::read(&file).map_err(|e| vec![e.into()])?;
    String::from_utf8(bytes).map_err(|_| vec![HashError::File { path: fsutil::display(&file), message: "stylesheet is not UTF-8".into() }])
}

/// Runs `lessc` on one file; its URLs are rewritten relative to that file (`--rewrite-urls=all`),
/// so the result is resolved as if it were the file itself.
fn lessc(root: &Path, rel: &str, opts: &BlockOptions) -> Result<String, Vec<HashError>> {
    let file = source(root, rel, opts)?;
    let shown = fsutil::display(&file);
    let Some(lessc) = &opts.lessc else {
        return Err(vec![HashError::File { path: shown, message: "include_less needs a LESS compiler: pass --lessc PATH".into() }]);
    };
    let out = Command::new(lessc)
        .arg("--no-color")
        .arg("--rewrite-urls=all")
        .arg(&file)
        // Nothing of the caller's environment but PATH (lessc is a node script: `env node`).
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .map_err(|e| vec![HashError::File { path: shown.clone(), message: format!("cannot run {}: {e}", fsutil::display(lessc)) }])?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(vec![HashError::File { path: shown, message: format!("lessc failed: {msg}") }]);
    }
    String::from_utf8(out.stdout).map_err(|_| vec![HashError::File { path: shown, message: "lessc output is not UTF-8".into() }])
}

/// One stylesheet made self-contained (see the module comment). `stack` holds the chain of
/// imports being inlined, for cycle errors.
fn inline_css(
    root: &Path,
    key: &str,
    text: &str,
    known: &Manifest,
    opts: &BlockOptions,
    stack: &mut Vec<String>,
    hoisted: &mut Vec<String>,
) -> Result<String, Vec<HashError>> {
    let shown = fsutil::display(&root.join(key));
    let refs: Vec<CssRef> =
        css::find_refs(text, &shown).map_err(|p| vec![HashError::At { path: shown.clone(), line: p.line, col: p.col, message: p.message }])?;
    let at = |r: &CssRef, message: String| HashError::At { path: shown.clone(), line: r.line, col: r.col, message };
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    let mut errors = Vec::new();
    for r in &refs {
        let resolved = match resolve(key, &r.url, &opts.hash.prefix) {
            Ok(x) => x,
            Err(message) => {
                errors.push(at(r, message));
                continue;
            }
        };
        match (resolved, r.import_rule) {
            (None, Some((s, e))) => {
                let rule = text[s..e].trim().to_string();
                if !hoisted.contains(&rule) {
                    hoisted.push(rule);
                }
                out.push_str(&text[pos..s]);
                pos = e;
            }
            (None, None) => {}
            (Some((dep, _, _)), Some((s, e))) => {
                if let Some(i) = stack.iter().position(|k| *k == dep) {
                    let mut cycle = stack[i..].to_vec();
                    cycle.push(dep);
                    return Err(vec![HashError::Cycle(cycle)]);
                }
                let condition = text[r.end..e].trim_end_matches(';').trim();
                if condition.starts_with("layer") || condition.starts_with("supports") {
                    errors.push(at(r, format!("cannot inline @import with `{condition}` into a bundle")));
                    continue;
                }
                let dep_text = match read_text(root, &dep, opts) {
                    Ok(t) => t,
                    Err(e) => {
                        errors.extend(e);
                        continue;
                    }
                };
                stack.push(dep.clone());
                let inner = inline_css(root, &dep, &dep_text, known, opts, stack, hoisted)?;
                stack.pop();
                out.push_str(&text[pos..s]);
                if condition.is_empty() {
                    out.push_str(&inner);
                } else {
                    out.push_str(&format!("@media {condition}{{\n{inner}\n}}"));
                }
                pos = e;
            }
            (Some((dep, suffix, _)), None) => match known.asset(&dep) {
                Some((_, entry)) => {
                    out.push_str(&text[pos..r.start]);
                    let url = format!("{}{}{suffix}", opts.hash.url_prefix(), entry.versioned_path);
                    out.push_str(&css::url_token(&url, r.is_url_fn));
                    pos = r.end;
                }
                None => errors.push(at(r, format!("references {dep}, which is not in any dependency manifest"))),
            },
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    out.push_str(&text[pos..]);
    Ok(strip_charset(&out))
}

/// A `@charset` is only valid first in a file; inside a bundle it must go (UTF-8 is the default).
fn strip_charset(css: &str) -> String {
    let t = css.trim_start_matches('\u{feff}');
    match t.strip_prefix("@charset") {
        Some(rest) => rest.find(';').map(|i| rest[i + 1..].to_string()).unwrap_or_default(),
        None => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::AssetEntry;

    fn known(paths: &[(&str, &str)]) -> Manifest {
        let mut m = Manifest::default();
        for (k, v) in paths {
            m.assets.insert(
                k.to_string(),
                AssetEntry { version: v.to_string(), versioned_path: versioned_path(k, v, UrlStyle::Filename), ..Default::default() },
            );
        }
        m
    }

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn css_bundle_inlines_imports_hoists_remote_ones_and_makes_urls_absolute() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(r, "css/base.css", "@charset \"utf-8\";\nbody { background: url(../img/bg.png) }\n");
        write(r, "css/app.css", "@import url(https://fonts.example/x.css);\n@import \"base.css\" print;\n/* url(../img/none.png) */\na { background: url('/s/img/bg.png#f') }\n");
        let k = known(&[("css/base.css", "b1"), ("css/app.css", "a1"), ("img/bg.png", "0123456789abcdef")]);
        let b = compile_block(BlockKind::Css, &["css/app.css".into()], r, &k, &BlockOptions::default()).unwrap();
        let css = String::from_utf8(b.outputs.last().unwrap().1.clone()).unwrap();
        assert!(css.starts_with("@import \"https://fonts.example/x.css\""), "{css}");
        assert!(css.contains("@media print{body{background:url(/s/img/bg.0123456789ab.png)}}"), "{css}");
        assert!(css.contains("a{background:url(/s/img/bg.0123456789ab.png#f)}"), "{css}");
        assert!(!css.contains("none.png") && !css.contains("@charset"), "{css}");
        assert!(b.entry.versioned_path.starts_with(&format!("f/{}.", namehash(&["css/app.css".into()]))));
    }

    #[test]
    fn js_bundle_is_its_minified_files_joined_so_none_runs_into_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        // Without the separator, b.js's leading parenthesis would call a.js's last expression.
        write(r, "js/a.js", "#!/usr/bin/env node\nvar a = 1\nvar f = function () { return a }\n");
        write(r, "js/b.js", "(function () { window.x = f() })()\n");
        let k = known(&[("js/a.js", "a1"), ("js/b.js", "b1")]);
        let paths = ["js/a.js".to_string(), "js/b.js".to_string()];
        let opts = BlockOptions::default();
        let b = compile_block(BlockKind::Js, &paths, r, &k, &opts).unwrap();
        let piece = |p: &str| minify::minify_source(Kind::Js, &std::fs::read(r.join(p)).unwrap(), p, &opts.minify).unwrap();
        let a = piece("js/a.js");
        let a = &a[a.iter().position(|&c| c == b'\n').unwrap() + 1..];
        let want = [a, b"\n;", &piece("js/b.js")].concat();
        assert_eq!(String::from_utf8_lossy(&b.outputs.last().unwrap().1), String::from_utf8_lossy(&want));

        // Pieces handed in (kiln build's minified static files) are used as they are, and every
        // broken file of a block is reported.
        let pieces = Pieces::default();
        pieces.insert_js("js/a.js", b"A()".to_vec());
        let with = BlockOptions { pieces: Some(Arc::new(pieces)), ..BlockOptions::default() };
        let b = compile_block(BlockKind::Js, &paths, r, &k, &with).unwrap();
        assert_eq!(b.outputs.last().unwrap().1, [&b"A()\n;"[..], &piece("js/b.js")].concat());
        write(r, "js/a.js", "var = 1;\n");
        write(r, "js/b.js", "let let = 2;\n");
        let errors = compile_block(BlockKind::Js, &paths, r, &k, &opts).unwrap_err();
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(text[0].contains("a.js:1:") && text[1].contains("b.js:1:"), "{text:?}");
    }

    #[test]
    fn js_pieces_name_their_modules_and_assets_by_absolute_versioned_urls() {
        // The bundle is served from f/, so a piece's relative references would resolve there.
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(r, "js/app.js", "import(\"./lazy.js\").then((m) => m.go());\nwindow.u = new URL(\"../img/x.png\", import.meta.url);\nimport(\"lodash\");\nwindow.s = 'import(\"./lazy.js\")';\n");
        let k = known(&[("js/app.js", "a1"), ("js/lazy.js", "0123456789abcdef"), ("img/x.png", "fedcba9876543210")]);
        let b = compile_block(BlockKind::Js, &["js/app.js".into()], r, &k, &BlockOptions::default()).unwrap();
        let js = String::from_utf8(b.outputs.last().unwrap().1.clone()).unwrap();
        assert!(js.contains("import(\"/s/js/lazy.0123456789ab.js\")"), "{js}");
        assert!(js.contains("new URL(\"/s/img/x.fedcba987654.png\",import.meta.url)"), "{js}");
        assert!(js.contains("import(\"lodash\")") && js.matches("./lazy.js").count() == 1, "strings and bare specifiers stay: {js}");
        let k = known(&[("js/app.js", "a1"), ("img/x.png", "fedcba9876543210")]);
        let e = compile_block(BlockKind::Js, &["js/app.js".into()], r, &k, &BlockOptions::default()).unwrap_err();
        assert!(e[0].to_string().contains("references js/lazy.js, which is not in any dependency manifest"), "{}", e[0]);
    }

    #[test]
    fn files_named_on_the_command_line_are_read_as_given_even_as_symlinks() {
        // Bazel's sandbox: the root is a real directory, every input a symlink to elsewhere.
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path().join("sandbox/static");
        write(dir.path(), "real/css/base.css", "a { color: red }\n");
        write(dir.path(), "real/css/app.css", "@import \"base.css\";\nb { color: blue }\n");
        std::fs::create_dir_all(r.join("css")).unwrap();
        for f in ["base.css", "app.css"] {
            std::os::unix::fs::symlink(dir.path().join("real/css").join(f), r.join("css").join(f)).unwrap();
        }
        let k = known(&[("css/base.css", "b1"), ("css/app.css", "a1")]);
        let paths: Vec<String> = vec!["css/base.css".into(), "css/app.css".into()];
        let refused = compile_block(BlockKind::Css, &paths, &r, &k, &BlockOptions::default()).unwrap_err();
        assert!(refused[0].to_string().contains("symlink points outside the root"), "{}", refused[0]);
        let given = paths.iter().map(|p| (p.clone(), r.join(p))).collect();
        let b = compile_block(BlockKind::Css, &paths, &r, &k, &BlockOptions { given, ..Default::default() }).unwrap();
        let css = String::from_utf8(b.outputs.last().unwrap().1.clone()).unwrap();
        assert!(css.contains("color:red") && css.contains("color:#00f"), "{css}");
    }

    #[test]
    fn import_cycles_are_errors_not_crashes() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(r, "a.css", "@import 'b.css';\n");
        write(r, "b.css", "@import 'a.css';\n");
        let k = known(&[("a.css", "1"), ("b.css", "2")]);
        let e = compile_block(BlockKind::Css, &["a.css".into()], r, &k, &BlockOptions::default()).unwrap_err();
        assert_eq!(e[0].to_string(), "dependency cycle: a.css -> b.css -> a.css");
    }

    #[test]
    fn version_covers_constituents_kind_and_order() {
        let o = BlockOptions::default();
        let v = |kind, list: &[(&str, &str)]| block_version(kind, &list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>(), &o);
        let base = v(BlockKind::Css, &[("a", "1"), ("b", "2")]);
        assert_eq!(base, v(BlockKind::Css, &[("a", "1"), ("b", "2")]));
        assert_ne!(base, v(BlockKind::Css, &[("a", "1"), ("b", "3")]));
        assert_ne!(base, v(BlockKind::Css, &[("b", "2"), ("a", "1")]));
        assert_ne!(base, v(BlockKind::Less, &[("a", "1"), ("b", "2")]));
    }
}
