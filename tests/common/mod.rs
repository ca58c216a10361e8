//! Helpers for the integration tests: the real binaries, real trees, byte-for-byte comparisons.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn shop() -> PathBuf {
    repo().join("examples/shop")
}

/// Path of one of this crate's binaries, built in the same profile as the tests.
pub fn bin(name: &str) -> PathBuf {
    let exe = match name {
        "kiln-hash" => env!("CARGO_BIN_EXE_kiln-hash"),
        "kiln-manifest-merge" => env!("CARGO_BIN_EXE_kiln-manifest-merge"),
        "kiln-pyc-wrap" => env!("CARGO_BIN_EXE_kiln-pyc-wrap"),
        "kiln-minify" => env!("CARGO_BIN_EXE_kiln-minify"),
        "kiln-webp" => env!("CARGO_BIN_EXE_kiln-webp"),
        "kiln-dist-assemble" => env!("CARGO_BIN_EXE_kiln-dist-assemble"),
        "kiln" => env!("CARGO_BIN_EXE_kiln"),
        other => panic!("unknown binary {other}"),
    };
    PathBuf::from(exe)
}

/// Assetman's manifest key of an asset block: md5 of its paths joined by newlines.
pub fn block_key(paths: &[&str]) -> String {
    format!("{:x}", <md5::Md5 as md5::Digest>::digest(paths.join("\n").as_bytes()))
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    out
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A test that needs an external tool fails under CI=true when it is missing; on a developer
/// machine it is skipped, saying why.
pub fn require(tool: &str) -> bool {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().map(|o| o.status.success()).unwrap_or(false);
    if found {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{tool} is required by this test and is not on PATH (CI=true: missing tools fail)");
    }
    eprintln!("SKIPPED: {tool} is not on PATH (developer machine; under CI=true this fails)");
    false
}

/// Copies a tree (files and directories; symlinks as symlinks).
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from).follow_links(false).sort_by_file_name() {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(from).unwrap();
        let dest = to.join(rel);
        let ft = entry.file_type();
        if ft.is_dir() {
            fs::create_dir_all(&dest).unwrap();
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path()).unwrap(), &dest).unwrap();
        } else {
            fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// Every file under `root` (relative path → (mode, bytes)); directories by their mode too.
pub fn snapshot(root: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root).follow_links(false).sort_by_file_name() {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let meta = fs::symlink_metadata(entry.path()).unwrap();
        let mode = meta.permissions().mode() & 0o7777;
        let bytes = if meta.is_file() { fs::read(entry.path()).unwrap() } else { Vec::new() };
        if meta.is_file() || !rel.is_empty() {
            out.insert(rel, (if meta.is_dir() { 0 } else { mode }, bytes));
        }
    }
    out
}

/// Compares two trees byte for byte (and file modes), then double-checks with `diff -r`.
pub fn assert_same_tree(a: &Path, b: &Path) {
    let sa = snapshot(a);
    let sb = snapshot(b);
    let names_a: Vec<&String> = sa.keys().collect();
    let names_b: Vec<&String> = sb.keys().collect();
    assert_eq!(names_a, names_b, "file lists differ between {a:?} and {b:?}");
    for (k, va) in &sa {
        let vb = &sb[k];
        assert_eq!(va.0, vb.0, "mode of {k} differs");
        assert!(va.1 == vb.1, "bytes of {k} differ");
    }
    if require("diff") {
        let o = run(Command::new("diff").arg("-r").arg("--no-dereference").arg(a).arg(b));
        assert!(o.status.success(), "diff -r found differences:\n{}", String::from_utf8_lossy(&o.stdout));
    }
}

/// Writes a file, creating parents.
pub fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

/// Lists the files under a directory (empty when it does not exist).
pub fn files_under(dir: &Path) -> Vec<String> {
    if !dir.exists() {
        return Vec::new();
    }
    snapshot(dir).into_iter().filter(|(_, (m, _))| *m != 0).map(|(k, _)| k).collect()
}

