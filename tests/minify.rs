//! kiln-minify as a real binary: templates render the same with real Tornado, bad input is
//! reported at path:line:col with nothing written, and batch output does not depend on order
//! or thread count.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Python with tornado importable: a CI requirement (.ci/run installs it).
fn require_tornado() -> bool {
    if !require("python3") {
        return false;
    }
    let ok = run(Command::new("python3").args(["-c", "import tornado.template"])).status.success();
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("python3 cannot import tornado (CI=true: .ci/run must pip install it)");
        }
        eprintln!("SKIPPED: tornado is not importable (pip install tornado)");
    }
    ok
}

fn minify(args: &[&str], inputs: &[PathBuf], cwd: &Path) -> std::process::Output {
    run(Command::new(bin("kiln-minify")).current_dir(cwd).args(args).args(inputs))
}

#[test]
fn minified_templates_render_the_same_with_tornado() {
    if !require_tornado() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let templates = shop().join("src/templates");
    let inputs: Vec<PathBuf> = files_under(&templates).iter().map(|f| templates.join(f)).collect();
    let out = tmp.path().join("templates");
    let o = minify(&["--root", templates.to_str().unwrap(), "-o", out.to_str().unwrap()], &inputs, tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let before: u64 = inputs.iter().map(|p| fs::metadata(p).unwrap().len()).sum();
    let after: u64 = files_under(&out).iter().map(|f| fs::metadata(out.join(f)).unwrap().len()).sum();
    assert!(after * 100 < before * 95, "templates barely shrank: {before} -> {after}");
    let o = run(Command::new("python3")
        .arg(repo().join("tests/tools/render_compare.py"))
        .arg(shop())
        .arg(&templates)
        .arg(&out)
        .env("PYTHONDONTWRITEBYTECODE", "1"));
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "rendered pages differ after minification:\n{report}{}", stderr(&o));
    assert!(report.contains(" 0 mismatches"), "{report}");
}

#[test]
fn shop_assets_minify_and_the_js_block_concatenates() {
    let tmp = tempfile::tempdir().unwrap();
    let partials = shop().join("src/partials");
    let inputs: Vec<PathBuf> =
        ["css/base.css", "css/shop.css", "js/util.js", "js/cart.js", "js/catalog.js"].iter().map(|f| partials.join(f)).collect();
    let out = tmp.path().join("min");
    let o = minify(&["--root", partials.to_str().unwrap(), "-o", out.to_str().unwrap()], &inputs, tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["css/shop.css", "js/util.js"] {
        let a = fs::metadata(partials.join(f)).unwrap().len();
        let b = fs::metadata(out.join(f)).unwrap().len();
        assert!(b * 10 < a * 8, "{f}: {a} -> {b} bytes is not minified");
    }
    let css = fs::read_to_string(out.join("css/shop.css")).unwrap();
    assert!(css.contains("@import \"base.css\"") && css.contains("../img/hero.jpg"), "references must survive for kiln-hash: {css}");
    assert!(!css.contains("not-a-real-file"), "comments are dropped");
    let util = fs::read_to_string(out.join("js/util.js")).unwrap();
    assert!(util.starts_with("/*! shop util v1.0 | MIT License */"), "license comment kept: {}", &util[..80]);
    // The asset block: three scripts in order, as one unit.
    let block = tmp.path().join("block.js");
    let js: Vec<PathBuf> = inputs[2..].to_vec();
    let o = minify(&["--concat", "-o", block.to_str().unwrap()], &js, tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    if require("node") {
        let check = run(Command::new("node").arg("--check").arg(&block));
        assert!(check.status.success(), "concatenated block does not parse: {}", stderr(&check));
    }
}

#[test]
fn bad_inputs_are_located_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("src");
    write(&root.join("ok.js"), "function ok(a) { return a + 1 }\n");
    write(&root.join("bad.js"), "var a = 1;\nvar b = ;\n");
    write(&root.join("bad.css"), "a { color: red }\n\nb { color: blue;\n");
    write(&root.join("bad.html"), "<p>\n  <b>{{ name </b>\n</p>\n");
    let inputs: Vec<PathBuf> = ["ok.js", "bad.js", "bad.css", "bad.html"].iter().map(|f| PathBuf::from("src").join(f)).collect();
    let o = minify(&["--root", "src", "-o", "out"], &inputs, tmp.path());
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(lines[0].starts_with("src/bad.js:2:9: "), "{err}");
    assert!(lines[1].starts_with("src/bad.css:3:3: unclosed block"), "{err}");
    assert_eq!(lines[2], "src/bad.html:2:6: unterminated template tag: {{ has no }}");
    assert!(!tmp.path().join("out").exists(), "nothing may be written");
    // --keep-going: the good file is written, every failure listed, still exit 1.
    let o = minify(&["--root", "src", "-o", "out", "--keep-going"], &inputs, tmp.path());
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o).lines().count(), 3);
    assert_eq!(files_under(&tmp.path().join("out")), ["ok.js"]);
    // Sources untouched, and no temp files left beside the outputs.
    assert_eq!(fs::read_to_string(root.join("bad.js")).unwrap(), "var a = 1;\nvar b = ;\n");
    // A concatenation names the file and line the error is in.
    let o = minify(&["--concat", "-o", "block.js"], &[PathBuf::from("src/ok.js"), PathBuf::from("src/bad.js")], tmp.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("src/bad.js:2:9: "), "{}", stderr(&o));
    assert!(!tmp.path().join("block.js").exists());
}

