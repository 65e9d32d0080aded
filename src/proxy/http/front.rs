//! HTTP/1.1 on client connections: warden's own server side, as `wire` is its client side.
//!
//! A connection's requests are read one at a time: the head parsed by httparse (at most
//! [`MAX_HEADERS`] headers and [`wire::MAX_HEAD`] bytes), the body framed by `Content-Length`
//! or `chunked` and read whole (at most the endpoint's body limit). Framing is strict: a
//! request that could be read two ways (both headers, conflicting lengths, a coding other than
//! `chunked`) is refused and the connection closed, so no request smuggling can start here; the
//! upstream request is written anew by `wire` in any case. Only the headers the endpoint reads
//! ([`READ`]) are kept, their values sharing the head's bytes.
//!
//! The handler's response is written back: a whole body with its length, in one write; a
//! streaming one (an SSE relay) chunked, each batch of parts written as the body yields them.
//! While the handler runs and while a body streams, the connection is watched: a client that
//! goes away drops the response, which ends its exchange (counter slots given back). Bytes a
//! client sends meanwhile (a pipelined request) are kept for the next turn.
//!
//! Timeouts: a request (head and body) must arrive whole within the header timeout of the
//! connection becoming ready for it, and a connection idle that long between requests is
//! closed. One timer per connection, moved for each request.

use super::Body;
use super::socket::Stream;
use super::wire::{self, Decoder, Framing, Step};
use bytes::{Bytes, BytesMut};
use hyper::body::Body as _;
use hyper::header::{
    CONNECTION, CONTENT_LENGTH, HeaderMap, HeaderName, HeaderValue, TRANSFER_ENCODING,
};
use hyper::{Method, Response, StatusCode, Uri, Version};
use smallvec::SmallVec;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::time::{Instant, Sleep};

/// The request headers the endpoint reads, as text; the rest are not kept. Those from
/// [`FORWARDED`] on also go to the server (`upstream`); the first ones (the caller's
/// credentials, a browser's origin, the host the client dialled) never do. A request's header
/// names are compared with these (a standard `HeaderName`'s text is looked up in the http
/// crate's table of them, each time).
const READ_TEXT: [&str; 10] = [
    "authorization",
    "origin",
    "host",
    "content-type",
    "accept",
    "mcp-session-id",
    "mcp-protocol-version",
    "mcp-method",
    "mcp-name",
    "last-event-id",
];

/// [`READ_TEXT`] as header names.
pub static READ: [HeaderName; 10] = [
    HeaderName::from_static(READ_TEXT[0]),
    HeaderName::from_static(READ_TEXT[1]),
    HeaderName::from_static(READ_TEXT[2]),
    HeaderName::from_static(READ_TEXT[3]),
    HeaderName::from_static(READ_TEXT[4]),
    HeaderName::from_static(READ_TEXT[5]),
    HeaderName::from_static(READ_TEXT[6]),
    HeaderName::from_static(READ_TEXT[7]),
    HeaderName::from_static(READ_TEXT[8]),
    HeaderName::from_static(READ_TEXT[9]),
];

/// Where the forwarded headers start in [`READ`].
const FORWARDED: usize = 3;

/// `Mcp-Session-Id` (one of [`READ`]), for lookups.
pub static SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");

/// A request as the endpoint gets it: whole, with the headers it reads.
#[derive(Debug)]
pub struct Incoming {
    pub method: Method,
    pub uri: Uri,
    pub headers: Headers,
    pub body: Bytes,
}

/// A request's headers of those the endpoint reads ([`READ`]), in the order they came: which
/// of [`READ`] each is, and where its value lies in the request's head. A handful at most: a
/// list searched by name, and small, since a request moves by value through the endpoint's
/// async functions and every move copies it.
#[derive(Clone, Debug, Default)]
pub struct Headers {
    /// The request's head; the values are parts of it.
    head: Bytes,
    kept: SmallVec<[Kept; 8]>,
}

/// One kept header: its name's index in [`READ`], its value's bounds in the head.
#[derive(Clone, Copy, Debug)]
struct Kept {
    name: u8,
    start: u32,
    end: u32,
}

/// A request header's value: bytes the request parser accepted as one (no control
/// characters but tabs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Value<'a>(&'a [u8]);

/// A header value with bytes other than visible ASCII, spaces and tabs.
#[derive(Debug)]
pub struct NotAscii;

