//! An upstream SSE answer relayed to the client as a response body that reads the upstream
//! body itself: each event is rewritten (through the session) as soon as its bytes arrive and
//! handed to the client connection (`front`) in the same poll, so a relayed event costs no task switch and no queue, and
//! events that arrive together leave together.
//!
//! The exchange's end is handled here too: the upstream latency is recorded, a request whose
//! answer never came is abandoned (its counter slots given back), and on a timeout the client
//! gets a JSON-RPC error event for it. A client that goes away drops the body, which ends the
//! exchange the same way.

use super::deadline::Deadline;
use super::exchange::{End, Guard, SIZE_FACTOR};
use super::pool::Lent;
use super::server::Proxy;
use super::sse::{self, Splitter};
use crate::proxy::jsonrpc::Id;
use crate::proxy::session::Session;
use bytes::Bytes;
use hyper::body::{Body, Frame};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// At most this much of an answer is taken from the upstream before it is handed on.
const READY_BYTES: usize = 64 * 1024;

pub struct Relay {
    proxy: Arc<Proxy>,
    upstream: Lent,
    session: Arc<Session>,
    id: Option<Id>,
    deadline: Option<Deadline>,
    splitter: Splitter,
    max: usize,
    /// Bytes ready for the client.
    ready: Vec<u8>,
    done: bool,
    _guard: Guard,
}

impl Relay {
    pub fn new(
        proxy: Arc<Proxy>,
        upstream: Lent,
        session: Arc<Session>,
        id: Option<Id>,
        deadline: Option<Deadline>,
        guard: Guard,
    ) -> Relay {
        let max = proxy.settings.max_message_bytes.saturating_mul(SIZE_FACTOR);
        Relay {
            proxy,
            upstream,
            session,
            id,
            deadline,
            splitter: Splitter::default(),
            max,
            ready: Vec::new(),
            done: false,
            _guard: guard,
        }
    }

    /// Splits what arrived into events and makes each ready for the client: as it came, or
    /// with its message replaced when warden changes it.
    fn events(&mut self, data: &[u8]) -> Result<(), ()> {
        let Relay {
            splitter,
            session,
            ready,
            max,
            ..
        } = self;
        // Events usually leave as they came: one allocation for what this chunk completes.
        ready.reserve(data.len());
        splitter
            .push(data, *max, |event| {
                match sse::data(event).and_then(|message| session.to_client(&message)) {
                    None => ready.extend_from_slice(event),
                    Some(changed) => ready.extend_from_slice(&sse::with_data(event, &changed)),
                }
            })
            .map_err(|_| ())
    }

    /// Takes the upstream frames that are there (up to [`READY_BYTES`] ready to send).
    fn fill(&mut self, cx: &mut Context<'_>) {
        while !self.done && self.ready.len() < READY_BYTES {
            if let Some(deadline) = &mut self.deadline
                && deadline.poll_expired(cx)
            {
                self.end(End::TimedOut);
                break;
            }
            match Pin::new(&mut self.upstream).poll_frame(cx) {
                Poll::Pending => break,
                Poll::Ready(None) => self.end(End::Done),
                Poll::Ready(Some(Err(_))) => self.end(End::Broken),
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data()
                        && self.events(&data).is_err()
                    {
                        self.end(End::Broken);
                    }
                }
            }
        }
    }

    /// Gathers what the upstream has sent so far before the response starts, so that an
    /// answer that has arrived whole leaves in one write (head, events and end): `front`
    /// writes the head with what the body has ready, and flushes whenever the body waits. What has arrived is all read and
    /// decoded in one poll (the body drives its connection, `pool`). Only when nothing has
    /// come yet does it wait, and then for at most `bound`: a server that is slow to send its
    /// first event must not hold the response head. (The timer is armed only then: a timer
    /// earlier than any other wakes the event loop once more, a write and a poll per call.)
    pub async fn gather(&mut self, bound: Duration) {
        if !self.arrived(false).await {
            let _ = tokio::time::timeout(bound, self.arrived(true)).await;
        }
    }

    /// Takes the frames that are there; true once something is ready to send (or the answer
    /// ended). Without `wait`, false if nothing has come; with it, waits for a first frame.
    async fn arrived(&mut self, wait: bool) -> bool {
        std::future::poll_fn(|cx| {
            self.fill(cx);
            if self.done || !self.ready.is_empty() {
                Poll::Ready(true)
            } else if wait {
                Poll::Pending
            } else {
                Poll::Ready(false)
            }
        })
        .await
    }

    fn end(&mut self, end: End) {
        if self.done {
            return;
        }
        self.done = true;
        if let Some(deadline) = &self.deadline {
            self.proxy
                .metrics
                .upstream_latency(deadline.started().elapsed());
        }
        if let Some(rest) = std::mem::take(&mut self.splitter).rest() {
            self.ready.extend_from_slice(&rest);
        }
        if let Some(last) = self.proxy.finish(&self.session, self.id.as_ref(), end) {
            self.ready.extend_from_slice(&last);
        }
    }
}

impl Body for Relay {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        this.fill(cx);
        if !this.ready.is_empty() {
            let bytes = Bytes::from(std::mem::take(&mut this.ready));
            return Poll::Ready(Some(Ok(Frame::data(bytes))));
        }
        if this.done {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.ready.is_empty()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.end(End::ClientGone);
    }
}
