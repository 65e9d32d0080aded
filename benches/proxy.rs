//! The stdio proxy's cost: `tools/call`s to server-everything's `echo`, directly over the
//! server's pipes, through a byte relay and through `warden proxy` (release build,
//! benches/proxy.warden, audit log on), in the same run, alternating rounds. Two loads: one
//! call at a time, and 16 in flight. Prints the median and p99 round trip of each, the added
//! latency (− direct) at p50 and p99, the throughput ratios, the relay's and warden's CPU time
//! per call, and warden's decision time (the audit log's `latency_ns`) as a fraction of the
//! proxied round trip.
//!
//! The byte relay is the floor of any proxy in its own process: two threads of this process
//! copying bytes between two more pipes and the server's, parsing nothing. What it adds to
//! the direct round trip (two more pipe crossings and wake-ups per call) is what the machine
//! charges for relaying at all; warden's figures are to be read against it.
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
#[path = "support/measure.rs"]
mod measure;

use measure::{peers, percentile, process_cpu, thread_cpu};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const IN_FLIGHT: usize = 16;

/// An MCP server (or warden, or the byte relay, in front of one) spoken to over pipes.
struct Peer {
    child: Child,
    stdin: Box<dyn Write + Send>,
    stdout: BufReader<Box<dyn Read + Send>>,
    /// The relay's two threads in this process, whose CPU time is the relay's.
    relay_threads: Vec<i32>,
    next_id: u64,
}

impl Peer {
    /// `command` spoken to over its own pipes.
    fn start(command: &[String]) -> Peer {
        let mut child = spawn(command);
        let stdin = Box::new(child.stdin.take().unwrap());
        let stdout = Box::new(child.stdout.take().unwrap());
        Peer::opened(child, stdin, stdout)
    }

    /// `command` spoken to through the byte relay: two threads copying between two more
    /// pipes and the child's.
    fn relayed(command: &[String]) -> Peer {
        let mut child = spawn(command);
        let pipe = || {
            let (r, w) = nix::unistd::pipe().unwrap();
            (std::fs::File::from(r), std::fs::File::from(w))
        };
        let (from_client, to_relay) = pipe();
        let (from_relay, to_client) = pipe();
        let threads = vec![
            copy_in_thread(from_client, child.stdin.take().unwrap()),
            copy_in_thread(child.stdout.take().unwrap(), to_client),
        ];
        let mut peer = Peer::opened(child, Box::new(to_relay), Box::new(from_relay));
        peer.relay_threads = threads;
        peer
    }

    fn opened(child: Child, stdin: Box<dyn Write + Send>, stdout: Box<dyn Read + Send>) -> Peer {
        let mut peer = Peer {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            relay_threads: Vec::new(),
            next_id: 0,
        };
        peer.send(r#"{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#);
        peer.answer();
        peer.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        // As an MCP client does before calling tools (warden learns their annotations).
        peer.send(r#"{"jsonrpc":"2.0","id":"list","method":"tools/list"}"#);
        peer.answer();
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

impl Peer {
    /// CPU time this path's own threads have run for: the relay's two in this process, else
    /// all of the child's (warden's; the server's, spoken to directly).
    fn own_cpu(&self) -> Duration {
        if self.relay_threads.is_empty() {
            return process_cpu(self.child.id());
        }
        (self.relay_threads.iter())
            .filter_map(|tid| thread_cpu(Path::new(&format!("/proc/self/task/{tid}"))))
            .sum()
    }
}

fn spawn(command: &[String]) -> Child {
    Command::new(&command[0])
        .args(&command[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"))
}

/// Copies `from` to `to` as bytes arrive, until `from` ends; returns the thread's id.
fn copy_in_thread(
    mut from: impl Read + Send + 'static,
    mut to: impl Write + Send + 'static,
) -> i32 {
    let (tid, got) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        tid.send(nix::unistd::gettid().as_raw()).unwrap();
        let mut buf = vec![0; 64 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    got.recv().unwrap()
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

    let paths = ["direct ", "relay  ", "warden "];
    let mut peers = [
        Peer::start(&server),
        Peer::relayed(&server),
        Peer::start(&proxied_command),
    ];
    // Warm up all three (JIT, allocator, page cache) before measuring.
    for peer in &mut peers {
        peer.run(200, 1);
    }
    let mut cpu = [Duration::ZERO; 3]; // per path, its own threads
    let mut loads: [[Load; 3]; 2] = Default::default(); // [sequential, in flight][path]
    for _ in 0..rounds {
        for (l, depth) in [(0, 1), (1, IN_FLIGHT)] {
            for (p, peer) in peers.iter_mut().enumerate() {
                let before = peer.own_cpu();
                loads[l][p].add(peer.run(n, depth));
                cpu[p] += peer.own_cpu().saturating_sub(before);
            }
        }
    }
    drop(peers);

    println!(
        "stdio proxy: {rounds} rounds x {n} tools/call echo, direct, through a byte relay and through warden"
    );
    for (l, name) in [(0, "1 in flight"), (1, "16 in flight")] {
        let sorted: Vec<Vec<Duration>> = loads[l].iter().map(Load::sorted).collect();
        println!("  {name}:");
        for p in 0..3 {
            println!(
                "    {}  p50 {:8.1} µs  p99 {:8.1} µs  {:8.0} calls/s",
                paths[p],
                us(percentile(&sorted[p], 0.5)),
                us(percentile(&sorted[p], 0.99)),
                loads[l][p].per_second()
            );
        }
        for p in 1..3 {
            println!(
                "    added by {} p50 {:8.1} µs  p99 {:8.1} µs  throughput {}/direct {:.3}",
                paths[p],
                us(percentile(&sorted[p], 0.5)) - us(percentile(&sorted[0], 0.5)),
                us(percentile(&sorted[p], 0.99)) - us(percentile(&sorted[0], 0.99)),
                paths[p].trim(),
                loads[l][p].per_second() / loads[l][0].per_second()
            );
        }
        println!(
            "    warden over the relay: p50 {:+.1} µs, throughput warden/relay {:.3}",
            us(percentile(&sorted[2], 0.5)) - us(percentile(&sorted[1], 0.5)),
            loads[l][2].per_second() / loads[l][1].per_second()
        );
    }
    let per_call = |p: usize| us(cpu[p]) / (loads[0][p].calls + loads[1][p].calls) as f64;
    println!(
        "  CPU per call: byte relay {:.1} µs, warden {:.1} µs",
        per_call(1),
        per_call(2)
    );
    let mut decisions: Vec<u64> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok()?["latency_ns"].as_u64())
        .collect();
    decisions.sort_unstable();
    let decision = Duration::from_nanos(decisions[decisions.len() / 2]);
    let round_trip = percentile(&loads[0][2].sorted(), 0.5);
    println!(
        "  decision (audit latency_ns, {} calls): p50 {:.1} µs = {:.2}% of the proxied round trip (p50 {:.1} µs)",
        decisions.len(),
        us(decision),
        100.0 * decision.as_secs_f64() / round_trip.as_secs_f64(),
        us(round_trip)
    );
}
