//! Nix (docs/design.md §6, §8): `nix build .#dist` offline with the stub nixpkgs
//! (tests/offline/nixpkgs), sandbox on, Debian's nix 2.8 as root without a daemon.
//!
//! A git flake sees only tracked files, so every test works in a clean git snapshot of this tree
//! (target/tmp/nix/checkout: the tracked and untracked-but-not-ignored files, committed), with
//! the cargo-built binaries `git add -N -f`ed as a fresh clone would need. Nix's configuration
//! comes from NIX_CONFIG (nothing under /etc is touched); the tests run one at a time because
//! they share the store and one of them deletes the dist from it.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};

use common::*;

const BINARIES: [&str; 7] = ["kiln", "kiln-dist-assemble", "kiln-hash", "kiln-manifest-merge", "kiln-minify", "kiln-pyc-wrap", "kiln-webp"];

/// The stub nixpkgs instead of github:NixOS/nixpkgs (never fetched), and no flake.lock written.
const STUB: [&str; 4] = ["--override-input", "nixpkgs", "path:./tests/offline/nixpkgs", "--no-write-lock-file"];

fn work() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("nix")
}

fn serial() -> MutexGuard<'static, ()> {
    static M: Mutex<()> = Mutex::new(());
    M.lock().unwrap_or_else(|e| e.into_inner())
}

fn sh_ok(cmd: &str) -> bool {
    Command::new("sh").arg("-c").arg(cmd).output().map(|o| o.status.success()).unwrap_or(false)
}

/// Nix as these tests run it: on PATH, as root (no daemon: the store is written directly), with
/// the nixbld build users (Debian's nix-setup-systemd creates them). Missing → fail under
/// CI=true, skip elsewhere.
fn nix_ready() -> bool {
    if !require("nix") {
        return false;
    }
    let problem = if !sh_ok("test \"$(id -u)\" = 0") {
        "the Nix tests run nix as root without a daemon (docs/design.md §6)"
    } else if !sh_ok("getent group nixbld") {
        "group nixbld is missing (apt-get install nix-setup-systemd creates it and nixbld1..10)"
    } else {
        return true;
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{problem}");
    }
    eprintln!("SKIPPED: {problem}");
    false
}

fn nginx_path() -> Option<PathBuf> {
    // Debian installs it in /usr/sbin, which is not on every PATH.
    let sbin = PathBuf::from("/usr/sbin/nginx");
    if sbin.exists() {
        return Some(sbin);
    }
    require("nginx").then(|| PathBuf::from("nginx"))
}

/// The recipe's nix.conf (../shared/nix-offline.md), as NIX_CONFIG: sandbox on and never
/// silently off, the host's /bin /usr /lib /lib64 in the sandbox (Debian's nix has no sandbox
/// shell; the stub's python3 is the host's), no substituters, an empty flake registry.
fn nix_config() -> String {
    format!(
        "build-users-group = nixbld\nsandbox = true\nsandbox-fallback = false\n\
         extra-sandbox-paths = /bin /usr /lib /lib64 /etc/alternatives\nsubstituters =\n\
         experimental-features = nix-command flakes\nflake-registry = {}\n",
        work().join("registry.json").display()
    )
}

fn nix(dir: &Path, args: &[&str]) -> Output {
    run(Command::new("nix").args(args).current_dir(dir).env("NIX_CONFIG", nix_config()))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn nix_ok(dir: &Path, args: &[&str]) -> Output {
    let o = nix(dir, args);
    assert!(o.status.success(), "nix {} (in {}) failed:\n{}", args.join(" "), dir.display(), stderr(&o));
    o
}

fn with_stub<'a>(args: &[&'a str]) -> Vec<&'a str> {
    args.iter().copied().chain(STUB).collect()
}

/// Builds an installable of the flake in `dir` with the stub nixpkgs: its output path and the log.
fn build(dir: &Path, installable: &str, extra: &[&str]) -> (PathBuf, String) {
    let mut args = with_stub(&["build", installable, "--no-link", "--json"]);
    args.extend(extra);
    let o = nix_ok(dir, &args);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("nix build --json output");
    let out = json[0]["outputs"]["out"].as_str().unwrap_or_else(|| panic!("no output path in {json}"));
    (PathBuf::from(out), stderr(&o))
}

fn git(dir: &Path, args: &[&str]) -> Output {
    let o = run(Command::new("git")
        .args(["-c", "user.name=kiln-test", "-c", "user.email=kiln-test@localhost", "-c", "commit.gpgsign=false"])
        .args(["-c", "init.defaultBranch=main", "-c", "advice.addIgnoredFile=false"])
        .args(args)
        .current_dir(dir));
    assert!(o.status.success(), "git {args:?} in {}: {}", dir.display(), stderr(&o));
    o
}

fn fresh_dir(p: &Path) -> PathBuf {
    let _ = fs::remove_dir_all(p);
    fs::create_dir_all(p).unwrap();
    p.to_path_buf()
}

