//! The dist runs on the app's own framework (issue 19; docs: ../shared/design.md §9). Each test
//! makes an app the way a user does, with the real framework from PyPI (pinned in
//! tests/frameworks/requirements.txt, installed by tests/frameworks/setup into
//! target/kiln-test-cache/fwvenv), builds it with kiln from two paths (the two dists must be the
//! same bytes), then runs the dist with the framework's OWN runtime, DEBUG off:
//!
//! - asok 0.8.0: `asok create` + `asok make page`, grown with static() CSS/JS/images, CSS url()s,
//!   nested includes and IMAGE_OPTIMIZATION=true (tests/frameworks/asok_app.py); the dist's wsgi
//!   `app` behind waitress; every page, every src/href/srcset and every url() in served CSS must
//!   answer 200 (tests/frameworks/crawl.py), and in headless Chromium no console message and every
//!   script ran (tests/frameworks/browse.py). `asok build`'s dist is the control.
//! - Django 5.2 + WhiteNoise: `startproject` + `startapp`, grown (tests/frameworks/django_site.py,
//!   with a url() inside a CSS comment that Django's own collectstatic crashes on); the dist's
//!   wsgi `application`; the same crawl, and every {% static %} URL content-versioned.
//!   collectstatic on the same site without the comment is the control.
//! - Assetman (pyassetman 0.3.0rc5): `kiln assetman-compile` on bench/gen_assetman.py's project;
//!   every template rendered by assetman.tornadoutils.TemplateCommands from kiln's manifest.json,
//!   every emitted URL a file of the output (tests/frameworks/assetman_render.py).
//!
//! Every Python tool prints JSON on stdout and one `FAIL status URL (from where): why` line per
//! failure on stderr (then the runtime's log, where a 500's traceback is); the assertions quote it.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::*;
use serde_json::Value;

/// A production SECRET_KEY from the environment (never from the dist), 64 hex digits.
const SECRET_KEY: &str = "4f1c0d6b2a9e8b7c3d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4";
/// Django's ManifestStaticFilesStorage name: `name.<12 hex of md5>.ext`.
const DJANGO_VERSIONED: &str = r"/static/=\.[0-9a-f]{12}\.[A-Za-z0-9]+$";
const ESBUILD: &str = "esbuild@0.28.2";

fn json_out(o: &Output, what: &str) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("{what}: no JSON on stdout ({e}); exit {:?}\nstdout:\n{}\nstderr:\n{}", o.status.code(), String::from_utf8_lossy(&o.stdout), stderr(o))
    })
}

fn ok_json(o: Output, what: &str) -> Value {
    assert!(o.status.success(), "{what} failed ({:?}):\n{}", o.status.code(), stderr(&o));
    json_out(&o, what)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect()).unwrap_or_default()
}

/// `kiln build SRC -o OUT --python PY`, with nothing from the test's environment that the app's
/// .env should decide.
fn kiln_build(py: &Path, src: &Path, out: &Path) -> Output {
    run(Command::new(bin("kiln"))
        .arg("build")
        .arg(src)
        .arg("-o")
        .arg(out)
        .arg("--python")
        .arg(py)
        .env_remove("IMAGE_OPTIMIZATION")
        .env_remove("DEBUG")
        .env_remove("SECRET_KEY"))
}

/// Builds `app` from its own path and from a copy at another path; the two dists must be the same
/// bytes. Returns the first dist, or the build's error output.
fn build_twice(py: &Path, app: &Path, tmp: &Path) -> Result<PathBuf, String> {
    let name = app.file_name().unwrap();
    let copy = tmp.join("elsewhere/deeper").join(name);
    copy_tree(app, &copy);
    let (d1, d2) = (tmp.join("dist-a"), tmp.join("other/dist-b"));
    for (src, out) in [(app, &d1), (copy.as_path(), &d2)] {
        let o = kiln_build(py, src, out);
        if !o.status.success() {
            return Err(format!("kiln build {} -o {} failed ({:?}):\n{}", src.display(), out.display(), o.status.code(), stderr(&o)));
        }
    }
    assert_same_tree(&d1, &d2);
    Ok(d1)
}

