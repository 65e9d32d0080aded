//! Load and reload over HTTP: many clients and grants at once against server-everything, with
//! limits that must hold exactly, and a policy changed under a running warden.

use crate::support::{Warden, grants, post_headers, request, upstream};
use std::sync::Arc;

const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"load","version":"1"}}}"#;
const GRANTS: usize = 4;
const CLIENTS: usize = 32;
const CALLS: usize = 625; // per client: 20,000 in all, 5,000 per grant
const MAX: usize = 4000; // per grant (tests/proxy_http/load.warden)

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// One client: a session of its own, then N get-sum calls; (allowed, rate limited).
fn client(url: &str, token: &str, n: usize) -> (usize, usize) {
    let auth = format!("Bearer {token}");
    let init = request("POST", url, &post_headers(Some(&auth), &[]), INIT, false);
    assert_eq!(init.status, 200, "{init:?}");
    let sid = init.header("mcp-session-id").unwrap().to_string();
    let headers = post_headers(
        Some(&auth),
        &[
            ("Mcp-Session-Id", &sid),
            ("MCP-Protocol-Version", "2025-11-25"),
        ],
    );
    let (mut allowed, mut limited) = (0, 0);
    for i in 1..=n {
        let call = format!(
            r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/call","params":{{"name":"get-sum","arguments":{{"a":{i},"b":1}}}}}}"#
        );
        let r = request("POST", url, &headers, &call, false);
        assert_eq!(r.status, 200, "{r:?}");
        let v = r.json();
        assert_eq!(v["id"], i, "{v}");
        match v["result"]["_meta"]["warden/decision"]["code"].as_str() {
            None => {
                let text = v["result"]["content"][0]["text"]
                    .as_str()
                    .unwrap_or_default();
                assert!(text.contains(&(i + 1).to_string()), "{v}");
                allowed += 1;
            }
            Some("rate_limited") => limited += 1,
            Some(other) => panic!("unexpected {other}: {v}"),
        }
    }
    request("DELETE", url, &headers, "", false);
    (allowed, limited)
}

/// Runs one half: every client makes `n` calls; returns per grant (allowed, limited).
fn half(url: &Arc<String>, n: usize) -> Vec<(usize, usize)> {
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let url = url.clone();
            std::thread::spawn(move || {
                (
                    c % GRANTS,
                    client(&url, &format!("token-{}", c % GRANTS), n),
                )
            })
        })
        .collect();
    let mut per_grant = vec![(0, 0); GRANTS];
    for t in threads {
        let (g, (a, l)) = t.join().unwrap();
        per_grant[g].0 += a;
        per_grant[g].1 += l;
    }
    per_grant
}

#[test]
fn twenty_thousand_calls_from_32_clients_across_4_grants_honour_every_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = upstream("everything");
    let tokens: Vec<(String, String)> = (0..GRANTS)
        .map(|g| (format!("g{g}"), format!("token-{g}")))
        .collect();
    let pairs: Vec<(&str, &str)> = tokens
        .iter()
        .map(|(g, t)| (g.as_str(), t.as_str()))
        .collect();
    let file = grants(dir.path(), &pairs, &[]);
    let policy = crate::e2e::repo("tests/proxy_http/load.warden");
    let warden = Warden::with_policy(&policy, &["--upstream", &url, "--grants", &file]);
    let endpoint = Arc::new(warden.url.clone());
    let pid = warden.proc.0.id();
    let first = half(&endpoint, CALLS / 2);
    let rss_first = rss_kib(pid);
    let second = half(&endpoint, CALLS - CALLS / 2);
    let rss_second = rss_kib(pid);
    for g in 0..GRANTS {
        let allowed = first[g].0 + second[g].0;
        let limited = first[g].1 + second[g].1;
        assert_eq!(allowed + limited, CALLS * CLIENTS / GRANTS, "grant {g}");
        assert_eq!(allowed, MAX, "grant {g}: no over- or under-admission");
    }
    // The second half (sessions opened and closed, calls mostly refused) leaves no growth.
    assert!(
        rss_second <= rss_first + 8 * 1024,
        "warden grew from {rss_first} KiB to {rss_second} KiB"
    );
    assert_eq!(warden.metric("warden_sessions"), 0.0);
    assert_eq!(
        warden.metric(r#"warden_limit_hits_total{rule="allow-get-sum"}"#),
        (CALLS * CLIENTS - MAX * GRANTS) as f64
    );
    assert_eq!(
        warden.metric(r#"warden_http_errors_total{kind="upstream"}"#),
        0.0
    );
}

#[test]
fn a_changed_policy_applies_to_the_next_call_and_a_broken_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.warden");
    std::fs::write(&policy, "policy p {\n  default deny\n  allow echo\n}\n").unwrap();
    let (_server, url) = upstream("fixture");
    let warden = Warden::with_policy(
        policy.to_str().unwrap(),
        &["--upstream", &url, "--reload-interval-ms", "50"],
    );
    let echo = |id| {
        crate::support::call_modern(
            &warden.url,
            None,
            id,
            "echo",
            &serde_json::json!({"message": "r"}),
            &serde_json::json!({}),
        )
        .json()
    };
    assert_eq!(echo(1)["result"]["content"][0]["text"], "Echo: r");
    std::fs::write(
        &policy,
        "policy p {\n  default deny\n  deny echo because \"closed\"\n}\n",
    )
    .unwrap();
    warden.await_metric(r#"warden_reloads_total{result="ok"}"#, 1.0);
    assert_eq!(
        echo(2)["result"]["_meta"]["warden/decision"]["code"],
        "policy_denied"
    );
    std::fs::write(&policy, "policy p {\n  allow echo when args.n > \n}\n").unwrap();
    warden.await_metric(r#"warden_reloads_total{result="refused"}"#, 1.0);
    assert_eq!(
        echo(3)["result"]["_meta"]["warden/decision"]["code"],
        "policy_denied",
        "the old policy stays"
    );
}
