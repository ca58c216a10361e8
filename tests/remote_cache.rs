//! `kiln build --remote-cache`: Bazel's HTTP remote-cache protocol against nginx's WebDAV module
//! (the cache the Bazel tests run) and, for the faults nginx cannot be made to show, a small
//! in-process server. A build from one clone fills the cache; a fresh clone elsewhere, with an
//! empty local cache, builds the same bytes from it with no unit rebuilt. A server that goes
//! away, answers 500, answers too slowly or holds a corrupt blob costs exactly one warning line,
//! never the build, and never a byte of the dist.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

/// A clone of examples/shop at `dir`/`at`, as a fresh checkout is: no dist, no local cache.
fn clone_at(dir: &Path, at: &str) -> PathBuf {
    let to = dir.join(at);
    copy_tree(&shop(), &to);
    to
}

/// `kiln build` of the clone `src` into `src`/../dist (its local cache beside it), with `extra`.
fn build(src: &Path, extra: &[&str]) -> Output {
    let out = src.parent().unwrap().join("dist");
    run(Command::new(bin("kiln"))
        .arg("build")
        .arg(src)
        .arg("-o")
        .arg(&out)
        .args(["--quiet", "--explain"])
        .args(extra)
        .env_remove("IMAGE_OPTIMIZATION")
        .env_remove("KILN_REMOTE_CACHE"))
}

fn ok(o: &Output) -> String {
    let err = stderr(o);
    assert!(o.status.success(), "kiln build failed ({:?}):\n{err}", o.status.code());
    err
}

fn warnings(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.contains("warning")).collect()
}

/// (units reused, units, of them from the remote cache) from the summary.
fn units(text: &str) -> (usize, usize, usize) {
    let line = text.lines().find(|l| l.contains("units reused from the cache")).unwrap_or_else(|| panic!("no summary:\n{text}"));
    let inner = &line[line.find('(').unwrap() + 1..];
    let words: Vec<&str> = inner.split_whitespace().collect();
    let remote = inner.find(", ").map(|i| inner[i + 2..].split_whitespace().next().unwrap().parse().unwrap()).unwrap_or(0);
    (words[0].parse().unwrap(), words[2].parse().unwrap(), remote)
}

fn rebuilt(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("rebuilt ")).collect()
}

/// The dist a build without any remote cache makes of a clone at yet another path.
fn reference(dir: &Path) -> PathBuf {
    let src = clone_at(dir, "reference/shop");
    ok(&build(&src, &["--no-cache"]));
    dir.join("reference/dist")
}

fn dist(src: &Path) -> PathBuf {
    src.parent().unwrap().join("dist")
}

