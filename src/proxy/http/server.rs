//! The MCP endpoint: accepts connections, refuses what must not pass before anything is read
//! (a foreign `Origin`, a missing or unknown bearer token), keeps track of MCP sessions and
//! which grant owns each, and serves GET (the server's stream) and DELETE (end a session).
//! POSTs go to `exchange`.
//!
//! A session is known from the `initialize` answer that carries its `Mcp-Session-Id`; it
//! belongs to the grant that opened it, and any other grant gets 404 for it, as for an unknown
//! one. A request without a session id (the 2026-07-28 era has none) is a session of its own.
//!
//! Shutdown: on SIGTERM/SIGINT the listener closes, new requests get 503, and warden waits for
//! the POSTs in flight (up to the drain timeout) before exiting; GET streams are cut.

use super::child::Children;
use super::discovery;
use super::exchange::Guard;
use super::front::{self, Headers, Incoming, SESSION_ID};
use super::grants::{Grants, Refusal};
use super::metrics::{Failure, Gauges, Metrics};
use super::socket::Stream;
use super::upstream::{self, Upstream};
use super::{Body, Options, Target, full};
use crate::proxy::audit::unix_now;
use crate::proxy::engine::{Engine, Identity};
use crate::proxy::jsonrpc::{self, Id};
use crate::proxy::reload::FileWatch;
use crate::proxy::session::{Session, ToolCache};
use arc_swap::ArcSwap;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// Which session a request belongs to.
#[derive(Clone)]
pub struct Live {
    pub grant: Arc<str>,
    pub session: Arc<Session>,
    /// When the session last had a request (seconds since the epoch).
    pub used: Arc<AtomicU64>,
}

pub struct Settings {
    pub server: Option<String>,
    pub upstream_timeout: Duration,
    pub approval_timeout: Duration,
    pub max_message_bytes: usize,
    pub max_concurrent: usize,
    /// Check `Origin` (loopback listeners, or when origins are configured).
    pub check_origin: bool,
    pub allowed_origins: Vec<String>,
    /// A client connection that sends no whole request head for this long is closed.
    pub header_timeout: Duration,
    /// The listener serves HTTPS.
    pub tls: bool,
    /// The listener asks clients for a certificate (`--client-ca`).
    pub client_certificates: bool,
}

impl Settings {
    /// What a client connection may send (the endpoint's; the admin listener's bodies are
    /// bounded by the same limit): the header timeout, so that a slow or silent client holds
    /// no connection for long, and the largest message.
    pub fn limits(&self) -> front::Limits {
        front::Limits {
            header_timeout: self.header_timeout,
            max_body: self.max_message_bytes,
        }
    }
}

/// Where forwarded messages go.
pub enum Backend {
    Http(Upstream),
    Children(Children),
}

pub struct Proxy {
    pub engine: Arc<Engine>,
    /// Swapped whole when the grants file is reloaded.
    pub grants: ArcSwap<Grants>,
    pub backend: Backend,
    /// The endpoint's path (the upstream URL's, or `/mcp` in front of stdio servers).
    path: String,
    pub settings: Settings,
    pub metrics: Metrics,
    sessions: Mutex<HashMap<String, Live>>,
    learned: ToolCache,
    pub slots: Arc<Semaphore>,
    draining: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
    next_request: AtomicU64,
}

