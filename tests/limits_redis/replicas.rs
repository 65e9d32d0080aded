//! Replicas sharing limits through one real Redis: the total admitted per grant per window is
//! the limit exactly, across processes; a frozen or stopped Redis makes limited calls fail
//! closed (`limit_state_unavailable`) while unlimited calls go on; warden recovers by itself.

use crate::server::{RedisServer, eventually};
use crate::support::{Wire, repo, script, server, tools_call, warden};
use serde_json::Value;
use std::time::Duration;

const LIMIT: usize = 7; // tests/e2e/replicas.warden: echo, 7 an hour per grant

#[test]
fn a_limit_holds_exactly_across_three_replicas_for_every_grant() {
    let redis = RedisServer::start();
    let url = redis.url();
    for attempt in 0..3 {
        let prefix = format!("replicas{attempt}:");
        // two grants × three wardens × five concurrent calls: 15 calls per grant for 7 slots
        let r = script("replicas", &[&url, &prefix, "alpha,beta", "3", "5"]);
        if r["hour_before"] != r["hour_after"] {
            continue; // the burst straddled an hour's edge: two windows, try again
        }
        let hour = r["hour_before"].as_u64().unwrap();
        for grant in ["alpha", "beta"] {
            let outcomes: Vec<&str> = r["outcomes"][grant]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o.as_str().unwrap())
                .collect();
            assert_eq!(outcomes.len(), 15, "{r}");
            let admitted = outcomes.iter().filter(|o| **o == "ok").count();
            let limited = outcomes.iter().filter(|o| **o == "rate_limited").count();
            assert_eq!(
                (admitted, limited),
                (LIMIT, 15 - LIMIT),
                "{grant}: {outcomes:?}"
            );
            let key = format!("{prefix}echo_rate:hour:{hour}:{grant}");
            assert_eq!(redis.get(&key), Some(LIMIT as u64), "{key}");
        }
        // `warden limits` shows the same counters
        let out = std::process::Command::new(warden())
            .args([
                "limits",
                "--state",
                &url,
                "--state-prefix",
                &prefix,
                "--json",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
        let cells: Vec<(&str, &str, u64)> = listed["counters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                assert_eq!(c["window"], "hour");
                assert_eq!(c["window_index"], hour);
                let expires = c["expires_in"].as_u64().unwrap();
                assert!(expires > 60 && expires <= 3660, "{c}");
                (
                    c["counter"].as_str().unwrap(),
                    c["scope_value"].as_str().unwrap(),
                    c["count"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(cells, [("echo_rate", "alpha", 7), ("echo_rate", "beta", 7)]);
        return;
    }
    panic!("every attempt straddled an hour's edge");
}

fn proxy(redis_url: &str, prefix: &str, extra: &[&str]) -> Wire {
    let policy = repo("tests/e2e/replicas.warden");
    let mut flags = vec![
        "--policy",
        &policy,
        "--grant",
        "g",
        "--state",
        redis_url,
        "--state-prefix",
        prefix,
        "--state-timeout-ms",
        "100",
    ];
    flags.extend_from_slice(extra);
    let mut w = Wire::start(&flags, &server("fixture", None));
    w.initialize("2025-06-18");
    w
}

/// Sends a call and returns `ok` (the server's text) or the denial code.
fn call(w: &mut Wire, id: &mut u64, tool: &str, arguments: &str) -> String {
    *id += 1;
    let answer = w.request(&tools_call(&id.to_string(), tool, arguments));
    let result = &answer["result"];
    if result["isError"] == false {
        return format!("ok {}", result["content"][0]["text"].as_str().unwrap_or(""));
    }
    let decision = &result["_meta"]["warden/decision"];
    if decision["code"] == "limit_state_unavailable" {
        assert!(
            result["content"][0]["text"]
                .as_str()
                .unwrap()
                .starts_with("[POLICY DENIED] the shared limit state is unavailable"),
            "{answer}"
        );
        assert_eq!(decision["rule"], "allow-echo", "{answer}");
        assert_eq!(decision["retryAfterSeconds"], 1, "{answer}");
    }
    decision["code"]
        .as_str()
        .map_or_else(|| answer.to_string(), str::to_string)
}

fn echo(w: &mut Wire, id: &mut u64) -> String {
    call(w, id, "echo", r#"{"message":"hi"}"#)
}

/// Retries `echo` until warden admits it again; returns how many were refused meanwhile.
fn until_admitted(w: &mut Wire, id: &mut u64) -> usize {
    let mut refused = 0;
    eventually(Duration::from_secs(10), "recovery", || {
        let outcome = echo(w, id);
        if outcome == "ok Echo: hi" {
            return Some(());
        }
        assert_eq!(outcome, "limit_state_unavailable");
        refused += 1;
        None
    });
    refused
}

#[test]
fn redis_faults_fail_closed_and_recover_without_losing_counts() {
    let mut redis = RedisServer::start();
    let prefix = "faults:";
    let mut w = proxy(&redis.url(), prefix, &[]);
    let mut id = 0;
    let hour = || crate::script::hour_now();
    let key = |h: u64| format!("{prefix}echo_rate:hour:{h}:g");
    let start_hour = hour();
    assert_eq!(echo(&mut w, &mut id), "ok Echo: hi");
    assert_eq!(echo(&mut w, &mut id), "ok Echo: hi");
    assert_eq!(redis.get(&key(start_hour)), Some(2));

    // Frozen: the limited call times out and is denied; an unlimited one goes on.
    redis.pause();
    assert_eq!(echo(&mut w, &mut id), "limit_state_unavailable");
    assert_eq!(
        call(&mut w, &mut id, "slow", r#"{"seconds":0}"#),
        "ok slept 0.0"
    );
    redis.resume();
    until_admitted(&mut w, &mut id);
    if hour() == start_hour {
        // Nothing lost: the two earlier calls still count, plus the one admitted now; the
        // reservation whose answer timed out ran when Redis woke up and counts too (the call
        // was not forwarded: the documented cost of a lost answer is one slot).
        let count = redis.get(&key(start_hour)).unwrap();
        assert!((3..=4).contains(&count), "{count}");
    }

    // Stopped: refused at once; started again (empty: no persistence): recovered.
    redis.stop();
    assert_eq!(echo(&mut w, &mut id), "limit_state_unavailable");
    assert_eq!(
        call(&mut w, &mut id, "slow", r#"{"seconds":0}"#),
        "ok slept 0.0"
    );
    redis.restart();
    until_admitted(&mut w, &mut id);
    let h = hour();
    assert_eq!(
        redis.get(&key(h)),
        Some(1),
        "exactly the call admitted since the restart"
    );
    assert!(w.stderr().contains("is reachable again"), "{}", w.stderr());
}

#[test]
fn fail_open_admits_calls_uncounted_and_says_so_loudly() {
    let redis = RedisServer::start();
    let url = redis.url();
    drop(redis); // nothing listens on this port any more
    let mut w = proxy(&url, "open:", &["--state-fail-mode", "open"]);
    let mut id = 0;
    for _ in 0..(LIMIT + 2) {
        assert_eq!(echo(&mut w, &mut id), "ok Echo: hi");
    }
    let stderr = w.stderr();
    assert!(
        stderr.contains("WARNING: limit state unavailable, the call was admitted without counting"),
        "{stderr}"
    );
}

const RELOAD_A: &str =
    "policy r {\n  default deny\n  allow echo limit 3 per day per grant as echo_rate\n}\n";
/// The same counter under another rule, at another position, with another rule before it.
const RELOAD_B: &str = "policy r {\n  default deny\n  allow slow\n  named: allow echo when args.message != \"x\" limit 3 per day per grant as echo_rate\n}\n";

#[test]
fn a_reload_keeps_the_shared_counters() {
    let redis = RedisServer::start();
    for attempt in 0..2 {
        let day = crate::script::hour_now() / 24;
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("policy.warden");
        std::fs::write(&policy, RELOAD_A).unwrap();
        let prefix = format!("reload{attempt}:");
        let policy_arg = policy.display().to_string();
        let url = redis.url();
        let flags = [
            "--policy",
            &policy_arg,
            "--grant",
            "g",
            "--state",
            &url,
            "--state-prefix",
            &prefix,
            "--reload-interval-ms",
            "50",
        ];
        let mut w = Wire::start(&flags, &server("fixture", None));
        w.initialize("2025-06-18");
        let mut id = 0;
        assert_eq!(echo(&mut w, &mut id), "ok Echo: hi");
        assert_eq!(echo(&mut w, &mut id), "ok Echo: hi");
        let tmp = dir.path().join("policy.tmp");
        std::fs::write(&tmp, RELOAD_B).unwrap();
        std::fs::rename(&tmp, &policy).unwrap();
        eventually(Duration::from_secs(10), "the reload", || {
            w.stderr().contains("warden: reloaded").then_some(())
        });
        // the rule that decides is another one now, the counter is the same
        assert_eq!(echo(&mut w, &mut id), "ok Echo: hi");
        assert_eq!(echo(&mut w, &mut id), "rate_limited");
        // and a replica started with the new policy shares it
        let mut other = Wire::start(&flags, &server("fixture", None));
        other.initialize("2025-06-18");
        assert_eq!(echo(&mut other, &mut id), "rate_limited");
        if crate::script::hour_now() / 24 != day {
            continue; // the test straddled midnight UTC: two windows, try again
        }
        assert_eq!(
            redis.get(&format!("{prefix}echo_rate:day:{day}:g")),
            Some(3)
        );
        return;
    }
    panic!("every attempt straddled midnight UTC");
}