impl<'a> Value<'a> {
    pub fn as_bytes(self) -> &'a [u8] {
        self.0
    }

    /// The value as text if it is visible ASCII, spaces and tabs only (as
    /// [`HeaderValue::to_str`]).
    pub fn to_str(self) -> Result<&'a str, NotAscii> {
        if self
            .0
            .iter()
            .all(|&b| b == b'\t' || (b' '..0x7f).contains(&b))
        {
            std::str::from_utf8(self.0).map_err(|_| NotAscii)
        } else {
            Err(NotAscii)
        }
    }
}

impl PartialEq<&str> for Value<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl Headers {
    /// The first value of `name`.
    pub fn get(&self, name: &HeaderName) -> Option<Value<'_>> {
        self.all(name).next()
    }

    /// Every value of `name`.
    pub fn all<'a>(&'a self, name: &HeaderName) -> impl Iterator<Item = Value<'a>> {
        let index = READ.iter().position(|n| n == name);
        self.kept
            .iter()
            .filter(move |k| Some(usize::from(k.name)) == index)
            .map(|k| self.value(k))
    }

    /// The headers that go on to the server, as they came.
    pub fn forwarded(&self) -> impl Iterator<Item = (&HeaderName, Value<'_>)> {
        let own = &READ[..FORWARDED];
        self.iter().filter(|(n, _)| !own.contains(n))
    }

    /// Every kept header, as they came.
    pub fn iter(&self) -> impl Iterator<Item = (&HeaderName, Value<'_>)> {
        self.kept
            .iter()
            .map(|k| (&READ[usize::from(k.name)], self.value(k)))
    }

    fn value(&self, kept: &Kept) -> Value<'_> {
        Value(&self.head[kept.start as usize..kept.end as usize])
    }
}

/// Only the names of [`READ`] are kept, as when a request is read.
impl FromIterator<(HeaderName, HeaderValue)> for Headers {
    fn from_iter<I: IntoIterator<Item = (HeaderName, HeaderValue)>>(pairs: I) -> Headers {
        let mut head = Vec::new();
        let mut kept = SmallVec::new();
        for (name, value) in pairs {
            if let Some(i) = READ.iter().position(|n| *n == name) {
                let start = head.len();
                head.extend_from_slice(value.as_bytes());
                kept.push(Kept::at(i, start, head.len()));
            }
        }
        Headers {
            head: head.into(),
            kept,
        }
    }
}

impl Kept {
    /// A head is at most [`wire::MAX_HEAD`] bytes, so its offsets fit in 32 bits.
    fn at(name: usize, start: usize, end: usize) -> Kept {
        Kept {
            name: name as u8,
            start: start as u32,
            end: end as u32,
        }
    }
}

/// The most headers a request's head may have.
pub const MAX_HEADERS: usize = 64;

/// A connection's buffer starts this large.
const READ_SIZE: usize = 8 * 1024;

/// What a connection accepts.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// How long a request may take to arrive, and a connection may idle between requests.
    pub header_timeout: Duration,
    /// The largest request body.
    pub max_body: usize,
}

/// Serves one client connection until it closes, breaks the protocol or idles out. `handle`
/// answers each request; `refused` hears of each request refused here (the connection then
/// closes).
pub async fn serve<H, F>(
    stream: Stream,
    limits: Limits,
    mut handle: H,
    refused: impl Fn(StatusCode),
) where
    H: FnMut(Incoming) -> F,
    F: Future<Output = Response<Body>>,
{
    let mut conn = Conn {
        stream,
        buf: BytesMut::with_capacity(READ_SIZE),
        out: Vec::new(),
        timer: Box::pin(tokio::time::sleep(limits.header_timeout)),
        limits,
    };
    loop {
        let (request, keep_alive) = match conn.read_request().await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(refusal) => {
                refused(refusal.status);
                let r = super::server::plain(refusal.status, &refusal.why);
                if conn.respond(r, false, false).await {
                    conn.linger().await;
                }
                return;
            }
        };
        let head_only = request.method == Method::HEAD;
        let work = pin!(handle(request));
        let Some(response) = conn.while_watching(work).await else {
            return;
        };
        if !conn.respond(response, keep_alive, head_only).await || !keep_alive {
            let _ = conn.stream.shutdown().await;
            return;
        }
    }
}

