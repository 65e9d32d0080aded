//! One POST: the routing headers checked against the body, the session's decision, and then
//! either warden's own answer, or the message forwarded upstream and the answer relayed — one
//! JSON body, or an SSE stream relayed event by event as it arrives. Every message of the
//! answer goes through the session (`Session::from_server`), so a `tools/call` result inside
//! an SSE stream settles its counter slots and a `tools/list` inside one is filtered.
//!
//! Bounds: at most `--max-concurrent` POSTs hold an upstream slot at once (beyond: 503 with
//! `Retry-After`); each exchange has `--upstream-timeout` to finish, after which the client
//! gets a JSON-RPC error for its request and the call's counter slots are given back.
//! Handshake-era approvals: warden answers the POST with an SSE stream carrying its
//! `elicitation/create`; the client's answer arrives as another POST of the same session.
//! The POST goes to the upstream server over HTTP, or to the session's stdio child (`child`),
//! whose lines are relayed as SSE events the same way.

use super::child;
use super::deadline::Deadline;
use super::front::{Headers, Incoming, SESSION_ID};
use super::headers::{self, HEADER_MISMATCH};
use super::metrics::Failure;
use super::pool::Lent;
use super::relay::Relay;
use super::server::{Backend, Flight, Proxy, json, json_error, plain};
use super::sse;
use super::upstream;
use super::{Body, channel, empty};
use crate::proxy::client_message::{self, ClientMessage};
use crate::proxy::jsonrpc::{self, Id};
use crate::proxy::session::{Action, ApprovalJob, Session};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode};
use std::pin::pin;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

/// How long a POST's SSE answer may wait for its first events before its head is sent.
const GATHER: std::time::Duration = std::time::Duration::from_millis(2);

/// Server messages may be larger than client ones (tool results, long lists).
pub const SIZE_FACTOR: usize = 16;

/// What an exchange holds until its answer is complete: an upstream slot, the in-flight count
/// that shutdown waits for, and the child of a one-request session (stopped when the answer
/// is relayed).
pub struct Guard {
    _permit: Option<OwnedSemaphorePermit>,
    _flight: Option<Flight>,
    _child: Option<Arc<child::Proc>>,
}

impl Guard {
    pub fn none() -> Guard {
        Guard {
            _permit: None,
            _flight: None,
            _child: None,
        }
    }
}

/// How a relayed stream ended.
#[derive(PartialEq, Eq)]
pub(super) enum End {
    Done,
    TimedOut,
    Broken,
    ClientGone,
}

