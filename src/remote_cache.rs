//! A client of Bazel's HTTP remote cache protocol: `GET`/`PUT` of `/ac/<sha256>` (an action's
//! result: an `ActionResult` protobuf naming its output files' digests) and `/cas/<sha256>` (a
//! blob, named by the sha256 of its bytes). nginx's WebDAV module, bazel-remote and the services
//! Bazel users run all speak it.
//!
//! Requests run on a current-thread tokio runtime owned by the client, many in flight at once on
//! a few kept-alive HTTP/1 connections. Every CAS blob is checked against its digest on the way
//! in. After the first failure (refused, timed out, a 5xx) the client gives up for the rest of
//! the run: a cache server that fails costs one timeout, never a build.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use sha2::{Digest as _, Sha256};

/// Requests in flight at once (one connection each).
const CONNECTIONS: usize = 16;

#[derive(Debug, Clone, thiserror::Error)]
pub enum RemoteError {
    #[error("{0}: only http://host[:port][/prefix] URLs are supported")]
    Url(String),
    #[error("cannot start the HTTP client: {0}")]
    Runtime(String),
    #[error("{path}: {message}")]
    Http { path: String, message: String },
    #[error("{path}: no answer within {secs:.1} s")]
    Timeout { path: String, secs: f64 },
    #[error("{path}: HTTP {status}")]
    Status { path: String, status: u16 },
    #[error("{path}: does not match its digest; refused")]
    Corrupt { path: String },
    #[error("{path}: not an ActionResult")]
    BadEntry { path: String },
    #[error("the cache failed earlier in this build")]
    GaveUp,
}

impl RemoteError {
    /// A failure of the server (as opposed to one bad entry): the client stops using it.
    pub fn is_server_failure(&self) -> bool {
        !matches!(self, RemoteError::Corrupt { .. } | RemoteError::BadEntry { .. })
    }
}

/// The sha256 of `bytes`, in lowercase hex (a CAS blob's name).
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// An HTTP remote cache at one base URL.
pub struct RemoteCache {
    url: String,
    host: String,
    port: u16,
    prefix: String,
    timeout: Duration,
    runtime: tokio::runtime::Runtime,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    gave_up: AtomicBool,
}

type Sender = SendRequest<Full<Bytes>>;
/// A request of a batch: its index, method, path and body.
type Job = (usize, Method, String, Bytes);
/// A request's outcome: the body of a GET (none: not in the cache).
type Answer = Result<Option<Vec<u8>>, RemoteError>;

