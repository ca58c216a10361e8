//! `kiln scan` and `kiln assetman-compile`: Assetman's own compiler test, ported, and one test for
//! each of Assetman's known faults; the shop's rewritten templates rendered with real Tornado.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::*;

/// `lessc` from npm (less 4.2.0), installed once into the test cache.
fn lessc() -> Option<PathBuf> {
    static LESSC: OnceLock<Option<PathBuf>> = OnceLock::new();
    LESSC
        .get_or_init(|| {
            if !require("npm") || !require("node") {
                return None;
            }
            let dir = repo().join("target/kiln-test-cache/less-4.2.0");
            let bin = dir.join("node_modules/.bin/lessc");
            if !bin.exists() {
                let o = run(Command::new("npm").args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"]).arg(&dir).arg("less@4.2.0"));
                assert!(o.status.success(), "npm install less failed: {}", stderr(&o));
            }
            Some(bin)
        })
        .clone()
}

fn compile(dir: &Path, extra: &[&str]) -> Output {
    let mut cmd = Command::new(bin("kiln"));
    cmd.current_dir(dir).args([
        "assetman-compile",
        "--output_dir=out",
        "--static_url_prefix=/static/",
        "--template_dir=templates",
        "--static_dir=static",
    ]);
    if let Some(l) = lessc() {
        cmd.arg("--lessc").arg(l);
    }
    run(cmd.args(extra))
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "exit {:?}:\n{}", o.status.code(), stderr(&o));
    stderr(&o)
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(dir.join("out/manifest.json")).unwrap()).unwrap()
}

fn versions(m: &serde_json::Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for section in ["assets", "blocks"] {
        for (k, v) in m[section].as_object().unwrap() {
            out.insert(k.clone(), v["version"].as_str().unwrap().to_string());
        }
    }
    out
}

