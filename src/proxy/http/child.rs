//! Stdio MCP servers behind the HTTP endpoint (`--listen ADDR -- COMMAND`): one child process
//! per MCP session, so any stdio server can be shared over HTTP.
//!
//! An `initialize` without a session id starts a child and a session (warden makes up the
//! `Mcp-Session-Id`); later requests of the session go to its child; DELETE stops it. A request
//! without a session that is not `initialize` (2026-07-28 is stateless) gets a child of its own,
//! stopped when its answer is relayed. A request's answer comes back as an SSE stream of the
//! child's lines: the server's own requests and notifications while the request is pending
//! (progress, elicitation), then the response with the request's id, which ends the stream.
//! Server messages go to the session's GET stream instead when one is open. Children get
//! warden's environment and stderr; they are killed when their session ends or warden exits.

use super::exchange::SIZE_FACTOR;
use crate::proxy::framing::{Frame, LineReader};
use crate::proxy::jsonrpc::{self, Id, Message};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;

type Lines = mpsc::Sender<Vec<u8>>;

/// Where one child's lines go.
#[derive(Default)]
struct Routes {
    /// Streams waiting for the answer to a request, by id.
    waiters: HashMap<Id, Lines>,
    /// The session's GET stream.
    stream: Option<Lines>,
}

/// One running server.
pub struct Proc {
    stdin: tokio::sync::Mutex<ChildStdin>,
    routes: Arc<Mutex<Routes>>,
    _child: Child,
}

/// An answer from a child.
pub struct Reply {
    /// The id of the session this request started.
    pub session_id: Option<String>,
    /// The lines for the client (`None`: a notification or response, answered 202).
    pub lines: Option<mpsc::Receiver<Vec<u8>>>,
    /// The child of a one-request session, stopped when the reply is dropped.
    pub keep: Option<Arc<Proc>>,
}

pub struct Children {
    command: Vec<String>,
    max_line: usize,
    sessions: Mutex<HashMap<String, Arc<Proc>>>,
}

fn routes(r: &Mutex<Routes>) -> std::sync::MutexGuard<'_, Routes> {
    r.lock().unwrap_or_else(|p| p.into_inner())
}

impl Children {
    pub fn new(command: Vec<String>, max_message_bytes: usize) -> Result<Children, String> {
        if command.is_empty() {
            return Err("no server command given (put it after `--`)".into());
        }
        Ok(Children {
            command,
            max_line: max_message_bytes.saturating_mul(SIZE_FACTOR),
            sessions: Mutex::new(HashMap::new()),
        })
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Proc>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn count(&self) -> usize {
        self.sessions().len()
    }

    fn spawn(&self) -> Result<Arc<Proc>, String> {
        let (child, stdin, stdout) = crate::proxy::spawn::piped(&self.command)?;
        let routes = Arc::new(Mutex::new(Routes::default()));
        tokio::spawn(read(stdout, routes.clone(), self.max_line));
        Ok(Arc::new(Proc {
            stdin: tokio::sync::Mutex::new(stdin),
            routes,
            _child: child,
        }))
    }

    /// Sends a client message to its session's child (starting one when the request has no
    /// session). `initialize` starts a session; `id` is the request's, if it is one.
    pub async fn post(
        &self,
        session: Option<&str>,
        line: &[u8],
        id: Option<Id>,
        initialize: bool,
    ) -> Result<Reply, String> {
        let (proc, session_id, keep) = match session {
            Some(sid) => {
                let proc = self.sessions().get(sid).cloned();
                (proc.ok_or("the session's server has exited")?, None, None)
            }
            None if initialize => {
                let proc = self.spawn()?;
                let sid = new_session_id();
                self.sessions().insert(sid.clone(), proc.clone());
                (proc, Some(sid), None)
            }
            None => {
                let proc = self.spawn()?;
                (proc.clone(), None, Some(proc))
            }
        };
        let lines = id.map(|id| {
            let (tx, rx) = mpsc::channel(16);
            routes(&proc.routes).waiters.insert(id, tx);
            rx
        });
        let mut stdin = proc.stdin.lock().await;
        let written = async {
            stdin.write_all(line).await?;
            stdin.write_all(b"\n").await?;
            stdin.flush().await
        }
        .await;
        written.map_err(|e| format!("cannot write to the server: {e}"))?;
        Ok(Reply {
            session_id,
            lines,
            keep,
        })
    }

    /// The session's GET stream: the server's own messages from now on.
    pub fn stream(&self, session: &str) -> Option<mpsc::Receiver<Vec<u8>>> {
        let proc = self.sessions().get(session).cloned()?;
        let (tx, rx) = mpsc::channel(16);
        routes(&proc.routes).stream = Some(tx);
        Some(rx)
    }

    /// Ends a session: its child is stopped. Returns whether it existed.
    pub fn end(&self, session: &str) -> bool {
        self.sessions().remove(session).is_some()
    }
}

/// Reads a child's lines and routes each: a response to the stream waiting for it (which it
/// ends), anything else to the GET stream, or else to every waiting stream.
async fn read(stdout: tokio::process::ChildStdout, shared: Arc<Mutex<Routes>>, max: usize) {
    let mut reader = LineReader::new(BufReader::new(stdout), max);
    loop {
        let line = match reader.next().await {
            Ok(Frame::Line(l)) if l.iter().all(u8::is_ascii_whitespace) => continue,
            Ok(Frame::Line(l)) => l,
            Ok(Frame::TooLong(n)) => {
                tracing::warn!(bytes = n, "dropped a server message over the limit");
                continue;
            }
            Ok(Frame::Eof) | Err(_) => break,
        };
        let targets: Vec<Lines> = {
            let mut r = routes(&shared);
            match jsonrpc::parse(&line) {
                Ok(Message::Response { id, .. }) => r.waiters.remove(&id).into_iter().collect(),
                _ => match &r.stream {
                    Some(s) if !s.is_closed() => vec![s.clone()],
                    _ => r.waiters.values().cloned().collect(),
                },
            }
        };
        for target in targets {
            let _ = target.send(line.clone()).await;
        }
    }
    // The child is gone: every waiting stream ends (its request is abandoned).
    let mut r = routes(&shared);
    r.waiters.clear();
    r.stream = None;
}

fn new_session_id() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if random.is_err() {
        // Unique all the same: time and a counter.
        use sha2::Digest;
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let seed = format!("{:?}{n}", std::time::SystemTime::now());
        bytes.copy_from_slice(&sha2::Sha256::digest(seed.as_bytes())[..16]);
    }
    crate::proxy::engine::hex(&bytes)
}
