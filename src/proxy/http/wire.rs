//! HTTP/1.1 on warden's side of the upstream connection, and only that: a request written as
//! one buffer, the answer's head parsed (with httparse, the parser hyper uses) into its status,
//! the headers the client may see and the body's framing, and the body decoded frame by frame
//! (`Content-Length`, `chunked`, or until the server closes the connection).
//!
//! warden speaks to one server with a handful of request shapes (POST, GET, DELETE), so a
//! general client (hyper's, before) did work warden does not need on every answer: a header
//! map of every header the server sent, a channel between the connection and the body, a
//! dispatcher per connection. Here the head is read straight from the connection's buffer,
//! keeping only the allow-listed headers, and the body is decoded from the same buffer.
//!
//! Strict where it matters for framing (RFC 9112 §6): conflicting `Content-Length`s, a
//! malformed chunk size or a missing chunk delimiter fail the answer; a `Transfer-Encoding`
//! that does not end in `chunked` makes the body last until the connection closes; any answer
//! whose framing is not both known and clean leaves the connection unusable for another
//! request.
//!
//! The pieces both sides need (the body decoder, `Content-Length`, a head's end, header lines)
//! serve the client side too (`front`).

use bytes::{Buf, Bytes, BytesMut};
use hyper::StatusCode;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};

/// The most headers an answer's head may have.
const MAX_HEADERS: usize = 100;
/// The largest answer head accepted.
pub const MAX_HEAD: usize = 64 * 1024;
/// The most trailer bytes after a chunked body.
const MAX_TRAILERS: usize = 16 * 1024;

/// A request head and body as they go on the wire.
pub fn request<'a>(
    method: &str,
    target: &str,
    headers: impl Iterator<Item = (&'a HeaderName, &'a [u8])>,
    body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        header(&mut out, name.as_str().as_bytes(), value);
    }
    if !body.is_empty() || method == "POST" {
        header(
            &mut out,
            b"content-length",
            decimal(body.len() as u64, &mut [0; 20]),
        );
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// One header line (a request's or a response's).
pub fn header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// `n` in decimal, written into `buf`.
pub fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// How an answer's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (`204`, `304`).
    Empty,
    Length(u64),
    Chunked,
    /// The body ends when the server closes the connection.
    UntilClose,
}

/// An answer's head.
#[derive(Debug)]
pub struct Head {
    pub status: StatusCode,
    /// Only the headers asked for.
    pub headers: HeaderMap,
    pub framing: Framing,
    /// The server keeps the connection open after this answer.
    pub keep_alive: bool,
}

/// Header values a connection's answers carried lately, handed out again when an answer
/// repeats one (a clone shares the bytes): answers on one connection mostly repeat their
/// content type, cache directives and session id, and each new value is an allocation.
#[derive(Default)]
pub struct Values(Vec<HeaderValue>);

impl Values {
    /// At most this many are kept; a new one replaces the oldest.
    const MAX: usize = 8;

    fn get(&mut self, bytes: &[u8]) -> Option<HeaderValue> {
        if let Some(v) = self.0.iter().find(|v| v.as_bytes() == bytes) {
            return Some(v.clone());
        }
        let value = HeaderValue::from_bytes(bytes).ok()?;
        if self.0.len() == Self::MAX {
            self.0.remove(0);
        }
        self.0.push(value.clone());
        Some(value)
    }
}

/// Whether `buf` holds the empty line that ends a head, looking only at what arrived since the
/// last look (`scanned`): a head that trickles in byte by byte is parsed once, not once per
/// byte (which would cost quadratic time).
pub fn has_head_end(buf: &[u8], scanned: &mut usize) -> bool {
    let from = scanned.saturating_sub(2);
    *scanned = buf.len();
    let mut rest = &buf[from.min(buf.len())..];
    while let Some(i) = memchr::memchr(b'\n', rest) {
        rest = &rest[i + 1..];
        if rest.starts_with(b"\n") || rest.starts_with(b"\r\n") {
            return true;
        }
    }
    false
}

/// Room for `N` headers of a head, left uninitialized: httparse writes the ones it parses (an
/// initialized array would be written whole for every head: 2 to 3 KiB, dozens of cache lines
/// of stack).
pub fn header_slots<'b, const N: usize>() -> [std::mem::MaybeUninit<httparse::Header<'b>>; N] {
    [const { std::mem::MaybeUninit::uninit() }; N]
}