impl Proxy {
    pub fn new(engine: Arc<Engine>, grants: Grants, backend: Backend, settings: Settings) -> Proxy {
        let path = match &backend {
            Backend::Http(u) => u.path().to_string(),
            Backend::Children(_) => "/mcp".to_string(),
        };
        Proxy {
            engine,
            grants: ArcSwap::from_pointee(grants),
            backend,
            path,
            slots: Arc::new(Semaphore::new(settings.max_concurrent.max(1))),
            settings,
            metrics: Metrics::default(),
            sessions: Mutex::new(HashMap::new()),
            learned: ToolCache::default(),
            draining: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            next_request: AtomicU64::new(0),
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Live>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn gauges(&self) -> Gauges {
        Gauges {
            sessions: self.sessions().len(),
            in_flight: self.in_flight.load(Ordering::Relaxed),
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Counts a request in flight until the guard is dropped.
    pub fn flight(self: &Arc<Self>) -> Flight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Flight(self.clone())
    }

    /// Handles one request; `certificate`: the names in the client's certificate, if it
    /// presented one (`tls::subject_names`).
    pub async fn handle(
        self: Arc<Self>,
        req: Incoming,
        certificate: Option<Arc<[String]>>,
    ) -> Response<Body> {
        self.metrics.request();
        if req.uri.path() != self.path {
            if req.method == Method::GET
                && discovery::is_metadata_path(req.uri.path(), &self.path)
                && let Some(metadata) = self.resource_metadata(&req.headers)
            {
                return metadata;
            }
            return plain(
                StatusCode::NOT_FOUND,
                &format!("not found: the MCP endpoint is {}", self.path),
            );
        }
        if self.is_draining() {
            return plain(StatusCode::SERVICE_UNAVAILABLE, "warden is shutting down");
        }
        if !self.origin_allowed(&req.headers) {
            self.metrics.failed(Failure::Origin);
            return plain(
                StatusCode::FORBIDDEN,
                "forbidden: the request's Origin is not allowed (DNS rebinding protection)",
            );
        }
        let authorization = req.headers.get(&hyper::header::AUTHORIZATION);
        let grants = self.grants.load();
        let grant = grants.check(authorization.map(|v| v.as_bytes()), certificate.as_deref());
        let grant = match grant {
            Ok(grant) => grant,
            Err(refusal) => {
                tracing::debug!(why = refusal.why(), "credentials refused");
                self.metrics.failed(match refusal {
                    Refusal::Scope(_) => Failure::InsufficientScope,
                    _ => Failure::Unauthorized,
                });
                return self.refused(&req.headers, &grants, &refusal);
            }
        };
        match req.method {
            Method::POST => self.post(req, grant).await,
            Method::GET => self.get(req, grant).await,
            Method::DELETE => self.delete(req, grant).await,
            _ => {
                let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
                r.headers_mut().insert(
                    hyper::header::ALLOW,
                    HeaderValue::from_static("GET, POST, DELETE"),
                );
                r
            }
        }
    }

    /// The answer to a request without a grant: 401 (no or a wrong credential) or 403 (a
    /// token short of a required scope), with the challenge RFC 6750 §3 and the MCP
    /// authorization spec ask for: the error, the scopes to ask for, the metadata's URL.
    fn refused(&self, headers: &Headers, grants: &Grants, refusal: &Refusal) -> Response<Body> {
        let (status, text, error) = match refusal {
            Refusal::Missing(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized: a valid bearer token is required",
                None,
            ),
            Refusal::Invalid(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized: a valid bearer token is required",
                Some("invalid_token"),
            ),
            Refusal::Scope(_) => (
                StatusCode::FORBIDDEN,
                "forbidden: the token lacks a scope warden requires",
                Some("insufficient_scope"),
            ),
        };
        let mut r = plain(status, text);
        let jwt = grants.jwt.as_ref();
        let resource = self.resource(headers);
        let challenge = discovery::Challenge {
            error,
            scope: jwt.map_or(&[][..], |j| j.required_scopes()),
            resource: resource.as_deref(),
        };
        let value = HeaderValue::from_str(&challenge.to_string())
            .unwrap_or(HeaderValue::from_static("Bearer"));
        r.headers_mut()
            .insert(hyper::header::WWW_AUTHENTICATE, value);
        r
    }

    /// warden's endpoint as an OAuth protected resource, when the grants take JWTs.
    fn resource(&self, headers: &Headers) -> Option<String> {
        let grants = self.grants.load();
        let jwt = grants.jwt.as_ref()?;
        discovery::resource(jwt, headers, self.settings.tls, &self.path)
    }

    /// The protected-resource metadata document (RFC 9728), when the grants take JWTs.
    fn resource_metadata(&self, headers: &Headers) -> Option<Response<Body>> {
        let resource = self.resource(headers)?;
        let grants = self.grants.load();
        let doc = discovery::metadata(grants.jwt.as_ref()?, &resource);
        Some(json(StatusCode::OK, doc.to_string().into_bytes()))
    }

    /// A browser page on a foreign origin must not reach a loopback warden (DNS rebinding).
    /// Requests without `Origin` (every non-browser client) pass.
    fn origin_allowed(&self, headers: &Headers) -> bool {
        let Some(origin) = headers.get(&hyper::header::ORIGIN) else {
            return true;
        };
        if !self.settings.check_origin {
            return true;
        }
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        if self.settings.allowed_origins.iter().any(|o| o == origin) {
            return true;
        }
        let host = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .unwrap_or("");
        let host = match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => host.split(':').next().unwrap_or(""),
        };
        matches!(host, "localhost" | "127.0.0.1" | "::1")
    }

    /// The session a request belongs to, and whether warden knew it; `None` for an unknown
    /// session id or one owned by another grant (answer [`Proxy::unknown_session`]).
    pub fn session_for(&self, headers: &Headers, grant: &Arc<str>) -> Option<(Arc<Session>, bool)> {
        let Some(sid) = headers.get(&SESSION_ID) else {
            let n = self.next_request.fetch_add(1, Ordering::Relaxed);
            let identity = Identity {
                server: self.settings.server.clone(),
                grant: grant.clone(),
                agent: None,
                session: format!("request-{n}").into(),
            };
            let session = Session::sharing(self.engine.clone(), identity, self.learned.clone());
            return Some((Arc::new(session), false));
        };
        let live = sid
            .to_str()
            .ok()
            .and_then(|sid| self.sessions().get(sid).cloned());
        let live = live.filter(|l| l.grant == *grant)?;
        live.used.store(unix_now(), Ordering::Relaxed);
        Some((live.session, true))
    }

    /// 404: the client starts a new session.
    pub fn unknown_session(&self) -> Response<Body> {
        self.metrics.failed(Failure::UnknownSession);
        json_error(
            StatusCode::NOT_FOUND,
            None,
            jsonrpc::INVALID_REQUEST,
            "Session not found",
        )
    }

    /// The server gave a new session its id: remember who owns it.
    pub fn register(&self, sid: &HeaderValue, grant: &Arc<str>, session: &Arc<Session>) {
        if let Ok(sid) = sid.to_str() {
            session.rename(sid);
            self.sessions().insert(
                sid.to_string(),
                Live {
                    grant: grant.clone(),
                    session: session.clone(),
                    used: Arc::new(AtomicU64::new(unix_now())),
                },
            );
        }
    }

    /// The session is over: forget it, and give back the counter slots of calls it left
    /// unanswered.
    pub fn forget(&self, headers: &Headers) {
        let sid = session_id(headers);
        if let Some(live) = sid.and_then(|sid| self.sessions().remove(sid)) {
            let _ = live.session.server_gone();
        }
    }

    /// Forgets sessions idle for longer than `idle` (their children stopped, their unanswered
    /// calls' slots released); runs until warden exits.
    pub async fn expire(self: Arc<Self>, idle: Duration) {
        let mut ticker = tokio::time::interval(
            idle.min(Duration::from_secs(60))
                .max(Duration::from_secs(1)),
        );
        loop {
            ticker.tick().await;
            let cutoff = unix_now().saturating_sub(idle.as_secs());
            let expired: Vec<(String, Live)> = {
                let mut sessions = self.sessions();
                let old: Vec<String> = sessions
                    .iter()
                    .filter(|(_, l)| l.used.load(Ordering::Relaxed) < cutoff)
                    .map(|(sid, _)| sid.clone())
                    .collect();
                old.into_iter()
                    .filter_map(|sid| sessions.remove(&sid).map(|l| (sid, l)))
                    .collect()
            };
            for (sid, live) in expired {
                tracing::info!(session = %sid, grant = %live.grant, "session expired (idle)");
                let _ = live.session.server_gone();
                if let Backend::Children(children) = &self.backend {
                    children.end(&sid);
                }
            }
        }
    }

    /// GET: the server's own stream (and `Last-Event-ID` resumption), relayed event by event.
    async fn get(self: Arc<Self>, req: Incoming, grant: Arc<str>) -> Response<Body> {
        let Some((session, _)) = self.session_for(&req.headers, &grant) else {
            return self.unknown_session();
        };
        let upstream = match &self.backend {
            Backend::Http(u) => u,
            Backend::Children(children) => {
                let sid = session_id(&req.headers);
                let Some(lines) = sid.and_then(|sid| children.stream(sid)) else {
                    return plain(
                        StatusCode::METHOD_NOT_ALLOWED,
                        "the server stream needs a session (Mcp-Session-Id)",
                    );
                };
                return self.relay_lines(lines, session, None, None, Guard::none());
            }
        };
        let reply = match upstream.send(Method::GET, &req.headers, &[]).await {
            Ok(r) => r,
            Err(e) => return self.upstream_failed(None, &e),
        };
        self.relay(reply, session, None, None, Guard::none()).await
    }

    /// DELETE: ends a session upstream and here.
    async fn delete(self: Arc<Self>, req: Incoming, grant: Arc<str>) -> Response<Body> {
        if req.headers.get(&SESSION_ID).is_none() {
            self.metrics.failed(Failure::BadRequest);
            return plain(StatusCode::BAD_REQUEST, "DELETE needs an Mcp-Session-Id");
        }
        if self.session_for(&req.headers, &grant).is_none() {
            return self.unknown_session();
        }
        let upstream = match &self.backend {
            Backend::Http(u) => u,
            Backend::Children(children) => {
                let sid = session_id(&req.headers);
                children.end(sid.unwrap_or_default());
                self.forget(&req.headers);
                return plain(StatusCode::OK, "session ended");
            }
        };
        let reply = match upstream.send(Method::DELETE, &req.headers, &[]).await {
            Ok(r) => r,
            Err(e) => return self.upstream_failed(None, &e),
        };
        let status = reply.status();
        if status.is_success() || status == StatusCode::NOT_FOUND {
            self.forget(&req.headers);
        }
        let (head, reply) = reply.into_parts();
        let body = http_body_util::BodyExt::collect(reply)
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        upstream::response(status, head.headers, full(body))
    }

    /// The upstream could not be reached or broke: a JSON-RPC error for the request.
    pub fn upstream_failed(&self, id: Option<&Id>, why: &str) -> Response<Body> {
        self.metrics.failed(Failure::Upstream);
        tracing::warn!(error = why, "upstream request failed");
        json_error(
            StatusCode::BAD_GATEWAY,
            id,
            jsonrpc::INTERNAL_ERROR,
            &format!("the MCP server could not be reached: {why}"),
        )
    }
}

/// Decrements the in-flight count when dropped.
pub struct Flight(Arc<Proxy>);

impl Drop for Flight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

pub fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut headers = HeaderMap::new();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    upstream::response(status, headers, full(format!("{text}\n")))
}

pub fn json(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut headers = HeaderMap::new();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    upstream::response(status, headers, full(body))
}

pub fn json_error(status: StatusCode, id: Option<&Id>, code: i64, message: &str) -> Response<Body> {
    json(status, jsonrpc::error_response(id, code, message))
}

/// Binds the listeners and serves until a signal; then drains.
pub async fn run(engine: Arc<Engine>, options: Options) -> i32 {
    let (backend, target) = match &options.target {
        Target::Url(url) => match Upstream::new(
            url,
            &options.grants.upstream_headers,
            options.upstream_identity.clone(),
        ) {
            Ok(u) => (Backend::Http(u), url.clone()),
            Err(e) => {
                eprintln!("warden: --upstream {e}");
                return 2;
            }
        },
        Target::Command(command) => match Children::new(command.clone(), options.max_message_bytes)
        {
            Ok(c) => (Backend::Children(c), command.join(" ")),
            Err(e) => {
                eprintln!("warden: {e}");
                return 2;
            }
        },
    };
    let loopback = options.listen.ip().is_loopback();
    let settings = Settings {
        server: options.server.clone(),
        upstream_timeout: options.upstream_timeout,
        approval_timeout: options.approval_timeout,
        max_message_bytes: options.max_message_bytes,
        max_concurrent: options.max_concurrent,
        check_origin: loopback || !options.allowed_origins.is_empty(),
        allowed_origins: options.allowed_origins.clone(),
        header_timeout: options.header_timeout,
        tls: options.tls.is_some(),
        client_certificates: options.client_ca.is_some(),
    };
    if let Err(e) = proxy_can_use(&options.grants, &settings) {
        eprintln!("warden: --grants: {e}");
        return 2;
    }
    let proxy = Arc::new(Proxy::new(engine, options.grants, backend, settings));
    if let Err(e) = super::watch::fetch_keys(&proxy.grants.load()).await {
        eprintln!("warden: --grants: {e}");
        return 2;
    }
    let listener = match tokio::net::TcpListener::bind(options.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("warden: cannot listen on {}: {e}", options.listen);
            return 2;
        }
    };
    let admin = match options.admin {
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("warden: cannot listen on {addr} (admin): {e}");
                return 2;
            }
        },
        None => None,
    };
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, upstream = %target, "listening");
        let scheme = if options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        eprintln!("warden: listening on {scheme}://{addr}{}", proxy.path);
        if let Some(ca) = &options.client_ca {
            let need = if ca.required() {
                "required"
            } else {
                "optional"
            };
            eprintln!(
                "warden: client certificates from the CAs in {} ({need})",
                ca.path().display()
            );
        }
    }
    if let Some(a) = &admin
        && let Ok(addr) = a.local_addr()
    {
        eprintln!("warden: admin on http://{addr}/metrics");
    }
    if let Some(a) = admin {
        tokio::spawn(super::admin::serve(a, proxy.clone()));
    }
    tokio::spawn(proxy.clone().expire(options.session_idle));
    if let Some(identity) = &options.upstream_identity {
        let every = options.reload_interval;
        tokio::spawn(super::watch::certificate(identity.clone(), every));
    }
    if let Some(ca) = &options.client_ca {
        tokio::spawn(super::watch::client_ca(ca.clone(), options.reload_interval));
    }
    if let Some(path) = options.grants_file {
        tokio::spawn(super::watch::jwks(proxy.clone()));
        let file = FileWatch::new(path, options.reload_interval);
        tokio::spawn(super::watch::grants(
            proxy.clone(),
            file,
            options.reload_interval,
        ));
    }
    let tls = match &options.tls {
        None => None,
        Some(cert) => match cert.server_config(options.client_ca.clone()) {
            Ok(config) => {
                tokio::spawn(super::watch::certificate(
                    cert.clone(),
                    options.reload_interval,
                ));
                Some(tokio_rustls::TlsAcceptor::from(config))
            }
            Err(e) => {
                eprintln!("warden: --tls-cert: {e}");
                return 2;
            }
        },
    };
    serve(listener, tls, &proxy).await;
    proxy.draining.store(true, Ordering::SeqCst);
    let in_flight = proxy.in_flight.load(Ordering::SeqCst);
    tracing::info!(in_flight, "shutting down: draining in-flight requests");
    let drained = tokio::time::timeout(options.drain_timeout, async {
        loop {
            let idle = proxy.idle.notified();
            if proxy.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!("drain timeout: exiting with requests still in flight");
    }
    0
}

/// Accepts connections until SIGTERM or SIGINT.
async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    proxy: &Arc<Proxy>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("warden: cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let proxy = proxy.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let limits = proxy.settings.limits();
                    let (stream, certificate) = match tls {
                        None => (Stream::Plain(stream), None),
                        Some(tls) => match handshake(&tls, stream, limits.header_timeout).await {
                            Ok(s) => s,
                            Err(e) => {
                                proxy.metrics.failed(Failure::TlsHandshake);
                                tracing::debug!(error = e, "TLS handshake failed");
                                return;
                            }
                        },
                    };
                    let refused = |_| proxy.metrics.failed(Failure::BadRequest);
                    let handle = |req| proxy.clone().handle(req, certificate.clone());
                    front::serve(stream, limits, handle, refused).await;
                });
            }
            _ = term.recv() => return,
            _ = int.recv() => return,
        }
    }
}

