//! The stdio proxy's cost: `tools/call`s to server-everything's `echo`, directly over the
//! server's pipes and through `warden proxy` (release build, benches/proxy.warden, audit log
//! on), in the same run, alternating rounds. Two loads: one call at a time, and 16 in flight.
//! Prints the median and p99 round trip of each, the added latency (proxied − direct) at p50
//! and p99, the throughput ratio proxied/direct, and warden's decision time (the audit log's
//! `latency_ns`) as a fraction of the proxied round trip.
//!
//! Run: `cargo bench --bench proxy` (peers from scripts/install-deps.sh; `BENCH_CALLS=N`
//! sets the calls per round, default 2000; `BENCH_ROUNDS=N` the rounds, default 3: many short
//! rounds spread a busy machine's load changes evenly over both paths; `WARDEN_BIN=path`
//! measures another build of warden, e.g. a copy of the previous one).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark fails loudly on a bad fixture"
)]

use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const IN_FLIGHT: usize = 16;

/// An MCP server (or warden in front of one) spoken to over its pipes.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl Peer {
    fn start(command: &[String]) -> Peer {
        let mut child = Command::new(&command[0])
            .args(&command[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut peer = Peer {
            child,
            stdin,
            stdout,
            next_id: 0,
        };
        peer.send(r#"{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#);
        peer.answer();
        peer.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        peer
    }

    fn send(&mut self, line: &str) {
        self.stdin.write_all(line.as_bytes()).unwrap();
        self.stdin.write_all(b"\n").unwrap();
        self.stdin.flush().unwrap();
    }

    fn call(&mut self) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"message":"benchmark message {id}"}}}}}}"#
        ));
        id
    }

    /// The next response's id (notifications are skipped); fails on an error or a denial.
    fn answer(&mut self) -> Value {
        loop {
            let mut line = String::new();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "the peer closed its stdout"
            );
            let v: Value = serde_json::from_str(&line).unwrap();
            if v.get("method").is_some() {
                continue;
            }
            assert!(
                v.get("error").is_none() && v["result"]["isError"] != true,
                "{line}"
            );
            return v["id"].clone();
        }
    }

    /// `n` calls with up to `depth` in flight: each call's round trip, and the total time.
    fn run(&mut self, n: usize, depth: usize) -> (Vec<Duration>, Duration) {
        let started = Instant::now();
        let mut sent: HashMap<u64, Instant> = HashMap::new();
        let mut times = Vec::with_capacity(n);
        let mut issued = 0;
        while times.len() < n {
            while issued < n && sent.len() < depth {
                let t = Instant::now();
                sent.insert(self.call(), t);
                issued += 1;
            }
            let id = self.answer().as_u64().unwrap();
            times.push(sent.remove(&id).unwrap().elapsed());
        }
        (times, started.elapsed())
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn peers() -> PathBuf {
    let dir = std::env::var_os("WARDEN_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(&std::env::var_os("HOME").unwrap()).join(".cache/warden-peers")
        });
    let server = dir.join("npm/node_modules/.bin/mcp-server-everything");
    assert!(
        server.exists(),
        "{} is missing: run scripts/install-deps.sh",
        server.display()
    );
    dir
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[derive(Default)]
struct Load {
    times: Vec<Duration>,
    total: Duration,
    calls: usize,
}

impl Load {
    fn add(&mut self, (times, total): (Vec<Duration>, Duration)) {
        self.calls += times.len();
        self.times.extend(times);
        self.total += total;
    }

    fn sorted(&self) -> Vec<Duration> {
        let mut t = self.times.clone();
        t.sort_unstable();
        t
    }

    fn per_second(&self) -> f64 {
        self.calls as f64 / self.total.as_secs_f64()
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let n: usize = std::env::var("BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let server = vec![
        peers()
            .join("npm/node_modules/.bin/mcp-server-everything")
            .display()
            .to_string(),
        "stdio".to_string(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let warden =
        std::env::var("WARDEN_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_warden").into());
    let mut proxied_command: Vec<String> = [
        warden.as_str(),
        "proxy",
        "--policy",
        concat!(env!("CARGO_MANIFEST_DIR"), "/benches/proxy.warden"),
        "--audit",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    proxied_command.push(audit.display().to_string());
    proxied_command.push("--".to_string());
    proxied_command.extend(server.iter().cloned());

    let mut direct = Peer::start(&server);
    let mut proxied = Peer::start(&proxied_command);
    // Warm up both (JIT, allocator, page cache) before measuring.
    direct.run(200, 1);
    proxied.run(200, 1);
    let mut loads: [[Load; 2]; 2] = Default::default(); // [sequential, in flight][direct, proxied]
    for _ in 0..rounds {
        for (l, depth) in [(0, 1), (1, IN_FLIGHT)] {
            loads[l][0].add(direct.run(n, depth));
            loads[l][1].add(proxied.run(n, depth));
        }
    }
    drop(proxied);

    println!("stdio proxy: {rounds} rounds x {n} tools/call echo, direct vs through warden");
    for (l, name) in [(0, "1 in flight"), (1, "16 in flight")] {
        let (d, p) = (loads[l][0].sorted(), loads[l][1].sorted());
        println!("  {name}:");
        for (label, s, load) in [("direct ", &d, &loads[l][0]), ("proxied", &p, &loads[l][1])] {
            println!(
                "    {label}  p50 {:8.1} µs  p99 {:8.1} µs  {:8.0} calls/s",
                us(percentile(s, 0.5)),
                us(percentile(s, 0.99)),
                load.per_second()
            );
        }
        println!(
            "    added    p50 {:8.1} µs  p99 {:8.1} µs  throughput proxied/direct {:.3}",
            us(percentile(&p, 0.5)) - us(percentile(&d, 0.5)),
            us(percentile(&p, 0.99)) - us(percentile(&d, 0.99)),
            loads[l][1].per_second() / loads[l][0].per_second()
        );
    }
    let mut decisions: Vec<u64> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok()?["latency_ns"].as_u64())
        .collect();
    decisions.sort_unstable();
    let decision = Duration::from_nanos(decisions[decisions.len() / 2]);
    let round_trip = percentile(&loads[0][1].sorted(), 0.5);
    println!(
        "  decision (audit latency_ns, {} calls): p50 {:.1} µs = {:.2}% of the proxied round trip (p50 {:.1} µs)",
        decisions.len(),
        us(decision),
        100.0 * decision.as_secs_f64() / round_trip.as_secs_f64(),
        us(round_trip)
    );
}
