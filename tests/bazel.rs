//! `bazel build //:dist` with Debian's bazel-bootstrap (4.2.3), offline (`--config=offline`),
//! on copies of this checkout's Bazel workspace, with the binaries of this checkout
//! (KILN_BIN_DIR): it builds, it is deterministic across workspace paths, an edit re-runs exactly
//! the actions downstream of it, every action is a remote (nginx WebDAV) or disk cache hit after
//! `bazel clean --expunge`, a tool's `path:line:col` error reaches Bazel's output, and the dist
//! equals `kiln build`'s. Bazel's output bases live under target/kiln-bazel/ and are removed, and
//! their servers shut down, when each test ends.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// The Bazel client of one test, with its temp dir: output bases under target/kiln-bazel, one per
/// workspace path; on drop (also when the test fails) their servers are shut down and they are
/// deleted, then the temp dir.
struct Bazel {
    user_root: PathBuf,
    used: Mutex<Vec<PathBuf>>,
    tmp: tempfile::TempDir,
}

impl Bazel {
    fn new(name: &str) -> Bazel {
        let user_root = repo().join("target/kiln-bazel");
        fs::create_dir_all(&user_root).unwrap();
        let tmp = tempfile::Builder::new().prefix(&format!("kiln-bazel-{name}-")).tempdir().unwrap();
        Bazel { user_root, used: Mutex::new(Vec::new()), tmp }
    }

    fn tmp(&self) -> &Path {
        self.tmp.path()
    }

    fn cmd(&self, ws: &Path) -> Command {
        let mut used = self.used.lock().unwrap();
        if !used.iter().any(|w| w == ws) {
            used.push(ws.to_path_buf());
        }
        let mut c = Command::new("bazel");
        c.current_dir(ws)
            .arg(format!("--output_user_root={}", self.user_root.display()))
            // The user's ~/.bazelrc stays out; Debian's /etc/bazel/bazelrc stays in (it names the
            // install base the package ships).
            .arg("--nohome_rc")
            // A server left behind by a killed test goes away by itself.
            .arg("--max_idle_secs=600")
            .env("KILN_BIN_DIR", bin("kiln-hash").parent().unwrap())
            .env_remove("USE_BAZEL_VERSION")
            .stdin(Stdio::null());
        c
    }

    /// `bazel build --config=offline //:dist` plus `extra`; returns the output and the stderr text.
    fn build(&self, ws: &Path, extra: &[String]) -> (Output, String) {
        let t = Instant::now();
        let o = run(self.cmd(ws).arg("build").arg("--config=offline").args(extra).arg("//:dist"));
        let text = stderr(&o);
        eprintln!("bazel build in {} ({:.1}s): {}", ws.display(), t.elapsed().as_secs_f64(), summary(&text));
        (o, text)
    }

    fn build_ok(&self, ws: &Path, extra: &[String]) -> String {
        let (o, text) = self.build(ws, extra);
        assert!(o.status.success(), "bazel build failed in {}:\n{text}", ws.display());
        text
    }

