//! The HTTP proxy's cost: `tools/call`s to server-everything's `echo` over Streamable HTTP,
//! directly, through a byte relay and through `warden proxy --listen` (release build,
//! benches/proxy.warden), in the same run, at 1, 16 and 64 concurrent clients (each its own
//! MCP session and connection, one call at a time). At 1 client the three paths take turns
//! call by call (so they share every change in the machine's load; throughput is then calls
//! per second of round trips); beyond, they take turns round by round. Prints the median and
//! p99 round trip of each, the added latency (− direct) at p50 and p99, the throughput
//! ratios, and the relay's and warden's CPU time per call.
//!
//! The byte relay is the floor of any proxy in its own process: a process of its own (this
//! program, started again) that accepts on a loopback port and copies bytes both ways to the
//! server's port with a blocking thread per direction, parsing nothing. What it adds to the
//! direct round trip (two more TCP crossings, wake-ups and process switches per call) is what
//! the machine charges for relaying at all; warden's figures are to be read against it.
//!
//! `BENCH_NEIGHBOUR_MIB=N` runs a noisy neighbour beside them (this program again, at nice
//! 19): it walks N MiB of memory over and over, evicting from the caches what a call left
//! there, as other tenants of a busy host do. With 64 (twice this machine's L3), each call
//! runs cold code and data from memory: a busy host, reproducible.
//!
//! Run: `cargo bench --bench proxy_http` (peers from scripts/install-deps.sh; `BENCH_CALLS=N`
//! calls per client per round, default 100; `BENCH_ROUNDS=N`, default 3; `BENCH_CLIENTS=1,16`
//! the loads, default 1,16,64; `BENCH_INTERLEAVE=0` makes 1 client take turns round by round
//! too, so that each path runs warm, call after call; `WARDEN_BIN=path` measures another
//! build of warden; `BENCH_NEIGHBOUR_MIB=N`, above).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark fails loudly on a bad fixture"
)]

#[path = "support/measure.rs"]
mod measure;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use measure::{peers, percentile, process_cpu, thread_cpu};
use std::io::{BufRead, BufReader, Lines, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

type Http = Client<HttpConnector, Full<Bytes>>;

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// server-everything in streamableHttp mode; its URL.
fn everything() -> (Proc, String) {
    let port = free_port();
    let child = Command::new(peers().join("npm/node_modules/.bin/mcp-server-everything"))
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "server-everything did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (Proc(child), format!("http://127.0.0.1:{port}/mcp"))
}

/// The environment variable that makes this program the byte relay, in front of its value
/// (`HOST:PORT`).
const RELAY_FOR: &str = "BENCH_RELAY_FOR";

/// The environment variable that makes this program the noisy neighbour, over its value in
/// MiB.
const NEIGHBOUR_OVER: &str = "BENCH_NEIGHBOUR_OVER_MIB";

/// The byte relay, a process of its own, and what it answers on.
struct Relay {
    _proc: Proc,
    ask: ChildStdin,
    answers: Lines<BufReader<ChildStdout>>,
    url: String,
}

impl Relay {
    /// The relay in front of URL (`http://127.0.0.1:PORT/PATH`).
    fn start(upstream: &str) -> Relay {
        let rest = upstream.strip_prefix("http://").unwrap();
        let (authority, path) = rest.split_at(rest.find('/').unwrap());
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(RELAY_FOR, authority)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let ask = child.stdin.take().unwrap();
        let mut answers = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = answers.next().expect("the relay exited").unwrap();
        Relay {
            _proc: Proc(child),
            ask,
            answers,
            url: format!("http://127.0.0.1:{port}{path}"),
        }
    }

    /// CPU time the relay's copying threads have run for, as it counts them.
    fn cpu(&mut self) -> Duration {
        writeln!(self.ask, "cpu").unwrap();
        let nanos = self.answers.next().expect("the relay exited").unwrap();
        Duration::from_nanos(nanos.parse().unwrap())
    }
}

/// This program as the relay in front of `authority`: prints its port, then answers each line
/// on its input with its copying threads' CPU time in nanoseconds, until its input ends.
fn serve_relay(authority: String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    println!("{}", listener.local_addr().unwrap().port());
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let client = client.unwrap();
            let server = TcpStream::connect(&authority).unwrap();
            for s in [&client, &server] {
                s.set_nodelay(true).unwrap();
            }
            copy_in_thread(client.try_clone().unwrap(), server.try_clone().unwrap());
            copy_in_thread(server, client);
        }
    });
    for _ in std::io::stdin().lines().map_while(Result::ok) {
        println!("{}", relay_cpu().as_nanos());
    }
}

/// This program as the noisy neighbour: writes a line of each 64 bytes of `mib` MiB, over and
/// over, until killed.
fn be_neighbour(mib: usize) -> ! {
    let mut memory = vec![1u8; mib << 20];
    let mut sum = 0u8;
    loop {
        for line in memory.chunks_mut(64) {
            sum = sum.wrapping_add(line[0]);
            line[0] = std::hint::black_box(sum);
        }
    }
}

