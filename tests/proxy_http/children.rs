//! `--listen` in front of stdio servers: one child process per MCP session.

use crate::sdk::client;
use crate::support::{Warden, children_of, post_headers, request, stdio_server};
use serde_json::json;
use std::time::{Duration, Instant};

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;

fn start(server: &str) -> Warden {
    start_with(server, &[])
}

fn start_with(server: &str, options: &[&str]) -> Warden {
    let mut flags: Vec<String> = options.iter().map(|o| o.to_string()).collect();
    flags.push("--".to_string());
    flags.extend(stdio_server(server));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Warden::start(&flags)
}

fn await_children(warden: &Warden, n: usize) {
    let start = Instant::now();
    while children_of(warden.proc.0.id()) != n {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "warden never had {n} children"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn each_session_gets_its_own_child_which_ends_with_it() {
    let warden = start("everything");
    assert_eq!(children_of(warden.proc.0.id()), 0);
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let r = request("POST", &warden.url, &post_headers(None, &[]), INIT, false);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(
            r.json()["result"]["serverInfo"]["name"],
            "mcp-servers/everything"
        );
        sessions.push(r.header("mcp-session-id").unwrap().to_string());
    }
    await_children(&warden, 2);
    assert_ne!(sessions[0], sessions[1]);
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    let h0 = post_headers(None, &[("Mcp-Session-Id", sessions[0].as_str())]);
    let tools = request("POST", &warden.url, &h0, list, false).json();
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"echo") && !names.contains(&"get-env"),
        "{names:?}"
    );
    assert_eq!(request("DELETE", &warden.url, &h0, "", false).status, 200);
    await_children(&warden, 1);
    assert_eq!(request("POST", &warden.url, &h0, list, false).status, 404);
    assert_eq!(warden.metric("warden_sessions"), 1.0);
}

#[test]
fn the_sdk_client_through_stdio_children_in_both_eras() {
    let warden = start("everything");
    let steps = json!([
        ["list"],
        ["call", "echo", {"message": "child"}],
        ["call", "get-env", {}],
        ["progress", "trigger-long-running-operation", {"duration": 1, "steps": 2}],
    ]);
    let out = client(&warden.url, "auto", "-", &steps);
    assert_eq!(out["protocol_version"], "2025-11-25");
    let r = &out["results"];
    assert_eq!(r[1]["text"], "Echo: child");
    assert_eq!(r[2]["meta"]["warden/decision"]["code"], "policy_denied");
    assert_eq!(r[3]["progress_before_result"], json!([1.0, 2.0]));
    // The client ended its session (DELETE): its child is gone.
    await_children(&warden, 0);

    // The fixture speaks 2026-07-28: every request is a session of its own, with a child of
    // its own that ends with the answer.
    let fixture = start("fixture");
    let steps = json!([["list"], ["call", "echo", {"message": "m"}], ["approve", "approve_me", {"n": 4}, "accept"]]);
    let out = client(&fixture.url, "auto", "-", &steps);
    assert_eq!(out["protocol_version"], "2026-07-28");
    assert_eq!(out["results"][1]["text"], "Echo: m");
    assert_eq!(out["results"][2]["text"], "approved 4");
    await_children(&fixture, 0);
}

#[test]
fn an_idle_session_is_forgotten_and_its_child_stopped() {
    let warden = start_with("everything", &["--session-idle-timeout", "1"]);
    let r = request("POST", &warden.url, &post_headers(None, &[]), INIT, false);
    let sid = r.header("mcp-session-id").unwrap().to_string();
    await_children(&warden, 1);
    // Nothing more from the client: the session expires, and its child with it.
    await_children(&warden, 0);
    assert_eq!(warden.metric("warden_sessions"), 0.0);
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    let h = post_headers(None, &[("Mcp-Session-Id", sid.as_str())]);
    assert_eq!(request("POST", &warden.url, &h, list, false).status, 404);
}