    /// Bazel's output base for a workspace: md5 of the workspace's path under the user root.
    fn output_base(&self, ws: &Path) -> PathBuf {
        use md5::{Digest, Md5};
        let real = ws.canonicalize().unwrap_or_else(|_| ws.to_path_buf());
        let hex: String = Md5::digest(real.as_os_str().as_encoded_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        self.user_root.join(hex)
    }

    /// `bazel clean --expunge`: the output base is emptied (the server stops).
    fn expunge(&self, ws: &Path) {
        let o = run(self.cmd(ws).arg("clean").arg("--expunge"));
        assert!(o.status.success(), "bazel clean --expunge failed: {}", stderr(&o));
    }
}

impl Drop for Bazel {
    fn drop(&mut self) {
        let used: Vec<PathBuf> = self.used.lock().unwrap().clone();
        for ws in used {
            let base = self.output_base(&ws);
            if base.join("server/server.pid.txt").exists() && ws.exists() {
                let _ = run(self.cmd(&ws).arg("shutdown"));
            }
            if base.exists() {
                // Bazel leaves its outputs read-only.
                let _ = run(Command::new("chmod").arg("-R").arg("u+w").arg(&base));
                let _ = fs::remove_dir_all(&base);
            }
        }
    }
}

/// The "N processes: …" line of Bazel's output.
fn summary(text: &str) -> String {
    text.lines().rfind(|l| l.contains(" process")).unwrap_or("(no process summary)").trim().to_string()
}

/// One spawn of `--execution_log_json_file` (Bazel logs every spawn it ran or took from a
/// remote/disk cache; actions its local action cache skipped are not there).
#[derive(Debug, Clone)]
struct Spawn {
    mnemonic: String,
    progress: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
    actual: BTreeMap<String, String>,
    remote_cache_hit: bool,
    runner: String,
}

impl Spawn {
    fn id(&self) -> String {
        self.outputs.join(" ")
    }
}

fn exec_log(path: &Path) -> Vec<Spawn> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let strs =
        |v: &Value| -> Vec<String> { v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default() };
    let mut out = Vec::new();
    for v in serde_json::Deserializer::from_str(&text).into_iter::<Value>() {
        let v = v.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let paths = |k: &str| -> Vec<String> {
            v[k].as_array().map(|a| a.iter().filter_map(|i| i["path"].as_str().map(String::from)).collect()).unwrap_or_default()
        };
        let mut actual = BTreeMap::new();
        for o in v["actualOutputs"].as_array().into_iter().flatten() {
            actual.insert(o["path"].as_str().unwrap_or("").to_string(), o["digest"]["hash"].as_str().unwrap_or("").to_string());
        }
        out.push(Spawn {
            mnemonic: v["mnemonic"].as_str().unwrap_or("").to_string(),
            progress: v["progressMessage"].as_str().unwrap_or("").to_string(),
            inputs: paths("inputs"),
            outputs: strs(&v["listedOutputs"]),
            actual,
            remote_cache_hit: v["remoteCacheHit"].as_bool().unwrap_or(false),
            runner: v["runner"].as_str().unwrap_or("").to_string(),
        });
    }
    out
}

fn log_flag(path: &Path) -> String {
    format!("--execution_log_json_file={}", path.display())
}

/// The spawns of a full build that (transitively) read `changed`.
fn downstream(spawns: &[Spawn], changed: &str) -> BTreeSet<String> {
    let mut dirty: Vec<String> = vec![changed.to_string()];
    let mut found = BTreeSet::new();
    loop {
        let before = found.len();
        for s in spawns {
            if found.contains(&s.id()) {
                continue;
            }
            if s.inputs.iter().any(|i| dirty.iter().any(|d| i == d || i.starts_with(&format!("{d}/")))) {
                found.insert(s.id());
                dirty.extend(s.outputs.iter().cloned());
            }
        }
        if found.len() == before {
            return found;
        }
    }
}

fn describe(spawns: &[Spawn], ids: &BTreeSet<String>) -> String {
    spawns.iter().filter(|s| ids.contains(&s.id())).map(|s| format!("  {} {}", s.mnemonic, s.progress)).collect::<Vec<_>>().join("\n")
}

/// The dist's files and their bytes. (Modes are Bazel's: it makes every output read-only.)
fn dist_bytes(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    snapshot(dir).into_iter().filter(|(_, (m, _))| *m != 0).map(|(k, (_, b))| (k, b)).collect()
}

