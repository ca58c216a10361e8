//! kiln-hash and kiln-manifest-merge, run as real binaries over examples/shop and over
//! small trees made here for each failure.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

const STATIC: &str = "src/partials";

/// kiln-hash --all over `app/src/partials`, then merge; returns (out dir, manifest).
fn hash_and_merge(app: &Path, out: &Path, env: &[(&str, &str)], umask: &str) -> Value {
    let hashed = out.join("static");
    let partial = out.join("partials/static.json");
    let manifest = out.join("static/manifest.json");
    let script = format!(
        "umask {umask} && \"$0\" --root \"$1\" --all --compress -o \"$2\" --partial \"$3\" && \"$4\" -o \"$5\" --django \"$6\" --vite \"$7\" \"$3\""
    );
    let o = run(Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(bin("kiln-hash"))
        .arg(app.join(STATIC))
        .arg(&hashed)
        .arg(&partial)
        .arg(bin("kiln-manifest-merge"))
        .arg(&manifest)
        .arg(out.join("static/staticfiles.json"))
        .arg(out.join("static/.vite/manifest.json"))
        .envs(env.iter().copied()));
    assert!(o.status.success(), "hash+merge failed: {}", stderr(&o));
    serde_json::from_slice(&fs::read(&manifest).unwrap()).unwrap()
}

#[test]
fn shop_assets_are_versioned_rewritten_and_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let m = hash_and_merge(&shop(), tmp.path(), &[], "022");
    let assets = m["assets"].as_object().unwrap();
    for key in ["css/base.css", "css/shop.css", "js/util.js", "js/cart.js", "js/catalog.js", "img/hero.jpg", "img/logo.png", "img/icon-cart.png"] {
        assert!(assets.contains_key(key), "{key} missing from manifest: {:?}", assets.keys());
    }
    // shop.css depends on what it imports and references; comments and external URLs are not deps.
    let deps: Vec<&str> = assets["css/shop.css"]["deps"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
    assert_eq!(deps, ["css/base.css", "img/hero.jpg", "img/icon-cart.png"]);
    // Every dependency has its own entry; lookups cover every asset.
    for (k, e) in assets {
        for d in e["deps"].as_array().into_iter().flatten() {
            assert!(assets.contains_key(d.as_str().unwrap()), "{k} -> {d} has no entry");
        }
    }
    assert_eq!(m["lookups"].as_object().unwrap().len(), assets.len());

    let out = tmp.path().join("static");
    let shop_css = fs::read_to_string(out.join(assets["css/shop.css"]["versioned_path"].as_str().unwrap())).unwrap();
    let source = fs::read_to_string(shop().join(STATIC).join("css/shop.css")).unwrap();
    let hero = assets["img/hero.jpg"]["versioned_path"].as_str().unwrap();
    let base = assets["css/base.css"]["versioned_path"].as_str().unwrap();
    let icon = assets["img/icon-cart.png"]["versioned_path"].as_str().unwrap();
    assert!(shop_css.contains(&format!("url(\"../{hero}\")")), "relative url() not rewritten:\n{shop_css}");
    assert!(shop_css.contains(&format!("\"{}\"", base.trim_start_matches("css/"))), "@import not rewritten");
    assert!(shop_css.contains(&format!("url(\"/s/{icon}\")")), "absolute /s/ url() not rewritten");
    assert!(shop_css.contains("url(../img/not-a-real-file.png)"), "a url() inside a comment must stay as written");
    assert!(shop_css.contains("https://fonts.example.com/"), "external URLs stay");
    assert!(shop_css.contains("url(data:image/svg+xml;base64,"), "data URIs stay");
    // Only the references changed: the text around them is the source's.
    assert_eq!(shop_css.lines().count(), source.lines().count());

    // The versioned copy of a leaf is the source's bytes; its version is the md5 of its content.
    let logo = fs::read(shop().join(STATIC).join("img/logo.png")).unwrap();
    let logo_entry = &assets["img/logo.png"];
    assert_eq!(fs::read(out.join(logo_entry["versioned_path"].as_str().unwrap())).unwrap(), logo);
    assert_eq!(logo_entry["version"], format!("{:x}", <md5::Md5 as md5::Digest>::digest(&logo)));
    assert!(logo_entry.get("encodings").is_none(), "PNGs get no compressed twins");

    // Twins of text assets decompress to the versioned copy.
    let enc = assets["css/shop.css"]["encodings"].as_object().unwrap();
    assert_eq!(enc.keys().collect::<Vec<_>>(), ["br", "gzip", "zstd"]);
    let gz = fs::read(out.join(enc["gzip"].as_str().unwrap())).unwrap();
    let mut plain = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut plain).unwrap();
    assert_eq!(plain, shop_css);
    assert_eq!(&gz[4..8], &[0, 0, 0, 0], "gzip mtime must be zero");

    // SRI is checked with Python's hashlib, not with our own code.
    if require("python3") {
        let script = "import base64,hashlib,json,sys\n\
            m=json.load(open(sys.argv[1]))\n\
            for k,e in m['assets'].items():\n\
            \x20   f=e['versioned_path']\n\
            \x20   d=base64.b64encode(hashlib.sha384(open(sys.argv[2]+'/'+f,'rb').read()).digest()).decode()\n\
            \x20   assert e['integrity']=='sha384-'+d,(k,e['integrity'],d)\n\
            print(len(m['assets']))\n";
        let o = run(Command::new("python3").arg("-c").arg(script).arg(out.join("manifest.json")).arg(&out));
        assert!(o.status.success(), "SRI check failed: {}", stderr(&o));
    }
}