fn png(rgb: [u8; 3]) -> Vec<u8> {
    // A 1×1 PNG, written by hand so the test needs no image library.
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend(kind);
        out.extend(data);
        let crc = crc32(&out[start..]);
        out.extend(crc.to_be_bytes());
    }
    fn crc32(b: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for &x in b {
            c ^= x as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }
    let raw = [0u8, rgb[0], rgb[1], rgb[2]];
    // zlib stored block: header, one final stored block, adler32.
    let mut z = vec![0x78, 0x01, 0x01, raw.len() as u8, 0, !(raw.len() as u8), 0xff];
    z.extend(raw);
    let (mut a, mut b) = (1u32, 0u32);
    for &x in &raw {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    z.extend(((b << 16) | a).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// Assetman's test fixture: test.css (url to /static/dependency.png), test.less, test.js and
/// dependency.png; one template with one block of each kind.
fn fixture(dir: &Path) {
    write(&dir.join("static/test.css"), "body { background: url(\"/static/dependency.png\"); }\n");
    write(&dir.join("static/test.less"), "@color: #f00;\na { color: @color; background: url(dependency.png) }\n");
    write(&dir.join("static/test.js"), "function hello(name) { return 'hi ' + name; }\nwindow.hello = hello;\n");
    write(&dir.join("static/dependency.png"), png([0, 255, 0]));
    write(
        &dir.join("templates/page.html"),
        "<html><head>\n{% apply assetman.include_css %}\ntest.css\n{% end %}\n{% apply assetman.include_less %}\ntest.less\n{% end %}\n</head><body>\n{% apply assetman.include_js %}\ntest.js\n{% end %}\n</body></html>\n",
    );
}

#[test]
fn assetmans_compiler_test_ported() {
    if lessc().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fixture(d);
    ok(compile(d, &[]));
    let m = manifest(d);
    assert_eq!(m["blocks"].as_object().unwrap().len(), 3, "{m}");
    let assets: Vec<&String> = m["assets"].as_object().unwrap().keys().collect();
    assert_eq!(assets, ["dependency.png", "test.css", "test.js", "test.less"]);
    assert_eq!(m["assets"]["test.css"]["deps"], serde_json::json!(["dependency.png"]));
    let page = fs::read_to_string(d.join("out/templates/page.html")).unwrap();
    assert_eq!(page.matches("<link rel=\"stylesheet\" href=\"/static/f/").count(), 2, "{page}");
    assert_eq!(page.matches("<script src=\"/static/f/").count(), 1, "{page}");
    assert!(!page.contains("assetman"), "{page}");
    let base = versions(&m);

    // Changing any of the four files changes the versions that depend on it, and only those;
    // restoring it restores the exact previous versions, and the next run compiles nothing.
    let (css, less, js) = (block_key(&["test.css"]), block_key(&["test.less"]), block_key(&["test.js"]));
    let cases: [(&str, Vec<u8>, Vec<&str>); 4] = [
        ("dependency.png", png([255, 0, 0]), vec!["dependency.png", "test.css", &css]),
        ("test.css", b"body { color: blue; background: url(\"/static/dependency.png\"); }\n".to_vec(), vec!["test.css", &css]),
        ("test.less", b"@color: #00f;\na { color: @color }\n".to_vec(), vec!["test.less", &less]),
        ("test.js", b"window.bye = function () { return 1; };\n".to_vec(), vec!["test.js", &js]),
    ];
    for (file, edited, changes) in cases {
        let path = d.join("static").join(file);
        let original = fs::read(&path).unwrap();
        fs::write(&path, &edited).unwrap();
        ok(compile(d, &[]));
        let now = versions(&manifest(d));
        let changed: Vec<&String> = now.keys().filter(|k| now[*k] != base[*k]).collect();
        let want = |k: &str| changes.contains(&k);
        assert!(changed.iter().all(|k| want(k)), "{file}: changed {changed:?}");
        assert_eq!(changed.len(), changes.len(), "{file}: changed {changed:?}, want {changes:?}");
        fs::write(&path, &original).unwrap();
        let err = ok(compile(d, &["--explain"]));
        assert_eq!(versions(&manifest(d)), base, "{file}: restoring it did not restore the versions");
        let err2 = ok(compile(d, &["--explain"]));
        assert!(err2.contains("kiln assetman-compile: 0 units compiled"), "a no-change run compiled something:\n{err2}\n(after restore:\n{err})");
        assert!(!err2.contains("rebuilt "), "{err2}");
    }
}

#[test]
fn a_failed_compile_leaves_no_entry_and_no_empty_file_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(&d.join("static/a.js"), "window.a = 1;\n");
    write(&d.join("templates/t.html"), "{% apply assetman.include_js %}\na.js\n{% end %}\n");
    ok(compile(d, &[]));
    let before = snapshot(&d.join("out"));
    write(&d.join("static/a.js"), "window.a = ;\n");
    let o = compile(d, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("static/a.js:1:12"), "{}", stderr(&o));
    assert!(snapshot(&d.join("out")) == before, "a failed compile changed the output");
    write(&d.join("static/a.js"), "window.a = 2;\n");
    ok(compile(d, &[]));
    for (path, (_, bytes)) in snapshot(&d.join("out")) {
        assert!(d.join("out").join(&path).is_dir() || !bytes.is_empty(), "{path} is empty");
    }
    let block = fs::read_dir(d.join("out/f")).unwrap().flatten().find(|e| e.path().extension().is_some_and(|x| x == "js")).unwrap();
    assert!(fs::read_to_string(block.path()).unwrap().contains("window.a=2"));
}

#[test]
fn block_paths_that_escape_the_static_root_or_do_not_exist_name_template_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(&d.join("secret.js"), "window.secret = 1;\n");
    write(&d.join("static/a.js"), "window.a = 1;\n");
    write(&d.join("templates/t.html"), "<p>\n{% apply assetman.include_js %}\n../secret.js\n{% end %}\n{{ assetman.static_url('nope.png') }}\n");
    let o = compile(d, &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("templates/t.html:2:1: block path ../secret.js escapes the static root"), "{err}");
    assert!(err.contains("templates/t.html:5:4: static_url path nope.png is not a file"), "{err}");
    assert!(!d.join("out").exists());
    // kiln scan says the same.
    let o = run(Command::new(bin("kiln")).current_dir(d).args(["scan", "templates", "--static-root", "static"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("escapes the static root"), "{}", stderr(&o));
}

#[test]
fn circular_imports_are_an_error_that_prints_the_cycle() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(&d.join("static/a.css"), "@import \"b.css\";\na { color: red }\n");
    write(&d.join("static/b.css"), "@import \"a.css\";\nb { color: blue }\n");
    write(&d.join("templates/t.html"), "{% apply assetman.include_css %}\na.css\n{% end %}\n");
    let o = compile(d, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("dependency cycle: a.css -> b.css -> a.css"), "{}", stderr(&o));
}

#[test]
fn bundled_css_resolves_relative_urls_ignores_comments_inlines_imports_and_versions_absolute_urls() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(&d.join("static/img/x.png"), png([1, 2, 3]));
    write(&d.join("static/css/base.css"), "p { background: url(../img/x.png) }\n");
    write(
        &d.join("static/css/app.css"),
        "@import \"base.css\";\n/* url(../img/gone.png) */\na { background: url(../img/x.png) }\nb { background: url(/static/img/x.png) }\n",
    );
    write(&d.join("templates/t.html"), "{% apply assetman.include_css %}\ncss/app.css\n{% end %}\n");
    ok(compile(d, &[]));
    let m = manifest(d);
    let x = m["assets"]["img/x.png"]["versioned_path"].as_str().unwrap();
    assert_eq!(m["assets"]["css/app.css"]["deps"], serde_json::json!(["css/base.css", "img/x.png"]), "relative deps are tracked");
    let block = m["blocks"].as_object().unwrap().values().next().unwrap();
    let css = fs::read_to_string(d.join("out").join(block["versioned_path"].as_str().unwrap())).unwrap();
    assert!(!css.contains("@import"), "an @import was left in the bundle: {css}");
    assert!(!css.contains("gone.png") && !css.contains("../"), "{css}");
    let versioned = css.matches(&format!("url(/static/{x})")).count();
    assert!(versioned >= 1 && versioned == css.matches("url(").count(), "every reference is absolute and versioned: {css}");
    assert!(d.join("out").join(x).is_file());
}

#[test]
fn one_path_list_used_as_include_css_and_include_less_is_an_error_naming_both_uses() {
    // Assetman's runtime keys a block by md5 of its paths alone: the two would share one entry.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(&d.join("static/a.less"), "a { color: red }\n");
    write(&d.join("templates/t.html"), "{% apply assetman.include_css %}\na.less\n{% end %}\n");
    write(&d.join("templates/u.html"), "<p>\n{% apply assetman.include_less %}\na.less\n{% end %}\n");
    let o = compile(d, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("templates/u.html:2:1: ") && err.contains("include_css block at templates/t.html:1:1"), "{err}");
    assert!(!d.join("out").exists(), "nothing is written on error");
}

#[test]
fn versions_are_content_only_stable_across_runs_paths_and_mtimes() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("elsewhere/b"));
    for d in [&a, &b] {
        write(&d.join("static/test.css"), "body { background: url(\"/static/dependency.png\"); }\n");
        write(&d.join("static/test.js"), "window.x = 1;\n");
        write(&d.join("static/dependency.png"), png([9, 9, 9]));
        write(
            &d.join("templates/page.html"),
            "{% apply assetman.include_css %}\ntest.css\n{% end %}\n{% apply assetman.include_js %}\ntest.js\n{% end %}\n",
        );
    }
    ok(compile(&a, &[]));
    let o = run(Command::new(bin("kiln")).current_dir(&b).env("PYTHONHASHSEED", "123").args([
        "assetman-compile",
        "--output-dir=out",
        "--static-url-prefix=/static/",
        "--template-dir",
        b.join("templates").to_str().unwrap(),
        "--static-dir=static",
    ]));
    ok(o);
    assert_same_tree(&a.join("out"), &b.join("out"));
    let png_path = a.join("static/dependency.png");
    let f = fs::File::options().write(true).open(&png_path).unwrap();
    f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(2_000_000_000)).unwrap();
    let before = snapshot(&a.join("out"));
    let err = ok(compile(&a, &["--explain"]));
    assert!(err.contains("0 units compiled"), "{err}");
    assert!(snapshot(&a.join("out")) == before);
}