/// After a refusal, how long (and how much of) what the client still sends is read and
/// dropped before the connection closes: closing with unread data makes the kernel reset the
/// connection, and the client could lose the refusal.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

/// Why a request is refused before it reaches the endpoint (the connection closes after).
#[derive(Debug, PartialEq, Eq)]
struct Refusal {
    status: StatusCode,
    why: String,
}

fn refuse<T>(status: StatusCode, why: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        status,
        why: why.into(),
    })
}

/// What a request head says, its parts as offsets into the head's bytes.
#[derive(Debug)]
struct Parsed {
    len: usize,
    method: Method,
    target: (usize, usize),
    /// The headers kept for the endpoint.
    headers: SmallVec<[Kept; 8]>,
    framing: Framing,
    keep_alive: bool,
    continue_100: bool,
}

/// Parses the request head at the start of `buf`; `None` while it is incomplete.
fn parse(buf: &[u8], max_body: usize) -> Result<Option<Parsed>, Refusal> {
    let mut slots = wire::header_slots::<MAX_HEADERS>();
    let mut req = httparse::Request::new(&mut []);
    let parsed = httparse::ParserConfig::default()
        .parse_request_with_uninit_headers(&mut req, buf, &mut slots);
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) => Some(len),
        Ok(httparse::Status::Partial) => None,
        Err(httparse::Error::TooManyHeaders) => {
            return refuse(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!("the request has over {MAX_HEADERS} headers"),
            );
        }
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("malformed request: {e}")),
    };
    // A head over the bound is refused whether or not it is whole yet.
    if len.unwrap_or(buf.len()) > wire::MAX_HEAD {
        return refuse(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("the request head is over {} bytes", wire::MAX_HEAD),
        );
    }
    let Some(len) = len else {
        return Ok(None);
    };
    let offset = |s: &[u8]| {
        let start = s.as_ptr() as usize - buf.as_ptr() as usize;
        (start, start + s.len())
    };
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let method = Method::from_bytes(req.method.unwrap_or_default().as_bytes())
        .or_else(|_| refuse(StatusCode::BAD_REQUEST, "malformed request method"))?;
    let target = offset(req.path.unwrap_or_default().as_bytes());
    let mut out = Parsed {
        len,
        method,
        target,
        headers: SmallVec::new(),
        framing: Framing::Length(0),
        keep_alive: version == Version::HTTP_11,
        continue_100: false,
    };
    let (mut length, mut chunked) = (None, false);
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let n =
                wire::content_length(h.value).or_else(|e| refuse(StatusCode::BAD_REQUEST, e))?;
            if length.is_some_and(|l| l != n) {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "the request has conflicting Content-Length headers",
                );
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if chunked || !h.value.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                return refuse(
                    StatusCode::NOT_IMPLEMENTED,
                    "warden reads request bodies sent whole or `Transfer-Encoding: chunked`, no other coding",
                );
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case("connection") {
            // (An HTTP/1.0 client's `keep-alive` is not honoured: one request, then close.)
            if wire::has_token(h.value, b"close") {
                out.keep_alive = false;
            }
        } else if name.eq_ignore_ascii_case("expect") {
            if !h.value.trim_ascii().eq_ignore_ascii_case(b"100-continue") {
                return refuse(StatusCode::EXPECTATION_FAILED, "unsupported expectation");
            }
            out.continue_100 = version == Version::HTTP_11;
        } else if let Some(i) = READ_TEXT.iter().position(|r| name.eq_ignore_ascii_case(r)) {
            if h.value
                .iter()
                .any(|&b| (b < b' ' && b != b'\t') || b == 0x7f)
            {
                return refuse(StatusCode::BAD_REQUEST, "malformed header value");
            }
            let (start, end) = offset(h.value);
            out.headers.push(Kept::at(i, start, end));
        }
    }
    out.framing = match (length, chunked) {
        (Some(_), true) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "the request has both Content-Length and Transfer-Encoding",
            );
        }
        (None, true) if version == Version::HTTP_10 => {
            return refuse(StatusCode::BAD_REQUEST, "chunked bodies need HTTP/1.1");
        }
        (None, true) => Framing::Chunked,
        (Some(n), false) if n > max_body as u64 => {
            return refuse(StatusCode::PAYLOAD_TOO_LARGE, body_limit(max_body));
        }
        (Some(n), false) => Framing::Length(n),
        (None, false) => Framing::Length(0),
    };
    if out.framing == Framing::Length(0) {
        out.continue_100 = false;
    }
    Ok(Some(out))
}

