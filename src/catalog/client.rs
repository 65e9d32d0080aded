//! An MCP client that takes a live server's catalog, in either protocol era: `server/discover`
//! (2026-07-28, every later request carrying the envelope `_meta`), and when the server does not
//! speak it, `initialize` (offering [`PROTOCOL_VERSION`]) and `notifications/initialized`; then
//! `tools/list` following `nextCursor` until the last page.
//!
//! The protocol steps are written once over [`Transport`]; [`Stdio`] (a child process speaking
//! newline-delimited JSON-RPC, read through the proxy's size-limited framing) and
//! [`super::http::Http`] (Streamable HTTP) carry them. Server-to-client requests met on the way
//! are answered (`ping` with `{}`, anything else with "method not found"); notifications and
//! lines that are not JSON-RPC are skipped. The whole exchange runs under one deadline.

use super::{Catalog, ServerInfo};
use crate::proxy::framing::{Frame, LineReader};
use crate::proxy::jsonrpc::{self, Id, Message};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// The revision offered in `initialize`.
pub const PROTOCOL_VERSION: &str = "2025-11-25";
/// The revision of `server/discover` and the per-request envelope.
pub const MODERN_VERSION: &str = "2026-07-28";
const ENVELOPE_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const ENVELOPE_CLIENT: &str = "io.modelcontextprotocol/clientInfo";
const ENVELOPE_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// How long a server may take to answer `server/discover` before warden falls back to the
/// handshake (a server that drops unknown methods). Longer than the SDKs' 10 s: a stdio server
/// answers nothing while it starts, and one that starts slowly (a loaded machine, a first
/// `npx` run) would otherwise get a handshake after it already took up the 2026-07-28 era.
const DISCOVER_WAIT: Duration = Duration::from_secs(30);
/// The largest message read from a server.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
const MAX_PAGES: usize = 10_000;

/// Where the server is.
#[derive(Clone, Debug)]
pub enum Server {
    /// A command that starts the server on stdio.
    Command(Vec<String>),
    /// A Streamable HTTP endpoint.
    Url(String),
}

/// Connects to the server, lists every tool and disconnects, within `timeout`.
pub fn fetch(server: &Server, timeout: Duration) -> Result<Catalog, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let work = async {
            match server {
                Server::Command(command) => {
                    let mut t = Stdio::start(command)?;
                    let result = take(&mut t).await;
                    t.close().await;
                    result
                }
                Server::Url(url) => {
                    let mut t = super::http::Http::new(url)?;
                    let result = take(&mut t).await;
                    t.close().await;
                    result
                }
            }
        };
        tokio::time::timeout(timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "the server did not answer within {} s",
                    timeout.as_secs_f64()
                ))
            })
    })
}

/// One way of exchanging JSON-RPC messages with a server.
pub(crate) trait Transport {
    /// Sends a request (of `method`) and returns its response message (a `result` or an
    /// `error`).
    async fn call(&mut self, id: &Id, method: &str, request: Vec<u8>) -> Result<Value, String>;
    async fn notify(&mut self, method: &str, notification: Vec<u8>) -> Result<(), String>;
    /// The protocol version in use (`None`: none yet).
    fn negotiated(&mut self, _version: Option<&str>) {}
}

/// Sends request `n` and returns its `result`, or the server's error as text.
async fn request<T: Transport>(
    t: &mut T,
    n: u64,
    method: &str,
    params: &Value,
) -> Result<Value, String> {
    let id = Id(n.to_string());
    let response = t
        .call(&id, method, jsonrpc::request(&id, method, params))
        .await?;
    if let Some(e) = response.get("error") {
        return Err(format!("the server answered `{method}` with an error: {e}"));
    }
    response
        .get("result")
        .cloned()
        .ok_or_else(|| format!("the server's answer to `{method}` has no result"))
}

