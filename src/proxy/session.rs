//! One MCP connection as warden relays it: who is calling, which era the connection speaks,
//! which requests are pending in each direction, and what to do with each message.
//!
//! The session is transport-independent: it turns a message into [`Action`]s (bytes for the
//! server, bytes for the client, an approval to run) and never does I/O itself. Request ids are
//! tracked per direction (a server numbers its own requests from 0 too); warden's own requests
//! to the client use string ids `"warden-…"` that no client request can be answered with.
//! What happens to a `tools/call` once the engine has ruled (forward, answer, hold for a
//! person) is in `rulings`.

use super::approval::{INPUT_KEY, Signer};
use super::client_message::{self, ClientMessage, Params};
use super::engine::{Approval, CallRequest, Engine, Era, Identity};
use super::jsonrpc::{self, Id, Message};
use super::limits::Reservation;
use super::request::CallParams;
use super::tools_list::Known;
use super::{pins, tools_list};
use serde_json::Value;
use smallvec::{SmallVec, smallvec};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

mod rulings;

const ENVELOPE_SERVER: &str = "io.modelcontextprotocol/serverInfo";

/// What the transport must do about one message: almost always one thing.
pub type Actions = SmallVec<[Action; 1]>;

/// What the transport must do.
#[derive(Debug)]
pub enum Action {
    ToServer(Vec<u8>),
    ToClient(Vec<u8>),
    /// Send `request` to the client, wait for its answer on `answer` (or time out), then call
    /// [`Session::finish_approval`].
    Approve(Box<ApprovalJob>),
}

#[derive(Debug)]
pub struct ApprovalJob {
    pub request: Vec<u8>,
    pub answer: oneshot::Receiver<Value>,
    pub held: Held,
}

/// A call held while a human decides.
#[derive(Debug)]
pub struct Held {
    elicitation_id: Id,
    original: Vec<u8>,
    call: CallRequest,
    approval: Approval,
}

/// The 2026-07-28 envelope in a request's `params._meta`, its members borrowed and each read
/// on its own, leniently: a member of an unexpected shape reads as absent.
#[derive(Default, serde::Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "io.modelcontextprotocol/protocolVersion", borrow)]
    version: Option<&'a serde_json::value::RawValue>,
    #[serde(rename = "io.modelcontextprotocol/clientInfo", borrow)]
    client: Option<&'a serde_json::value::RawValue>,
    #[serde(rename = "io.modelcontextprotocol/clientCapabilities", borrow)]
    capabilities: Option<&'a serde_json::value::RawValue>,
}

/// `{"name": …}`, of which only a string name counts.
#[derive(serde::Deserialize)]
struct Named {
    name: Option<Value>,
}

/// The client requests routing treats apart, by method.
#[derive(Clone, Copy)]
enum Request {
    Initialize,
    Discover,
    ToolsList,
    ToolsCall,
    Other,
}

impl Request {
    fn of(method: &str) -> Request {
        match method {
            "initialize" => Request::Initialize,
            "server/discover" => Request::Discover,
            "tools/list" => Request::ToolsList,
            "tools/call" => Request::ToolsCall,
            _ => Request::Other,
        }
    }
}

#[derive(Debug)]
enum Pending {
    ToolsCall(Reservation),
    ToolsList,
    Initialize,
    Discover,
    Other,
}

#[derive(Debug, Default)]
struct State {
    /// Shared with the calls in flight (cloned per call); changed copy-on-write.
    identity: Arc<Identity>,
    /// `--server` was given: never overwrite the server name from the upstream.
    server_fixed: bool,
    era: Era,
    protocol_version: Option<String>,
    elicitation: bool,
    pending: HashMap<Id, Pending>,
    approvals: HashMap<Id, oneshot::Sender<Value>>,
    next_id: u64,
    /// The latest answered `tools/list` ids: an HTTP stream resumed with `Last-Event-ID`
    /// replays answers, and a replayed list must be filtered again.
    listed: std::collections::VecDeque<Id>,
}

/// How many answered `tools/list` ids a session remembers for replays.
const LISTED: usize = 64;

/// What the server's `tools/list` said: each tool's annotations and risk class, and the live
/// hashes of pinned tools. Shared by every session of one server over HTTP (a 2026-07-28
/// request is a session of its own, and must see what an earlier request listed).
#[derive(Debug, Default)]
pub struct Learned {
    pub tools: HashMap<String, Known>,
    pub pins: pins::Seen,
}

