//! What the policy enforces over a live SDK session: limits and their two-phase accounting,
//! approvals through the client's elicitation callback (both eras), hot reload, dry run.

use crate::support::script;
use serde_json::{Value, json};

fn run(name: &str, args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let mut all: Vec<&str> = args.to_vec();
    let path = dir.path().display().to_string();
    all.push(&path);
    script(name, &all)
}

fn code(result: &Value) -> &Value {
    &result["meta"]["warden/decision"]["code"]
}

#[test]
fn a_limit_trips_at_max_plus_one_and_recovers_in_the_next_window() {
    let r = run("limits", &[]);
    let burst = r["burst"].as_array().unwrap();
    for ok in &burst[..3] {
        assert_eq!(ok["is_error"], false, "{r}");
    }
    let refused = &burst[3];
    assert_eq!(code(refused), "rate_limited", "{r}");
    let d = &refused["meta"]["warden/decision"];
    assert_eq!(d["rule"], "allow-echo");
    assert_eq!(d["retryAfterSeconds"], 1, "{d}");
    assert!(
        refused["text"]
            .as_str()
            .unwrap()
            .starts_with("[POLICY DENIED] rate limit")
    );
    assert_eq!(r["recovered"]["text"], "Echo: next window", "{r}");
    // The refused call never reached the server.
    let calls = r["server_calls"].as_array().unwrap();
    assert!(
        !calls.contains(&json!(["echo", r["refused_message"]])),
        "the refused call reached the server: {calls:?}"
    );
    // `fail` may run once a day, but each call ends in a JSON-RPC error, which gives its slot
    // back: all three reach the server and get its error, none is rate limited.
    for failure in r["failures"].as_array().unwrap() {
        assert_eq!(failure["error"]["code"], -32000, "{r}");
        assert_eq!(failure["error"]["message"], "fixture failure");
    }
    let fails = calls.iter().filter(|c| c[0] == "fail").count();
    assert_eq!(fails, 3, "{calls:?}");
}

/// Accepted → forwarded and answered by the server; declined → approval_required; a client
/// without the elicitation capability → approval_required without a prompt.
fn assert_approvals(r: &Value, answer: &str) {
    let accepted = &r["accepted"];
    assert_eq!(accepted["result"]["is_error"], false, "{r}");
    assert_eq!(accepted["result"]["text"], answer, "{r}");
    assert_eq!(accepted["prompts"].as_array().unwrap().len(), 1, "{r}");
    assert!(
        accepted["prompts"][0]
            .as_str()
            .unwrap()
            .contains("a person confirms each call")
    );
    let codes = |s: &Value| -> Vec<Value> {
        s["audit"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["code"].clone())
            .collect()
    };
    assert_eq!(
        codes(accepted),
        [json!("approval_requested"), json!("forwarded")]
    );

    let declined = &r["declined"];
    assert_eq!(code(&declined["result"]), "approval_required", "{r}");
    assert_eq!(declined["result"]["meta"]["warden/decision"]["rule"], "ask");
    assert_eq!(declined["prompts"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(
        codes(declined),
        [json!("approval_requested"), json!("approval_required")]
    );

    let incapable = &r["incapable"];
    assert_eq!(code(&incapable["result"]), "approval_required", "{r}");
    assert_eq!(
        incapable["asked_on_wire"], 0,
        "warden prompted a client that cannot answer: {r}"
    );
    assert_eq!(codes(incapable), [json!("approval_required")]);
}

#[test]
fn approval_in_the_handshake_era() {
    let r = run(
        "approval",
        &["legacy", "fixture", "approve_me", r#"{"n": 7}"#],
    );
    assert_eq!(r["accepted"]["protocol_version"], "2025-11-25");
    assert_approvals(&r, "approved 7");
}

#[test]
fn approval_in_the_2026_era_through_input_required() {
    let r = run(
        "approval",
        &["auto", "fixture", "approve_me", r#"{"n": 7}"#],
    );
    assert_eq!(r["accepted"]["protocol_version"], "2026-07-28");
    assert_approvals(&r, "approved 7");
}

#[test]
fn approval_after_the_auto_mode_fell_back_to_the_handshake() {
    let r = run(
        "approval",
        &["auto", "everything", "get-sum", r#"{"a": 2, "b": 40}"#],
    );
    assert_eq!(r["accepted"]["protocol_version"], "2025-11-25");
    assert_approvals(&r, "The sum of 2 and 40 is 42.");
}

#[test]
fn hot_reload_changes_decisions_on_the_same_connection() {
    let r = run("reload", &[]);
    for ok in r["a_echo"].as_array().unwrap() {
        assert_eq!(ok["is_error"], false, "{r}");
    }
    assert_eq!(r["a_approve_me"]["text"], "approved 1", "{r}");
    // Policy B, same session: the call that was allowed is now denied by the new rule.
    assert_eq!(code(&r["b_approve_me"]), "policy_denied", "{r}");
    assert_eq!(
        r["b_approve_me"]["meta"]["warden/decision"]["rule"],
        "switched_off"
    );
    // Counters survived: two calls under A plus one under B fill the limit of 3.
    assert_eq!(r["b_echo"][0]["is_error"], false, "{r}");
    assert_eq!(
        code(&r["b_echo"][1]),
        "rate_limited",
        "counters were reset by the reload: {r}"
    );
    // The broken file is refused and B stays.
    let reloads = r["reloads"].as_array().unwrap();
    assert_eq!(reloads.len(), 2, "{reloads:?}");
    assert_eq!(reloads[0]["ok"], true);
    assert_eq!(reloads[1]["ok"], false);
    assert!(
        reloads[1]["error"].as_str().unwrap().contains("error"),
        "{reloads:?}"
    );
    assert_eq!(
        r["broken_approve_me"]["meta"]["warden/decision"]["rule"], "switched_off",
        "{r}"
    );
    assert_eq!(code(&r["broken_echo"]), "rate_limited", "{r}");
}

#[test]
fn dry_run_forwards_and_logs_the_would_be_denial_without_values() {
    let secret = "sk-live-7f3a9c-DO-NOT-LOG";
    let r = run("dry_run", &[secret]);
    // Nothing is enforced: the denied tool is listed, called, and answered by the server.
    assert!(
        r["tools"].as_array().unwrap().contains(&json!("echo")),
        "{r}"
    );
    assert_eq!(r["echoed"]["is_error"], false, "{r}");
    assert_eq!(r["echoed"]["text"], format!("Echo: {secret}"));
    assert!(
        r["server_methods"]
            .as_array()
            .unwrap()
            .contains(&json!("tools/call"))
    );
    let text = r["audit_text"].as_str().unwrap();
    let entries: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let echo = entries
        .iter()
        .find(|e| e["tool"] == "echo")
        .unwrap_or_else(|| panic!("no audit entry for echo: {text}"));
    assert_eq!(echo["decision"], "deny", "{echo}");
    assert_eq!(echo["code"], "policy_denied");
    assert_eq!(echo["rule"], "shadowed");
    assert_eq!(echo["dry_run"], true);
    assert_eq!(echo["argument_keys"], json!(["message"]));
    // The class of echo's definition in server-everything's tools/list.
    let risk = echo["risk"].as_str().unwrap_or_default();
    assert!(warden::risk::Risk::from_name(risk).is_some(), "{echo}");
    assert!(echo["latency_ns"].as_u64().is_some(), "{echo}");
    assert!(
        !text.contains(secret),
        "an argument value reached the audit log: {text}"
    );
}
