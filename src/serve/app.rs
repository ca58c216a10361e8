//! `--app module:attr`: the dist's WSGI app, run by a Python child process (the embedded
//! wsgi_bridge.py serves it with wsgiref on a private loopback port) and reached through a small
//! HTTP/1.0 proxy: one loopback connection per request, the response read whole.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use super::http::{Request, Response};

const BRIDGE: &str = include_str!("wsgi_bridge.py");

/// How long the app may take to import and start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one request may take inside the app.
const APP_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest response the proxy buffers.
const MAX_RESPONSE: u64 = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{python}: cannot start: {source}")]
    Spawn { python: String, source: io::Error },
    #[error("the WSGI app {spec} did not start ({why}); its error is above")]
    Start { spec: String, why: String },
}

pub struct App {
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
        let port = line.strip_prefix("kiln-wsgi-port ").and_then(|p| p.trim().parse::<u16>().ok());
        let (Some(port), Some(stdin)) = (port, stdin) else {
            let why = match child.wait() {
                Ok(status) => format!("{python} {status}"),
                Err(e) => e.to_string(),
            };
            return Err(fail(&mut child, why));
        };
        Ok(App { port, child: Mutex::new(child), _stdin: stdin })
    }

    /// Passes a request to the app and returns its response (502/504 when it cannot answer).
    pub fn forward(&self, req: &Request) -> Response {
        match self.exchange(req) {
            Ok(resp) => resp,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                Response::text(504, "the WSGI app did not answer in time\n")
            }
            Err(e) => {
                let exited = self.child.lock().ok().and_then(|mut c| c.try_wait().ok().flatten());
                match exited {
                    Some(status) => Response::text(502, &format!("the WSGI app is not running ({status})\n")),
                    None => Response::text(502, &format!("the WSGI app failed: {e}\n")),
                }
            }
        }
    }

    fn exchange(&self, req: &Request) -> io::Result<Response> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        s.set_read_timeout(Some(APP_TIMEOUT))?;
        s.set_write_timeout(Some(APP_TIMEOUT))?;
        s.write_all(&request_bytes(req))?;
        let mut raw = Vec::new();
        (&mut s).take(MAX_RESPONSE + 64 * 1024).read_to_end(&mut raw)?;
        parse_response(&raw, req.method == "HEAD").ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "malformed response"))
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

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus the ones the
/// proxy sets itself.
fn hop_by_hop(name: &str, listed: &[String]) -> bool {
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
    let lower = name.to_ascii_lowercase();
    HOP.contains(&lower.as_str()) || listed.contains(&lower)
}

fn connection_tokens(headers: &[(String, String)]) -> Vec<String> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .collect()
}

/// The request as the bridge gets it: HTTP/1.0, one request per connection, the body already
/// de-chunked with its length, the client's address in X-Kiln-Remote-Addr. Header names with
/// `_` are dropped (as nginx does): WSGI turns `-` into `_`, so `X_Kiln_Remote_Addr` would
/// otherwise pose as the proxy's own header.
fn request_bytes(req: &Request) -> Vec<u8> {
    let listed = connection_tokens(&req.headers);
    let mut out = format!("{} {} HTTP/1.0\r\n", req.method, req.target).into_bytes();
    for (name, value) in &req.headers {
        if hop_by_hop(name, &listed)
            || name.contains('_')
            || name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("x-kiln-remote-addr")
        {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("X-Kiln-Remote-Addr: {}\r\n", req.remote.ip()).as_bytes());
    if !req.body.is_empty() || matches!(req.method.as_str(), "POST" | "PUT" | "PATCH") {
        out.extend_from_slice(format!("Content-Length: {}\r\n", req.body.len()).as_bytes());
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(&req.body);
    out
}

/// Parses the bridge's response (read to end of stream). Drops hop-by-hop headers and the
/// bridge's Date and Server (kiln serve writes its own); keeps the app's Content-Length only for
/// HEAD, where it describes the body a GET would get.
fn parse_response(raw: &[u8], head: bool) -> Option<Response> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let text = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let status: u16 = parts.next()?.parse().ok().filter(|s| (100..600).contains(s))?;
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut length: Option<usize> = None;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        headers.push((name.to_string(), value.to_string()));
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().ok();
        }
    }
    let listed = connection_tokens(&headers);
    headers.retain(|(n, _)| {
        !(hop_by_hop(n, &listed)
            || n.eq_ignore_ascii_case("date")
            || n.eq_ignore_ascii_case("server")
            || (n.eq_ignore_ascii_case("content-length") && !head))
    });
    let mut body = raw[end + 4..].to_vec();
    if let Some(n) = length {
        body.truncate(n);
    }
    if head {
        body.clear();
    }
    let mut resp = Response::new(status);
    resp.headers = headers;
    Some(resp.body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_lose_hop_by_hop_and_spoofable_headers() {
        let req = Request {
            method: "POST".into(),
            target: "/cart?x=1".into(),
            minor: 1,
            headers: [
                ("Host", "shop"),
                ("Connection", "keep-alive, X-Secret"),
                ("X-Secret", "1"),
                ("Transfer-Encoding", "chunked"),
                ("X-Kiln-Remote-Addr", "6.6.6.6"),
                ("X_Kiln_Remote_Addr", "6.6.6.6"),
                ("Cookie", "a=b"),
            ]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
            body: b"q=1".to_vec(),
            remote: "10.1.2.3:5555".parse().unwrap(),
        };
        let text = String::from_utf8(request_bytes(&req)).unwrap();
        assert_eq!(
            text,
            "POST /cart?x=1 HTTP/1.0\r\nHost: shop\r\nCookie: a=b\r\nX-Kiln-Remote-Addr: 10.1.2.3\r\nContent-Length: 3\r\nConnection: close\r\n\r\nq=1"
        );
    }

    #[test]
    fn responses_are_reframed() {
        let raw = b"HTTP/1.0 201 Created\r\nDate: x\r\nServer: WSGIServer/0.2\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello, extra";
        let r = parse_response(raw, false).unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(r.headers, [("Set-Cookie".to_string(), "a=1".to_string()), ("Set-Cookie".to_string(), "b=2".to_string())]);
        assert!(matches!(r.body, super::super::http::Body::Bytes(ref b) if b == b"hello"));
        let h = parse_response(raw, true).unwrap();
        assert!(h.headers.iter().any(|(n, v)| n == "Content-Length" && v == "5"));
        assert!(parse_response(b"garbage", false).is_none());
    }
}