/// Parses the head at the start of `buf` (after any `1xx` interim answers, which are
/// skipped) and removes it from `buf`; `None` while it is incomplete. Keeps the headers named
/// in `keep`, their values from `values` when they repeat one.
pub fn head(
    buf: &mut BytesMut,
    keep: &[HeaderName],
    values: &mut Values,
) -> Result<Option<Head>, String> {
    loop {
        let mut slots = header_slots::<MAX_HEADERS>();
        let mut response = httparse::Response::new(&mut []);
        let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut response,
            buf,
            &mut slots,
        );
        let len = match parsed {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                return Err(format!("the answer's head is over {MAX_HEAD} bytes"));
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(format!("malformed answer head: {e}")),
        };
        let code = response.code.unwrap_or(0);
        let status = StatusCode::from_u16(code)
            .map_err(|_| format!("malformed answer head: status {code}"))?;
        if status.is_informational() {
            if status == StatusCode::SWITCHING_PROTOCOLS {
                return Err("the server switched protocols".into());
            }
            buf.advance(len);
            continue;
        }
        let mut out = Head {
            status,
            headers: HeaderMap::with_capacity(keep.len()),
            framing: Framing::UntilClose,
            keep_alive: response.version == Some(1),
        };
        let (mut length, mut chunked, mut encoded) = (None, false, false);
        let (mut close, mut keep_alive) = (false, false);
        for h in response.headers.iter() {
            let name = h.name;
            if name.eq_ignore_ascii_case("content-length") {
                let n = content_length(h.value)?;
                if length.is_some_and(|l| l != n) {
                    return Err("the answer has conflicting Content-Length headers".into());
                }
                length = Some(n);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                // The last coding decides (`gzip, chunked` is chunked; `chunked, gzip` is not).
                encoded = true;
                chunked = last_token(h.value).eq_ignore_ascii_case(b"chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                close |= has_token(h.value, b"close");
                keep_alive |= has_token(h.value, b"keep-alive");
            }
            if let Some(k) = keep.iter().find(|k| name.eq_ignore_ascii_case(k.as_str()))
                && let Some(value) = values.get(h.value)
            {
                out.headers.append(k.clone(), value);
            }
        }
        out.keep_alive = (out.keep_alive || keep_alive) && !close;
        out.framing = if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
            Framing::Empty
        } else if encoded {
            // With both, Transfer-Encoding wins and the connection must not be reused.
            if length.is_some() {
                out.keep_alive = false;
            }
            if chunked {
                Framing::Chunked
            } else {
                Framing::UntilClose
            }
        } else {
            match length {
                Some(0) => Framing::Empty,
                Some(n) => Framing::Length(n),
                None => Framing::UntilClose,
            }
        };
        if out.framing == Framing::UntilClose {
            out.keep_alive = false;
        }
        buf.advance(len);
        return Ok(Some(out));
    }
}

/// A `Content-Length` value (a request's or an answer's).
pub fn content_length(value: &[u8]) -> Result<u64, String> {
    let bad = || "malformed Content-Length".to_string();
    // `Content-Length: 5, 5` is allowed if every value agrees (RFC 9110 §8.6).
    let mut length = None;
    for part in value.split(|b| *b == b',') {
        let part = part.trim_ascii();
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) || part.len() > 19 {
            return Err(bad());
        }
        let n = std::str::from_utf8(part)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(bad)?;
        if length.is_some_and(|l| l != n) {
            return Err(bad());
        }
        length = Some(n);
    }
    length.ok_or_else(bad)
}

/// Whether the comma-separated list `value` (a `Connection` header's) holds `token`.
pub fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

fn last_token(value: &[u8]) -> &[u8] {
    value
        .rsplit(|b| *b == b',')
        .next()
        .unwrap_or_default()
        .trim_ascii()
}

/// What decoding the buffered bytes gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Data(Bytes),
    /// The body has ended; the bytes after it (if any) stay in the buffer.
    End,
    /// More bytes are needed.
    More,
}

/// Where a body's decoding stands.
#[derive(Debug)]
pub struct Decoder {
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length(u64),
    UntilClose,
    /// Reading a chunk size (`digits` read so far).
    Size {
        size: u64,
        digits: u8,
    },
    /// After the size: spaces and extensions, up to the line's CR.
    SizeRest {
        size: u64,
    },
    SizeLf {
        size: u64,
    },
    Chunk(u64),
    ChunkCr,
    ChunkLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart {
        seen: usize,
    },
    Trailer {
        seen: usize,
    },
    EndLf,
    Done,
}