#[test]
fn django_manifest_hash_matches_djangos_algorithm() {
    if !require("python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    hash_and_merge(&shop(), tmp.path(), &[], "022");
    // Django 4.2+: hash = md5(json.dumps(sorted(paths.items())).encode()).hexdigest()[:12]
    let script = "import hashlib,json,sys\n\
        d=json.load(open(sys.argv[1]))\n\
        h=hashlib.md5(json.dumps(sorted(d['paths'].items())).encode()).hexdigest()[:12]\n\
        assert d['version']=='1.1' and d['hash']==h,(d['hash'],h)\n\
        assert d['paths']['css/shop.css'].startswith('css/shop.') and d['paths']['css/shop.css'].endswith('.css')\n";
    let o = run(Command::new("python3").arg("-c").arg(script).arg(tmp.path().join("static/staticfiles.json")));
    assert!(o.status.success(), "{}", stderr(&o));
    let vite: Value = serde_json::from_slice(&fs::read(tmp.path().join("static/.vite/manifest.json")).unwrap()).unwrap();
    assert_eq!(vite["css/shop.css"]["src"], "css/shop.css");
    assert!(vite["css/shop.css"]["assets"].as_array().unwrap().iter().any(|a| a.as_str().unwrap().starts_with("img/hero.")));
}

#[test]
fn same_bytes_from_two_paths_timezones_umasks_and_thread_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("somewhere/much/deeper/checkout-b");
    copy_tree(&shop(), &a);
    copy_tree(&shop(), &b);
    // Reverse the mtimes of b's files so nothing can lean on them.
    for (i, f) in files_under(&b.join(STATIC)).iter().enumerate() {
        let t = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000 - i as u64 * 1000);
        fs::File::options().write(true).open(b.join(STATIC).join(f)).unwrap().set_modified(t).unwrap();
    }
    let out_a = tmp.path().join("out-a");
    let out_b = tmp.path().join("elsewhere/out-b");
    hash_and_merge(&a, &out_a, &[("TZ", "UTC"), ("RAYON_NUM_THREADS", "1"), ("LC_ALL", "C")], "022");
    hash_and_merge(&b, &out_b, &[("TZ", "Pacific/Kiritimati"), ("RAYON_NUM_THREADS", "7"), ("LC_ALL", "C.UTF-8")], "077");
    assert_same_tree(&out_a, &out_b);
}