impl Proxy {
    pub(super) async fn post(self: Arc<Self>, req: Incoming, grant: Arc<str>) -> Response<Body> {
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            self.metrics.failed(Failure::Overloaded);
            let mut r = json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                jsonrpc::INTERNAL_ERROR,
                &format!(
                    "warden is at its limit of {} concurrent upstream requests; retry shortly",
                    self.settings.max_concurrent
                ),
            );
            r.headers_mut()
                .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("1"));
            return r;
        };
        let guard = Guard {
            _permit: Some(permit),
            _flight: Some(self.flight()),
            _child: None,
        };
        // The body arrived whole, within --max-message-bytes (`front`).
        let Incoming { headers, body, .. } = req;
        if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            self.metrics.failed(Failure::BadRequest);
            return json_error(
                StatusCode::BAD_REQUEST,
                None,
                jsonrpc::INVALID_REQUEST,
                "Invalid Request: warden does not relay JSON-RPC batches over HTTP",
            );
        }
        let message = client_message::read(&body);
        if let Ok(m) = &message
            && let Err(why) = headers::check(&headers, &headers::head(m))
        {
            self.metrics.failed(Failure::HeaderMismatch);
            tracing::warn!(%grant, why, "routing headers disagree with the body");
            return json_error(
                StatusCode::BAD_REQUEST,
                m.id(),
                HEADER_MISMATCH,
                &format!("Header mismatch: {why}"),
            );
        }
        let Some((session, known)) = self.session_for(&headers, &grant) else {
            return self.unknown_session();
        };
        let id = message.as_ref().ok().and_then(ClientMessage::id).cloned();
        let initialize = matches!(&message,
            Ok(ClientMessage::Request { method, .. }) if method == "initialize");
        let actions = session.from_client_read(body.to_vec(), message);
        let Some(action) = actions.into_iter().next() else {
            // The client's answer to warden's own request (an approval prompt).
            return status(StatusCode::ACCEPTED);
        };
        let exchange = Exchange {
            session,
            known,
            grant,
            headers,
            id,
            initialize,
        };
        match action {
            Action::ToClient(bytes) => json(StatusCode::OK, bytes),
            Action::ToServer(bytes) => self.forward(exchange, bytes, guard).await,
            Action::Approve(job) => self.approval(exchange, *job, guard),
        }
    }

    /// Forwards a message and answers with the server's reply.
    async fn forward(
        self: &Arc<Self>,
        x: Exchange,
        bytes: Vec<u8>,
        guard: Guard,
    ) -> Response<Body> {
        let mut deadline = Deadline::after(self.settings.upstream_timeout);
        let upstream = match &self.backend {
            Backend::Http(u) => u,
            Backend::Children(children) => {
                let sid = x.headers.get(&SESSION_ID).and_then(|v| v.to_str().ok());
                let unanswered = Unanswered::new(&x.session, x.id.as_ref());
                let sent = children.post(sid, &bytes, x.id.clone(), x.initialize).await;
                unanswered.settled();
                let reply = match sent {
                    Ok(r) => r,
                    Err(e) => {
                        if let Some(id) = &x.id {
                            x.session.abandon(id);
                        }
                        return self.upstream_failed(x.id.as_ref(), &e);
                    }
                };
                let sid = reply
                    .session_id
                    .and_then(|s| HeaderValue::from_str(&s).ok());
                if let Some(sid) = &sid {
                    self.register(sid, &x.grant, &x.session);
                }
                let Some(lines) = reply.lines else {
                    return status(StatusCode::ACCEPTED);
                };
                let guard = Guard {
                    _child: reply.keep,
                    ..guard
                };
                let mut r = self.relay_lines(lines, x.session, x.id, Some(deadline), guard);
                if let Some(sid) = sid {
                    r.headers_mut().insert("mcp-session-id", sid);
                }
                return r;
            }
        };
        let unanswered = Unanswered::new(&x.session, x.id.as_ref());
        let sent = deadline
            .within(pin!(upstream.send(Method::POST, &x.headers, &bytes)))
            .await;
        unanswered.settled();
        let reply = match sent {
            None => return self.timed_out(&x),
            Some(Err(e)) => {
                if let Some(id) = &x.id {
                    x.session.abandon(id);
                }
                return self.upstream_failed(x.id.as_ref(), &e);
            }
            Some(Ok(r)) => r,
        };
        if !x.known
            && let Some(sid) = reply.headers().get("mcp-session-id")
        {
            self.register(sid, &x.grant, &x.session);
        }
        if x.known && reply.status() == StatusCode::NOT_FOUND {
            self.forget(&x.headers);
        }
        self.relay(reply, x.session, x.id, Some(deadline), guard)
            .await
    }

    /// Relays an upstream answer: an SSE stream event by event (in a task, as it arrives),
    /// anything else whole. `id` is the request the answer is for: if the answer ends without
    /// it, its counter slots are given back.
    pub(super) async fn relay(
        self: &Arc<Self>,
        reply: Response<Lent>,
        session: Arc<Session>,
        id: Option<Id>,
        mut deadline: Option<Deadline>,
        guard: Guard,
    ) -> Response<Body> {
        let (head, reply) = reply.into_parts();
        let (status, headers) = (head.status, head.headers);
        let max = self.settings.max_message_bytes.saturating_mul(SIZE_FACTOR);
        if upstream::is_sse(&headers) && status.is_success() {
            let post = deadline.is_some();
            let mut body = Relay::new(self.clone(), reply, session, id, deadline, guard);
            if post {
                // A POST's answer: gather what has arrived (GET streams start at once).
                body.gather(GATHER).await;
            }
            return upstream::response(status, headers, body.boxed());
        }
        let json_body = upstream::is_json(&headers) && status.is_success();
        let read = Limited::new(reply, max).collect();
        let unanswered = Unanswered::new(&session, id.as_ref());
        let collected = match &mut deadline {
            Some(d) => d.within(pin!(read)).await,
            None => Some(read.await),
        };
        unanswered.settled();
        if let Some(d) = &deadline {
            self.metrics.upstream_latency(d.started().elapsed());
        }
        let bytes = match collected {
            None => {
                return self.timed_out(&Exchange::bare(session, id));
            }
            Some(Err(e)) => {
                if let Some(id) = &id {
                    session.abandon(id);
                }
                return self.upstream_failed(id.as_ref(), &e.to_string());
            }
            Some(Ok(c)) => c.to_bytes(),
        };
        let changed = (json_body && !bytes.is_empty())
            .then(|| session.to_client(&bytes))
            .flatten();
        let body = changed.map_or(bytes, Bytes::from);
        if let Some(id) = &id {
            session.abandon(id);
        }
        upstream::response(status, headers, super::full(body))
    }

    /// A relayed answer ended: if it never carried the request's response, the request is
    /// abandoned (its slots given back) and, on a timeout, the client gets an error for it.
    /// Returns the event to send last, if any.
    pub(super) fn finish(&self, session: &Session, id: Option<&Id>, end: End) -> Option<Vec<u8>> {
        let id = id?;
        if !session.abandon(id) {
            return None;
        }
        match end {
            End::TimedOut => {
                self.metrics.failed(Failure::UpstreamTimeout);
                let error = timeout_error(id, self.settings.upstream_timeout);
                Some(sse::message(&error))
            }
            End::Broken => {
                self.metrics.failed(Failure::Upstream);
                None
            }
            End::Done | End::ClientGone => None,
        }
    }

    /// Relays a stdio child's lines as an SSE stream (in a task), each through the session.
    pub(super) fn relay_lines(
        self: &Arc<Self>,
        mut lines: mpsc::Receiver<Vec<u8>>,
        session: Arc<Session>,
        id: Option<Id>,
        mut deadline: Option<Deadline>,
        guard: Guard,
    ) -> Response<Body> {
        let (tx, body) = channel();
        let proxy = self.clone();
        tokio::spawn(async move {
            let _guard = guard;
            let end = loop {
                let line = match &mut deadline {
                    Some(d) => match d.within(pin!(lines.recv())).await {
                        Some(l) => l,
                        None => break End::TimedOut,
                    },
                    None => lines.recv().await,
                };
                let Some(line) = line else { break End::Done };
                let out = sse::message(&session.to_client(&line).unwrap_or(line));
                if tx.send(Bytes::from(out)).await.is_err() {
                    break End::ClientGone;
                }
            };
            if let Some(d) = &deadline {
                proxy.metrics.upstream_latency(d.started().elapsed());
            }
            if let Some(last) = proxy.finish(&session, id.as_ref(), end) {
                let _ = tx.send(Bytes::from(last)).await;
            }
        });
        let mut headers = HeaderMap::new();
        headers.insert(
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        upstream::response(StatusCode::OK, headers, body)
    }

    /// The upstream did not answer in time: a JSON-RPC error, and the call's slots given back.
    fn timed_out(&self, x: &Exchange) -> Response<Body> {
        self.metrics.failed(Failure::UpstreamTimeout);
        let Some(id) = &x.id else {
            return plain(
                StatusCode::GATEWAY_TIMEOUT,
                "the MCP server did not answer in time",
            );
        };
        x.session.abandon(id);
        json(
            StatusCode::OK,
            timeout_error(id, self.settings.upstream_timeout),
        )
    }

    /// A handshake-era approval: the POST's answer becomes an SSE stream that carries warden's
    /// `elicitation/create` first, then (once the person answered) the call's result.
    fn approval(self: &Arc<Self>, x: Exchange, job: ApprovalJob, guard: Guard) -> Response<Body> {
        let (tx, body) = channel();
        let proxy = self.clone();
        tokio::spawn(async move {
            if tx
                .send(Bytes::from(sse::message(&job.request)))
                .await
                .is_err()
            {
                return;
            }
            let answer = tokio::time::timeout(proxy.settings.approval_timeout, job.answer)
                .await
                .ok()
                .and_then(Result::ok);
            for action in x.session.finish_approval(job.held, answer) {
                match action {
                    Action::ToClient(bytes) => {
                        let _ = tx.send(Bytes::from(sse::message(&bytes))).await;
                    }
                    Action::ToServer(bytes) => {
                        let x = Exchange {
                            session: x.session.clone(),
                            known: x.known,
                            grant: x.grant.clone(),
                            headers: x.headers.clone(),
                            id: x.id.clone(),
                            initialize: false,
                        };
                        let answer = proxy.forward(x, bytes, Guard::none()).await;
                        forward_into(answer, &tx).await;
                    }
                    Action::Approve(_) => {}
                }
            }
            drop(guard);
        });
        let mut headers = HeaderMap::new();
        headers.insert(
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        upstream::response(StatusCode::OK, headers, body)
    }
}

/// A forwarded request while its exchange waits for the server. If the exchange is dropped
/// then (its client went away: `front` drops the response it was waiting for, and the upstream
/// request with it), the request is abandoned and its counter slots given back, as when the
/// server's connection breaks. Once the wait is over, whoever goes on settles the request.
struct Unanswered<'a> {
    session: &'a Session,
    id: Option<&'a Id>,
}

