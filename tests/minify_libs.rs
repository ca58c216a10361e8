//! kiln-minify on real libraries, not toys: jQuery, lodash, three.js and d3 minified by the real
//! binary must behave the same as their originals (tests/tools/libs_check.mjs calls the same
//! functions on both under node and compares the results as JSON), and Bootstrap's and
//! normalize.css's stylesheets must shrink, parse again (with kiln-minify itself and with
//! css-tree, an independent parser) and keep their @media rules and selectors.
//!
//! The packages are pinned (version and the registry's sha512 integrity) and fetched with
//! `npm pack` into target/kiln-test-cache/npm/, which survives between runs; the node tools
//! (jsdom, css-tree) are installed there with `npm ci` from tests/tools/libs_tools.package*.json.
//! A registry that cannot be reached fails the test with a message saying so.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use base64::Engine;
use common::*;
use sha2::{Digest, Sha512};

struct Package {
    name: &'static str,
    version: &'static str,
    /// `dist.integrity` as the registry publishes it.
    integrity: &'static str,
    /// The file under test, inside the package, and the name it gets in the test tree.
    file: &'static str,
    as_name: &'static str,
}

const JQUERY: Package = Package {
    name: "jquery",
    version: "3.7.1",
    integrity: "sha512-m4avr8yL8kmFN8psrbFFFmB/If14iN5o9nw/NgnnM+kybDJpRsAynV2BsfpTYrTRysYUdADVD7CkUUizgkpLfg==",
    file: "dist/jquery.js",
    as_name: "jquery.js",
};
const LODASH: Package = Package {
    name: "lodash",
    version: "4.17.21",
    integrity: "sha512-v2kDEe57lecTulaDIuNTPy3Ry4gLGJ6Z1O3vE1krgXZNrsQ+LFTGHVxVjcXPs17LhbZVGedAJv8XZ1tvj5FvSg==",
    file: "lodash.js",
    as_name: "lodash.js",
};
const THREE: Package = Package {
    name: "three",
    version: "0.160.0",
    integrity: "sha512-DLU8lc0zNIPkM7rH5/e1Ks1Z8tWCGRq6g8mPowdDJpw1CFBJMU7UoJjC6PefXW7z//SSl0b2+GCw14LB+uDhng==",
    file: "build/three.module.js",
    as_name: "three.module.js",
};
const D3: Package = Package {
    name: "d3",
    version: "7.8.5",
    integrity: "sha512-JgoahDG51ncUfJu6wX/1vWQEqOflgXyl4MaHqlcSruTez7yhaRKR9i8VjjcQGeS2en/jnFivXuaIMnseMMt0XA==",
    file: "dist/d3.js",
    as_name: "d3.js",
};
const BOOTSTRAP: Package = Package {
    name: "bootstrap",
    version: "5.3.3",
    integrity: "sha512-8HLCdWgyoMguSO9o+aH+iuZ+aht+mzW0u3HIMzVu7Srrpv7EBBxTnrFlSCskwdY1+EOFQSm7uMJhNQHkdPcmjg==",
    file: "dist/css/bootstrap.css",
    as_name: "bootstrap.css",
};
const NORMALIZE: Package = Package {
    name: "normalize.css",
    version: "8.0.1",
    integrity: "sha512-qizSNPO93t1YUuUhP22btGOo3chcvDFqFaj2TRybP0DMxkHOCTYwp3n34fel4a31ORXy4m1Xq0Gyqpb5m33qIg==",
    file: "normalize.css",
    as_name: "normalize.css",
};

/// The tests of this file run in parallel threads and share the cache; one at a time in it.
/// (Across processes, everything lands in the cache by rename, so a half-written entry is
/// never seen.)
static CACHE_LOCK: Mutex<()> = Mutex::new(());

fn cache() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/kiln-test-cache/npm")
}

fn sri_sha512(bytes: &[u8]) -> String {
    format!("sha512-{}", base64::engine::general_purpose::STANDARD.encode(Sha512::digest(bytes)))
}

/// A fresh directory inside the cache for building an entry that is then renamed into place.
fn scratch(tag: &str) -> tempfile::TempDir {
    fs::create_dir_all(cache()).unwrap();
    tempfile::Builder::new().prefix(&format!(".tmp-{tag}-")).tempdir_in(cache()).unwrap()
}

/// Puts `from` at `to` unless another process got there first.
fn install_dir(from: &Path, to: &Path) {
    if let Err(e) = fs::rename(from, to) {
        assert!(to.is_dir(), "cannot move {from:?} to {to:?}: {e}");
    }
}

