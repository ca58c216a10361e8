//! The HTTP/1.1 server under `kiln serve`: std::net, a growing pool of worker threads (one per
//! open connection, up to a cap), and hard limits on everything a client controls.
//!
//! Not tiny_http: 0.12 reads the request line and each header line with no length limit
//! (`ClientConnection::read_next_line` grows a Vec until CRLF), sets no socket timeouts (a client
//! that sends one byte a minute keeps its connection forever), starts a thread for every accepted
//! connection with no upper bound (`util::TaskPool::spawn`), and exposes no hook to change any of
//! it: sockets are accepted inside its own thread. Those are exactly the properties a server that
//! faces bad requests needs, so this module implements the small part of HTTP/1.1 kiln needs.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// A parsed request. Header names keep their case; look them up with [`Request::header`].
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request target in origin form (`/path?query`), or `*`.
    pub target: String,
    /// `1` for HTTP/1.1, `0` for HTTP/1.0.
    pub minor: u8,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub remote: SocketAddr,
}

impl Request {
    /// The first value of a header (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The target without its query string.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(self.target.as_str(), |(p, _)| p)
    }

    fn keep_alive(&self) -> bool {
        let tokens = self.header("connection").unwrap_or("").to_ascii_lowercase();
        let has = |t: &str| tokens.split(',').any(|x| x.trim() == t);
        if self.minor == 0 {
            has("keep-alive")
        } else {
            !has("close")
        }
    }
}

pub enum Body {
    Empty,
    Bytes(Vec<u8>),
    /// An open file and how many bytes of it to send.
    File(std::fs::File, u64),
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Response {
    pub fn new(status: u16) -> Self {
        Response { status, headers: Vec::new(), body: Body::Empty }
    }

    /// A short plain-text response (errors).
    pub fn text(status: u16, text: &str) -> Self {
        Response::new(status).header("Content-Type", "text/plain; charset=utf-8").body(text.as_bytes().to_vec())
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn body(mut self, bytes: Vec<u8>) -> Self {
        self.body = Body::Bytes(bytes);
        self
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}

/// Answers requests; called from many worker threads at once.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, req: &Request) -> Response;
}

/// Why a request could not be read; each maps to the status sent before closing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadError {
    Bad(&'static str),
    UriTooLong,
    HeadTooLarge,
    BodyTooLarge,
    Version,
    NotImplemented(&'static str),
    Expectation,
    Timeout,
}

impl HeadError {
    pub fn status(&self) -> u16 {
        match self {
            HeadError::Bad(_) => 400,
            HeadError::UriTooLong => 414,
            HeadError::HeadTooLarge => 431,
            HeadError::BodyTooLarge => 413,
            HeadError::Version => 505,
            HeadError::NotImplemented(_) => 501,
            HeadError::Expectation => 417,
            HeadError::Timeout => 408,
        }
    }

    fn message(&self) -> &'static str {
        match self {
            HeadError::Bad(why) | HeadError::NotImplemented(why) => why,
            HeadError::UriTooLong => "request line too long",
            HeadError::HeadTooLarge => "request header fields too large",
            HeadError::BodyTooLarge => "request body too large",
            HeadError::Version => "only HTTP/1.0 and HTTP/1.1 are supported",
            HeadError::Expectation => "unsupported Expect",
            HeadError::Timeout => "request not received in time",
        }
    }
}

/// A request head: everything before the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    pub target: String,
    pub minor: u8,
    pub headers: Vec<(String, String)>,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parses a request head (request line and header lines, LF or CRLF line ends, without the blank
/// line that ends it). Strict where leniency has been exploited: no whitespace before a header's
/// colon, no obsolete line folding, no control bytes, one Host, one Content-Length value.
pub fn parse_head(bytes: &[u8], limits: &Limits) -> Result<Head, HeadError> {
    let mut lines = bytes.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let line = lines.next().unwrap_or_default();
    if line.len() > limits.request_line {
        return Err(HeadError::UriTooLong);
    }
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(HeadError::Bad("malformed request line"));
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(HeadError::Bad("malformed method"));
    }
    // Request targets are ASCII: anything else must be percent-encoded.
    if target.is_empty() || !target.iter().all(|&b| (0x21..0x7f).contains(&b)) {
        return Err(HeadError::Bad("malformed request target"));
    }
    let minor = match version {
        b"HTTP/1.1" => 1,
        b"HTTP/1.0" => 0,
        [b'H', b'T', b'T', b'P', b'/', a, b'.', b] if a.is_ascii_digit() && b.is_ascii_digit() => return Err(HeadError::Version),
        _ => return Err(HeadError::Bad("malformed HTTP version")),
    };
    let method = String::from_utf8_lossy(method).into_owned();
    let target = origin_form(&String::from_utf8_lossy(target), &method)?;
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            return Err(HeadError::Bad("obsolete header line folding"));
        }
        let colon = line.iter().position(|&b| b == b':').ok_or(HeadError::Bad("header line without a colon"))?;
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(HeadError::Bad("malformed header name"));
        }
        if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(HeadError::Bad("control character in a header value"));
        }
        if headers.len() == limits.headers {
            return Err(HeadError::HeadTooLarge);
        }
        let value = String::from_utf8_lossy(value).trim_matches([' ', '\t']).to_string();
        headers.push((String::from_utf8_lossy(name).into_owned(), value));
    }
    let hosts = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("host")).count();
    if hosts > 1 || (minor == 1 && hosts == 0) {
        return Err(HeadError::Bad("an HTTP/1.1 request needs exactly one Host header"));
    }
    Ok(Head { method, target, minor, headers })
}