impl RemoteCache {
    /// The cache at `url` (`http://host[:port][/prefix]`); `timeout` bounds every request.
    pub fn new(url: &str, timeout: Duration) -> Result<RemoteCache, RemoteError> {
        let rest = url.strip_prefix("http://").ok_or_else(|| RemoteError::Url(url.to_string()))?;
        let (authority, prefix) = rest.split_once('/').map(|(a, p)| (a, format!("/{}", p.trim_end_matches('/')))).unwrap_or((rest, String::new()));
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (h, p.parse().map_err(|_| RemoteError::Url(url.to_string()))?),
            _ => (authority, 80),
        };
        if host.is_empty() {
            return Err(RemoteError::Url(url.to_string()));
        }
        let prefix = if prefix == "/" { String::new() } else { prefix };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| RemoteError::Runtime(e.to_string()))?;
        Ok(RemoteCache {
            url: url.trim_end_matches('/').to_string(),
            host: host.trim_start_matches('[').trim_end_matches(']').to_string(),
            port,
            prefix,
            timeout,
            runtime,
            idle: Mutex::default(),
            gave_up: AtomicBool::new(false),
        })
    }

    /// The base URL, as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether a request failed so far (the client then answers every call with `GaveUp`).
    pub fn gave_up(&self) -> bool {
        self.gave_up.load(Ordering::Relaxed)
    }

    /// `GET` of each path (`ac/<sha256>`, `cas/<sha256>`), many in flight: its bytes, or none
    /// when the cache does not hold it. A `cas/` blob is checked against its name.
    pub fn get_many(&self, paths: &[String]) -> Vec<Result<Option<Vec<u8>>, RemoteError>> {
        let jobs = paths.iter().map(|p| (Method::GET, p.clone(), Bytes::new())).collect();
        self.run(jobs)
            .into_iter()
            .zip(paths)
            .map(|(r, path)| {
                let body = r?;
                match (body, path.strip_prefix("cas/")) {
                    (Some(b), Some(digest)) if sha256_hex(&b) != digest => Err(RemoteError::Corrupt { path: format!("GET /{path}") }),
                    (body, _) => Ok(body),
                }
            })
            .collect()
    }

    /// One `GET` (see `get_many`).
    pub fn get(&self, path: &str) -> Result<Option<Vec<u8>>, RemoteError> {
        self.get_many(&[path.to_string()]).pop().unwrap_or(Err(RemoteError::GaveUp))
    }

    /// `PUT` of each (path, bytes), many in flight.
    pub fn put_many(&self, items: Vec<(String, Vec<u8>)>) -> Vec<Result<(), RemoteError>> {
        let jobs = items.into_iter().map(|(p, b)| (Method::PUT, p, Bytes::from(b))).collect();
        self.run(jobs).into_iter().map(|r| r.map(|_| ())).collect()
    }

    /// Runs the requests on up to `CONNECTIONS` connections; results in the order of `jobs`.
    fn run(&self, jobs: Vec<(Method, String, Bytes)>) -> Vec<Answer> {
        let n = jobs.len();
        if self.gave_up() {
            return (0..n).map(|_| Err(RemoteError::GaveUp)).collect();
        }
        let queue: Arc<Mutex<VecDeque<Job>>> = Arc::new(Mutex::new(jobs.into_iter().enumerate().map(|(i, (m, p, b))| (i, m, p, b)).collect()));
        let results: Arc<Mutex<Vec<Option<Answer>>>> = Arc::new(Mutex::new(vec![None; n]));
        let failed = Arc::new(AtomicBool::new(false));
        let idle: Vec<Sender> = self.idle.lock().map(|mut i| std::mem::take(&mut *i)).unwrap_or_default();
        let idle = Arc::new(Mutex::new(idle));
        let target = Arc::new(Target { host: self.host.clone(), port: self.port, prefix: self.prefix.clone(), timeout: self.timeout });
        self.runtime.block_on(async {
            let mut workers = tokio::task::JoinSet::new();
            for _ in 0..n.min(CONNECTIONS) {
                let (queue, results, failed, idle, target) = (queue.clone(), results.clone(), failed.clone(), idle.clone(), target.clone());
                workers.spawn(async move {
                    let mut conn: Option<Sender> = idle.lock().ok().and_then(|mut i| i.pop());
                    loop {
                        if failed.load(Ordering::Relaxed) {
                            break;
                        }
                        let Some((i, method, path, body)) = queue.lock().ok().and_then(|mut q| q.pop_front()) else { break };
                        let shown = format!("{method} /{path}");
                        let r = match tokio::time::timeout(target.timeout, target.request(&mut conn, method, &path, body)).await {
                            Ok(r) => r,
                            Err(_) => {
                                conn = None;
                                Err(RemoteError::Timeout { path: shown, secs: target.timeout.as_secs_f64() })
                            }
                        };
                        if r.as_ref().is_err_and(RemoteError::is_server_failure) {
                            failed.store(true, Ordering::Relaxed);
                        }
                        if let Ok(mut res) = results.lock() {
                            res[i] = Some(r);
                        }
                    }
                    if let (Some(c), Ok(mut i)) = (conn, idle.lock()) {
                        i.push(c);
                    }
                });
            }
            while workers.join_next().await.is_some() {}
        });
        if failed.load(Ordering::Relaxed) {
            self.gave_up.store(true, Ordering::Relaxed);
        } else if let (Ok(mut from), Ok(mut to)) = (idle.lock(), self.idle.lock()) {
            to.append(&mut from);
        }
        let mut results = results.lock().map(|mut r| std::mem::take(&mut *r)).unwrap_or_default();
        results.resize(n, None);
        results.into_iter().map(|r| r.unwrap_or(Err(RemoteError::GaveUp))).collect()
    }
}

/// Where the requests go.
struct Target {
    host: String,
    port: u16,
    prefix: String,
    timeout: Duration,
}

impl Target {
    /// One request on `conn` (a new connection when there is none or it closed).
    async fn request(&self, conn: &mut Option<Sender>, method: Method, path: &str, body: Bytes) -> Result<Option<Vec<u8>>, RemoteError> {
        let shown = format!("{method} /{path}");
        let http = |e: &dyn std::fmt::Display| RemoteError::Http { path: shown.clone(), message: e.to_string() };
        let mut sender = match conn.take() {
            Some(s) if !s.is_closed() => s,
            _ => {
                let stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port)).await.map_err(|e| http(&e))?;
                let _ = stream.set_nodelay(true);
                let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| http(&e))?;
                tokio::spawn(connection);
                sender
            }
        };
        sender.ready().await.map_err(|e| http(&e))?;
        let host = if self.port == 80 { self.host.clone() } else { format!("{}:{}", self.host, self.port) };
        let request = Request::builder()
            .method(method.clone())
            .uri(format!("{}/{path}", self.prefix))
            .header(hyper::header::HOST, host)
            .body(Full::new(body))
            .map_err(|e| http(&e))?;
        let response = sender.send_request(request).await.map_err(|e| http(&e))?;
        let status = response.status();
        let bytes = response.into_body().collect().await.map_err(|e| http(&e))?.to_bytes();
        *conn = Some(sender);
        match status {
            s if s.is_success() => Ok((method == Method::GET).then(|| bytes.to_vec())),
            StatusCode::NOT_FOUND if method == Method::GET => Ok(None),
            s => Err(RemoteError::Status { path: shown, status: s.as_u16() }),
        }
    }
}