impl Decoder {
    pub fn new(framing: Framing) -> Decoder {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Size { size: 0, digits: 0 },
            Framing::UntilClose => State::UntilClose,
        };
        Decoder { state }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The body ends when the connection does.
    pub fn until_close(&self) -> bool {
        self.state == State::UntilClose
    }

    /// The next piece of the body from `buf`.
    pub fn step(&mut self, buf: &mut BytesMut) -> Result<Step, String> {
        let bad = |what: &str| Err(format!("malformed chunked body: {what}"));
        loop {
            if self.state == State::Done {
                return Ok(Step::End);
            }
            if buf.is_empty() {
                return Ok(Step::More);
            }
            match self.state {
                State::Length(left) | State::Chunk(left) => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    let left = left - n as u64;
                    self.state = match (self.state, left) {
                        (State::Length(_), 0) => State::Done,
                        (State::Length(_), _) => State::Length(left),
                        (_, 0) => State::ChunkCr,
                        _ => State::Chunk(left),
                    };
                    return Ok(Step::Data(buf.split_to(n).freeze()));
                }
                State::UntilClose => return Ok(Step::Data(buf.split().freeze())),
                _ => {}
            }
            let byte = buf[0];
            buf.advance(1);
            self.state = match (self.state, byte) {
                (State::Size { size, digits }, b) if b.is_ascii_hexdigit() => {
                    if digits >= 15 {
                        return bad("chunk size too large");
                    }
                    let digit = (b as char).to_digit(16).unwrap_or_default();
                    State::Size {
                        size: size * 16 + u64::from(digit),
                        digits: digits + 1,
                    }
                }
                (State::Size { digits: 0, .. }, _) => return bad("no chunk size"),
                (State::Size { size, .. } | State::SizeRest { size }, b'\r') => {
                    State::SizeLf { size }
                }
                (State::Size { size, .. } | State::SizeRest { size }, b' ' | b'\t' | b';') => {
                    State::SizeRest { size }
                }
                (State::SizeRest { size }, b) if b != b'\n' => State::SizeRest { size },
                (State::Size { .. } | State::SizeRest { .. }, _) => {
                    return bad("invalid chunk size line");
                }
                (State::SizeLf { size: 0 }, b'\n') => State::TrailerStart { seen: 0 },
                (State::SizeLf { size }, b'\n') => State::Chunk(size),
                (State::ChunkCr, b'\r') => State::ChunkLf,
                (State::ChunkLf, b'\n') => State::Size { size: 0, digits: 0 },
                (State::SizeLf { .. } | State::ChunkCr | State::ChunkLf, _) => {
                    return bad("missing CRLF");
                }
                (State::TrailerStart { .. }, b'\r') => State::EndLf,
                (State::TrailerStart { seen } | State::Trailer { seen }, b) => {
                    if seen >= MAX_TRAILERS {
                        return bad("trailers too large");
                    }
                    if b == b'\n' {
                        State::TrailerStart { seen: seen + 1 }
                    } else {
                        State::Trailer { seen: seen + 1 }
                    }
                }
                (State::EndLf, b'\n') => State::Done,
                (State::EndLf, _) => return bad("missing CRLF at the end"),
                (State::Length(_) | State::UntilClose | State::Chunk(_) | State::Done, _) => {
                    return bad("internal state");
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep() -> Vec<HeaderName> {
        vec![
            HeaderName::from_static("content-type"),
            HeaderName::from_static("mcp-session-id"),
        ]
    }

    fn parse(text: &str) -> Result<Option<Head>, String> {
        head(&mut BytesMut::from(text), &keep(), &mut Values::default())
    }

    #[test]
    fn a_head_keeps_the_asked_headers_and_finds_the_framing() {
        let mut buf = BytesMut::from(
            "HTTP/1.1 200 OK\r\nX-Powered-By: Express\r\nContent-Type: text/event-stream\r\n\
             mcp-session-id: abc\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        );
        let h = head(&mut buf, &keep(), &mut Values::default())
            .unwrap()
            .unwrap();
        assert_eq!(h.status, StatusCode::OK);
        assert_eq!(h.headers.len(), 2);
        assert_eq!(h.headers["content-type"], "text/event-stream");
        assert_eq!(h.headers["mcp-session-id"], "abc");
        assert_eq!(h.framing, Framing::Chunked);
        assert!(h.keep_alive);
        assert_eq!(&buf[..], b"5\r\nhello\r\n");
    }

    #[test]
    fn repeated_values_are_shared_and_new_ones_read() {
        let mut values = Values::default();
        let answer = |sid: &str| {
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nmcp-session-id: {sid}\r\ncontent-length: 0\r\n\r\n"
            )
        };
        let mut heads = Vec::new();
        for sid in ["a", "b", "a"].into_iter().chain((0..20).map(|_| "c")) {
            let mut buf = BytesMut::from(answer(sid).as_str());
            heads.push(head(&mut buf, &keep(), &mut values).unwrap().unwrap());
        }
        let sids: Vec<_> = heads
            .iter()
            .map(|h| h.headers["mcp-session-id"].clone())
            .collect();
        assert_eq!(sids[..4], ["a", "b", "a", "c"]);
        let shared =
            |a: &HeaderValue, b: &HeaderValue| a.as_bytes().as_ptr() == b.as_bytes().as_ptr();
        assert!(shared(&sids[0], &sids[2]));
        assert!(!shared(&sids[0], &sids[1]));
        assert!(values.0.len() <= Values::MAX);
        for i in 0..=Values::MAX + 2 {
            let mut buf = BytesMut::from(answer(&format!("s{i}")).as_str());
            let h = head(&mut buf, &keep(), &mut values).unwrap().unwrap();
            assert_eq!(h.headers["mcp-session-id"], format!("s{i}").as_str());
            assert!(values.0.len() <= Values::MAX);
        }
    }

    #[test]
    fn an_incomplete_head_waits_and_a_huge_one_fails() {
        assert!(parse("HTTP/1.1 200 OK\r\nContent-Len").unwrap().is_none());
        let huge = format!("HTTP/1.1 200 OK\r\nx: {}", "a".repeat(MAX_HEAD));
        assert!(parse(&huge).unwrap_err().contains("over"));
        assert!(
            parse("HTTP/1.1 abc\r\n\r\n")
                .unwrap_err()
                .contains("malformed")
        );
    }

    #[test]
    fn interim_answers_are_skipped() {
        let h = parse(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (h.status, h.framing),
            (StatusCode::ACCEPTED, Framing::Empty)
        );
        assert!(parse("HTTP/1.1 101 Switching\r\n\r\n").is_err());
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let framing = |h: &str| {
            let h = parse(&format!("HTTP/1.1 200 OK\r\n{h}\r\n"))
                .unwrap()
                .unwrap();
            (h.framing, h.keep_alive)
        };
        assert_eq!(
            framing("Content-Length: 12\r\n"),
            (Framing::Length(12), true)
        );
        assert_eq!(
            framing("Content-Length: 12, 12\r\n"),
            (Framing::Length(12), true)
        );
        assert_eq!(framing(""), (Framing::UntilClose, false));
        assert_eq!(
            framing("Transfer-Encoding: gzip, chunked\r\n"),
            (Framing::Chunked, true)
        );
        assert_eq!(
            framing("Transfer-Encoding: chunked, gzip\r\n"),
            (Framing::UntilClose, false)
        );
        // Both: Transfer-Encoding wins, and the connection is not reused.
        let both = "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n";
        assert_eq!(framing(both), (Framing::Chunked, false));
        assert_eq!(
            framing("Content-Length: 3\r\nConnection: close\r\n"),
            (Framing::Length(3), false)
        );
        let h = parse("HTTP/1.1 204 No Content\r\n\r\n").unwrap().unwrap();
        assert_eq!((h.framing, h.keep_alive), (Framing::Empty, true));
        let h = parse("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.keep_alive);
        let h = parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.keep_alive);
        for bad in [
            "Content-Length: 3\r\nContent-Length: 4\r\n",
            "Content-Length: 3, 4\r\n",
            "Content-Length: -1\r\n",
            "Content-Length: \r\n",
            "Content-Length: 99999999999999999999\r\n",
        ] {
            assert!(
                parse(&format!("HTTP/1.1 200 OK\r\n{bad}\r\n")).is_err(),
                "{bad}"
            );
        }
    }

    /// Decodes `wire` fed in pieces of `step` bytes; the data and whether it ended.
    fn decode(framing: Framing, wire: &[u8], step: usize) -> Result<(Vec<u8>, bool), String> {
        let mut decoder = Decoder::new(framing);
        let (mut buf, mut out) = (BytesMut::new(), Vec::new());
        for piece in wire.chunks(step.max(1)) {
            buf.extend_from_slice(piece);
            loop {
                match decoder.step(&mut buf)? {
                    Step::Data(d) => out.extend_from_slice(&d),
                    Step::End => return Ok((out, true)),
                    Step::More => break,
                }
            }
        }
        Ok((out, decoder.is_done()))
    }

    #[test]
    fn chunked_bodies_decode_however_they_arrive() {
        let wire = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n1 \r\n!\r\n0\r\nx-trailer: 1\r\n\r\n";
        for step in 1..=wire.len() {
            assert_eq!(
                decode(Framing::Chunked, wire, step).unwrap(),
                (b"hello, world!".to_vec(), true),
                "{step}"
            );
        }
        let mut buf = BytesMut::from(&b"A\r\n0123456789\r\n0\r\n\r\nHTTP/1.1"[..]);
        let mut d = Decoder::new(Framing::Chunked);
        assert_eq!(
            d.step(&mut buf).unwrap(),
            Step::Data(Bytes::from_static(b"0123456789"))
        );
        assert_eq!(d.step(&mut buf).unwrap(), Step::End);
        assert_eq!(&buf[..], b"HTTP/1.1", "what follows the body stays");
    }

    #[test]
    fn malformed_chunked_bodies_fail() {
        for bad in [
            &b"x\r\n"[..],
            b"5\r\nhelloXX",
            b"5\nhello\r\n",
            b"10000000000000000\r\n",
            b"\r\n",
            b"0\r\n\r\r",
        ] {
            assert!(
                decode(Framing::Chunked, bad, bad.len()).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let endless = [b"0\r\n".as_slice(), &b"x".repeat(MAX_TRAILERS + 1)].concat();
        assert!(decode(Framing::Chunked, &endless, 4096).is_err());
    }

    #[test]
    fn length_and_close_delimited_bodies() {
        assert_eq!(
            decode(Framing::Length(5), b"helloHTTP", 2).unwrap(),
            (b"hello".to_vec(), true)
        );
        assert_eq!(
            decode(Framing::Length(5), b"hel", 2).unwrap(),
            (b"hel".to_vec(), false)
        );
        assert_eq!(
            decode(Framing::UntilClose, b"abc", 1).unwrap(),
            (b"abc".to_vec(), false)
        );
        assert_eq!(decode(Framing::Empty, b"", 1).unwrap(), (Vec::new(), true));
    }

    #[test]
    fn requests_carry_their_headers_and_length() {
        let names = [
            HeaderName::from_static("host"),
            HeaderName::from_static("mcp-session-id"),
        ];
        let values = [
            HeaderValue::from_static("127.0.0.1:8"),
            HeaderValue::from_static("s"),
        ];
        let values = values.iter().map(HeaderValue::as_bytes);
        let r = request("POST", "/mcp", names.iter().zip(values), b"{}");
        assert_eq!(r, b"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:8\r\nmcp-session-id: s\r\ncontent-length: 2\r\n\r\n{}");
        let r = request("GET", "/mcp", std::iter::empty(), b"");
        assert_eq!(r, b"GET /mcp HTTP/1.1\r\n\r\n");
    }

    /// `body` in chunks of `sizes` (cycled), with an extension on each size line and a
    /// trailer when asked.
    fn chunked(body: &[u8], sizes: &[usize], ext: bool, trailer: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let (mut at, mut i) = (0, 0);
        while at < body.len() {
            let n = sizes[i % sizes.len()].min(body.len() - at);
            out.extend_from_slice(format!("{n:X}{}\r\n", if ext { ";a=b" } else { "" }).as_bytes());
            out.extend_from_slice(&body[at..at + n]);
            out.extend_from_slice(b"\r\n");
            (at, i) = (at + n, i + 1);
        }
        out.extend_from_slice(if trailer {
            b"0\r\nx: y\r\n\r\n"
        } else {
            b"0\r\n\r\n"
        });
        out
    }

    proptest::proptest! {
        #[test]
        fn any_chunking_of_any_body_decodes_to_the_body(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..2000),
            sizes in proptest::collection::vec(1usize..300, 1..8),
            piece in 1usize..64,
            ext: bool,
            trailer: bool,
        ) {
            let wire = chunked(&body, &sizes, ext, trailer);
            proptest::prop_assert_eq!(decode(Framing::Chunked, &wire, piece).unwrap(), (body, true));
        }

        #[test]
        fn any_bytes_decode_or_fail_without_panicking(
            wire in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            piece in 1usize..32,
        ) {
            let _ = decode(Framing::Chunked, &wire, piece);
            let _ = head(&mut BytesMut::from(&wire[..]), &keep(), &mut Values::default());
        }
    }
}