impl<'a> Unanswered<'a> {
    fn new(session: &'a Session, id: Option<&'a Id>) -> Unanswered<'a> {
        Unanswered { session, id }
    }

    /// The wait is over (whatever its outcome): the caller settles the request from here.
    fn settled(mut self) {
        self.id = None;
    }
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.session.abandon(id);
        }
    }
}

/// The request being handled.
struct Exchange {
    session: Arc<Session>,
    /// The session was known before this request (else it is new, or of this request only).
    known: bool,
    grant: Arc<str>,
    headers: Headers,
    id: Option<Id>,
    initialize: bool,
}

impl Exchange {
    fn bare(session: Arc<Session>, id: Option<Id>) -> Exchange {
        Exchange {
            session,
            known: true,
            grant: "".into(),
            headers: Headers::default(),
            id,
            initialize: false,
        }
    }
}

/// Copies a finished answer into an SSE stream: SSE bodies as they are, a JSON body as one
/// `message` event.
async fn forward_into(answer: Response<Body>, tx: &mpsc::Sender<Bytes>) {
    let sse = upstream::is_sse(answer.headers());
    let mut body = answer.into_body();
    let mut json = Vec::new();
    while let Some(Ok(frame)) = body.frame().await {
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if sse {
            if tx.send(data).await.is_err() {
                return;
            }
        } else {
            json.extend_from_slice(&data);
        }
    }
    if !json.is_empty() {
        let _ = tx.send(Bytes::from(sse::message(&json))).await;
    }
}

fn timeout_error(id: &Id, timeout: std::time::Duration) -> Vec<u8> {
    jsonrpc::error_response(
        Some(id),
        jsonrpc::INTERNAL_ERROR,
        &format!(
            "the MCP server did not answer within {} s (warden's --upstream-timeout); the call's rate-limit slots were released",
            timeout.as_secs_f64()
        ),
    )
}

fn status(status: StatusCode) -> Response<Body> {
    upstream::response(status, HeaderMap::new(), empty())
}
