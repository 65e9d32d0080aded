//! The stdio transport: warden is started by the MCP client in place of the server, starts the
//! server as its child, and relays newline-delimited JSON-RPC between the two.
//!
//! Each direction is relayed by a thread of its own doing blocking reads (client → server,
//! server → client), which writes what it relays itself through the shared [`Outlet`]s of the
//! two sides: a message wakes exactly one thread, costs no event-loop turn and no queue, and a
//! side that does not read makes the other side wait (nothing is buffered without bound). The
//! event loop keeps what is not per message: the child's exit, signals, approval timeouts,
//! policy reloads. The child's stderr is inherited; it gets warden's environment.
//! Shutdown: on client EOF warden keeps the child's stdin open until every pending request is
//! answered (Python servers drop an in-flight answer at EOF), then closes it and waits; on
//! the child's exit every pending request is answered with an error and its counter slots
//! released; on SIGTERM/SIGINT the child gets SIGTERM. warden exits with the child's status.

use super::engine::{Engine, Identity};
use super::framing::{BlockingLineReader, Frame};
use super::outlet::{Batch, Outlet};
use super::session::{Actions, ApprovalJob, Session};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Child;
use tokio::sync::oneshot;

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
    let pipes = (
        child_in.into_owned_fd(),
        child_out.into_owned_fd(),
        client_fd(std::io::stdin().as_fd()),
        client_fd(std::io::stdout().as_fd()),
    );
    let (Ok(child_in), Ok(child_out), Ok(client_in), Ok(client_out)) = pipes else {
        eprintln!("warden: cannot take over the standard streams");
        let _ = stop(&mut child).await;
        return 1;
    };
    let session = Arc::new(Session::new(engine.clone(), options.identity.clone()));
    let sides = Sides {
        server: Arc::new(Outlet::new(Box::new(std::fs::File::from(child_in)))),
        client: Arc::new(Outlet::new(Box::new(std::fs::File::from(client_out)))),
    };

    let max = options.max_message_bytes;
    let runtime = tokio::runtime::Handle::current();
    let client_reader = {
        let (session, sides) = (session.clone(), sides.clone());
        let timeout = options.approval_timeout;
        relay_thread("warden-client", move || {
            let mut reader = BlockingLineReader::new(std::fs::File::from(client_in), max);
            let mut batch = Batch::default();
            pump(
                &mut reader,
                &sides,
                &mut batch,
                |line| session.from_client(line),
                |n| session.client_too_long(n, max),
                |job| approve(&runtime, &session, *job, &sides, timeout),
            );
            batch.flush(&sides.server, &sides.client);
        })
    };
    let server_reader = {
        let (session, sides) = (session.clone(), sides.clone());
        relay_thread("warden-server", move || {
            let limit = max.saturating_mul(SERVER_SIZE_FACTOR);
            let mut reader = BlockingLineReader::new(std::fs::File::from(child_out), limit);
            let mut batch = Batch::default();
            // Server messages only ever produce messages for the client: no approvals.
            pump(
                &mut reader,
                &sides,
                &mut batch,
                |line| session.from_server(line),
                |n| {
                    eprintln!("warden: dropped a server message of {n} bytes (over the limit)");
                    Actions::new()
                },
                |_| {},
            );
            for action in session.server_gone() {
                let _ = batch.add(action);
            }
            batch.flush(&sides.server, &sides.client);
        })
    };
    let (Ok(client_reader), Ok(server_reader)) = (client_reader, server_reader) else {
        eprintln!("warden: cannot start the relay threads");
        let _ = stop(&mut child).await;
        return 1;
    };

    let ends = Ends {
        client_reader,
        server_reader,
        server: sides.server,
    };
    let status = supervise(&mut child, ends, &session, options.drain_timeout, &engine).await;
    // The readers wrote everything they relayed before ending: the client has every answer.
    sides.client.try_close();
    status
}

