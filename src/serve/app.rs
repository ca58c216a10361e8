//! `--app module:attr`: the dist's WSGI app, run by a Python child process (the embedded
//! wsgi_bridge.py serves it on a private loopback port with waitress or gunicorn when the given
//! Python has one, else with wsgiref) and reached through a reverse proxy: one loopback
//! connection per request, the response streamed back as it comes.

use std::io::{self, BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

use super::http::{text, Body};

const BRIDGE: &str = include_str!("wsgi_bridge.py");

/// How long the app may take to import and start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the app may take to start answering one request.
const APP_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{python}: cannot start: {source}")]
    Spawn { python: String, source: io::Error },
    #[error("the WSGI app {spec} did not start ({why}); its error is above")]
    Start { spec: String, why: String },
}

pub struct App {
    pub spec: String,
    /// The WSGI server that runs it, with its version (`waitress 3.0.2`).
    pub server: String,
    port: u16,
    child: Mutex<Child>,
    /// Held open for the child's lifetime: the bridge exits when this pipe closes, so the app
    /// never outlives kiln serve, even when kiln serve is killed.
    _stdin: ChildStdin,
}

impl App {
    /// Starts `python` on the bridge in `dist` and waits until the app listens.
    pub fn start(python: &str, dist: &Path, spec: &str) -> Result<App, AppError> {
        let mut child = Command::new(python)
            .arg("-B") // never write __pycache__ into the dist
            .arg("-c")
            .arg(BRIDGE)
            .arg(dist)
            .arg(spec)
            .current_dir(dist)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| AppError::Spawn { python: python.to_string(), source })?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let (tx, rx) = mpsc::channel();
        if let Some(stdout) = stdout {
            std::thread::spawn(move || {
                let mut lines = BufReader::new(stdout);
                let mut first = String::new();
                let _ = lines.read_line(&mut first);
                let _ = tx.send(first);
                // Whatever the app prints later goes to kiln serve's stdout.
                let _ = io::copy(&mut lines, &mut io::stdout());
            });
        }
        let fail = |child: &mut Child, why: String| {
            let _ = child.kill();
            let _ = child.wait();
            AppError::Start { spec: spec.to_string(), why }
        };
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(_) => return Err(fail(&mut child, format!("no answer within {} s", START_TIMEOUT.as_secs()))),
        };
        // `kiln-wsgi-port PORT SERVER VERSION`
        let words: Vec<&str> = line.split_whitespace().collect();
        let port = words.get(1).and_then(|p| p.parse::<u16>().ok()).filter(|_| words[0] == "kiln-wsgi-port");
        let (Some(port), Some(stdin)) = (port, stdin) else {
            let why = match child.wait() {
                Ok(status) => format!("{python} {status}"),
                Err(e) => e.to_string(),
            };
            return Err(fail(&mut child, why));
        };
        let server = words[2..].join(" ");
        if server.starts_with("wsgiref") {
            eprintln!("kiln serve: warning: {python} has neither waitress nor gunicorn; {spec} runs on wsgiref, a development server (HTTP/1.0)");
        }
        Ok(App { spec: spec.to_string(), server, port, child: Mutex::new(child), _stdin: stdin })
    }

    /// Passes a request to the app and streams its response back (502/504 when it cannot answer).
    pub async fn forward(&self, req: &Parts, body: Bytes, remote: std::net::SocketAddr) -> Response<Body> {
        let mut upstream = Request::new(Full::new(body));
        *upstream.method_mut() = req.method.clone();
        *upstream.uri_mut() = req.uri.path_and_query().map_or_else(|| "/".into(), |p| p.as_str().to_string()).parse().unwrap_or_default();
        *upstream.headers_mut() = upstream_headers(&req.headers, remote);
        let exchange = async {
            let stream = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).await?;
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(io::Error::other)?;
            tokio::spawn(conn);
            send.send_request(upstream).await.map_err(io::Error::other)
        };
        match tokio::time::timeout(APP_TIMEOUT, exchange).await {
            Ok(Ok(resp)) => {
                let (mut parts, body) = resp.into_parts();
                parts.headers = downstream_headers(parts.headers);
                // kiln answers the client in its own HTTP version, whatever the app's server
                // spoke (wsgiref's HTTP/1.0 would otherwise reach an HTTP/1.1 client).
                parts.version = hyper::Version::HTTP_11;
                Response::from_parts(parts, body.map_err(io::Error::other).boxed())
            }
            Err(_) => text(504, "the WSGI app did not answer in time\n"),
            Ok(Err(e)) => match self.exited() {
                Some(status) => text(502, format!("the WSGI app is not running ({status})\n")),
                None => text(502, format!("the WSGI app failed: {e}\n")),
            },
        }
    }

    fn exited(&self) -> Option<String> {
        let status = self.child.lock().ok()?.try_wait().ok()??;
        Some(status.to_string())
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), those its
/// Connection header lists, and `expect` (kiln serve has answered it).
fn hop_by_hop(headers: &HeaderMap) -> impl Fn(&HeaderName) -> bool {
    const HOP: [&str; 10] = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
    ];
    let listed: Vec<String> =
        headers.get_all(header::CONNECTION).iter().flat_map(|v| v.to_str().unwrap_or("").split(',')).map(|t| t.trim().to_ascii_lowercase()).collect();
    move |name| HOP.contains(&name.as_str()) || listed.iter().any(|l| l == name.as_str())
}