/// The protocol steps: `server/discover`, else the `initialize` handshake; then every page of
/// `tools/list`.
async fn take<T: Transport>(t: &mut T) -> Result<Catalog, String> {
    let (server, envelope) = match discover(t).await {
        Some(found) => found,
        None => (handshake(t).await?, None),
    };
    let paged = |cursor: Option<&str>| {
        let mut params = json!({});
        if let Some(e) = &envelope {
            params["_meta"] = e.clone();
        }
        if let Some(c) = cursor {
            params["cursor"] = json!(c);
        }
        params
    };
    let mut params = paged(None);
    let mut tools = Vec::new();
    let mut cursors = HashSet::new();
    for n in 3..MAX_PAGES as u64 {
        let result = request(t, n, "tools/list", &params).await?;
        let page = result
            .get("tools")
            .and_then(Value::as_array)
            .ok_or("the server's `tools/list` result has no `tools` array")?;
        tools.extend(page.iter().cloned());
        match result.get("nextCursor") {
            None | Some(Value::Null) => return Catalog::from_tools(&tools, server),
            Some(Value::String(c)) if cursors.insert(c.clone()) => params = paged(Some(c)),
            Some(Value::String(c)) => {
                return Err(format!("the server repeated the `tools/list` cursor {c:?}"));
            }
            Some(other) => return Err(format!("`nextCursor` {other} is not a string")),
        }
    }
    Err(format!("`tools/list` has more than {MAX_PAGES} pages"))
}

/// The 2026-07-28 revision: `server/discover` with the per-request envelope. `None` when the
/// server does not speak it (any error, or no answer within [`DISCOVER_WAIT`]): then the
/// handshake follows on the same connection, as the official SDKs' auto mode does.
async fn discover<T: Transport>(t: &mut T) -> Option<(ServerInfo, Option<Value>)> {
    let envelope = json!({
        ENVELOPE_VERSION: MODERN_VERSION,
        ENVELOPE_CLIENT: {"name": "warden", "version": env!("CARGO_PKG_VERSION")},
        ENVELOPE_CAPABILITIES: {},
    });
    t.negotiated(Some(MODERN_VERSION));
    let params = json!({"_meta": envelope});
    let asked = request(t, 1, "server/discover", &params);
    let found = match tokio::time::timeout(DISCOVER_WAIT, asked).await {
        Ok(Ok(result)) => result
            .get("supportedVersions")
            .and_then(Value::as_array)
            .is_some_and(|v| v.iter().any(|v| v == MODERN_VERSION))
            .then(|| {
                let info = result.pointer("/_meta/io.modelcontextprotocol~1serverInfo");
                server_info(info.unwrap_or(&Value::Null))
            }),
        _ => None,
    };
    if found.is_none() {
        t.negotiated(None);
    }
    found.map(|info| (info, Some(envelope)))
}

/// The handshake: `initialize`, then `notifications/initialized`.
async fn handshake<T: Transport>(t: &mut T) -> Result<ServerInfo, String> {
    let init = request(
        t,
        2,
        "initialize",
        &json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "warden", "version": env!("CARGO_PKG_VERSION")},
        }),
    )
    .await?;
    let version = init.get("protocolVersion").and_then(Value::as_str);
    t.negotiated(Some(version.unwrap_or(PROTOCOL_VERSION)));
    let initialized = "notifications/initialized";
    let note = format!(r#"{{"jsonrpc":"2.0","method":"{initialized}"}}"#);
    t.notify(initialized, note.into_bytes()).await?;
    Ok(server_info(init.get("serverInfo").unwrap_or(&Value::Null)))
}

