//! `kiln serve` over real HTTP on 127.0.0.1: a dist of examples/shop made with the real tools
//! (kiln-hash --compress, kiln-manifest-merge, kiln-pyc-wrap; plus two asset blocks written here
//! until kiln-hash --block lands), requested with a small std::net client that sends bytes
//! exactly as written (curl would normalize `..` away).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use kiln::manifest::{self, BlockEntry, Manifest};

// ---------------------------------------------------------------------------------------------
// the dist

const JS_BLOCK: [&str; 2] = ["js/util.js", "js/cart.js"];
const CSS_BLOCK: [&str; 2] = ["css/base.css", "css/shop.css"];

/// The shared dist (built once per test run; tests that change it work on a copy).
fn dist() -> &'static Path {
    static DIST: OnceLock<PathBuf> = OnceLock::new();
    DIST.get_or_init(|| {
        let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve-test");
        let _ = fs::remove_dir_all(&work);
        build_dist(&work);
        work.join("dist")
    })
}

fn tool(name: &str, args: &[&str]) {
    let o = run(Command::new(bin(name)).args(args));
    assert!(o.status.success(), "{name} {args:?} failed:\n{}", stderr(&o));
}

fn build_dist(work: &Path) {
    let d = work.join("dist");
    let s = d.join("src/partials");
    let partials = shop().join("src/partials");
    let static_json = work.join("static.json");
    tool("kiln-hash", &["--root", p(&partials), "--all", "--compress", "-o", p(&s), "--partial", p(&static_json)]);
    let statics = manifest::parse("static.json", &fs::read(&static_json).unwrap()).unwrap();

    // A compiled JS block (with a gzip twin), and a CSS block whose compiled file is missing.
    let mut blocks = Manifest::default();
    // (marked, so a test can tell the compiled block from a fallback concatenation)
    let js_bundle = "/* compiled block */\n".to_string()
        + &JS_BLOCK.iter().map(|k| fs::read_to_string(s.join(&statics.assets[*k].versioned_path)).unwrap()).collect::<Vec<_>>().join("\n;\n");
    for (kind, paths, bytes) in [("js", &JS_BLOCK, Some(js_bundle.as_bytes())), ("css", &CSS_BLOCK, None)] {
        let name = manifest::md5_hex(paths.join("\n").as_bytes());
        let deps: BTreeMap<String, String> = paths.iter().map(|k| (k.to_string(), statics.assets[*k].version.clone())).collect();
        let content = bytes.unwrap_or(b"missing");
        let version = kiln::hash::version_of(content, &deps);
        let vpath = format!("f/{name}.{}.{kind}", &version[..12]);
        let mut encodings = BTreeMap::new();
        if let Some(bytes) = bytes {
            write(&s.join(&vpath), bytes);
            for (enc, suffix, twin) in kiln::hash::compress_all(bytes, kiln::hash::Compression::Fast) {
                write(&s.join(format!("{vpath}.{suffix}")), twin);
                encodings.insert(enc.to_string(), format!("{vpath}.{suffix}"));
            }
        }
        blocks.blocks.insert(
            name,
            BlockEntry {
                version,
                versioned_path: vpath,
                integrity: kiln::hash::sri(content),
                paths: paths.iter().map(|k| k.to_string()).collect(),
                encodings,
            },
        );
    }
    let blocks_json = work.join("blocks.json");
    fs::write(&blocks_json, kiln::fsutil::stable_json(&blocks)).unwrap();
    tool("kiln-manifest-merge", &["-o", p(&d.join("manifest.json")), p(&static_json), p(&blocks_json)]);

    // The app: sourceless .pyc (migrations as source) and the templates.
    let mut py: Vec<String> = Vec::new();
    for e in walkdir::WalkDir::new(shop()).sort_by_file_name() {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(shop()).unwrap().to_string_lossy().into_owned();
        if rel.ends_with(".py") && !rel.starts_with("venv/") && !rel.starts_with("node_modules/") && !rel.starts_with("tests/") {
            py.push(e.path().to_string_lossy().into_owned());
        }
    }
    let shop_root = shop();
    let mut args = vec!["--python", "python3", "--root", p(&shop_root), "--exclude", "src/migrations/**", "-o", p(&d)];
    args.extend(py.iter().map(String::as_str));
    if Command::new("python3").arg("--version").output().is_ok() {
        tool("kiln-pyc-wrap", &args);
    }
    copy_tree(&shop().join("src/templates"), &d.join("src/templates"));
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn manifest() -> Manifest {
    manifest::parse("manifest.json", &fs::read(dist().join("manifest.json")).unwrap()).unwrap()
}

fn block(kind: &str) -> (String, BlockEntry) {
    let m = manifest();
    let (k, b) = m.blocks.iter().find(|(_, b)| b.versioned_path.ends_with(&format!(".{kind}"))).unwrap();
    (k.clone(), b.clone())
}

/// `f:a:b` lookups keys of the block's paths.
fn lookup_keys(paths: &[&str]) -> String {
    let m = manifest();
    paths.iter().map(|p| m.lookups.iter().find(|(_, v)| v == p).unwrap().0.clone()).collect::<Vec<_>>().join(":")
}

fn static_file(rel: &str) -> Vec<u8> {
    fs::read(dist().join("src/partials").join(rel)).unwrap()
}

// ---------------------------------------------------------------------------------------------
// the server and a raw client

struct Server {
    child: Child,
    addr: SocketAddr,
    /// The first line it printed.
    banner: String,
}

impl Server {
    fn start(dist: &Path, args: &[&str]) -> Server {
        Server::start_env(dist, args, &[])
    }

    fn start_env(dist: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(bin("kiln"));
        cmd.arg("serve").arg(dist).args(["--port", "0", "--quiet"]).args(args);
        cmd.env("PYTHONDONTWRITEBYTECODE", "1").stdout(Stdio::piped()).stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("kiln serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.split("http://").nth(1).and_then(|r| r.split('/').next()).and_then(|a| a.parse().ok()).unwrap_or_else(|| {
            let _ = child.kill();
            panic!("no address in kiln serve's first line: {line:?}")
        });
        Server { child, addr, banner: line }
    }

    fn get(&self, path: &str) -> Reply {
        self.get_with(path, &[])
    }

    fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.request("GET", path, headers)
    }

    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        self.raw(req.as_bytes())
    }

    fn raw(&self, bytes: &[u8]) -> Reply {
        raw_at(self.addr, bytes)
    }
}