fn body_limit(max_body: usize) -> String {
    format!("the request body is over warden's limit of {max_body} bytes (--max-message-bytes)")
}

/// A client connection: its stream, what was read and not used yet, what is to be written.
struct Conn {
    stream: Stream,
    buf: BytesMut,
    out: Vec<u8>,
    /// The request deadline.
    timer: Pin<Box<Sleep>>,
    limits: Limits,
}

impl Conn {
    /// The next request and whether the connection stays open after it; `None` when the
    /// client closed the connection or the request did not arrive in time.
    async fn read_request(&mut self) -> Result<Option<(Incoming, bool)>, Refusal> {
        self.timer
            .as_mut()
            .reset(Instant::now() + self.limits.header_timeout);
        let mut scanned = 0;
        let parsed = loop {
            if (wire::has_head_end(&self.buf, &mut scanned) || self.buf.len() > wire::MAX_HEAD)
                && let Some(parsed) = parse(&self.buf, self.limits.max_body)?
            {
                break parsed;
            }
            if !self.fill().await {
                return Ok(None);
            }
        };
        let head = self.buf.split_to(parsed.len).freeze();
        let headers = Headers {
            kept: parsed.headers,
            head: head.clone(),
        };
        let (start, end) = parsed.target;
        let uri = Uri::from_maybe_shared(head.slice(start..end))
            .or_else(|_| refuse(StatusCode::BAD_REQUEST, "malformed request target"))?;
        if parsed.continue_100 && !self.write(b"HTTP/1.1 100 Continue\r\n\r\n").await {
            return Ok(None);
        }
        let Some(body) = self.read_body(parsed.framing).await? else {
            return Ok(None);
        };
        let request = Incoming {
            method: parsed.method,
            uri,
            headers,
            body,
        };
        Ok(Some((request, parsed.keep_alive)))
    }

    /// The request's body, whole; `None` if the client went away or took too long.
    async fn read_body(&mut self, framing: Framing) -> Result<Option<Bytes>, Refusal> {
        let mut decoder = Decoder::new(framing);
        let mut first: Option<Bytes> = None;
        let mut more: Vec<u8> = Vec::new();
        loop {
            match decoder.step(&mut self.buf) {
                Ok(Step::Data(data)) => {
                    let size = first.as_ref().map_or(0, Bytes::len) + more.len() + data.len();
                    if size > self.limits.max_body {
                        return refuse(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            body_limit(self.limits.max_body),
                        );
                    }
                    match &first {
                        None => first = Some(data),
                        Some(_) => more.extend_from_slice(&data),
                    }
                }
                Ok(Step::End) => break,
                Ok(Step::More) => {
                    if !self.fill().await {
                        return Ok(None);
                    }
                }
                Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
            }
        }
        Ok(Some(match first {
            None => Bytes::new(),
            Some(first) if more.is_empty() => first,
            Some(first) => {
                let mut whole = Vec::with_capacity(first.len() + more.len());
                whole.extend_from_slice(&first);
                whole.extend_from_slice(&more);
                Bytes::from(whole)
            }
        }))
    }

