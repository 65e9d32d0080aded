//! Keep-alive connections to the upstream server: hyper's HTTP/1 client connections, lent to
//! one exchange at a time and taken back as soon as the answer's body has ended ([`Lent`]), so
//! the next request reuses the connection at once.
//!
//! A connection is driven by the exchange that holds it, not by a task of its own: the
//! request is written, the answer read and its body decoded in the polls of the exchange's
//! own task (the client's connection). Run as a separate task, every step of an answer was a
//! hand-over between two tasks (the head, then each chunk of the body, only once the reader
//! asked for it), each one a turn of the event loop; now an answer that has arrived is read,
//! decoded and relayed in one poll. An idle connection is polled by nobody: a server that
//! closed it is noticed when it is next taken (it is then dropped, and another one used).
//!
//! warden has one upstream, so the pool is a stack of idle connections behind a lock and
//! nothing else (hyper-util's pooled client, used before, kept a pool keyed by scheme and
//! authority and spawned a task for every answer with a body, only to put its connection back
//! when the body ended).
//!
//! Idle connections are dropped after [`IDLE`], before common servers' keep-alive timeouts
//! (Node's is 5 s): a request written on a connection the server is closing fails and cannot
//! be retried (a POST may have run). A request that a reused connection refused before any of
//! it was written (the connection closed meanwhile) is sent again on another one.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Idle connections older than this are closed, not reused.
pub const IDLE: Duration = Duration::from_secs(4);

/// At most this many idle connections are kept.
const MAX_IDLE: usize = 256;

type Sender = SendRequest<Full<Bytes>>;

/// A connection's driving half; `None` once it has ended (it must not be polled again).
type Driver = Option<Box<Connection<TokioIo<tokio::net::TcpStream>, Full<Bytes>>>>;

/// Polls a connection's driving half: reads, writes, decodes what it can; false once the
/// connection has ended.
fn drive(driver: &mut Driver, cx: &mut Context<'_>) -> bool {
    if let Some(connection) = driver
        && Pin::new(connection).poll(cx).is_ready()
    {
        *driver = None;
    }
    driver.is_some()
}

/// An idle connection and since when it has been idle.
struct Idle {
    sender: Sender,
    driver: Driver,
    since: Instant,
}

pub struct Pool {
    host: String,
    port: u16,
    /// Idle connections, the most recently used last.
    idle: Mutex<Vec<Idle>>,
}

impl Pool {
    /// Connections to `host` (a name or an IP address, without brackets) and `port`.
    pub fn new(host: &str, port: u16) -> Arc<Pool> {
        Arc::new(Pool {
            host: host.to_string(),
            port,
            idle: Mutex::new(Vec::new()),
        })
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `request` on an idle connection, or on a new one; the answer's body gives the
    /// connection back when it ends.
    pub async fn send(
        self: &Arc<Self>,
        mut request: Request<Full<Bytes>>,
    ) -> Result<Response<Lent>, String> {
        loop {
            let (mut sender, mut driver, reused) = match self.reuse().await {
                Some((sender, driver)) => (sender, driver, true),
                None => {
                    let (sender, driver) = self.connect().await?;
                    (sender, driver, false)
                }
            };
            let mut answer = std::pin::pin!(sender.try_send_request(request));
            let answered = std::future::poll_fn(|cx| {
                if let Poll::Ready(answered) = answer.as_mut().poll(cx) {
                    return Poll::Ready(answered);
                }
                drive(&mut driver, cx);
                answer.as_mut().poll(cx)
            })
            .await;
            match answered {
                Ok(response) => {
                    return Ok(response.map(|body| Lent {
                        body,
                        sender: Some(sender),
                        driver,
                        pool: self.clone(),
                    }));
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(format!("upstream request failed: {}", e.into_error())),
                },
            }
        }
    }

    /// The most recently used idle connection that is still open and not too old.
    async fn reuse(&self) -> Option<(Sender, Driver)> {
        loop {
            let Idle {
                mut sender,
                mut driver,
                since,
            } = self.idle().pop()?;
            if since.elapsed() > IDLE || sender.is_closed() {
                continue;
            }
            let ready = std::future::poll_fn(|cx| {
                if !drive(&mut driver, cx) {
                    return Poll::Ready(false);
                }
                sender.poll_ready(cx).map(|r| r.is_ok())
            })
            .await;
            if ready {
                return Some((sender, driver));
            }
        }
    }

    async fn connect(&self) -> Result<(Sender, Driver), String> {
        let stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| {
                format!(
                    "upstream request failed: cannot connect to {}:{}: {e}",
                    self.host, self.port
                )
            })?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("upstream request failed: {e}"))?;
        Ok((sender, Some(Box::new(connection))))
    }

    /// A connection whose answer has ended comes back; the idle ones past [`IDLE`] go.
    fn give_back(&self, sender: Sender, driver: Driver) {
        if sender.is_closed() || driver.is_none() {
            return;
        }
        let now = Instant::now();
        let mut idle = self.idle();
        let expired = idle
            .iter()
            .take_while(|i| now.duration_since(i.since) > IDLE)
            .count();
        idle.drain(..expired);
        if idle.len() < MAX_IDLE {
            idle.push(Idle {
                sender,
                driver,
                since: now,
            });
        }
    }
}

/// An upstream answer's body; its connection goes back to the pool when it ends (dropped
/// before its end, the connection is closed instead: it is in the middle of an answer).
pub struct Lent {
    body: Incoming,
    sender: Option<Sender>,
    driver: Driver,
    pool: Arc<Pool>,
}

impl Body for Lent {
    type Data = Bytes;
    type Error = hyper::Error;

    /// A frame that has been decoded already, else whatever driving the connection decodes.
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let mut polled = Pin::new(&mut this.body).poll_frame(cx);
        if polled.is_pending() {
            drive(&mut this.driver, cx);
            polled = Pin::new(&mut this.body).poll_frame(cx);
        }
        if let Poll::Ready(None) = polled
            && let Some(sender) = this.sender.take()
        {
            this.pool.give_back(sender, this.driver.take());
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server answering `ok` to each request; with `once`, it closes each connection after
    /// its first answer (as a server does at its keep-alive timeout). Counts connections.
    async fn server(once: bool) -> (u16, Arc<AtomicUsize>) {
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
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if stream.write_all(answer).await.is_err() || once {
                            return;
                        }
                    }
                });
            }
        });
        (port, accepted)
    }

    async fn get(pool: &Arc<Pool>, port: u16) -> String {
        let request = Request::get("/")
            .header("host", format!("127.0.0.1:{port}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let answer = pool.send(request).await.unwrap();
        let body = answer.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_connection_is_reused_once_its_answer_has_ended() {
        let (port, accepted) = server(false).await;
        let pool = Pool::new("127.0.0.1", port);
        for _ in 0..3 {
            assert_eq!(get(&pool, port).await, "ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_while_idle_is_not_used() {
        let (port, accepted) = server(true).await;
        let pool = Pool::new("127.0.0.1", port);
        assert_eq!(get(&pool, port).await, "ok");
        // Let the server's close arrive: the idle connection is then seen closed when taken.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(get(&pool, port).await, "ok");
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
        let request = Request::get("/").body(Full::new(Bytes::new())).unwrap();
        let error = pool.send(request).await.err().unwrap();
        assert!(error.contains("cannot connect"), "{error}");
    }
}