/// The noisy neighbour over `mib` MiB, at the lowest priority.
fn neighbour(mib: usize) -> Proc {
    Proc(
        Command::new("nice")
            .args(["-n", "19"])
            .arg(std::env::current_exe().unwrap())
            .env(NEIGHBOUR_OVER, mib.to_string())
            .spawn()
            .unwrap(),
    )
}

/// The relay's copying threads (`/proc/PID/task/TID`) and the CPU time of those that ended.
static RELAY_THREADS: Mutex<(Vec<PathBuf>, Duration)> = Mutex::new((Vec::new(), Duration::ZERO));

/// CPU time the relay's threads have run for.
fn relay_cpu() -> Duration {
    let threads = RELAY_THREADS.lock().unwrap();
    threads.1
        + threads
            .0
            .iter()
            .filter_map(|t| thread_cpu(t))
            .sum::<Duration>()
}

/// Copies `from` to `to` as bytes arrive, until `from` ends; then shuts `to`'s write side.
fn copy_in_thread(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let me = std::fs::read_link("/proc/thread-self").unwrap();
        let me = Path::new("/proc").join(me);
        RELAY_THREADS.lock().unwrap().0.push(me.clone());
        let mut buf = vec![0; 64 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
        let mut threads = RELAY_THREADS.lock().unwrap();
        threads.1 += thread_cpu(&me).unwrap_or_default();
        threads.0.retain(|t| *t != me);
    });
}

/// warden in front of URL; its URL.
fn warden(upstream: &str) -> (Proc, String) {
    let bin = std::env::var("WARDEN_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_warden").into());
    let mut child = Command::new(bin)
        .args([
            "proxy",
            "--policy",
            concat!(env!("CARGO_MANIFEST_DIR"), "/benches/proxy.warden"),
        ])
        .args(["--listen", "127.0.0.1:0", "--upstream", upstream])
        .env("WARDEN_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("warden exited").unwrap();
        if let Some(u) = line.strip_prefix("warden: listening on ") {
            break u.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (Proc(child), url)
}

async fn post(
    http: &Http,
    url: &str,
    session: Option<&str>,
    body: String,
) -> (Option<String>, Bytes) {
    let mut req = Request::post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(s) = session {
        req = req
            .header("mcp-session-id", s)
            .header("mcp-protocol-version", "2025-11-25");
    }
    let reply = http
        .request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let sid = reply
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_string());
    let body = reply.into_body().collect().await.unwrap().to_bytes();
    (sid, body)
}

/// An MCP session of the bench's client.
struct Session {
    http: Http,
    url: String,
    sid: String,
    next_id: u64,
}

impl Session {
    async fn open(http: Http, url: String) -> Session {
        let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;
        let (sid, body) = post(&http, &url, None, init.to_string()).await;
        let sid =
            sid.unwrap_or_else(|| panic!("no session id: {}", String::from_utf8_lossy(&body)));
        post(
            &http,
            &url,
            Some(&sid),
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.into(),
        )
        .await;
        Session {
            http,
            url,
            sid,
            next_id: 0,
        }
    }

    /// One echo call; its round trip.
    async fn call(&mut self) -> Duration {
        self.next_id += 1;
        let call = format!(
            r#"{{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"echo","arguments":{{"message":"hello"}}}}}}"#,
            self.next_id
        );
        let start = Instant::now();
        let (_, body) = post(&self.http, &self.url, Some(&self.sid), call).await;
        let elapsed = start.elapsed();
        assert!(
            body.windows(11).any(|w| w == b"Echo: hello"),
            "{}",
            String::from_utf8_lossy(&body)
        );
        elapsed
    }

    async fn close(self) {
        let _ = self
            .http
            .request(
                Request::delete(&self.url)
                    .header("mcp-session-id", &self.sid)
                    .body(Full::default())
                    .unwrap(),
            )
            .await;
    }
}

/// One client: its own session, then N echo calls one at a time; their round trips.
async fn client(http: Http, url: String, n: usize) -> Vec<Duration> {
    let mut session = Session::open(http, url).await;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        times.push(session.call().await);
    }
    session.close().await;
    times
}

/// One client with a session on each path, calling them in turn N times, so that the paths
/// share every change in the machine's load; each path's round trips.
async fn interleaved(http: &Http, urls: [&String; 3], n: usize) -> [Vec<Duration>; 3] {
    let mut sessions = Vec::new();
    for url in urls {
        sessions.push(Session::open(http.clone(), url.clone()).await);
    }
    let mut times: [Vec<Duration>; 3] = Default::default();
    for _ in 0..n {
        for (p, session) in sessions.iter_mut().enumerate() {
            times[p].push(session.call().await);
        }
    }
    for session in sessions {
        session.close().await;
    }
    times
}

