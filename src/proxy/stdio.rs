//! The stdio transport: warden is started by the MCP client in place of the server, starts the
//! server as its child, and relays newline-delimited JSON-RPC between the two.
//!
//! Two reader tasks (client, server) that write what they relay themselves, through the
//! shared [`Outlet`]s of the two sides: no writer task and no queue in between, so a message
//! costs no task switch, and a side that does not read makes the other side wait (nothing is
//! buffered without bound). The child's stderr is inherited; it gets warden's environment.
//! Shutdown: on client EOF warden keeps the child's stdin open until every pending request is
//! answered (Python servers drop an in-flight answer at EOF), then closes it and waits; on
//! the child's exit every pending request is answered with an error and its counter slots
//! released; on SIGTERM/SIGINT the child gets SIGTERM. warden exits with the child's status.

use super::engine::{Engine, Identity};
use super::framing::{Frame, LineReader};
use super::outlet::{Batch, Outlet};
use super::session::{Action, ApprovalJob, Session};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWrite, BufReader};
use tokio::process::Child;

/// Server messages may be larger than client ones (tool results, long lists).
const SERVER_SIZE_FACTOR: usize = 16;

pub struct Options {
    pub command: Vec<String>,
    pub identity: Identity,
    pub max_message_bytes: usize,
    pub approval_timeout: Duration,
    /// How long to wait for pending answers after the client closed its side.
    pub drain_timeout: Duration,
}

/// The two sides a reader writes to.
#[derive(Clone)]
struct Sides {
    server: Arc<Outlet>,
    client: Arc<Outlet>,
}

/// Runs the proxy until the client and the server are done; returns the exit code.
pub async fn run(engine: Arc<Engine>, options: Options) -> i32 {
    let (mut child, child_in, child_out) = match super::spawn::piped(&options.command) {
        Ok(started) => started,
        Err(e) => {
            eprintln!("warden: {e}");
            return e.exit_code();
        }
    };
    let session = Arc::new(Session::new(engine.clone(), options.identity.clone()));
    let sides = Sides {
        server: Arc::new(Outlet::new(Box::new(child_in))),
        client: Arc::new(Outlet::new(client_output())),
    };

    let max = options.max_message_bytes;
    let client_reader = {
        let (session, sides) = (session.clone(), sides.clone());
        let timeout = options.approval_timeout;
        tokio::spawn(async move {
            let mut reader = LineReader::new(BufReader::new(client_input()), max);
            let mut batch = Batch::default();
            pump(
                &mut reader,
                &sides,
                &mut batch,
                |line| session.from_client(line),
                |n| session.client_too_long(n, max),
                |job| approve(&session, *job, &sides, timeout),
            )
            .await;
            batch.flush(&sides.server, &sides.client).await;
        })
    };
    let server_reader = {
        let (session, sides) = (session.clone(), sides.clone());
        tokio::spawn(async move {
            let limit = max.saturating_mul(SERVER_SIZE_FACTOR);
            let mut reader = LineReader::new(BufReader::new(child_out), limit);
            let mut batch = Batch::default();
            // Server messages only ever produce messages for the client: no approvals.
            pump(
                &mut reader,
                &sides,
                &mut batch,
                |line| session.from_server(line),
                |n| {
                    eprintln!("warden: dropped a server message of {n} bytes (over the limit)");
                    Vec::new()
                },
                |_| {},
            )
            .await;
            for action in session.server_gone() {
                let _ = batch.add(action);
            }
            batch.flush(&sides.server, &sides.client).await;
        })
    };

    let ends = Ends {
        client_reader,
        server_reader,
        server: sides.server,
    };
    let status = supervise(&mut child, ends, &session, options.drain_timeout, &engine).await;
    // The readers wrote everything they relayed before ending: the client has every answer.
    sides.client.close().await;
    status
}

/// What `supervise` ends: the two readers, and the server's side (closing it closes the
/// child's stdin).
struct Ends {
    client_reader: tokio::task::JoinHandle<()>,
    server_reader: tokio::task::JoinHandle<()>,
    server: Arc<Outlet>,
}