/// The Bazel-style flow: one kiln-hash per asset, dependencies through --dep partials, then a
/// merge of the partials in shuffled orders. Gives the same manifest as the batch.
#[test]
fn per_asset_partials_merge_to_the_batch_manifest_in_any_order() {
    let tmp = tempfile::tempdir().unwrap();
    let root = shop().join(STATIC);
    let batch = hash_and_merge(&shop(), &tmp.path().join("batch"), &[], "022");
    let assets = batch["assets"].as_object().unwrap();
    // Dependency order from the batch manifest.
    let mut order: Vec<String> = Vec::new();
    fn visit(k: &str, assets: &serde_json::Map<String, Value>, order: &mut Vec<String>) {
        if order.iter().any(|o| o == k) {
            return;
        }
        for d in assets[k]["deps"].as_array().into_iter().flatten() {
            visit(d.as_str().unwrap(), assets, order);
        }
        order.push(k.to_string());
    }
    for k in assets.keys() {
        visit(k, assets, &mut order);
    }
    let mut partials: BTreeMap<String, PathBuf> = BTreeMap::new();
    for key in &order {
        let partial = tmp.path().join(format!("partials/{}.json", key.replace('/', "_")));
        let mut cmd = Command::new(bin("kiln-hash"));
        cmd.arg("--root").arg(&root).arg("--compress").arg("-o").arg(tmp.path().join("single")).arg("--partial").arg(&partial);
        for d in assets[key]["deps"].as_array().into_iter().flatten() {
            cmd.arg("--dep").arg(&partials[d.as_str().unwrap()]);
        }
        cmd.arg(root.join(key));
        let o = run(&mut cmd);
        assert!(o.status.success(), "{key}: {}", stderr(&o));
        partials.insert(key.clone(), partial);
    }
    let mut list: Vec<PathBuf> = partials.values().cloned().collect();
    let mut outputs = Vec::new();
    for round in 0..3 {
        // Deterministic shuffles: reversed, rotated.
        match round {
            1 => list.reverse(),
            2 => list.rotate_left(3),
            _ => {}
        }
        let out = tmp.path().join(format!("merged-{round}.json"));
        let o = run(Command::new(bin("kiln-manifest-merge")).arg("-o").arg(&out).args(&list));
        assert!(o.status.success(), "{}", stderr(&o));
        outputs.push(fs::read(&out).unwrap());
    }
    assert!(outputs.iter().all(|o| *o == outputs[0]), "merge output depends on input order");
    let merged: Value = serde_json::from_slice(&outputs[0]).unwrap();
    assert_eq!(merged, batch, "per-asset partials must merge to exactly the batch manifest");
    // Same params-file expansion as Bazel: @file with one input per line.
    let params = tmp.path().join("merge.params");
    fs::write(&params, list.iter().map(|p| p.to_string_lossy().into_owned() + "\n").collect::<String>()).unwrap();
    let out = tmp.path().join("merged-params.json");
    let o = run(Command::new(bin("kiln-manifest-merge")).arg("-o").arg(&out).arg(format!("@{}", params.display())));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(fs::read(&out).unwrap(), outputs[0]);
}

fn partial_json(key: &str, version: &str, deps: &[&str]) -> String {
    serde_json::json!({"version": 1, "assets": {key: {
        "version": version, "versioned_path": format!("{key}.{}", &version[..12]),
        "deps": deps, "integrity": "sha384-AAAA"}}})
    .to_string()
}