/// C clients at once; all round trips and the wall time.
async fn load(http: &Http, url: &str, clients: usize, n: usize) -> (Vec<Duration>, Duration) {
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| tokio::spawn(client(http.clone(), url.to_string(), n)))
        .collect();
    let mut times = Vec::new();
    for t in tasks {
        times.extend(t.await.unwrap());
    }
    (times, start.elapsed())
}

fn main() {
    if let Ok(authority) = std::env::var(RELAY_FOR) {
        return serve_relay(authority);
    }
    if let Ok(mib) = std::env::var(NEIGHBOUR_OVER) {
        be_neighbour(mib.parse().unwrap());
    }
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (n, rounds) = (env("BENCH_CALLS", 100), env("BENCH_ROUNDS", 3));
    let loads: Vec<usize> = std::env::var("BENCH_CLIENTS")
        .unwrap_or_else(|_| "1,16,64".into())
        .split(',')
        .map(|c| {
            c.trim()
                .parse()
                .expect("BENCH_CLIENTS: numbers, comma-separated")
        })
        .collect();
    let interleave = env("BENCH_INTERLEAVE", 1) != 0;
    let neighbour_mib = env("BENCH_NEIGHBOUR_MIB", 0);
    let _neighbour = (neighbour_mib > 0).then(|| neighbour(neighbour_mib));
    let (_server, direct) = everything();
    let mut relay = Relay::start(&direct);
    let relayed = relay.url.clone();
    let (warden, proxied) = warden(&direct);
    let warden_pid = warden.0.id();
    let warden_cpu_time = || process_cpu(warden_pid);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http: Http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(128)
            .pool_idle_timeout(Duration::from_secs(4))
            .build(connector);
        let paths = ["direct ", "relay  ", "warden "];
        let urls = [&direct, &relayed, &proxied];
        // Warm up all three paths.
        for url in urls {
            load(&http, url, 4, 50).await;
        }
        println!(
            "HTTP proxy: {rounds} rounds x {n} tools/call echo per client, direct, through a byte relay and through warden"
        );
        if neighbour_mib > 0 {
            println!("  beside a noisy neighbour walking {neighbour_mib} MiB at nice 19");
        }
        // CPU time of the relay and of warden, and their calls, over their rounds.
        let mut cpu = [(Duration::ZERO, 0); 3];
        for clients in loads {
            let mut sums: [(Vec<Duration>, Duration); 3] = Default::default();
            for _ in 0..rounds {
                if clients == 1 && interleave {
                    let before = [relay.cpu(), warden_cpu_time()];
                    let times = interleaved(&http, urls, n).await;
                    let after = [relay.cpu(), warden_cpu_time()];
                    for (p, t) in times.into_iter().enumerate() {
                        if p > 0 {
                            cpu[p].0 += after[p - 1].saturating_sub(before[p - 1]);
                            cpu[p].1 += t.len();
                        }
                        sums[p].1 += t.iter().sum::<Duration>();
                        sums[p].0.extend(t);
                    }
                    continue;
                }
                for (p, url) in urls.into_iter().enumerate() {
                    let mut cpu_time = || match p {
                        1 => relay.cpu(),
                        2 => warden_cpu_time(),
                        _ => Duration::ZERO,
                    };
                    let before = cpu_time();
                    let (t, wall) = load(&http, url, clients, n).await;
                    cpu[p].0 += cpu_time().saturating_sub(before);
                    cpu[p].1 += t.len();
                    sums[p].0.extend(t);
                    sums[p].1 += wall;
                }
            }
            println!("  {clients} concurrent clients:");
            let mut stats = Vec::new();
            for (label, (times, wall)) in paths.iter().zip(sums.iter_mut()) {
                times.sort_unstable();
                let rate = times.len() as f64 / wall.as_secs_f64();
                let us = |q: f64| percentile(times, q).as_secs_f64() * 1e6;
                let (p50, p99) = (us(0.5), us(0.99));
                println!("    {label}  p50 {p50:8.1} µs  p99 {p99:8.1} µs  {rate:8.0} calls/s");
                stats.push((p50, p99, rate));
            }
            for p in 1..3 {
                println!(
                    "    added by {} p50 {:8.1} µs  p99 {:8.1} µs  throughput {}/direct {:.3}",
                    paths[p],
                    stats[p].0 - stats[0].0,
                    stats[p].1 - stats[0].1,
                    paths[p].trim(),
                    stats[p].2 / stats[0].2
                );
            }
            println!(
                "    warden over the relay: p50 {:+.1} µs  p99 {:+.1} µs  throughput warden/relay {:.3}",
                stats[2].0 - stats[1].0,
                stats[2].1 - stats[1].1,
                stats[2].2 / stats[1].2
            );
        }
        for p in 1..3 {
            println!(
                "  {} CPU per call: {:6.1} µs ({} calls; /proc schedstat around its rounds)",
                paths[p],
                cpu[p].0.as_secs_f64() * 1e6 / cpu[p].1.max(1) as f64,
                cpu[p].1
            );
        }
    });
}
