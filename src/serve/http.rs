//! The connection layer under `kiln serve`: hyper's HTTP/1.1 on tokio, each connection behind a
//! [`Gate`] that enforces kiln's limits on what a client sends, with kiln's status codes.
//!
//! hyper has limits of its own, but not these: it answers an over-long request line with 431 (or
//! only once its 400 KiB buffer is full), `HTTP/2.0` and a `Transfer-Encoding` it cannot decode
//! with 400, accepts `Content-Length` beside `Transfer-Encoding` and a request without `Host`,
//! and closes a connection whose head is too slow without a word. So the gate reads each request
//! head itself, hands it to hyper only once it is whole and within the limits, and otherwise
//! answers 414, 431, 505, 501, 400, 413, 417 or 408 and closes. Bodies are hyper's to decode.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, SystemTime};

use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{sleep, Instant, Sleep};

/// What a client may send and how long it may take.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest request line (method, target, version): longer gets 414.
    pub request_line: usize,
    /// Longest request head (request line and headers): longer gets 431.
    pub head: usize,
    /// Most header fields: more gets 431.
    pub headers: usize,
    /// Largest request body (only the app reads bodies): larger gets 413.
    pub body: usize,
    /// A request's head, and then its body, must arrive within this (else 408); it also bounds
    /// each write to a client that stops reading, and a new connection's wait for its first byte.
    pub timeout: Duration,
    /// How long a kept-alive connection may sit idle between requests.
    pub keep_alive: Duration,
    /// Open connections at most; one more is answered 503 and closed.
    pub max_connections: usize,
    /// One line per request on stderr.
    pub log: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_line: 8 * 1024,
            head: 32 * 1024,
            headers: 100,
            body: 16 * 1024 * 1024,
            timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(5),
            max_connections: 512,
            log: true,
        }
    }
}

/// Every response body: bytes in memory, a file streamed, or the app's response streamed.
pub type Body = BoxBody<Bytes, io::Error>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// A short plain-text response (errors).
pub fn text(status: u16, text: impl Into<String>) -> Response<Body> {
    let mut r = Response::new(full(text.into()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// A request head that is refused: the status and a one-line reason.
type Refusal = (u16, &'static str);

/// Checks the head at the start of `buf`: `Ok(None)` while it is incomplete (and within the
/// limits so far), else the bytes it takes (blank line included) and the body length that follows
/// it (`u64::MAX`: chunked, up to the end of the connection). Only what hyper does not check, or
/// answers with another status, is checked here; hyper rejects the rest of a malformed head.
pub fn check_head(buf: &[u8], limits: &Limits) -> Result<Option<(usize, u64)>, Refusal> {
    if buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len()) > limits.request_line {
        return Err((414, "request line too long"));
    }
    let Some(end) = find_head_end(buf) else {
        return if buf.len() > limits.head { Err((431, "request header fields too large")) } else { Ok(None) };
    };
    if end > limits.head {
        return Err((431, "request header fields too large"));
    }
    let mut lines = buf[..end].split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l)).filter(|l| !l.is_empty());
    let line = lines.next().unwrap_or_default();
    let mut words = line.split(|&b| b == b' ');
    let (target, version) = (words.nth(1).unwrap_or_default(), words.next().unwrap_or_default());
    let http10 = match version {
        b"HTTP/1.1" => false,
        b"HTTP/1.0" => true,
        [b'H', b'T', b'T', b'P', b'/', a, b'.', b] if a.is_ascii_digit() && b.is_ascii_digit() => {
            return Err((505, "only HTTP/1.0 and HTTP/1.1 are supported"))
        }
        _ => return Err((400, "malformed request line")),
    };
    if !(target.starts_with(b"/") || target == b"*" || target.to_ascii_lowercase().starts_with(b"http")) {
        return Err((400, "malformed request target"));
    }
    let (mut count, mut hosts, mut chunked, mut length) = (0, 0, None, None::<u64>);
    for l in lines {
        count += 1;
        let Some(colon) = l.iter().position(|&b| b == b':') else { continue };
        let (name, value) = (&l[..colon], String::from_utf8_lossy(&l[colon + 1..]).trim().to_ascii_lowercase());
        if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked = Some(chunked.unwrap_or(true) && value == "chunked");
        } else if name.eq_ignore_ascii_case(b"content-length") {
            for v in value.split(',').map(str::trim) {
                let n = v.parse::<u64>().ok().filter(|_| !v.is_empty() && v.len() <= 18 && v.bytes().all(|b| b.is_ascii_digit()));
                match (n, length) {
                    (None, _) => return Err((400, "malformed Content-Length")),
                    (Some(n), Some(l)) if n != l => return Err((400, "conflicting Content-Length values")),
                    (n, _) => length = n,
                }
            }
        } else if name.eq_ignore_ascii_case(b"expect") && value != "100-continue" {
            return Err((417, "unsupported Expect"));
        }
    }
    if count > limits.headers {
        return Err((431, "request header fields too large"));
    }
    if hosts > 1 || (!http10 && hosts == 0) {
        return Err((400, "an HTTP/1.1 request needs exactly one Host header"));
    }
    match (chunked, length) {
        // Both framings at once is how requests are smuggled past proxies.
        (Some(_), Some(_)) => Err((400, "Transfer-Encoding with Content-Length")),
        (Some(_), _) if http10 => Err((400, "Transfer-Encoding in HTTP/1.0")),
        (Some(false), _) => Err((501, "only the chunked transfer coding is supported")),
        (Some(true), _) => Ok(Some((end, u64::MAX))),
        (None, Some(n)) if n > limits.body as u64 => Err((413, "request body too large")),
        (None, n) => Ok(Some((end, n.unwrap_or(0)))),
    }
}

