//! What shared limits cost: `Engine::decide` of a call under a limit (benches/proxy.warden:
//! echo, one counter per session per day), with counters in memory and in Redis on loopback
//! (a `redis-server` of the benchmark's own, no persistence), in the same run, alternating
//! rounds. Prints the median and p99 of each, and the added latency of Redis at p50 and p99
//! (target: under 200 µs added at p50). docs/performance.md records a run.
//!
//! Run: `cargo bench --bench limits` (redis-server from scripts/install-deps.sh;
//! `BENCH_CALLS=N` decisions per round, default 5000; `BENCH_ROUNDS=N`, default 3).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark fails loudly on a bad fixture"
)]

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use warden::proxy::approval::Signer;
use warden::proxy::audit::Sink;
use warden::proxy::engine::{self, CallRequest, Engine, Era, Identity, Ruling};
use warden::proxy::jsonrpc::Id;
use warden::proxy::limits::{Counters, FailMode, RedisOptions};
use warden::proxy::tools_list::Known;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn engine(counters: Counters) -> Engine {
    let policy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/proxy.warden");
    let loaded = engine::load(&policy).unwrap();
    Engine::new(
        loaded,
        Sink::open(None).unwrap(),
        false,
        Signer::with_key([7; 32]),
        Duration::from_secs(60),
    )
    .with_counters(counters)
}

/// `n` decisions of a limited call; the time of each (decide + commit).
fn run(engine: &Engine, who: &Identity, n: usize) -> Vec<Duration> {
    let params = serde_json::value::RawValue::from_string(
        r#"{"name":"echo","arguments":{"message":"benchmark"}}"#.into(),
    )
    .unwrap();
    (0..n)
        .map(|i| {
            let req = CallRequest::parse(
                Id(i.to_string()),
                Some(&params),
                |_| Known::default(),
                Era::Handshake,
            )
            .unwrap();
            let start = Instant::now();
            let Ruling::Forward(reservation) = engine.decide(&req, who) else {
                panic!("the benchmark call was not forwarded");
            };
            engine.counters.commit(reservation);
            start.elapsed()
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start redis-server ({e}): run scripts/install-deps.sh"));
    let url = format!("redis://127.0.0.1:{port}/0");
    let redis = Counters::redis(
        RedisOptions {
            url,
            prefix: "bench:".into(),
            timeout: Duration::from_millis(500),
        },
        FailMode::Closed,
    )
    .unwrap();
    let start = Instant::now();
    while !redis.health().ok {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "redis-server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (memory, redis) = (engine(Counters::new()), engine(redis));
    let who = Identity {
        server: None,
        grant: "bench".into(),
        agent: Some("bench".into()),
        session: "bench-session".into(),
    };
    let (calls, rounds) = (env("BENCH_CALLS", 5000), env("BENCH_ROUNDS", 3));
    run(&memory, &who, calls / 10); // warm up both
    run(&redis, &who, calls / 10);
    let (mut in_memory, mut in_redis) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        in_memory.extend(run(&memory, &who, calls));
        in_redis.extend(run(&redis, &who, calls));
    }
    let _ = server.kill();
    let _ = server.wait();
    in_memory.sort();
    in_redis.sort();
    let (m50, m99) = (percentile(&in_memory, 0.5), percentile(&in_memory, 0.99));
    let (r50, r99) = (percentile(&in_redis, 0.5), percentile(&in_redis, 0.99));
    println!(
        "limited decision ({} decisions each, {rounds} alternating rounds)",
        in_memory.len()
    );
    println!(
        "  counters in memory      p50 {:8.2} µs   p99 {:8.2} µs",
        us(m50),
        us(m99)
    );
    println!(
        "  counters in Redis       p50 {:8.2} µs   p99 {:8.2} µs",
        us(r50),
        us(r99)
    );
    println!(
        "  added by Redis          p50 {:8.2} µs   p99 {:8.2} µs   (target: p50 < 200 µs)",
        us(r50.saturating_sub(m50)),
        us(r99.saturating_sub(m99))
    );
    println!(
        "  ratio Redis/memory      p50 {:8.1}×",
        r50.as_secs_f64() / m50.as_secs_f64()
    );
}
