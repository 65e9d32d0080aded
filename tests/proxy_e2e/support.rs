//! Where warden and the peers are, and processes with bounded waits: a Python client script
//! whose last stdout line is its JSON report, and [`Wire`], warden driven over its pipes.
//! Every wait has a deadline; running past it fails the test with what the processes printed.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one answer may take before the test fails (warden hanging is a failure).
pub const ANSWER: Duration = Duration::from_secs(15);
/// How long a whole client script may run.
const SCRIPT: Duration = Duration::from_secs(120);

pub fn warden() -> &'static str {
    env!("CARGO_BIN_EXE_warden")
}

pub fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

/// The peers directory; fails the test when a peer is missing.
pub fn peers() -> PathBuf {
    let dir = std::env::var_os("WARDEN_PEERS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/warden-peers")))
        .unwrap_or_default();
    for needed in [
        "client-venv/bin/python",
        "time-venv/bin/mcp-server-time",
        "kestra-venv/bin/python",
        "npm/node_modules/.bin/mcp-server-everything",
    ] {
        assert!(
            dir.join(needed).exists(),
            "the MCP peer {} is missing: run scripts/install-deps.sh (or set WARDEN_PEERS)",
            dir.join(needed).display()
        );
    }
    dir
}

pub fn python() -> String {
    peers().join("client-venv/bin/python").display().to_string()
}

/// The command that starts a real server (`everything`, `time`, `fixture`), optionally behind
/// tests/e2e/record.py writing to `record`.
pub fn server(name: &str, record: Option<&Path>) -> Vec<String> {
    let peers = peers();
    let mut command = match name {
        "everything" => vec![
            peers
                .join("npm/node_modules/.bin/mcp-server-everything")
                .display()
                .to_string(),
            "stdio".to_string(),
        ],
        "time" => vec![
            peers
                .join("time-venv/bin/mcp-server-time")
                .display()
                .to_string(),
        ],
        "fixture" => vec![python(), repo("tests/e2e/fixture_server.py")],
        other => panic!("no server named {other}"),
    };
    if let Some(log) = record {
        let mut recorded = vec![
            python(),
            repo("tests/e2e/record.py"),
            log.display().to_string(),
            "--".to_string(),
        ];
        recorded.append(&mut command);
        command = recorded;
    }
    command
}

/// Collects a pipe's text in a thread.
fn drain(mut pipe: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    text
}

fn wait_until(child: &mut Child, deadline: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if start.elapsed() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs tests/e2e/NAME.py with the SDK's venv; returns its report (the last stdout line).
pub fn script(name: &str, args: &[&str]) -> Value {
    script_with_env(name, args, &[])
}

/// [`script`] with these environment variables too.
pub fn script_with_env(name: &str, args: &[&str], env: &[(&str, &Path)]) -> Value {
    let mut child = Command::new(python())
        .arg(repo(&format!("tests/e2e/{name}.py")))
        .args(args)
        .envs(env.iter().copied())
        .env("WARDEN_BIN", warden())
        .env("WARDEN_PEERS", peers())
        .current_dir(repo(""))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let status = wait_until(&mut child, SCRIPT);
    if status.is_none() {
        let _ = child.kill();
    }
    std::thread::sleep(Duration::from_millis(50));
    let (out, err) = (out.lock().unwrap().clone(), err.lock().unwrap().clone());
    let context = format!("{name}.py {args:?}\n--- stdout\n{out}\n--- stderr\n{err}");
    match status {
        None => panic!("{name}.py did not finish within {SCRIPT:?}: {context}"),
        Some(s) if !s.success() => panic!("{name}.py failed ({s}): {context}"),
        Some(_) => {}
    }
    let last = out.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("bad report ({e}): {context}"))
}

/// warden driven over its pipes, line by line.
pub struct Wire {
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Wire {
    /// `warden proxy FLAGS -- SERVER`.
    pub fn start(flags: &[&str], server: &[String]) -> Wire {
        let mut child = Command::new(warden())
            .arg("proxy")
            .args(flags)
            .arg("--")
            .args(server)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = drain(child.stderr.take().unwrap());
        Wire {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    pub fn send(&mut self, line: &str) {
        self.send_bytes(format!("{line}\n").as_bytes());
    }

    /// The next line from warden, as text.
    pub fn recv_line(&self) -> String {
        match self.lines.recv_timeout(ANSWER) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!(
                "warden sent nothing within {ANSWER:?} (hang)\n--- stderr\n{}",
                self.stderr()
            ),
            Err(RecvTimeoutError::Disconnected) => panic!(
                "warden closed its stdout while an answer was expected\n--- stderr\n{}",
                self.stderr()
            ),
        }
    }

    pub fn recv(&self) -> Value {
        let line = self.recv_line();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("warden sent non-JSON ({e}): {line}"))
    }

    /// The next response (skipping notifications and server requests); with its raw text.
    pub fn response(&self) -> (String, Value) {
        loop {
            let line = self.recv_line();
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("warden sent non-JSON ({e}): {line}"));
            if v.get("method").is_none() {
                return (line, v);
            }
        }
    }

    /// Sends a request and returns the response to it.
    pub fn request(&mut self, line: &str) -> Value {
        self.send(line);
        self.response().1
    }

    /// The handshake: `initialize` offering VERSION, then `notifications/initialized`.
    pub fn initialize(&mut self, version: &str) -> Value {
        let init = serde_json::json!({
            "jsonrpc": "2.0", "id": "init", "method": "initialize",
            "params": {"protocolVersion": version, "capabilities": {},
                       "clientInfo": {"name": "e2e-wire", "version": "1"}}
        });
        let answer = self.request(&init.to_string());
        assert!(
            answer.get("result").is_some(),
            "initialize failed: {answer}"
        );
        self.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        answer
    }

    /// Closes warden's stdin (the client leaves).
    pub fn close(&mut self) {
        self.stdin = None;
    }

    /// Waits for warden to exit; fails the test if it does not.
    pub fn wait(&mut self) -> ExitStatus {
        match wait_until(&mut self.child, ANSWER) {
            Some(status) => status,
            None => panic!(
                "warden did not exit within {ANSWER:?}\n--- stderr\n{}",
                self.stderr()
            ),
        }
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `{"jsonrpc":"2.0","id":ID,"method":"tools/call","params":{"name":TOOL,"arguments":ARGS}}`.
pub fn tools_call(id: &str, tool: &str, arguments: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{arguments}}}}}"#
    )
}

/// The lines record.py logged in one direction (`>>`: received by the recorded command).
pub fn recorded(log: &Path, direction: &str) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let prefix = format!("{direction} ");
    text.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(str::to_string)
        .collect()
}