#[test]
fn conflicting_partials_fail_naming_both_files() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("one/a.json");
    let b = tmp.path().join("two/b.json");
    write(&a, partial_json("img/x.png", "0123456789abcdef0123456789abcdef", &[]));
    write(&b, partial_json("img/x.png", "fedcba9876543210fedcba9876543210", &[]));
    let out = tmp.path().join("out/manifest.json");
    for order in [[&a, &b], [&b, &a]] {
        let o = run(Command::new(bin("kiln-manifest-merge")).arg("-o").arg(&out).args(order));
        assert_eq!(o.status.code(), Some(1));
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("img/x.png") && err.contains(&*a.to_string_lossy()) && err.contains(&*b.to_string_lossy()), "{err}");
        assert!(!out.exists() && !out.parent().unwrap().exists(), "no output after a failed merge");
    }
}

#[test]
fn missing_dependency_entry_fails_naming_both() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a.json");
    write(&a, partial_json("css/a.css", "0123456789abcdef0123456789abcdef", &["img/gone.png"]));
    let out = tmp.path().join("manifest.json");
    let o = run(Command::new(bin("kiln-manifest-merge")).arg("-o").arg(&out).arg(&a));
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("css/a.css") && err.contains("img/gone.png") && err.contains("a.json"), "{err}");
    assert!(!out.exists());
}

#[test]
fn bad_merge_inputs_are_one_line_errors_with_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good.json");
    write(&good, partial_json("img/x.png", "0123456789abcdef0123456789abcdef", &[]));
    let garbage = tmp.path().join("garbage.json");
    write(&garbage, "{\"version\": 1, \"assets\": {");
    let dir = tmp.path().join("adir");
    fs::create_dir_all(&dir).unwrap();
    let missing = tmp.path().join("missing.json");
    let out = tmp.path().join("manifest.json");
    for (bad, what) in [(&garbage, "not a kiln manifest"), (&dir, "is a directory"), (&missing, "no such file")] {
        let o = run(Command::new(bin("kiln-manifest-merge")).arg("-o").arg(&out).arg(&good).arg(bad));
        assert_eq!(o.status.code(), Some(1), "{bad:?}");
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with(&*bad.to_string_lossy()) && err.contains(what), "{err}");
        assert!(!out.exists());
    }
}

/// Runs kiln-hash on `inputs` inside a small tree; returns (exit code, stderr, files written).
fn hash_tree(files: &[(&str, &str)], inputs: &[&str], extra: &[&str]) -> (Option<i32>, String, Vec<String>) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("static");
    fs::create_dir_all(&root).unwrap();
    for (p, text) in files {
        write(&root.join(p), text);
    }
    let out = tmp.path().join("out");
    let mut cmd = Command::new(bin("kiln-hash"));
    cmd.current_dir(tmp.path()).arg("--root").arg("static").arg("--partial").arg("out/partial.json");
    if !extra.contains(&"-o") {
        cmd.arg("-o").arg("out");
    }
    cmd.args(extra).args(inputs);
    let o = run(&mut cmd);
    let written = files_under(&out);
    let before: Vec<(String, String)> = files.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect();
    for (p, t) in before {
        assert_eq!(fs::read_to_string(root.join(&p)).unwrap(), t, "a source file changed: {p}");
    }
    (o.status.code(), stderr(&o), written)
}

