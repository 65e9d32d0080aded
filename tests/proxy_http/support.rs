//! The HTTP tests' processes and a raw HTTP/1.1 client: real servers on free ports (server-
//! everything in `streamableHttp` mode, the SDK fixture server over HTTP), warden on port 0
//! (its addresses read from what it prints), grants files. Every process is ours and killed
//! when its handle drops; every wait has a deadline.

use crate::e2e::{peers, python, repo, warden};
use crate::ports::{free_port, listens};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const START: Duration = Duration::from_secs(30);

/// A process of ours, killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An upstream MCP server over Streamable HTTP: `everything` or `fixture`. Returns it and its URL.
/// A server that could not have the port it was given (another process took it first) is
/// started again on another.
pub fn upstream(name: &str) -> (Proc, String) {
    listening(name, "http", |port| server_command(name, port))
}

/// The SDK fixture server over HTTPS with the certificate `certs` holds (`certs::certificates`);
/// with `clients_need_certificates`, clients must present one the same CA signed.
pub fn https_fixture(certs: &Path, clients_need_certificates: bool) -> (Proc, String) {
    listening("fixture", "https", |port| {
        let mut c = Command::new(python());
        c.arg(repo("tests/e2e/fixture_server.py"))
            .arg("https")
            .arg(port.to_string())
            .arg(certs.join("srv.crt"))
            .arg(certs.join("srv.key"))
            .args(clients_need_certificates.then(|| certs.join("ca.crt")))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    })
}

/// Starts `command` on free ports until it listens on the one it was given; its MCP URL
/// (`/mcp` on that port).
pub fn listening(name: &str, scheme: &str, command: impl Fn(u16) -> Command) -> (Proc, String) {
    let start = Instant::now();
    loop {
        let port = free_port();
        let mut proc = Proc(command(port).spawn().unwrap());
        loop {
            if listens(proc.0.id(), port) {
                return (proc, format!("{scheme}://127.0.0.1:{port}/mcp"));
            }
            assert!(start.elapsed() < START, "{name} did not listen on {port}");
            if proc.0.try_wait().ok().flatten().is_some() {
                break; // it exited (the port was taken): another port
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn server_command(name: &str, port: u16) -> Command {
    let peers = peers();
    let mut command = match name {
        "everything" => {
            let mut c = Command::new(peers.join("npm/node_modules/.bin/mcp-server-everything"));
            c.arg("streamableHttp").env("PORT", port.to_string());
            c
        }
        "fixture" => {
            let mut c = Command::new(python());
            c.arg(repo("tests/e2e/fixture_server.py"))
                .args(["http", &port.to_string()]);
            c
        }
        other => panic!("no server named {other}"),
    };
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// Waits until `done` holds (polled every 50 ms), failing after 20 s with `context()`.
pub fn eventually(mut done: impl FnMut() -> bool, context: impl Fn() -> String) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(20), "{}", context());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `warden proxy --policy tests/proxy_http/http.warden FLAGS` run to its end: for flags it
/// refuses at start.
pub fn refused_start(flags: &[&str]) -> std::process::Output {
    Command::new(warden())
        .args(["proxy", "--policy", &repo("tests/proxy_http/http.warden")])
        .args(flags)
        .output()
        .unwrap()
}

/// warden serving HTTP, with its MCP endpoint's and admin listener's URLs.
pub struct Warden {
    pub proc: Proc,
    pub url: String,
    pub admin: String,
    stderr: Arc<Mutex<String>>,
}

impl Warden {
    /// `warden proxy --policy tests/proxy_http/http.warden --listen 127.0.0.1:0 --admin … FLAGS`.
    pub fn start(flags: &[&str]) -> Warden {
        Warden::with_policy(&repo("tests/proxy_http/http.warden"), flags)
    }

    /// In front of `url` with the grants `file`, looked at for changes every 50 ms.
    pub fn reloading_grants(url: &str, file: &str) -> Warden {
        let flags = ["--upstream", url, "--grants", file];
        Warden::start(&[&flags[..], &["--reload-interval-ms", "50"]].concat())
    }

    pub fn with_policy(policy: &str, flags: &[&str]) -> Warden {
        Warden::with_env(policy, flags, &[])
    }

    /// With these environment variables too.
    pub fn with_env(policy: &str, flags: &[&str], env: &[(&str, &Path)]) -> Warden {
        let mut child = Command::new(warden())
            .args(["proxy", "--policy", policy])
            .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
            .args(flags)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (lines, stderr) = lines(child.stderr.take().unwrap());
        let proc = Proc(child);
        let mut url = None;
        let mut admin = None;
        let start = Instant::now();
        while url.is_none() || admin.is_none() {
            let left = START.saturating_sub(start.elapsed());
            let line = lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("warden did not start: {}", stderr.lock().unwrap()));
            if let Some(u) = line.strip_prefix("warden: listening on ") {
                url = Some(u.to_string());
            }
            if let Some(a) = line.strip_prefix("warden: admin on ") {
                admin = Some(a.trim_end_matches("/metrics").to_string());
            }
        }
        Warden {
            proc,
            url: url.unwrap(),
            admin: admin.unwrap(),
            stderr,
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn metrics(&self) -> String {
        get(&format!("{}/metrics", self.admin)).body
    }

    /// The value of one metric line (exact name with labels).
    pub fn metric(&self, series: &str) -> f64 {
        let text = self.metrics();
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no metric {series} in\n{text}"))
    }

    /// Waits until a metric reaches `value` (what another thread is doing has started).
    pub fn await_metric(&self, series: &str, value: f64) {
        let start = Instant::now();
        while self.metric(series) != value {
            assert!(start.elapsed() < START, "{series} never reached {value}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A stream's lines through a channel, and all of its text.
fn lines(pipe: impl Read + Send + 'static) -> (Receiver<String>, Arc<Mutex<String>>) {
    let (tx, rx) = channel();
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push_str(&format!("{line}\n"));
            let _ = tx.send(line);
        }
    });
    (rx, text)
}

/// A grants file in DIR: (grant, token) pairs, and upstream headers.
pub fn grants(dir: &Path, grants: &[(&str, &str)], upstream: &[(&str, &str)]) -> String {
    use sha2::Digest;
    let hash = |t: &str| {
        sha2::Sha256::digest(t.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let grants: serde_json::Map<String, Value> = grants
        .iter()
        .map(|(g, t)| (g.to_string(), serde_json::json!({"token_sha256": hash(t)})))
        .collect();
    let headers: serde_json::Map<String, Value> = upstream
        .iter()
        .map(|(n, v)| (n.to_string(), Value::String(v.to_string())))
        .collect();
    let path = dir.join("grants.json");
    let doc = serde_json::json!({"grants": grants, "upstream": {"headers": headers}});
    std::fs::write(&path, doc.to_string()).unwrap();
    path.display().to_string()
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as one JSON value, or the data of the last SSE event that has data.
    pub fn json(&self) -> Value {
        let text = if self
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/event-stream"))
        {
            self.body
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim)
                .rfind(|d| !d.is_empty())
                .unwrap_or_default()
                .to_string()
        } else {
            self.body.clone()
        };
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

pub fn get(url: &str) -> Reply {
    request("GET", url, &[], "", false)
}

/// A request over a fresh connection (`Connection: close`); with `head_only` the answer's
/// body is not read (a held-open SSE stream).
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
    head_only: bool,
) -> Reply {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!(
        "{method} {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        if path.is_empty() { "/" } else { path },
        body.len()
    );
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (n, v) = line.split_once(':').unwrap();
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let mut reply = Reply {
        status,
        headers,
        body: String::new(),
    };
    if head_only {
        return reply;
    }
    let mut raw = Vec::new();
    let _ = reader.read_to_end(&mut raw);
    if reply.header("transfer-encoding") == Some("chunked") {
        raw = dechunk(&raw);
    }
    reply.body = String::from_utf8_lossy(&raw).into_owned();
    reply
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..eol]).unwrap().trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[eol + 2 + size + 2..];
    }
}

/// The headers of a JSON POST (with the 2026-07-28 routing headers when `modern`).
pub fn post_headers<'a>(
    token: Option<&'a str>,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];
    if let Some(t) = token {
        h.push(("Authorization", t));
    }
    h.extend_from_slice(extra);
    h
}

/// A 2026-07-28 `tools/call` body (the envelope in `_meta`).
pub fn modern_call(id: u64, tool: &str, arguments: &Value, more: &Value) -> String {
    let mut params = serde_json::json!({
        "name": tool,
        "arguments": arguments,
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}
        }
    });
    if let (Some(p), Some(m)) = (params.as_object_mut(), more.as_object()) {
        for (k, v) in m {
            p.insert(k.clone(), v.clone());
        }
    }
    serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
        .to_string()
}

/// POSTs a 2026-07-28 tools/call with agreeing routing headers.
pub fn call_modern(
    url: &str,
    token: Option<&str>,
    id: u64,
    tool: &str,
    arguments: &Value,
    more: &Value,
) -> Reply {
    let headers = post_headers(
        token,
        &[
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", tool),
        ],
    );
    request(
        "POST",
        url,
        &headers,
        &modern_call(id, tool, arguments, more),
        false,
    )
}

/// How many live (not zombie) child processes `pid` has.
pub fn children_of(pid: u32) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            // pid (comm) state ppid …: comm may hold spaces, so read after the last ')'.
            let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
            let mut fields = rest.split_whitespace();
            let state = fields.next().unwrap_or("");
            let ppid = fields.next().unwrap_or("");
            state != "Z" && ppid == pid.to_string()
        })
        .count()
}