/// Bazel tests: what a workspace copy needs (the checkout's Bazel files, the rules, the example,
/// the offline stand-ins), and where its dist is built.
pub const WS_FILES: &[&str] =
    &["WORKSPACE", "WORKSPACE.bzlmod", "MODULE.bazel", "BUILD.bazel", "Cargo.toml", "Cargo.lock", ".bazelrc", ".bazelignore"];
pub const WS_DIRS: &[&str] = &["rules", "examples", "tests/offline"];
pub const DIST: &str = "bazel-bin/examples/shop/dist";

/// Copies the checkout's Bazel workspace to `dest` and writes its .bazelrc.offline.
pub fn make_ws(dest: &Path) -> PathBuf {
    fs::create_dir_all(dest).unwrap();
    for f in WS_FILES {
        fs::copy(repo().join(f), dest.join(f)).unwrap_or_else(|e| panic!("copy {f}: {e}"));
    }
    for d in WS_DIRS {
        copy_tree(&repo().join(d), &dest.join(d));
    }
    let o = run(Command::new("sh").arg(dest.join("tests/offline/setup")));
    assert!(o.status.success(), "tests/offline/setup failed: {}", stderr(&o));
    dest.to_path_buf()
}

/// The venv with the real frameworks (tests/frameworks/requirements.txt: asok, Django +
/// WhiteNoise, pyassetman, Tornado), made by `tests/frameworks/setup` (.ci/run runs it). Its
/// python, when it is there and current; otherwise None after saying why (a developer machine),
/// or a panic under CI=true.
pub fn framework_python() -> Option<PathBuf> {
    use sha2::{Digest, Sha256};
    let venv = repo().join("target/kiln-test-cache/fwvenv");
    let python = venv.join("bin/python");
    let req = fs::read(repo().join("tests/frameworks/requirements.txt")).expect("tests/frameworks/requirements.txt");
    let want: String = Sha256::digest(&req).iter().map(|b| format!("{b:02x}")).collect();
    let stamp = fs::read_to_string(venv.join(".kiln-requirements")).unwrap_or_default();
    let problem = if !python.exists() {
        format!("{} is missing", python.display())
    } else if !stamp.trim_end().ends_with(&want) {
        format!("{} was made from another tests/frameworks/requirements.txt", venv.display())
    } else {
        return Some(python);
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{problem}: run tests/frameworks/setup (CI=true: a missing framework venv fails)");
    }
    eprintln!("SKIPPED: {problem}; run tests/frameworks/setup (developer machine; under CI=true this fails)");
    None
}

/// Runs one of the Python tools in tests/frameworks/ with the framework venv's python.
pub fn framework_tool(python: &Path, tool: &str) -> Command {
    let mut cmd = Command::new(python);
    cmd.arg(repo().join("tests/frameworks").join(tool)).env("PYTHONDONTWRITEBYTECODE", "1");
    cmd
}

/// What makes a dist of examples/asok-blog asok's layout, so that comparing two dists is not
/// comparing two empty or shop-like ones: CSS sent to the WebP (a non-converted image left as
/// is), an image's original beside its WebP, templates in place, uploads, migrations as source,
/// bytecode, and no precompressed twins.
pub fn assert_asok_blog_layout(dist: &Path) {
    let css = fs::read_to_string(dist.join("src/partials/css/base.css")).unwrap();
    assert!(css.contains("../images/cover.webp") && css.contains("../images/paper.png"), "{css}");
    let files = files_under(dist);
    for must in [
        "src/partials/images/cover.jpg",
        "src/partials/images/cover.webp",
        "src/partials/html/base.html",
        "src/pages/page.html",
        "src/partials/uploads/.gitkeep",
        "src/migrations/__init__.py",
        "wsgi.pyc",
    ] {
        assert!(files.iter().any(|f| f == must), "no {must}: {files:?}");
    }
    assert!(!files.iter().any(|k| k.ends_with(".br") || k.ends_with(".gz") || k.ends_with(".zst")), "twins in an asok dist");
}