/// `{name, version}`, empty strings counted as absent.
fn server_info(info: &Value) -> ServerInfo {
    let text = |k: &str| {
        info.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    ServerInfo {
        name: text("name"),
        version: text("version"),
    }
}

/// What to do with one message read from the server while waiting for `id`.
pub(crate) enum Read {
    /// The awaited response.
    Answer(Value),
    /// A server request: send this answer back.
    Reply(Vec<u8>),
    Skip,
}

/// Sorts one message from the server.
pub(crate) fn read(line: &[u8], id: &Id) -> Read {
    match jsonrpc::parse(line) {
        Ok(Message::Response { id: got, .. }) if &got == id => {
            serde_json::from_slice(line).map_or(Read::Skip, Read::Answer)
        }
        Ok(Message::Request { id, method, .. }) if method == "ping" => {
            Read::Reply(jsonrpc::result_response(&id, &json!({})))
        }
        Ok(Message::Request { id, method, .. }) => Read::Reply(jsonrpc::error_response(
            Some(&id),
            jsonrpc::METHOD_NOT_FOUND,
            &format!("Method not found: warden only lists tools ({method})"),
        )),
        _ => Read::Skip,
    }
}

/// A server started as a child process. Its stderr is inherited: the user sees its errors.
pub struct Stdio {
    child: Child,
    input: Option<ChildStdin>,
    output: LineReader<BufReader<ChildStdout>>,
}

impl Stdio {
    pub fn start(command: &[String]) -> Result<Stdio, String> {
        let (child, input, output) = crate::proxy::spawn::piped(command)?;
        Ok(Stdio {
            child,
            input: Some(input),
            output: LineReader::new(BufReader::new(output), MAX_MESSAGE_BYTES),
        })
    }

    async fn send(&mut self, mut line: Vec<u8>) -> Result<(), String> {
        line.push(b'\n');
        let input = self.input.as_mut().ok_or("the server's stdin is closed")?;
        input
            .write_all(&line)
            .await
            .map_err(|e| format!("the server closed its stdin before answering ({e})"))?;
        input
            .flush()
            .await
            .map_err(|e| format!("the server closed its stdin before answering ({e})"))
    }

    /// Closes the server's stdin, gives it a moment to exit, then kills it.
    pub async fn close(&mut self) {
        self.input = None;
        if tokio::time::timeout(Duration::from_secs(2), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

impl Transport for Stdio {
    async fn call(&mut self, id: &Id, _method: &str, request: Vec<u8>) -> Result<Value, String> {
        self.send(request).await?;
        loop {
            match self.output.next().await {
                Ok(Frame::Line(line)) => match read(&line, id) {
                    Read::Answer(v) => return Ok(v),
                    Read::Reply(bytes) => self.send(bytes).await?,
                    Read::Skip => {}
                },
                Ok(Frame::TooLong(n)) => {
                    return Err(format!(
                        "the server sent a message of {n} bytes (over {MAX_MESSAGE_BYTES})"
                    ));
                }
                Ok(Frame::Eof) => {
                    return Err("the server closed its stdout before answering".into());
                }
                Err(e) => return Err(format!("cannot read from the server: {e}")),
            }
        }
    }

    async fn notify(&mut self, _method: &str, notification: Vec<u8>) -> Result<(), String> {
        self.send(notification).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_messages_are_sorted_out() {
        let id = Id("2".into());
        assert!(matches!(
            read(br#"{"jsonrpc":"2.0","id":2,"result":{}}"#, &id),
            Read::Answer(_)
        ));
        assert!(matches!(
            read(br#"{"jsonrpc":"2.0","id":"2","result":{}}"#, &id),
            Read::Skip
        ));
        assert!(matches!(
            read(br#"{"jsonrpc":"2.0","method":"notifications/x"}"#, &id),
            Read::Skip
        ));
        assert!(matches!(read(b"not json", &id), Read::Skip));
        let Read::Reply(r) = read(br#"{"jsonrpc":"2.0","id":0,"method":"roots/list"}"#, &id) else {
            panic!("a server request is answered")
        };
        assert!(String::from_utf8(r).unwrap().contains("-32601"));
        let Read::Reply(r) = read(br#"{"jsonrpc":"2.0","id":0,"method":"ping"}"#, &id) else {
            panic!("a ping is answered")
        };
        assert!(String::from_utf8(r).unwrap().contains(r#""result":{}"#));
    }

    #[test]
    fn a_missing_program_is_an_error() {
        let err = fetch(
            &Server::Command(vec!["/nonexistent/warden-test-server".into()]),
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(err.contains("cannot start"), "{err}");
        let err = fetch(
            &Server::Command(vec!["true".into()]),
            Duration::from_secs(5),
        )
        .unwrap_err();
        // `true` exits at once: warden sees either its stdin or its stdout closed.
        assert!(err.contains("before answering"), "{err}");
    }
}