/// The request's headers as the app gets them: one request per connection, the body's length
/// set by the proxy, the client's address in X-Kiln-Remote-Addr. Header names with `_` are
/// dropped (as nginx does): WSGI turns `-` into `_`, so `X_Kiln_Remote_Addr` would otherwise pose
/// as the proxy's own header.
fn upstream_headers(headers: &HeaderMap, remote: std::net::SocketAddr) -> HeaderMap {
    let hop = hop_by_hop(headers);
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        if !(hop(name) || name.as_str().contains('_') || name == header::CONTENT_LENGTH || name == "x-kiln-remote-addr") {
            out.append(name, value.clone());
        }
    }
    out.insert("x-kiln-remote-addr", HeaderValue::from_str(&remote.ip().to_string()).unwrap_or(HeaderValue::from_static("")));
    out.insert(header::CONNECTION, HeaderValue::from_static("close"));
    out
}

/// The app's response headers without hop-by-hop ones and the app server's Date and Server
/// (kiln serve sends its own). Content-Length stays: the body is streamed with that length.
fn downstream_headers(mut headers: HeaderMap) -> HeaderMap {
    let hop = hop_by_hop(&headers);
    let drop: Vec<HeaderName> = headers.keys().filter(|n| hop(n) || *n == header::DATE || *n == header::SERVER).cloned().collect();
    for name in drop {
        headers.remove(name);
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap())).collect()
    }

    fn names(h: &HeaderMap) -> Vec<String> {
        h.iter().map(|(k, v)| format!("{k}: {}", v.to_str().unwrap())).collect()
    }

    #[test]
    fn requests_lose_hop_by_hop_and_spoofable_headers() {
        let h = map(&[
            ("Host", "shop"),
            ("Connection", "keep-alive, X-Secret"),
            ("X-Secret", "1"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Length", "3"),
            ("X-Kiln-Remote-Addr", "6.6.6.6"),
            ("X_Kiln_Remote_Addr", "6.6.6.6"),
            ("Cookie", "a=b"),
        ]);
        let out = upstream_headers(&h, "10.1.2.3:5555".parse().unwrap());
        assert_eq!(names(&out), ["host: shop", "cookie: a=b", "x-kiln-remote-addr: 10.1.2.3", "connection: close"]);
    }

    #[test]
    fn responses_keep_their_length_and_lose_the_servers_headers() {
        let h = map(&[
            ("Date", "x"),
            ("Server", "waitress"),
            ("Set-Cookie", "a=1"),
            ("Content-Length", "5"),
            ("Connection", "close"),
            ("Keep-Alive", "5"),
        ]);
        let mut h = h;
        h.append("set-cookie", HeaderValue::from_static("b=2"));
        assert_eq!(names(&downstream_headers(h)), ["set-cookie: a=1", "set-cookie: b=2", "content-length: 5"]);
    }
}
