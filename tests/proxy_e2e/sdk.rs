//! Scenarios driven by the official Python SDK client through warden to real servers: both
//! protocol eras, the Kestra policy, limits, approvals, hot reload, dry run. Each runs one
//! tests/e2e script and asserts on its JSON report.

use crate::support::{repo, script};
use serde_json::{Value, json};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn path(dir: &tempfile::TempDir) -> String {
    dir.path().display().to_string()
}

/// The `_meta["warden/decision"]` of a result, which must be warden's denial.
fn decision(result: &Value) -> &Value {
    assert_eq!(result["is_error"], true, "not a denial: {result}");
    assert!(
        result["text"]
            .as_str()
            .unwrap()
            .starts_with("[POLICY DENIED] "),
        "not a denial: {result}"
    );
    &result["meta"]["warden/decision"]
}

fn eras(server: &str, mode: &str, policy: &str, allowed: Value, denied: Value) -> Value {
    let dir = tmp();
    script(
        "eras",
        &[
            server,
            mode,
            &repo(policy),
            &allowed.to_string(),
            &denied.to_string(),
            &path(&dir),
        ],
    )
}

fn everything(mode: &str) -> Value {
    eras(
        "everything",
        mode,
        "examples/everything.warden",
        json!(["echo", {"message": "hello through warden"}]),
        json!(["get-env", {}]),
    )
}

fn time(mode: &str) -> Value {
    eras(
        "time",
        mode,
        "tests/e2e/time.warden",
        json!(["get_current_time", {"timezone": "Europe/Paris"}]),
        json!(["convert_time", {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}]),
    )
}

/// What the handshake-era reference server (server-everything) answers through warden.
fn assert_everything_calls(r: &Value) {
    assert_eq!(r["protocol_version"], "2025-11-25", "{r}");
    let tools = r["tools"].as_array().unwrap();
    assert!(tools.contains(&json!("echo")), "{r}");
    for dropped in [
        "get-env",
        "toggle-simulated-logging",
        "toggle-subscriber-updates",
    ] {
        assert!(!tools.contains(&json!(dropped)), "{dropped} listed: {r}");
    }
    assert_eq!(r["allowed"]["text"], "Echo: hello through warden", "{r}");
    assert_eq!(r["allowed"]["is_error"], false);
    let d = decision(&r["denied"]);
    assert_eq!(d["code"], "policy_denied");
    assert_eq!(d["rule"], "no_env");
    // Handshake-era results carry no resultType: warden knows which era the connection speaks.
    assert!(
        r["raw_denied"]["result"].get("resultType").is_none(),
        "a handshake-era denial carries resultType (the connection was taken for 2026-07-28): {}",
        r["raw_denied"]
    );
    let methods = r["server_methods"].as_array().unwrap();
    assert_eq!(
        methods.iter().filter(|m| *m == "tools/call").count(),
        1,
        "the denied call reached the server: {methods:?}"
    );
}

#[test]
fn auto_mode_against_a_handshake_server_falls_back_promptly() {
    let r = everything("auto");
    assert_everything_calls(&r);
    let methods = r["server_methods"].as_array().unwrap();
    assert_eq!(
        methods[..2],
        [json!("server/discover"), json!("initialize")],
        "{r}"
    );
    // Behaviour, not speed: a discover that warden dropped or held would stall the SDK for its
    // 10 s discover timeout before it falls back; relayed, the -32601 arrives at once.
    let opened = r["open_seconds"].as_f64().unwrap();
    assert!(
        opened < 6.0,
        "the session took {opened} s to open: server/discover was not answered promptly"
    );
}

#[test]
fn legacy_mode_against_a_handshake_server() {
    let r = everything("legacy");
    assert_everything_calls(&r);
    let methods = r["server_methods"].as_array().unwrap();
    assert_eq!(methods[0], "initialize", "{r}");
    assert!(!methods.contains(&json!("server/discover")), "{r}");
}