/// The length of the head at the start of `buf` up to and including its blank line (LF or CRLF).
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(off) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + off;
        match buf.get(nl + 1) {
            Some(b'\n') => return Some(nl + 2),
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\n') => return Some(nl + 3),
            _ => i = nl + 1,
        }
    }
    None
}

enum State {
    /// Waiting for a request head: since when, and since when its first byte is here.
    Head(Option<Instant>, Option<Instant>),
    /// Handing hyper this many more bytes (a checked head and its body).
    Pass(u64),
    /// Sending a refusal (written so far), then closing.
    Refuse(Vec<u8>, usize),
    /// Reading what the client still sends for a moment before closing: a close with unread
    /// input makes the kernel send a reset, which can destroy the refusal before it is read.
    Drain(Instant, usize),
    Closed,
}

/// The socket as hyper sees it: request heads only once checked, writes bounded by the timeout.
struct Gate {
    io: TcpStream,
    limits: Arc<Limits>,
    /// Bytes read and not yet handed to hyper.
    buf: Vec<u8>,
    /// Where the socket is read into (zeroed once per connection, not per read).
    scratch: Box<[u8]>,
    state: State,
    /// A request was handed over: from now on the wait for the next one is the keep-alive.
    served: bool,
    eof: bool,
    read_timer: Pin<Box<Sleep>>,
    write_timer: Option<Pin<Box<Sleep>>>,
}

impl Gate {
    fn refuse(&mut self, (status, why): Refusal) {
        let reason = StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
        let date = httpdate::fmt_http_date(SystemTime::now());
        let head = format!("HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n", why.len() + 1);
        let out = format!("{head}Date: {date}\r\nServer: kiln\r\nConnection: close\r\n\r\n{why}\n");
        self.state = State::Refuse(out.into_bytes(), 0);
    }

    /// True once `deadline` has passed; else the read timer wakes the task by then. A head's
    /// deadline moves later with each request, and moving a timer costs more than a wake-up:
    /// the timer is reset only when it fires early (or is set too late), not per request.
    fn expired(&mut self, cx: &mut Context<'_>, deadline: Instant) -> bool {
        if Instant::now() >= deadline {
            return true;
        }
        if self.read_timer.deadline() > deadline || self.read_timer.as_mut().poll(cx).is_ready() {
            self.read_timer.as_mut().reset(deadline);
            let _ = self.read_timer.as_mut().poll(cx);
        }
        false
    }

