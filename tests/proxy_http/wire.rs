//! Hand-written HTTP requests through warden: what the SDK client never sends.

use crate::support::{self, Warden, call_modern, get, grants, post_headers, request, upstream};
use serde_json::{Value, json};
use std::time::Duration;

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;

#[test]
fn requests_without_a_valid_token_get_401_and_never_reach_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = upstream("fixture");
    let file = grants(dir.path(), &[("ci", "good")], &[]);
    let warden = Warden::start(&["--upstream", &url, "--grants", &file]);
    for token in [None, Some("Bearer bad"), Some("Basic good"), Some("good")] {
        let r = call_modern(
            &warden.url,
            token,
            1,
            "echo",
            &json!({"message": "x"}),
            &json!({}),
        );
        assert_eq!(r.status, 401, "{token:?}: {r:?}");
        // RFC 6750 §3.1: a bearer token that is wrong is `invalid_token`; no bearer token at
        // all gets no error code.
        let challenge = match token {
            Some("Bearer bad") => r#"Bearer error="invalid_token""#,
            _ => "Bearer",
        };
        assert_eq!(r.header("www-authenticate"), Some(challenge), "{token:?}");
    }
    assert_eq!(
        warden.metric("warden_upstream_request_duration_seconds_count"),
        0.0
    );
    let ok = call_modern(
        &warden.url,
        Some("Bearer good"),
        2,
        "echo",
        &json!({"message": "x"}),
        &json!({}),
    );
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.json()["result"]["content"][0]["text"], "Echo: x");
}

