//! The preview server (`kiln serve`) for a dist that serves it the way production will: static
//! files in Assetman's three URL forms and by versioned filename, with immutable caching, ETags,
//! precompressed twins and byte ranges, reloaded when the dist is rebuilt; and (with `--app`) the
//! dist's own WSGI app for every other path.

pub mod app;
pub mod http;
pub mod site;

use std::io::{Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http_body_util::{BodyExt, Limited};
use hyper::body::{Body as _, Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::io::AsyncReadExt;

use crate::fsutil;
use app::App;
use http::{full, text, Body, Limits};
use site::{Live, Route, Served, Site};

/// What to serve, and how.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The dist directory (manifest.json, src/partials/, wsgi.pyc, …).
    pub dist: PathBuf,
    /// Port to listen on (0: any free port, printed at start).
    pub port: u16,
    /// Address to listen on.
    pub bind: String,
    /// The static root, relative to DIST.
    pub static_dir: PathBuf,
    /// The manifest, relative to DIST (without one, files are served as they are, unversioned).
    pub manifest: PathBuf,
    /// Also serve the dist's WSGI app (`module:attribute`) for every path outside the prefix.
    pub app: Option<String>,
    /// The Python that runs the app (it must be the one the dist's .pyc were compiled for).
    pub python: String,
    /// Seconds a client has to send a request's head (and then its body), and to take each
    /// write of a response.
    pub timeout: u64,
    /// Seconds an idle kept-alive connection stays open.
    pub keep_alive: u64,
    /// Open connections at most; more are answered 503.
    pub max_connections: usize,
    /// No line per request on stderr.
    pub quiet: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Site(#[from] site::SiteError),
    #[error(transparent)]
    App(#[from] app::AppError),
    #[error("{addr}: cannot listen: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("{0}: not a directory")]
    NotADir(String),
}

/// Serves until the listener fails. `prefix` is a normalized URL prefix (`/s/`).
pub fn start(args: &ServeOptions, prefix: &str) -> Result<(), ServeError> {
    if !args.dist.is_dir() {
        return Err(ServeError::NotADir(fsutil::display(&args.dist)));
    }
    let live = Live::load(&args.dist, &args.static_dir, &args.manifest, prefix)?;
    let addr = format!("{}:{}", args.bind, args.port);
    let listen_error = |source| ServeError::Listen { addr: addr.clone(), source };
    let listener = std::net::TcpListener::bind(&addr).map_err(listen_error)?;
    let local = listener.local_addr().map_err(listen_error)?;
    let app = match &args.app {
        Some(spec) => {
            let dist = fsutil::absolute_lexical(&args.dist).map_err(site::SiteError::from)?;
            Some(App::start(&args.python, &dist, spec)?)
        }
        None => None,
    };
    let site = live.current();
    let what = match live.has_manifest() {
        true => format!("{} assets and {} blocks from {}", site.asset_count(), site.block_count(), fsutil::display(&args.dist.join(&args.manifest))),
        false => "no manifest: unversioned files only".to_string(),
    };
    println!(
        "kiln serve: http://{local}/ — {} files under {prefix} from {} ({what}){}",
        site.file_count(),
        fsutil::display(&args.dist.join(&args.static_dir)),
        app.as_ref().map(|a| format!("; other paths: {} on {}", a.spec, a.server)).unwrap_or_default()
    );
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let limits = Limits {
        timeout: Duration::from_secs(args.timeout),
        keep_alive: Duration::from_secs(args.keep_alive),
        max_connections: args.max_connections,
        log: !args.quiet,
        ..Limits::default()
    };
    let kiln = Arc::new(Kiln { live, app, prefix: prefix.to_string(), limits: limits.clone() });
    let e = http::run(listener, limits, move |req, remote| Arc::clone(&kiln).handle(req, remote));
    Err(ServeError::Listen { addr: local.to_string(), source: e })
}

struct Kiln {
    live: Live,
    app: Option<App>,
    prefix: String,
    limits: Limits,
}

fn not_found() -> Response<Body> {
    with(text(404, "404 Not Found\n"), &[("x-content-type-options", "nosniff")])
}

fn with(mut r: Response<Body>, headers: &[(&'static str, &str)]) -> Response<Body> {
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            r.headers_mut().append(*name, v);
        }
    }
    r
}

/// Small bodies are read at once (one read, on the worker: the page cache answers it in
/// microseconds); larger ones are streamed in chunks of this size.
const INLINE_BODY: u64 = 64 * 1024;

impl Kiln {
    async fn handle(self: Arc<Self>, req: Request<Incoming>, remote: SocketAddr) -> Response<Body> {
        let started = self.limits.log.then(Instant::now);
        let (parts, body) = req.into_parts();
        let connection = |token| {
            parts
                .headers
                .get_all(header::CONNECTION)
                .iter()
                .any(|v| v.to_str().unwrap_or("").split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        };
        let mut keep = match parts.version {
            hyper::Version::HTTP_10 => connection("keep-alive"),
            _ => !connection("close"),
        };
        // A chunked body may end anywhere: the connection ends with its response.
        keep &= !parts.headers.contains_key(header::TRANSFER_ENCODING);
        // The body is read whole first (within the limits), before anything else is decided.
        let body = match body.is_end_stream() {
            true => Ok(Bytes::new()),
            false => match tokio::time::timeout(self.limits.timeout, Limited::new(body, self.limits.body).collect()).await {
                Ok(Ok(body)) => Ok(body.to_bytes()),
                Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(text(413, "request body too large\n")),
                Ok(Err(_)) => Err(text(400, "malformed request body\n")),
                Err(_) => Err(text(408, "request body not received in time\n")),
            },
        };
        keep &= body.is_ok();
        let mut resp = match body {
            Ok(body) => match (parts.uri.path().strip_prefix(self.prefix.as_str()), &self.app) {
                (Some(rest), _) => self.static_file(&parts, rest),
                (None, Some(app)) => app.forward(&parts, body, remote).await,
                (None, None) => not_found(),
            },
            Err(refused) => refused,
        };
        let h = resp.headers_mut();
        h.insert(header::SERVER, HeaderValue::from_static("kiln"));
        h.insert(header::CONNECTION, HeaderValue::from_static(if keep { "keep-alive" } else { "close" }));
        if let Some(started) = started {
            let len = resp.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).unwrap_or("-");
            let ms = started.elapsed().as_secs_f64() * 1e3;
            eprintln!("{} \"{} {}\" {} {len} {ms:.1}ms", remote.ip(), parts.method, parts.uri, resp.status().as_u16());
        }
        resp
    }

    /// Everything under the prefix belongs to the static files: a 404 here never falls through
    /// to the app, so a refused path cannot reach it either.
    fn static_file(&self, req: &hyper::http::request::Parts, raw: &str) -> Response<Body> {
        if req.method != Method::GET && req.method != Method::HEAD {
            return with(text(405, "405 Method Not Allowed\n"), &[("allow", "GET, HEAD")]);
        }
        let Some(rel) = site::clean_path(raw) else { return not_found() };
        // A file gone since its dist was loaded means a newer dist replaced it: once more, from that.
        for _ in 0..2 {
            let site = self.live.current();
            match site.route(&rel) {
                Route::NotFound => break,
                Route::Fallback { content_type, body, parts } => {
                    let headers = [("content-type", content_type.as_str()), ("cache-control", "no-cache"), ("x-content-type-options", "nosniff")];
                    return with(with(Response::new(full(body)), &headers), &[("x-kiln-fallback", &parts.join(", "))]);
                }
                Route::File(s) => match file_response(req, &site, &s) {
                    Ok(r) => return r,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(_) => break,
                },
            }
        }
        not_found()
    }
}

/// A static file's response: its negotiated twin, conditional (304) and ranged (206, 416).
fn file_response(req: &hyper::http::request::Parts, site: &Site, s: &Served) -> std::io::Result<Response<Body>> {
    let header = |name: header::HeaderName| req.headers.get(name).and_then(|v| v.to_str().ok());
    let names: Vec<&str> = s.twins.iter().map(|(e, _)| *e).collect();
    let encoding = site::negotiate(header(header::ACCEPT_ENCODING), &names);
    let etag = s.version.map(|v| site::etag(v, encoding));
    let mut h = HeaderMap::new();
    let set = |h: &mut HeaderMap, name, value: &str| drop(HeaderValue::from_str(value).map(|v| h.insert(name, v)));
    let reply = |status, headers, body| {
        let mut r = Response::new(body);
        (*r.status_mut(), *r.headers_mut()) = (status, headers);
        Ok(r)
    };
    if let Some(etag) = &etag {
        set(&mut h, header::ETAG, etag);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(s.cache.header()));
    if !s.twins.is_empty() {
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if let (Some(inm), Some(v)) = (header(header::IF_NONE_MATCH), &s.version) {
        if site::none_match(inm, v) {
            return reply(StatusCode::NOT_MODIFIED, h, full(Bytes::new()));
        }
    }
    let path = match encoding {
        Some(e) => s.twins.iter().find(|(n, _)| *n == e).map_or(&s.path, |(_, p)| p),
        None => &s.path,
    };
    let mut file = site.open(path)?;
    let meta = file.metadata()?;
    let (len, modified) = (meta.len(), meta.modified().unwrap_or(SystemTime::UNIX_EPOCH));
    let last_modified = httpdate::fmt_http_date(modified);
    set(&mut h, header::LAST_MODIFIED, &last_modified);
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let since = header(header::IF_MODIFIED_SINCE).and_then(|d| httpdate::parse_http_date(d).ok());
    if header(header::IF_NONE_MATCH).is_none() && since.is_some_and(|t| t >= httpdate::parse_http_date(&last_modified).unwrap_or(modified)) {
        return reply(StatusCode::NOT_MODIFIED, h, full(Bytes::new()));
    }
    set(&mut h, header::CONTENT_TYPE, &s.content_type);
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Some(e) = encoding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(e));
    }
    // If-Range: the range is of the representation the client has, or the whole one is sent.
    let current = |v: &str| etag.as_deref() == Some(v) || v == last_modified;
    let range = header(header::RANGE).filter(|_| header(header::IF_RANGE).is_none_or(current));
    let (status, start, count) = match range.and_then(|r| byte_range(r, len)) {
        None => (StatusCode::OK, 0, len),
        Some(Some((start, end))) => {
            set(&mut h, header::CONTENT_RANGE, &format!("bytes {start}-{end}/{len}"));
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        Some(None) => {
            set(&mut h, header::CONTENT_RANGE, &format!("bytes */{len}"));
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
            return reply(StatusCode::RANGE_NOT_SATISFIABLE, h, full(Bytes::new()));
        }
    };
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    let body = if req.method == Method::HEAD || count == 0 {
        full(Bytes::new())
    } else if count <= INLINE_BODY {
        let mut bytes = vec![0; count as usize];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut bytes, start)?;
        full(bytes)
    } else {
        file.seek(SeekFrom::Start(start))?;
        let file = tokio::fs::File::from_std(file).take(count);
        tower_http::services::fs::AsyncReadBody::with_capacity(file, INLINE_BODY as usize).boxed()
    };
    reply(status, h, body)
}

/// The one byte range `bytes=a-b`, `bytes=a-` or `bytes=-n` asks for of `len` bytes: `None` to
/// send the whole (another unit, several ranges or a malformed header: RFC 9110 §14.2 lets a
/// server ignore them), `Some(None)` when it is unsatisfiable (416), else the first and last byte.
pub fn byte_range(header: &str, len: u64) -> Option<Option<(u64, u64)>> {
    let (first, last) = header.trim().strip_prefix("bytes=")?.split_once('-')?;
    let number = |s: &str| Some(s.trim()).filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))?.parse::<u64>().ok();
    Some(if first.trim().is_empty() {
        // The last n bytes.
        let n = number(last)?;
        (n > 0 && len > 0).then(|| (len.saturating_sub(n), len - 1))
    } else {
        let start = number(first)?;
        let end = if last.trim().is_empty() { u64::MAX } else { number(last)? };
        if end < start {
            return None;
        }
        (start < len).then(|| (start, end.min(len - 1)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges() {
        assert_eq!(byte_range("bytes=0-9", 100), Some(Some((0, 9))));
        assert_eq!(byte_range("bytes=90-", 100), Some(Some((90, 99))));
        assert_eq!(byte_range("bytes=-10", 100), Some(Some((90, 99))));
        assert_eq!(byte_range("bytes=-1000", 100), Some(Some((0, 99))));
        assert_eq!(byte_range("bytes=50-1000", 100), Some(Some((50, 99))));
        for unsatisfiable in ["bytes=100-", "bytes=100-200", "bytes=-0"] {
            assert_eq!(byte_range(unsatisfiable, 100), Some(None), "{unsatisfiable}");
        }
        assert_eq!(byte_range("bytes=0-", 0), Some(None));
        for ignored in ["bytes=0-1,5-6", "items=0-1", "bytes=5-1", "bytes=-", "bytes=a-b", "bytes=+1-2", "bytes=1"] {
            assert_eq!(byte_range(ignored, 100), None, "{ignored}");
        }
    }
}