/// Turns an absolute-form target (`http://host/path`, which servers must accept) into origin
/// form; `*` is only for OPTIONS.
fn origin_form(target: &str, method: &str) -> Result<String, HeadError> {
    if target.starts_with('/') {
        return Ok(target.to_string());
    }
    if target == "*" && method == "OPTIONS" {
        return Ok(target.to_string());
    }
    let lower = target.to_ascii_lowercase();
    for scheme in ["http://", "https://"] {
        if lower.starts_with(scheme) {
            let rest = &target[scheme.len()..];
            return Ok(match rest.find(['/', '?']) {
                Some(i) if rest.as_bytes()[i] == b'/' => rest[i..].to_string(),
                Some(i) => format!("/{}", &rest[i..]),
                None => "/".to_string(),
            });
        }
    }
    Err(HeadError::Bad("malformed request target"))
}

/// How the body of a request is framed.
#[derive(Debug, PartialEq, Eq)]
enum Framing {
    None,
    Length(usize),
    Chunked,
}

fn framing(head: &Head, limits: &Limits) -> Result<Framing, HeadError> {
    let values = |name: &str| -> Vec<&str> { head.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect() };
    let te = values("transfer-encoding");
    let cl = values("content-length");
    if !te.is_empty() {
        // Both framings at once is how requests are smuggled past proxies.
        if !cl.is_empty() || head.minor == 0 {
            return Err(HeadError::Bad("Transfer-Encoding with Content-Length or in HTTP/1.0"));
        }
        let codings: Vec<String> = te.iter().flat_map(|v| v.split(',')).map(|c| c.trim().to_ascii_lowercase()).collect();
        if codings != ["chunked"] {
            return Err(HeadError::NotImplemented("only the chunked transfer coding is supported"));
        }
        return Ok(Framing::Chunked);
    }
    let mut len: Option<u64> = None;
    for v in cl.iter().flat_map(|v| v.split(',')) {
        let v = v.trim();
        if v.is_empty() || v.len() > 18 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HeadError::Bad("malformed Content-Length"));
        }
        let n: u64 = v.parse().map_err(|_| HeadError::Bad("malformed Content-Length"))?;
        if len.is_some_and(|l| l != n) {
            return Err(HeadError::Bad("conflicting Content-Length values"));
        }
        len = Some(n);
    }
    match len {
        None | Some(0) => Ok(Framing::None),
        Some(n) if n > limits.body as u64 => Err(HeadError::BodyTooLarge),
        Some(n) => Ok(Framing::Length(n as usize)),
    }
}

/// One client connection: its socket and the bytes read but not yet consumed (pipelined
/// requests stay in `buf` for the next round).
struct Conn<'a> {
    stream: TcpStream,
    buf: Vec<u8>,
    /// The read timeout last set on the socket.
    read_timeout: Option<Duration>,
    limits: &'a Limits,
}

