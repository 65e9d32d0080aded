//! Keep-alive connections to the upstream server, lent to one exchange at a time and taken
//! back as soon as the answer's body has ended ([`Lent`]), so the next request reuses the
//! connection at once.
//!
//! A connection is a TCP stream (with TLS on it for an `https://` upstream) and its read
//! buffer, nothing more: the request is written in
//! one write, the answer's head parsed from the buffer and its body decoded from it
//! (`wire`), all in the polls of the exchange that holds the connection (the client's
//! connection task). An answer that has arrived is read, decoded and relayed in one poll: no
//! task per connection, no hand-over between tasks. An idle connection is polled by nobody:
//! a server that closed it is noticed when it is next taken (it is then dropped, and another
//! one used).
//!
//! warden has one upstream, so the pool is a stack of idle connections behind a lock and
//! nothing else. (hyper's client, used before, cost a third of warden's instructions per
//! call: a header map of every answer header, a dispatcher and a channel per connection;
//! docs/performance.md.)
//!
//! Idle connections are dropped after [`IDLE`], before common servers' keep-alive timeouts
//! (Node's is 5 s): a request written on a connection the server is closing fails and cannot
//! be retried (a POST may have run). A request that a reused connection refused before any of
//! it was written (the connection closed meanwhile) is sent again on another one.

use super::socket::Stream;
use super::wire::{self, Decoder, Step};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::Response;
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::HeaderName;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker, ready};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

/// Idle connections older than this are closed, not reused.
pub const IDLE: Duration = Duration::from_secs(4);

/// At most this many idle connections are kept.
const MAX_IDLE: usize = 256;

/// A connection: the stream and what has been read from it and not used yet.
struct Conn {
    stream: Stream,
    buf: BytesMut,
    /// Header values of this connection's recent answers.
    values: wire::Values,
}

impl Conn {
    /// Reads what the socket has into the buffer: `Ready(0)` at the end of the stream. A
    /// read that empties the socket clears its stale readiness (`socket`), so that an idle
    /// connection is taken again without a read to learn that nothing has come since.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        self.stream.poll_read(&mut self.buf, cx)
    }

    /// Whether the server has not closed (or written on) the idle connection: asked of the
    /// socket only when the event loop saw it become readable.
    fn is_open(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        match &mut self.stream {
            Stream::Plain(tcp) => match tcp.poll_read_ready(&mut cx) {
                Poll::Pending => true,
                Poll::Ready(Err(_)) => false,
                Poll::Ready(Ok(())) => {
                    matches!(tcp.try_read_buf(&mut self.buf), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
                        && self.buf.is_empty()
                }
            },
            // rustls reads what came (a TLS 1.3 session ticket is not data) and answers
            // `Pending` if no data and no end did.
            Stream::Tls(_) => {
                self.stream.poll_read(&mut self.buf, &mut cx).is_pending() && self.buf.is_empty()
            }
        }
    }
}

/// An idle connection and since when it has been idle.
struct Idle {
    conn: Conn,
    since: Instant,
}

