//! `kiln build` and `kiln-dist-assemble` end to end (issue 9): the real binaries on copies of
//! examples/shop and on small generated projects. The built shop is run from its bytecode and
//! crawled; two builds in different places and environments are compared byte for byte (trees
//! and archives); outputs that would destroy sources are refused; secrets never ship; broken
//! inputs are all reported in one run; the cache, `--explain` and the manifest change exactly as
//! much as an edit warrants; `--report` renders in headless Chromium.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use common::*;
use sha2::Digest;

/// `kiln build ARGS` in `cwd`, with no ambient IMAGE_OPTIMIZATION (the app's .env decides).
fn kiln_build(cwd: &Path, args: &[&str]) -> Output {
    run(Command::new(bin("kiln")).arg("build").args(args).current_dir(cwd).env_remove("IMAGE_OPTIMIZATION"))
}

fn ok(o: &Output) -> String {
    let err = stderr(o);
    assert!(o.status.success(), "kiln build failed ({:?}):\n{err}", o.status.code());
    err
}

fn s(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// A fresh copy of examples/shop at `dir/name`.
fn shop_copy(dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    copy_tree(&shop(), &to);
    to
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// The unit names of `rebuilt <unit>: <why>` lines (kiln build --explain).
fn rebuilt_units(err: &str) -> BTreeSet<String> {
    err.lines().filter_map(|l| l.strip_prefix("rebuilt ")).map(|l| l.split_once(": ").map(|(u, _)| u).unwrap_or(l).to_string()).collect()
}

/// (reused, total) from the summary's `(N of M units reused from the cache)`.
fn reuse(err: &str) -> (usize, usize) {
    let line = err.lines().find(|l| l.contains("units reused")).unwrap_or_else(|| panic!("no summary in:\n{err}"));
    let inner = &line[line.find('(').unwrap() + 1..];
    let words: Vec<&str> = inner.split_whitespace().collect();
    assert_eq!(words[1], "of", "{line}");
    (words[0].parse().unwrap(), words[2].parse().unwrap())
}

fn sri(bytes: &[u8]) -> String {
    format!("sha384-{}", base64::engine::general_purpose::STANDARD.encode(sha2::Sha384::digest(bytes)))
}

fn set_mtime(path: &Path, secs: u64) {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    fs::File::options().write(true).open(path).unwrap().set_modified(t).unwrap();
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// The shop, built and served from its bytecode.

#[test]
fn built_shop_serves_every_page_and_asset_from_bytecode_with_matching_sri() {
    if !require("python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dist = tmp.path().join("dist");
    // Straight from the repository: the source is only read.
    let before = snapshot(&shop());
    ok(&kiln_build(&repo(), &["examples/shop", "-o", s(&dist)]));
    assert_eq!(snapshot(&shop()), before, "kiln build changed examples/shop");

    let files = files_under(&dist);
    let stray: Vec<&String> = files.iter().filter(|f| f.ends_with(".py") && !f.starts_with("src/migrations/")).collect();
    assert!(stray.is_empty(), ".py outside src/migrations: {stray:?}");
    for f in ["wsgi.pyc", "src/app.pyc", "src/migrations/0001_initial.py", "manifest.json", ".env.production"] {
        assert!(files.contains(&f.to_string()), "{f} missing from the dist: {files:?}");
    }
    // No output embeds where it was built or where its source was (asok's .pyc did).
    for (rel, (_, bytes)) in snapshot(&dist) {
        for p in [s(tmp.path()), s(&repo())] {
            assert!(!contains(&bytes, p.as_bytes()), "{rel} embeds the absolute path {p}");
        }
    }

    let dist_before = snapshot(&dist);
    let o = run(Command::new("python3")
        .arg(repo().join("tests/build/crawl_dist.py"))
        .current_dir(&dist)
        .env("SECRET_KEY", "test-secret-from-the-environment")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("DEBUG")
        .env_remove("KILN_MANIFEST"));
    assert!(o.status.success(), "the dist does not run:\n{}", stderr(&o));
    assert_eq!(snapshot(&dist), dist_before, "running the app wrote into the dist");
    let crawl: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();

    let modules: Vec<&str> = crawl["modules"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    assert!(modules.iter().any(|m| m.ends_with("/wsgi.pyc")), "{modules:?}");
    assert!(modules.iter().all(|m| m.ends_with(".pyc")), "modules loaded from source: {modules:?}");

    let pages = crawl["pages"].as_array().unwrap();
    assert!(pages.len() >= 3, "/ and at least two product pages: {pages:?}");
    assert!(pages.iter().any(|p| p["path"].as_str().unwrap().starts_with("/product/")));
    for p in pages {
        assert_eq!(p["status"], 200, "{}", p["path"]);
        assert!(!p["html"].as_str().unwrap().contains("{{"), "{} has unrendered template syntax", p["path"]);
    }

    let assets = crawl["assets"].as_array().unwrap();
    let urls: BTreeSet<&str> = assets.iter().map(|a| a["url"].as_str().unwrap()).collect();
    // The CSS block, the JS block, and the images the page and the stylesheets reference.
    assert!(urls.iter().filter(|u| u.starts_with("/s/f/") && u.ends_with(".css")).count() == 1, "{urls:?}");
    assert!(urls.iter().filter(|u| u.starts_with("/s/f/") && u.ends_with(".js")).count() == 1, "{urls:?}");
    for img in ["/s/img/logo.", "/s/img/hero.", "/s/img/icon-cart."] {
        assert!(urls.iter().any(|u| u.starts_with(img)), "{img}… never referenced: {urls:?}");
    }
    let mut with_sri = 0;
    for a in assets {
        let url = a["url"].as_str().unwrap();
        assert_eq!(a["status"], 200, "{url} (from {})", a["referrer"]);
        let body = base64::engine::general_purpose::STANDARD.decode(a["body"].as_str().unwrap()).unwrap();
        let rel = url.strip_prefix("/s/").unwrap();
        let file = fs::read(dist.join("src/partials").join(rel)).unwrap_or_else(|e| panic!("{url}: not in the dist: {e}"));
        assert!(body == file, "{url}: response bytes differ from the dist file");
        let name = rel.rsplit('/').next().unwrap();
        let parts: Vec<&str> = name.split('.').collect();
        assert!(
            parts.len() >= 3 && parts[parts.len() - 2].len() == 12 && parts[parts.len() - 2].bytes().all(|b| b.is_ascii_hexdigit()),
            "{url} is not a versioned name"
        );
        if url.ends_with(".css") || url.ends_with(".js") {
            assert!(!contains(&body, b"\n  "), "{url} is not minified");
        }
        if let Some(integrity) = a["integrity"].as_str() {
            assert_eq!(integrity, sri(&file), "{url}: the page's SRI does not match the file");
            with_sri += 1;
        }
    }
    assert!(with_sri >= 2, "both blocks carry an integrity attribute");
}

// ---------------------------------------------------------------------------------------------
// Reproducibility.

/// Builds `src` in an environment of its own (TZ, umask, locale, job count).
fn build_in_env(src: &Path, out: &Path, archive: &Path, tz: &str, umask: &str, lc: &str, jobs: &str) -> Output {
    run(Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(bin("kiln"))
        .args(["build", s(src), "-o", s(out), "--archive", s(archive), "-j", jobs])
        .env("TZ", tz)
        .env("LC_ALL", lc)
        .env("LANG", lc)
        .env_remove("IMAGE_OPTIMIZATION"))
}

/// (name, mode string, owner, date time) of each entry, from GNU tar's verbose listing.
fn tar_listing(archive: &Path) -> Vec<(String, String, String, String)> {
    let o = run(Command::new("tar").args(["-tvzf", s(archive), "--numeric-owner", "--full-time"]).env("TZ", "UTC"));
    assert!(o.status.success(), "tar -tv: {}", stderr(&o));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 6, "unexpected tar listing line {l:?}");
            (f[5].to_string(), f[0].to_string(), f[1].to_string(), format!("{} {}", f[3], f[4]))
        })
        .collect()
}

#[test]
fn two_builds_in_different_places_and_environments_are_byte_identical() {
    if !require("python3") || !require("tar") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let a_src = shop_copy(&tmp.path().join("a"), "shop");
    let b_src = shop_copy(&tmp.path().join("elsewhere/much/deeper"), "checkout-two");
    // Same content, different source modes: one checkout is private, and has an executable
    // script that is 0700 where the other has it 0755.
    for root in [&a_src, &b_src] {
        write(&root.join("bin/manage.sh"), "#!/bin/sh\nexec python3 wsgi.pyc \"$@\"\n");
    }
    fs::set_permissions(a_src.join("bin/manage.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    for e in walkdir::WalkDir::new(&b_src).into_iter().map(Result::unwrap) {
        let mode = if e.file_type().is_dir() || e.path().ends_with("bin/manage.sh") { 0o700 } else { 0o600 };
        if !e.file_type().is_symlink() {
            fs::set_permissions(e.path(), fs::Permissions::from_mode(mode)).unwrap();
        }
    }
    let (a_out, b_out) = (tmp.path().join("a/dist"), tmp.path().join("b-out/dist"));
    let arch = |side: &str, ext: &str| tmp.path().join(format!("{side}-dist.{ext}"));
    // Cold builds with everything different, then the other two archive kinds from warm caches.
    ok(&build_in_env(&a_src, &a_out, &arch("a", "tar.zst"), "UTC", "022", "C", "1"));
    ok(&build_in_env(&b_src, &b_out, &arch("b", "tar.zst"), "Asia/Kathmandu", "077", "C.UTF-8", "2"));
    for ext in ["tar.gz", "zip"] {
        ok(&build_in_env(&a_src, &a_out, &arch("a", ext), "UTC", "022", "C", "2"));
        ok(&build_in_env(&b_src, &b_out, &arch("b", ext), "America/St_Johns", "077", "C.UTF-8", "1"));
    }
    assert_same_tree(&a_out, &b_out);
    for e in walkdir::WalkDir::new(&b_out).into_iter().map(Result::unwrap) {
        let mode = e.metadata().unwrap().permissions().mode() & 0o7777;
        let want = if e.file_type().is_dir() || e.path().ends_with("bin/manage.sh") { 0o755 } else { 0o644 };
        assert_eq!(mode, want, "{:?} has mode {mode:o} under umask 077", e.path());
    }
    for ext in ["tar.zst", "tar.gz", "zip"] {
        let (a, b) = (fs::read(arch("a", ext)).unwrap(), fs::read(arch("b", ext)).unwrap());
        assert!(a == b, "the two .{ext} archives differ");
    }

    // The archives hold exactly the dist, with fixed times, owners and modes.
    let dist_files = files_under(&a_out);
    let mut dirs = BTreeSet::new();
    for f in &dist_files {
        let mut at = 0;
        while let Some(i) = f[at..].find('/') {
            dirs.insert(format!("{}/", &f[..at + i]));
            at += i + 1;
        }
    }
    let mut want_names: Vec<String> = dist_files.iter().cloned().chain(dirs.iter().cloned()).collect();
    want_names.sort();
    let listing = tar_listing(&arch("a", "tar.gz"));
    let names: Vec<String> = listing.iter().map(|e| e.0.clone()).collect();
    assert_eq!(names, want_names, "tar entries: sorted, every file and its directories");
    for (name, mode, owner, time) in &listing {
        let want = if name.ends_with('/') {
            "drwxr-xr-x"
        } else if name == "bin/manage.sh" {
            "-rwxr-xr-x"
        } else {
            "-rw-r--r--"
        };
        assert_eq!((mode.as_str(), owner.as_str(), time.as_str()), (want, "0/0", "2000-01-01 00:00:00"), "{name}");
    }
    // .tar.zst and .tar.gz wrap the same tar stream; unpacked, it is the dist.
    let zst_tar = zstd::stream::decode_all(&fs::read(arch("a", "tar.zst")).unwrap()[..]).unwrap();
    let mut gz_tar = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&fs::read(arch("a", "tar.gz")).unwrap()[..]), &mut gz_tar).unwrap();
    assert!(zst_tar == gz_tar, ".tar.zst and .tar.gz hold different tar streams");
    for e in tar::Archive::new(&gz_tar[..]).entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        let name = e.path().unwrap().display().to_string();
        assert_eq!((h.username().unwrap(), h.groupname().unwrap()), (Some(""), Some("")), "{name}: owner names");
    }
    let unpacked = tmp.path().join("unpacked");
    fs::create_dir(&unpacked).unwrap();
    let o = run(Command::new("tar").args(["-xzf", s(&arch("a", "tar.gz")), "-C", s(&unpacked)]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_same_tree(&a_out, &unpacked);

    let script = r#"
import hashlib, json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
print(json.dumps([[i.filename, list(i.date_time), i.external_attr >> 16, i.create_system,
                   hashlib.sha256(z.read(i)).hexdigest()] for i in z.infolist()]))
"#;
    let o = run(Command::new("python3").arg("-c").arg(script).arg(arch("a", "zip")));
    assert!(o.status.success(), "{}", stderr(&o));
    let entries: Vec<(String, Vec<u32>, u32, u32, String)> = serde_json::from_slice(&o.stdout).unwrap();
    let zip_names: Vec<&String> = entries.iter().map(|e| &e.0).collect();
    assert_eq!(zip_names, want_names.iter().collect::<Vec<_>>(), "zip entries");
    let snap = snapshot(&a_out);
    for (name, time, mode, system, sha) in &entries {
        assert_eq!(time, &[2000, 1, 1, 0, 0, 0], "{name}");
        assert_eq!(*system, 3, "{name}: unix attributes");
        if name.ends_with('/') {
            assert_eq!(*mode, 0o040755, "{name}");
        } else {
            assert_eq!(*mode, if name == "bin/manage.sh" { 0o100755 } else { 0o100644 }, "{name}");
            assert_eq!(sha, &format!("{:x}", sha2::Sha256::digest(&snap[name].1)), "{name}: content");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Output safety.

#[test]
fn outputs_that_would_destroy_sources_are_refused_and_nothing_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let parent = tmp.path().join("p");
    let src = shop_copy(&parent, "shop");
    let before = snapshot(tmp.path());
    let cases: Vec<(PathBuf, Vec<String>, &str)> = vec![
        (src.clone(), vec!["-o".into(), ".".into()], "-o . (cwd = the project)"),
        (src.clone(), vec!["-o".into(), "./".into()], "-o ./"),
        (src.clone(), vec!["-o".into(), "src/..".into()], "-o src/.."),
        (tmp.path().into(), vec![s(&src).into(), "-o".into(), s(&src).into()], "-o = SRC"),
        (src.clone(), vec!["-o".into(), "src".into()], "-o src (a source directory)"),
        (tmp.path().into(), vec![s(&src).into(), "-o".into(), s(&src.join("src/templates")).into()], "-o SRC/src/templates"),
        (src.clone(), vec!["-o".into(), "..".into()], "-o .. (the parent)"),
        (tmp.path().into(), vec![s(&src).into(), "-o".into(), s(tmp.path()).into()], "-o = a grandparent"),
        (src.clone(), vec!["-o".into(), "wsgi.py".into()], "-o a source file"),
    ];
    for (cwd, args, what) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = kiln_build(cwd, &args);
        let err = stderr(&o);
        assert!(!o.status.success(), "{what}: accepted\n{err}");
        assert!(err.contains("refusing"), "{what}: no clear message:\n{err}");
        assert_eq!(err.trim().lines().count(), 1, "{what}: one message:\n{err}");
        assert!(snapshot(tmp.path()) == before, "{what}: the tree changed");
    }

    // Archives go outside the source, and are files.
    for (archive, what) in [("shop/x.tar.zst", "an archive inside SRC"), ("elsewhere/x", "an archive without an archive extension")] {
        let o = kiln_build(&parent, &["shop", "-o", "../out", "--archive", archive]);
        let err = stderr(&o);
        assert!(!o.status.success(), "{what}: accepted\n{err}");
        assert!(err.contains("--archive"), "{what}: no clear message:\n{err}");
        assert!(snapshot(tmp.path()) == before, "{what}: the tree changed");
    }

    // asok's default, in the project (dist/ inside SRC), and a nested -o out/x: the dist never
    // contains itself, its cache or an earlier dist, and building twice does not recurse.
    ok(&kiln_build(&src, &[]));
    let d = snapshot(&src.join("dist"));
    assert!(d.keys().all(|f| !f.starts_with("dist") && !f.starts_with(".kiln-cache")), "{:?}", d.keys());
    for round in 0..2 {
        ok(&kiln_build(&src, &["-o", "out/x"]));
        let x = files_under(&src.join("out/x"));
        let bad: Vec<&String> = x.iter().filter(|f| f.starts_with("out/") || f.starts_with("dist/") || f.contains(".kiln-")).collect();
        assert!(bad.is_empty(), "round {round}: the dist contains build outputs: {bad:?}");
        assert!(snapshot(&src.join("out/x")) == d, "round {round}: -o out/x differs from -o dist");
    }
}

#[test]
fn an_output_overlapping_the_source_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let src = shop_copy(tmp.path(), "shop");
    for args in [&["-o", "."][..], &["-o", "src"], &["-o", ".."]] {
        let o = kiln_build(&src, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn a_failed_build_leaves_the_previous_dist_and_cache_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let src = shop_copy(tmp.path(), "shop");
    let out_parent = tmp.path().join("deploy");
    let dist = out_parent.join("dist");
    ok(&kiln_build(tmp.path(), &[s(&src), "-o", s(&dist)]));
    let dist_before = snapshot(&dist);
    let around_before = snapshot(&out_parent);
    assert!(around_before.keys().any(|k| k.starts_with(".kiln-cache/")), "the cache sits beside the dist");

    let js = src.join("src/partials/js/catalog.js");
    let mut text = fs::read_to_string(&js).unwrap();
    text.push_str("\nfunction broken( {\n");
    fs::write(&js, text).unwrap();
    let src_before = snapshot(&src);
    let o = kiln_build(tmp.path(), &[s(&src), "-o", s(&dist)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("src/partials/js/catalog.js:"), "{err}");
    assert!(snapshot(&dist) == dist_before, "the previous dist changed");
    assert!(snapshot(&out_parent) == around_before, "the failed build left something beside the dist");
    assert!(snapshot(&src) == src_before, "the failed build changed the source");
}

// ---------------------------------------------------------------------------------------------
// Secrets and development artifacts.

#[test]
fn secrets_and_development_artifacts_never_ship_and_deep_build_folders_do() {
    let tmp = tempfile::tempdir().unwrap();
    let src = shop_copy(tmp.path(), "shop");
    let leak = "LEAKED-CREDENTIAL-8c1f";
    let secrets = [
        ".env.local",
        ".env.production",
        ".npmrc",
        ".pypirc",
        ".netrc",
        "id_rsa",
        "id_ed25519.pub",
        "deploy/server.pem",
        "deploy/x.key",
        "src/.env",
        "src/partials/.env.local",
        "node_modules/x.js",
        "src/node_modules/y/index.js",
        ".git/config",
        "venv/bin/activate",
        ".venv/lib/z.py",
        "src/__pycache__/app.cpython-311.pyc",
        "src/stale.pyc",
        ".DS_Store",
        "db.sqlite3",
        "dist/old.txt",
        "build/old.txt",
    ];
    for f in secrets {
        write(&src.join(f), format!("SECRET_KEY={leak}\n"));
    }
    let kept = ["docs/build/index.md", "tests/fixtures/dist/a.txt", "pkg/build/notes.txt", "pkg/dist/readme.txt", "src/.gitignore"];
    for f in kept {
        write(&src.join(f), "keep me\n");
    }
    let dist = tmp.path().join("dist");
    ok(&kiln_build(tmp.path(), &[s(&src), "-o", s(&dist)]));
    let files = files_under(&dist);
    for f in secrets.iter().chain(&[".env", ".gitignore", ".asok/cache.json", "blocks.bzl"]) {
        if *f != ".env.production" {
            assert!(!files.iter().any(|x| x == f), "{f} shipped");
        }
    }
    for f in kept.iter().chain(&["tests/test_app.pyc"]) {
        assert!(files.iter().any(|x| x == f), "{f} dropped: {files:?}");
    }
    let dev = [".git", "node_modules", "venv", ".venv", "__pycache__", ".asok", ".kiln-cache"];
    for f in &files {
        assert!(!f.split('/').any(|p| dev.contains(&p)), "{f}: a development directory shipped");
    }
    let dev_secret = fs::read_to_string(src.join(".env")).unwrap();
    let dev_secret = dev_secret.lines().find_map(|l| l.strip_prefix("SECRET_KEY=")).unwrap().to_string();
    for (rel, (_, bytes)) in snapshot(&dist) {
        assert!(!contains(&bytes, leak.as_bytes()), "{rel} carries a planted secret");
        assert!(!contains(&bytes, dev_secret.as_bytes()), "{rel} carries the development SECRET_KEY");
    }
    let env = fs::read_to_string(dist.join(".env.production")).unwrap();
    let lines: Vec<&str> = env.lines().map(str::trim).filter(|l| !l.starts_with('#') && !l.is_empty()).collect();
    assert!(lines.contains(&"DEBUG=false"), "{env}");
    assert!(lines.iter().all(|l| !l.starts_with("SECRET_KEY") || l.trim_end() == "SECRET_KEY="), "a SECRET_KEY value in .env.production:\n{env}");
    assert!(lines.contains(&"ALLOWED_HOSTS="), "ALLOWED_HOSTS empty, not *:\n{env}");
}

#[test]
fn a_symlink_to_a_secret_inside_the_tree_never_ships_its_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let src = shop_copy(tmp.path(), "shop");
    write(&src.join("deploy/id_rsa"), "PRIVATE-KEY-BYTES-51c0\n");
    std::os::unix::fs::symlink(".env", src.join("settings.txt")).unwrap();
    std::os::unix::fs::symlink("../../deploy/id_rsa", src.join("src/partials/key.txt")).unwrap();
    let dist = tmp.path().join("dist");
    let o = kiln_build(tmp.path(), &["shop", "-o", "dist"]);
    let err = stderr(&o);
    if o.status.success() {
        let dev_secret = "fake-dev-secret-not-for-production";
        for (rel, (_, bytes)) in snapshot(&dist) {
            assert!(!contains(&bytes, b"PRIVATE-KEY-BYTES-51c0"), "{rel} ships deploy/id_rsa");
            assert!(!contains(&bytes, dev_secret.as_bytes()), "{rel} ships .env");
        }
    } else {
        for link in ["shop/settings.txt", "shop/src/partials/key.txt"] {
            assert!(err.lines().any(|l| l.starts_with(&format!("{link}: "))), "refused without naming {link}:\n{err}");
        }
        assert!(!dist.exists());
    }
}

#[test]
fn symlinks_out_of_the_tree_fail_the_build_naming_them() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("app");
    write(&src.join("src/templates/index.html"), "<p>{{ x }}</p>\n");
    write(&src.join("src/partials/css/a.css"), "a { color: red }\n");
    write(&src.join("README.txt"), "app\n");
    std::os::unix::fs::symlink("/etc/passwd", src.join("passwd")).unwrap();
    std::os::unix::fs::symlink("/etc", src.join("src/partials/etc")).unwrap();
    std::os::unix::fs::symlink("../../../../outside.css", src.join("src/partials/css/b.css")).unwrap();
    write(&tmp.path().join("outside.css"), "b { color: blue }\n");
    let before = snapshot(tmp.path());
    let dist = tmp.path().join("dist");
    let o = kiln_build(tmp.path(), &["app", "-o", s(&dist)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    for link in ["app/passwd", "app/src/partials/etc", "app/src/partials/css/b.css"] {
        let n = err.lines().filter(|l| l.starts_with(&format!("{link}: ")) && l.contains("symlink")).count();
        assert_eq!(n, 1, "one error line naming {link}:\n{err}");
    }
    assert!(!dist.exists(), "a dist was written");
    assert!(snapshot(tmp.path()) == before, "the failed build changed something");
}

// ---------------------------------------------------------------------------------------------
// Broken inputs.

/// Appends to a file and returns the 1-based number of the first appended line.
fn append(path: &Path, text: &str) -> usize {
    let mut s = fs::read_to_string(path).unwrap();
    if !s.ends_with('\n') {
        s.push('\n');
    }
    let line = s.lines().count() + 1;
    s.push_str(text);
    fs::write(path, s).unwrap();
    line
}

/// Breaks a .py, a .js, a .css and a template of a shop copy; returns (path prefix, line) of
/// the error each must get.
fn break_shop(src: &Path) -> Vec<(String, usize)> {
    let py = append(&src.join("src/catalog.py"), "def broken(:\n    pass\n");
    let js = append(&src.join("src/partials/js/cart.js"), "function (\n");
    let css = append(&src.join("src/partials/css/shop.css"), ".oops { color: red;\n");
    // The last tag of the template loses its closing brace.
    let t = src.join("src/templates/product.html");
    let text = fs::read_to_string(&t).unwrap();
    let at = text.rfind("{% end %}").unwrap();
    let line = text[..at].lines().count() + usize::from(text[..at].ends_with('\n'));
    fs::write(&t, format!("{}{{% end %{}", &text[..at], &text[at + "{% end %}".len()..])).unwrap();
    vec![
        ("shop/src/catalog.py".into(), py),
        ("shop/src/partials/js/cart.js".into(), js),
        ("shop/src/partials/css/shop.css".into(), css),
        ("shop/src/templates/product.html".into(), line),
    ]
}

fn assert_one_line_each(err: &str, want: &[(String, usize)]) {
    for (path, line) in want {
        let hits: Vec<&str> = err.lines().filter(|l| l.starts_with(&format!("{path}:"))).collect();
        assert_eq!(hits.len(), 1, "{path}: want one error line:\n{err}");
        let rest: Vec<&str> = hits[0][path.len() + 1..].splitn(3, ':').collect();
        assert_eq!(rest.len(), 3, "{path}: not path:line:col: message: {}", hits[0]);
        assert_eq!(rest[0].parse::<usize>().ok(), Some(*line), "{path}: wrong line: {}", hits[0]);
        assert!(rest[1].parse::<usize>().is_ok_and(|c| c > 0), "{path}: no column: {}", hits[0]);
    }
}

#[test]
fn broken_py_js_css_and_template_each_get_one_error_line_in_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let src = shop_copy(tmp.path(), "shop");
    let want = break_shop(&src);
    let before = snapshot(tmp.path());
    let o = kiln_build(tmp.path(), &["shop", "-o", "dist"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_one_line_each(&err, &want);
    assert_eq!(err.trim().lines().count(), want.len(), "exactly one line per broken file:\n{err}");
    assert!(snapshot(tmp.path()) == before, "the failed build wrote or changed something");
}

#[test]
fn a_truncated_image_is_reported_with_the_other_broken_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let src = shop_copy(tmp.path(), "shop");
    let want = break_shop(&src);
    let jpg = src.join("src/partials/img/hero.jpg");
    let bytes = fs::read(&jpg).unwrap();
    fs::write(&jpg, &bytes[..bytes.len() / 2]).unwrap();
    let before = snapshot(tmp.path());
    let o = run(Command::new(bin("kiln")).args(["build", "shop", "-o", "dist"]).current_dir(tmp.path()).env("IMAGE_OPTIMIZATION", "true"));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_one_line_each(&err, &want);
    let img: Vec<&str> = err.lines().filter(|l| l.starts_with("shop/src/partials/img/hero.jpg:")).collect();
    assert_eq!(img.len(), 1, "one line for the truncated image:\n{err}");
    assert_eq!(err.trim().lines().count(), want.len() + 1, "{err}");
    assert!(snapshot(tmp.path()) == before, "the failed build wrote or changed something");
}

#[test]
fn a_template_tag_missing_its_closer_before_the_next_tag_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let src = shop_copy(tmp.path(), "shop");
    let t = src.join("src/templates/product.html");
    let text = fs::read_to_string(&t).unwrap();
    let typo = text.replacen("<h1>{{ product['name'] }}</h1>", "<h1>{{ product['name'] </h1>", 1);
    assert_ne!(typo, text);
    let line = typo[..typo.find("<h1>{{ product['name'] </h1>").unwrap()].lines().count();
    fs::write(&t, typo).unwrap();
    let o = kiln_build(tmp.path(), &["shop", "-o", "dist"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_one_line_each(&err, &[("shop/src/templates/product.html".into(), line)]);
    assert!(!tmp.path().join("dist").exists());
}

// ---------------------------------------------------------------------------------------------
// The cache and --explain.

/// The manifest keys of the blocks compiled to `.ext` whose paths include `path`.
fn blocks_with(manifest: &serde_json::Value, ext: &str, path: &str) -> BTreeSet<String> {
    manifest["blocks"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, b)| {
            b["versioned_path"].as_str().unwrap().ends_with(&format!(".{ext}")) && b["paths"].as_array().unwrap().iter().any(|p| p == path)
        })
        .map(|(k, _)| k.clone())
        .collect()
}

const TEMPLATES: [&str; 3] = ["src/templates/base.html", "src/templates/index.html", "src/templates/product.html"];

/// Builds a shop copy twice (cold, then no change) and returns (tmp, src, dist, units).
fn warm_shop() -> (tempfile::TempDir, PathBuf, PathBuf, usize) {
    let tmp = tempfile::tempdir().unwrap();
    let src = shop_copy(tmp.path(), "shop");
    let dist = tmp.path().join("dist");
    let cold = ok(&kiln_build(tmp.path(), &["shop", "-o", "dist", "--explain"]));
    let (_, units) = reuse(&cold);
    assert!(units > 20, "{cold}");
    let warm = ok(&kiln_build(tmp.path(), &["shop", "-o", "dist", "--explain"]));
    assert_eq!(reuse(&warm), (units, units), "a no-change rebuild reuses every unit:\n{warm}");
    assert!(rebuilt_units(&warm).is_empty(), "a no-change rebuild rebuilt something:\n{warm}");
    (tmp, src, dist, units)
}

#[test]
fn no_change_and_mtime_only_rebuilds_reuse_every_unit_and_give_the_same_dist() {
    let (tmp, src, dist, units) = warm_shop();
    let before = snapshot(&dist);
    for f in ["src/partials/js/util.js", "src/partials/css/base.css", "src/app.py", "src/templates/base.html", "wsgi.py"] {
        set_mtime(&src.join(f), 1_900_000_000);
    }
    let err = ok(&kiln_build(tmp.path(), &["shop", "-o", "dist", "--explain"]));
    assert_eq!(reuse(&err), (units, units), "touching files rebuilt units:\n{err}");
    assert!(rebuilt_units(&err).is_empty(), "{err}");
    assert!(snapshot(&dist) == before, "the dist changed without a content change");

    // A module edit recompiles that module only; undoing it gives back the same dist.
    let py = src.join("src/catalog.py");
    let original = fs::read(&py).unwrap();
    append(&py, "EDITED = True\n");
    let err = ok(&kiln_build(tmp.path(), &["shop", "-o", "dist", "--explain"]));
    assert_eq!(rebuilt_units(&err), BTreeSet::from(["pyc src/catalog.py".to_string()]), "{err}");
    fs::write(&py, &original).unwrap();
    // A file added, then removed: nothing of it stays behind.
    write(&src.join("src/partials/js/extra.js"), "export const extra = 40 + 2;\n");
    let err = ok(&kiln_build(tmp.path(), &["shop", "-o", "dist", "--explain"]));
    assert!(rebuilt_units(&err).contains("minify src/partials/js/extra.js"), "{err}");
    assert!(files_under(&dist).iter().any(|f| f.starts_with("src/partials/js/extra.")), "extra.js not shipped");
    fs::remove_file(src.join("src/partials/js/extra.js")).unwrap();
    ok(&kiln_build(tmp.path(), &["shop", "-o", "dist"]));
    assert!(snapshot(&dist) == before, "after undoing both edits the dist differs from the original one");
}

fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{path:?}: {e}")).ino()
}

/// A dist file under `dir` whose name starts with `prefix` (versioned names change with content).
fn dist_file(dist: &Path, prefix: &str) -> PathBuf {
    let f = files_under(dist).into_iter().find(|f| f.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix}* in the dist"));
    dist.join(f)
}

#[test]
fn an_unchanged_rebuild_touches_nothing_but_notices_an_edited_or_missing_output_and_a_new_option() {
    let (tmp, _src, dist, units) = warm_shop();
    let before = snapshot(&dist);
    let root_inode = inode(&dist);
    let err = ok(&kiln_build(tmp.path(), &["shop", "-o", "dist", "--explain"]));
    assert!(err.contains("nothing changed since the last build"), "{err}");
    assert_eq!(reuse(&err), (units, units), "{err}");
    assert_eq!(inode(&dist), root_inode, "an unchanged rebuild replaced the dist");

    // An output edited in place (same size), or removed, is put back.
    let page = dist.join("src/templates/index.html");
    let mut bytes = fs::read(&page).unwrap();
    bytes[0] ^= 0x20;
    fs::write(&page, &bytes).unwrap();
    let err = ok(&kiln_build(tmp.path(), &["shop", "-o", "dist", "--explain"]));
    assert!(!err.contains("nothing changed"), "an edited output went unnoticed:\n{err}");
    assert!(snapshot(&dist) == before, "the edited output was not restored");
    fs::remove_file(dist_file(&dist, "src/partials/css/base.")).unwrap();
    ok(&kiln_build(tmp.path(), &["shop", "-o", "dist"]));
    assert!(snapshot(&dist) == before, "the removed output was not restored");

    // An option that shapes the bytes is an input too: max compression makes smaller brotli
    // twins, and going back to the default gives back the same dist.
    let br_size = |d: &Path| -> u64 { files_under(d).iter().filter(|f| f.ends_with(".br")).map(|f| fs::metadata(d.join(f)).unwrap().len()).sum() };
    let fast = br_size(&dist);
    let err = ok(&kiln_build(tmp.path(), &["shop", "-o", "dist", "--explain", "--compress", "max"]));
    assert!(rebuilt_units(&err).iter().any(|u| u.starts_with("twins ")), "{err}");
    assert!(br_size(&dist) < fast, "--compress max: {} bytes of .br, fast: {fast}", br_size(&dist));
    ok(&kiln_build(tmp.path(), &["shop", "-o", "dist"]));
    assert!(snapshot(&dist) == before, "back to the default compression, the dist differs");
}

#[test]
fn an_edit_rebuild_links_unchanged_files_from_the_previous_dist_but_never_a_tampered_one() {
    let (tmp, src, dist, _) = warm_shop();
    let tampered = dist.join("src/catalog.pyc");
    let tampered_bytes = fs::read(&tampered).unwrap();
    let mut bad = tampered_bytes.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    fs::write(&tampered, &bad).unwrap();
    append(&src.join("src/partials/css/base.css"), ".edited { color: red }\n");
    ok(&kiln_build(tmp.path(), &["shop", "-o", "dist"]));
    assert_eq!(fs::read(&tampered).unwrap(), tampered_bytes, "a tampered file of the old dist was carried over");
    let unchanged_py = dist.join("src/app.pyc");
    let linked_inode = inode(&unchanged_py);
    append(&src.join("src/partials/css/base.css"), ".edited2 { color: blue }\n");
    ok(&kiln_build(tmp.path(), &["shop", "-o", "dist"]));
    assert_eq!(inode(&unchanged_py), linked_inode, "an unchanged file was written again instead of linked");
    assert!(fs::read(dist_file(&dist, "src/partials/css/base.")).unwrap().windows(7).any(|w| w == b".edited"), "the edit did not ship");
}

#[test]
fn a_corrupt_cache_blob_is_never_shipped_and_the_next_build_redoes_its_unit() {
    let (tmp, _, dist, _) = warm_shop();
    let objects = tmp.path().join(".kiln-cache/dist/objects");
    // Every blob of the cache overwritten with the same number of other bytes.
    let blobs: Vec<PathBuf> = fs::read_dir(&objects).unwrap().flatten().map(|e| e.path()).collect();
    assert!(blobs.len() > 20);
    for b in &blobs {
        let n = fs::metadata(b).unwrap().len() as usize;
        fs::write(b, vec![b'#'; n]).unwrap();
    }
    let before = snapshot(&dist);
    fs::remove_dir_all(&dist).unwrap();
    // Blobs a step reads are rebuilt; the ones only written fail the build, each by name, and
    // are removed, so the next build redoes their units.
    let o = kiln_build(tmp.path(), &["shop", "-o", "dist"]);
    assert_ne!(o.status.code(), Some(0));
    let err = stderr(&o);
    let named = err.matches("build cache entry is corrupt (removed; run the build again)").count();
    assert!(named > 1, "{err}");
    assert!(!dist.exists(), "a failed build wrote a dist");
    ok(&kiln_build(tmp.path(), &["shop", "-o", "dist"]));
    assert_eq!(snapshot(&dist), before, "the healed cache gave another dist");
    let still: Vec<&PathBuf> = blobs.iter().filter(|b| fs::read(b).is_ok_and(|bytes| bytes.iter().all(|c| *c == b'#'))).collect();
    assert!(still.is_empty(), "still corrupt: {still:?}");
}

#[test]
fn explain_after_editing_one_block_js_names_its_minify_unit_the_block_and_the_templates_only() {
    let (tmp, src, dist, units) = warm_shop();
    let manifest = read_json(&dist.join("manifest.json"));
    let blocks = blocks_with(&manifest, "js", "js/cart.js");
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    append(&src.join("src/partials/js/cart.js"), "window.cartEdited = true;\n");
    let err = ok(&kiln_build(tmp.path(), &["shop", "-o", "dist", "--explain"]));
    let got = rebuilt_units(&err);
    let mut want: BTreeSet<String> = BTreeSet::from(["minify src/partials/js/cart.js".to_string()]);
    want.extend(blocks.iter().map(|b| format!("block {b}")));
    want.extend(TEMPLATES.iter().map(|t| format!("template {t}")));
    // Compressed twins are checked by the test below.
    let got_main: BTreeSet<String> = got.iter().filter(|u| !u.starts_with("twins ")).cloned().collect();
    assert_eq!(got_main, want, "--explain:\n{err}");
    assert!(got.iter().all(|u| !u.starts_with("pyc ")), "{err}");
    let why = |unit: &str| err.lines().find(|l| l.starts_with(&format!("rebuilt {unit}: "))).unwrap().to_string();
    assert!(why("minify src/partials/js/cart.js").contains("src/partials/js/cart.js"), "{err}");
    for b in &blocks {
        assert!(why(&format!("block {b}")).contains("js/cart.js"), "{err}");
    }
    for t in TEMPLATES {
        assert!(why(&format!("template {t}")).contains("manifest.json"), "{err}");
    }
    let (reused, total) = reuse(&err);
    assert_eq!(total, units);
    assert!(reused >= units - want.len() - 2 * (1 + blocks.len()), "too many units rebuilt:\n{err}");
}

#[test]
fn explain_also_names_the_rebuilt_compressed_twins() {
    let (tmp, src, dist, units) = warm_shop();
    append(&src.join("src/partials/js/cart.js"), "window.cartEdited = true;\n");
    let err = ok(&kiln_build(tmp.path(), &["shop", "-o", "dist", "--explain"]));
    let manifest = read_json(&dist.join("manifest.json"));
    let cart = manifest["assets"]["js/cart.js"]["versioned_path"].as_str().unwrap().to_string();
    let blocks = blocks_with(&manifest, "js", "js/cart.js");
    let twins: BTreeSet<String> = rebuilt_units(&err).into_iter().filter(|u| u.starts_with("twins ")).collect();
    assert_eq!(twins.len(), 1 + blocks.len(), "one twins unit for cart.js and one per block:\n{err}");
    assert!(twins.iter().any(|u| u.contains(&cart) || u.contains("js/cart.js")), "{err}");
    for b in &blocks {
        let path = manifest["blocks"][b]["versioned_path"].as_str().unwrap();
        assert!(twins.iter().any(|u| u.contains(path) || u.contains(b.as_str())), "{b}: {err}");
    }
    // Every rebuilt unit is explained.
    let (reused, total) = reuse(&err);
    assert_eq!(total, units);
    assert_eq!(total - reused, rebuilt_units(&err).len(), "rebuilt units without an explanation:\n{err}");
}

#[test]
fn editing_one_image_changes_exactly_its_versions_the_css_using_it_and_their_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    let src = shop_copy(tmp.path(), "shop");
    let dist = tmp.path().join("dist");
    ok(&kiln_build(tmp.path(), &["shop", "-o", "dist"]));
    let m1 = read_json(&dist.join("manifest.json"));
    let t1: Vec<Vec<u8>> = TEMPLATES.iter().map(|t| fs::read(dist.join(t)).unwrap()).collect();

    // A real edit of a real PNG: one pixel changes.
    let png = src.join("src/partials/img/logo.png");
    let mut img = image::open(&png).unwrap().to_rgba8();
    let p = img.get_pixel_mut(0, 0);
    p.0 = [p.0[0] ^ 0xff, p.0[1], p.0[2], 255];
    img.save_with_format(&png, image::ImageFormat::Png).unwrap();
    let err = ok(&kiln_build(tmp.path(), &["shop", "-o", "dist", "--explain"]));
    let m2 = read_json(&dist.join("manifest.json"));

    let changed = |section: &str| -> BTreeSet<String> {
        let (a, b) = (m1[section].as_object().unwrap(), m2[section].as_object().unwrap());
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "{section}: keys changed");
        a.iter().filter(|(k, v)| b[k.as_str()] != **v).map(|(k, _)| k.clone()).collect()
    };
    // The image's key is its WebP when the build converts it.
    let logo = m1["renames"].get("img/logo.png").and_then(|v| v.as_str()).unwrap_or("img/logo.png").to_string();
    assert_eq!(m1["renames"], m2["renames"]);
    let assets = changed("assets");
    assert_eq!(assets, BTreeSet::from([logo.clone(), "css/base.css".into(), "css/shop.css".into()]), "\n{err}");
    let mut css_blocks = blocks_with(&m1, "css", "css/base.css");
    css_blocks.extend(blocks_with(&m1, "css", "css/shop.css"));
    assert!(!css_blocks.is_empty());
    assert_eq!(changed("blocks"), css_blocks, "\n{err}");
    for key in assets {
        for field in ["version", "versioned_path", "integrity"] {
            assert_ne!(m1["assets"][&key][field], m2["assets"][&key][field], "{key}.{field}");
        }
    }
    let old = m1["assets"][&logo]["versioned_path"].as_str().unwrap();
    let new = m2["assets"][&logo]["versioned_path"].as_str().unwrap();
    assert!(!dist.join("src/partials").join(old).exists() && dist.join("src/partials").join(new).exists());
    // base.html holds the CSS block and static_url('img/logo.png'); the other templates hold neither.
    let t2: Vec<Vec<u8>> = TEMPLATES.iter().map(|t| fs::read(dist.join(t)).unwrap()).collect();
    assert!(t1[0] != t2[0], "base.html still points at the old versions");
    assert!(t1[1] == t2[1] && t1[2] == t2[2], "index.html/product.html changed");
    assert!(contains(&t2[0], new.as_bytes()));
    assert!(rebuilt_units(&err).iter().all(|u| !u.contains("js") && !u.starts_with("pyc ")), "{err}");
}

// ---------------------------------------------------------------------------------------------
// kiln-dist-assemble.

fn assemble(cwd: &Path, params: &str, extra: &[&str]) -> Output {
    fs::write(cwd.join("params.txt"), params).unwrap();
    run(Command::new(bin("kiln-dist-assemble")).args(["--params", "params.txt"]).args(extra).current_dir(cwd))
}

#[test]
fn dist_assemble_refuses_conflicts_and_secrets_and_accepts_identical_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(&d.join("in/a.txt"), "A");
    write(&d.join("in/b.txt"), "B");
    write(&d.join("in/a-again.txt"), "A");

    let o = assemble(d, "x.txt\tin/a.txt\nx.txt\tin/b.txt\n", &["-o", "out"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let line = err.lines().find(|l| l.contains("x.txt:")).unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains("in/a.txt") && line.contains("in/b.txt"), "names both sources: {line}");
    assert!(!d.join("out").exists());

    let o = assemble(d, "x.txt\tin/a.txt\nx.txt\tin/a-again.txt\nsub/b.txt\tin/b.txt\n", &["-o", "out", "--env-production"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(files_under(&d.join("out")), [".env.production", "sub/b.txt", "x.txt"]);
    assert_eq!(fs::read(d.join("out/x.txt")).unwrap(), b"A");
    let env = fs::read_to_string(d.join("out/.env.production")).unwrap();
    assert!(env.lines().any(|l| l == "DEBUG=false"), "{env}");
    assert!(env.lines().all(|l| !l.starts_with("SECRET_KEY=") || l == "SECRET_KEY="), "{env}");

    let secret_dests = [".env", "conf/.env.local", "deploy/server.pem", "id_rsa", ".npmrc", "node_modules/x.js", ".git/config"];
    let params: String = secret_dests.iter().map(|s| format!("{s}\tin/a.txt\n")).collect();
    let before = snapshot(&d.join("out"));
    let o = assemble(d, &params, &["-o", "out"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    for dest in secret_dests {
        assert_eq!(err.lines().filter(|l| l.starts_with(&format!("{dest}:"))).count(), 1, "{dest}:\n{err}");
    }
    assert!(snapshot(&d.join("out")) == before, "a refused assemble changed the previous dist");

    // An existing directory that is not a dist is never replaced.
    write(&d.join("mine/keep.txt"), "mine");
    let o = assemble(d, "x.txt\tin/a.txt\n", &["-o", "mine"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(fs::read(d.join("mine/keep.txt")).unwrap(), b"mine");
}

#[test]
fn dist_assemble_refuses_a_secret_source_under_any_dest() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(&d.join("app/.env"), "SECRET_KEY=abc\n");
    write(&d.join("app/deploy/id_rsa"), "key\n");
    write(&d.join("app/a.txt"), "A");
    let o = assemble(d, "a.txt\tapp/a.txt\nsettings.txt\tapp/.env\nkey.txt\tapp/deploy/id_rsa\n", &["-o", "out"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    for dest in ["settings.txt", "key.txt"] {
        assert_eq!(err.lines().filter(|l| l.starts_with(&format!("{dest}:"))).count(), 1, "{dest}:\n{err}");
    }
    assert!(!d.join("out").exists());
}

#[test]
fn dist_assemble_picks_the_archive_by_extension_and_ignores_param_order() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(&d.join("in/a.txt"), "A");
    write(&d.join("in/run.sh"), "#!/bin/sh\n");
    fs::set_permissions(d.join("in/run.sh"), fs::Permissions::from_mode(0o700)).unwrap();
    let fwd = "a.txt\tin/a.txt\nbin/run.sh\tin/run.sh\nz/y/x.txt\tin/a.txt\n";
    let rev: String = fwd.lines().rev().map(|l| format!("{l}\n")).collect();
    for (name, magic) in
        [("d.tar.zst", &[0x28, 0xb5, 0x2f, 0xfd][..]), ("d.tar.gz", &[0x1f, 0x8b]), ("d.tgz", &[0x1f, 0x8b]), ("d.zip", b"PK\x03\x04")]
    {
        ok(&assemble(d, fwd, &["-o", &format!("fwd-{name}"), "--env-production"]));
        ok(&assemble(d, &rev, &["-o", &format!("rev-{name}"), "--env-production"]));
        let (a, b) = (fs::read(d.join(format!("fwd-{name}"))).unwrap(), fs::read(d.join(format!("rev-{name}"))).unwrap());
        assert!(a.starts_with(magic), "{name} is not that kind of archive");
        assert!(a == b, "{name}: bytes depend on the params' order");
    }
    let listing = tar_listing(&d.join("fwd-d.tgz"));
    let got: Vec<(&str, &str)> = listing.iter().map(|e| (e.0.as_str(), e.1.as_str())).collect();
    assert_eq!(
        got,
        [
            (".env.production", "-rw-r--r--"),
            ("a.txt", "-rw-r--r--"),
            ("bin/", "drwxr-xr-x"),
            ("bin/run.sh", "-rwxr-xr-x"),
            ("z/", "drwxr-xr-x"),
            ("z/y/", "drwxr-xr-x"),
            ("z/y/x.txt", "-rw-r--r--"),
        ]
    );
    assert!(listing.iter().all(|e| e.2 == "0/0" && e.3 == "2000-01-01 00:00:00"), "{listing:?}");
    ok(&assemble(d, fwd, &["-o", "plain"]));
    assert_eq!(files_under(&d.join("plain")), ["a.txt", "bin/run.sh", "z/y/x.txt"]);
    assert_eq!(fs::metadata(d.join("plain/bin/run.sh")).unwrap().permissions().mode() & 0o777, 0o755);
}

// ---------------------------------------------------------------------------------------------
// --report.

/// Starts headless Chromium on a page: the DOM on stdout, its log (console messages too) on stderr.
fn chromium(page: &Path) -> std::process::Child {
    Command::new("chromium")
        .args(["--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run", "--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", s(&page.with_extension("profile"))))
        .arg("--dump-dom")
        .arg(format!("file://{}", s(page)))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start chromium")
}

fn console_lines(o: &Output) -> Vec<String> {
    stderr(o).lines().filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught")).map(String::from).collect()
}

#[test]
fn report_is_self_contained_and_renders_in_headless_chromium_without_console_errors() {
    if !require("chromium") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    shop_copy(tmp.path(), "shop");
    let report = tmp.path().join("dist-report.html");
    ok(&kiln_build(tmp.path(), &["shop", "-o", "dist", "--report", "dist-report.html"]));
    let html = fs::read_to_string(&report).unwrap();

    // Nothing to fetch: no scripts, stylesheets or images by reference, no URLs but the SVG namespace.
    let no_ns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for needle in ["http://", "https://", "//cdn", "<script", "<link", "<iframe", "<img", "@import", "url("] {
        assert!(!no_ns.contains(needle), "the report references {needle}");
    }
    for attr in ["src=", "href="] {
        for (i, _) in no_ns.match_indices(attr) {
            let v = no_ns[i + attr.len()..].trim_start_matches(['"', '\'']);
            assert!(v.starts_with('#') || v.starts_with("data:"), "external {attr}{}", &v[..v.len().min(40)]);
        }
    }
    // What a person looks for: per-kind bytes, the biggest files, the asset graph.
    for text in ["By kind", "Biggest outputs", "Asset graph", "src/templates/base.html", "css/base.css", "img/logo.png", "js/cart.js"] {
        assert!(html.contains(text), "the report lacks {text}");
    }

    // A control page proves the console check can fail on this Chromium.
    let control = tmp.path().join("control.html");
    fs::write(&control, "<!doctype html><title>c</title><script>console.error('control-error'); notDefined();</script>").unwrap();
    let (r, c) = (chromium(&report), chromium(&control));
    let (r, c) = (r.wait_with_output().unwrap(), c.wait_with_output().unwrap());
    assert!(c.status.success(), "chromium failed on the control page:\n{}", stderr(&c));
    let control_console = console_lines(&c);
    assert!(
        control_console.iter().any(|l| l.contains("control-error")) && control_console.iter().any(|l| l.contains("Uncaught")),
        "console messages are not visible in chromium's log:\n{}",
        stderr(&c)
    );
    assert!(r.status.success(), "chromium failed on the report:\n{}", stderr(&r));
    let console = console_lines(&r);
    assert!(console.is_empty(), "console messages while rendering the report: {console:?}");
    let dom = String::from_utf8_lossy(&r.stdout);
    for text in ["<h1>kiln build report</h1>", "<h2>By kind</h2>", "<h2>Asset graph</h2>", "<svg", "src/templates/base.html"] {
        assert!(dom.contains(text), "the rendered DOM lacks {text}");
    }
}

#[test]
fn the_framework_is_detected_and_said_and_tool_kiln_sets_flags_the_command_line_overrides() {
    let tmp = tempfile::tempdir().unwrap();
    let src = shop_copy(tmp.path(), "shop");
    let out = tmp.path().join("dist");
    let twins = |out: &Path| files_under(out).iter().filter(|f| f.ends_with(".br")).count();
    let err = ok(&kiln_build(tmp.path(), &["shop", "-o", s(&out), "--no-cache"]));
    assert!(err.starts_with("kiln build: assetman app (src/templates/"), "{err}");
    assert!(twins(&out) > 0);

    // [tool.kiln]: every build flag, spelled without dashes; the command line wins.
    fs::write(src.join("pyproject.toml"), "[project]\nname = \"shop\"\n\n[tool.kiln]\nframework = \"plain\"\ncompress = \"off\"\n").unwrap();
    let err = ok(&kiln_build(tmp.path(), &["shop", "-o", s(&out), "--no-cache"]));
    assert!(err.starts_with("kiln build: plain app (chosen with --framework or [tool.kiln])"), "{err}");
    assert_eq!(twins(&out), 0, "compress = \"off\" from pyproject.toml");
    ok(&kiln_build(tmp.path(), &["shop", "-o", s(&out), "--no-cache", "--compress", "fast"]));
    assert!(twins(&out) > 0, "--compress on the command line wins");

    // A key that is no flag is an error at its place, and the dist is left as it was.
    let before = files_under(&out);
    fs::write(src.join("pyproject.toml"), "[tool.kiln]\ncompress = \"off\"\nkeep_sources = true\n").unwrap();
    let o = kiln_build(tmp.path(), &["shop", "-o", s(&out)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("shop/pyproject.toml:3:1: [tool.kiln] keep_sources: kiln build has no --keep-sources"), "{}", stderr(&o));
    assert_eq!(files_under(&out), before);
}