#[test]
fn outputs_of_earlier_builds_are_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(&d.join("static/a.js"), "window.a = 1;\n");
    write(&d.join("static/b.js"), "window.b = 1;\n");
    write(&d.join("templates/t.html"), "{% apply assetman.include_js %}\na.js\n{% end %}\n{% apply assetman.include_js %}\nb.js\n{% end %}\n");
    ok(compile(d, &[]));
    let blocks = |d: &Path| fs::read_dir(d.join("out/f")).unwrap().flatten().filter(|e| e.path().extension().is_some_and(|x| x == "js")).count();
    assert_eq!(blocks(d), 2);
    write(&d.join("templates/t.html"), "{% apply assetman.include_js %}\na.js\n{% end %}\n");
    ok(compile(d, &[]));
    assert_eq!(blocks(d), 1, "the dropped block's bundle is still in the output dir");
    // The output dir is only ever replaced when it holds a previous kiln output.
    write(&d.join("other/keep.txt"), "mine");
    let o = run(Command::new(bin("kiln")).current_dir(d).args([
        "assetman-compile",
        "--output_dir=other",
        "--template_dir=templates",
        "--static_dir=static",
    ]));
    assert_ne!(o.status.code(), Some(0));
    assert_eq!(fs::read_to_string(d.join("other/keep.txt")).unwrap(), "mine");
}