/// One side of the client's stdio as a blocking file of warden's own (a duplicate of fd 0 or
/// 1, so that closing it never closes the process's standard stream).
fn client_fd(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<OwnedFd> {
    let owned = fd.try_clone_to_owned()?;
    // A descriptor inherited in non-blocking mode would fail reads with EAGAIN.
    let flags = nix::fcntl::fcntl(&owned, nix::fcntl::FcntlArg::F_GETFL)?;
    let mut flags = nix::fcntl::OFlag::from_bits_truncate(flags);
    if flags.contains(nix::fcntl::OFlag::O_NONBLOCK) {
        flags.remove(nix::fcntl::OFlag::O_NONBLOCK);
        nix::fcntl::fcntl(&owned, nix::fcntl::FcntlArg::F_SETFL(flags))?;
    }
    Ok(owned)
}

/// Runs `relay` on a thread of its own; the receiver learns when it is done.
fn relay_thread(
    name: &str,
    relay: impl FnOnce() + Send + 'static,
) -> std::io::Result<oneshot::Receiver<()>> {
    let (done, ended) = oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            relay();
            let _ = done.send(());
        })?;
    Ok(ended)
}

/// What `supervise` ends: the two readers, and the server's side (closing it closes the
/// child's stdin).
struct Ends {
    client_reader: oneshot::Receiver<()>,
    server_reader: oneshot::Receiver<()>,
    server: Arc<Outlet>,
}

/// Waits for the end: client EOF (then drain and close the child's stdin), child exit, or a
/// signal. Returns the exit code. A reader thread still blocked on its side when warden
/// exits ends with the process.
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
                return exit_code(status.ok());
            }
            _ = &mut client_reader => {
                // Keep the child's stdin open until its pending answers are relayed, then
                // close it: most servers exit on EOF.
                let deadline = tokio::time::Instant::now() + drain;
                while session.pending() > 0 && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                // A write blocked on a server that does not read holds the side: then the
                // server is stopped below instead of seeing EOF.
                let closed = close_soon(&server).await;
                let status = match closed {
                    true => match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
                        Ok(s) => s.ok(),
                        // server-everything keeps running with a live timer: terminate it.
                        Err(_) => stop(child).await,
                    },
                    false => stop(child).await,
                };
                let _ = server_reader.await;
                return exit_code(status);
            }
            signal = signals.next() => match signal {
                Some(Signal::Terminate) => {
                    let _ = close_soon(&server).await;
                    return exit_code(stop(child).await);
                }
                Some(Signal::Hangup) => engine.audit.reopen(),
                None => {}
            }
        }
    }
}

/// Closes `outlet`, waiting up to 100 ms for a write in progress; returns whether it closed.
async fn close_soon(outlet: &Outlet) -> bool {
    for _ in 0..10 {
        if outlet.try_close() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
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

/// Reads lines from one side until it ends and relays what the session makes of each. The
/// batch is written out whenever no complete line is buffered: one write per burst, and a lone
/// message goes out at once.
fn pump<R: std::io::Read>(
    reader: &mut BlockingLineReader<R>,
    sides: &Sides,
    batch: &mut Batch,
    mut line: impl FnMut(Vec<u8>) -> Actions,
    mut too_long: impl FnMut(usize) -> Actions,
    mut approval: impl FnMut(Box<ApprovalJob>),
) {
    loop {
        if !reader.holds_line() || batch.full() {
            batch.flush(&sides.server, &sides.client);
        }
        let actions = match reader.next_frame() {
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

/// Runs an approval on the event loop (its prompt to the client is already in the reader's
/// batch): waits for the client's answer or the timeout, then relays what the session says
/// from a thread of its own, as a write may block.
fn approve(
    runtime: &tokio::runtime::Handle,
    session: &Arc<Session>,
    job: ApprovalJob,
    sides: &Sides,
    approval_timeout: Duration,
) {
    let (session, sides) = (session.clone(), sides.clone());
    runtime.spawn(async move {
        let answer = tokio::time::timeout(approval_timeout, job.answer)
            .await
            .ok()
            .and_then(Result::ok);
        let mut batch = Batch::default();
        for action in session.finish_approval(job.held, answer) {
            // `finish_approval` never asks for another approval.
            let _ = batch.add(action);
        }
        let flushed = std::thread::Builder::new()
            .name("warden-approval".into())
            .spawn(move || batch.flush(&sides.server, &sides.client));
        if let Err(e) = flushed {
            eprintln!("warden: cannot relay an approval's outcome: {e}");
        }
    });
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
