//! JavaScript is part of the asset graph (issue 25): a static tree of ES modules (a static
//! import, an import cycle, a dynamic import, an asset and a module worker by
//! `new URL(…, import.meta.url)`, source-map comments in JS and CSS) is versioned with
//! kiln-hash, served with `kiln serve`, and run in headless Chromium: every module behaviour
//! must mark the DOM, with no console errors. Controls: the unversioned tree passes the same
//! check, and a versioned tree missing one module fails it. Also: one kiln-hash process per
//! asset (or per cycle) gives --all's entries, and so does Bazel's per-asset kiln_static.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use base64::Engine;
use common::*;
use kiln::hash::js;
use kiln::manifest::{self, Manifest};

/// A 1×1 PNG.
const DOT_PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

const MARKERS: [&str; 5] = ["static", "cycle", "lazy", "asset", "worker"];

/// The static tree of the issue, plus what makes a naive rewriter fail: import-like strings
/// and comments naming files that do not exist, and a bare specifier.
fn write_tree(root: &Path) {
    let files: [(&str, &str); 10] = [
        (
            "js/main.js",
            r#"import { a, viaB } from "./a.js";
import { mark } from "./util.js";
// import { gone } from "./not-here.js";   (a comment: never rewritten, never fetched)
const looksLikeOne = 'import x from "./not-here.js"';
const importMapLike = { lodash: "lodash" };
mark("static", a() === "a" && looksLikeOne.length > 0 && importMapLike.lodash ? "ok" : "bad");
mark("cycle", viaB() === "b saw a" ? "ok" : "bad");
import("./lazy.js").then((m) => mark("lazy", m.lazy()));
const dot = new Image();
dot.onload = () => mark("asset", dot.naturalWidth === 1 ? "ok" : "bad");
dot.onerror = () => mark("asset", "failed");
dot.src = new URL("../img/dot.png", import.meta.url);
const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
worker.onmessage = (e) => mark("worker", e.data);
"#,
        ),
        ("js/a.js", "import { b } from \"./b.js\";\nexport function a() { return \"a\"; }\nexport function viaB() { return b(); }\n"),
        ("js/b.js", "import { a } from './a.js';\nexport function b() { return \"b saw \" + a(); }\n"),
        ("js/lazy.js", "import { OK } from \"./util.js\";\nexport function lazy() { return OK; }\n"),
        ("js/worker.js", "import { OK } from \"./util.js\";\npostMessage(OK);\n"),
        (
            "js/util.js",
            "export const OK = \"ok\";\nexport function mark(name, value) {\n  const p = document.createElement(\"p\");\n  p.id = name;\n  \
             p.textContent = `marker ${name}=${value}`;\n  document.body.append(p);\n}\n//# sourceMappingURL=util.js.map\n",
        ),
        ("js/util.js.map", r#"{"version":3,"file":"util.js","sources":["util.js"],"names":[],"mappings":"AAAA"}"#),
        ("css/site.css", "body { background: #fff url(../img/dot.png) no-repeat; }\n/*# sourceMappingURL=site.css.map */\n"),
        ("css/site.css.map", r#"{"version":3,"file":"site.css","sources":["site.css"],"names":[],"mappings":"AAAA"}"#),
        ("img/dot.txt", "a file no module names\n"),
    ];
    for (rel, text) in files {
        write(&root.join(rel), text.as_bytes());
    }
    write(&root.join("img/dot.png"), &base64::engine::general_purpose::STANDARD.decode(DOT_PNG).unwrap());
}

fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn tool(name: &str, args: &[&str]) -> Output {
    let o = run(Command::new(bin(name)).args(args));
    assert!(o.status.success(), "{name} {args:?} failed:\n{}", stderr(&o));
    o
}

fn read_manifest(path: &Path) -> Manifest {
    manifest::parse(p(path), &fs::read(path).unwrap()).unwrap()
}

/// Versions `roots` (the first one wins for a path in several) with `kiln-hash --all` into a
/// dist laid out as `kiln serve` expects: DIST/src/partials and DIST/manifest.json.
fn versioned_dist(work: &Path, roots: &[&Path]) -> PathBuf {
    let dist = work.join("dist");
    let partial = work.join("static.json");
    let mut args: Vec<&str> = Vec::new();
    for r in roots {
        args.extend(["--root", p(r)]);
    }
    let out = dist.join("src/partials");
    args.extend(["--all", "-o", p(&out), "--partial", p(&partial)]);
    tool("kiln-hash", &args);
    tool("kiln-manifest-merge", &["-o", p(&dist.join("manifest.json")), p(&partial)]);
    dist
}

/// The test page, served from the static root: the stylesheet and main module by their URLs.
fn write_page(dist: &Path, css: &str, main: &str) {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>js graph</title><link rel=\"icon\" href=\"data:,\">\
         <link rel=\"stylesheet\" href=\"/s/{css}\"><script type=\"module\" src=\"/s/{main}\"></script></head><body></body></html>\n"
    );
    write(&dist.join("src/partials/page.html"), html.as_bytes());
}

fn page_for_manifest(dist: &Path) {
    let m = read_manifest(&dist.join("manifest.json"));
    write_page(dist, &m.assets["css/site.css"].versioned_path, &m.assets["js/main.js"].versioned_path);
}

struct Server {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    /// `kiln serve DIST` on a free port, its request log (stderr) in DIST.log.
    fn start(dist: &Path) -> Server {
        let log = dist.with_extension("log");
        let mut child = Command::new(bin("kiln"))
            .args(["serve", p(dist), "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("kiln serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.split("http://").nth(1).and_then(|r| r.split('/').next()).and_then(|a| a.parse().ok());
        let Some(addr) = addr else {
            let _ = child.kill();
            panic!("no address in kiln serve's first line: {line:?}");
        };
        Server { child, addr, log }
    }

    /// (status, path) of every request served so far.
    fn requests(&self) -> Vec<(u16, String)> {
        fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .filter_map(|l| {
                // 127.0.0.1 "GET /s/page.html" 200 312 0.1ms
                let (_, rest) = l.split_once("\"GET ")?;
                let (path, rest) = rest.split_once("\" ")?;
                let status = rest.split(' ').next()?.parse().ok()?;
                Some((status, path.to_string()))
            })
            .collect()
    }

    fn status(&self, path: &str) -> u16 {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
        let mut reply = String::new();
        let _ = BufReader::new(s).read_to_string(&mut reply);
        reply.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Loads the page in headless Chromium: the DOM once the page is idle, and the console lines
/// (messages and uncaught errors) from its log.
fn chromium(url: &str, profile: &Path) -> Child {
    Command::new("chromium")
        .args(["--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run", "--enable-logging=stderr", "--v=0"])
        .arg("--virtual-time-budget=10000")
        .arg(format!("--user-data-dir={}", p(profile)))
        .arg("--dump-dom")
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium")
}

struct PageRun {
    markers: BTreeMap<String, String>,
    console: Vec<String>,
    log: String,
}

fn finish(child: Child) -> PageRun {
    let o = child.wait_with_output().unwrap();
    let log = stderr(&o);
    assert!(o.status.success(), "chromium failed:\n{log}");
    let dom = String::from_utf8_lossy(&o.stdout).into_owned();
    let markers = dom
        .match_indices("marker ")
        .filter_map(|(i, _)| {
            let rest = &dom[i + "marker ".len()..];
            let (name, value) = rest[..rest.find('<')?].split_once('=')?;
            Some((name.to_string(), value.to_string()))
        })
        .collect();
    let console = log.lines().filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught")).map(String::from).collect();
    PageRun { markers, console, log }
}

fn assert_all_ran(what: &str, run: &PageRun) {
    let want: BTreeMap<String, String> = MARKERS.iter().map(|m| (m.to_string(), "ok".to_string())).collect();
    assert_eq!(run.markers, want, "{what}: not every module behaviour ran\n{}", run.log);
    assert!(run.console.is_empty(), "{what}: console messages: {:?}", run.console);
}

/// Every `sourceMappingURL` in the dist's JS and CSS names a file that is there and served.
fn check_source_maps(dist: &Path, server: &Server) -> usize {
    let root = dist.join("src/partials");
    let mut seen = 0;
    for e in walkdir::WalkDir::new(&root).sort_by_file_name() {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(&root).unwrap().to_string_lossy().into_owned();
        let Ok(text) = fs::read_to_string(e.path()) else { continue };
        let refs = if rel.ends_with(".css") {
            js::css_source_map_refs(&text)
        } else if rel.ends_with(".js") {
            js::find_refs(&text).unwrap()
        } else {
            continue;
        };
        for r in refs.into_iter().filter(|r| r.kind == js::JsRefKind::SourceMap) {
            let dir = rel.rfind('/').map(|i| &rel[..=i]).unwrap_or("");
            let target = kiln::fsutil::normalize_rel(&format!("{dir}{}", r.url)).unwrap();
            assert!(root.join(&target).is_file(), "{rel}: sourceMappingURL={} names {target}, which is not in the dist", r.url);
            assert!(target.ends_with(".map") && target.matches('.').count() >= 3, "{rel}: the map is not versioned: {target}");
            assert_eq!(server.status(&format!("/s/{target}")), 200, "{rel}: /s/{target} is not served");
            seen += 1;
        }
    }
    seen
}

#[test]
fn a_versioned_module_graph_runs_in_headless_chromium() {
    if !require("chromium") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("static");
    write_tree(&src);

    // Versioned with kiln-hash --all.
    let plain = versioned_dist(&tmp.path().join("plain"), &[&src]);
    page_for_manifest(&plain);
    // Minified with source maps first (as kiln build and Bazel do, the maps named by the
    // minified files), then versioned: the minifier's output keeps every reference.
    let minified = tmp.path().join("min");
    let sources: Vec<String> = ["js/main.js", "js/a.js", "js/b.js", "js/lazy.js", "js/worker.js", "js/util.js", "css/site.css"]
        .iter()
        .map(|k| p(&src.join(k)).to_string())
        .collect();
    let mut args = vec!["--source-map", "--root", p(&src), "-o", p(&minified)];
    args.extend(sources.iter().map(String::as_str));
    tool("kiln-minify", &args);
    let min_dist = versioned_dist(&tmp.path().join("minified"), &[&minified, &src]);
    page_for_manifest(&min_dist);
    let min_main =
        fs::read_to_string(min_dist.join("src/partials").join(&read_manifest(&min_dist.join("manifest.json")).assets["js/main.js"].versioned_path))
            .unwrap();
    assert!(!min_main.contains("\n  "), "main.js was not minified: {min_main}");

    // Control: the same page straight from the source tree (no manifest: files as they are).
    let unversioned = tmp.path().join("unversioned");
    copy_tree(&src, &unversioned.join("src/partials"));
    write_page(&unversioned, "css/site.css", "js/main.js");
    // Control: a versioned tree missing a module must fail the check (it can fail).
    let broken = tmp.path().join("broken");
    copy_tree(&plain, &broken);
    let lazy = read_manifest(&broken.join("manifest.json")).assets["js/lazy.js"].versioned_path.clone();
    fs::remove_file(broken.join("src/partials").join(&lazy)).unwrap();

    let servers: Vec<Server> = [&plain, &min_dist, &unversioned, &broken].iter().map(|d| Server::start(d)).collect();
    let runs: Vec<Child> = servers
        .iter()
        .enumerate()
        .map(|(i, s)| chromium(&format!("http://{}/s/page.html", s.addr), &tmp.path().join(format!("profile{i}"))))
        .collect();
    let mut runs: Vec<PageRun> = runs.into_iter().map(finish).collect();
    let broken_run = runs.pop().unwrap();
    assert_all_ran("source tree, unversioned", &runs[2]);
    assert_all_ran("kiln-hash --all", &runs[0]);
    assert_all_ran("kiln-minify --source-map, then kiln-hash --all", &runs[1]);
    assert_eq!(broken_run.markers.get("lazy"), None, "{}", broken_run.log);
    assert!(broken_run.console.iter().any(|l| l.contains("Uncaught")), "a missing module left no console error:\n{}", broken_run.log);
    assert!(servers[3].requests().iter().any(|(status, path)| *status == 404 && path.ends_with(&lazy)), "{:?}", servers[3].requests());

    // The browser fetched every versioned file the page needs, and nothing failed.
    for (i, dist) in [(0, &plain), (1, &min_dist)] {
        let m = read_manifest(&dist.join("manifest.json"));
        let requests = servers[i].requests();
        for (status, path) in &requests {
            assert!(*status == 200 || *status == 304, "{path}: {status} ({requests:?})");
        }
        for k in ["js/main.js", "js/a.js", "js/b.js", "js/lazy.js", "js/worker.js", "js/util.js", "img/dot.png", "css/site.css"] {
            let url = format!("/s/{}", m.assets[k].versioned_path);
            assert!(requests.iter().any(|(_, p)| *p == url), "{k}: {url} was not requested ({requests:?})");
        }
    }

    // What the browser ran is what kiln wrote: versioned names only, import-like text untouched.
    let m = read_manifest(&plain.join("manifest.json"));
    let main = fs::read_to_string(plain.join("src/partials").join(&m.assets["js/main.js"].versioned_path)).unwrap();
    for k in ["js/a.js", "js/lazy.js", "js/worker.js", "js/util.js"] {
        let name = m.assets[k].versioned_path.trim_start_matches("js/");
        assert!(main.contains(&format!("\"./{name}\"")), "main.js does not name {name}:\n{main}");
    }
    assert!(main.contains(&format!("\"../{}\"", m.assets["img/dot.png"].versioned_path)), "{main}");
    assert!(main.contains("// import { gone } from \"./not-here.js\";") && main.contains("'import x from \"./not-here.js\"'"), "{main}");
    assert_eq!(m.assets["js/a.js"].version, m.assets["js/b.js"].version, "one version for the a.js ↔ b.js cycle");
    // Minifying a versioned module keeps the rewritten specifiers (kiln-minify after kiln-hash).
    let served = plain.join("src/partials");
    let again = tmp.path().join("again");
    tool("kiln-minify", &["--root", p(&served), "-o", p(&again), p(&served.join(&m.assets["js/main.js"].versioned_path))]);
    let minified_main = fs::read_to_string(again.join(&m.assets["js/main.js"].versioned_path)).unwrap();
    for k in ["js/a.js", "js/lazy.js", "js/worker.js", "js/util.js", "img/dot.png"] {
        let name = m.assets[k].versioned_path.rsplit('/').next().unwrap();
        assert!(minified_main.contains(name), "kiln-minify dropped {name}: {minified_main}");
    }

    // Every source-map comment names a versioned map that is there and served.
    assert_eq!(check_source_maps(&plain, &servers[0]), 2);
    assert_eq!(check_source_maps(&min_dist, &servers[1]), 6, "kiln-minify's six maps (its CSS gets none)");
}

/// One kiln-hash process per asset (a cycle's modules in one), each given its dependencies'
/// partials with --dep, as Bazel runs it: the merged manifest equals --all's.
#[test]
fn one_process_per_asset_gives_the_entries_of_all() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("static");
    write_tree(&src);
    let all = read_manifest(&versioned_dist(&tmp.path().join("all"), &[&src]).join("manifest.json"));

    // (assets of one action, the actions whose partials it depends on), in dependency order.
    let actions: [(&[&str], &[usize]); 10] = [
        (&["img/dot.png"], &[]),
        (&["img/dot.txt"], &[]),
        (&["js/util.js.map"], &[]),
        (&["css/site.css.map"], &[]),
        (&["css/site.css"], &[0, 3]),
        (&["js/util.js"], &[2]),
        (&["js/lazy.js"], &[5]),
        (&["js/worker.js"], &[5]),
        (&["js/a.js", "js/b.js"], &[]),
        (&["js/main.js"], &[8, 5, 6, 0, 7]),
    ];
    let out = tmp.path().join("per-asset");
    let mut partials: Vec<PathBuf> = Vec::new();
    for (i, (assets, deps)) in actions.iter().enumerate() {
        let partial = tmp.path().join(format!("partial-{i}.json"));
        let mut args: Vec<String> = vec!["--root".into(), p(&src).into(), "-o".into(), p(&out).into(), "--partial".into(), p(&partial).into()];
        for d in *deps {
            args.extend(["--dep".to_string(), p(&partials[*d]).to_string()]);
        }
        args.extend(assets.iter().map(|k| p(&src.join(k)).to_string()));
        tool("kiln-hash", &args.iter().map(String::as_str).collect::<Vec<_>>());
        partials.push(partial);
    }
    let merged = tmp.path().join("merged.json");
    let mut args = vec!["-o", p(&merged)];
    args.extend(partials.iter().map(|x| p(x)));
    tool("kiln-manifest-merge", &args);
    assert_eq!(read_manifest(&merged).assets, all.assets);
    assert_eq!(snapshot(&out), snapshot(&tmp.path().join("all/dist/src/partials")));

    // The cycle split over two processes is refused, naming the reference.
    let a_alone = tmp.path().join("a.json");
    let o = run(Command::new(bin("kiln-hash"))
        .args(["--root", p(&src), "-o", p(&tmp.path().join("x")), "--partial", p(&a_alone)])
        .arg(src.join("js/a.js")));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("a.js:1:19: references js/b.js, which is not an input nor in any dependency manifest"), "{}", stderr(&o));
}

/// Bazel (per-asset kiln_static, offline, this checkout's binaries): a JS asset's `deps` are its
/// imports; the a.js ↔ b.js cycle becomes one kiln_hashed action (Bazel's graph cannot hold the
/// cycle), and the merged manifest equals kiln-hash --all's.
#[test]
fn bazel_kiln_static_versions_an_import_cycle_in_one_action() {
    if !require("bazel") {
        return;
    }
    let tmp = tempfile::Builder::new().prefix("kiln-bazel-jsgraph-").tempdir().unwrap();
    let ws = make_ws(&tmp.path().join("ws"));
    let app = ws.join("jsapp");
    write_tree(&app.join("static"));
    let build = r#"load("//rules:defs.bzl", "kiln_manifest", "kiln_static")

kiln_static(
    name = "static",
    srcs = glob(["static/**"]),
    root = "static",
    minify = False,
    compress = "off",
    deps = {
        "css/site.css": ["img/dot.png", "css/site.css.map"],
        "js/a.js": ["js/b.js"],
        "js/b.js": ["js/a.js"],
        "js/lazy.js": ["js/util.js"],
        "js/main.js": ["js/a.js", "js/util.js", "js/lazy.js", "img/dot.png", "js/worker.js"],
        "js/util.js": ["js/util.js.map"],
        "js/worker.js": ["js/util.js"],
    },
)

kiln_manifest(
    name = "manifest",
    deps = [":static"],
)
"#;
    write(&app.join("BUILD.bazel"), build.as_bytes());
    let user_root = repo().join("target/kiln-bazel");
    let bazel = |args: &[&str]| {
        run(Command::new("bazel")
            .current_dir(&ws)
            .arg(format!("--output_user_root={}", p(&user_root)))
            .args(["--nohome_rc", "--max_idle_secs=600"])
            .args(args)
            .env("KILN_BIN_DIR", bin("kiln-hash").parent().unwrap())
            .env_remove("USE_BAZEL_VERSION")
            .stdin(Stdio::null()))
    };
    let o = bazel(&["build", "--config=offline", "//jsapp:manifest", "//jsapp:static"]);
    let text = stderr(&o);
    let query = bazel(&["query", "--config=offline", "kind(kiln_hashed, //jsapp:*)"]);
    let info = bazel(&["info", "--config=offline", "output_base"]);
    let _ = bazel(&["shutdown"]);
    let base = PathBuf::from(String::from_utf8_lossy(&info.stdout).trim());
    let bazel_bin = ws.join("bazel-bin");
    let manifest = bazel_bin.join("jsapp/manifest/manifest.json");
    let got = o.status.success().then(|| read_manifest(&manifest));
    if base.starts_with(&user_root) {
        let _ = run(Command::new("chmod").arg("-R").arg("u+w").arg(&base));
        let _ = fs::remove_dir_all(&base);
    }
    let got = got.unwrap_or_else(|| panic!("bazel build failed:\n{text}"));
    let targets = String::from_utf8_lossy(&query.stdout).into_owned();
    assert!(targets.contains("//jsapp:static_hash/js/a.js"), "{targets}");
    assert!(!targets.contains("//jsapp:static_hash/js/b.js"), "b.js is versioned with a.js, in one action:\n{targets}");
    let all = read_manifest(&versioned_dist(&tmp.path().join("all"), &[&app.join("static")]).join("manifest.json"));
    assert_eq!(got.assets, all.assets);
}
