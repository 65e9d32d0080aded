//! The Streamable HTTP transport: warden as a reverse proxy in front of an MCP server reached
//! over HTTP (`--upstream URL`), or in front of a stdio server started once per MCP session
//! (`-- COMMAND`), serving many callers with their own grants.
//!
//! - `front`: HTTP/1.1 on client connections (requests read strictly, responses written
//!   whole or chunked, a client that goes away noticed);
//! - `server`: the endpoint: origin check, grants (401), sessions, GET and DELETE;
//! - `exchange`: one POST: routing-header checks, the session's decision, forwarding, relaying
//!   JSON or SSE answers (every message through the session, so results inside SSE are decided
//!   and filtered too), approvals, timeouts and overload;
//! - `headers`: `Mcp-Method`/`Mcp-Name`/`MCP-Protocol-Version` checked against the body;
//! - `relay`: an upstream SSE answer relayed as a body that reads it event by event;
//!   `deadline`: an exchange's upstream timeout, one timer;
//! - `sse`: splitting and rewriting server-sent events;
//! - `upstream`: the HTTP client and which headers cross warden (`Endpoint`: an `http://` or
//!   `https://` URL, also `warden catalog --url`'s); `pool`: its connections (TCP, or TLS);
//!   `wire`: HTTP/1.1 on those connections (the request written, the answer's head and body
//!   read); `socket`: a connection's bytes, plain or TLS (`Stream`), and reads that need no
//!   system call to find a socket empty;
//! - `child`: stdio servers behind the endpoint, one child process per MCP session;
//! - `grants`: bearer tokens (stored hashed) → grant names, upstream credentials; `jwt`: bearer
//!   JSON Web Tokens of an identity provider, the grant named by a claim; `watch`: the grants
//!   file (and its JWKS) and the certificates warden presents reloaded when they change;
//! - `discovery`: OAuth protected-resource metadata (RFC 9728) when grants take JWTs;
//! - `metrics`, `admin`: `/metrics` (Prometheus text) and `/healthz` on a separate listener.
//!
//! What to decide lives in `proxy::session` and `proxy::engine`, shared with stdio: this module
//! only moves bytes and keeps track of which session a request belongs to.

pub mod admin;
pub mod child;
mod deadline;
pub mod discovery;
mod exchange;
mod front;
pub mod grants;
pub mod headers;
pub mod jwt;
pub mod metrics;
pub mod pool;
mod relay;
pub mod server;
mod socket;
pub mod sse;
pub mod upstream;
pub mod watch;
pub mod wire;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

/// Every response body warden sends.
pub type Body = BoxBody<Bytes, Infallible>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

pub fn empty() -> Body {
    full(Bytes::new())
}

/// A body fed by a task as it goes (SSE relays): closes when the sender is dropped.
pub struct ChannelBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        self.get_mut()
            .0
            .poll_recv(cx)
            .map(|o| o.map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

/// A streaming body and its feeding end.
pub fn channel() -> (mpsc::Sender<Bytes>, Body) {
    let (tx, rx) = mpsc::channel(16);
    (tx, ChannelBody(rx).boxed())
}

/// Where requests go.
pub enum Target {
    /// An MCP server over Streamable HTTP.
    Url(String),
    /// A stdio MCP server command, started once per MCP session.
    Command(Vec<String>),
}

pub struct Options {
    pub listen: SocketAddr,
    pub target: Target,
    pub admin: Option<SocketAddr>,
    pub grants: grants::Grants,
    /// The grants file, watched for changes (none: no grants file).
    pub grants_file: Option<std::path::PathBuf>,
    /// How often the grants file is looked at.
    pub reload_interval: Duration,
    /// Serve HTTPS with this certificate (`--tls-cert`, `--tls-key`), reloaded when its files
    /// change; `None`: plain HTTP.
    pub tls: Option<Arc<crate::proxy::tls::CertPair>>,
    /// Ask HTTPS clients for a certificate issued by these CAs (`--client-ca`), reloaded when
    /// their file changes; grants may be given by the names in it.
    pub client_ca: Option<Arc<crate::proxy::tls::ClientCa>>,
    /// The client certificate presented to an `https://` upstream that asks for one
    /// (`--upstream-cert`, `--upstream-key`), reloaded when its files change.
    pub upstream_identity: Option<Arc<crate::proxy::tls::CertPair>>,
    pub server: Option<String>,
    pub max_concurrent: usize,
    pub upstream_timeout: Duration,
    pub approval_timeout: Duration,
    pub drain_timeout: Duration,
    pub max_message_bytes: usize,
    pub allowed_origins: Vec<String>,
    /// Sessions without a request for this long are forgotten.
    pub session_idle: Duration,
    /// A client connection that sends no whole request head for this long is closed.
    pub header_timeout: Duration,
}

/// Serves until SIGTERM/SIGINT, then drains in-flight requests; returns the exit code.
pub async fn run(engine: Arc<crate::proxy::engine::Engine>, options: Options) -> i32 {
    server::run(engine, options).await
}

/// Logs through `tracing` to stderr; `WARDEN_LOG` filters (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WARDEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}