#[test]
fn an_edit_updates_the_output_in_place_and_repairs_whatever_else_changed_there() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(&d.join("static/a.js"), "window.a = 1;\n");
    write(&d.join("static/b.js"), "window.b = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';\n");
    write(&d.join("static/c.css"), "p { color: red }\n");
    write(&d.join("templates/t.html"), "{% apply assetman.include_js %}\na.js\n{% end %}\n{% apply assetman.include_js %}\nb.js\n{% end %}\n");
    ok(compile(d, &[]));
    let m = manifest(d);
    let out = d.join("out");
    let b = m["blocks"].as_object().unwrap().values().find(|b| b["paths"] == serde_json::json!(["b.js"])).unwrap();
    let b_block = out.join(b["versioned_path"].as_str().unwrap());
    let (b_ino, out_ino) = (fs::metadata(&b_block).unwrap().ino(), fs::metadata(&out).unwrap().ino());
    let css = out.join(m["assets"]["c.css"]["versioned_path"].as_str().unwrap());
    let css_bytes = fs::read(&css).unwrap();
    // Meanwhile: the edit, a same-size overwrite of an output, a removed output and strays.
    write(&d.join("static/a.js"), "window.a = 2;\n");
    fs::write(&css, vec![b'x'; css_bytes.len()]).unwrap();
    fs::remove_file(out.join("templates/t.html")).unwrap();
    write(&out.join("stray.txt"), "?");
    write(&out.join("f/old/x.js"), "?");
    ok(compile(d, &[]));
    assert_eq!(fs::metadata(&out).unwrap().ino(), out_ino, "the output dir was replaced, not updated in place");
    assert_eq!(fs::metadata(&b_block).unwrap().ino(), b_ino, "an unchanged output was rewritten");
    assert_eq!(fs::read(&css).unwrap(), css_bytes, "the overwritten output was trusted");
    assert!(!out.join("f/old").exists() && !out.join("stray.txt").exists());
    // Exactly what a fresh compile writes, and nothing beside the output dir.
    let fresh = tempfile::tempdir().unwrap();
    copy_tree(&d.join("static"), &fresh.path().join("static"));
    copy_tree(&d.join("templates"), &fresh.path().join("templates"));
    ok(compile(fresh.path(), &[]));
    assert_same_tree(&out, &fresh.path().join("out"));
    let beside: Vec<String> = fs::read_dir(d).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(beside.iter().filter(|n| n.starts_with(".out")).count(), 0, "{beside:?}");
}

#[test]
fn scan_bazel_file_is_fresh_for_the_shop() {
    let o = run(Command::new(bin("kiln")).current_dir(repo()).args([
        "scan",
        "examples/shop/src/templates",
        "--static-root",
        "examples/shop/src/partials",
        "--bazel",
        "examples/shop/blocks.bzl",
        "--check",
    ]));
    assert!(o.status.success(), "examples/shop/blocks.bzl is stale: {}", stderr(&o));
    let tmp = tempfile::tempdir().unwrap();
    let stale = tmp.path().join("blocks.bzl");
    fs::write(&stale, "# old\n").unwrap();
    copy_tree(&shop().join("src"), &tmp.path().join("src"));
    let o = run(Command::new(bin("kiln")).current_dir(tmp.path()).args([
        "scan",
        "src/templates",
        "--static-root",
        "src/partials",
        "--bazel",
        "blocks.bzl",
        "--check",
    ]));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("blocks.bzl: stale"), "{}", stderr(&o));
}

#[test]
fn shop_templates_render_with_tornado_and_every_url_resolves_with_its_sri() {
    if !require("python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    let o = run(Command::new(bin("kiln")).arg("build").arg(shop()).arg("-o").arg(&dist).arg("--no-cache"));
    ok(o);
    let o = run(Command::new("python3").arg(repo().join("tests/tools/render_dist.py")).arg(&dist));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    if out.contains("No module named 'tornado'") || stderr(&o).contains("No module named 'tornado'") {
        assert!(std::env::var("CI").is_err(), "tornado is missing under CI=true");
        eprintln!("skipping: python3 has no tornado (pip install tornado)");
        return;
    }
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(out.contains("0 problems"), "{out}");
}