/// One request, sent as written, on its own connection.
fn raw_at(addr: SocketAddr, bytes: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    Reply::parse(&out).unwrap_or_else(|| panic!("no HTTP response to {:?}: {:?}", String::from_utf8_lossy(bytes), String::from_utf8_lossy(&out)))
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    /// One response; the body runs to Content-Length (else to the end).
    fn parse(raw: &[u8]) -> Option<Reply> {
        Reply::parse_one(raw).map(|(r, _)| r)
    }

    fn parse_one(raw: &[u8]) -> Option<(Reply, usize)> {
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&raw[..end]).ok()?;
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> =
            lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string())).collect();
        let rest = &raw[end + 4..];
        let len = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok());
        let bodyless = status == 304 || status == 204;
        let n = if bodyless { 0 } else { len.unwrap_or(rest.len()).min(rest.len()) };
        Some((Reply { status, headers, body: rest[..n].to_vec() }, end + 4 + n))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

// ---------------------------------------------------------------------------------------------
// the URL forms

#[test]
fn serves_the_three_url_forms_and_versioned_filenames() {
    let m = manifest();
    let srv = Server::start(dist(), &[]);
    let shop_css = &m.assets["css/shop.css"];
    let bytes = static_file(&shop_css.versioned_path);
    let etag = format!("\"{}\"", shop_css.version);

    // 1. unversioned: the current file, revalidated every time
    let r = srv.get("/s/css/shop.css");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, bytes);
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(srv.get("/s/css/shop.css?x=1#frag").body, bytes, "the query is ignored");

    // 2. v:{version}/{path}: exactly that version, or 404
    let r = srv.get(&format!("/s/v:{}/css/shop.css", shop_css.version));
    assert_eq!((r.status, r.header("cache-control")), (200, Some(IMMUTABLE)));
    assert_eq!((r.body.as_slice(), r.header("etag")), (bytes.as_slice(), Some(etag.as_str())));
    let stale = m.assets["css/base.css"].version.clone();
    for wrong in [stale.as_str(), &shop_css.version[..12], "0", ""] {
        let r = srv.get(&format!("/s/v:{wrong}/css/shop.css"));
        assert_eq!(r.status, 404, "version {wrong:?} must not serve the current file");
        assert!(!r.body.starts_with(b"@import"));
    }
    assert_eq!(srv.get(&format!("/s/v:{}/css/nope.css", shop_css.version)).status, 404);

    // filename-style versioned path, served directly
    let r = srv.get(&format!("/s/{}", shop_css.versioned_path));
    assert_eq!((r.status, r.header("cache-control"), r.body == bytes), (200, Some(IMMUTABLE), true));

    // 3. v:{version}/f:{a:b}/{namehash}.js: the compiled block
    let (name, js) = block("js");
    let url = format!("/s/v:{}/f:{}/{name}.js", js.version, lookup_keys(&JS_BLOCK));
    let r = srv.get(&url);
    assert_eq!((r.status, r.header("cache-control")), (200, Some(IMMUTABLE)), "{url}");
    assert_eq!(r.body, static_file(&js.versioned_path));
    assert_eq!(r.header("etag"), Some(format!("\"{}\"", js.version).as_str()));
    assert_eq!(r.header("content-type"), Some("text/javascript; charset=utf-8"));
    assert_eq!(r.header("x-kiln-fallback"), None);
    assert_eq!(srv.get(&format!("/s/{}", js.versioned_path)).header("cache-control"), Some(IMMUTABLE));

    // every kind of file the shop has, with its type
    for (key, ct) in [("img/hero.jpg", "image/jpeg"), ("img/logo.png", "image/png"), ("js/cart.js", "text/javascript; charset=utf-8")] {
        let e = &m.assets[key];
        let r = srv.get(&format!("/s/{}", e.versioned_path));
        assert_eq!((r.status, r.header("content-type")), (200, Some(ct)), "{key}");
        assert_eq!(r.body, static_file(&e.versioned_path), "{key}");
    }

    // HEAD: the same headers, no body; other methods are refused
    let r = srv.request("HEAD", "/s/css/shop.css", &[]);
    assert_eq!((r.status, r.header("content-length")), (200, Some(bytes.len().to_string().as_str())));
    assert!(r.body.is_empty());
    let r = srv.request("POST", "/s/css/shop.css", &[("Content-Length", "0")]);
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));

    // unknown paths, the bare prefix, and (without --app) everything outside it
    for path in ["/s/nope.css", "/s/", "/s", "/", "/manifest.json", "/s/manifest.json", "/s/f/"] {
        assert_eq!(srv.get(path).status, 404, "{path}");
    }
}