/// The command that starts a real stdio server (`everything` or `fixture`).
pub fn stdio_server(name: &str) -> Vec<String> {
    match name {
        "everything" => vec![
            peers()
                .join("npm/node_modules/.bin/mcp-server-everything")
                .display()
                .to_string(),
            "stdio".into(),
        ],
        _ => vec![python(), repo("tests/e2e/fixture_server.py")],
    }
}

/// A GET of an SSE stream that stays open: its raw bytes until `needle` shows up (or fail).
pub fn stream_until(url: &str, headers: &[(&str, &str)], needle: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut head = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let start = Instant::now();
    let mut text = Vec::new();
    let mut buf = [0u8; 8192];
    while !String::from_utf8_lossy(&text).contains(needle) {
        assert!(
            start.elapsed() < START,
            "`{needle}` never came: {}",
            String::from_utf8_lossy(&text)
        );
        match stream.read(&mut buf) {
            Ok(0) => panic!("the stream ended: {}", String::from_utf8_lossy(&text)),
            Ok(n) => text.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// `warden grants check FILE [--token-stdin]` with `bearer`'s token on stdin: exit code and
/// stdout.
pub fn grants_check(file: &str, bearer: Option<&str>) -> (i32, String) {
    use std::io::Write;
    let mut command = Command::new(warden());
    command.args(["grants", "check", file]);
    if bearer.is_some() {
        command.arg("--token-stdin");
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let token = bearer.map_or("", |b| b.trim_start_matches("Bearer "));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(token.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    (code, String::from_utf8_lossy(&out.stdout).into_owned())
}