/// The package's tarball from the cache, or from the registry with `npm pack`; either way
/// checked against its pinned integrity.
fn tarball(p: &Package) -> PathBuf {
    let path = cache().join(format!("{}-{}.tgz", p.name, p.version));
    if let Ok(bytes) = fs::read(&path) {
        if sri_sha512(&bytes) == p.integrity {
            return path;
        }
        eprintln!("cached {path:?} does not match its pinned integrity: fetching it again");
        fs::remove_file(&path).unwrap();
    }
    let tmp = scratch("pack");
    let spec = format!("{}@{}", p.name, p.version);
    let t0 = Instant::now();
    let o = run(Command::new("npm")
        .args(["pack", &spec, "--pack-destination"])
        .arg(tmp.path())
        .args(["--loglevel=error", "--no-audit", "--no-fund"])
        .current_dir(tmp.path()));
    assert!(
        o.status.success(),
        "`npm pack {spec}` failed: the npm registry could not be reached or refused the package (this test needs it once, then uses target/kiln-test-cache/npm/):\n{}",
        stderr(&o)
    );
    let packed: Vec<PathBuf> =
        fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "tgz")).collect();
    assert_eq!(packed.len(), 1, "`npm pack {spec}` wrote {packed:?}");
    let got = sri_sha512(&fs::read(&packed[0]).unwrap());
    assert_eq!(got, p.integrity, "{spec} from the registry does not match its pinned integrity");
    fs::rename(&packed[0], &path).unwrap();
    eprintln!("fetched {spec} in {:.1} s", t0.elapsed().as_secs_f64());
    path
}

/// The unpacked package (its `package/` directory), cached beside the tarball.
fn unpacked(p: &Package) -> PathBuf {
    let _guard = CACHE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = cache().join("pkg").join(format!("{}-{}", p.name, p.version));
    let tgz = tarball(p);
    if !dir.join("package").join(p.file).is_file() {
        let tmp = scratch("unpack");
        let o = run(Command::new("tar").arg("-xzf").arg(&tgz).arg("-C").arg(tmp.path()));
        assert!(o.status.success(), "cannot extract {tgz:?}: {}", stderr(&o));
        assert!(tmp.path().join("package").join(p.file).is_file(), "{}@{} has no {}", p.name, p.version, p.file);
        fs::create_dir_all(dir.parent().unwrap()).unwrap();
        let _ = fs::remove_dir_all(&dir);
        install_dir(&tmp.keep(), &dir);
    }
    dir.join("package")
}

/// node_modules with jsdom and css-tree, installed once with `npm ci` from the pinned lockfile
/// and installed again when that lockfile changes.
fn node_tools() -> PathBuf {
    let _guard = CACHE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let manifest = fs::read(repo().join("tests/tools/libs_tools.package.json")).unwrap();
    let lock = fs::read(repo().join("tests/tools/libs_tools.package-lock.json")).unwrap();
    let stamp = sri_sha512(&[manifest.as_slice(), lock.as_slice()].concat());
    let dir = cache().join("tools");
    if fs::read_to_string(dir.join(".kiln-stamp")).ok().as_deref() == Some(stamp.as_str()) {
        return dir;
    }
    let tmp = scratch("tools");
    fs::write(tmp.path().join("package.json"), &manifest).unwrap();
    fs::write(tmp.path().join("package-lock.json"), &lock).unwrap();
    let t0 = Instant::now();
    let o = run(Command::new("npm")
        .args(["ci", "--prefix"])
        .arg(tmp.path())
        .args(["--loglevel=error", "--no-audit", "--no-fund", "--ignore-scripts"])
        .current_dir(tmp.path()));
    assert!(
        o.status.success(),
        "`npm ci` of the test tools (jsdom, css-tree; tests/tools/libs_tools.package-lock.json) failed: is the npm registry reachable?\n{}",
        stderr(&o)
    );
    fs::write(tmp.path().join(".kiln-stamp"), &stamp).unwrap();
    let _ = fs::remove_dir_all(&dir);
    install_dir(&tmp.keep(), &dir);
    eprintln!("installed the node test tools in {:.1} s", t0.elapsed().as_secs_f64());
    dir
}

fn gzip_len(bytes: &[u8]) -> usize {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap().len()
}

/// Copies each package's file under test into `dir` under its short name.
fn stage(packages: &[&Package], dir: &Path) -> Vec<PathBuf> {
    packages
        .iter()
        .map(|p| {
            let to = dir.join(p.as_name);
            fs::create_dir_all(dir).unwrap();
            fs::copy(unpacked(p).join(p.file), &to).unwrap();
            to
        })
        .collect()
}