#[test]
fn if_none_match_gives_304() {
    let m = manifest();
    let srv = Server::start(dist(), &[]);
    let e = &m.assets["js/catalog.js"];
    for path in [format!("/s/{}", e.versioned_path), format!("/s/v:{}/js/catalog.js", e.version), "/s/js/catalog.js".to_string()] {
        let first = srv.get(&path);
        let tag = first.header("etag").unwrap().to_string();
        for inm in [tag.clone(), format!("W/{tag}"), format!("\"other\", {tag}"), "*".to_string()] {
            let r = srv.get_with(&path, &[("If-None-Match", &inm)]);
            assert_eq!(r.status, 304, "{path} with If-None-Match: {inm}");
            assert!(r.body.is_empty());
            assert_eq!(r.header("etag"), Some(tag.as_str()));
            assert_eq!(r.header("cache-control"), first.header("cache-control"));
            assert_eq!(r.header("content-length"), None);
        }
        // A tag from a gzip response revalidates the identity one too (same version).
        let gz_tag = srv.get_with(&path, &[("Accept-Encoding", "gzip")]).header("etag").unwrap().to_string();
        assert_ne!(gz_tag, tag, "each encoding has its own strong ETag");
        assert_eq!(srv.get_with(&path, &[("If-None-Match", &gz_tag)]).status, 304);
        for other in ["\"0123\"", &format!("\"{}\"", &e.version[..12])] {
            assert_eq!(srv.get_with(&path, &[("If-None-Match", other)]).status, 200, "{other}");
        }
    }
}