#[test]
fn a_changed_grants_file_is_reloaded_and_a_broken_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = upstream("fixture");
    let file = grants(dir.path(), &[("ci", "old")], &[("X-Upstream-Key", "first")]);
    let warden = Warden::reloading_grants(&url, &file);
    // The headers the server received, through warden with this token.
    let seen = |token: &str| {
        let r = call_modern(
            &warden.url,
            Some(token),
            1,
            "headers",
            &json!({}),
            &json!({}),
        );
        if r.status != 200 {
            return (r.status, None);
        }
        let text = r.json()["result"]["content"][0]["text"].clone();
        (
            r.status,
            serde_json::from_str::<Value>(text.as_str().unwrap_or("null")).ok(),
        )
    };
    let (status, headers) = seen("Bearer old");
    assert_eq!(status, 200);
    // Static tokens only: no OAuth discovery (a plain challenge, no metadata document).
    let anonymous = call_modern(&warden.url, None, 1, "echo", &json!({}), &json!({}));
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
    let base = warden.url.trim_end_matches("/mcp");
    assert_eq!(
        get(&format!("{base}/.well-known/oauth-protected-resource")).status,
        404
    );
    assert_eq!(headers.unwrap()["x-upstream-key"], "first");

    // A rotation: the grant's new token, the server's new key.
    grants(
        dir.path(),
        &[("ci", "new")],
        &[("X-Upstream-Key", "second")],
    );
    warden.await_metric(r#"warden_grants_reloads_total{result="ok"}"#, 1.0);
    assert_eq!(seen("Bearer old").0, 401, "the old token is gone");
    let (status, headers) = seen("Bearer new");
    assert_eq!(status, 200);
    assert_eq!(headers.unwrap()["x-upstream-key"], "second");

    // A broken file is refused: the grants before it stay.
    std::fs::write(&file, r#"{"grants": {"ci": "#).unwrap();
    warden.await_metric(r#"warden_grants_reloads_total{result="refused"}"#, 1.0);
    let (code, out) = support::grants_check(&file, None);
    assert_eq!((code, out.starts_with("invalid: ")), (1, true), "{out}");
    assert_eq!(support::grants_check("/nonexistent/grants.json", None).0, 2);
    assert_eq!(seen("Bearer new").0, 200);
    assert!(
        warden.stderr().contains("keeping the previous grants"),
        "{}",
        warden.stderr()
    );

    // A grant by client certificate needs a listener that asks for certificates: refused too.
    let by_certificate = json!({"grants": {"ci": {"client_certificate": "ci.example"}}});
    std::fs::write(&file, by_certificate.to_string()).unwrap();
    warden.await_metric(r#"warden_grants_reloads_total{result="refused"}"#, 2.0);
    assert!(
        warden.stderr().contains("asks for none (--client-ca)"),
        "{}",
        warden.stderr()
    );
    assert_eq!(seen("Bearer new").0, 200);
}

#[test]
fn routing_headers_that_disagree_with_the_body_are_rejected() {
    let (_server, url) = upstream("fixture");
    let warden = Warden::start(&["--upstream", &url]);
    let body = crate::support::modern_call(5, "fail", &json!({}), &json!({}));
    let cases: [&[(&str, &str)]; 4] = [
        // named `echo` (allowed) in the header, `fail` in the body
        &[
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "echo"),
        ],
        &[
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/list"),
            ("Mcp-Name", "fail"),
        ],
        &[
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/call"),
        ],
        &[
            ("MCP-Protocol-Version", "2025-11-25"),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "fail"),
        ],
    ];
    for extra in cases {
        let r = request(
            "POST",
            &warden.url,
            &post_headers(None, extra),
            &body,
            false,
        );
        assert_eq!(r.status, 400, "{extra:?}: {r:?}");
        let v = r.json();
        assert_eq!(v["error"]["code"], -32020, "{v}");
        assert_eq!(v["id"], 5);
    }
    assert_eq!(
        warden.metric(r#"warden_http_errors_total{kind="header_mismatch"}"#),
        4.0
    );
    assert_eq!(
        warden.metric("warden_upstream_request_duration_seconds_count"),
        0.0
    );
    // Base64-sentinel names are decoded before comparing.
    let ok = request(
        "POST",
        &warden.url,
        &post_headers(
            None,
            &[
                ("MCP-Protocol-Version", "2026-07-28"),
                ("Mcp-Method", "tools/call"),
                ("Mcp-Name", "=?base64?ZmFpbA==?="),
            ],
        ),
        &body,
        false,
    );
    assert_eq!(ok.status, 200, "{ok:?}");
}

#[test]
fn a_2026_approval_retry_needs_warden_s_own_untampered_state() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = upstream("fixture");
    let file = grants(dir.path(), &[("a", "ta"), ("b", "tb")], &[]);
    let warden = Warden::start(&["--upstream", &url, "--grants", &file]);
    let args = json!({"n": 7});
    let first = call_modern(
        &warden.url,
        Some("Bearer ta"),
        1,
        "approve_me",
        &args,
        &json!({}),
    )
    .json();
    assert_eq!(first["result"]["resultType"], "input_required", "{first}");
    let state = first["result"]["requestState"]
        .as_str()
        .unwrap()
        .to_string();
    let yes = json!({"warden-approval": {"action": "accept", "content": {"approve": true}}});
    let retry_as = |token, id, state: &str, arguments: &Value| {
        call_modern(
            &warden.url,
            Some(token),
            id,
            "approve_me",
            arguments,
            &json!({"requestState": state, "inputResponses": yes}),
        )
        .json()
    };
    let retry = |id, state: &str, arguments: &Value| retry_as("Bearer ta", id, state, arguments);
    // the state is bound to the grant it was issued to
    let r = retry_as("Bearer tb", 9, &state, &args);
    assert_eq!(
        r["result"]["_meta"]["warden/decision"]["code"], "approval_required",
        "{r}"
    );
    let mut tampered = state.clone();
    tampered.pop();
    tampered.push(if state.ends_with('0') { '1' } else { '0' });
    let r = retry(2, &tampered, &args);
    assert_eq!(
        r["result"]["_meta"]["warden/decision"]["code"], "approval_required",
        "{r}"
    );
    // the state is bound to the call: other arguments do not redeem it
    let r = retry(3, &state, &json!({"n": 8}));
    assert_eq!(
        r["result"]["_meta"]["warden/decision"]["code"], "approval_required",
        "{r}"
    );
    let r = retry(4, &state, &args);
    assert_eq!(r["result"]["content"][0]["text"], "approved 7", "{r}");
    // and it is used up
    let r = retry(5, &state, &args);
    assert_eq!(
        r["result"]["_meta"]["warden/decision"]["code"], "approval_required",
        "{r}"
    );
}

#[test]
fn foreign_origins_are_refused_on_a_loopback_listener() {
    let (_server, url) = upstream("fixture");
    let warden = Warden::start(&[
        "--upstream",
        &url,
        "--allowed-origin",
        "https://app.example",
    ]);
    let body = crate::support::modern_call(1, "echo", &json!({"message": "o"}), &json!({}));
    let modern = [
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "echo"),
    ];
    for (origin, status) in [
        ("http://evil.example", 403),
        ("http://localhost.evil.example:80", 403),
        ("http://localhost:5173", 200),
        ("http://[::1]:8080", 200),
        ("https://app.example", 200),
    ] {
        let mut h = post_headers(None, &modern);
        h.push(("Origin", origin));
        let r = request("POST", &warden.url, &h, &body, false);
        assert_eq!(r.status, status, "{origin}: {r:?}");
    }
}