/// Waits for the end: client EOF (then drain and close the child's stdin), child exit, or a
/// signal. Returns the exit code.
async fn supervise(
    child: &mut Child,
    ends: Ends,
    session: &Session,
    drain: Duration,
    engine: &Engine,
) -> i32 {
    let Ends {
        mut client_reader,
        server_reader,
        server,
    } = ends;
    let mut signals = Signals::new();
    loop {
        tokio::select! {
            status = child.wait() => {
                let _ = server_reader.await;
                client_reader.abort();
                return exit_code(status.ok());
            }
            _ = &mut client_reader => {
                // Keep the child's stdin open until its pending answers are relayed, then
                // close it: most servers exit on EOF.
                let deadline = tokio::time::Instant::now() + drain;
                while session.pending() > 0 && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                server.close().await;
                let status = match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
                    Ok(s) => s.ok(),
                    // server-everything keeps running with a live timer: terminate it.
                    Err(_) => stop(child).await,
                };
                let _ = server_reader.await;
                return exit_code(status);
            }
            signal = signals.next() => match signal {
                Some(Signal::Terminate) => {
                    client_reader.abort();
                    // A write blocked on a server that does not read must not hold up the end.
                    let _ = tokio::time::timeout(Duration::from_millis(100), server.close()).await;
                    let status = stop(child).await;
                    server_reader.abort();
                    return exit_code(status);
                }
                Some(Signal::Hangup) => engine.audit.reopen(),
                None => {}
            }
        }
    }
}

/// SIGTERM, a grace period, then SIGKILL.
async fn stop(child: &mut Child) -> Option<std::process::ExitStatus> {
    terminate(child);
    match tokio::time::timeout(Duration::from_secs(3), child.wait()).await {
        Ok(s) => s.ok(),
        Err(_) => {
            let _ = child.start_kill();
            child.wait().await.ok()
        }
    }
}

/// Runs an approval in its own task (its prompt to the client is already in the reader's
/// batch): waits for the client's answer or the timeout, then relays what the session says.
/// Reads lines from one side until it ends and relays what the session makes of each. The
/// batch is written out whenever no complete line is buffered: one write per burst, and a lone
/// message goes out at once.
async fn pump<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut LineReader<BufReader<R>>,
    sides: &Sides,
    batch: &mut Batch,
    mut line: impl FnMut(Vec<u8>) -> Vec<Action>,
    mut too_long: impl FnMut(usize) -> Vec<Action>,
    mut approval: impl FnMut(Box<ApprovalJob>),
) {
    loop {
        if !reader.holds_line() || batch.full() {
            batch.flush(&sides.server, &sides.client).await;
        }
        let actions = match reader.next().await {
            Ok(Frame::Line(l)) if l.iter().all(u8::is_ascii_whitespace) => continue,
            Ok(Frame::Line(l)) => line(l),
            Ok(Frame::TooLong(n)) => too_long(n),
            Ok(Frame::Eof) | Err(_) => return,
        };
        for action in actions {
            if let Some(job) = batch.add(action) {
                approval(job);
            }
        }
    }
}

fn approve(session: &Arc<Session>, job: ApprovalJob, sides: &Sides, approval_timeout: Duration) {
    let (session, sides) = (session.clone(), sides.clone());
    tokio::spawn(async move {
        let answer = tokio::time::timeout(approval_timeout, job.answer)
            .await
            .ok()
            .and_then(Result::ok);
        let mut batch = Batch::default();
        for action in session.finish_approval(job.held, answer) {
            // `finish_approval` never asks for another approval.
            let _ = batch.add(action);
        }
        batch.flush(&sides.server, &sides.client).await;
    });
}

/// The client's side of stdio. When stdin and stdout are pipes (as when an MCP client starts
/// warden) they are driven as non-blocking pipes on the event loop; tokio's `stdin()` and
/// `stdout()` instead hand every read and write to a blocking thread, which costs two context
/// switches per message. Terminals and files keep the portable path.
fn client_input() -> Box<dyn tokio::io::AsyncRead + Unpin + Send> {
    use std::os::fd::AsFd;
    let pipe = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .ok()
        .and_then(|fd| tokio::net::unix::pipe::Receiver::from_owned_fd(fd).ok());
    match pipe {
        Some(p) => Box::new(p),
        None => Box::new(tokio::io::stdin()),
    }
}

fn client_output() -> Box<dyn AsyncWrite + Unpin + Send> {
    use std::os::fd::AsFd;
    let pipe = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .ok()
        .and_then(|fd| tokio::net::unix::pipe::Sender::from_owned_fd(fd).ok());
    match pipe {
        Some(p) => Box::new(p),
        None => Box::new(tokio::io::stdout()),
    }
}

fn terminate(child: &Child) {
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
}

fn exit_code(status: Option<std::process::ExitStatus>) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Some(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)),
        None => 1,
    }
}

enum Signal {
    Terminate,
    Hangup,
}

/// SIGTERM, SIGINT and SIGHUP as a stream (nothing, if they cannot be installed).
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        Signals {
            term: signal(SignalKind::terminate()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
            hup: signal(SignalKind::hangup()).ok(),
        }
    }

    async fn next(&mut self) -> Option<Signal> {
        async fn recv(s: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
            match s {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            r = recv(&mut self.term) => r.map(|_| Signal::Terminate),
            r = recv(&mut self.int) => r.map(|_| Signal::Terminate),
            r = recv(&mut self.hup) => r.map(|_| Signal::Hangup),
        }
    }
}