#[test]
fn precompressed_twins_by_accept_encoding() {
    let m = manifest();
    let srv = Server::start(dist(), &[]);
    let e = &m.assets["js/catalog.js"];
    assert_eq!(e.encodings.len(), 3, "the dist has br, gzip and zstd twins: {e:?}");
    let plain = static_file(&e.versioned_path);
    let url = format!("/s/{}", e.versioned_path);
    let decode = |enc: &str, body: &[u8]| -> Vec<u8> {
        let mut out = Vec::new();
        match enc {
            "br" => {
                brotli::BrotliDecompress(&mut &body[..], &mut out).unwrap();
            }
            "gzip" => {
                flate2::read::GzDecoder::new(body).read_to_end(&mut out).unwrap();
            }
            "zstd" => out = zstd::decode_all(body).unwrap(),
            other => panic!("{other}"),
        }
        out
    };
    for (accept, want) in [
        ("gzip, deflate, br, zstd", Some("br")),
        ("gzip", Some("gzip")),
        ("zstd", Some("zstd")),
        ("br;q=0.1, gzip;q=0.9, zstd;q=0.5", Some("gzip")),
        ("gzip;q=0.5, zstd;q=0.8", Some("zstd")),
        ("br;q=0, gzip;q=0", None),
        ("*;q=0.5, identity", None),
        ("identity", None),
        ("deflate", None),
        ("*", Some("br")),
    ] {
        let r = srv.get_with(&url, &[("Accept-Encoding", accept)]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-encoding"), want, "Accept-Encoding: {accept}");
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
        assert_eq!(r.header("content-type"), Some("text/javascript; charset=utf-8"));
        let body = match want {
            Some(enc) => {
                assert!(r.body.len() < plain.len(), "{enc} twin is smaller");
                decode(enc, &r.body)
            }
            None => r.body.clone(),
        };
        assert_eq!(body, plain, "Accept-Encoding: {accept}");
    }
    assert_eq!(srv.get(&url).header("content-encoding"), None, "no Accept-Encoding: identity");
    // The unversioned and v: forms and the compiled block negotiate too.
    let (name, js) = block("js");
    for url in [
        "/s/js/catalog.js".to_string(),
        format!("/s/v:{}/js/catalog.js", e.version),
        format!("/s/v:{}/f:{}/{name}.js", js.version, lookup_keys(&JS_BLOCK)),
    ] {
        let r = srv.get_with(&url, &[("Accept-Encoding", "gzip")]);
        assert_eq!(r.header("content-encoding"), Some("gzip"), "{url}");
        assert!(!decode("gzip", &r.body).is_empty());
    }
    // Images have no twins: no Content-Encoding, no Vary.
    let r = srv.get_with(&format!("/s/{}", m.assets["img/hero.jpg"].versioned_path), &[("Accept-Encoding", "gzip, br")]);
    assert_eq!((r.header("content-encoding"), r.header("vary")), (None, None));
}

// ---------------------------------------------------------------------------------------------
// path safety

#[test]
fn traversal_attempts_are_404() {
    let work = tempfile::tempdir().unwrap();
    let d = work.path().join("dist");
    copy_tree(dist(), &d);
    let secret = work.path().join("secret.txt");
    fs::write(&secret, "TOP SECRET").unwrap();
    fs::write(d.join(".env.production"), "DEBUG=false SECRET_IN_DIST").unwrap();
    let partials = d.join("src/partials");
    std::os::unix::fs::symlink(&secret, partials.join("leak.txt")).unwrap();
    std::os::unix::fs::symlink(work.path(), partials.join("up")).unwrap();
    std::os::unix::fs::symlink("/etc", partials.join("etc")).unwrap();
    fs::write(partials.join(".hidden.txt"), "hidden").unwrap();
    let target = m_path("css/base.css");
    std::os::unix::fs::symlink(partials.join(&target), partials.join("inside.css")).unwrap();
    let srv = Server::start(&d, &[]);

    let attempts = [
        "/s/../manifest.json",
        "/s/../../secret.txt",
        "/s/css/../../../manifest.json",
        "/s/%2e%2e/manifest.json",
        "/s/%2E%2E/%2E%2E/secret.txt",
        "/s/.%2e/manifest.json",
        "/s/%2e./manifest.json",
        "/s/css/..%2f..%2fmanifest.json",
        "/s/css/..%2F..%2Fmanifest.json",
        "/s/..%5c..%5cmanifest.json",
        "/s/..\\..\\manifest.json",
        "/s/css\\..\\..\\manifest.json",
        "/s/%252e%252e/manifest.json",
        "/s/%c0%ae%c0%ae/manifest.json",
        "/s/css/base.css%00.png",
        "/s/%00",
        "/s//etc/passwd",
        "/s/%2fetc/passwd",
        "/s/./css/base.css",
        "/s/css/./base.css",
        "/s/v:1/../../manifest.json",
        "/s/v:x/f:a/../../../manifest.json",
        "/s/leak.txt",
        "/s/up/secret.txt",
        "/s/up/dist/manifest.json",
        "/s/etc/passwd",
        "/s/etc/hostname",
        "/s/.hidden.txt",
        "/s/../.env.production",
        "/s/%2e%2e/%2e%2e/.env.production",
        "http://127.0.0.1/s/../manifest.json",
        "/../manifest.json",
        "/s/css/%",
        "/s/css/%zz",
    ];
    for path in attempts {
        let r = srv.raw(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes());
        assert!(r.status == 404 || r.status == 400, "{path}: {} {}", r.status, r.text());
        let body = r.text();
        assert!(
            !body.contains("TOP SECRET") && !body.contains("\"assets\"") && !body.contains("root:") && !body.contains("hidden"),
            "{path} leaked: {body}"
        );
    }
    // A raw NUL or space in the target is not even a request.
    assert_eq!(srv.raw(b"GET /s/a\0b HTTP/1.1\r\nHost: x\r\n\r\n").status, 400);
    // A symlink that stays inside the root is fine.
    let r = srv.get("/s/inside.css");
    assert_eq!((r.status, r.body), (200, fs::read(partials.join(&target)).unwrap()));
}

fn m_path(key: &str) -> String {
    manifest().assets[key].versioned_path.clone()
}

// ---------------------------------------------------------------------------------------------
// the block fallback

#[test]
fn blocks_fall_back_to_their_constituents() {
    let m = manifest();
    let (name, js) = block("js");
    let keys = lookup_keys(&JS_BLOCK);
    let constituents: Vec<Vec<u8>> = JS_BLOCK.iter().map(|k| static_file(&m.assets[*k].versioned_path)).collect();
    let concat = constituents.join(&b"\n;\n"[..]);

    let check_fallback = |r: &Reply, what: &str| {
        assert_eq!(r.status, 200, "{what}");
        assert_eq!(r.header("cache-control"), Some("no-cache"), "{what}: a fallback must not be cached as the version");
        assert_eq!(r.header("etag"), None, "{what}");
        assert_eq!(r.header("x-kiln-fallback"), Some("js/util.js, js/cart.js"), "{what}");
        assert_eq!(r.header("content-type"), Some("text/javascript; charset=utf-8"));
        assert_eq!(r.body, concat, "{what}: the constituents in block order");
    };

    // Stale: the page asks for another version of the block than the one compiled.
    let srv = Server::start(dist(), &[]);
    let other = "0123456789abcdef0123456789abcdef";
    check_fallback(&srv.get(&format!("/s/v:{other}/f:{keys}/{name}.js")), "stale version");
    // A block the manifest does not know, found through lookups alone.
    check_fallback(&srv.get(&format!("/s/v:{other}/f:{keys}/{}.js", "f".repeat(32))), "unknown block");
    // Unknown lookup keys are skipped; the known ones still come.
    let r = srv.get(&format!("/s/v:{other}/f:ffff:{}/{}.js", keys.split(':').next().unwrap(), "e".repeat(32)));
    assert_eq!((r.status, r.header("x-kiln-fallback")), (200, Some("js/util.js")));
    // Nothing to fall back to: 404.
    assert_eq!(srv.get(&format!("/s/v:{other}/f:ffff:eeee/{}.js", "e".repeat(32))).status, 404);
    assert_eq!(srv.get(&format!("/s/v:{other}/f:/{}.js", "e".repeat(32))).status, 404);

    // A CSS block's compiled file is missing: each stylesheet is imported at its versioned URL,
    // so its relative url()s and @imports keep resolving.
    let (css_name, css) = block("css");
    let r = srv.get(&format!("/s/v:{}/f:{}/{css_name}.css", css.version, lookup_keys(&CSS_BLOCK)));
    assert_eq!((r.status, r.header("content-type")), (200, Some("text/css; charset=utf-8")));
    let want: String = CSS_BLOCK.iter().map(|k| format!("@import url(\"/s/{}\");\n", m.assets[*k].versioned_path)).collect();
    assert_eq!(r.text(), want);
    for line in r.text().lines() {
        let url = line.trim_start_matches("@import url(\"").trim_end_matches("\");");
        assert_eq!(srv.get(url).header("cache-control"), Some(IMMUTABLE), "{url} is servable");
    }
    drop(srv);

    // Missing: the right version, but its compiled file is not in the dist.
    let work = tempfile::tempdir().unwrap();
    let d = work.path().join("dist");
    copy_tree(dist(), &d);
    fs::remove_file(d.join("src/partials").join(&js.versioned_path)).unwrap();
    let srv = Server::start(&d, &[]);
    check_fallback(&srv.get(&format!("/s/v:{}/f:{keys}/{name}.js", js.version)), "missing compiled file");
    // With no lookups keys that resolve, the manifest's own path list is used.
    check_fallback(&srv.get(&format!("/s/v:{}/f:0000/{name}.js", js.version)), "block paths");
}

// ---------------------------------------------------------------------------------------------
// bad and slow clients

#[test]
fn oversized_and_malformed_requests_are_refused() {
    let srv = Server::start(dist(), &[]);
    let status = |bytes: &[u8]| srv.raw(bytes).status;
    let long_target = format!("GET /s/{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(10_000));
    assert_eq!(status(long_target.as_bytes()), 414);
    // A request line that never ends is cut off at the limit, not buffered forever.
    assert_eq!(status(format!("GET /{}", "a".repeat(100_000)).as_bytes()), 414);
    assert_eq!(status(format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(40_000)).as_bytes()), 414);
    let big_header = format!("GET /s/css/shop.css HTTP/1.1\r\nHost: x\r\nCookie: {}\r\n\r\n", "c".repeat(40_000));
    assert_eq!(status(big_header.as_bytes()), 431);
    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    assert_eq!(status(format!("GET /s/css/shop.css HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes()), 431);
    for bad in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /s/css/shop.css\r\n\r\n",
        b"GET /s/css/shop.css HTTP/1.1\r\n\r\n",
        b"GET /s/css/shop.css HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
        b"GET /s/css/shop.css HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
        b"GET s/css/shop.css HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    ] {
        assert_eq!(status(bad), 400, "{:?}", String::from_utf8_lossy(bad));
    }
    assert_eq!(status(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
    assert_eq!(status(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n"), 413);
    assert_eq!(status(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"), 501);
    // The server is still fine afterwards.
    assert_eq!(srv.get("/s/css/shop.css").status, 200);
}

#[test]
fn keep_alive_and_pipelining() {
    let srv = Server::start(dist(), &[]);
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let one = "GET /s/css/shop.css HTTP/1.1\r\nHost: x\r\n\r\n";
    let head = "HEAD /s/js/cart.js HTTP/1.1\r\nHost: x\r\n\r\n";
    let last = "GET /s/nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    // Three requests in one write, answered in order on one connection.
    s.write_all(format!("{one}{head}{last}").as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let (a, n) = Reply::parse_one(&raw).unwrap();
    assert_eq!((a.status, a.header("connection")), (200, Some("keep-alive")));
    let (b, m) = Reply::parse_one(&raw[n..]).unwrap();
    assert_eq!(b.status, 200);
    // HEAD: a Content-Length, but no body before the next response.
    assert!(b.header("content-length").unwrap().parse::<usize>().unwrap() > 0);
    let rest = &raw[n + m - b.body.len()..];
    assert!(rest.starts_with(b"HTTP/1.1 404"), "{:?}", String::from_utf8_lossy(&rest[..20.min(rest.len())]));
    let (c, _) = Reply::parse_one(rest).unwrap();
    assert_eq!((c.status, c.header("connection")), (404, Some("close")));

    // HTTP/1.0 keeps the connection only when asked (ab -k does).
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /s/css/shop.css HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let n = s.read(&mut buf).unwrap();
    let (r, _) = Reply::parse_one(&buf[..n]).unwrap();
    assert_eq!((r.status, r.header("connection")), (200, Some("keep-alive")));
    s.write_all(b"GET /s/css/shop.css HTTP/1.0\r\n\r\n").unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert_eq!(Reply::parse(&rest).unwrap().header("connection"), Some("close"));
}

#[test]
fn slow_and_idle_clients_time_out() {
    let srv = Server::start(dist(), &["--timeout", "1", "--keep-alive", "1"]);
    // Slowloris: a byte every 200 ms never finishes a head within the second it is given.
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    // A byte every 200 ms, until the server answers (writing on after that would make the
    // server's close a reset, which can drop the answer before it is read).
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    for b in b"GET /s/css/shop.css HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter() {
        if s.write_all(&[*b]).is_err() || start.elapsed() > Duration::from_secs(4) {
            break;
        }
        let mut buf = [0u8; 512];
        if let Ok(n) = s.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
            break;
        }
    }
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.read_to_end(&mut got);
    let r = Reply::parse(&got).expect("a 408 before the connection closes");
    assert_eq!(r.status, 408);
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());

    // A connection that never sends anything is closed, without a response.
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    assert_eq!(s.read_to_end(&mut got).unwrap(), 0);
    assert!(start.elapsed() < Duration::from_secs(4));

    // An idle kept-alive connection too, after answering its request.
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /s/css/shop.css HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert_eq!(Reply::parse(&got).unwrap().status, 200);
    assert!(start.elapsed() < Duration::from_secs(4));

    // A body that stops arriving.
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly a bit").unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert_eq!(Reply::parse(&got).unwrap().status, 408);
}

#[test]
fn connections_over_the_cap_get_503() {
    let srv = Server::start(dist(), &["--max-connections", "2", "--timeout", "3"]);
    let held: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(srv.addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut third = TcpStream::connect(srv.addr).unwrap();
    third.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let _ = third.read_to_end(&mut got);
    assert_eq!(Reply::parse(&got).map(|r| r.status), Some(503), "{:?}", String::from_utf8_lossy(&got));
    drop(held);
    // Once they are gone, requests are served again.
    let start = Instant::now();
    loop {
        let mut s = TcpStream::connect(srv.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /s/css/shop.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        if Reply::parse(&got).map(|r| r.status) == Some(200) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "the server did not recover");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// the WSGI app

#[test]
fn wsgi_app_serves_every_other_path() {
    if !require("python3") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let d = work.path().join("dist");
    copy_tree(dist(), &d);
    assert!(d.join("wsgi.pyc").is_file() && !d.join("wsgi.py").exists(), "the dist is sourceless");
    let before = snapshot(&d);
    let srv = Server::start_env(&d, &["--app", "wsgi:app"], &[("SECRET_KEY", "test-only")]);

    let r = srv.get("/");
    assert_eq!((r.status, r.header("content-type")), (200, Some("text/html; charset=utf-8")), "{}", r.text());
    let page = r.text();
    // The template's script block is not one this dist compiled, so the runtime lists its
    // constituents, each at its versioned URL.
    let shop_css = m_path("js/util.js");
    assert!(page.contains(&format!("/s/{shop_css}")), "the app renders versioned URLs from the dist's manifest:\n{page}");
    assert!(r.header("server") == Some("kiln") && r.header("date").is_some());
    // … which kiln serves.
    assert_eq!(srv.get(&format!("/s/{shop_css}")).header("cache-control"), Some(IMMUTABLE));

    assert_eq!(srv.get("/healthz").text(), "ok");
    let api = srv.get("/api/products?x=1");
    assert_eq!(api.header("content-type"), Some("application/json"));
    let json: serde_json::Value = serde_json::from_slice(&api.body).unwrap();
    assert!(json["products"].as_array().is_some_and(|p| !p.is_empty()), "{json}");
    let r = srv.get("/product/no-such-thing");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("<"), "the app's own 404 page");
    // The app's HEAD keeps its Content-Length and sends no body.
    let h = srv.request("HEAD", "/healthz", &[]);
    assert_eq!((h.status, h.header("content-length"), h.body.len()), (200, Some("2"), 0));
    // Methods and bodies pass through (the shop answers POST with its own 405).
    let r = srv.raw(b"POST /api/products HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nq=1\r\n0\r\n\r\n");
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));

    // The prefix stays kiln's: a path the static files refuse never reaches the app.
    let r = srv.get("/s/../wsgi.pyc");
    assert_eq!((r.status, r.text().as_str()), (404, "404 Not Found\n"));
    let r = srv.get("/s/nope.css");
    assert_eq!(r.text(), "404 Not Found\n");

    drop(srv);
    assert_eq!(snapshot(&d).keys().collect::<Vec<_>>(), before.keys().collect::<Vec<_>>(), "serving wrote nothing into the dist");
}

#[test]
fn wsgi_app_that_cannot_start_is_an_error() {
    if !require("python3") {
        return;
    }
    let o =
        run(Command::new(bin("kiln")).args(["serve", p(dist()), "--port", "0", "--app", "no_such_module:app"]).env("PYTHONDONTWRITEBYTECODE", "1"));
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("ModuleNotFoundError") && err.contains("no_such_module:app did not start"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// the command line

#[test]
fn command_line_errors() {
    let kiln = |args: &[&str]| run(Command::new(bin("kiln")).arg("serve").args(args));
    let o = kiln(&["/nonexistent/dist", "--port", "0"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/nonexistent/dist: not a directory"), "{}", stderr(&o));
    let o = kiln(&[p(dist()), "--port", "0", "--prefix", "/s ?/"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = kiln(&[p(dist()), "--port", "0", "--app", ":app"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    let work = tempfile::tempdir().unwrap();
    let d = work.path().join("dist");
    write(&d.join("manifest.json"), "{\"version\": 7}");
    fs::create_dir_all(d.join("src/partials")).unwrap();
    let o = kiln(&[p(&d), "--port", "0"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("manifest.json: manifest version 7 is not supported"), "{}", stderr(&o));

    // A port that is taken.
    let srv = Server::start(dist(), &[]);
    let port = srv.addr.port().to_string();
    let o = kiln(&[p(dist()), "--port", &port]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot listen"), "{}", stderr(&o));
}

#[test]
fn other_prefixes_and_a_tree_without_manifest() {
    // The example's own source tree: no manifest, files served as they are.
    let srv = Server::start(&shop(), &["--prefix", "static"]);
    let r = srv.get("/static/css/shop.css");
    assert_eq!((r.status, r.header("cache-control"), r.header("etag")), (200, Some("no-cache"), None));
    assert_eq!(r.body, fs::read(shop().join("src/partials/css/shop.css")).unwrap());
    assert_eq!(srv.get("/s/css/shop.css").status, 404);
    assert_eq!(srv.get("/static/v:123/css/shop.css").status, 404);
}

// ---------------------------------------------------------------------------------------------
// byte ranges

/// `curl ARGS URL` (silent, failing on HTTP errors): its stdout.
fn curl(srv: &Server, path: &str, args: &[&str]) -> Vec<u8> {
    let o = run(Command::new("curl").args(["-sS", "--fail"]).args(args).arg(format!("http://{}{path}", srv.addr)));
    assert!(o.status.success(), "curl {args:?} {path}: {}", stderr(&o));
    o.stdout
}

#[test]
fn range_requests_and_resumed_downloads() {
    let m = manifest();
    let work = tempfile::tempdir().unwrap();
    let d = work.path().join("dist");
    copy_tree(dist(), &d);
    // A file larger than what is read at once, so that ranges of the streamed path are checked too.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    fs::write(d.join("src/partials/big.bin"), &big).unwrap();
    let srv = Server::start(&d, &[]);
    let hero = &m.assets["img/hero.jpg"];
    let bytes = static_file(&hero.versioned_path);
    let len = bytes.len();
    let url = format!("/s/{}", hero.versioned_path);

    let whole = srv.get(&url);
    assert_eq!((whole.status, whole.header("accept-ranges")), (200, Some("bytes")));
    let r = srv.get_with(&url, &[("Range", "bytes=100-199")]);
    assert_eq!((r.status, r.header("content-length")), (206, Some("100")));
    assert_eq!(r.header("content-range"), Some(format!("bytes 100-199/{len}").as_str()));
    assert_eq!((r.body.as_slice(), r.header("etag"), r.header("cache-control")), (&bytes[100..200], whole.header("etag"), Some(IMMUTABLE)));
    assert_eq!(srv.get_with(&url, &[("Range", "bytes=-10")]).body, &bytes[len - 10..]);
    assert_eq!(srv.get_with(&url, &[("Range", &format!("bytes={}-", len - 5))]).body, &bytes[len - 5..]);
    assert_eq!(srv.get_with(&url, &[("Range", &format!("bytes=10-{}", len * 2))]).body, &bytes[10..]);
    for unsatisfiable in [format!("bytes={len}-"), format!("bytes={}-{}", len + 1, len + 9), "bytes=-0".to_string()] {
        let r = srv.get_with(&url, &[("Range", &unsatisfiable)]);
        assert_eq!((r.status, r.header("content-range")), (416, Some(format!("bytes */{len}").as_str())), "{unsatisfiable}");
        assert!(r.body.is_empty());
    }
    // Several ranges, another unit or a malformed range: the whole file (RFC 9110 §14.2).
    for ignored in ["bytes=0-1,5-6", "items=0-1", "bytes=9-2", "bytes=x-"] {
        let r = srv.get_with(&url, &[("Range", ignored)]);
        assert_eq!((r.status, r.body.len()), (200, len), "{ignored}");
    }
    // HEAD: the same headers, no body.
    let r = srv.request("HEAD", &url, &[("Range", "bytes=0-9")]);
    assert_eq!((r.status, r.header("content-length"), r.body.len()), (206, Some("10"), 0));

    // If-Range: the range when the client's copy is the current one (by ETag or date), else
    // the whole file.
    let etag = whole.header("etag").unwrap();
    let last_modified = whole.header("last-modified").unwrap();
    for (if_range, status) in [(etag, 206), (last_modified, 206), ("\"0123\"", 200), ("Thu, 01 Jan 1970 00:00:00 GMT", 200)] {
        let r = srv.get_with(&url, &[("Range", "bytes=0-9"), ("If-Range", if_range)]);
        assert_eq!(r.status, status, "If-Range: {if_range}");
        assert_eq!(r.body.len(), if status == 206 { 10 } else { len });
    }

    // A precompressed twin: the range is of the bytes sent (the gzip file), under its own ETag.
    let js = &m.assets["js/catalog.js"];
    let gz = static_file(&js.encodings["gzip"]);
    let js_url = format!("/s/{}", js.versioned_path);
    let r = srv.get_with(&js_url, &[("Accept-Encoding", "gzip"), ("Range", "bytes=0-9")]);
    assert_eq!((r.status, r.header("content-encoding"), r.body.as_slice()), (206, Some("gzip"), &gz[..10]));
    assert_eq!(r.header("content-range"), Some(format!("bytes 0-9/{}", gz.len()).as_str()));
    let gz_tag = format!("\"{}-gzip\"", js.version);
    assert_eq!(r.header("etag"), Some(gz_tag.as_str()));
    let r = srv.get_with(&js_url, &[("Accept-Encoding", "gzip"), ("Range", "bytes=10-"), ("If-Range", &gz_tag)]);
    assert_eq!((r.status, r.body.as_slice()), (206, &gz[10..]));
    // The identity ETag names other bytes than the gzip twin's: the whole twin comes.
    let r = srv.get_with(&js_url, &[("Accept-Encoding", "gzip"), ("Range", "bytes=10-"), ("If-Range", &format!("\"{}\"", js.version))]);
    assert_eq!((r.status, r.body), (200, gz.clone()));

    // The streamed path (a file larger than one read), from its middle.
    let r = srv.get_with("/s/big.bin", &[("Range", "bytes=100000-100099")]);
    assert_eq!((r.status, r.body.as_slice()), (206, &big[100_000..100_100]));
    assert_eq!(srv.get("/s/big.bin").body, big);

    if !require("curl") {
        return;
    }
    assert_eq!(curl(&srv, &url, &["-r", "0-99"]), &bytes[..100]);
    assert_eq!(curl(&srv, &url, &["-r", "-100"]), &bytes[len - 100..]);
    assert_eq!(curl(&srv, "/s/big.bin", &["-r", "70000-"]), &big[70_000..]);
    // A download cut short and resumed (`curl -C -` asks for the rest from the part's length).
    for (path, want) in [(url.as_str(), &bytes), ("/s/big.bin", &big)] {
        let part = work.path().join("part");
        fs::write(&part, &want[..want.len() / 3]).unwrap();
        curl(&srv, path, &["-C", "-", "-o", p(&part)]);
        assert!(fs::read(&part).unwrap() == *want, "{path}: the resumed download is the file");
    }
}

// ---------------------------------------------------------------------------------------------
// reload

#[test]
fn a_rebuilt_dist_is_served_wholly_old_or_wholly_new() {
    if !require("python3") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let (src, out, cache) = (work.path().join("shop"), work.path().join("dist"), work.path().join("cache"));
    copy_tree(&shop(), &src);
    let css = src.join("src/partials/css/shop.css");
    let original = fs::read_to_string(&css).unwrap();
    // Builds version n of the shop (one more rule in shop.css) and returns what /s/css/shop.css
    // must then be: its ETag and its bytes.
    let build = |n: usize| -> (String, Vec<u8>) {
        fs::write(&css, format!("{original}\n.build-{n} {{ order: {n}; }}\n")).unwrap();
        let o = run(Command::new(bin("kiln")).arg("build").arg(&src).arg("-o").arg(&out).arg("--cache-dir").arg(&cache).arg("--quiet"));
        assert!(o.status.success(), "kiln build: {}", stderr(&o));
        let m = manifest::parse("manifest.json", &fs::read(out.join("manifest.json")).unwrap()).unwrap();
        let e = &m.assets["css/shop.css"];
        (format!("\"{}\"", e.version), fs::read(out.join("src/partials").join(&e.versioned_path)).unwrap())
    };
    let mut versions = vec![build(0)];
    let srv = Server::start(&out, &[]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let (addr, stop) = (srv.addr, stop.clone());
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let r = raw_at(addr, b"GET /s/css/shop.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                    seen.push((r.status, r.header("etag").unwrap_or("").to_string(), r.body));
                }
                seen
            })
        })
        .collect();
    for n in 1..=8 {
        std::thread::sleep(Duration::from_millis(150));
        versions.push(build(n));
    }
    // The last build is served soon after it is written.
    let last = versions.last().unwrap().clone();
    let start = Instant::now();
    while srv.get("/s/css/shop.css").header("etag") != Some(last.0.as_str()) {
        assert!(start.elapsed() < Duration::from_secs(5), "the rebuilt dist is not served");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(150));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen: Vec<(u16, String, Vec<u8>)> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    let mut distinct = std::collections::BTreeSet::new();
    for (status, etag, body) in &seen {
        assert_eq!(*status, 200, "a request during a rebuild failed: {}", String::from_utf8_lossy(body));
        let Some(i) = versions.iter().position(|(tag, _)| tag == etag) else { panic!("ETag {etag} is no build's") };
        assert!(*body == versions[i].1, "ETag of build {i} with other bytes: a response mixed two dists");
        distinct.insert(i);
    }
    assert!(distinct.len() >= 3, "the clients saw builds {distinct:?} of 0..=8 in {} requests", seen.len());
}

// ---------------------------------------------------------------------------------------------
// the app's WSGI server

/// A dist whose app streams: a first chunk, then (after `pause` seconds) the rest.
fn streaming_app(dir: &Path) {
    fs::create_dir_all(dir.join("src/partials")).unwrap();
    let app = "import time\n\ndef app(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    \
               def body():\n        yield b'first|'\n        time.sleep(1.5)\n        yield environ['REMOTE_ADDR'].encode() + b'|' + b'x' * 100000 + b'|last'\n    \
               return body()\n";
    fs::write(dir.join("stream.py"), app).unwrap();
}

/// `kiln serve DIR --app stream:app --python PY`: its first line, what the streamed response
/// looked like (seconds to the first chunk, seconds to the whole, decoded body) and its stderr.
fn serve_streaming_app(python: &Path) -> (String, f64, f64, String, String) {
    let work = tempfile::tempdir().unwrap();
    streaming_app(work.path());
    let log = work.path().join("stderr.log");
    let mut cmd = Command::new(bin("kiln"));
    cmd.arg("serve").arg(work.path()).args(["--port", "0", "--quiet", "--app", "stream:app", "--python"]).arg(python);
    let mut child = cmd.env("PYTHONDONTWRITEBYTECODE", "1").stdout(Stdio::piped()).stderr(fs::File::create(&log).unwrap()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.split("http://").nth(1).and_then(|r| r.split('/').next()).unwrap_or("?").to_string();
    let mut s = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("{line}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let start = Instant::now();
    s.write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let (mut raw, mut first) = (Vec::new(), None);
    let mut buf = [0u8; 65536];
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if first.is_none() && raw.windows(6).any(|w| w == b"first|") {
            first = Some(start.elapsed().as_secs_f64());
        }
    }
    let whole = start.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_default();
    // kiln answers in its own HTTP/1.1, whatever the app's server speaks (wsgiref: HTTP/1.0).
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    // Unknown length: chunked; the chunk-size lines are left out.
    let body: String = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&after[..n]);
            rest = &after[n + 2..];
        }
        out
    } else {
        body.to_string()
    };
    (line, first.unwrap_or(f64::MAX), whole, body, fs::read_to_string(&log).unwrap_or_default())
}

fn check_streamed(what: &str, (_, first, whole, body, _): &(String, f64, f64, String, String)) {
    assert!(body.starts_with("first|127.0.0.1|xxx") && body.ends_with("x|last") && body.len() == 100_021, "{what}: {body:.80}");
    assert!(*first < 1.2 && *whole >= 1.4, "{what}: the first chunk came after {first:.2} s, all of it after {whole:.2} s: not streamed");
}

#[test]
fn wsgi_app_runs_on_wsgiref_with_a_warning_and_streams() {
    if !require("python3") {
        return;
    }
    let served = serve_streaming_app(Path::new("python3"));
    assert!(served.0.contains("other paths: stream:app on wsgiref"), "{}", served.0);
    let warnings: Vec<&str> = served.4.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{}", served.4);
    assert!(warnings[0].contains("neither waitress nor gunicorn") && warnings[0].contains("wsgiref"), "{}", warnings[0]);
    check_streamed("wsgiref", &served);
}

#[test]
fn wsgi_app_runs_on_waitress_when_the_python_has_it() {
    let Some(py) = framework_python() else { return };
    let served = serve_streaming_app(&py);
    assert!(served.0.contains("other paths: stream:app on waitress 3.0.2"), "{}", served.0);
    assert!(!served.4.contains("warning"), "{}", served.4);
    check_streamed("waitress", &served);

    // The shop's app: the same answers as on wsgiref.
    let work = tempfile::tempdir().unwrap();
    let d = work.path().join("dist");
    copy_tree(dist(), &d);
    let srv = Server::start_env(&d, &["--app", "wsgi:app", "--python", p(&py)], &[("SECRET_KEY", "test-only")]);
    assert!(srv.banner.contains("wsgi:app on waitress"), "{}", srv.banner);
    let r = srv.get("/");
    assert_eq!((r.status, r.header("content-type"), r.header("server")), (200, Some("text/html; charset=utf-8"), Some("kiln")), "{}", r.text());
    assert!(r.text().contains(&format!("/s/{}", m_path("js/util.js"))), "{}", r.text());
    assert_eq!((srv.get("/healthz").text(), srv.get("/healthz").header("content-length")), ("ok".to_string(), Some("2")));
    let json: serde_json::Value = serde_json::from_slice(&srv.get("/api/products").body).unwrap();
    assert!(json["products"].as_array().is_some_and(|p| !p.is_empty()), "{json}");
    let h = srv.request("HEAD", "/healthz", &[]);
    assert_eq!((h.status, h.header("content-length"), h.body.len()), (200, Some("2"), 0));
    let r = srv.raw(b"POST /api/products HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nq=1\r\n0\r\n\r\n");
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
    assert_eq!(srv.get("/s/../wsgi.pyc").status, 404);
}