#[test]
fn bad_hash_inputs_fail_with_the_path_and_write_nothing() {
    let ok = ("img/a.png", "png");
    // A missing input.
    let (code, err, out) = hash_tree(&[ok], &["static/img/a.png", "static/img/nope.png"], &[]);
    assert_eq!((code, out.len()), (Some(1), 0), "{err}");
    assert_eq!(err.trim(), "static/img/nope.png: no such file");
    // A directory where a file is expected.
    let (code, err, out) = hash_tree(&[ok], &["static/img"], &[]);
    assert_eq!((code, out.len()), (Some(1), 0));
    assert_eq!(err.trim(), "static/img: is a directory, expected a file");
    // A path that escapes the root.
    let (code, err, out) = hash_tree(&[ok], &["static/../elsewhere.css"], &[]);
    assert_eq!((code, out.len()), (Some(1), 0));
    assert_eq!(err.trim(), "static/../elsewhere.css: path escapes every --root");
    // A CSS syntax error: path:line:col.
    let (code, err, out) = hash_tree(&[("css/a.css", "a { color: red }\nb { color: blue;\n")], &["static/css/a.css"], &[]);
    assert_eq!((code, out.len()), (Some(1), 0));
    assert!(err.starts_with("static/css/a.css:2:3: unclosed block"), "{err}");
    // A reference to an asset that is not there, and one that climbs out of the root.
    let (code, err, out) = hash_tree(
        &[("css/a.css", "a { background: url(../img/missing.png) }\nb { background: url(../../../etc/passwd) }\n")],
        &["static/css/a.css"],
        &[],
    );
    assert_eq!((code, out.len()), (Some(1), 0));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].starts_with("static/css/a.css:2:17: ") && lines[0].contains("outside the static root"), "{err}");
    let (code, err, _) = hash_tree(&[("css/a.css", "a { background: url(../img/missing.png) }\n")], &["static/css/a.css"], &[]);
    assert_eq!(code, Some(1));
    assert!(err.starts_with("static/css/a.css:1:17: references img/missing.png"), "{err}");
    // Several broken inputs: every one is reported in one run.
    let (code, err, out) =
        hash_tree(&[("css/a.css", "a {"), ("css/b.css", "b { x: url(nope.png) }")], &["static/css/a.css", "static/css/b.css", "static/gone.js"], &[]);
    assert_eq!((code, out.len()), (Some(1), 0));
    assert_eq!(err.lines().count(), 3, "{err}");
    // An unreadable dependency manifest.
    let (code, err, _) = hash_tree(&[ok, ("bad.json", "nope")], &["static/img/a.png"], &["--dep", "static/bad.json"]);
    assert_eq!(code, Some(1));
    assert!(err.starts_with("static/bad.json: not a kiln manifest"), "{err}");
}

#[test]
fn import_cycles_are_errors_naming_the_cycle() {
    let (code, err, out) =
        hash_tree(&[("a.css", "@import \"b.css\";\n"), ("b.css", "@import \"c.css\";\n"), ("c.css", "@import 'a.css';\n")], &[], &["--all"]);
    assert_eq!((code, out.len()), (Some(1), 0));
    assert_eq!(err.trim(), "dependency cycle: a.css -> b.css -> c.css -> a.css");
}

#[test]
fn output_inside_the_root_is_refused() {
    let (code, err, _) = hash_tree(&[("a.js", "x")], &[], &["--all", "-o", "static/out"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("overlaps the input root"), "{err}");
}

#[test]
fn walking_refuses_symlinks_out_of_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("static");
    write(&root.join("a.js"), "1");
    std::os::unix::fs::symlink("/etc/passwd", root.join("passwd.txt")).unwrap();
    let o = run(Command::new(bin("kiln-hash"))
        .arg("--root")
        .arg(&root)
        .arg("--all")
        .arg("-o")
        .arg(tmp.path().join("out"))
        .arg("--partial")
        .arg(tmp.path().join("p.json")));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("passwd.txt: symlink points outside the root"), "{}", stderr(&o));
    assert!(!tmp.path().join("out").exists() && !tmp.path().join("p.json").exists());
}

#[test]
fn editing_an_image_changes_exactly_its_dependents() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("app");
    copy_tree(&shop(), &app);
    let before = hash_and_merge(&app, &tmp.path().join("before"), &[], "022");
    let mut png = fs::read(app.join(STATIC).join("img/hero.jpg")).unwrap();
    png.push(0);
    fs::write(app.join(STATIC).join("img/hero.jpg"), png).unwrap();
    let after = hash_and_merge(&app, &tmp.path().join("after"), &[], "022");
    let changed: Vec<&String> = before["assets"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, e)| after["assets"][k.as_str()]["version"] != e["version"])
        .map(|(k, _)| k)
        .collect();
    assert_eq!(changed, ["css/shop.css", "img/hero.jpg"]);
}