fn timed_out(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

enum ReadHead {
    Head(Vec<u8>),
    /// The client closed, or stayed silent, before starting a request: close without a word.
    Closed,
}

impl Conn<'_> {
    /// Reads more bytes, waiting at most until `deadline`. Ok(0) is end of stream.
    fn fill(&mut self, deadline: Instant) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(io::ErrorKind::TimedOut.into());
            }
            // Setting the socket timeout is a syscall; keep-alive requests would pay it on
            // every read for a change of microseconds. So it is only set when it is 50 ms off:
            // a timeout that fires early is retried below, and 50 ms late does not matter.
            let remaining = deadline - now;
            let off = |t: Duration| t.abs_diff(remaining);
            if self.read_timeout.is_none_or(|t| off(t) > Duration::from_millis(50)) {
                self.stream.set_read_timeout(Some(remaining))?;
                self.read_timeout = Some(remaining);
            }
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if timed_out(&e) && Instant::now() < deadline => {
                    self.read_timeout = None;
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads until a whole request head is buffered and takes it out of the buffer.
    fn read_head(&mut self, idle: Duration) -> Result<ReadHead, HeadError> {
        let wait_start = Instant::now();
        let mut first_byte: Option<Instant> = None;
        let mut scanned = 0;
        loop {
            // Empty lines before a request line are ignored (RFC 9112 §2.2).
            let blank = self.buf.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
            if blank > 0 {
                self.buf.drain(..blank);
                scanned = 0;
            }
            if !self.buf.is_empty() && first_byte.is_none() {
                first_byte = Some(Instant::now());
            }
            if let Some((head_len, consumed)) = find_head_end(&self.buf, scanned) {
                let line_len = self.buf.iter().position(|&b| b == b'\n').unwrap_or(head_len);
                if line_len > self.limits.request_line {
                    return Err(HeadError::UriTooLong);
                }
                if head_len > self.limits.head {
                    return Err(HeadError::HeadTooLarge);
                }
                let head = self.buf[..head_len].to_vec();
                self.buf.drain(..consumed);
                return Ok(ReadHead::Head(head));
            }
            scanned = self.buf.len().saturating_sub(2);
            let line_len = self.buf.iter().position(|&b| b == b'\n').unwrap_or(self.buf.len());
            if line_len > self.limits.request_line {
                return Err(HeadError::UriTooLong);
            }
            if self.buf.len() > self.limits.head {
                return Err(HeadError::HeadTooLarge);
            }
            let deadline = match first_byte {
                Some(t) => t + self.limits.timeout,
                None => wait_start + idle,
            };
            match self.fill(deadline) {
                Ok(0) => return Ok(ReadHead::Closed),
                Ok(_) => {}
                Err(e) if timed_out(&e) && first_byte.is_some() => return Err(HeadError::Timeout),
                Err(_) => return Ok(ReadHead::Closed),
            }
        }
    }

    /// Reads exactly `n` body bytes, or fails at the deadline.
    fn read_exact(&mut self, n: usize, deadline: Instant) -> Result<Vec<u8>, HeadError> {
        while self.buf.len() < n {
            match self.fill(deadline) {
                Ok(0) => return Err(HeadError::Bad("body shorter than its length")),
                Ok(_) => {}
                Err(e) if timed_out(&e) => return Err(HeadError::Timeout),
                Err(_) => return Err(HeadError::Bad("connection failed while reading the body")),
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// One CRLF- (or LF-) terminated line of at most `max` bytes, without its line end.
    fn read_line(&mut self, max: usize, deadline: Instant) -> Result<Vec<u8>, HeadError> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=i).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.buf.len() > max {
                return Err(HeadError::Bad("chunk line too long"));
            }
            match self.fill(deadline) {
                Ok(0) => return Err(HeadError::Bad("truncated chunked body")),
                Ok(_) => {}
                Err(e) if timed_out(&e) => return Err(HeadError::Timeout),
                Err(_) => return Err(HeadError::Bad("connection failed while reading the body")),
            }
        }
    }

    fn read_chunked(&mut self, deadline: Instant) -> Result<Vec<u8>, HeadError> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line(1024, deadline)?;
            let size = line.split(|&b| b == b';').next().unwrap_or_default();
            let size = std::str::from_utf8(size).ok().map(str::trim).filter(|s| !s.is_empty() && s.len() <= 8);
            let size = size.and_then(|s| usize::from_str_radix(s, 16).ok()).ok_or(HeadError::Bad("malformed chunk size"))?;
            if size == 0 {
                // Trailer fields are read and dropped.
                for _ in 0..=self.limits.headers {
                    if self.read_line(self.limits.request_line, deadline)?.is_empty() {
                        return Ok(body);
                    }
                }
                return Err(HeadError::HeadTooLarge);
            }
            if body.len() + size > self.limits.body {
                return Err(HeadError::BodyTooLarge);
            }
            let chunk = self.read_exact(size, deadline)?;
            body.extend_from_slice(&chunk);
            if !self.read_line(2, deadline)?.is_empty() {
                return Err(HeadError::Bad("chunk not followed by CRLF"));
            }
        }
    }

    fn read_body(&mut self, head: &Head) -> Result<Vec<u8>, HeadError> {
        let framing = framing(head, self.limits)?;
        if framing == Framing::None {
            return Ok(Vec::new());
        }
        let expect = head.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("expect")).map(|(_, v)| v.to_ascii_lowercase());
        if let Some(expect) = expect {
            if expect != "100-continue" {
                return Err(HeadError::Expectation);
            }
            if head.minor == 1 && self.buf.is_empty() {
                let _ = self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
        }
        let deadline = Instant::now() + self.limits.timeout;
        match framing {
            Framing::Length(n) => self.read_exact(n, deadline),
            Framing::Chunked => self.read_chunked(deadline),
            Framing::None => Ok(Vec::new()),
        }
    }

    /// Answers a request that could not be read, then closes.
    fn refuse(mut self, e: &HeadError) {
        let resp = Response::text(e.status(), &format!("{}\n", e.message()));
        let _ = write_response(&mut self.stream, false, resp, false);
        linger_close(self.stream);
    }
}