/// Puts the cargo-built executables where the stub's buildRustPackage looks (target/release) and
/// makes them visible to the git flake (they are git-ignored): `git add -N -f`.
fn add_binaries(dir: &Path) {
    copy_binaries(dir);
    let mut args = vec!["add", "-N", "-f", "--"];
    let names: Vec<String> = BINARIES.iter().map(|b| format!("target/release/{b}")).collect();
    args.extend(names.iter().map(String::as_str));
    git(dir, &args);
}

fn copy_binaries(dir: &Path) {
    let release = dir.join("target/release");
    fs::create_dir_all(&release).unwrap();
    for b in BINARIES {
        fs::copy(bin(b), release.join(b)).unwrap();
    }
}

/// A clean git checkout of this tree as it is now (the shared one; created once per run).
fn checkout() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let w = fresh_dir(&work());
        fs::write(w.join("registry.json"), "{\"flakes\":[],\"version\":2}\n").unwrap();
        let dir = fresh_dir(&w.join("checkout"));
        let listed = run(Command::new("git").args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"]).current_dir(repo()));
        assert!(listed.status.success(), "git ls-files: {}", stderr(&listed));
        let mut names = Vec::new();
        for name in String::from_utf8(listed.stdout).unwrap().split('\0').filter(|n| !n.is_empty()) {
            let from = repo().join(name);
            let Ok(meta) = fs::symlink_metadata(&from) else { continue }; // deleted, not yet staged
            let to = dir.join(name);
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            if meta.file_type().is_symlink() {
                std::os::unix::fs::symlink(fs::read_link(&from).unwrap(), &to).unwrap();
            } else {
                fs::copy(&from, &to).unwrap();
            }
            names.push(name.to_string());
        }
        git(&dir, &["init", "-q"]);
        // -f: the example's venv/, .env, … are tracked on purpose although its .gitignore lists them.
        fs::write(w.join("files"), names.join("\0")).unwrap();
        let list = w.join("files");
        git(&dir, &["add", "-f", "--pathspec-file-nul", &format!("--pathspec-from-file={}", list.display())]);
        git(&dir, &["commit", "-q", "-m", "snapshot of the tree under test"]);
        add_binaries(&dir);
        dir
    })
}