/// What check.py found: the failure lines and the JSON.
struct Served {
    ok: bool,
    report: String,
    json: Value,
}

/// Serves `dist` with the framework's own runtime (check.py: serve.py + crawl.py, and browse.py
/// when Chromium is there; under CI=true it must be).
fn serve_and_check(py: &Path, kind: &str, dist: &Path, pages: &[String], extra: &[&str]) -> Served {
    let mut cmd = framework_tool(py, "check.py");
    cmd.arg(kind).arg(dist).args(pages).args(extra).env("SECRET_KEY", SECRET_KEY).env_remove("DEBUG");
    if require("chromium") {
        cmd.arg("--browser");
    }
    let o = run(&mut cmd);
    assert!(matches!(o.status.code(), Some(0 | 1)), "check.py could not run ({:?}):\n{}", o.status.code(), stderr(&o));
    Served { ok: o.status.success(), report: stderr(&o), json: json_out(&o, "check.py") }
}

/// The counts a passing check must reach, so that a check of nothing cannot pass.
fn assert_checked_enough(served: &Served, what: &str, pages: usize, assets: u64, css_urls: u64, scripts: &[&str]) {
    let c = &served.json["crawl"];
    assert!(c["pages"].as_u64().unwrap() >= pages as u64, "{what}: only {} pages crawled: {c}", c["pages"]);
    assert!(c["assets"].as_u64().unwrap() >= assets, "{what}: only {} assets fetched (expected {assets}+)", c["assets"]);
    assert!(c["css_urls"].as_u64().unwrap() >= css_urls, "{what}: only {} CSS url()s (expected {css_urls}+)", c["css_urls"]);
    if let Some(pages) = served.json["browser"]["pages"].as_array() {
        let ran: Vec<String> = pages.iter().flat_map(|p| strings(&p["ran"])).collect();
        for name in scripts {
            assert!(ran.iter().any(|r| r == name), "{what}: script {name} never ran in Chromium ({ran:?})");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// asok 0.8.0

/// `asok create myapp` + `asok make page ...` in `parent`, grown (asok_app.py): (app, pages).
fn new_asok_app(py: &Path, parent: &Path) -> (PathBuf, Vec<String>) {
    let j = ok_json(run(framework_tool(py, "asok_app.py").arg("new").arg(parent).arg("myapp")), "asok_app.py new");
    (PathBuf::from(j["app"].as_str().unwrap()), strings(&j["pages"]))
}

/// esbuild from npm (what `asok assets --install` would download), installed once into the test cache.
fn esbuild() -> Option<PathBuf> {
    static ESBUILD_BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    ESBUILD_BIN
        .get_or_init(|| {
            if !require("npm") {
                return None;
            }
            let dir = repo().join("target/kiln-test-cache").join(ESBUILD.replace('@', "-"));
            let find = || fs::read_dir(dir.join("node_modules/@esbuild")).ok()?.flatten().map(|e| e.path().join("bin/esbuild")).find(|p| p.is_file());
            if find().is_none() {
                let o = run(Command::new("npm").args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"]).arg(&dir).arg(ESBUILD));
                assert!(o.status.success(), "npm install {ESBUILD} failed (is the npm registry reachable?): {}", stderr(&o));
            }
            Some(find().unwrap_or_else(|| panic!("{}: npm installed no native esbuild binary", dir.display())))
        })
        .clone()
}

/// `asok build -o OUT` in the app, with esbuild and cwebp where asok looks for them (.asok/bin/;
/// asok refuses a cwebp anywhere else), as bench/benches/build.py wires them.
fn asok_build(py: &Path, app: &Path, out: &Path) -> Option<Output> {
    let esbuild = esbuild()?;
    if !require("cwebp") {
        return None;
    }
    let cwebp = String::from_utf8(run(Command::new("sh").args(["-c", "command -v cwebp"])).stdout).unwrap();
    let bindir = app.join(".asok/bin");
    fs::create_dir_all(&bindir).unwrap();
    std::os::unix::fs::symlink(&esbuild, bindir.join("esbuild")).unwrap();
    std::os::unix::fs::symlink(cwebp.trim(), bindir.join("cwebp")).unwrap();
    let asok = py.parent().unwrap().join("asok");
    Some(run(Command::new(asok)
        .arg("build")
        .arg("-o")
        .arg(out)
        .current_dir(app)
        .env_remove("DEBUG")
        .env_remove("SECRET_KEY")
        .env_remove("IMAGE_OPTIMIZATION")))
}

#[test]
fn asok_app_from_kilns_dist_is_served_by_asoks_own_runtime() {
    let Some(py) = framework_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (app, pages) = new_asok_app(&py, &tmp.path().join("src"));
    let dist = build_twice(&py, &app, tmp.path()).unwrap_or_else(|e| panic!("{e}"));
    assert!(!dist.join(".env").exists(), "kiln's dist ships the app's .env (its SECRET_KEY)");
    let served = serve_and_check(&py, "asok", &dist, &pages, &[]);
    assert!(served.ok, "kiln's dist of an asok app, served by asok 0.8.0's own runtime (DEBUG=false), fails:\n{}", served.report);
    assert_checked_enough(&served, "kiln's asok dist", pages.len(), 8, 4, &["base", "products"]);
}

/// The control: `asok build`'s own dist of the same app passes the same check (with image
/// optimization off: see the next test for why).
#[test]
fn asok_build_dist_of_the_same_app_passes_the_same_check() {
    let Some(py) = framework_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (app, pages) = new_asok_app(&py, tmp.path());
    let env = fs::read_to_string(app.join(".env")).unwrap();
    fs::write(app.join(".env"), env.replace("IMAGE_OPTIMIZATION=true", "IMAGE_OPTIMIZATION=false")).unwrap();
    let out = tmp.path().join("asok-dist");
    let Some(o) = asok_build(&py, &app, &out) else { return };
    assert!(o.status.success() && out.join("wsgi.pyc").is_file(), "asok build failed:\n{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(out.join("src/partials/js/base.min.js").is_file(), "asok build did not minify (esbuild not found?)");
    let served = serve_and_check(&py, "asok", &out, &pages, &[]);
    assert!(served.ok, "asok build's own dist fails the check (the harness, not kiln, is wrong):\n{}", served.report);
    assert_checked_enough(&served, "asok build's dist", pages.len(), 8, 4, &["base", "products"]);
}

/// With IMAGE_OPTIMIZATION=true, asok 0.8.0 converts every PNG/JPEG to `name.ext.webp`, deletes
/// the original and leaves the CSS naming it: the check fails on exactly those url()s, and on
/// nothing else. (It also proves that the check catches a broken dist.)
#[test]
fn asok_build_with_image_optimization_breaks_css_urls_and_the_check_says_which() {
    let Some(py) = framework_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (app, pages) = new_asok_app(&py, tmp.path());
    let out = tmp.path().join("asok-dist");
    let Some(o) = asok_build(&py, &app, &out) else { return };
    assert!(o.status.success(), "asok build failed:\n{}", stderr(&o));
    assert!(out.join("src/partials/images/pattern.png.webp").is_file(), "asok build did not convert images (cwebp not used?)");
    let served = serve_and_check(&py, "asok", &out, &pages, &[]);
    assert!(!served.ok, "asok build's dist with converted images passed; the CSS url() check is not working");
    let failures = served.json["crawl"]["failures"].as_array().unwrap();
    let mut urls: Vec<&str> = failures.iter().map(|f| f["url"].as_str().unwrap()).collect();
    urls.sort();
    assert_eq!(urls, ["/images/banner.jpg", "/images/icons/cart.png", "/images/pattern.png"], "{}", served.report);
    for f in failures {
        assert_eq!(f["status"], 404, "{f}");
        assert!(f["from"].as_str().unwrap().contains("url()"), "{f}");
    }
    assert!(served.json["browser"]["failures"].as_array().is_none_or(|b| b.is_empty()), "{}", served.report);
}

// ---------------------------------------------------------------------------------------------
// Django 5.2 + WhiteNoise

/// `django-admin startproject config site` + `startapp shop`, grown (django_site.py): (site, pages).
fn new_django_site(py: &Path, parent: &Path) -> (PathBuf, Vec<String>) {
    let j = ok_json(run(framework_tool(py, "django_site.py").arg("new").arg(parent).arg("site")), "django_site.py new");
    (PathBuf::from(j["site"].as_str().unwrap()), strings(&j["pages"]))
}

#[test]
fn django_site_from_kilns_dist_is_served_by_django_with_whitenoise() {
    let Some(py) = framework_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (site, pages) = new_django_site(&py, &tmp.path().join("src"));
    let dist = build_twice(&py, &site, tmp.path()).unwrap_or_else(|e| panic!("{e}"));
    let mut problems = Vec::new();
    let served = serve_and_check(&py, "django", &dist, &pages, &["--versioned", DJANGO_VERSIONED]);
    if !served.ok {
        problems.push(format!("served by Django 5.2 (DEBUG=False, WhiteNoise), the dist fails:\n{}", served.report));
    }
    // ManifestStaticFilesStorage's manifest, with the app's and django.contrib.admin's files.
    let manifest = dist.join("staticfiles/staticfiles.json");
    match fs::read(&manifest).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok()) {
        None => problems.push(format!("{} is missing or not JSON: {{% static %}} raises 'Missing staticfiles manifest entry'", manifest.display())),
        Some(m) => {
            if m["version"] != "1.1" {
                problems.push(format!("staticfiles.json version is {}, Django 5.2 writes \"1.1\"", m["version"]));
            }
            for name in ["shop/css/site.css", "shop/js/main.js", "shop/img/hero.jpg", "favicon.png", "admin/css/base.css"] {
                match m["paths"][name].as_str() {
                    Some(hashed) if dist.join("staticfiles").join(hashed).is_file() => {}
                    other => problems.push(format!("staticfiles.json paths[{name}] = {other:?}, not a file of STATIC_ROOT")),
                }
            }
        }
    }
    assert!(problems.is_empty(), "kiln's dist of a Django site:\n{}", problems.join("\n"));
    assert_checked_enough(&served, "kiln's Django dist", pages.len(), 20, 10, &["main", "util", "products"]);
}

/// The control: Django's own collectstatic crashes on the url() inside a CSS comment (ticket
/// 21080, so the fixture really has it); without that comment its output passes the same check.
#[test]
fn django_collectstatic_crashes_on_the_css_comment_and_passes_the_check_without_it() {
    let Some(py) = framework_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (site, pages) = new_django_site(&py, tmp.path());
    let collect = || run(Command::new(&py).args(["manage.py", "collectstatic", "--noinput"]).current_dir(&site).env("DJANGO_DEBUG", "false"));
    let o = collect();
    assert!(!o.status.success(), "collectstatic no longer fails on a url() in a CSS comment (Django fixed ticket 21080?)");
    assert!(stderr(&o).contains("shop/css/missing.png"), "collectstatic failed for another reason:\n{}", stderr(&o));

    let css = site.join("shop/static/shop/css/site.css");
    let text = fs::read_to_string(&css).unwrap();
    assert!(text.contains("url(missing.png)"));
    fs::write(&css, text.replace("url(missing.png)", "a missing sprite")).unwrap();
    let o = collect();
    assert!(o.status.success(), "collectstatic failed:\n{}", stderr(&o));
    let served = serve_and_check(&py, "django", &site, &pages, &["--versioned", DJANGO_VERSIONED]);
    assert!(served.ok, "collectstatic's own output fails the check (the harness, not kiln, is wrong):\n{}", served.report);
    assert_checked_enough(&served, "collectstatic's output", pages.len(), 20, 10, &["main", "util", "products"]);
}

// ---------------------------------------------------------------------------------------------
// Assetman (pyassetman 0.3.0rc5)

/// bench/gen_assetman.py's project (25 templates, 50 blocks, 290 static files) at `dir`.
fn gen_assetman(py: &Path, dir: &Path) {
    let o = run(Command::new(py).arg(repo().join("bench/gen_assetman.py")).arg(dir).env("PYTHONDONTWRITEBYTECODE", "1"));
    assert!(o.status.success(), "bench/gen_assetman.py failed:\n{}", stderr(&o));
}

fn assetman_compile(proj: &Path) -> Output {
    run(Command::new(bin("kiln")).current_dir(proj).args([
        "assetman-compile",
        "--output_dir=out",
        "--static_url_prefix=/s/",
        "--template_dir=templates",
        "--static_dir=static",
    ]))
}

/// Renders the project's templates with pyassetman's runtime over `out`'s manifest.json.
fn assetman_render(py: &Path, proj: &Path, out: &Path) -> (Output, Value) {
    let o = run(framework_tool(py, "assetman_render.py").arg(proj.join("templates")).arg(proj.join("static")).arg(out));
    assert!(matches!(o.status.code(), Some(0 | 1)), "assetman_render.py could not run:\n{}", stderr(&o));
    let j = json_out(&o, "assetman_render.py");
    (o, j)
}

/// kiln's compiled output for the generated project, compiled from two paths (same bytes).
fn compiled_project(py: &Path, tmp: &Path) -> PathBuf {
    let (a, b) = (tmp.join("proj"), tmp.join("second/path/proj"));
    gen_assetman(py, &a);
    copy_tree(&a, &b);
    for p in [&a, &b] {
        let o = assetman_compile(p);
        assert!(o.status.success(), "kiln assetman-compile in {} failed:\n{}", p.display(), stderr(&o));
    }
    assert_same_tree(&a.join("out"), &b.join("out"));
    a
}

#[test]
fn assetman_templates_render_through_pyassetmans_runtime_with_kilns_manifest() {
    let Some(py) = framework_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let proj = compiled_project(&py, tmp.path());
    let (o, j) = assetman_render(&py, &proj, &proj.join("out"));
    assert!(o.status.success(), "pyassetman 0.3.0rc5's runtime cannot render the project from kiln's manifest.json:\n{}", stderr(&o));
    assert_eq!((j["templates"].as_u64(), j["rendered"].as_u64()), (Some(25), Some(25)), "{j}");
    assert!(j["urls"].as_u64().unwrap() >= 50 && j["css_urls"].as_u64().unwrap() >= 20, "too little checked: {j}");
}

/// The harness control: the same output with its block keys as Assetman writes them (any kind
/// prefix such as `css:` removed; a no-op on a manifest that already has them) renders.
#[test]
fn assetman_render_passes_on_kilns_output_with_assetmans_block_keys() {
    let Some(py) = framework_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let proj = compiled_project(&py, tmp.path());
    let out = tmp.path().join("out-assetman-keys");
    copy_tree(&proj.join("out"), &out);
    let mut m: Value = serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let blocks = m["blocks"].as_object().unwrap().clone();
    m["blocks"] = blocks.into_iter().map(|(k, v)| (k.rsplit(':').next().unwrap().to_string(), v)).collect();
    fs::write(out.join("manifest.json"), serde_json::to_vec(&m).unwrap()).unwrap();
    let (o, j) = assetman_render(&py, &proj, &out);
    assert!(o.status.success(), "the renderer fails on Assetman-keyed blocks (the harness is wrong):\n{}", stderr(&o));
    assert_eq!(j["rendered"].as_u64(), Some(25), "{j}");
    assert!(j["urls"].as_u64().unwrap() >= 50 && j["css_urls"].as_u64().unwrap() >= 20, "too little checked: {j}");
}

// ---------------------------------------------------------------------------------------------
// The checked-in examples: examples/asok-blog (asok create + grown) and examples/django-site
// (startproject + startapp + grown, by tests/frameworks/django_site.py).

#[test]
fn example_asok_blog_from_kilns_dist_is_served_by_asok() {
    let Some(py) = framework_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("asok-blog");
    copy_tree(&repo().join("examples/asok-blog"), &app);
    let dist = build_twice(&py, &app, tmp.path()).unwrap_or_else(|e| panic!("{e}"));
    assert!(!dist.join(".env").exists(), "kiln's dist ships examples/asok-blog/.env (its SECRET_KEY)");
    let pages = ["/", "/posts", "/about"].map(String::from);
    let served = serve_and_check(&py, "asok", &dist, &pages, &[]);
    assert!(served.ok, "kiln's dist of examples/asok-blog, served by asok 0.8.0 (DEBUG=false), fails:\n{}", served.report);
    assert_checked_enough(&served, "kiln's asok-blog dist", pages.len(), 10, 3, &["base", "reading"]);
}

#[test]
fn example_django_site_from_kilns_dist_is_served_by_django() {
    let Some(py) = framework_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("django-site");
    copy_tree(&repo().join("examples/django-site"), &site);
    let dist = build_twice(&py, &site, tmp.path()).unwrap_or_else(|e| panic!("{e}"));
    let pages = ["/", "/products/", "/about/", "/admin/login/"].map(String::from);
    let served = serve_and_check(&py, "django", &dist, &pages, &["--versioned", DJANGO_VERSIONED]);
    assert!(served.ok, "kiln's dist of examples/django-site, served by Django 5.2 (DEBUG=False, WhiteNoise), fails:\n{}", served.report);
    assert_checked_enough(&served, "kiln's django-site dist", pages.len(), 20, 10, &["main", "util", "products"]);
}

/// `kiln serve DIST --app MODULE:APP` with the frameworks' Python: the same crawl must pass
/// against kiln's preview server as against the framework's own.
fn crawl_through_kiln_serve(py: &Path, dist: &Path, app: &[&str], env: &[(&str, &str)], pages: &[&str]) -> Value {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = Command::new(bin("kiln"));
    server.arg("serve").arg(dist).args(app).args(["--port", &port.to_string(), "--quiet"]).arg("--python").arg(py).current_dir(dist);
    server.env("SECRET_KEY", SECRET_KEY).env_remove("DEBUG").envs(env.iter().copied());
    let mut child = server.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().expect("kiln serve starts");
    let base = format!("http://127.0.0.1:{port}");
    let up = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let o = up.then(|| run(framework_tool(py, "crawl.py").arg(&base).args(pages)));
    let _ = child.kill();
    let log = child.wait_with_output().map(|o| stderr(&o)).unwrap_or_default();
    let o = o.unwrap_or_else(|| panic!("kiln serve never listened on {port}:\n{log}"));
    assert!(o.status.success(), "crawl through `kiln serve {} {app:?}` fails:\n{}\nkiln serve:\n{log}", dist.display(), stderr(&o));
    json_out(&o, "crawl.py")
}

#[test]
fn kiln_serve_app_runs_the_asok_and_django_example_dists() {
    let Some(py) = framework_python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let asok = tmp.path().join("asok-dist");
    let o = kiln_build(&py, &repo().join("examples/asok-blog"), &asok);
    assert!(o.status.success(), "kiln build examples/asok-blog:\n{}", stderr(&o));
    // The summary's "in" bytes of templates are their sources' sizes (asok's live under the
    // static prefix, src/partials/html/, and are no assets: they were once counted as 0).
    let templates: usize = snapshot(&repo().join("examples/asok-blog")).iter().filter(|(k, _)| k.ends_with(".html")).map(|(_, (_, b))| b.len()).sum();
    let line = stderr(&o).lines().find(|l| l.trim_start().starts_with("templates")).map(str::to_string).unwrap_or_default();
    assert!(line.split_whitespace().nth(3) == Some(&templates.to_string()), "summary {line:?}: templates in should be {templates} bytes");
    let j = crawl_through_kiln_serve(&py, &asok, &["--app", "wsgi:app"], &[], &["/", "/posts", "/about"]);
    assert!(j["assets"].as_u64().unwrap() >= 10 && j["css_urls"].as_u64().unwrap() >= 3, "too little checked: {j}");
    let django = tmp.path().join("django-dist");
    let o = kiln_build(&py, &repo().join("examples/django-site"), &django);
    assert!(o.status.success(), "kiln build examples/django-site:\n{}", stderr(&o));
    let env = [("DJANGO_DEBUG", "false"), ("DJANGO_SECRET_KEY", SECRET_KEY)];
    // kiln serves STATIC_ROOT itself (immutable hashed names, negotiated twins); the rest is Django.
    let app = ["--app", "config.wsgi:application", "--static-dir", "staticfiles", "--prefix", "/static/"];
    let j = crawl_through_kiln_serve(&py, &django, &app, &env, &["/", "/products/", "/about/"]);
    assert!(j["assets"].as_u64().unwrap() >= 10 && j["css_urls"].as_u64().unwrap() >= 3, "too little checked: {j}");
}