/// One output file of an `ActionResult`: its path and its blob's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

/// The part of Bazel's `ActionResult` (remote_execution.proto) kiln writes and reads: the output
/// files (field 2: `OutputFile { path = 1, digest = 2 { hash = 1, size_bytes = 2 } }`).
pub fn encode_action_result(files: &[OutputFile]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in files {
        let mut digest = Vec::new();
        put_bytes(&mut digest, 1, f.sha256.as_bytes());
        put_varint(&mut digest, 2 << 3);
        put_varint(&mut digest, f.size);
        let mut file = Vec::new();
        put_bytes(&mut file, 1, f.path.as_bytes());
        put_bytes(&mut file, 2, &digest);
        put_bytes(&mut out, 2, &file);
    }
    out
}

/// The output files of an `ActionResult` (other fields are skipped); none when it is malformed.
pub fn decode_action_result(bytes: &[u8]) -> Option<Vec<OutputFile>> {
    let mut files = Vec::new();
    for (field, value) in fields(bytes)? {
        if let (2, Value::Bytes(file)) = (field, value) {
            let (mut path, mut sha256, mut size) = (None, None, 0);
            for (field, value) in fields(file)? {
                match (field, value) {
                    (1, Value::Bytes(p)) => path = Some(String::from_utf8(p.to_vec()).ok()?),
                    (2, Value::Bytes(d)) => {
                        for (field, value) in fields(d)? {
                            match (field, value) {
                                (1, Value::Bytes(h)) => sha256 = Some(String::from_utf8(h.to_vec()).ok()?),
                                (2, Value::Varint(n)) => size = n,
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                }
            }
            files.push(OutputFile { path: path?, sha256: sha256?, size });
        }
    }
    Some(files)
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_varint(out, (field << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

fn varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        n |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(n);
        }
    }
    None
}

/// A protobuf message's fields, in order; none when it is malformed.
fn fields(bytes: &[u8]) -> Option<Vec<(u64, Value<'_>)>> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < bytes.len() {
        let tag = varint(bytes, &mut at)?;
        let value = match tag & 7 {
            0 => Value::Varint(varint(bytes, &mut at)?),
            1 | 5 => {
                at += if tag & 7 == 1 { 8 } else { 4 };
                Value::Fixed
            }
            2 => {
                let len = usize::try_from(varint(bytes, &mut at)?).ok()?;
                let v = bytes.get(at..at.checked_add(len)?)?;
                at += len;
                Value::Bytes(v)
            }
            _ => return None,
        };
        if at > bytes.len() {
            return None;
        }
        out.push((tag >> 3, value));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_action_result_round_trips_and_garbage_is_refused() {
        let files = vec![
            OutputFile { path: "a.js".into(), sha256: sha256_hex(b"x"), size: 1 },
            OutputFile { path: "css/b.css".into(), sha256: sha256_hex(b""), size: 300 },
        ];
        let bytes = encode_action_result(&files);
        assert_eq!(decode_action_result(&bytes).unwrap(), files);
        assert_eq!(decode_action_result(&[]).unwrap(), []);
        assert!(decode_action_result(b"\x12\x05ab").is_none(), "a length past the end");
        assert!(decode_action_result(b"\x12\x02\x0a\x00").is_none(), "an output file without a digest");
        // Bazel's own entries carry more fields (exit code, stdout digest): they are skipped.
        let mut with_more = vec![0x20, 0x00];
        with_more.extend(&bytes);
        assert_eq!(decode_action_result(&with_more).unwrap(), files);
    }

    #[test]
    fn urls() {
        let c = RemoteCache::new("http://127.0.0.1:9092/cache/", Duration::from_secs(1)).unwrap();
        assert_eq!((c.host.as_str(), c.port, c.prefix.as_str(), c.url()), ("127.0.0.1", 9092, "/cache", "http://127.0.0.1:9092/cache"));
        let c = RemoteCache::new("http://cache.internal", Duration::from_secs(1)).unwrap();
        assert_eq!((c.host.as_str(), c.port, c.prefix.as_str()), ("cache.internal", 80, ""));
        assert!(RemoteCache::new("https://cache.internal", Duration::from_secs(1)).is_err());
        assert!(RemoteCache::new("http://:80", Duration::from_secs(1)).is_err());
    }

    #[test]
    fn a_server_that_is_not_there_is_one_failure_then_the_client_gives_up() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let c = RemoteCache::new(&format!("http://127.0.0.1:{port}"), Duration::from_secs(1)).unwrap();
        let r = c.get_many(&["ac/00".to_string(), "ac/01".to_string()]);
        assert!(matches!(r[0], Err(RemoteError::Http { .. })), "{r:?}");
        assert!(c.gave_up());
        assert!(matches!(c.get("ac/02"), Err(RemoteError::GaveUp)));
    }
}