#[test]
fn beyond_max_concurrent_callers_get_503_and_timeouts_release_slots() {
    let (_server, url) = upstream("fixture");
    let warden = Warden::start(&[
        "--upstream",
        &url,
        "--max-concurrent",
        "1",
        "--upstream-timeout",
        "2",
    ]);
    let url = warden.url.clone();
    // A slow call holds the only upstream slot, and times out.
    let slow = std::thread::spawn(move || {
        call_modern(&url, None, 1, "slow", &json!({"seconds": 6}), &json!({}))
    });
    warden.await_metric("warden_in_flight", 1.0);
    let r = call_modern(
        &warden.url,
        None,
        2,
        "echo",
        &json!({"message": "x"}),
        &json!({}),
    );
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.header("retry-after"), Some("1"));
    let timed_out = slow.join().unwrap().json();
    assert_eq!(timed_out["error"]["code"], -32603, "{timed_out}");
    assert!(
        timed_out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--upstream-timeout")
    );
    // `slow` allows one call a day per grant: the timed-out call gave its slot back.
    assert_slow_call_runs(&warden.url, 3);
    let third = call_modern(
        &warden.url,
        None,
        4,
        "slow",
        &json!({"seconds": 0}),
        &json!({}),
    )
    .json();
    assert_eq!(
        third["result"]["_meta"]["warden/decision"]["code"], "rate_limited",
        "{third}"
    );
    assert_eq!(
        warden.metric(r#"warden_http_errors_total{kind="overloaded"}"#),
        1.0
    );
    assert_eq!(
        warden.metric(r#"warden_http_errors_total{kind="upstream_timeout"}"#),
        1.0
    );
}

#[test]
fn a_client_that_leaves_before_the_answer_gives_its_call_s_slot_back() {
    use std::io::Write;
    let (_server, url) = upstream("fixture");
    let warden = Warden::start(&["--upstream", &url]);
    let host = warden
        .url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    // A slow call (one a day per grant) whose client goes away while the server works on it.
    let body = support::modern_call(1, "slow", &json!({"seconds": 3}), &json!({}));
    let mut head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in post_headers(
        None,
        &[
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "slow"),
        ],
    ) {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    let mut leaving = std::net::TcpStream::connect(&host).unwrap();
    leaving
        .write_all(format!("{head}\r\n{body}").as_bytes())
        .unwrap();
    warden.await_metric("warden_in_flight", 1.0);
    drop(leaving);
    warden.await_metric("warden_in_flight", 0.0);
    // The exchange ended with its upstream request dropped, as when the server's connection
    // breaks: the slot is given back and the next slow call of the grant runs.
    assert_slow_call_runs(&warden.url, 2);
}

/// A `slow` call (one a day per grant, tests/proxy_http/http.warden) is admitted and runs.
fn assert_slow_call_runs(url: &str, id: u64) {
    let r = call_modern(url, None, id, "slow", &json!({"seconds": 0}), &json!({})).json();
    assert_eq!(r["result"]["content"][0]["text"], "slept 0.0", "{r}");
}

#[test]
fn sessions_are_tracked_owned_by_their_grant_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = upstream("everything");
    let file = grants(dir.path(), &[("a", "ta"), ("b", "tb")], &[]);
    let warden = Warden::start(&["--upstream", &url, "--grants", &file]);
    let init = request(
        "POST",
        &warden.url,
        &post_headers(Some("Bearer ta"), &[]),
        INIT,
        false,
    );
    assert_eq!(init.status, 200, "{init:?}");
    assert_eq!(
        init.json()["result"]["serverInfo"]["name"],
        "mcp-servers/everything"
    );
    let sid = init.header("mcp-session-id").unwrap().to_string();
    assert_eq!(warden.metric("warden_sessions"), 1.0);
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    let with = |token: &'static str| {
        post_headers(
            Some(token),
            &[
                ("Mcp-Session-Id", sid.as_str()),
                ("MCP-Protocol-Version", "2025-11-25"),
            ],
        )
    };
    // another grant cannot use the session
    let r = request("POST", &warden.url, &with("Bearer tb"), list, false);
    assert_eq!(r.status, 404, "{r:?}");
    let r = request("POST", &warden.url, &with("Bearer ta"), list, false);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/event-stream")
    );
    let names: Vec<String> = r.json()["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        names.contains(&"echo".to_string()) && !names.contains(&"get-env".to_string()),
        "{names:?}"
    );
    // notifications get 202
    let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    assert_eq!(
        request("POST", &warden.url, &with("Bearer ta"), note, false).status,
        202
    );
    // Resumption: the list's answer began with a priming event; a GET with its id as
    // Last-Event-ID makes the server replay what followed it (the answer, filtered again).
    let priming = r
        .body
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .unwrap()
        .to_string();
    let mut h = with("Bearer ta");
    h.push(("Last-Event-ID", priming.as_str()));
    h.push(("Accept", "text/event-stream"));
    let replayed = crate::support::stream_until(&warden.url, &h, "\"tools\"");
    assert!(replayed.starts_with("HTTP/1.1 200"), "{replayed}");
    assert!(
        replayed.contains("\"echo\"") && !replayed.contains("get-env"),
        "{replayed}"
    );
    let del = request("DELETE", &warden.url, &with("Bearer ta"), "", false);
    assert_eq!(del.status, 200, "{del:?}");
    assert_eq!(warden.metric("warden_sessions"), 0.0);
    let r = request("POST", &warden.url, &with("Bearer ta"), list, false);
    assert_eq!(r.status, 404, "{r:?}");
}

