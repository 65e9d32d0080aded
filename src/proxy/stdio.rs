//! The stdio transport: warden is started by the MCP client in place of the server, starts the
//! server as its child, and relays newline-delimited JSON-RPC between the two.
//!
//! Four tasks: a client reader, a server reader, and one writer per direction fed by bounded
//! channels (a slow side makes the other side wait; nothing is buffered without bound). The
//! child's stderr is inherited; it gets warden's environment. Shutdown: on client EOF warden
//! keeps the child's stdin open until every pending request is answered (Python servers drop
//! an in-flight answer at EOF), then closes it and waits; on the child's exit every pending
//! request is answered with an error and its counter slots released; on SIGTERM/SIGINT the
//! child gets SIGTERM. warden exits with the child's status.

use super::engine::{Engine, Identity};
use super::framing::{Frame, LineReader};
use super::session::{Action, Session};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// Messages queued per direction before the reader waits.
const QUEUE: usize = 64;
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

/// Runs the proxy until the client and the server are done; returns the exit code.
pub async fn run(engine: Arc<Engine>, options: Options) -> i32 {
    let Some((program, args)) = options.command.split_first() else {
        eprintln!("warden: no server command given (put it after `--`)");
        return 2;
    };
    let mut child = match Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("warden: cannot start `{program}`: {e}");
            return 127;
        }
    };
    let (Some(child_in), Some(child_out)) = (child.stdin.take(), child.stdout.take()) else {
        eprintln!("warden: the server's stdio could not be captured");
        return 1;
    };
    let session = Arc::new(Session::new(engine.clone(), options.identity.clone()));
    let (to_server, server_rx) = mpsc::channel::<Vec<u8>>(QUEUE);
    let (to_client, client_rx) = mpsc::channel::<Vec<u8>>(QUEUE);
    let server_writer = tokio::spawn(write_lines(child_in, server_rx));
    let client_writer = tokio::spawn(write_lines(client_output(), client_rx));

    let max = options.max_message_bytes;
    let client_reader = {
        let (session, to_server, to_client) =
            (session.clone(), to_server.clone(), to_client.clone());
        let timeout = options.approval_timeout;
        tokio::spawn(async move {
            let mut reader = LineReader::new(BufReader::new(client_input()), max);
            loop {
                let actions = match reader.next().await {
                    Ok(Frame::Line(line)) if line.iter().all(u8::is_ascii_whitespace) => continue,
                    Ok(Frame::Line(line)) => session.from_client(line),
                    Ok(Frame::TooLong(n)) => session.client_too_long(n, max),
                    Ok(Frame::Eof) | Err(_) => return,
                };
                perform(&session, actions, &to_server, &to_client, timeout).await;
            }
        })
    };
    let server_reader = {
        let (session, to_client) = (session.clone(), to_client.clone());
        tokio::spawn(async move {
            let mut reader = LineReader::new(
                BufReader::new(child_out),
                max.saturating_mul(SERVER_SIZE_FACTOR),
            );
            loop {
                let actions = match reader.next().await {
                    Ok(Frame::Line(line)) if line.iter().all(u8::is_ascii_whitespace) => continue,
                    Ok(Frame::Line(line)) => session.from_server(line),
                    Ok(Frame::TooLong(n)) => {
                        eprintln!("warden: dropped a server message of {n} bytes (over the limit)");
                        continue;
                    }
                    Ok(Frame::Eof) | Err(_) => break,
                };
                // Server messages only ever produce messages for the client.
                for action in actions {
                    if let Action::ToClient(bytes) = action {
                        let _ = to_client.send(bytes).await;
                    }
                }
            }
            for action in session.server_gone() {
                if let Action::ToClient(bytes) = action {
                    let _ = to_client.send(bytes).await;
                }
            }
        })
    };
    drop(to_client);

    let ends = Ends {
        client_reader,
        server_reader,
        to_server,
    };
    let status = supervise(&mut child, ends, &session, options.drain_timeout, &engine).await;
    // The writers end when their channels close: the client sees every answer before exit.
    let _ = server_writer.await;
    let _ = client_writer.await;
    status
}

/// What `supervise` ends: the two readers, and the last sender to the server (dropping it
/// closes the child's stdin).
struct Ends {
    client_reader: tokio::task::JoinHandle<()>,
    server_reader: tokio::task::JoinHandle<()>,
    to_server: mpsc::Sender<Vec<u8>>,
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
        to_server,
    } = ends;
    let mut signals = Signals::new();
    let mut to_server = Some(to_server);
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
                drop(to_server.take());
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
                    drop(to_server.take());
                    let status = stop(child).await;
                    client_reader.abort();
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

/// Runs a session's actions: sends bytes, and runs approvals in their own tasks.
async fn perform(
    session: &Arc<Session>,
    actions: Vec<Action>,
    to_server: &mpsc::Sender<Vec<u8>>,
    to_client: &mpsc::Sender<Vec<u8>>,
    approval_timeout: Duration,
) {
    for action in actions {
        match action {
            Action::ToServer(bytes) => {
                let _ = to_server.send(bytes).await;
            }
            Action::ToClient(bytes) => {
                let _ = to_client.send(bytes).await;
            }
            Action::Approve(job) => {
                let job = *job;
                let _ = to_client.send(job.request).await;
                let (session, to_server, to_client) =
                    (session.clone(), to_server.clone(), to_client.clone());
                tokio::spawn(async move {
                    let answer = tokio::time::timeout(approval_timeout, job.answer)
                        .await
                        .ok()
                        .and_then(Result::ok);
                    for action in session.finish_approval(job.held, answer) {
                        match action {
                            Action::ToServer(b) => {
                                let _ = to_server.send(b).await;
                            }
                            Action::ToClient(b) => {
                                let _ = to_client.send(b).await;
                            }
                            Action::Approve(_) => {}
                        }
                    }
                });
            }
        }
    }
}

/// Writes queued lines; whatever is queued when the writer wakes goes out in one write.
async fn write_lines<W: AsyncWrite + Unpin>(mut out: W, mut rx: mpsc::Receiver<Vec<u8>>) {
    let mut batch = Vec::new();
    while let Some(line) = rx.recv().await {
        batch.clear();
        batch.extend_from_slice(&line);
        batch.push(b'\n');
        while let Ok(more) = rx.try_recv() {
            batch.extend_from_slice(&more);
            batch.push(b'\n');
        }
        if out.write_all(&batch).await.is_err() || out.flush().await.is_err() {
            break;
        }
    }
    let _ = out.shutdown().await;
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