    /// A write-side result, failed once it has been pending for longer than the timeout.
    fn timed<T>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if r.is_ready() {
            self.write_timer = None;
            return r;
        }
        let timeout = self.limits.timeout;
        let timer = self.write_timer.get_or_insert_with(|| Box::pin(sleep(timeout)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::ErrorKind::TimedOut.into())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Gate {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let g = self.get_mut();
        loop {
            match &mut g.state {
                State::Pass(0) => {
                    g.state = State::Head(None, None);
                    continue;
                }
                State::Pass(left) if !g.buf.is_empty() => {
                    let n = g.buf.len().min(out.remaining()).min(usize::try_from(*left).unwrap_or(usize::MAX));
                    out.put_slice(&g.buf[..n]);
                    g.buf.drain(..n);
                    *left -= n as u64;
                    return Poll::Ready(Ok(()));
                }
                State::Pass(_) if g.eof => return Poll::Ready(Ok(())),
                State::Pass(_) => {}
                State::Head(since, first) => {
                    // Empty lines before a request line are ignored (RFC 9112 §2.2).
                    let blank = g.buf.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
                    g.buf.drain(..blank);
                    let now = Instant::now();
                    let since = *since.get_or_insert(now);
                    if !g.buf.is_empty() && first.is_none() {
                        *first = Some(now);
                    }
                    let deadline = match first {
                        Some(t) => *t + g.limits.timeout,
                        None => since + if g.served { g.limits.keep_alive } else { g.limits.timeout },
                    };
                    let started = first.is_some();
                    match check_head(&g.buf, &g.limits) {
                        Ok(Some((head, body))) => {
                            g.state = State::Pass((head as u64).saturating_add(body));
                            g.served = true;
                        }
                        Err(refusal) => g.refuse(refusal),
                        Ok(None) if g.expired(cx, deadline) && started => g.refuse((408, "request not received in time")),
                        // Silent, or gone, before a request began: close without a word.
                        Ok(None) if g.eof || g.expired(cx, deadline) => g.state = State::Closed,
                        Ok(None) => {}
                    }
                    if !matches!(g.state, State::Head(..)) {
                        continue;
                    }
                }
                State::Refuse(bytes, written) => {
                    while *written < bytes.len() {
                        match ready!(Pin::new(&mut g.io).poll_write(cx, &bytes[*written..])) {
                            Ok(n) if n > 0 => *written += n,
                            _ => break,
                        }
                    }
                    let _ = ready!(Pin::new(&mut g.io).poll_shutdown(cx));
                    g.state = State::Drain(Instant::now() + Duration::from_millis(500), 0);
                    continue;
                }
                State::Drain(until, drained) => {
                    let (until, drained) = (*until, *drained);
                    let mut rb = ReadBuf::new(&mut g.scratch);
                    match Pin::new(&mut g.io).poll_read(cx, &mut rb) {
                        Poll::Ready(Ok(())) if !rb.filled().is_empty() && drained < 1 << 20 => {
                            g.state = State::Drain(until, drained + rb.filled().len());
                        }
                        Poll::Pending if !g.expired(cx, until) => return Poll::Pending,
                        _ => g.state = State::Closed,
                    }
                    continue;
                }
                State::Closed => return Poll::Ready(Ok(())),
            }
            let mut rb = ReadBuf::new(&mut g.scratch);
            match Pin::new(&mut g.io).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) if rb.filled().is_empty() => g.eof = true,
                Poll::Ready(Ok(())) => g.buf.extend_from_slice(rb.filled()),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                // The head's timer is armed above; a body's is the handler's.
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl AsyncWrite for Gate {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let g = self.get_mut();
        let r = Pin::new(&mut g.io).poll_write(cx, buf);
        g.timed(cx, r)
    }

    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let g = self.get_mut();
        let r = Pin::new(&mut g.io).poll_write_vectored(cx, bufs);
        g.timed(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let g = self.get_mut();
        let r = Pin::new(&mut g.io).poll_flush(cx);
        g.timed(cx, r)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let g = self.get_mut();
        let r = Pin::new(&mut g.io).poll_shutdown(cx);
        g.timed(cx, r)
    }
}

const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n";

/// Accepts connections until the listener fails for good, and serves each with `handle` on one of
/// a few current-thread runtimes, dealt in turn: a connection's tasks stay on one thread (no work
/// stealing, no waking another worker), and the threads share the connections evenly.
pub fn run<H, F>(listener: std::net::TcpListener, limits: Limits, handle: H) -> io::Error
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let mut workers = Vec::new();
    // One per core, as nginx's `worker_processes auto`: on an idle 2-core machine two per core
    // gave 5-6 ms p99 against 2.7-3.3 ms (bench/RESULTS.md "serve").
    for _ in 0..std::thread::available_parallelism().map_or(1, |n| n.get()) {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => return e,
        };
        workers.push(runtime.handle().clone());
        std::thread::spawn(move || runtime.block_on(std::future::pending::<()>()));
    }
    let limits = Arc::new(limits);
    let open = Arc::new(AtomicUsize::new(0));
    let (mut failures, mut next) = (0, 0);
    loop {
        let (stream, remote) = match listener.accept() {
            Ok(accepted) => accepted,
            // Out of file descriptors, or a connection reset before it was accepted: wait a
            // moment and go on; only a listener that keeps failing ends the server.
            Err(e) => {
                failures += 1;
                if failures > 1000 {
                    return e;
                }
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        failures = 0;
        let _ = stream.set_nonblocking(true);
        if open.fetch_add(1, Ordering::AcqRel) >= limits.max_connections {
            open.fetch_sub(1, Ordering::AcqRel);
            // A best-effort 503 without waiting for the client.
            let _ = io::Write::write(&mut &stream, BUSY);
            let _ = stream.shutdown(std::net::Shutdown::Write);
            continue;
        }
        let (limits, open, handle) = (Arc::clone(&limits), Arc::clone(&open), handle.clone());
        next = (next + 1) % workers.len();
        workers[next].spawn(async move {
            if let Ok(stream) = TcpStream::from_std(stream) {
                let _ = stream.set_nodelay(true);
                let read_timer = Box::pin(sleep(limits.timeout));
                let gate = Gate {
                    io: stream,
                    limits,
                    buf: Vec::new(),
                    scratch: vec![0; 16 * 1024].into(),
                    state: State::Head(None, None),
                    served: false,
                    eof: false,
                    read_timer,
                    write_timer: None,
                };
                let service = hyper::service::service_fn(move |req| {
                    let response = handle(req, remote);
                    async move { Ok::<_, Infallible>(response.await) }
                });
                // Half-close: hyper does not read while a response is under way, so the gate's
                // timers run only while hyper waits for a request.
                let _ = hyper::server::conn::http1::Builder::new().half_close(true).serve_connection(TokioIo::new(gate), service).await;
            }
            open.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(s: &str) -> Result<Option<(usize, u64)>, u16> {
        check_head(s.as_bytes(), &Limits::default()).map_err(|(status, _)| status)
    }

    #[test]
    fn heads_are_checked_before_hyper_sees_them() {
        assert_eq!(check("GET /s/a.css HTTP/1.1\r\nHost: x\r\n\r\nnext"), Ok(Some((34, 0))));
        assert_eq!(check("GET / HTTP/1.0\n\n"), Ok(Some((16, 0))));
        assert_eq!(check("GET / HTTP/1.1\r\nHost: x\r\n"), Ok(None), "incomplete");
        assert_eq!(check("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12, 12\r\n\r\n"), Ok(Some((52, 12))));
        assert_eq!(check("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"), Ok(Some((56, u64::MAX))));
        for (head, status) in [
            ("GET /a HTTP/1.1\r\n\r\n", 400),
            ("GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            ("GET a HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET /a\r\nHost: a\r\n\r\n", 400),
            ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\nContent-Length: 13\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +12\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999\r\n\r\n", 413),
            ("POST / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", 417),
        ] {
            assert_eq!(check(head), Err(status), "{head:?}");
        }
        let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(check(&format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n")), Err(431));
        assert_eq!(check(&format!("GET /{}", "a".repeat(9000))), Err(414), "no line end yet");
        assert_eq!(check(&format!("GET / HTTP/1.1\r\nCookie: {}", "c".repeat(40_000))), Err(431), "no head end yet");
    }
}