#[test]
fn metrics_and_healthz_on_the_admin_listener() {
    let (_server, url) = upstream("fixture");
    let warden = Warden::start(&["--upstream", &url]);
    call_modern(
        &warden.url,
        None,
        1,
        "echo",
        &json!({"message": "m"}),
        &json!({}),
    );
    call_modern(&warden.url, None, 2, "get-env", &json!({}), &json!({}));
    let health = get(&format!("{}/healthz", warden.admin));
    assert_eq!(health.status, 200);
    assert!(health.body.starts_with("ok policy="), "{}", health.body);
    let text = warden.metrics();
    for series in [
        r#"warden_decisions_total{effect="allow",code="forwarded",rule="allow-echo"} 1"#,
        r#"warden_decisions_total{effect="deny",code="policy_denied",rule="no_env"} 1"#,
        r#"warden_reloads_total{result="ok"} 0"#,
        "warden_upstream_request_duration_seconds_count 1",
        "# TYPE warden_upstream_request_duration_seconds histogram",
        r#"warden_http_errors_total{kind="unauthorized"} 0"#,
    ] {
        assert!(text.contains(series), "{series} missing from\n{text}");
    }
}

#[test]
fn sigterm_drains_calls_in_flight() {
    let (_server, url) = upstream("fixture");
    let mut warden = Warden::start(&["--upstream", &url]);
    let endpoint = warden.url.clone();
    let slow = std::thread::spawn(move || {
        call_modern(
            &endpoint,
            None,
            1,
            "slow",
            &json!({"seconds": 1}),
            &json!({}),
        )
    });
    warden.await_metric("warden_in_flight", 1.0);
    let pid = nix::unistd::Pid::from_raw(warden.proc.0.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let done = slow.join().unwrap();
    assert_eq!(
        done.json()["result"]["content"][0]["text"],
        "slept 1.0",
        "{done:?}"
    );
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = warden.proc.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "warden did not exit: {}",
            warden.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}: {}", warden.stderr());
}