    /// Reads what the client sends; false if it closed the connection (or it broke) or the
    /// request deadline passed.
    async fn fill(&mut self) -> bool {
        std::future::poll_fn(|cx| {
            if self.timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(false);
            }
            Poll::Ready(matches!(ready!(self.poll_read(cx)), Ok(n) if n > 0))
        })
        .await
    }

    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        self.stream.poll_read(&mut self.buf, cx)
    }

    /// Whether the client has gone (closed the connection, or it broke). What it sent
    /// meanwhile stays in the buffer, up to a request's worth; beyond that it is not read.
    fn poll_gone(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.buf.len() > wire::MAX_HEAD + self.limits.max_body {
                return false;
            }
            match self.poll_read(cx) {
                Poll::Pending => return false,
                Poll::Ready(Ok(0) | Err(_)) => return true,
                Poll::Ready(Ok(_)) => {}
            }
        }
    }

    /// Runs `work` while watching the connection; `None` if the client went away first.
    async fn while_watching<F: Future>(&mut self, mut work: Pin<&mut F>) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            if let Poll::Ready(out) = work.as_mut().poll(cx) {
                return Poll::Ready(Some(out));
            }
            if self.poll_gone(cx) {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await
    }

    /// Writes `bytes` whole; false if the connection broke.
    async fn write(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).await.is_ok()
    }

    /// Sends the end of the stream, then reads and drops what the client still sends, for a
    /// while ([`LINGER`]), before the connection closes.
    async fn linger(&mut self) {
        if self.stream.shutdown().await.is_err() {
            return;
        }
        let drain = async {
            let mut dropped = 0;
            while dropped < LINGER_BYTES {
                self.buf.clear();
                match std::future::poll_fn(|cx| self.poll_read(cx)).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => dropped += n,
                }
            }
        };
        let _ = tokio::time::timeout(LINGER, drain).await;
    }

    /// Writes the response (only its head for a `HEAD` request); false if the connection
    /// cannot be used after it.
    async fn respond(
        &mut self,
        response: Response<Body>,
        keep_alive: bool,
        head_only: bool,
    ) -> bool {
        let (parts, mut body) = response.into_parts();
        let status = parts.status;
        let bodiless = status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        let length = if bodiless {
            None
        } else {
            body.size_hint().exact()
        };
        let chunked = !bodiless && length.is_none();
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        head(
            &mut out,
            status,
            &parts.headers,
            length,
            chunked,
            keep_alive,
        );
        let done = if head_only || bodiless {
            self.write(&out).await
        } else {
            self.stream_body(&mut out, &mut body, chunked).await
        };
        out.clear();
        self.out = out;
        done
    }

    /// Writes `out` (the head) and the body after it: each batch of parts as the body yields
    /// them, flushed whenever it waits; false if the connection broke or the client left.
    async fn stream_body(&mut self, out: &mut Vec<u8>, body: &mut Body, chunked: bool) -> bool {
        loop {
            let next = std::future::poll_fn(|cx| match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Ready(frame) => Poll::Ready(Next::Frame(frame)),
                Poll::Pending if !out.is_empty() => Poll::Ready(Next::Flush),
                Poll::Pending if self.poll_gone(cx) => Poll::Ready(Next::Gone),
                Poll::Pending => Poll::Pending,
            })
            .await;
            match next {
                Next::Frame(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data()
                        && !data.is_empty()
                    {
                        if chunked {
                            chunk(out, &data);
                        } else {
                            out.extend_from_slice(&data);
                        }
                    }
                }
                Next::Frame(Some(Err(never))) => match never {},
                Next::Frame(None) => {
                    if chunked {
                        out.extend_from_slice(b"0\r\n\r\n");
                    }
                    return self.write(out).await;
                }
                Next::Flush => {
                    if !self.write(out).await {
                        return false;
                    }
                    out.clear();
                }
                Next::Gone => return false,
            }
        }
    }
}

enum Next {
    Frame(Option<Result<hyper::body::Frame<Bytes>, std::convert::Infallible>>),
    Flush,
    Gone,
}

/// The response head: status line, `Date`, the handler's headers, the framing.
fn head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    length: Option<u64>,
    chunked: bool,
    keep_alive: bool,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\ndate: ");
    date::write(out);
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        // The framing is this module's to write.
        if name != CONTENT_LENGTH && name != TRANSFER_ENCODING && name != CONNECTION {
            wire::header(out, name.as_str().as_bytes(), value.as_bytes());
        }
    }
    if let Some(n) = length {
        wire::header(out, b"content-length", wire::decimal(n, &mut [0; 20]));
    } else if chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// One chunk of a chunked body.
fn chunk(out: &mut Vec<u8>, data: &[u8]) {
    let mut size = [0u8; 16];
    let mut i = size.len();
    let mut n = data.len();
    loop {
        i -= 1;
        size[i] = b"0123456789abcdef"[n % 16];
        n /= 16;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&size[i..]);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The `Date` header's value, formatted once a second.
mod date {
    use std::cell::RefCell;
    use std::time::{SystemTime, UNIX_EPOCH};

    thread_local! {
        static NOW: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }

    pub fn write(out: &mut Vec<u8>) {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        NOW.with_borrow_mut(|(at, text)| {
            if *at != second {
                *at = second;
                *text = httpdate::fmt_http_date(now);
            }
            out.extend_from_slice(text.as_bytes());
        });
    }
}

#[cfg(test)]
mod tests;
