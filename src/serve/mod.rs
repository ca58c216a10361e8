//! `kiln serve`: a preview server for a dist that serves it the way production will: static
//! files in Assetman's three URL forms and by versioned filename, with immutable caching, ETags
//! and precompressed twins, and (with `--app`) the dist's own WSGI app for every other path.

pub mod app;
pub mod http;
pub mod site;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::{cli, fsutil};
use app::App;
use http::{Body, Handler, Limits, Request, Response};
use site::{Route, Site};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// The dist directory (manifest.json, src/partials/, wsgi.pyc, …).
    #[arg(value_name = "DIST")]
    pub dist: PathBuf,
    /// Port to listen on (0: any free port, printed at start).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// URL prefix of the static files.
    #[arg(long, default_value = "/s/")]
    pub prefix: String,
    /// The static root, relative to DIST.
    #[arg(long, value_name = "DIR", default_value = "src/partials")]
    pub static_dir: PathBuf,
    /// The manifest, relative to DIST (without one, files are served as they are, unversioned).
    #[arg(long, value_name = "FILE", default_value = "manifest.json")]
    pub manifest: PathBuf,
    /// Also serve the dist's WSGI app (`module:attribute`) for every path outside the prefix.
    #[arg(long, value_name = "MODULE:APP")]
    pub app: Option<String>,
    /// The Python that runs the app (it must be the one the dist's .pyc were compiled for).
    #[arg(long, value_name = "PATH", default_value = "python3")]
    pub python: String,
    /// Seconds a client has to send a request's head (and then its body), and to take each
    /// write of a response.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub timeout: u64,
    /// Seconds an idle kept-alive connection stays open.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub keep_alive: u64,
    /// Open connections at most; more are answered 503.
    #[arg(long, value_name = "N", default_value_t = 512)]
    pub max_connections: usize,
    /// No line per request on stderr.
    #[arg(long, short)]
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

pub fn serve_main(args: ServeArgs) -> ExitCode {
    let prefix = match normalize_prefix(&args.prefix) {
        Some(p) => p,
        None => return cli::usage(format!("--prefix {:?} must be a URL path such as /s/ (no spaces, ? or #)", args.prefix)),
    };
    if args.app.as_deref().is_some_and(|a| a.is_empty() || a.starts_with(':')) {
        return cli::usage("--app needs MODULE[:ATTRIBUTE], e.g. wsgi:app");
    }
    if args.timeout == 0 || args.keep_alive == 0 || args.max_connections == 0 {
        return cli::usage("--timeout, --keep-alive and --max-connections must be at least 1");
    }
    match start(&args, &prefix) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => cli::fail([e]),
    }
}

/// `/s/` from `/s`, `s/` or `/s/`.
fn normalize_prefix(p: &str) -> Option<String> {
    if p.is_empty() || p.bytes().any(|b| !(0x21..0x7f).contains(&b) || b == b'?' || b == b'#') {
        return None;
    }
    let mut out = String::with_capacity(p.len() + 2);
    if !p.starts_with('/') {
        out.push('/');
    }
    out.push_str(p);
    if !out.ends_with('/') {
        out.push('/');
    }
    Some(out)
}

fn start(args: &ServeArgs, prefix: &str) -> Result<(), ServeError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_normalized() {
        assert_eq!(normalize_prefix("/s/").as_deref(), Some("/s/"));
        assert_eq!(normalize_prefix("s").as_deref(), Some("/s/"));
        assert_eq!(normalize_prefix("/static/beta").as_deref(), Some("/static/beta/"));
        assert_eq!(normalize_prefix("/").as_deref(), Some("/"));
        for bad in ["", "/s /", "/s?x", "/s#"] {
            assert_eq!(normalize_prefix(bad), None, "{bad:?}");
        }
    }
}