fn minify_tree(src: &Path, inputs: &[PathBuf], out: &Path) -> f64 {
    let t0 = Instant::now();
    let o = run(Command::new(bin("kiln-minify")).arg("--root").arg(src).arg("-o").arg(out).args(inputs));
    assert!(o.status.success(), "kiln-minify failed on a real library:\n{}", stderr(&o));
    t0.elapsed().as_secs_f64()
}

/// Prints original → minified (and gzip) for each file; returns (original, minified) sizes.
fn report_sizes(src: &Path, out: &Path, names: &[&str]) -> Vec<(usize, usize)> {
    names
        .iter()
        .map(|n| {
            let a = fs::read(src.join(n)).unwrap();
            let b = fs::read(out.join(n)).unwrap();
            eprintln!(
                "  {n:<16} {:>9} -> {:>9} bytes ({:>5.1}% smaller); gzip {:>7} -> {:>7}",
                a.len(),
                b.len(),
                100.0 * (1.0 - b.len() as f64 / a.len() as f64),
                gzip_len(&a),
                gzip_len(&b)
            );
            (a.len(), b.len())
        })
        .collect()
}

#[test]
fn real_js_libraries_behave_the_same_after_minification() {
    if !require("node") || !require("npm") {
        return;
    }
    let t0 = Instant::now();
    let libs = [&JQUERY, &LODASH, &THREE, &D3];
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("orig");
    let out = tmp.path().join("min");
    let inputs = stage(&libs, &src);
    let tools = node_tools();
    let fetched = t0.elapsed().as_secs_f64();
    let took = minify_tree(&src, &inputs, &out);
    eprintln!("kiln-minify, {} libraries in one batch: {took:.2} s", libs.len());
    let names: Vec<&str> = libs.iter().map(|p| p.as_name).collect();
    for ((a, b), name) in report_sizes(&src, &out, &names).into_iter().zip(&names) {
        assert!(b * 100 <= a * 60, "{name}: {a} -> {b} bytes is not at least 40% smaller");
    }
    // License banners survive (kiln keeps /*! … */ and @license comments).
    let min = |n: &str| fs::read_to_string(out.join(n)).unwrap();
    assert!(min("jquery.js").starts_with("/*!\n * jQuery JavaScript Library v3.7.1"), "jQuery's banner: {}", &min("jquery.js")[..80]);
    assert!(min("lodash.js").contains("@license"), "lodash's @license comment is gone");
    assert!(min("three.module.js").contains("@license"), "three's @license comment is gone");
    // three.module.js is an ES module: both copies are loaded with import().
    for dir in [&src, &out] {
        fs::write(dir.join("package.json"), "{\"type\": \"module\"}\n").unwrap();
    }
    let t1 = Instant::now();
    let o = run(Command::new("node").arg(repo().join("tests/tools/libs_check.mjs")).arg(&src).arg(&out).arg(&tools));
    let report = String::from_utf8_lossy(&o.stdout);
    eprintln!("{report}");
    eprintln!(
        "timing: cache {fetched:.1} s, minify {took:.1} s, node checks {:.1} s, total {:.1} s",
        t1.elapsed().as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    assert!(o.status.success(), "a minified library does not behave like the original:\n{report}{}", stderr(&o));
    assert!(report.contains("libs_check: all libraries behave the same"), "{report}");
}

/// Counts in a stylesheet outside comments and strings: `{`, and at-rules by name.
fn css_counts(css: &str) -> (usize, std::collections::BTreeMap<String, usize>) {
    let b = css.as_bytes();
    let (mut i, mut braces) = (0, 0);
    let mut at = std::collections::BTreeMap::new();
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = css[i + 2..].find("*/").map(|j| i + 2 + j + 2).unwrap_or(b.len());
                continue;
            }
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' => braces += 1,
            b'@' => {
                let name: String = css[i + 1..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
                *at.entry(name.to_ascii_lowercase()).or_insert(0) += 1;
            }
            _ => {}
        }
        i += 1;
    }
    (braces, at)
}

