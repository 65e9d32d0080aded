//! The SDK's Streamable HTTP client through warden, against real servers over HTTP.

use crate::e2e::script;
use crate::support::{Warden, grants, upstream};
use serde_json::{Value, json};

/// Runs tests/e2e/http_client.py: the SDK client at URL in MODE with TOKEN, doing STEPS.
pub fn client(url: &str, mode: &str, token: &str, steps: &Value) -> Value {
    script("http_client", &[url, mode, token, &steps.to_string()])
}

/// The warden decision code of one SDK call result (empty when warden added none).
pub fn code(result: &Value) -> &str {
    result["meta"]["warden/decision"]["code"]
        .as_str()
        .unwrap_or("")
}

#[test]
fn everything_over_http_is_filtered_decided_and_streams_progress() {
    let (_server, url) = upstream("everything");
    let warden = Warden::start(&["--upstream", &url]);
    let steps = json!([
        ["list"],
        ["call", "echo", {"message": "through warden"}],
        ["call", "get-env", {}],
        ["call", "toggle-simulated-logging", {}],
        ["progress", "trigger-long-running-operation", {"duration": 1, "steps": 3}],
    ]);
    let out = client(&warden.url, "auto", "-", &steps);
    // The client in auto mode falls back to the handshake (server-everything has no discover).
    assert_eq!(out["protocol_version"], "2025-11-25");
    let r = &out["results"];
    let tools: Vec<&str> = r[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        tools.contains(&"echo") && tools.contains(&"get-sum"),
        "{tools:?}"
    );
    assert!(
        !tools.contains(&"get-env"),
        "denied for every call: not listed"
    );
    assert!(
        !tools.iter().any(|t| t.starts_with("toggle-")),
        "hidden: {tools:?}"
    );
    assert_eq!(r[1]["text"], "Echo: through warden");
    assert_eq!(r[1]["is_error"], false);
    assert_eq!(r[2]["is_error"], true);
    assert_eq!(code(&r[2]), "policy_denied");
    assert!(
        r[2]["text"]
            .as_str()
            .unwrap()
            .starts_with("[POLICY DENIED]")
    );
    assert_eq!(
        r[3]["error"]["code"], -32602,
        "a hidden tool is unknown: {}",
        r[3]
    );
    // server-everything answers over SSE: the progress events were relayed before the result.
    assert_eq!(r[4]["progress_before_result"], json!([1.0, 2.0, 3.0]));
    assert_eq!(r[4]["is_error"], false);
    assert_eq!(
        warden
            .metric(r#"warden_decisions_total{effect="deny",code="policy_denied",rule="no_env"}"#),
        1.0
    );
}

#[test]
fn the_fixture_speaks_both_eras_through_warden() {
    let (_server, url) = upstream("fixture");
    let warden = Warden::start(&["--upstream", &url]);
    let steps = json!([["list"], ["call", "echo", {"message": "m"}], ["call", "get-env", {}]]);
    let modern = client(&warden.url, "auto", "-", &steps);
    assert_eq!(modern["protocol_version"], "2026-07-28");
    let legacy = client(&warden.url, "legacy", "-", &steps);
    assert_eq!(legacy["protocol_version"], "2025-11-25");
    for out in [&modern, &legacy] {
        let r = &out["results"];
        let tools = r[0].as_array().unwrap();
        assert!(
            tools.contains(&json!("echo")) && !tools.contains(&json!("die")),
            "{tools:?}"
        );
        assert_eq!(r[1]["text"], "Echo: m");
        assert_eq!(code(&r[2]), "policy_denied");
        assert_eq!(r[2]["result_type"], "complete");
    }
}

#[test]
fn two_grants_share_one_warden_each_with_its_own_limits() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = upstream("everything");
    let file = grants(dir.path(), &[("ci", "token-ci"), ("ops", "token-ops")], &[]);
    let warden = Warden::start(&["--upstream", &url, "--grants", &file]);
    let call = json!(["call", "get-sum", {"a": 1, "b": 2}]);
    let steps = json!([call, call, call, call]);
    for token in ["token-ci", "token-ops"] {
        let out = client(&warden.url, "auto", token, &steps);
        let r = out["results"].as_array().unwrap();
        for allowed in &r[..3] {
            assert_eq!(allowed["is_error"], false, "{token}: {allowed}");
        }
        assert_eq!(code(&r[3]), "rate_limited", "{token}: {}", r[3]);
        assert!(r[3]["meta"]["warden/decision"]["retryAfterSeconds"].is_u64());
    }
    assert_eq!(
        warden.metric(r#"warden_limit_hits_total{rule="sums"}"#),
        2.0
    );
    assert_eq!(
        warden.metric(r#"warden_decisions_total{effect="allow",code="forwarded",rule="sums"}"#),
        6.0
    );
}

#[test]
fn the_client_authorization_stays_with_warden_and_upstream_credentials_are_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = upstream("fixture");
    let file = grants(
        dir.path(),
        &[("ci", "client-secret")],
        &[("X-Upstream-Key", "upstream-secret")],
    );
    let warden = Warden::start(&["--upstream", &url, "--grants", &file]);
    for mode in ["auto", "legacy"] {
        let out = client(
            &warden.url,
            mode,
            "client-secret",
            &json!([["call", "headers", {}]]),
        );
        let text = out["results"][0]["text"].as_str().unwrap();
        let seen: Value = serde_json::from_str(text).unwrap();
        assert_eq!(seen["x-upstream-key"], "upstream-secret", "{mode}: {seen}");
        assert!(seen.get("authorization").is_none(), "{mode}: {seen}");
        assert!(!text.contains("client-secret"), "{mode}: {text}");
    }
}

#[test]
fn approvals_in_both_eras() {
    let (_server, url) = upstream("fixture");
    let warden = Warden::start(&["--upstream", &url]);
    for mode in ["auto", "legacy"] {
        let steps = json!([
            ["approve", "approve_me", {"n": 1}, "accept"],
            ["approve", "approve_me", {"n": 2}, "decline"],
        ]);
        let out = client(&warden.url, mode, "-", &steps);
        let r = &out["results"];
        assert_eq!(r[0]["text"], "approved 1", "{mode}: {out}");
        assert_eq!(code(&r[1]), "approval_required", "{mode}: {out}");
        let prompts = out["prompts"].as_array().unwrap();
        assert_eq!(prompts.len(), 2, "{mode}: {out}");
        assert!(prompts[0].as_str().unwrap().contains("approve_me"));
    }
    assert_eq!(
        warden.metric(r#"warden_approvals_total{outcome="approved"}"#),
        2.0
    );
    assert_eq!(
        warden.metric(r#"warden_approvals_total{outcome="refused"}"#),
        2.0
    );
}