#[test]
fn batch_output_is_independent_of_order_and_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let root = shop().join("src");
    let mut inputs: Vec<PathBuf> =
        files_under(&root).into_iter().filter(|f| f.ends_with(".js") || f.ends_with(".css") || f.ends_with(".html")).map(|f| root.join(f)).collect();
    assert!(inputs.len() >= 8);
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let o = run(Command::new(bin("kiln-minify")).arg("--root").arg(&root).arg("-o").arg(&a).args(&inputs).env("RAYON_NUM_THREADS", "1"));
    assert!(o.status.success(), "{}", stderr(&o));
    inputs.reverse();
    let params = tmp.path().join("inputs.params");
    fs::write(&params, inputs.iter().map(|p| format!("{}\n", p.display())).collect::<String>()).unwrap();
    let o = run(Command::new(bin("kiln-minify"))
        .arg("--root")
        .arg(&root)
        .arg("-o")
        .arg(&b)
        .arg(format!("@{}", params.display()))
        .env("RAYON_NUM_THREADS", "4")
        .env("TZ", "America/St_Johns"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_same_tree(&a, &b);
}

#[test]
fn source_maps_lead_back_to_the_original_lines() {
    if !require("node") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = "/*! demo */\n\"use strict\";\n\nfunction greet(personName) {\n  // say hello\n  return \"Hello, \" + personName + \"!\";\n}\nwindow.greet = greet;\n";
    write(&tmp.path().join("src/js/greet.js"), src);
    let o = minify(&["--root", "src", "-o", "out", "--source-map"], &[PathBuf::from("src/js/greet.js")], tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let min = fs::read_to_string(tmp.path().join("out/js/greet.js")).unwrap();
    assert!(min.ends_with("\n//# sourceMappingURL=greet.js.map"), "{min}");
    // Node's own source-map reader maps the minified `return` back to line 6 of the original.
    let script = r#"
const fs = require('fs'); const { SourceMap } = require('node:module');
const [min, map] = process.argv.slice(1);
const code = fs.readFileSync(min, 'utf8'); const sm = new SourceMap(JSON.parse(fs.readFileSync(map, 'utf8')));
const lines = code.split('\n'); const line = lines.findIndex(l => l.includes('return'));
const e = sm.findEntry(line, lines[line].indexOf('return'));
console.log(JSON.stringify([e.originalSource, e.originalLine + 1, e.originalColumn + 1]));
"#;
    let o = run(Command::new("node").arg("-e").arg(script).arg(tmp.path().join("out/js/greet.js")).arg(tmp.path().join("out/js/greet.js.map")));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), r#"["greet.js",6,3]"#);
    assert!(min.starts_with("/*! demo */\n"), "the license header sits on its own line: {min}");
}
