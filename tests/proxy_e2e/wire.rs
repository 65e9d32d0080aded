//! warden driven over its pipes with raw JSON-RPC, no SDK: hostile input, ids, a server that
//! dies, and shutdown. Every wait is bounded (support::ANSWER); a hang fails the test.

use crate::support::{ANSWER, Wire, recorded, repo, server, tools_call};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn everything(flags: &[&str], record: Option<&std::path::Path>) -> Wire {
    let policy = repo("examples/everything.warden");
    let mut all = vec!["--policy", policy.as_str()];
    all.extend_from_slice(flags);
    Wire::start(&all, &server("everything", record))
}

fn fixture() -> Wire {
    let policy = repo("tests/e2e/fixture.warden");
    Wire::start(&["--policy", &policy], &server("fixture", None))
}

fn assert_error(answer: &Value, id: Value, code: i64) {
    assert_eq!(answer["id"], id, "{answer}");
    assert_eq!(answer["error"]["code"], code, "{answer}");
    assert_eq!(answer["jsonrpc"], "2.0", "{answer}");
}

#[test]
fn hostile_lines_get_json_rpc_errors_and_never_reach_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut w = everything(&["--max-message-bytes", "1024"], Some(&log));
    w.initialize("2025-11-25");
    let huge = tools_call(
        "90",
        "echo",
        &format!(r#"{{"message":"{}"}}"#, "a".repeat(4000)),
    );
    let cases: Vec<(Vec<u8>, Value, i64)> = vec![
        (b"not json at all".to_vec(), Value::Null, -32700),
        (br#"{"jsonrpc":"2.0","id":5,"method":"tools/li"#.to_vec(), Value::Null, -32700),
        (b"\xff\xfe{}".to_vec(), Value::Null, -32700),
        (huge.into_bytes(), Value::Null, -32600),
        // A parser differential must not smuggle a tool past the policy.
        (
            br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","name":"get-env","arguments":{}}}"#.to_vec(),
            json!(7),
            -32600,
        ),
        (
            br#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"echo","arguments":{"message":"a","message":"b"}}}"#.to_vec(),
            json!(8),
            -32600,
        ),
        (
            br#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"get-\u0065nv","arguments":{},"\u006eame":"echo"}}"#.to_vec(),
            json!(9),
            -32600,
        ),
        // Batches were removed in 2025-06-18: refused as a whole on this connection.
        (
            br#"[{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"get-env","arguments":{}}}]"#.to_vec(),
            Value::Null,
            -32600,
        ),
        (b"[]".to_vec(), Value::Null, -32600),
        (b"{}".to_vec(), Value::Null, -32600),
        (br#"{"jsonrpc":"1.0","id":11,"method":"tools/list"}"#.to_vec(), json!(11), -32600),
        (br#"{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"arguments":{}}}"#.to_vec(), json!(12), -32602),
        (br#"{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"echo","arguments":[1]}}"#.to_vec(), json!(13), -32602),
        // Invalid ids: null, object, array, boolean.
        (br#"{"jsonrpc":"2.0","id":null,"method":"tools/list"}"#.to_vec(), Value::Null, -32600),
        (br#"{"jsonrpc":"2.0","id":{"a":1},"method":"tools/list"}"#.to_vec(), Value::Null, -32600),
        (br#"{"jsonrpc":"2.0","id":[1],"method":"tools/list"}"#.to_vec(), Value::Null, -32600),
        (br#"{"jsonrpc":"2.0","id":true,"method":"tools/list"}"#.to_vec(), Value::Null, -32600),
    ];
    for (line, id, code) in &cases {
        let mut bytes = line.clone();
        bytes.push(b'\n');
        w.send_bytes(&bytes);
        let (_, answer) = w.response();
        assert_error(&answer, id.clone(), *code);
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{answer}"
        );
    }
    // Still serving, and none of the above reached the server.
    let answer = w.request(&tools_call("99", "echo", r#"{"message":"still here"}"#));
    assert_eq!(
        answer["result"]["content"][0]["text"], "Echo: still here",
        "{answer}"
    );
    w.close();
    assert!(w.wait().success(), "{}", w.stderr());
    let received = recorded(&log, ">>");
    let methods: Vec<String> = received
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["method"].to_string())
        .collect();
    assert_eq!(
        methods,
        [
            r#""initialize""#,
            r#""notifications/initialized""#,
            r#""tools/call""#
        ],
        "{received:?}"
    );
    assert!(received[2].contains("still here"), "{received:?}");
}

#[test]
fn ids_of_every_legal_type_are_echoed_exactly() {
    let mut w = everything(&[], None);
    // Before initialize: warden decides as always; server-everything answers requests early.
    let early = w.request(&tools_call("0", "echo", r#"{"message":"early"}"#));
    assert_eq!(early["id"], 0, "{early}");
    assert_eq!(early["result"]["content"][0]["text"], "Echo: early");
    let early = w.request(&tools_call("1", "get-env", "{}"));
    assert_eq!(
        early["result"]["_meta"]["warden/decision"]["code"],
        "policy_denied"
    );
    w.initialize("2025-11-25");
    // Forwarded calls: the server's answer reaches the client under the client's id.
    for id in ["0", "-1", r#""s""#, r#""""#, "2"] {
        w.send(&tools_call(id, "echo", r#"{"message":"x"}"#));
        let (_, answer) = w.response();
        assert_eq!(
            answer["id"],
            serde_json::from_str::<Value>(id).unwrap(),
            "{answer}"
        );
        assert_eq!(
            answer["result"]["content"][0]["text"], "Echo: x",
            "{answer}"
        );
    }
    // Fractional ids are refused (MCP ids are strings or integers; a server drops them).
    for id in ["1.5", "1e2"] {
        let refused = w.request(&tools_call(id, "echo", r#"{"message":"x"}"#));
        assert_error(&refused, Value::Null, -32600);
    }
    // Calls warden answers itself echo the id byte for byte.
    for id in ["0", "-1", r#""s""#, r#""""#, "12345678901234567890"] {
        w.send(&tools_call(id, "get-env", "{}"));
        let (raw, answer) = w.response();
        assert!(
            raw.contains(&format!(r#""id":{id},"#)),
            "id {id} not echoed exactly: {raw}"
        );
        assert_eq!(answer["result"]["isError"], true, "{answer}");
    }
    // An id still pending cannot be reused.
    w.send(&tools_call(
        "42",
        "trigger-long-running-operation",
        r#"{"duration":1,"steps":1}"#,
    ));
    let reused = w.request(&tools_call("42", "echo", r#"{"message":"again"}"#));
    assert_error(&reused, json!(42), -32600);
    let (_, done) = w.response();
    assert_eq!(done["id"], 42, "{done}");
    assert!(done.get("result").is_some(), "{done}");
}

#[test]
fn ids_collide_between_directions_and_each_reaches_its_side() {
    let mut w = fixture();
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25",
        "capabilities":{"elicitation":{}},"clientInfo":{"name":"e2e-wire","version":"1"}}});
    assert!(w.request(&init.to_string()).get("result").is_some());
    w.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    // The client's call has id 1; the server's own request to the client is numbered 1 too.
    w.send(&tools_call("1", "ask", "{}"));
    let question = w.recv();
    assert_eq!(question["method"], "elicitation/create", "{question}");
    assert_eq!(
        question["id"], 1,
        "the server numbered its request differently: {question}"
    );
    w.send(r#"{"jsonrpc":"2.0","id":1,"result":{"action":"accept","content":{"word":"one"}}}"#);
    let (_, answer) = w.response();
    assert_eq!(answer["id"], 1, "{answer}");
    assert_eq!(
        answer["result"]["content"][0]["text"], "accept: one",
        "{answer}"
    );
}

#[test]
fn a_server_that_dies_mid_call_answers_the_call_and_passes_its_exit_code() {
    let mut w = fixture();
    w.initialize("2025-11-25");
    w.send(&tools_call("5", "die", r#"{"code":3}"#));
    let (_, answer) = w.response();
    assert_error(&answer, json!(5), -32603);
    let status = w.wait();
    assert_eq!(status.code(), Some(3), "{}", w.stderr());
}

#[test]
fn client_eof_with_a_call_in_flight_still_gets_its_answer() {
    let mut w = fixture();
    w.initialize("2025-11-25");
    // The fixture is a Python SDK server: it drops an in-flight answer if its stdin closes
    // first, so warden must hold the child's stdin open until the answer is relayed.
    w.send(&tools_call("7", "slow", r#"{"seconds":1}"#));
    w.close();
    let (_, answer) = w.response();
    assert_eq!(answer["id"], 7, "{answer}");
    assert_eq!(
        answer["result"]["content"][0]["text"], "slept 1.0",
        "{answer}"
    );
    let status = w.wait();
    assert_eq!(status.code(), Some(0), "{}", w.stderr());
}

/// The pids whose parent is `parent` (from /proc).
fn children(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            out.push(pid);
        }
    }
    out
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

#[test]
fn sigterm_to_warden_terminates_the_server() {
    let mut w = everything(&[], None);
    w.initialize("2025-11-25");
    let kids = children(w.child.id());
    assert_eq!(
        kids.len(),
        1,
        "warden should have one child, the server: {kids:?}"
    );
    let server_pid = kids[0];
    assert!(alive(server_pid));
    let warden_pid = nix::unistd::Pid::from_raw(i32::try_from(w.child.id()).unwrap());
    nix::sys::signal::kill(warden_pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = w.wait();
    assert!(!status.success(), "warden exited 0 after SIGTERM: {status}");
    let deadline = Instant::now() + ANSWER;
    while alive(server_pid) {
        assert!(
            Instant::now() < deadline,
            "the server {server_pid} outlived warden (orphan)"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// warden's resident memory, from /proc.
fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

#[test]
fn a_client_that_does_not_read_makes_warden_wait_not_buffer() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    const CALLS: usize = 400;
    const MESSAGE: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("echo.warden");
    std::fs::write(&policy, "policy echo {\n  default deny\n  allow echo\n}\n").unwrap();
    let mut child = Command::new(crate::support::warden())
        .args(["proxy", "--policy", &policy.display().to_string(), "--"])
        .args(server("everything", None))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"slow-reader","version":"1"}}}"#;
    writeln!(stdin, "{init}").unwrap();
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains("\"result\""), "{line}");
    let baseline = resident_bytes(pid);
    // 40 MB of answers while the client reads nothing. Node queues what it cannot write (it
    // takes every call); warden's relay blocks on the client's full pipe and reads no further
    // from the server, so nothing piles up in warden.
    let (progress, written) = std::sync::mpsc::channel();
    let writer = std::thread::spawn(move || {
        writeln!(
            stdin,
            r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
        )
        .unwrap();
        let message = "x".repeat(MESSAGE);
        for id in 1..=CALLS {
            let call = tools_call(
                &id.to_string(),
                "echo",
                &json!({"message": message}).to_string(),
            );
            writeln!(stdin, "{call}").unwrap();
            let _ = progress.send(id);
        }
        stdin
    });
    // Wait until the client's writes stall or all went through, and the server had time to
    // answer.
    let mut sent = 0;
    while let Ok(id) = written.recv_timeout(Duration::from_secs(2)) {
        sent = id;
    }
    assert!(sent > 0);
    let held = resident_bytes(pid).saturating_sub(baseline);
    assert!(
        held < 16 << 20,
        "warden grew by {held} bytes while its client did not read"
    );
    // Then every answer arrives, in full.
    let mut answered = std::collections::BTreeSet::new();
    while answered.len() < CALLS {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "warden closed its stdout"
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        if v.get("method").is_some() {
            continue;
        }
        let text = v["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(text.len(), "Echo: ".len() + MESSAGE, "{:.200}", line);
        answered.insert(v["id"].as_u64().unwrap());
    }
    assert_eq!(answered.len(), CALLS);
    drop(writer.join().unwrap());
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn sigterm_ends_warden_while_it_waits_on_a_server_that_does_not_read() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    // `sleep` stands for a server that hangs without reading its stdin: warden's relay blocks
    // writing to it, and must still end on SIGTERM, taking the server with it.
    let policy = repo("examples/everything.warden");
    let mut child = Command::new(crate::support::warden())
        .args(["proxy", "--policy", &policy, "--", "sleep", "60"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (progress, written) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let line = format!(
            "{}\n",
            json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"pad": "x".repeat(8000)}})
        );
        // 4 MB: far more than the pipes hold. Ends when warden is gone (a broken pipe).
        for n in 0..500 {
            if stdin.write_all(line.as_bytes()).is_err() {
                return;
            }
            let _ = progress.send(n);
        }
    });
    let mut sent = 0;
    while let Ok(n) = written.recv_timeout(Duration::from_secs(2)) {
        sent = n;
    }
    assert!(sent < 499, "the pipes took 4 MB: the server read after all");
    let kids = children(child.id());
    assert_eq!(kids.len(), 1, "warden should have one child: {kids:?}");
    let warden_pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(warden_pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + ANSWER;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "warden hangs after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success(), "{status}");
    while alive(kids[0]) {
        assert!(
            Instant::now() < deadline,
            "the server {} outlived warden (orphan)",
            kids[0]
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
