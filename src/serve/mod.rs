//! The preview server (`kiln serve`) for a dist that serves it the way production will: static
//! files in Assetman's three URL forms and by versioned filename, with immutable caching, ETags
//! and precompressed twins, and (with `--app`) the dist's own WSGI app for every other path.

pub mod app;
pub mod http;
pub mod site;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::fsutil;
use app::App;
use http::{Body, Handler, Limits, Request, Response};
use site::{Route, Site};

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
    let static_root = args.dist.join(&args.static_dir);
    let manifest = args.dist.join(&args.manifest);
    let manifest = manifest.is_file().then_some(manifest);
    let site = Site::load(&static_root, manifest.as_deref(), prefix)?;
    let addr = format!("{}:{}", args.bind, args.port);
    let listener = TcpListener::bind(&addr).map_err(|source| ServeError::Listen { addr: addr.clone(), source })?;
    let local = listener.local_addr().map_err(|source| ServeError::Listen { addr: addr.clone(), source })?;
    let app = match &args.app {
        Some(spec) => {
            let dist = fsutil::absolute_lexical(&args.dist).map_err(site::SiteError::from)?;
            Some(App::start(&args.python, &dist, spec)?)
        }
        None => None,
    };
    let what = match &manifest {
        Some(m) => format!("{} assets and {} blocks from {}", site.asset_count(), site.block_count(), fsutil::display(m)),
        None => "no manifest: unversioned files only".to_string(),
    };
    println!(
        "kiln serve: http://{local}/ — {} files under {prefix} from {} ({what}){}",
        site.file_count(),
        fsutil::display(&static_root),
        args.app.as_ref().map(|a| format!("; other paths: {a}")).unwrap_or_default()
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
    let handler = Arc::new(Kiln { site, app, prefix: prefix.to_string() });
    let e = http::run(listener, handler, limits);
    Err(ServeError::Listen { addr: local.to_string(), source: e })
}

struct Kiln {
    site: Site,
    app: Option<App>,
    prefix: String,
}

impl Handler for Kiln {
    fn handle(&self, req: &Request) -> Response {
        if let Some(rest) = req.path().strip_prefix(self.prefix.as_str()) {
            return self.static_file(req, rest);
        }
        match &self.app {
            Some(app) => app.forward(req),
            None => not_found(),
        }
    }
}

fn not_found() -> Response {
    Response::text(404, "404 Not Found\n").header("X-Content-Type-Options", "nosniff")
}

impl Kiln {
    /// Everything under the prefix belongs to the static files: a 404 here never falls through
    /// to the app, so a refused path cannot reach it either.
    fn static_file(&self, req: &Request, raw: &str) -> Response {
        if req.method != "GET" && req.method != "HEAD" {
            return Response::text(405, "405 Method Not Allowed\n").header("Allow", "GET, HEAD");
        }
        let Some(rel) = site::clean_path(raw) else { return not_found() };
        match self.site.route(&rel) {
            Route::NotFound => not_found(),
            Route::Fallback { content_type, body, parts } => Response::new(200)
                .header("Content-Type", content_type)
                .header("Cache-Control", "no-cache")
                .header("X-Content-Type-Options", "nosniff")
                .header("X-Kiln-Fallback", parts.join(", "))
                .body(body),
            Route::File(s) => {
                let names: Vec<&str> = s.twins.iter().map(|(e, _)| *e).collect();
                let encoding = site::negotiate(req.header("accept-encoding"), &names);
                let mut resp = Response::new(200);
                if let Some(v) = &s.version {
                    resp = resp.header("ETag", site::etag(v, encoding));
                }
                resp = resp.header("Cache-Control", s.cache.header());
                if !s.twins.is_empty() {
                    resp = resp.header("Vary", "Accept-Encoding");
                }
                if let (Some(inm), Some(v)) = (req.header("if-none-match"), &s.version) {
                    if site::none_match(inm, v) {
                        resp.status = 304;
                        return resp;
                    }
                }
                let path: &Path = match encoding {
                    Some(e) => s.twins.iter().find(|(n, _)| *n == e).map_or(&s.path, |(_, p)| p),
                    None => &s.path,
                };
                let file = match std::fs::File::open(path).and_then(|f| f.metadata().map(|m| (f, m.len()))) {
                    Ok(f) => f,
                    Err(_) => return not_found(),
                };
                resp = resp.header("Content-Type", s.content_type).header("X-Content-Type-Options", "nosniff");
                if let Some(e) = encoding {
                    resp = resp.header("Content-Encoding", e);
                }
                resp.body = Body::File(file.0, file.1);
                resp
            }
        }
    }
}