fn assert_same_dist(a: &BTreeMap<String, Vec<u8>>, b: &BTreeMap<String, Vec<u8>>, what: &str) {
    let na: Vec<&String> = a.keys().collect();
    let nb: Vec<&String> = b.keys().collect();
    assert_eq!(na, nb, "{what}: file lists differ");
    for (k, v) in a {
        assert!(v == &b[k], "{what}: bytes of {k} differ");
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// The dist of the example, checked for what §8 promises, and free of absolute paths.
fn check_dist(ws: &Path, forbidden: &[&Path]) -> BTreeMap<String, Vec<u8>> {
    let dist = dist_bytes(&ws.join(DIST));
    for must in [".env.production", "manifest.json", "wsgi.pyc", "src/app.pyc", "src/migrations/0001_initial.py", "src/templates/base.html"] {
        assert!(dist.contains_key(must), "{DIST} lacks {must}: {:?}", dist.keys().collect::<Vec<_>>());
    }
    for never in [".env", ".gitignore", "wsgi.py", "src/app.py", "BUILD.bazel", "blocks.bzl", "venv/pyvenv.cfg", "node_modules/left-pad/index.js"] {
        assert!(!dist.contains_key(never), "{DIST} ships {never}");
    }
    assert!(dist.keys().any(|k| k.starts_with("src/partials/css/shop.") && k.ends_with(".css")), "no versioned shop.css in the dist");
    assert!(!dist.contains_key("src/partials/css/shop.css"), "the unversioned shop.css is in the dist");
    for (name, bytes) in &dist {
        for f in forbidden {
            let f = f.to_string_lossy();
            assert!(!contains(bytes, f.as_bytes()), "{DIST}/{name} contains the absolute path {f}");
        }
    }
    dist
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} does not contain {from:?}", path.display());
    fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn bazel_dist_offline_deterministic_and_incremental() {
    if !require("bazel") {
        return;
    }
    let bazel = Bazel::new("det");
    let tmp = bazel.tmp();
    let a = make_ws(&tmp.join("a/ws"));
    let b = make_ws(&tmp.join("b/elsewhere/kiln-copy"));

    // Offline build from one path.
    let log_a = tmp.join("a.log.json");
    bazel.build_ok(&a, &[log_flag(&log_a)]);
    let base_a = bazel.output_base(&a);
    let dist_a = check_dist(&a, &[&a, &base_a, tmp]);
    let full = exec_log(&log_a);
    let mnemonics: BTreeSet<&str> = full.iter().map(|s| s.mnemonic.as_str()).collect();
    for m in ["KilnMinify", "KilnHash", "KilnBlock", "KilnManifest", "KilnPyc", "KilnDist"] {
        assert!(mnemonics.contains(m), "no {m} action in the build: {mnemonics:?}");
    }
    for s in &full {
        assert!(s.runner.contains("sandbox"), "{} {} ran {}, not sandboxed", s.mnemonic, s.progress, s.runner);
    }

    // The same build from another path: the same bytes, and the same digest for every output.
    let log_b = tmp.join("b.log.json");
    bazel.build_ok(&b, &[log_flag(&log_b)]);
    let dist_b = check_dist(&b, &[&b, &bazel.output_base(&b), tmp]);
    assert_same_dist(&dist_a, &dist_b, "dist built from two workspace paths");
    let digests = |spawns: &[Spawn]| -> BTreeMap<String, String> { spawns.iter().flat_map(|s| s.actual.clone()).collect() };
    let (da, db) = (digests(&full), digests(&exec_log(&log_b)));
    assert!(da.len() >= full.len(), "the log names too few outputs");
    assert_eq!(da, db, "output digests differ between the two workspace paths");

    // Incremental: one JS edit re-runs exactly the actions downstream of that file.
    let edited = "examples/shop/src/partials/js/cart.js";
    let expected = downstream(&full, edited);
    assert!(expected.len() >= 4 && expected.len() < full.len(), "implausible downstream set:\n{}", describe(&full, &expected));
    edit(&a.join(edited), "\"use strict\";", "\"use strict\";\n  const KILN_EDIT = 1; global.KILN_EDIT = KILN_EDIT;");
    let log_a2 = tmp.join("a2.log.json");
    let text = bazel.build_ok(&a, &[log_flag(&log_a2)]);
    let rerun = exec_log(&log_a2);
    let ran: BTreeSet<String> = rerun.iter().map(Spawn::id).collect();
    assert_eq!(
        ran,
        expected,
        "after editing {edited}, Bazel ran\n{}\nbut the actions downstream of it are\n{}\n({})",
        describe(&rerun, &ran),
        describe(&full, &expected),
        summary(&text)
    );
    assert!(!rerun.iter().any(|s| s.mnemonic == "KilnPyc"), "KilnPyc re-ran after a JS edit");
    eprintln!("incremental: {} of {} actions re-ran after editing {edited}:\n{}", ran.len(), full.len(), describe(&rerun, &ran));
}

/// Build, `bazel clean --expunge`, build a copy at another path with the same cache: every
/// action must come from the cache (Bazel only warns when a cache fails, so count the hits).
fn all_hits_after_expunge(name: &str, cache_flag: impl Fn(&Path) -> String) {
    let bazel = Bazel::new(name);
    let tmp = bazel.tmp();
    let flag = cache_flag(tmp);
    let a = make_ws(&tmp.join("first/ws"));
    let b = make_ws(&tmp.join("second/other/ws"));

    let log_a = tmp.join("a.log.json");
    bazel.build_ok(&a, &[flag.clone(), log_flag(&log_a)]);
    let dist_a = dist_bytes(&a.join(DIST));
    let cold = exec_log(&log_a);
    assert!(cold.iter().all(|s| !s.remote_cache_hit), "the first build already hit the cache: {name} is not fresh");
    bazel.expunge(&a);

    let log_b = tmp.join("b.log.json");
    let text = bazel.build_ok(&b, &[flag, log_flag(&log_b)]);
    let warm = exec_log(&log_b);
    let missed: Vec<String> =
        warm.iter().filter(|s| !s.remote_cache_hit).map(|s| format!("  {} {} ({})", s.mnemonic, s.progress, s.runner)).collect();
    assert!(missed.is_empty(), "{name}: {} of {} actions were not cache hits:\n{}\n{}", missed.len(), warm.len(), missed.join("\n"), summary(&text));
    assert_eq!(warm.len(), cold.len(), "{name}: the second build ran a different number of actions ({})", summary(&text));
    assert!(summary(&text).contains(&format!("{} remote cache hit", warm.len())), "{name}: Bazel's summary disagrees: {}", summary(&text));
    assert!(!text.contains("WARNING: Remote Cache") && !text.contains("WARNING: Writing to Remote Cache"), "{name}: cache warnings:\n{text}");
    assert_same_dist(&dist_a, &dist_bytes(&b.join(DIST)), "dist from the cache");
    eprintln!("{name}: {} of {} actions were cache hits", warm.len(), cold.len());
}

#[test]
fn bazel_remote_cache_nginx_all_hits() {
    if !require("bazel") || !require_nginx() {
        return;
    }
    let dir = tempfile::Builder::new().prefix("kiln-bazel-nginx-").tempdir().unwrap();
    let nginx = Nginx::start(dir.path());
    let port = nginx.port;
    all_hits_after_expunge("remote-cache", |_| format!("--remote_cache=http://127.0.0.1:{port}"));
    let stored = files_under(&dir.path().join("store"));
    assert!(stored.iter().any(|f| f.starts_with("ac/")) && stored.iter().any(|f| f.starts_with("cas/")), "nothing stored in nginx: {stored:?}");
    drop(nginx);
}

#[test]
fn bazel_disk_cache_all_hits() {
    if !require("bazel") {
        return;
    }
    all_hits_after_expunge("disk-cache", |tmp| format!("--disk_cache={}", tmp.join("disk-cache").display()));
}

#[test]
fn bazel_bad_input_shows_the_tools_position() {
    if !require("bazel") {
        return;
    }
    let bazel = Bazel::new("bad");
    let ws = make_ws(&bazel.tmp().join("ws"));

    // A JS syntax error: kiln-minify's message, at the source's line and column.
    let js = ws.join("examples/shop/src/partials/js/cart.js");
    let good_js = fs::read_to_string(&js).unwrap();
    edit(&js, "\"use strict\";", "\"use strict\";\n  const = ;");
    let (o, text) = bazel.build(&ws, &[]);
    assert!(!o.status.success(), "the build succeeded with a JS syntax error");
    let line = text
        .lines()
        .find(|l| l.starts_with("examples/shop/src/partials/js/cart.js:"))
        .unwrap_or_else(|| panic!("no cart.js:line:col message in:\n{text}"));
    let pos: Vec<&str> = line.splitn(4, ':').collect();
    assert!(pos.len() == 4 && pos[1] == "4" && pos[2].parse::<u32>().is_ok(), "not path:line:col at line 4: {line}");
    fs::write(&js, good_js).unwrap();

    // A stylesheet referencing a file that does not exist: kiln-hash names the file, the
    // position, and the missing asset.
    edit(&ws.join("examples/shop/src/partials/css/base.css"), "url(../img/logo.png)", "url(../img/nope.png)");
    let (o, text) = bazel.build(&ws, &[]);
    assert!(!o.status.success(), "the build succeeded with a reference to a missing image");
    let line = text.lines().find(|l| l.contains("references img/nope.png")).unwrap_or_else(|| panic!("no missing-reference message in:\n{text}"));
    let pos: Vec<&str> = line.splitn(4, ':').collect();
    assert!(
        pos.len() == 4 && pos[0].ends_with("css/base.css") && pos[1].parse::<u32>().is_ok() && pos[2].parse::<u32>().is_ok(),
        "not path:line:col: {line}"
    );
}

/// `kiln build examples/shop` and `bazel build //:dist` give the same dist, byte for byte, and
/// the same archive (whose entries also carry modes, which Bazel's outputs do not keep).
#[test]
fn bazel_dist_equals_kiln_build() {
    if !require("bazel") {
        return;
    }
    let bazel = Bazel::new("parity");
    let kiln_dist = bazel.tmp().join("kiln-dist");
    let kiln_archive = bazel.tmp().join("kiln-dist.tar.zst");
    let o = run(Command::new(bin("kiln")).arg("build").arg(shop()).arg("-o").arg(&kiln_dist).arg("--archive").arg(&kiln_archive));
    assert!(
        o.status.success(),
        "`kiln build examples/shop -o DIR` failed, so the Bazel dist cannot be compared with it \
         (until `kiln build` lands this test fails on purpose):\n{}",
        stderr(&o)
    );
    let ws = make_ws(&bazel.tmp().join("ws"));
    bazel.build_ok(&ws, &["//examples/shop:dist_archive".to_string()]);
    assert_same_dist(&dist_bytes(&kiln_dist), &dist_bytes(&ws.join(DIST)), "`kiln build` vs `bazel build //:dist`");
    let a = fs::read(&kiln_archive).unwrap();
    let b = fs::read(ws.join("bazel-bin/examples/shop/dist_archive.tar.zst")).unwrap();
    assert!(a == b, "`kiln build --archive x.tar.zst` and //examples/shop:dist_archive differ");
}

/// `kiln build examples/asok-blog` and `bazel build //examples/asok-blog:dist` (asok's layout:
/// source names, a WebP beside each converted image, templates in place, no twins) give the same
/// dist, byte for byte, and the same archive.
#[test]
fn bazel_asok_dist_equals_kiln_build() {
    if !require("bazel") {
        return;
    }
    let bazel = Bazel::new("asok");
    let kiln_dist = bazel.tmp().join("kiln-dist");
    let kiln_archive = bazel.tmp().join("kiln-dist.tar.zst");
    let o = run(Command::new(bin("kiln"))
        .arg("build")
        .arg(repo().join("examples/asok-blog"))
        .arg("-o")
        .arg(&kiln_dist)
        .arg("--archive")
        .arg(&kiln_archive));
    assert!(o.status.success(), "`kiln build examples/asok-blog` failed:\n{}", stderr(&o));
    let ws = make_ws(&bazel.tmp().join("ws"));
    let o = run(bazel.cmd(&ws).args(["build", "--config=offline", "//examples/asok-blog:dist", "//examples/asok-blog:dist_archive"]));
    assert!(o.status.success(), "bazel build //examples/asok-blog:dist failed:\n{}", stderr(&o));
    let dist_dir = ws.join("bazel-bin/examples/asok-blog/dist");
    assert_asok_blog_layout(&dist_dir);
    let dist = dist_bytes(&dist_dir);
    assert_same_dist(&dist_bytes(&kiln_dist), &dist, "`kiln build examples/asok-blog` vs `bazel build //examples/asok-blog:dist`");
    let a = fs::read(&kiln_archive).unwrap();
    let b = fs::read(ws.join("bazel-bin/examples/asok-blog/dist_archive.tar.zst")).unwrap();
    assert!(a == b, "`kiln build --archive` and //examples/asok-blog:dist_archive differ");
}

/// examples/shop/blocks.bzl is what `kiln scan --bazel` writes for the templates.
#[test]
fn bazel_blocks_bzl_is_fresh() {
    let shop = shop();
    let o = run(Command::new(bin("kiln"))
        .arg("scan")
        .arg(shop.join("src/templates"))
        .arg("--static-root")
        .arg(shop.join("src/partials"))
        .arg("--bazel")
        .arg(shop.join("blocks.bzl"))
        .arg("--check"));
    assert!(
        o.status.success(),
        "`kiln scan … --bazel examples/shop/blocks.bzl --check` failed: blocks.bzl is stale, or \
         `kiln scan` has not landed yet (this test fails until it does):\n{}",
        stderr(&o)
    );
}

/// A repository that uses kiln's rules, as a user's does: tests/consumer (WORKSPACE with
/// `local_repository(name = "kiln", path = "../kiln")`, MODULE.bazel for Bazel 7+) plus copies of
/// the two example apps as its packages `shop` and `asok-blog`, and kiln's checkout at `../kiln`
/// (another path: none of kiln's rules can reach the consumer's files through `//`). Returns
/// (kiln, consumer).
fn make_consumer(dest: &Path) -> (PathBuf, PathBuf) {
    let kiln = make_ws(&dest.join("kiln"));
    let consumer = dest.join("consumer");
    copy_tree(&repo().join("tests/consumer"), &consumer);
    copy_tree(&repo().join("examples/shop"), &consumer.join("shop"));
    copy_tree(&repo().join("examples/asok-blog"), &consumer.join("asok-blog"));
    // Bazel 4's offline stand-ins, kiln's own (tests/offline/setup writes the same for kiln).
    let offline = kiln.join("tests/offline");
    let lines: String = ["rules_cc", "rules_java", "rules_proto", "remote_coverage_tools"]
        .iter()
        .map(|r| format!("build:offline --override_repository={r}={}\n", offline.join(r).display()))
        .collect();
    fs::write(consumer.join(".bazelrc.offline"), lines).unwrap();
    (kiln, consumer)
}

const CONSUMER_DISTS: [(&str, &str); 2] = [("shop", "bazel-bin/shop/dist"), ("asok-blog", "bazel-bin/asok-blog/dist")];

/// `kiln build` of each of the consumer's apps equals its Bazel dist, byte for byte.
fn assert_consumer_dists_equal_kiln_build(consumer: &Path, tmp: &Path) {
    for (app, dist) in CONSUMER_DISTS {
        let kiln_dist = tmp.join(format!("kiln-build-{app}"));
        let o = run(Command::new(bin("kiln")).arg("build").arg(consumer.join(app)).arg("-o").arg(&kiln_dist));
        assert!(o.status.success(), "`kiln build {app}` failed:\n{}", stderr(&o));
        assert_same_dist(&dist_bytes(&kiln_dist), &dist_bytes(&consumer.join(dist)), &format!("`kiln build {app}` vs the consumer's //{app}:dist"));
    }
}

/// Starts `bazel-bin/serve.sh` (what `bazel run //:serve` runs) on a free port and fetches `/`
/// (the shop's WSGI app) and a versioned stylesheet from it.
fn check_serve(consumer: &Path) {
    use std::io::{BufRead, BufReader};
    let mut child = spawn_group(
        Command::new(consumer.join("bazel-bin/serve.sh"))
            .args(["--port", "0"])
            .current_dir(consumer)
            .env("SECRET_KEY", "kiln-bazel-serve-test")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    // Its first line on stdout: `kiln serve: http://127.0.0.1:PORT/ — …`.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    let _ = out.read_line(&mut first);
    let port = announced_port(&first);
    let get = |path: &str| http_get(port.expect("the server's port"), path);
    let result = std::panic::catch_unwind(|| {
        assert!(port.is_some(), "serve.sh did not print its address: {first}");
        let page = get("/");
        assert!(page.starts_with("HTTP/1.1 200"), "GET / from `bazel run //:serve`:\n{page}");
        let css = first_static_css(&page).unwrap_or_else(|| panic!("no /s/….css link on /:\n{page}"));
        let asset = get(&css);
        assert!(asset.starts_with("HTTP/1.1 200"), "GET {css}:\n{asset}");
    });
    // kiln serve's WSGI worker too: a live process keeps the dist alive (Nix's GC roots).
    kill_group(&mut child);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// kiln's rules from another repository at another path (Bazel 4.2.3, WORKSPACE): the consumer's
/// two dists equal `kiln build`'s; after `bazel clean --expunge` a build with the same disk cache
/// is all cache hits; `bazel run //:serve` (its script) serves the shop's dist.
#[test]
fn bazel_consumer_workspace_uses_kiln_from_another_path() {
    if !require("bazel") {
        return;
    }
    let bazel = Bazel::new("consumer");
    let tmp = bazel.tmp();
    let (_kiln, consumer) = make_consumer(&tmp.join("elsewhere"));
    let disk = format!("--disk_cache={}", tmp.join("disk-cache").display());
    let targets = ["//shop:dist", "//asok-blog:dist", "//:serve"];
    let build = |log: &Path| -> String {
        let t = Instant::now();
        let o = run(bazel.cmd(&consumer).args(["build", "--config=offline", &disk, &log_flag(log)]).args(targets));
        let text = stderr(&o);
        assert!(o.status.success(), "bazel build in the consumer workspace failed:\n{text}");
        eprintln!("consumer build ({:.1}s): {}", t.elapsed().as_secs_f64(), summary(&text));
        text
    };
    let log_a = tmp.join("consumer-a.log.json");
    build(&log_a);
    let cold = exec_log(&log_a);
    assert!(!cold.is_empty() && cold.iter().all(|s| !s.remote_cache_hit), "the first build was not cold");
    assert_consumer_dists_equal_kiln_build(&consumer, tmp);
    assert_asok_blog_layout(&consumer.join("bazel-bin/asok-blog/dist"));
    check_serve(&consumer);
    let before: Vec<BTreeMap<String, Vec<u8>>> = CONSUMER_DISTS.iter().map(|(_, d)| dist_bytes(&consumer.join(d))).collect();

    bazel.expunge(&consumer);
    let log_b = tmp.join("consumer-b.log.json");
    let text = build(&log_b);
    let warm = exec_log(&log_b);
    let missed: Vec<String> = warm.iter().filter(|s| !s.remote_cache_hit).map(|s| format!("  {} {}", s.mnemonic, s.progress)).collect();
    assert!(missed.is_empty(), "{} of {} actions were not cache hits:\n{}\n{}", missed.len(), warm.len(), missed.join("\n"), summary(&text));
    assert_eq!(warm.len(), cold.len(), "the second build ran a different number of actions ({})", summary(&text));
    for ((_, d), b) in CONSUMER_DISTS.iter().zip(&before) {
        assert_same_dist(b, &dist_bytes(&consumer.join(d)), "dist from the cache");
    }
    eprintln!("consumer: {} of {} actions were cache hits after --expunge", warm.len(), cold.len());
}

/// With no KILN_BIN_DIR, no target/release beside the rules and no kiln on PATH, the toolchain
/// repository builds kiln itself (`cargo build --release --locked`), and the consumer builds.
///
/// A cold release build of kiln takes ~12 minutes on CI's 2 cores, too long for a test. So the
/// repository rule is pointed (`--repo_env=KILN_CARGO_TARGET_DIR`) at a copy of this checkout's
/// target/release, the one `cargo test --release` has just built, from which every kiln
/// executable is removed (target/release/kiln* and their deps/kiln*-<hash> originals). The
/// dependencies are hard links (cargo finds them fresh and never writes them); kiln's own
/// artifacts are real copies (cargo may rewrite them); kiln's source keeps its mtimes. cargo
/// then really runs and links every binary again, and the test checks that the toolchain's
/// binaries are the ones that build wrote, not any older file.
#[test]
fn bazel_toolchain_builds_kiln_with_cargo_when_no_binaries_are_found() {
    if !require("bazel") || !require("cargo") {
        return;
    }
    let bazel = Bazel::new("selfbuild");
    let tmp = bazel.tmp();
    let (kiln, consumer) = make_consumer(&tmp.join("src"));
    // The crate itself, mtimes kept (cp -a), so that cargo finds the kiln library fresh.
    for f in ["src", "build.rs"] {
        let o = run(Command::new("cp").arg("-a").arg(repo().join(f)).arg(&kiln));
        assert!(o.status.success(), "cp -a {f}: {}", stderr(&o));
    }
    assert!(!kiln.join("target").exists());
    // Beside target/ (the same file system, for the hard links); removed when the test ends.
    let target_tmp = tempfile::Builder::new().prefix("kiln-selfbuild-").tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let target = target_tmp.path().join("cargo-target");
    let (linked, copied) = copy_target_without_kiln_binaries(&repo().join("target"), &target);
    eprintln!("cargo target copy: {linked} hard links, {copied} copies");

    let cargo_dir = run(Command::new("sh").args(["-c", "dirname \"$(command -v cargo)\""]));
    let cargo_dir = String::from_utf8_lossy(&cargo_dir.stdout).trim().to_string();
    let path = format!("{cargo_dir}:/usr/local/bin:/usr/bin:/bin");
    let on_path = run(Command::new("sh").args(["-c", "command -v kiln-hash || command -v kiln"]).env("PATH", &path));
    assert!(!on_path.status.success(), "kiln is on PATH ({}): the toolchain would not build it", String::from_utf8_lossy(&on_path.stdout));

    let t = Instant::now();
    let started = std::time::SystemTime::now() - Duration::from_secs(1);
    let repo_env = format!("--repo_env=KILN_CARGO_TARGET_DIR={}", target.display());
    let o = run(bazel.cmd(&consumer).env_remove("KILN_BIN_DIR").env("PATH", &path).args([
        "build",
        "--config=offline",
        &repo_env,
        "//shop:dist",
        "//asok-blog:dist",
    ]));
    let text = stderr(&o);
    assert!(o.status.success(), "the consumer build with a cargo-built toolchain failed:\n{text}");
    eprintln!("self-building toolchain + consumer build: {:.1}s", t.elapsed().as_secs_f64());
    assert!(text.contains("Finished `release` profile"), "no cargo build in Bazel's output:\n{text}");

    let toolchain = bazel.output_base(&consumer).join("external/kiln_toolchain/bin");
    let source = fs::read_to_string(toolchain.join("SOURCE")).unwrap_or_default();
    assert!(source.contains(&format!("built by cargo in {}", target.join("release").display())), "bin/SOURCE: {source}");
    for b in ["kiln", "kiln-dist-assemble", "kiln-hash", "kiln-manifest-merge", "kiln-minify", "kiln-pyc-wrap", "kiln-webp"] {
        let built = target.join("release").join(b);
        let meta = fs::metadata(&built).unwrap_or_else(|e| panic!("cargo did not link {}: {e}", built.display()));
        assert!(meta.modified().unwrap() >= started, "{b} is older than the build: cargo did not link it");
        let used = toolchain.join(b);
        assert!(!fs::symlink_metadata(&used).unwrap().file_type().is_symlink(), "{}: a symlink, not the built copy", used.display());
        assert!(fs::read(&used).unwrap() == fs::read(&built).unwrap(), "{b}: the toolchain's binary is not the one cargo built");
    }
    assert_consumer_dists_equal_kiln_build(&consumer, tmp);
    drop(target_tmp);
}

/// Copies a cargo target directory's release profile for another `cargo build`: dependencies as
/// hard links, the kiln package's own files as copies, the kiln executables left out. Returns
/// (hard links, copies).
fn copy_target_without_kiln_binaries(from: &Path, to: &Path) -> (usize, usize) {
    let (mut linked, mut copied) = (0, 0);
    for f in [".rustc_info.json", "CACHEDIR.TAG"] {
        if from.join(f).exists() {
            fs::create_dir_all(to).unwrap();
            fs::copy(from.join(f), to.join(f)).unwrap();
        }
    }
    let release = from.join("release");
    for entry in walkdir::WalkDir::new(&release).sort_by_file_name().into_iter().filter_entry(|e| {
        let rel = e.path().strip_prefix(&release).unwrap();
        !(rel == Path::new("incremental") || rel == Path::new("examples"))
    }) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(&release).unwrap();
        let dest = to.join("release").join(rel);
        if entry.file_type().is_dir() {
            fs::create_dir_all(&dest).unwrap();
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let kiln_own = rel.iter().any(|c| {
            let c = c.to_string_lossy();
            c.starts_with("kiln") || c.starts_with("libkiln")
        });
        // The executables: target/release/kiln*, and deps/kiln*-<hash> they are uplifted from.
        let top = rel.parent() == Some(Path::new(""));
        let in_deps = rel.parent() == Some(Path::new("deps"));
        if (top || in_deps) && name.starts_with("kiln") && !name.contains('.') {
            continue;
        }
        if top && name.starts_with("kiln") && name.ends_with(".d") {
            continue;
        }
        if kiln_own || name == ".cargo-lock" {
            fs::copy(entry.path(), &dest).unwrap();
            copied += 1;
        } else {
            fs::hard_link(entry.path(), &dest).unwrap();
            linked += 1;
        }
    }
    (linked, copied)
}

/// buildifier (npm @bazel/buildifier, which .ci/run installs) finds every Starlark file of the
/// rules, the examples, the root and the consumer workspace formatted and free of lint warnings.
#[test]
fn buildifier_lint_is_clean() {
    if !require("buildifier") {
        return;
    }
    let o = run(Command::new("buildifier")
        .args(["--mode=check", "--lint=warn", "-r", "rules", "examples", "tests/consumer", "BUILD.bazel", "WORKSPACE", "MODULE.bazel"])
        .current_dir(repo()));
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(o.status.success() && text.trim().is_empty(), "buildifier --mode=check --lint=warn:\n{text}");
}

/// docs/rules.md is what docs/gen_rules_md.py writes from the rules' docstrings (every rule
/// attribute and macro argument documented).
#[test]
fn rules_md_is_current() {
    if !require("python3") {
        return;
    }
    let o = run(Command::new("python3").arg("docs/gen_rules_md.py").arg("--check").current_dir(repo()));
    assert!(o.status.success(), "docs/rules.md: {}", stderr(&o));
}