#[test]
fn auto_mode_against_a_2026_server_is_stateless_and_still_decided() {
    let r = time("auto");
    assert_eq!(r["protocol_version"], "2026-07-28", "{r}");
    // No initialize on the wire: the envelope era from the first message to the last.
    assert_eq!(
        r["server_methods"],
        json!(["server/discover", "tools/list", "tools/call"]),
        "{r}"
    );
    assert_eq!(r["tools"], json!(["get_current_time"]), "{r}");
    assert_eq!(r["allowed"]["is_error"], false, "{r}");
    assert!(
        r["allowed"]["text"]
            .as_str()
            .unwrap()
            .contains("Europe/Paris")
    );
    assert_eq!(r["raw_allowed"]["result"]["resultType"], "complete", "{r}");
    let d = decision(&r["denied"]);
    assert_eq!(d["code"], "policy_denied");
    assert_eq!(d["rule"], "no_convert");
    assert_eq!(
        r["raw_denied"]["result"]["resultType"], "complete",
        "a 2026-07-28 denial must carry resultType: {}",
        r["raw_denied"]
    );
}

#[test]
fn legacy_mode_against_a_2026_server_uses_the_handshake() {
    let r = time("legacy");
    assert_eq!(r["protocol_version"], "2025-11-25", "{r}");
    assert_eq!(
        r["server_methods"],
        json!([
            "initialize",
            "notifications/initialized",
            "tools/list",
            "tools/call"
        ]),
        "{r}"
    );
    assert_eq!(r["tools"], json!(["get_current_time"]), "{r}");
    assert_eq!(r["allowed"]["is_error"], false, "{r}");
    assert_eq!(decision(&r["denied"])["rule"], "no_convert");
    assert!(r["raw_denied"]["result"].get("resultType").is_none(), "{r}");
}

#[test]
fn kestra_behind_its_example_policy() {
    let dir = tmp();
    let r = script("kestra", &[&path(&dir)]);
    // Hidden tools and tools every call to which the policy denies are not listed.
    let tools = r["tools"].as_array().unwrap();
    for absent in [
        "invite_user",
        "manage_group",
        "manage_invitations",
        "manage_announcements",
        "generate_flow",
        "manage_tests",
        "manage_apps",
        "add_execution_labels",
        "change_taskrun_state",
        "resume_execution",
        "force_run_execution",
    ] {
        assert!(
            !tools.contains(&json!(absent)),
            "{absent} is listed: {tools:?}"
        );
    }
    for present in [
        "list_flows_in_namespace",
        "execute_flow",
        "manage_flow",
        "backfill_executions",
    ] {
        assert!(
            tools.contains(&json!(present)),
            "{present} is missing: {tools:?}"
        );
    }
    // Every kept tool is exactly what the server listed, in the server's order; every other
    // field of the result is untouched.
    let direct = &r["direct_list"]["result"];
    let proxied = &r["proxied_list"]["result"];
    let kept: Vec<&Value> = direct["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| tools.contains(&t["name"]))
        .collect();
    let proxied_tools: Vec<&Value> = proxied["tools"].as_array().unwrap().iter().collect();
    assert_eq!(proxied_tools, kept, "a kept tool was changed or reordered");
    let others = |v: &Value| {
        let mut o = v.as_object().unwrap().clone();
        o.remove("tools");
        o
    };
    assert_eq!(others(proxied), others(direct));
    // The allowed call reaches the server (no Kestra behind it: its own error comes back).
    assert_eq!(r["allowed"]["is_error"], true, "{r}");
    assert!(
        r["allowed"]["text"]
            .as_str()
            .unwrap()
            .contains("All connection attempts failed"),
        "{r}"
    );
    // The denied call is answered by warden with the rule that denied it...
    let d = decision(&r["denied"]);
    assert_eq!(d["code"], "policy_denied");
    assert_eq!(d["rule"], "billing");
    assert_eq!(
        r["denied"]["text"],
        "[POLICY DENIED] billing flows are run by the finance team only"
    );
    // ... a hidden tool is unknown ...
    assert_eq!(r["hidden"]["error"]["code"], -32602, "{r}");
    assert_eq!(r["hidden"]["error"]["message"], "Unknown tool: invite_user");
    // ... and neither ever reached the server.
    assert_eq!(r["server_calls"], json!(["list_flows_in_namespace"]), "{r}");
}