/// A client's TLS handshake, within `timeout` (a client that stalls it holds no more than a
/// request would); the stream and the names in the certificate the client presented, if any.
async fn handshake(
    tls: &tokio_rustls::TlsAcceptor,
    stream: tokio::net::TcpStream,
    timeout: Duration,
) -> Result<(Stream, Option<Arc<[String]>>), String> {
    match tokio::time::timeout(timeout, tls.accept(stream)).await {
        Ok(Ok(tls)) => {
            let certificate = tls.get_ref().1.peer_certificates().and_then(|c| c.first());
            let names = certificate.map(|c| crate::proxy::tls::subject_names(c).into());
            Ok((Stream::Tls(Box::new(tls.into())), names))
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the handshake timed out".into()),
    }
}

/// Whether the proxy can use these grants: grants by client certificate need a listener that
/// asks for certificates. (At start, and for a grants file reloaded.)
pub fn proxy_can_use(grants: &Grants, settings: &Settings) -> Result<(), String> {
    match grants.certificate_grant_names().next() {
        Some(name) if !settings.client_certificates => Err(format!(
            "grant `{name}` is given by client certificate, but the listener asks for none (--client-ca)"
        )),
        _ => Ok(()),
    }
}

/// The request's `Mcp-Session-Id` as text, if it has a readable one.
fn session_id(headers: &Headers) -> Option<&str> {
    headers.get(&SESSION_ID).and_then(|v| v.to_str().ok())
}