#[test]
fn a_fresh_clone_builds_from_the_nginx_cache_with_no_unit_rebuilt() {
    if !require_nginx() {
        return;
    }
    let dir = tempfile::Builder::new().prefix("kiln-remote-").tempdir().unwrap();
    let nginx = Nginx::start(&dir.path().join("nginx"));
    let url = format!("http://127.0.0.1:{}", nginx.port);
    let store = dir.path().join("nginx/store");
    let want = reference(dir.path());

    // One clone fills the cache.
    let first = clone_at(dir.path(), "ci/one/shop");
    let text = ok(&build(&first, &["--remote-cache", &url]));
    assert!(warnings(&text).is_empty(), "{text}");
    let (_, n, remote) = units(&text);
    assert_eq!(remote, 0, "{text}");
    assert_same_tree(&want, &dist(&first));
    let stored = files_under(&store);
    assert!(stored.iter().filter(|f| f.starts_with("ac/")).count() > n, "one entry per unit and one for the build: {stored:?}");
    assert!(stored.iter().any(|f| f.starts_with("cas/")), "{stored:?}");

    // A fresh clone at another path, with an empty local cache: every unit from the remote cache.
    let fresh = clone_at(dir.path(), "laptop/elsewhere/shop");
    let text = ok(&build(&fresh, &["--remote-cache", &format!("{url}/")]));
    assert!(warnings(&text).is_empty(), "{text}");
    assert_eq!(units(&text), (n, n, n), "every unit reused, all from the remote cache:\n{text}");
    assert!(rebuilt(&text).is_empty(), "{text}");
    let from_remote = text.lines().filter(|l| l.starts_with("from the remote cache: ")).count();
    assert_eq!(from_remote, n, "--explain names each unit that came from the remote cache:\n{text}");
    assert_same_tree(&want, &dist(&fresh));
    assert_eq!(files_under(&store), stored, "nothing was uploaded: the cache held it all");
    // Its local cache is filled too (the pack, as one file): the next build is a local
    // no-change one, and after an edit only the units downstream of it are rebuilt.
    assert!(fresh.parent().unwrap().join(".kiln-cache/dist/pack").is_file());
    let text = ok(&build(&fresh, &["--remote-cache", &url]));
    assert_eq!(units(&text), (n, n, 0), "{text}");
    let edited = fresh.join("src/partials/css/base.css");
    std::fs::write(&edited, std::fs::read_to_string(&edited).unwrap() + "\n.local-edit{color:blue}\n").unwrap();
    let text = ok(&build(&fresh, &[]));
    let (reused, n_local, remote) = units(&text);
    assert_eq!(remote, 0, "{text}");
    assert!(!rebuilt(&text).is_empty() && reused + rebuilt(&text).len() == n_local && reused > n_local / 2, "{text}");

    // A change on a branch: only the units downstream of it are built; the others come from
    // the cache unit by unit. A read-only client uploads nothing.
    let branch = clone_at(dir.path(), "branch/shop");
    let css = files_under(&branch.join("src")).into_iter().find(|f| f.ends_with(".css")).expect("a stylesheet in the shop");
    let path = branch.join("src").join(&css);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"\n.remote-cache-test{color:red}\n");
    std::fs::write(&path, bytes).unwrap();
    let text = ok(&build(&branch, &["--remote-cache", &url, "--remote-cache-upload=false"]));
    assert!(warnings(&text).is_empty(), "{text}");
    let (reused, n2, remote) = units(&text);
    assert_eq!(reused, remote, "{text}");
    assert!(!rebuilt(&text).is_empty() && rebuilt(&text).len() < n2 / 2, "only what the stylesheet changes is rebuilt:\n{text}");
    let name = Path::new(&css).file_name().unwrap().to_str().unwrap();
    assert!(rebuilt(&text).iter().any(|l| l.contains(name)), "{text}");
    assert_eq!(files_under(&store), stored, "--remote-cache-upload=false uploads nothing");
    drop(nginx);
}

#[test]
fn a_corrupt_blob_is_refused_rebuilt_and_uploaded_again() {
    if !require_nginx() {
        return;
    }
    let dir = tempfile::Builder::new().prefix("kiln-remote-").tempdir().unwrap();
    let nginx = Nginx::start(&dir.path().join("nginx"));
    let url = format!("http://127.0.0.1:{}", nginx.port);
    let store = dir.path().join("nginx/store");
    let want = reference(dir.path());
    let first = clone_at(dir.path(), "one/shop");
    ok(&build(&first, &["--remote-cache", &url]));

    // The build's pack (the largest blob) and one unit's blob no longer match their names.
    let mut blobs: Vec<(u64, PathBuf)> =
        files_under(&store.join("cas")).into_iter().map(|f| store.join("cas").join(f)).map(|p| (std::fs::metadata(&p).unwrap().len(), p)).collect();
    blobs.sort();
    let (_, pack) = blobs.pop().unwrap();
    let (_, unit_blob) = blobs.pop().unwrap();
    for p in [&pack, &unit_blob] {
        let mut b = std::fs::read(p).unwrap();
        b[0] ^= 0xff;
        std::fs::write(p, b).unwrap();
    }

    let second = clone_at(dir.path(), "two/shop");
    let text = ok(&build(&second, &["--remote-cache", &url]));
    let w = warnings(&text);
    assert_eq!(w.len(), 1, "one warning line:\n{text}");
    assert!(w[0].contains("does not match its digest"), "{text}");
    let (reused, n, remote) = units(&text);
    assert!(
        !rebuilt(&text).is_empty() && reused == remote && reused + rebuilt(&text).len() == n,
        "the unit of the bad blob is rebuilt, the others come from the cache:\n{text}"
    );
    assert_same_tree(&want, &dist(&second));

    // Both were uploaded again: the next fresh clone rebuilds nothing and warns of nothing.
    let third = clone_at(dir.path(), "three/shop");
    let text = ok(&build(&third, &["--remote-cache", &url]));
    assert!(warnings(&text).is_empty(), "{text}");
    assert_eq!(units(&text), (n, n, n), "{text}");
    assert_same_tree(&want, &dist(&third));
    drop(nginx);
}