#[test]
fn a_public_listener_needs_grants() {
    let out = support::refused_start(&[
        "--listen",
        "0.0.0.0:0",
        "--upstream",
        "http://127.0.0.1:9/mcp",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("without --grants"));
}

#[test]
fn an_sse_answer_past_the_timeout_ends_with_an_error_event_and_frees_its_slot() {
    let (_server, url) = upstream("fixture");
    let warden = Warden::start(&["--upstream", &url, "--upstream-timeout", "2"]);
    // The handshake era: the fixture answers requests with SSE streams.
    let init = request("POST", &warden.url, &post_headers(None, &[]), INIT, false);
    let sid = init.header("mcp-session-id").unwrap().to_string();
    let headers = post_headers(
        None,
        &[
            ("Mcp-Session-Id", sid.as_str()),
            ("MCP-Protocol-Version", "2025-11-25"),
        ],
    );
    let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    assert_eq!(
        request("POST", &warden.url, &headers, note, false).status,
        202
    );
    let call = |id: u64, seconds: u64| {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"slow","arguments":{{"seconds":{seconds}}}}}}}"#
        );
        request("POST", &warden.url, &headers, &body, false)
    };
    let slow = call(2, 6);
    assert!(
        slow.header("content-type")
            .unwrap()
            .starts_with("text/event-stream"),
        "{slow:?}"
    );
    let error = slow.json();
    assert_eq!(error["id"], 2, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--upstream-timeout"),
        "{error}"
    );
    // `slow` allows one call a day per grant: the timed-out call gave its slot back.
    let again = call(3, 0).json();
    assert_eq!(
        again["result"]["content"][0]["text"], "slept 0.0",
        "{again}"
    );
    assert_eq!(
        warden.metric(r#"warden_http_errors_total{kind="upstream_timeout"}"#),
        1.0
    );
}

#[test]
fn grants_hash_prints_what_a_grants_file_stores() {
    use std::io::Write;
    let mut child = std::process::Command::new(crate::e2e::warden())
        .args(["grants", "hash"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    // the trailing newline of the input is not part of the token
    use sha2::Digest;
    let expected: String = sha2::Sha256::digest(b"s3cret")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expected);
}

#[test]
fn a_client_that_never_finishes_its_request_head_is_disconnected() {
    use std::io::{Read, Write};
    let (_server, url) = upstream("fixture");
    let warden = Warden::start(&["--upstream", &url, "--header-timeout", "1"]);
    let host = warden
        .url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap();
    let mut slow = std::net::TcpStream::connect(host).unwrap();
    slow.write_all(b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Ty")
        .unwrap();
    // The bound only keeps a broken build from hanging: warden closes after about a second.
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut answer = Vec::new();
    let read = slow.read_to_end(&mut answer);
    assert!(
        read.is_ok() || matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "the connection should be closed, not left open: {read:?}"
    );
    assert!(
        !answer.starts_with(b"HTTP/1.1 2"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // A connection that sends its request keeps working.
    let r = request("POST", &warden.url, &post_headers(None, &[]), INIT, false);
    assert_eq!(r.status, 200, "{r:?}");
}
