//! `kiln serve`: preview a dist the way production serves it (see `serve`).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli;
use crate::serve::{self, ServeOptions};

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

impl ServeArgs {
    fn options(&self) -> ServeOptions {
        ServeOptions {
            dist: self.dist.clone(),
            port: self.port,
            bind: self.bind.clone(),
            static_dir: self.static_dir.clone(),
            manifest: self.manifest.clone(),
            app: self.app.clone(),
            python: self.python.clone(),
            timeout: self.timeout,
            keep_alive: self.keep_alive,
            max_connections: self.max_connections,
            quiet: self.quiet,
        }
    }
}

pub fn main(args: ServeArgs) -> ExitCode {
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
    match serve::start(&args.options(), &prefix) {
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