/// [`Learned`], shared.
pub type ToolCache = Arc<Mutex<Learned>>;

pub struct Session {
    engine: Arc<Engine>,
    state: Mutex<State>,
    learned: ToolCache,
}

impl Session {
    pub fn new(engine: Arc<Engine>, identity: Identity) -> Session {
        Session::sharing(engine, identity, ToolCache::default())
    }

    /// A session that learns and reads what `tools/list` said in `learned` (shared with other
    /// sessions to the same server).
    pub fn sharing(engine: Arc<Engine>, identity: Identity, learned: ToolCache) -> Session {
        let server_fixed = identity.server.is_some();
        Session {
            engine,
            state: Mutex::new(State {
                identity: Arc::new(identity),
                server_fixed,
                ..State::default()
            }),
            learned,
        }
    }

    fn learned(&self) -> std::sync::MutexGuard<'_, Learned> {
        self.learned.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Names the session (over HTTP the session id arrives with the `initialize` answer).
    pub fn rename(&self, session: &str) {
        Arc::make_mut(&mut self.state().identity).session = session.into();
    }

    /// The server will never answer request `id` (the HTTP exchange failed, timed out or ended
    /// without its answer): forget it and give its counter slots back. A no-op for a request
    /// that was answered. Returns whether the request was still pending.
    pub fn abandon(&self, id: &Id) -> bool {
        match self.state().pending.remove(id) {
            Some(Pending::ToolsCall(r)) => {
                self.engine.counters.release(r);
                true
            }
            Some(_) => true,
            None => false,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Requests from the client the server has not answered yet (approvals included).
    pub fn pending(&self) -> usize {
        let s = self.state();
        s.pending.len() + s.approvals.len()
    }

    pub fn identity(&self) -> Arc<Identity> {
        self.state().identity.clone()
    }

    /// A line from the client.
    pub fn from_client(&self, line: Vec<u8>) -> Actions {
        let read = client_message::read(&line);
        self.from_client_read(line, read)
    }

    /// A line from the client that has been read already (by a transport that looked at it
    /// first: the HTTP routing-header check).
    pub fn from_client_read(
        &self,
        line: Vec<u8>,
        read: Result<ClientMessage, jsonrpc::Rejection>,
    ) -> Actions {
        let message = match read {
            Ok(m) => m,
            Err(r) => {
                return smallvec![Action::ToClient(jsonrpc::error_response(
                    r.id.as_ref(),
                    r.code,
                    &r.message,
                ))];
            }
        };
        match message {
            ClientMessage::Request { id, method, params } => {
                self.client_request(line, id, Request::of(&method), params)
            }
            ClientMessage::Notification { method, params } => {
                if method == "notifications/cancelled"
                    && let Some(request) = params.ok().and_then(|p| p.request_id)
                {
                    // The call was forwarded and may have run: its slot stays used.
                    let request = Id(request.get().to_string());
                    if let Some(Pending::ToolsCall(r)) = self.state().pending.remove(&request) {
                        self.engine.counters.commit(r);
                    }
                }
                smallvec![Action::ToServer(line)]
            }
            ClientMessage::Response { id } => {
                let waiter = self.state().approvals.remove(&id);
                match waiter {
                    Some(tx) => {
                        // The answer to warden's own prompt: its result is read only now.
                        let answer = match jsonrpc::parse(&line) {
                            Ok(Message::Response {
                                result: Some(r), ..
                            }) => serde_json::from_str(r.get()).unwrap_or(Value::Null),
                            _ => Value::Null,
                        };
                        let _ = tx.send(answer);
                        Actions::new()
                    }
                    None => smallvec![Action::ToServer(line)],
                }
            }
            ClientMessage::Batch(items) => {
                // Batches exist in MCP 2024-11-05 and 2025-03-26 only. There, each element is
                // decided and relayed on its own (answers come back one by one, matched by id);
                // later revisions removed batching, so a batch is an invalid request.
                let batching = matches!(
                    self.state().protocol_version.as_deref(),
                    Some("2024-11-05" | "2025-03-26")
                );
                if !batching {
                    return smallvec![Action::ToClient(jsonrpc::error_response(
                        None,
                        jsonrpc::INVALID_REQUEST,
                        "Invalid Request: JSON-RPC batches are not supported by this protocol version (removed in 2025-06-18)",
                    ))];
                }
                items
                    .into_iter()
                    .flat_map(|item| {
                        if item.trim_ascii_start().starts_with(b"[") {
                            smallvec![Action::ToClient(jsonrpc::error_response(
                                None,
                                jsonrpc::INVALID_REQUEST,
                                "Invalid Request: nested batch",
                            ))]
                        } else {
                            self.from_client(item)
                        }
                    })
                    .collect()
            }
        }
    }

    /// A request from the client; `params` is what warden read of its `params` (or why they
    /// cannot be read, which matters to a `tools/call` only).
    fn client_request(
        &self,
        line: Vec<u8>,
        id: Id,
        method: Request,
        params: Result<Params, String>,
    ) -> Actions {
        let (mut routing, unreadable) = match params {
            Ok(p) => (p, None),
            Err(e) => (Params::default(), Some(e)),
        };
        let mut s = self.state();
        if s.pending.contains_key(&id) {
            return smallvec![Action::ToClient(jsonrpc::error_response(
                Some(&id),
                jsonrpc::INVALID_REQUEST,
                "Invalid Request: this id is already in use by a pending request",
            ))];
        }
        let envelope = (routing.meta.as_ref())
            .and_then(|m| serde_json::from_str::<Envelope>(m.get()).ok())
            .filter(|e| e.version.is_some());
        if let Some(envelope) = envelope {
            s.era = Era::Stateless;
            s.protocol_version =
                (envelope.version).and_then(|v| serde_json::from_str::<String>(v.get()).ok());
            let name = (envelope.client)
                .and_then(|c| serde_json::from_str::<Named>(c.get()).ok())
                .and_then(|c| match c.name {
                    Some(Value::String(name)) => Some(name),
                    _ => None,
                });
            if let Some(name) = name
                && s.identity.agent.as_deref() != Some(name.as_str())
            {
                Arc::make_mut(&mut s.identity).agent = Some(name.into());
            }
            if let Some(caps) = envelope.capabilities {
                let keys = jsonrpc::keys_of(caps.get()).unwrap_or_default();
                s.elicitation = keys.iter().any(|k| k == "elicitation");
            }
        }
        let pending = match method {
            Request::Initialize => {
                // A client in auto mode opens with an envelope `server/discover` and falls back
                // to `initialize` when the server refuses it: from here on the connection
                // speaks the handshake era, whatever the discover said.
                s.era = Era::Handshake;
                if let Some(name) = routing
                    .client_info
                    .as_ref()
                    .and_then(|c| c.get("name"))
                    .and_then(Value::as_str)
                {
                    Arc::make_mut(&mut s.identity).agent = Some(name.into());
                }
                s.elicitation = routing
                    .capabilities
                    .as_ref()
                    .and_then(|c| c.get("elicitation"))
                    .is_some();
                Pending::Initialize
            }
            Request::Discover => Pending::Discover,
            Request::ToolsList => Pending::ToolsList,
            Request::ToolsCall => {
                let era = s.era;
                let learned = self.learned();
                let known = |tool: &str| learned.tools.get(tool).copied().unwrap_or_default();
                let members = CallParams {
                    name: routing.name.take(),
                    arguments: routing.arguments.take(),
                };
                let parsed = match unreadable {
                    Some(e) => Err(e),
                    None => CallRequest::from_params(id.clone(), members, known, era),
                };
                let pinned = parsed
                    .as_ref()
                    .ok()
                    .map(|c| self.engine.pins.verdict(&learned.pins, &c.tool));
                drop(learned);
                let call = match parsed {
                    Ok(c) => c,
                    Err(e) => {
                        return smallvec![Action::ToClient(jsonrpc::error_response(
                            Some(&id),
                            jsonrpc::INVALID_PARAMS,
                            &e,
                        ))];
                    }
                };
                let who = s.identity.clone();
                let elicitation = s.elicitation;
                let pinned = pinned.unwrap_or(pins::Verdict::Pass);
                drop(s);
                if let Some(answer) = self.engine.pinned(&call, &who, pinned) {
                    return smallvec![Action::ToClient(answer)];
                }
                let state = routing.request_state.as_ref().and_then(Value::as_str);
                if call.era == Era::Stateless && state.is_some_and(Signer::is_ours) {
                    let answer = routing
                        .input_responses
                        .as_ref()
                        .and_then(|r| r.get(INPUT_KEY));
                    return self.redeem(line, call, &who, state.unwrap_or_default(), answer);
                }
                return self.ruling(line, call, &who, elicitation);
            }
            Request::Other => Pending::Other,
        };
        s.pending.insert(id, pending);
        smallvec![Action::ToServer(line)]
    }

    /// A line from the server.
    pub fn from_server(&self, line: Vec<u8>) -> Actions {
        smallvec![Action::ToClient(self.to_client(&line).unwrap_or(line))]
    }

    /// Reads a message from the server (settling the request it answers); what the client
    /// gets instead of it, if warden changes it (a filtered `tools/list`).
    pub fn to_client(&self, line: &[u8]) -> Option<Vec<u8>> {
        let Ok(Message::Response { id, result, error }) = jsonrpc::parse(line) else {
            // Requests and notifications from the server, and anything warden cannot read,
            // pass through untouched.
            return None;
        };
        let pending = {
            let mut s = self.state();
            match s.pending.remove(&id) {
                Some(Pending::ToolsList) => {
                    if s.listed.len() == LISTED {
                        s.listed.pop_front();
                    }
                    s.listed.push_back(id.clone());
                    Some(Pending::ToolsList)
                }
                None if s.listed.contains(&id) => Some(Pending::ToolsList),
                other => other,
            }
        };
        match pending {
            Some(Pending::ToolsCall(r)) => {
                if error.is_some() {
                    self.engine.counters.release(r);
                } else {
                    self.engine.counters.commit(r);
                }
                None
            }
            Some(Pending::ToolsList) => {
                let policy = self.engine.policy();
                let who = self.identity();
                let pins = &self.engine.pins;
                let reviewed = pins.review(&self.engine, &who, &mut self.learned().pins, line);
                let current = reviewed.as_deref().unwrap_or(line);
                let filtered =
                    tools_list::filter(current, &policy.table, &who, !self.engine.dry_run);
                self.learned().tools.extend(filtered.tools);
                filtered.replacement.or(reviewed)
            }
            Some(Pending::Initialize) => {
                if let Some(r) = result
                    .as_ref()
                    .and_then(|r| serde_json::from_str::<Value>(r.get()).ok())
                {
                    let mut s = self.state();
                    s.protocol_version = r
                        .get("protocolVersion")
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    if !s.server_fixed {
                        Arc::make_mut(&mut s.identity).server = r
                            .pointer("/serverInfo/name")
                            .and_then(Value::as_str)
                            .map(str::to_string);
                    }
                }
                None
            }
            Some(Pending::Discover) => {
                if let Some(r) = result
                    .as_ref()
                    .and_then(|r| serde_json::from_str::<Value>(r.get()).ok())
                {
                    let mut s = self.state();
                    s.era = Era::Stateless;
                    if !s.server_fixed {
                        let name = r
                            .get("_meta")
                            .and_then(|m| m.get(ENVELOPE_SERVER))
                            .and_then(|i| i.get("name"));
                        Arc::make_mut(&mut s.identity).server =
                            name.and_then(Value::as_str).map(str::to_string);
                    }
                }
                None
            }
            Some(Pending::Other) | None => None,
        }
    }

    /// A client line over the size limit: answer with an error (its id is unknown).
    pub fn client_too_long(&self, len: usize, max: usize) -> Actions {
        smallvec![Action::ToClient(jsonrpc::error_response(
            None,
            jsonrpc::INVALID_REQUEST,
            &format!("Invalid Request: message of {len} bytes exceeds the limit of {max} bytes"),
        ))]
    }

    /// The server is gone: release every reservation and answer every pending request.
    pub fn server_gone(&self) -> Actions {
        let mut s = self.state();
        let pending: Vec<(Id, Pending)> = s.pending.drain().collect();
        drop(s);
        pending
            .into_iter()
            .map(|(id, p)| {
                if let Pending::ToolsCall(r) = p {
                    self.engine.counters.release(r);
                }
                Action::ToClient(jsonrpc::error_response(
                    Some(&id),
                    jsonrpc::INTERNAL_ERROR,
                    "the MCP server exited before answering",
                ))
            })
            .collect()
    }
}
