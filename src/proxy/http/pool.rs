//! Keep-alive connections to the upstream server: hyper's HTTP/1 client connections, each
//! driven by a task of its own, lent to one exchange at a time and taken back as soon as the
//! answer's body has ended ([`Lent`]), so the next request reuses the connection at once.
//!
//! warden has one upstream, so this is a stack of idle connections behind a lock and nothing
//! else. (hyper-util's pooled client, used before, kept a pool keyed by scheme and authority
//! and spawned a task for every answer with a body, only to put its connection back when the
//! body ended: about a tenth of warden's CPU time per proxied call went there.)
//!
//! Idle connections are dropped after [`IDLE`], before common servers' keep-alive timeouts
//! (Node's is 5 s): a request written on a connection the server is closing fails and cannot
//! be retried (a POST may have run). A request that a reused connection refused before any of
//! it was written (the connection closed meanwhile) is sent again on another one.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Idle connections older than this are closed, not reused.
pub const IDLE: Duration = Duration::from_secs(4);

/// At most this many idle connections are kept.
const MAX_IDLE: usize = 256;

type Sender = SendRequest<Full<Bytes>>;

pub struct Pool {
    host: String,
    port: u16,
    /// Idle connections, the most recently used last.
    idle: Mutex<Vec<(Sender, Instant)>>,
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

    fn idle(&self) -> MutexGuard<'_, Vec<(Sender, Instant)>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `request` on an idle connection, or on a new one; the answer's body gives the
    /// connection back when it ends.
    pub async fn send(
        self: &Arc<Self>,
        mut request: Request<Full<Bytes>>,
    ) -> Result<Response<Lent>, String> {
        loop {
            let (mut sender, reused) = match self.reuse().await {
                Some(sender) => (sender, true),
                None => (self.connect().await?, false),
            };
            match sender.try_send_request(request).await {
                Ok(response) => {
                    return Ok(response.map(|body| Lent {
                        body,
                        sender: Some(sender),
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
    async fn reuse(&self) -> Option<Sender> {
        loop {
            let (mut sender, since) = self.idle().pop()?;
            if since.elapsed() > IDLE || sender.is_closed() {
                continue;
            }
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    async fn connect(&self) -> Result<Sender, String> {
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
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// A connection whose answer has ended comes back; the idle ones past [`IDLE`] go.
    fn give_back(&self, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut idle = self.idle();
        let expired = idle
            .iter()
            .take_while(|(_, since)| now.duration_since(*since) > IDLE)
            .count();
        idle.drain(..expired);
        if idle.len() < MAX_IDLE {
            idle.push((sender, now));
        }
    }
}

/// An upstream answer's body; its connection goes back to the pool when it ends (dropped
/// before its end, the connection is closed instead: it is in the middle of an answer).
pub struct Lent {
    body: Incoming,
    sender: Option<Sender>,
    pool: Arc<Pool>,
}

impl Body for Lent {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        if let Poll::Ready(None) = polled
            && let Some(sender) = this.sender.take()
        {
            this.pool.give_back(sender);
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