/// nginx (Debian's is in /usr/sbin, often not on PATH), see `require`.
pub fn require_nginx() -> bool {
    Path::new("/usr/sbin/nginx").exists() || require("nginx")
}

/// nginx on 127.0.0.1 with its files under a scratch dir, stopped on drop: a WebDAV HTTP cache
/// (docs/design.md §5, [`Nginx::start`]) or a static file server ([`Nginx::serve`]).
pub struct Nginx {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl Nginx {
    /// nginx serving `dir`/store for GET and PUT on a free port of 127.0.0.1.
    pub fn start(dir: &Path) -> Nginx {
        fs::create_dir_all(dir.join("store")).unwrap();
        let store = dir.join("store");
        Nginx::launch(
            dir,
            "access_log off;",
            &format!(
                "root {};\n    location / {{\n      dav_methods PUT;\n      create_full_put_path on;\n      client_max_body_size 0;\n    }}",
                store.display()
            ),
        )
    }

    /// nginx serving the files under `root` (GET only) on a free port of 127.0.0.1, with an access
    /// log ([`Nginx::access_log`]); its own files go to `dir`.
    pub fn serve(root: &Path, dir: &Path) -> Nginx {
        let http =
            format!("access_log {}/access.log;\n  types {{ text/x-nix-narinfo narinfo; }}\n  default_type application/octet-stream;", dir.display());
        Nginx::launch(dir, &http, &format!("root {};", root.display()))
    }

    /// What was requested so far (only with [`Nginx::serve`]).
    pub fn access_log(&self) -> String {
        fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }

    /// nginx with `http` directives and a `server` block on a free port, once it listens.
    fn launch(dir: &Path, http: &str, server: &str) -> Nginx {
        let exe = ["/usr/sbin/nginx", "/usr/bin/nginx"].iter().map(PathBuf::from).find(|p| p.exists()).unwrap_or_else(|| PathBuf::from("nginx"));
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let d = dir.display();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  {http}\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             \x20 server {{\n    listen 127.0.0.1:{port};\n    {server}\n  }}\n}}\n"
        );
        fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = Command::new(&exe)
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        let mut n = Nginx { child, port, dir: dir.to_path_buf() };
        let t = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = n.child.try_wait() {
                panic!("nginx exited ({status}): {}", fs::read_to_string(dir.join("error.log")).unwrap_or_default());
            }
            assert!(t.elapsed() < Duration::from_secs(10), "nginx does not listen on 127.0.0.1:{port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        n
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmd` as the leader of its own process group, so that [`kill_group`] also stops what it
/// starts (a server's worker processes).
pub fn spawn_group(cmd: &mut Command) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0).spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"))
}

/// Kills the process group a [`spawn_group`] child leads (TERM, then KILL), and reaps the child.
pub fn kill_group(child: &mut std::process::Child) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
    for _ in 0..50 {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
    let _ = child.kill();
    let _ = child.wait();
}

/// The path of the first stylesheet under `/s/` that an HTML page links (quoted or not).
pub fn first_static_css(page: &str) -> Option<String> {
    page.match_indices("/s/").find_map(|(i, _)| {
        let rest = &page[i..];
        let end = rest.find(|c: char| c == '"' || c == '\'' || c == '>' || c.is_whitespace()).unwrap_or(rest.len());
        let url = &rest[..end];
        url.ends_with(".css").then(|| url.to_string())
    })
}

/// The port a server announced in its first line on stdout (`… http://127.0.0.1:PORT/ …`).
pub fn announced_port(first_line: &str) -> Option<u16> {
    first_line.split("http://127.0.0.1:").nth(1).and_then(|r| r.split('/').next()).and_then(|p| p.parse().ok())
}

/// One `GET path` to 127.0.0.1:port on its own connection: the whole response, as text.
pub fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}