#[test]
fn a_cache_that_is_down_is_one_warning() {
    let dir = tempfile::Builder::new().prefix("kiln-remote-").tempdir().unwrap();
    let want = reference(dir.path());
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let src = clone_at(dir.path(), "one/shop");
    let text = ok(&build(&src, &["--remote-cache", &format!("http://127.0.0.1:{port}")]));
    let w = warnings(&text);
    assert_eq!(w.len(), 1, "{text}");
    assert!(w[0].contains(&format!("remote cache http://127.0.0.1:{port}")) && w[0].contains("built locally"), "{text}");
    assert_same_tree(&want, &dist(&src));
}

#[test]
fn a_cache_stopped_mid_build_is_one_warning() {
    let dir = tempfile::Builder::new().prefix("kiln-remote-").tempdir().unwrap();
    let want = reference(dir.path());
    let server = TestServer::start(Fault::None);
    let first = clone_at(dir.path(), "one/shop");
    let text = ok(&build(&first, &["--remote-cache", &server.url()]));
    assert!(warnings(&text).is_empty(), "{text}");

    // The server answers the build's entry, then goes away before the pack.
    server.set(Fault::StopAfter(server.requests() + 1));
    let second = clone_at(dir.path(), "two/shop");
    let text = ok(&build(&second, &["--remote-cache", &server.url()]));
    assert_eq!(warnings(&text).len(), 1, "{text}");
    assert_same_tree(&want, &dist(&second));

    // A cold build during which the server stops answering.
    let server = TestServer::start(Fault::StopAfter(20));
    let third = clone_at(dir.path(), "three/shop");
    let text = ok(&build(&third, &["--remote-cache", &server.url()]));
    assert_eq!(warnings(&text).len(), 1, "{text}");
    assert!(server.requests() > 20, "the server went away during the build");
    assert_same_tree(&want, &dist(&third));
}

#[test]
fn a_500_on_put_is_one_warning() {
    let dir = tempfile::Builder::new().prefix("kiln-remote-").tempdir().unwrap();
    let want = reference(dir.path());
    let server = TestServer::start(Fault::PutFails);
    let src = clone_at(dir.path(), "one/shop");
    let text = ok(&build(&src, &["--remote-cache", &server.url()]));
    let w = warnings(&text);
    assert_eq!(w.len(), 1, "{text}");
    assert!(w[0].contains("HTTP 500"), "{text}");
    assert_same_tree(&want, &dist(&src));
}

#[test]
fn a_server_slower_than_the_timeout_is_one_warning_and_one_timeout() {
    let dir = tempfile::Builder::new().prefix("kiln-remote-").tempdir().unwrap();
    let want = reference(dir.path());
    // Far slower than any build, so a build that waited for one answer is told apart from one that
    // gave up after its first timeout by a bound no loaded CI machine comes near.
    let server = TestServer::start(Fault::Slow(Duration::from_secs(120)));
    let src = clone_at(dir.path(), "one/shop");
    let started = Instant::now();
    let text = ok(&build(&src, &["--remote-cache", &server.url(), "--remote-cache-timeout", "0.5"]));
    let took = started.elapsed();
    let w = warnings(&text);
    assert_eq!(w.len(), 1, "{text}");
    assert!(w[0].contains("no answer within 0.5 s"), "{text}");
    assert!(took < Duration::from_secs(60), "the build waited for the slow server ({took:?}):\n{text}");
    assert_same_tree(&want, &dist(&src));
}