/// A writable copy of a store path (files 0644/0755, as `kiln build` writes them).
fn writable_copy(from: &Path, to: &Path) -> PathBuf {
    let _ = fs::remove_dir_all(to);
    copy_tree(from, to);
    for entry in walkdir::WalkDir::new(to) {
        let entry = entry.unwrap();
        if entry.file_type().is_symlink() {
            continue;
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = entry.metadata().unwrap().permissions().mode();
        fs::set_permissions(entry.path(), fs::Permissions::from_mode(mode | 0o200)).unwrap();
    }
    to.to_path_buf()
}

fn is_versioned(name: &str) -> bool {
    // name.<12 hex>.ext, possibly followed by a compression suffix
    name.split('.').any(|part| part.len() == 12 && part.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[test]
fn dist_builds_offline_in_the_sandbox_and_its_bytecode_matches_kiln_pyc_wrap_by_hand() {
    let _g = serial();
    if !nix_ready() {
        return;
    }
    let co = checkout();
    let (out, _) = build(co, ".#dist", &[]);
    let files = files_under(&out);

    // What ships and what does not (design.md §7, §8).
    for must in ["manifest.json", "wsgi.pyc", "src/app.pyc", "src/migrations/0001_initial.py", "src/templates/base.html"] {
        assert!(files.iter().any(|f| f == must), "{must} missing from the dist: {files:?}");
    }
    let env = fs::read_to_string(out.join(".env.production")).expect("the dist has .env.production");
    assert!(env.contains("DEBUG=false\n") && !env.contains("SECRET_KEY="), "{env}");
    for f in files.iter().filter(|f| *f != ".env.production") {
        assert!(!f.ends_with(".py") || f.starts_with("src/migrations/"), "{f}: source shipped");
        for banned in ["venv/", "node_modules/", ".asok/", "__pycache__/", "/.env"] {
            assert!(!format!("/{f}").contains(banned), "{f} must not ship");
        }
        assert!(f != ".gitignore" && f != ".env", "{f} must not ship");
        if let Some(rel) = f.strip_prefix("src/partials/") {
            assert!(is_versioned(rel), "{f}: only versioned static files ship");
        }
    }
    // Every static file is the manifest's: a versioned path or one of its encodings.
    let manifest: serde_json::Value = serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let mut listed = Vec::new();
    let blocks = manifest["blocks"].as_object().unwrap();
    let assets = manifest["assets"].as_object().unwrap();
    for entry in assets.values().chain(blocks.values()) {
        listed.push(entry["versioned_path"].as_str().unwrap().to_string());
        if let Some(enc) = entry.get("encodings").and_then(|e| e.as_object()) {
            listed.extend(enc.values().map(|v| v.as_str().unwrap().to_string()));
        }
    }
    listed.sort();
    let mut statics: Vec<String> = files.iter().filter_map(|f| f.strip_prefix("src/partials/")).map(str::to_string).collect();
    statics.sort();
    assert_eq!(statics, listed, "static files vs manifest");
    assert!(statics.iter().any(|f| f.starts_with("css/shop.") && f.ends_with(".css.br")), "{statics:?}");
    if blocks.is_empty() {
        eprintln!("note: no asset blocks (rules/nix/features.nix: blocks = false)");
    } else {
        // The templates name the compiled blocks, not their constituents.
        let base = fs::read_to_string(out.join("src/templates/base.html")).unwrap();
        for (key, block) in blocks {
            let url = format!("/s/{}", block["versioned_path"].as_str().unwrap());
            assert!(base.contains(&url), "{key}: {url} not in base.html:\n{base}");
        }
        assert!(!base.contains("assetman.include_css"), "block left in base.html:\n{base}");
    }

    // The sandboxed bytecode equals kiln-pyc-wrap run by hand with the same interpreter.
    let shop = co.join("examples/shop");
    let mut py: Vec<PathBuf> = Vec::new();
    for e in walkdir::WalkDir::new(&shop).sort_by_file_name() {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(&shop).unwrap().to_string_lossy().into_owned();
        if rel.ends_with(".py") && !rel.starts_with("venv/") {
            py.push(e.path().to_path_buf());
        }
    }
    let by_hand = fresh_dir(&work().join("pyc-by-hand"));
    let o = run(Command::new(bin("kiln-pyc-wrap"))
        .args(["--python", "/usr/bin/python3", "--exclude", "src/migrations/**", "--root"])
        .arg(&shop)
        .arg("-o")
        .arg(&by_hand)
        .args(&py));
    assert!(o.status.success(), "kiln-pyc-wrap: {}", stderr(&o));
    for f in files_under(&by_hand) {
        assert!(fs::read(by_hand.join(&f)).unwrap() == fs::read(out.join(&f)).unwrap(), "{f} differs from the Nix build's");
    }
    let pyc_count = files.iter().filter(|f| f.ends_with(".pyc") || f.starts_with("src/migrations/")).count();
    assert_eq!(files_under(&by_hand).len(), pyc_count, "bytecode file count");
}

#[test]
fn rebuild_proves_every_derivation_deterministic() {
    let _g = serial();
    if !nix_ready() {
        return;
    }
    let co = checkout();
    // --rebuild checks only the named derivation, so each part is named.
    for installable in
        [".#dist", ".#dist.parts.static", ".#dist.parts.blocks", ".#dist.parts.manifest", ".#dist.parts.templates", ".#dist.parts.pyc", ".#kiln"]
    {
        build(co, installable, &[]);
        let (_, log) = build(co, installable, &["--rebuild"]);
        assert!(log.contains("checking outputs of"), "{installable}: no check in the log:\n{log}");
    }

    // The check can fail: a derivation that writes the clock is caught.
    let dir = fresh_dir(&work().join("clock"));
    fs::write(
        dir.join("flake.nix"),
        "{ inputs.nixpkgs.url = \"github:NixOS/nixpkgs/nixos-24.05\";\n  outputs = { self, nixpkgs }: {\n    \
         packages.x86_64-linux.default = nixpkgs.legacyPackages.x86_64-linux.runCommand \"clock\" { } \"date +%s%N > $out\";\n  };\n}\n",
    )
    .unwrap();
    let stub = format!("path:{}", co.join("tests/offline/nixpkgs").display());
    let args = ["--override-input", "nixpkgs", &stub, "--no-write-lock-file", "--no-link"];
    let target = format!("path:{}#default", dir.display());
    let mut first = vec!["build", target.as_str()];
    first.extend(args);
    nix_ok(&dir, &first);
    first.push("--rebuild");
    let o = nix(&dir, &first);
    assert!(!o.status.success(), "--rebuild accepted a clock-dependent output");
    assert!(stderr(&o).contains("may not be deterministic"), "{}", stderr(&o));
}

#[test]
fn dist_substitutes_from_a_signed_http_binary_cache() {
    let _g = serial();
    if !nix_ready() {
        return;
    }
    let Some(_) = nginx_path() else { return };
    let co = checkout();
    let (out, _) = build(co, ".#dist", &[]);
    let out_s = out.to_str().unwrap();
    let dir = fresh_dir(&work().join("cache"));
    let cache = dir.join("cache");

    // Two keys: the cache's, and one that must not be trusted for it.
    let key = |name: &str| {
        let secret = stdout(&nix_ok(&dir, &["key", "generate-secret", "--key-name", name]));
        fs::write(dir.join(format!("{name}.sec")), &secret).unwrap();
        let mut child = Command::new("nix")
            .args(["key", "convert-secret-to-public"])
            .env("NIX_CONFIG", nix_config())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(secret.as_bytes()).unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success());
        stdout(&o).trim().to_string()
    };
    let public = key("kiln-test-cache-1");
    let other = key("kiln-test-other-1");
    let sec = dir.join("kiln-test-cache-1.sec");
    nix_ok(&dir, &["store", "sign", "--key-file", sec.to_str().unwrap(), "--recursive", out_s]);
    nix_ok(&dir, &["copy", "--to", &format!("file://{}", cache.display()), out_s]);
    let hash = out.file_name().unwrap().to_str().unwrap().split('-').next().unwrap().to_string();
    let narinfo = fs::read_to_string(cache.join(format!("{hash}.narinfo"))).expect("narinfo in the cache");
    assert!(narinfo.contains("Sig: kiln-test-cache-1:"), "{narinfo}");

    let nginx = Nginx::serve(&cache, &dir);
    let url = format!("http://127.0.0.1:{}", nginx.port);
    // With what refers to it (e.g. `nix run .#serve`'s script, built by another test): Nix
    // deletes a path only together with its referrers.
    let referrers = run(Command::new("nix-store").args(["--query", "--referrers-closure", out_s]));
    let mut doomed: Vec<String> = stdout(&referrers).lines().map(str::to_string).filter(|l| !l.is_empty()).collect();
    if doomed.is_empty() {
        doomed.push(out_s.to_string());
    }
    let mut delete = vec!["store", "delete"];
    delete.extend(doomed.iter().map(String::as_str));
    let o = nix(&dir, &delete);
    if !o.status.success() {
        let roots = run(Command::new("nix-store").args(["--query", "--roots", out_s]));
        panic!("nix store delete {out_s}: {}\nits GC roots (remove them, e.g. a result link):\n{}", stderr(&o), stdout(&roots));
    }
    assert!(stderr(&o).contains(&format!("deleting '{out_s}'")), "{}", stderr(&o));
    assert!(!out.exists(), "{out_s} still in the store");

    // --max-jobs 0: nothing may be built here, so success can only come from the cache.
    let from_cache = |key: &str| {
        nix(
            co,
            &with_stub(&[
                "build",
                ".#dist",
                "--no-link",
                "--max-jobs",
                "0",
                "--substituters",
                &url,
                "--trusted-public-keys",
                key,
                "--option",
                "narinfo-cache-negative-ttl",
                "0",
            ]),
        )
    };
    let o = from_cache(&other);
    assert!(!o.status.success(), "substituted with an untrusted key");
    assert!(stderr(&o).contains("is not signed by any of the keys"), "{}", stderr(&o));
    assert!(!out.exists());

    let o = from_cache(&public);
    assert!(o.status.success(), "build from the cache failed:\n{}", stderr(&o));
    let log = stderr(&o);
    assert!(log.contains(&format!("copying path '{out_s}' from '{url}'")), "{log}");
    assert!(!log.contains("building '"), "something was built:\n{log}");
    assert!(out.join("manifest.json").is_file());
    let access = nginx.access_log();
    assert!(access.contains(&format!("GET /{hash}.narinfo HTTP/1.1\" 200")), "{access}");
    assert!(access.contains("GET /nar/"), "{access}");
    drop(nginx);
}

#[test]
fn flake_check_dev_shell_and_lib_mkdist_for_another_app() {
    let _g = serial();
    if !nix_ready() {
        return;
    }
    let co = checkout();
    let o = nix_ok(co, &with_stub(&["flake", "check"]));
    assert!(stderr(&o).contains("running flake checks"), "{}", stderr(&o));
    // The checks ran: the example dist served its pages and assets from the store.
    let o = nix_ok(co, &with_stub(&["build", ".#checks.x86_64-linux.dist-serves", "--no-link", "--json"]));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let report = fs::read_to_string(json[0]["outputs"]["out"].as_str().unwrap()).unwrap();
    assert!(report.contains("200 /product/") && report.contains("200 /s/"), "{report}");
    for attr in ["devShells.x86_64-linux.default.drvPath", "formatter.x86_64-linux.drvPath"] {
        let o = nix_ok(co, &with_stub(&["eval", "--raw", &format!(".#{attr}")]));
        assert!(stdout(&o).ends_with(".drv"), "{attr}: {}", stdout(&o));
    }

    // lib.mkDist from another flake, for an app with its own layout and options.
    let dir = fresh_dir(&work().join("tiny"));
    let app = dir.join("app");
    write(&app.join("wsgi.py"), "from pkg import mod\napp = mod.app\n");
    write(&app.join("pkg/__init__.py"), "");
    write(&app.join("pkg/mod.py"), "def app(environ, start_response):\n    return []\n");
    write(&app.join("static/app.js"), "function hello(name) { return 'hi ' + name; }\nwindow.hello = hello;\n");
    write(&app.join("static/.hidden"), "not served\n");
    write(&app.join("views/page.html"), "<p>\n  {{ title }}\n</p>\n");
    write(&app.join("views/robots.txt"), "User-agent: *\n");
    write(&app.join("db.sqlite3"), "db\n");
    write(&app.join("README.txt"), "tiny app\n");
    for secret in [".env", ".env.local", "server.key", "node_modules/x/index.js", ".gitignore", "dist/old.txt", "pkg/__pycache__/mod.cpython-311.pyc"]
    {
        write(&app.join(secret), "must not ship\n");
    }
    write(
        &dir.join("flake.nix"),
        format!(
            "{{ inputs.kiln.url = \"git+file://{}\";\n  outputs = {{ self, kiln }}: {{\n    \
             packages.x86_64-linux.default = kiln.lib.mkDist {{\n      pkgs = kiln.inputs.nixpkgs.legacyPackages.x86_64-linux;\n      src = ./app; pname = \"tiny\"; keepSource = true; withDb = true;\n      \
             staticRoot = \"static\"; templateDir = \"views\";\n    }};\n  }};\n}}\n",
            co.display()
        ),
    );
    let stub = format!("path:{}", co.join("tests/offline/nixpkgs").display());
    let target = format!("path:{}#default", dir.display());
    let o = nix_ok(&dir, &["build", &target, "--no-link", "--json", "--no-write-lock-file", "--override-input", "kiln/nixpkgs", &stub]);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let out = PathBuf::from(json[0]["outputs"]["out"].as_str().unwrap());
    let files = files_under(&out);
    for must in ["manifest.json", "wsgi.py", "pkg/mod.py", "views/page.html", "views/robots.txt", "db.sqlite3", "README.txt"] {
        assert!(files.iter().any(|f| f == must), "{must} missing: {files:?}");
    }
    assert!(files.iter().any(|f| f.starts_with("pkg/__pycache__/mod.cpython-") && f.ends_with(".pyc")), "{files:?}");
    assert!(files.iter().any(|f| f.starts_with("static/app.") && f.ends_with(".js") && is_versioned(f)), "{files:?}");
    for f in &files {
        assert!(fs::read(out.join(f)).unwrap() != b"must not ship\n", "{f} shipped");
        assert!(!f.contains(".hidden"), "{f}: a dotfile under the static root shipped");
    }
    assert_eq!(fs::read_to_string(out.join("views/page.html")).unwrap(), "<p>{{ title }}</p>", "template minified");
    assert_eq!(fs::read_to_string(out.join("views/robots.txt")).unwrap(), "User-agent: *\n", "non-HTML copied");
}

fn part_drvs(dir: &Path) -> serde_json::Value {
    let o = nix_ok(dir, &with_stub(&["eval", "--json", ".#dist.parts", "--apply", "builtins.mapAttrs (n: d: d.drvPath)"]));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn a_template_edit_rebuilds_templates_not_bytecode_or_static_assets() {
    let _g = serial();
    if !nix_ready() {
        return;
    }
    let co = checkout();
    let (before_out, _) = build(co, ".#dist", &[]);
    let before = part_drvs(co);
    let dir = work().join("edited");
    let _ = fs::remove_dir_all(&dir);
    git(co, &["clone", "-q", ".", dir.to_str().unwrap()]);
    add_binaries(&dir);
    // A new edit every run, so that something is really built.
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let tpl = dir.join("examples/shop/src/templates/product.html");
    let mut text = fs::read_to_string(&tpl).unwrap();
    text.push_str(&format!("{{# edited {nonce} #}}\n"));
    fs::write(&tpl, text).unwrap();

    let after = part_drvs(&dir);
    assert_eq!(before["pyc"], after["pyc"], "the bytecode's inputs changed with a template");
    assert_eq!(before["static"], after["static"], "the static assets' inputs changed with a template");
    assert_ne!(before["templates"], after["templates"]);
    let (after_out, log) = build(&dir, ".#dist", &[]);
    assert_ne!(before_out, after_out);
    assert!(log.contains("-shop-templates.drv") && log.contains("-shop-dist.drv"), "{log}");
    assert!(!log.contains("-shop-pyc.drv") && !log.contains("-shop-static.drv"), "rebuilt too much:\n{log}");
    assert!(fs::read_to_string(after_out.join("src/templates/product.html")).unwrap().contains(&format!("{{# edited {nonce} #}}")));
    assert!(fs::read(before_out.join("wsgi.pyc")).unwrap() == fs::read(after_out.join("wsgi.pyc")).unwrap());
}

#[test]
fn git_flake_sees_only_tracked_files_from_a_fresh_clone() {
    let _g = serial();
    if !nix_ready() {
        return;
    }
    let co = checkout();
    let (kiln_out, _) = build(co, ".#kiln", &[]);
    let (dist_out, _) = build(co, ".#dist", &[]);
    let dir = work().join("clone");
    let _ = fs::remove_dir_all(&dir);
    git(co, &["clone", "-q", ".", dir.to_str().unwrap()]);

    // A fresh clone has no binaries; built but git-ignored ones are just as invisible.
    let kiln_args = with_stub(&["build", ".#kiln", "--no-link"]);
    let o = nix(&dir, &kiln_args);
    assert!(!o.status.success() && stderr(&o).contains("git add -N -f"), "{}", stderr(&o));
    copy_binaries(&dir);
    let o = nix(&dir, &kiln_args);
    assert!(!o.status.success() && stderr(&o).contains("git add -N -f"), "ignored binaries were seen:\n{}", stderr(&o));
    add_binaries(&dir);
    assert_eq!(build(&dir, ".#kiln", &[]).0, kiln_out, "same sources, same kiln");

    // A new, untracked file is not in the dist until it is git-added.
    write(&dir.join("examples/shop/src/partials/js/extra.js"), "window.extra = function (a) { return a * 2; };\n");
    let (untracked, _) = build(&dir, ".#dist", &[]);
    assert_eq!(untracked, dist_out, "an untracked file changed the dist");
    git(&dir, &["add", "examples/shop/src/partials/js/extra.js"]);
    let (tracked, _) = build(&dir, ".#dist", &[]);
    let files = files_under(&tracked);
    assert!(files.iter().any(|f| f.starts_with("src/partials/js/extra.") && f.ends_with(".js")), "{files:?}");
}

#[test]
fn nix_dist_is_byte_identical_to_kiln_build() {
    let _g = serial();
    if !nix_ready() {
        return;
    }
    nix_equals_kiln_build(".#dist", "examples/shop");
}

/// `.#asok-blog` (mkDist with `framework = "asok"`: source names, a WebP beside each converted
/// image, templates in place, no twins) is `kiln build examples/asok-blog`, byte for byte.
#[test]
fn nix_asok_dist_is_byte_identical_to_kiln_build() {
    let _g = serial();
    if !nix_ready() {
        return;
    }
    let dist = nix_equals_kiln_build(".#asok-blog", "examples/asok-blog");
    assert_asok_blog_layout(&dist);
}

/// Builds `installable` and `kiln build` of `example` (in the same checkout) and compares them
/// (bytes and modes); returns a writable copy of the Nix dist.
fn nix_equals_kiln_build(installable: &str, example: &str) -> PathBuf {
    let co = checkout();
    let (out, _) = build(co, installable, &[]);
    let name = example.rsplit('/').next().unwrap();
    let kiln_dist = work().join(format!("kiln-build-{name}"));
    let _ = fs::remove_dir_all(&kiln_dist);
    // The interpreter the stub nixpkgs' python3 is (the host's), first on PATH for kiln build.
    let path = format!("/usr/bin:{}", std::env::var("PATH").unwrap_or_default());
    let o = run(Command::new(bin("kiln")).arg("build").arg(co.join(example)).arg("-o").arg(&kiln_dist).env("PATH", path).current_dir(work()));
    assert!(o.status.success(), "`kiln build {example}` failed, so the Nix dist cannot be compared with it (design.md §8):\n{}", stderr(&o));
    let nix_dist = writable_copy(&out, &work().join(format!("nix-{name}")));
    assert_same_tree(&nix_dist, &kiln_dist);
    nix_dist
}

/// With every switch of rules/nix/features.nix on, mkDist calls the coming tools as design.md §8
/// says: stand-ins (tests/nix/fake_tools.py) check each command line and write outputs of the
/// documented shape, and the dist gets blocks, WebP's step, rewritten templates' inputs and
/// kiln-dist-assemble's .env.production. Flipping a switch then only swaps a stand-in for the tool.
#[test]
fn every_feature_switch_wires_the_documented_tool_calls() {
    let _g = serial();
    if !nix_ready() {
        return;
    }
    let co = checkout();
    let dir = fresh_dir(&work().join("switches"));
    copy_tree(&co.join("examples/shop"), &dir.join("shop"));
    write(
        &dir.join("flake.nix"),
        format!(
            r#"{{ inputs.kiln.url = "git+file://{}";
  outputs = {{ self, kiln }}:
    let
      pkgs = kiln.inputs.nixpkgs.legacyPackages.x86_64-linux;
      real = kiln.packages.x86_64-linux.kiln;
      fake = pkgs.runCommand "kiln-stand-ins" {{ }} ''
        mkdir -p $out/bin
        for t in ${{real}}/bin/*; do
          t=$(basename $t)
          printf '#!/bin/sh\nexec %s %s %s %s "$@"\n' ${{pkgs.python3}}/bin/python3 ${{kiln}}/tests/nix/fake_tools.py $t ${{real}}/bin/$t > $out/bin/$t
          chmod +x $out/bin/$t
        done
      '';
    in {{
      packages.x86_64-linux.default = kiln.lib.mkDist {{
        inherit pkgs;
        kiln = fake; features = {{ webp = true; blocks = true; templateRewrite = true; assemble = true; }};
        src = ./shop; pname = "shop"; imageOptimization = true;
      }};
    }};
}}
"#,
            co.display()
        ),
    );
    let stub = format!("path:{}", co.join("tests/offline/nixpkgs").display());
    let target = format!("path:{}#default", dir.display());
    let o = nix_ok(&dir, &["build", &target, "--no-link", "--json", "--no-write-lock-file", "--override-input", "kiln/nixpkgs", &stub, "-L"]);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let out = PathBuf::from(json[0]["outputs"]["out"].as_str().unwrap());
    let files = files_under(&out);
    assert_eq!(fs::read_to_string(out.join(".env.production")).unwrap(), "DEBUG=false\n", "{files:?}");
    let manifest: serde_json::Value = serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let css = block_key(&["css/base.css", "css/shop.css"]);
    let js = block_key(&["js/util.js", "js/cart.js", "js/catalog.js"]);
    for (kind, key) in [("css", &css), ("js", &js)] {
        let block = &manifest["blocks"][key];
        let vp = block["versioned_path"].as_str().unwrap_or_else(|| panic!("no {kind} block: {manifest}"));
        assert!(files.contains(&format!("src/partials/{vp}")), "{vp} not in {files:?}");
    }
    assert!(files.iter().any(|f| f.starts_with("src/partials/img/hero.") && f.ends_with(".jpg")), "{files:?}");
    assert!(files.contains(&"src/templates/base.html".to_string()), "{files:?}");
}

/// flake.lock pins nixpkgs to a NixOS 26.05 revision (supported until the end of 2026; its rustc
/// is newer than Cargo.toml's rust-version), and `nix flake metadata` reads it offline. (Anything
/// that evaluates the outputs needs that nixpkgs' source, which cannot be fetched here: the other
/// tests replace it with the stub, `--override-input`.)
#[test]
fn flake_lock_pins_a_supported_nixpkgs_release() {
    let _g = serial();
    if !nix_ready() {
        return;
    }
    let co = checkout();
    let o = nix_ok(co, &["flake", "metadata", "--json"]);
    let meta: serde_json::Value = serde_json::from_slice(&o.stdout).expect("nix flake metadata --json");
    let node = &meta["locks"]["nodes"]["nixpkgs"];
    assert_eq!(node["original"]["ref"], "nixos-26.05", "{node}");
    assert_eq!(node["locked"]["rev"], "cf9d2fb3e50fa1cd5114c47505ea9177f7ff5f49", "{node}");
    assert_eq!(node["locked"]["narHash"], "sha256-cFTsMQz8Hzn8MT49oaeLSHg62tE86NykugCWkeM2ypk=", "{node}");
    let o = nix_ok(co, &["flake", "metadata"]);
    assert!(stdout(&o).contains("github:NixOS/nixpkgs/cf9d2fb3e50fa1cd5114c47505ea9177f7ff5f49"), "{}", stdout(&o));
}

/// The crates are compiled in their own derivation (`kiln.deps`, from Cargo.toml, Cargo.lock and
/// build.rs only; the vendored crates in `kiln.vendor`): an edit of src/ changes `kiln`, not them.
/// build.rs is in kiln's source. And the app-side API: lib.mkDist and lib.mkKiln take pkgs,
/// overlays.default, apps.serve.
#[test]
fn crates_build_in_their_own_derivation_and_the_flake_api_takes_pkgs() {
    let _g = serial();
    if !nix_ready() {
        return;
    }
    let co = checkout();
    let drv = |dir: &Path, attr: &str| stdout(&nix_ok(dir, &with_stub(&["eval", "--raw", &format!(".#{attr}.drvPath")])));
    let before: Vec<String> = ["kiln", "kiln.deps", "kiln.vendor"].iter().map(|a| drv(co, a)).collect();
    build(co, ".#kiln", &[]);
    let src = stdout(&nix_ok(co, &with_stub(&["eval", "--raw", ".#kiln.src"])));
    assert!(Path::new(&src).join("build.rs").is_file(), "build.rs is not in kiln's source {src}");

    let dir = work().join("src-edit");
    let _ = fs::remove_dir_all(&dir);
    git(co, &["clone", "-q", ".", dir.to_str().unwrap()]);
    add_binaries(&dir);
    let lib = dir.join("src/lib.rs");
    // A new edit every run, so that kiln is really built again.
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let mut text = fs::read_to_string(&lib).unwrap();
    text.push_str(&format!("\n// an edit of the sources {nonce}\n"));
    fs::write(&lib, text).unwrap();
    let after: Vec<String> = ["kiln", "kiln.deps", "kiln.vendor"].iter().map(|a| drv(&dir, a)).collect();
    assert_ne!(before[0], after[0], "kiln's derivation ignores src/");
    assert_eq!(before[1], after[1], "an edit of src/ changes the dependencies' build");
    assert_eq!(before[2], after[2], "an edit of src/ changes the vendored crates");
    // `kiln` is built on `deps` (the stub compiles nothing, but builds the dependency first).
    let (_, log) = build(&dir, ".#kiln", &["-L"]);
    assert!(log.contains(&format!("building '{}'", after[0])), "{log}");
    assert!(!log.contains("-kiln-deps-0.1.0.drv'"), "the dependencies were built again:\n{log}");

    // lib.mkKiln pkgs, given the (stub) nixpkgs' pkgs, is the flake's own kiln.
    let stub_pkgs = format!("(builtins.getFlake \"path:{}\").legacyPackages.x86_64-linux", co.join("tests/offline/nixpkgs").display());
    let mk = stdout(&nix_ok(co, &with_stub(&["eval", "--impure", "--raw", ".#lib", "--apply", &format!("lib: (lib.mkKiln {stub_pkgs}).drvPath")])));
    assert_eq!(mk, before[0], "lib.mkKiln pkgs differs from packages.kiln");

    // `nix run .#serve` previews the shop's dist with `kiln serve` (its WSGI app too).
    serve_answers(co);
}

/// `nix run .#serve -- --port 0`: reads the address kiln serve prints, GETs `/` (the shop's WSGI
/// app) and a versioned stylesheet from it, then stops it.
fn serve_answers(co: &Path) {
    use std::io::{BufRead, BufReader};
    let mut args = with_stub(&["run", ".#serve"]);
    args.extend(["--", "--port", "0"]);
    let mut child = spawn_group(
        Command::new("nix")
            .args(&args)
            .current_dir(co)
            .env("NIX_CONFIG", nix_config())
            .env("SECRET_KEY", "kiln-nix-serve-test")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let mut first = String::new();
    let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut first);
    let port = announced_port(&first);
    let get = |path: &str| http_get(port.expect("the server's port"), path);
    let result = std::panic::catch_unwind(|| {
        assert!(port.is_some(), "`nix run .#serve` did not print its address: {first:?}");
        let page = get("/");
        assert!(page.starts_with("HTTP/1.1 200"), "GET / from `nix run .#serve`:\n{page}");
        let css = first_static_css(&page).unwrap_or_else(|| panic!("no /s/….css link on /:\n{page}"));
        assert!(get(&css).starts_with("HTTP/1.1 200"), "GET {css}");
    });
    // kiln serve's WSGI worker too: a live process keeps the dist alive (Nix's GC roots).
    kill_group(&mut child);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// An app's own flake (tests/consumer/flake.nix, the README's snippet) at the root of a copy of
/// examples/shop: `kiln.lib.mkDist { inherit pkgs; src = ./.; }` and the overlay's kilnMkDist
/// both equal `kiln build` of the same tree (IMAGE_OPTIMIZATION comes from its .env; flake.nix
/// never ships).
#[test]
fn an_apps_own_flake_builds_the_same_dist_as_kiln_build() {
    let _g = serial();
    if !nix_ready() {
        return;
    }
    let co = checkout();
    let app = fresh_dir(&work().join("consumer-app"));
    copy_tree(&co.join("examples/shop"), &app);
    fs::copy(co.join("tests/consumer/flake.nix"), app.join("flake.nix")).unwrap();
    let kiln_dist = work().join("consumer-kiln-build");
    let _ = fs::remove_dir_all(&kiln_dist);
    let path = format!("/usr/bin:{}", std::env::var("PATH").unwrap_or_default());
    let o = run(Command::new(bin("kiln")).arg("build").arg(&app).arg("-o").arg(&kiln_dist).env("PATH", path).current_dir(work()));
    assert!(o.status.success(), "kiln build of the app: {}", stderr(&o));
    let kiln_input = format!("git+file://{}", co.display());
    let stub = format!("path:{}", co.join("tests/offline/nixpkgs").display());
    for attr in ["default", "from-overlay"] {
        let target = format!("path:{}#{attr}", app.display());
        let o = nix_ok(
            &app,
            &[
                "build",
                &target,
                "--no-link",
                "--json",
                "--no-write-lock-file",
                "--override-input",
                "kiln",
                &kiln_input,
                "--override-input",
                "kiln/nixpkgs",
                &stub,
            ],
        );
        let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let out = PathBuf::from(json[0]["outputs"]["out"].as_str().unwrap());
        assert!(!out.join("flake.nix").exists(), "{attr}: flake.nix shipped");
        let copy = writable_copy(&out, &work().join(format!("consumer-nix-{attr}")));
        assert_same_tree(&copy, &kiln_dist);
    }
}
