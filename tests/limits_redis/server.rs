//! A real `redis-server` of the test's own: on a free loopback port, no persistence, killed
//! when dropped. Stop, start again on the same port, pause (SIGSTOP) and resume, to show what
//! warden does when its limit state fails. `redis-cli` is the independent oracle for keys.

use crate::ports::{free_port, listens};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    pub port: u16,
    /// More arguments for redis-server (TLS).
    extra: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::start_with(Vec::new())
    }

    /// With more arguments for redis-server (on a free port of its own).
    pub fn start_with(extra: Vec<String>) -> RedisServer {
        let mut server = RedisServer {
            port: free_port(),
            extra,
            child: None,
        };
        // Another process may take the free port before redis-server binds it: then another.
        while !server.try_start() {
            server.port = free_port();
        }
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts the server again on its port and waits until it answers.
    pub fn restart(&mut self) {
        assert!(
            self.try_start(),
            "redis-server could not have port {} again",
            self.port
        );
    }

    /// Starts the server on its port; false when it exited instead of listening (the port
    /// was taken).
    fn try_start(&mut self) -> bool {
        assert!(self.child.is_none(), "the server is running");
        let mut child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}): run scripts/install-deps.sh")
            });
        let start = Instant::now();
        while !listens(child.id(), self.port) {
            if child.try_wait().ok().flatten().is_some() {
                return false;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server did not listen on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
        while self.cli(&["PING"]) != "PONG" {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server did not answer on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Kills the server (its counters are gone: no persistence).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = self.child.as_ref().expect("the server is running").id();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal).unwrap();
    }

    /// Freezes the server: connections stay open, nothing answers.
    pub fn pause(&self) {
        self.signal(nix::sys::signal::Signal::SIGSTOP);
    }

    pub fn resume(&self) {
        self.signal(nix::sys::signal::Signal::SIGCONT);
    }

    /// `redis-cli -p PORT ARGS…`, trimmed (empty when the server does not answer).
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run redis-cli ({e}): run scripts/install-deps.sh"));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The keys under `prefix`, sorted.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .cli(&["--scan", "--pattern", &format!("{prefix}*")])
            .lines()
            .map(str::to_string)
            .collect();
        keys.sort();
        keys
    }

    pub fn get(&self, key: &str) -> Option<u64> {
        self.cli(&["GET", key]).parse().ok()
    }

    pub fn ttl(&self, key: &str) -> i64 {
        self.cli(&["TTL", key]).parse().unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.resume();
        }
        self.stop();
    }
}

/// Polls `f` until it returns `Some`, for at most `limit`.
pub fn eventually<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