#[test]
fn the_url_comes_from_the_command_line_then_the_environment_then_pyproject() {
    let dir = tempfile::Builder::new().prefix("kiln-remote-").tempdir().unwrap();
    let server = TestServer::start(Fault::None);
    let src = clone_at(dir.path(), "one/shop");
    std::fs::write(src.join("pyproject.toml"), format!("[tool.kiln]\nremote_cache = \"{}\"\nremote_cache_upload = false\n", server.url())).unwrap();
    ok(&build(&src, &[]));
    let from_file = server.requests();
    assert!(from_file > 0, "[tool.kiln] remote_cache is used");
    assert_eq!(server.puts(), 0, "[tool.kiln] remote_cache_upload = false");

    let other = TestServer::start(Fault::None);
    std::fs::write(src.join("src/extra.js"), "var x = 1;\n").unwrap();
    let o = run(Command::new(bin("kiln"))
        .arg("build")
        .arg(&src)
        .arg("-o")
        .arg(dist(&src))
        .arg("--quiet")
        .env("KILN_REMOTE_CACHE", other.url())
        .env_remove("IMAGE_OPTIMIZATION"));
    ok(&o);
    assert!(other.requests() > 0 && server.requests() == from_file, "KILN_REMOTE_CACHE wins over [tool.kiln]");

    std::fs::write(src.join("src/extra.js"), "var x = 2;\n").unwrap();
    let third = TestServer::start(Fault::None);
    let before = other.requests();
    let o = run(Command::new(bin("kiln"))
        .arg("build")
        .arg(&src)
        .arg("-o")
        .arg(dist(&src))
        .args(["--quiet", "--remote-cache", &third.url()])
        .env("KILN_REMOTE_CACHE", other.url())
        .env_remove("IMAGE_OPTIMIZATION"));
    ok(&o);
    assert!(third.requests() > 0 && other.requests() == before, "--remote-cache wins over KILN_REMOTE_CACHE");

    let o = build(&src, &["--remote-cache", "https://cache.example"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("only http://"), "{}", stderr(&o));
}

/// What the test server does wrong.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// Answers this many requests, then closes every connection without answering.
    StopAfter(usize),
    /// Every PUT is a 500.
    PutFails,
    /// Every answer comes this late.
    Slow(Duration),
}

#[derive(Default)]
struct State {
    store: HashMap<String, Vec<u8>>,
    requests: usize,
    puts: usize,
}

/// A cache server of Bazel's HTTP protocol in memory (GET, PUT), with a fault.
struct TestServer {
    port: u16,
    state: Arc<Mutex<State>>,
    fault: Arc<Mutex<Fault>>,
}

impl TestServer {
    fn start(fault: Fault) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let fault = Arc::new(Mutex::new(fault));
        let (s, f) = (state.clone(), fault.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (s, f) = (s.clone(), f.clone());
                std::thread::spawn(move || serve(stream, &s, &f));
            }
        });
        TestServer { port, state, fault }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    fn requests(&self) -> usize {
        self.state.lock().unwrap().requests
    }

    fn puts(&self) -> usize {
        self.state.lock().unwrap().puts
    }
}

/// One connection: requests until the client closes it (or the fault does).
fn serve(stream: TcpStream, state: &Mutex<State>, fault: &Mutex<Fault>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").trim_start_matches('/').to_string());
        let mut length = 0;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let fault = *fault.lock().unwrap();
        let n = {
            let mut s = state.lock().unwrap();
            s.requests += 1;
            s.requests
        };
        let (status, answer) = match fault {
            Fault::StopAfter(limit) if n > limit => return,
            Fault::Slow(d) => {
                std::thread::sleep(d);
                ("404 Not Found", Vec::new())
            }
            Fault::PutFails if method == "PUT" => ("500 Internal Server Error", Vec::new()),
            _ if method == "PUT" => {
                let mut s = state.lock().unwrap();
                s.puts += 1;
                s.store.insert(path, body);
                ("200 OK", Vec::new())
            }
            _ => match state.lock().unwrap().store.get(&path) {
                Some(b) => ("200 OK", b.clone()),
                None => ("404 Not Found", Vec::new()),
            },
        };
        let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n", answer.len());
        if out.write_all(head.as_bytes()).and_then(|_| out.write_all(&answer)).is_err() {
            return;
        }
    }
}
