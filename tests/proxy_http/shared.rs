//! What several HTTP wardens, or many stateless requests, share: limits counted in one Redis
//! by three replicas in front of one server-everything, `/healthz` reporting the counter store,
//! and tool pinning seen by 2026-07-28 requests (each a session of its own).

use crate::redis::RedisServer;
use crate::sdk::{client, code};
use crate::support::{Warden, call_modern, get, grants, upstream};
use serde_json::{Value, json};

/// Three replicas, two grants, one server-everything, one Redis: per grant, exactly the
/// limit's three calls get through across the replicas, whichever replica they reach, while
/// both grants' clients run at once.
#[test]
fn replicas_share_one_limit_per_grant_through_redis() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = upstream("everything");
    let file = grants(dir.path(), &[("ci", "token-ci"), ("ops", "token-ops")], &[]);
    let state = redis.url();
    let flags = [
        "--upstream",
        url.as_str(),
        "--grants",
        file.as_str(),
        "--state",
        state.as_str(),
        "--state-prefix",
        "http-replicas:",
        // exactness, not timing, is under test: a slow Redis answer on a loaded machine must
        // not become limit_state_unavailable
        "--state-timeout-ms",
        "2000",
    ];
    let replicas: Vec<Warden> = (0..3).map(|_| Warden::start(&flags)).collect();
    let call = json!(["call", "get-sum", {"a": 1, "b": 2}]);
    let steps = json!([call, call]);
    // Each grant's client calls twice through every replica: 6 calls a grant, limit 3.
    let results: Vec<(String, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = ["token-ci", "token-ops"]
            .into_iter()
            .flat_map(|token| replicas.iter().map(move |w| (token, w)))
            .map(|(token, w)| {
                let steps = &steps;
                scope.spawn(move || (token.to_string(), client(&w.url, "auto", token, steps)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for token in ["token-ci", "token-ops"] {
        let outcomes: Vec<&Value> = results
            .iter()
            .filter(|(t, _)| t == token)
            .flat_map(|(_, out)| out["results"].as_array().unwrap())
            .collect();
        assert_eq!(outcomes.len(), 6);
        let admitted = outcomes.iter().filter(|r| r["is_error"] == false).count();
        let limited = outcomes
            .iter()
            .filter(|r| code(r) == "rate_limited")
            .count();
        assert_eq!((admitted, limited), (3, 3), "{token}: {outcomes:?}");
    }
    // Redis holds one counter cell per grant, each at the limit.
    let keys = redis.keys("http-replicas:");
    assert_eq!(keys.len(), 2, "{keys:?}");
    for key in &keys {
        assert_eq!(redis.get(key), Some(3), "{key}");
    }
    // Every replica's health names the shared store.
    for w in &replicas {
        let health = get(&format!("{}/healthz", w.admin));
        assert_eq!(health.status, 200, "{}", health.body);
        assert!(health.body.contains("state=redis"), "{}", health.body);
    }
}

/// With Redis gone a replica that fails closed reports itself unavailable, so a load balancer
/// sends callers elsewhere; once Redis is back it is healthy again.
#[test]
fn healthz_follows_the_counter_store() {
    let mut redis = RedisServer::start();
    let (_server, url) = upstream("fixture");
    let state = redis.url();
    let warden = Warden::start(&["--upstream", &url, "--state", &state]);
    let health = || get(&format!("{}/healthz", warden.admin));
    assert_eq!(health().status, 200);
    redis.stop();
    let down = health();
    assert_eq!(down.status, 503, "{}", down.body);
    assert!(
        down.body.contains("calls under a limit are denied"),
        "{}",
        down.body
    );
    redis.restart();
    let start = std::time::Instant::now();
    while health().status != 200 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "warden did not see Redis come back"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Pinning over HTTP: a 2026-07-28 request is a session of its own, and still sees what an
/// earlier request's tools/list showed; a changed definition is refused for every request.
#[test]
fn pins_hold_across_stateless_requests() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = upstream("fixture");
    // Pin echo with the definition the fixture serves, and headers with another one.
    let listed = client_tools(&url);
    let echo = listed.iter().find(|t| t["name"] == "echo").unwrap().clone();
    let mut changed = listed
        .iter()
        .find(|t| t["name"] == "headers")
        .unwrap()
        .clone();
    changed["description"] = json!("what the reviewer saw");
    let catalog = dir.path().join("pins.json");
    std::fs::write(&catalog, json!({"tools": [echo, changed]}).to_string()).unwrap();
    let warden = Warden::start(&["--upstream", &url, "--catalog", catalog.to_str().unwrap()]);
    // Before any tools/list, a pinned tool cannot be checked.
    let early = call_modern(
        &warden.url,
        None,
        1,
        "echo",
        &json!({"message": "m"}),
        &json!({}),
    );
    assert_eq!(meta_code(&early.json()), "tool_unverified");
    // One request lists; later requests (new sessions) are decided with what it showed.
    let out = client(&warden.url, "auto", "-", &json!([["list"]]));
    let names = out["results"][0].as_array().unwrap();
    assert!(names.contains(&json!("echo")), "{names:?}");
    assert!(
        !names.contains(&json!("headers")),
        "changed, hidden: {names:?}"
    );
    let ok = call_modern(
        &warden.url,
        None,
        2,
        "echo",
        &json!({"message": "m"}),
        &json!({}),
    );
    assert_eq!(meta_code(&ok.json()), "", "forwarded: {}", ok.body);
    let refused = call_modern(&warden.url, None, 3, "headers", &json!({}), &json!({}));
    assert_eq!(
        meta_code(&refused.json()),
        "tool_changed",
        "{}",
        refused.body
    );
}

fn meta_code(reply: &Value) -> String {
    reply["result"]["_meta"]["warden/decision"]["code"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// The fixture's tool definitions as `warden catalog --url` takes them (no warden in
/// between), as bare `tools/list` entries.
fn client_tools(url: &str) -> Vec<Value> {
    let out = std::process::Command::new(crate::e2e::warden())
        .args(["catalog", "--url", url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let catalog: Value = serde_json::from_slice(&out.stdout).unwrap();
    catalog["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let mut t = t.clone();
            for derived in ["hash", "risk", "riskReason"] {
                t.as_object_mut().unwrap().remove(derived);
            }
            t
        })
        .collect()
}