/// End of the head: (length of the head including its last line's LF, bytes to consume).
fn find_head_end(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while let Some(off) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + off;
        match buf.get(nl + 1) {
            Some(b'\n') => return Some((nl + 1, nl + 2)),
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\n') => return Some((nl + 1, nl + 3)),
            _ => i = nl + 1,
        }
    }
    None
}

/// Closes after an error response without losing it: closing a socket with unread input makes
/// the kernel send a reset, which can destroy the response before the client reads it. So the
/// write side is shut first and the rest of the input is drained for a moment (nginx's
/// lingering close).
fn linger_close(mut stream: TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut scratch = [0u8; 8192];
    let mut total = 0;
    while total < 1 << 20 {
        let now = Instant::now();
        if now >= deadline || stream.set_read_timeout(Some(deadline - now)).is_err() {
            break;
        }
        match stream.read(&mut scratch) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Responses that never carry a body (RFC 9110 §6.4.1).
fn bodyless(status: u16) -> bool {
    status < 200 || status == 204 || status == 304
}

/// Small bodies go out in the same write as the head (one syscall, one segment); larger files
/// are sent with `io::copy`, which std turns into sendfile(2) for a file and a socket on Linux.
const INLINE_BODY: u64 = 64 * 1024;

/// Writes a response; returns the body bytes sent. The head is buffered and sent in one write.
fn write_response(stream: &mut TcpStream, head_only: bool, resp: Response, keep_alive: bool) -> io::Result<u64> {
    let mut out = Vec::with_capacity(512);
    let _ = write!(out, "HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (name, value) in &resp.headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    let _ = write!(out, "Date: {}\r\nServer: kiln\r\n", http_date_now());
    let len = match &resp.body {
        Body::Empty => 0,
        Body::Bytes(b) => b.len() as u64,
        Body::File(_, n) => *n,
    };
    if !bodyless(resp.status) && !resp.has_header("content-length") {
        let _ = write!(out, "Content-Length: {len}\r\n");
    }
    out.extend_from_slice(if keep_alive { b"Connection: keep-alive\r\n\r\n" } else { b"Connection: close\r\n\r\n" });
    if head_only || bodyless(resp.status) {
        stream.write_all(&out)?;
        return Ok(0);
    }
    match resp.body {
        Body::Empty => stream.write_all(&out)?,
        Body::Bytes(b) if b.len() as u64 <= INLINE_BODY => {
            out.extend_from_slice(&b);
            stream.write_all(&out)?;
        }
        Body::Bytes(b) => {
            stream.write_all(&out)?;
            stream.write_all(&b)?;
        }
        Body::File(mut f, n) if n <= INLINE_BODY => {
            // One read of the known length (read_to_end would probe with several).
            let start = out.len();
            out.resize(start + n as usize, 0);
            f.read_exact(&mut out[start..])?;
            stream.write_all(&out)?;
        }
        Body::File(f, n) => {
            stream.write_all(&out)?;
            if io::copy(&mut f.take(n), stream)? != n {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while being sent"));
            }
        }
    }
    Ok(len)
}

/// Serves one connection until the client closes, stays idle, errs or asks to close.
fn serve_connection(stream: TcpStream, remote: SocketAddr, handler: &dyn Handler, limits: &Limits) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(limits.timeout));
    let mut conn = Conn { stream, buf: Vec::new(), read_timeout: None, limits };
    let mut idle = limits.timeout;
    loop {
        let raw = match conn.read_head(idle) {
            Ok(ReadHead::Head(h)) => h,
            Ok(ReadHead::Closed) => return,
            Err(e) => return conn.refuse(&e),
        };
        idle = limits.keep_alive;
        let head = match parse_head(&raw, limits) {
            Ok(h) => h,
            Err(e) => return conn.refuse(&e),
        };
        let body = match conn.read_body(&head) {
            Ok(b) => b,
            Err(e) => return conn.refuse(&e),
        };
        let req = Request { method: head.method, target: head.target, minor: head.minor, headers: head.headers, body, remote };
        let keep = req.keep_alive();
        let started = Instant::now();
        let resp = catch_unwind(AssertUnwindSafe(|| handler.handle(&req))).unwrap_or_else(|_| Response::text(500, "internal error\n"));
        let status = resp.status;
        let sent = write_response(&mut conn.stream, req.method == "HEAD", resp, keep);
        if limits.log {
            let bytes = sent.as_ref().map_or_else(|e| format!("failed: {e}"), |n| n.to_string());
            eprintln!("{} \"{} {}\" {status} {bytes} {:.1}ms", remote.ip(), req.method, req.target, started.elapsed().as_secs_f64() * 1e3);
        }
        if !keep || sent.is_err() {
            let _ = conn.stream.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Worker threads: one per open connection, reused across connections, started on demand up to
/// `max_connections`, and ended after a minute without work (down to a few).
struct Pool {
    state: Mutex<PoolState>,
    wake: Condvar,
    handler: Arc<dyn Handler>,
    limits: Limits,
}

struct PoolState {
    queue: VecDeque<(TcpStream, SocketAddr)>,
    idle: usize,
    threads: usize,
}

const MIN_IDLE_THREADS: usize = 4;

impl Pool {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // A worker that panicked holding the lock leaves consistent counters behind.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn dispatch(self: &Arc<Self>, stream: TcpStream, remote: SocketAddr) {
        let mut st = self.lock();
        if st.queue.len() < st.idle {
            st.queue.push_back((stream, remote));
            drop(st);
            self.wake.notify_one();
            return;
        }
        if st.threads >= self.limits.max_connections {
            drop(st);
            return overloaded(stream);
        }
        st.threads += 1;
        drop(st);
        let pool = Arc::clone(self);
        let spawned = std::thread::Builder::new().name("kiln-serve".into()).stack_size(512 * 1024).spawn(move || pool.work(stream, remote));
        if spawned.is_err() {
            self.lock().threads -= 1;
        }
    }

    fn work(self: Arc<Self>, stream: TcpStream, remote: SocketAddr) {
        serve_connection(stream, remote, &*self.handler, &self.limits);
        loop {
            let mut st = self.lock();
            let (stream, remote) = loop {
                if let Some(next) = st.queue.pop_front() {
                    break next;
                }
                st.idle += 1;
                let (guard, wait) = self.wake.wait_timeout(st, Duration::from_secs(60)).unwrap_or_else(|e| e.into_inner());
                st = guard;
                st.idle -= 1;
                if wait.timed_out() && st.queue.is_empty() && st.threads > MIN_IDLE_THREADS {
                    st.threads -= 1;
                    return;
                }
            };
            drop(st);
            serve_connection(stream, remote, &*self.handler, &self.limits);
        }
    }
}

/// Over the connection cap: a best-effort 503 without blocking the accept loop.
fn overloaded(mut stream: TcpStream) {
    let _ = stream.set_nonblocking(true);
    let _ = stream.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n");
    let _ = stream.shutdown(Shutdown::Write);
}

/// Accepts connections forever (returns only if the listener fails for good).
pub fn run(listener: TcpListener, handler: Arc<dyn Handler>, limits: Limits) -> io::Error {
    let pool = Arc::new(Pool { state: Mutex::new(PoolState { queue: VecDeque::new(), idle: 0, threads: 0 }), wake: Condvar::new(), handler, limits });
    let mut failures = 0;
    loop {
        match listener.accept() {
            Ok((stream, remote)) => {
                failures = 0;
                pool.dispatch(stream, remote);
            }
            // Out of file descriptors, or a connection reset before it was accepted: wait a
            // moment and go on; only a listener that keeps failing ends the server.
            Err(e) => {
                failures += 1;
                if failures > 1000 {
                    return e;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// `Date` header value for now, formatted once per second per thread.
fn http_date_now() -> String {
    thread_local! {
        static CACHE: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
    }
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            *c = (secs, http_date(secs));
        }
        c.1.clone()
    })
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) of a Unix time.
pub fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut s = String::with_capacity(29);
    let _ = write!(
        s,
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Head, HeadError> {
        parse_head(s.as_bytes(), &Limits::default())
    }

    #[test]
    fn parses_a_plain_request() {
        let h = parse("GET /s/a.css?x=1 HTTP/1.1\r\nHost: example\r\nAccept-Encoding:  gzip, br \r\n").unwrap();
        assert_eq!((h.method.as_str(), h.target.as_str(), h.minor), ("GET", "/s/a.css?x=1", 1));
        assert_eq!(h.headers[1], ("Accept-Encoding".to_string(), "gzip, br".to_string()));
        assert_eq!(parse("GET http://example/s/x HTTP/1.1\nHost: example\n").unwrap().target, "/s/x");
        assert_eq!(parse("GET http://example HTTP/1.0\n").unwrap().target, "/");
    }

    #[test]
    fn refuses_malformed_heads() {
        let bad = [
            "GET /a HTTP/1.1",                         // no Host
            "GET /a HTTP/1.1\r\nHost: a\r\nHost: b",   // two Hosts
            "GET  /a HTTP/1.1\r\nHost: a",             // double space
            "GET /a\r\nHost: a",                       // HTTP/0.9
            "G(T /a HTTP/1.1\r\nHost: a",              // bad method
            "GET a HTTP/1.1\r\nHost: a",               // not origin form
            "GET /a HTTP/1.1\r\nHost : a",             // space before colon
            "GET /a HTTP/1.1\r\nHost: a\r\n folded",   // obs-fold
            "GET /a HTTP/1.1\r\nHost: a\r\nX: a\x01b", // control byte
            "GET /a HTTP/1.1\r\nHost: a\r\nno colon",
            "GET /\x7fa HTTP/1.1\r\nHost: a",
        ];
        for b in bad {
            assert!(matches!(parse(b), Err(HeadError::Bad(_))), "{b:?} → {:?}", parse(b));
        }
        assert_eq!(parse("GET / HTTP/2.0\r\nHost: a"), Err(HeadError::Version));
        let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(parse(&format!("GET / HTTP/1.1\r\nHost: a\r\n{many}")), Err(HeadError::HeadTooLarge));
        let long = format!("GET /{} HTTP/1.1\r\nHost: a", "a".repeat(9000));
        assert_eq!(parse(&long), Err(HeadError::UriTooLong));
    }

    #[test]
    fn body_framing_refuses_smuggling() {
        let l = Limits::default();
        let head = |hs: &[(&str, &str)], minor| Head {
            method: "POST".into(),
            target: "/".into(),
            minor,
            headers: hs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
        };
        assert_eq!(framing(&head(&[("Content-Length", "12")], 1), &l), Ok(Framing::Length(12)));
        assert_eq!(framing(&head(&[("Content-Length", "12, 12")], 1), &l), Ok(Framing::Length(12)));
        assert_eq!(framing(&head(&[("Transfer-Encoding", "chunked")], 1), &l), Ok(Framing::Chunked));
        for hs in [
            &[("Content-Length", "12"), ("Content-Length", "13")][..],
            &[("Content-Length", "+12")],
            &[("Content-Length", "12"), ("Transfer-Encoding", "chunked")],
        ] {
            assert!(matches!(framing(&head(hs, 1), &l), Err(HeadError::Bad(_))), "{hs:?}");
        }
        assert!(matches!(framing(&head(&[("Transfer-Encoding", "gzip, chunked")], 1), &l), Err(HeadError::NotImplemented(_))));
        assert_eq!(framing(&head(&[("Content-Length", "99999999999")], 1), &l), Err(HeadError::BodyTooLarge));
    }

    #[test]
    fn head_end_accepts_crlf_and_lf() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest", 0), Some((25, 27)));
        assert_eq!(find_head_end(b"GET / HTTP/1.0\n\nrest", 0), Some((15, 16)));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nHost: a\r\n", 0), None);
    }

    #[test]
    fn dates_are_imf_fixdate() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    }
}