/// css-tree's view of each file: parse errors, and counts of rules, selectors, declarations and
/// at-rules by name.
fn css_tree_stats(tools: &Path, files: &[PathBuf]) -> serde_json::Value {
    let script = r#"
const path = require('path');
const csstree = require(path.join(process.argv[1], 'node_modules', 'css-tree'));
const out = [];
for (const f of process.argv.slice(2)) {
  const errors = [];
  const ast = csstree.parse(require('fs').readFileSync(f, 'utf8'), { positions: true, onParseError: (e) => errors.push(`${e.line}:${e.column}: ${e.message}`) });
  const s = { errors, rules: 0, selectors: 0, declarations: 0, atrules: {} };
  csstree.walk(ast, (n) => {
    if (n.type === 'Rule') s.rules++;
    else if (n.type === 'Selector') s.selectors++;
    else if (n.type === 'Declaration') s.declarations++;
    else if (n.type === 'Atrule') s.atrules[n.name] = (s.atrules[n.name] || 0) + 1;
  });
  out.push(s);
}
console.log(JSON.stringify(out));
"#;
    let o = run(Command::new("node").arg("-e").arg(script).arg(tools).args(files));
    assert!(o.status.success(), "css-tree could not run: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn within(a: usize, b: usize, percent: usize) -> bool {
    a.abs_diff(b) * 100 <= a * percent
}

#[test]
fn real_stylesheets_shrink_reparse_and_keep_their_rules() {
    if !require("node") || !require("npm") {
        return;
    }
    let t0 = Instant::now();
    let libs = [&BOOTSTRAP, &NORMALIZE];
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("orig");
    let out = tmp.path().join("min");
    let again = tmp.path().join("again");
    let inputs = stage(&libs, &src);
    let tools = node_tools();
    let took = minify_tree(&src, &inputs, &out);
    // Second run: kiln-minify must parse its own output (it refuses what does not parse).
    let min_inputs: Vec<PathBuf> = libs.iter().map(|p| out.join(p.as_name)).collect();
    minify_tree(&out, &min_inputs, &again);
    eprintln!("kiln-minify, {} stylesheets: {took:.2} s", libs.len());
    let names: Vec<&str> = libs.iter().map(|p| p.as_name).collect();
    let sizes = report_sizes(&src, &out, &names);
    let orig_files: Vec<PathBuf> = names.iter().map(|n| src.join(n)).collect();
    let stats = css_tree_stats(&tools, &[orig_files.clone(), min_inputs.clone()].concat());
    let mut problems = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (a, b) = sizes[i];
        if b >= a {
            problems.push(format!("{name}: {a} -> {b} bytes is not smaller"));
        }
        let once = fs::read_to_string(out.join(name)).unwrap();
        let twice = fs::read_to_string(again.join(name)).unwrap();
        // Not a fixed point: lightningcss adds its prefixes and light-dark() variables again on
        // each run (bootstrap.css grows 1.2% on the second), so only runaway growth fails.
        if twice.len() * 100 > once.len() * 102 {
            problems.push(format!("{name}: minifying the minified output grows it more than 2% ({} -> {})", once.len(), twice.len()));
        }
        let (ob, oat) = css_counts(&fs::read_to_string(src.join(name)).unwrap());
        let (mb, mat) = css_counts(&once);
        let (tb, tat) = css_counts(&twice);
        let (so, sm) = (&stats[i], &stats[i + names.len()]);
        eprintln!(
            "  {name}: second run {} -> {} bytes; '{{' {ob} -> {mb} -> {tb}; at-rules {oat:?} -> {mat:?}; css-tree rules {} -> {}, selectors {} -> {}, declarations {} -> {}",
            once.len(),
            twice.len(),
            so["rules"],
            sm["rules"], so["selectors"], sm["selectors"], so["declarations"], sm["declarations"]
        );
        let errors = sm["errors"].as_array().unwrap();
        if !errors.is_empty() {
            problems.push(format!("{name}: css-tree cannot parse the minified output ({} errors, first {})", errors.len(), errors[0]));
        }
        for (what, o, m) in [
            ("@media rules", oat.get("media"), mat.get("media")),
            (
                "@media rules (css-tree)",
                so["atrules"].get("media").and_then(|v| v.as_u64()).map(|v| v as usize).as_ref(),
                sm["atrules"].get("media").and_then(|v| v.as_u64()).map(|v| v as usize).as_ref(),
            ),
            ("@media rules (second run)", mat.get("media"), tat.get("media")),
            ("@keyframes", oat.get("keyframes"), mat.get("keyframes")),
            ("@supports", oat.get("supports"), mat.get("supports")),
        ] {
            if o != m {
                problems.push(format!("{name}: {what} {o:?} -> {m:?}"));
            }
        }
        let sel = |s: &serde_json::Value| s["selectors"].as_u64().unwrap() as usize;
        if !within(sel(so), sel(sm), 2) {
            problems.push(format!("{name}: selectors {} -> {} (more than 2% apart)", sel(so), sel(sm)));
        }
        // lightningcss splits selector lists it must keep apart (normalize.css: 34 -> 44 blocks
        // for the same 55 selectors), so blocks may grow; they may not vanish.
        if mb * 100 < ob * 98 {
            problems.push(format!("{name}: '{{' {ob} -> {mb}: more than 2% of the blocks are gone"));
        }
        if tb != mb {
            problems.push(format!("{name}: '{{' {mb} -> {tb} on the second run"));
        }
    }
    eprintln!("total {:.1} s", t0.elapsed().as_secs_f64());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