pub struct Pool {
    host: String,
    port: u16,
    /// For an `https://` upstream: the TLS client and the name its certificate must bear.
    tls: Option<(TlsConnector, ServerName<'static>)>,
    /// Idle connections, the most recently used last.
    idle: Mutex<Vec<Idle>>,
}

impl Pool {
    /// Connections to `host` (a name or an IP address, without brackets) and `port`.
    pub fn new(host: &str, port: u16) -> Arc<Pool> {
        Arc::new(Pool {
            host: host.to_string(),
            port,
            tls: None,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// TLS connections to `host` and `port` with this client configuration, the server's
    /// certificate checked for `host`.
    pub fn tls(
        host: &str,
        port: u16,
        config: Arc<tokio_rustls::rustls::ClientConfig>,
    ) -> Result<Arc<Pool>, String> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| format!("`{host}` cannot name a TLS server: {e}"))?;
        Ok(Arc::new(Pool {
            host: host.to_string(),
            port,
            tls: Some((TlsConnector::from(config), name)),
            idle: Mutex::new(Vec::new()),
        }))
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `request` (head and body, as [`wire::request`] wrote them) on an idle connection,
    /// or on a new one; the answer keeps the headers named in `keep`, and its body gives the
    /// connection back when it ends.
    pub async fn send(
        self: &Arc<Self>,
        request: &[u8],
        keep: &[HeaderName],
    ) -> Result<Response<Lent>, String> {
        let failed = |e: &dyn std::fmt::Display| format!("upstream request failed: {e}");
        let mut conn = loop {
            let (mut conn, reused) = match self.reuse() {
                Some(conn) => (conn, true),
                None => (self.connect().await?, false),
            };
            match conn.stream.write(request).await {
                Ok(n) if n > 0 => {
                    conn.stream
                        .write_all(&request[n..])
                        .await
                        .map_err(|e| failed(&e))?;
                    // (TLS records rustls could not write at once; nothing for plain TCP.)
                    conn.stream.flush().await.map_err(|e| failed(&e))?;
                    break conn;
                }
                // Nothing was written: the server closed the connection while it was idle.
                Ok(_) | Err(_) if reused => {}
                Ok(_) => return Err(failed(&"the connection closed")),
                Err(e) => return Err(failed(&e)),
            }
        };
        let head = loop {
            if let Some(head) =
                wire::head(&mut conn.buf, keep, &mut conn.values).map_err(|e| failed(&e))?
            {
                break head;
            }
            let read = std::future::poll_fn(|cx| conn.poll_fill(cx)).await;
            match read {
                Ok(0) => return Err(failed(&"the server closed the connection before answering")),
                Ok(_) => {}
                Err(e) => return Err(failed(&e)),
            }
        };
        let mut response = Response::new(Lent {
            decoder: Decoder::new(head.framing),
            keep_alive: head.keep_alive,
            conn: Some(conn),
            pool: self.clone(),
        });
        *response.status_mut() = head.status;
        *response.headers_mut() = head.headers;
        Ok(response)
    }

    /// The most recently used idle connection that is still open and not too old.
    fn reuse(&self) -> Option<Conn> {
        loop {
            let Idle { mut conn, since } = self.idle().pop()?;
            if since.elapsed() <= IDLE && conn.is_open() {
                return Some(conn);
            }
        }
    }

    async fn connect(&self) -> Result<Conn, String> {
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| {
                format!(
                    "upstream request failed: cannot connect to {}:{}: {e}",
                    self.host, self.port
                )
            })?;
        let _ = stream.set_nodelay(true);
        let stream = match &self.tls {
            None => Stream::Plain(stream),
            Some((connector, name)) => {
                let tls = connector.connect(name.clone(), stream).await.map_err(|e| {
                    format!(
                        "upstream request failed: TLS with {}:{}: {e}",
                        self.host, self.port
                    )
                })?;
                Stream::Tls(Box::new(tls.into()))
            }
        };
        Ok(Conn {
            stream,
            buf: BytesMut::new(),
            values: wire::Values::default(),
        })
    }

    /// A connection whose answer has ended comes back; the idle ones past [`IDLE`] go.
    fn give_back(&self, conn: Conn) {
        let now = Instant::now();
        let mut idle = self.idle();
        let expired = idle
            .iter()
            .take_while(|i| now.duration_since(i.since) > IDLE)
            .count();
        idle.drain(..expired);
        if idle.len() < MAX_IDLE {
            idle.push(Idle { conn, since: now });
        }
    }
}

/// A whole answer body, refused past `max` bytes.
pub async fn collect(mut body: Lent, max: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("cannot read the answer: {e}"))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > max {
                return Err(format!("an answer is over {max} bytes"));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

/// An upstream answer's body, decoded from its connection as the reader polls; the
/// connection goes back to the pool when the body ends cleanly (dropped before its end, or
/// after an answer that closes it, the connection is closed instead).
pub struct Lent {
    decoder: Decoder,
    keep_alive: bool,
    /// `None` once the body has ended.
    conn: Option<Conn>,
    pool: Arc<Pool>,
}

impl Lent {
    fn end(&mut self) {
        if let Some(conn) = self.conn.take()
            && self.keep_alive
            && self.decoder.is_done()
            && conn.buf.is_empty()
        {
            self.pool.give_back(conn);
        }
    }
}

impl Body for Lent {
    type Data = Bytes;
    type Error = io::Error;

    /// What the buffer holds of the body, else what reading the connection brings.
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        loop {
            let Some(conn) = &mut this.conn else {
                return Poll::Ready(None);
            };
            match this.decoder.step(&mut conn.buf) {
                Ok(Step::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Ok(Step::End) => {
                    this.end();
                    return Poll::Ready(None);
                }
                Ok(Step::More) => {}
                Err(e) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::InvalidData, e))));
                }
            }
            match ready!(conn.poll_fill(cx)) {
                Ok(0) if this.decoder.until_close() => {
                    this.conn = None;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    this.conn = None;
                    let e = "the server closed the connection in the middle of an answer";
                    return Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::UnexpectedEof, e))));
                }
                Ok(_) => {}
                Err(e) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        // Not at `decoder.is_done()`: a reader that stopped there would never poll the end
        // that gives the connection back.
        self.conn.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

    /// A server giving `answer` to each request; with `once`, it closes each connection after
    /// its first answer (as a server does at its keep-alive timeout). Counts connections.
    async fn server(answer: &'static [u8], once: bool) -> (u16, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0; 1024];
                    while let Ok(n) = stream.read(&mut chunk).await {
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                            continue;
                        }
                        buf.clear();
                        if stream.write_all(answer).await.is_err() || once {
                            return;
                        }
                    }
                });
            }
        });
        (port, accepted)
    }

    fn get() -> Vec<u8> {
        wire::request("GET", "/", std::iter::empty(), b"")
    }

    async fn body(pool: &Arc<Pool>) -> String {
        let answer = pool.send(&get(), &[]).await.unwrap();
        let body = answer.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_connection_is_reused_once_its_answer_has_ended() {
        let (port, accepted) = server(OK, false).await;
        let pool = Pool::new("127.0.0.1", port);
        for _ in 0..3 {
            assert_eq!(body(&pool).await, "ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn chunked_answers_are_decoded_and_their_connection_reused() {
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
            3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let (port, accepted) = server(chunked, false).await;
        let pool = Pool::new("127.0.0.1", port);
        for _ in 0..2 {
            assert_eq!(body(&pool).await, "abcde");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_answer_that_ends_with_its_connection_is_read_whole_and_not_reused() {
        let (port, accepted) = server(b"HTTP/1.1 200 OK\r\n\r\nto the end", true).await;
        let pool = Pool::new("127.0.0.1", port);
        for _ in 0..2 {
            assert_eq!(body(&pool).await, "to the end");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        let close = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok";
        let (port, accepted) = server(close, false).await;
        let pool = Pool::new("127.0.0.1", port);
        for _ in 0..2 {
            assert_eq!(body(&pool).await, "ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_body_cut_short_is_an_error_and_its_connection_is_not_reused() {
        let (port, accepted) =
            server(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nok", true).await;
        let pool = Pool::new("127.0.0.1", port);
        let answer = pool.send(&get(), &[]).await.unwrap();
        let error = answer.into_body().collect().await.unwrap_err();
        assert!(error.to_string().contains("middle of an answer"), "{error}");
        let (port, accepted_too) =
            server(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nok", false).await;
        let pool = Pool::new("127.0.0.1", port);
        drop(pool.send(&get(), &[]).await.unwrap());
        let _ = pool.send(&get(), &[]).await.unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(
            accepted_too.load(Ordering::SeqCst),
            2,
            "a body dropped unread closes its connection"
        );
    }

    #[tokio::test]
    async fn only_the_asked_headers_come_through() {
        let answer = b"HTTP/1.1 202 Accepted\r\nx-powered-by: Express\r\nMcp-Session-Id: s1\r\n\
            content-length: 0\r\n\r\n";
        let (port, _) = server(answer, false).await;
        let pool = Pool::new("127.0.0.1", port);
        let keep = [HeaderName::from_static("mcp-session-id")];
        let answer = pool.send(&get(), &keep).await.unwrap();
        assert_eq!(answer.status(), hyper::StatusCode::ACCEPTED);
        assert_eq!(answer.headers().len(), 1);
        assert_eq!(answer.headers()["mcp-session-id"], "s1");
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_while_idle_is_not_used() {
        let (port, accepted) = server(OK, true).await;
        let pool = Pool::new("127.0.0.1", port);
        assert_eq!(body(&pool).await, "ok");
        // Let the server's close arrive: the idle connection is then seen closed when taken.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(body(&pool).await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_unreachable_upstream_is_an_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pool = Pool::new("127.0.0.1", port);
        let error = pool.send(&get(), &[]).await.err().unwrap();
        assert!(error.contains("cannot connect"), "{error}");
    }

    #[tokio::test]
    async fn a_malformed_answer_is_an_error() {
        let (port, _) = server(b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n", false).await;
        let pool = Pool::new("127.0.0.1", port);
        let error = pool.send(&get(), &[]).await.err().unwrap();
        assert!(error.contains("Content-Length"), "{error}");
    }
}
