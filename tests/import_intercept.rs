//! `warden import` of Intercept's YAML policies: the imported policy decides calls as
//! Intercept's documented evaluation does (tool rules, then wildcard rules; every rule must
//! pass; `default: deny` refuses unlisted tools before any rule), and what has no warden form
//! is an error naming its place in the document.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails loudly on a bad fixture"
)]

use serde_json::json;
use std::path::{Path, PathBuf};
use warden::backend::import::intercept::import;
use warden::call::Call;
use warden::eval::{Decider, evaluate};
use warden::ir::{Effect, Policy};
use warden::pipeline::Workspace;

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/intercept")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// Imports, then lowers the result (which must have no diagnostics but warnings-free lowering).
fn imported(name: &str) -> (String, Policy) {
    let out = import(&fixture(name), "p").unwrap_or_else(|e| panic!("{name}: {e:?}"));
    let mut ws = Workspace::default();
    ws.add_source(Path::new("imported.warden"), out.source.clone());
    assert!(!ws.has_errors(), "{}", out.source);
    (out.source, ws.files[0].policy.clone().unwrap())
}

fn call(tool: &str, args: serde_json::Value) -> Call {
    Call {
        arguments: Some(args),
        ..Call::new(tool)
    }
}

/// (effect, deciding rule id, reason, counters of the limits that apply)
fn decide(policy: &Policy, c: &Call) -> (Effect, String, Option<String>, Vec<String>) {
    let d = evaluate(policy, c);
    let (id, reason) = match d.decider {
        Decider::Default => ("default".to_string(), None),
        Decider::Rule(i) => (policy.rules[i].id.clone(), policy.rules[i].reason.clone()),
    };
    let counters = d
        .limits
        .iter()
        .map(|l| policy.rules[l.rule].limits[l.limit].counter.clone())
        .collect();
    (d.effect, id, reason, counters)
}

#[test]
fn github_policy_under_default_allow() {
    let (source, p) = imported("github.yaml");
    insta::assert_snapshot!("github", source);
    // A listed tool counts against its own limit and the wildcard one.
    let (e, _, _, limits) = decide(&p, &call("create_issue", json!({"title": "x"})));
    assert_eq!(e, Effect::Allow);
    assert_eq!(limits, ["create_issue_rate_hour", "rate_minute"]);
    // An unlisted tool is allowed (default allow), under the wildcard limit only.
    let (e, _, _, limits) = decide(&p, &call("search_code", json!({})));
    assert_eq!(e, Effect::Allow);
    assert_eq!(limits, ["rate_minute"]);
    // An `action: deny` rule denies with its message.
    let (e, id, reason, _) = decide(&p, &call("delete_repository", json!({})));
    assert_eq!((e, id.as_str()), (Effect::Deny, "block_repo_deletion"));
    assert_eq!(
        reason.as_deref(),
        Some("Repository deletion is not permitted via AI agents")
    );
    assert_eq!(
        decide(&p, &call("list_webhooks", json!({}))).0,
        Effect::Hide
    );
}

#[test]
fn stripe_policy_under_default_deny() {
    let (source, p) = imported("stripe.yaml");
    insta::assert_snapshot!("stripe", source);
    let ok = json!({"amount": 100, "currency": "usd", "livemode": true});
    let (e, _, _, limits) = decide(&p, &call("create_charge", ok));
    assert_eq!(e, Effect::Allow);
    assert_eq!(limits, ["calls_per_minute"]);
    // Every rule must pass; the first failing rule's message is the reason.
    let big = json!({"amount": 60000, "currency": "gbp", "livemode": true});
    let (e, id, reason, _) = decide(&p, &call("create_charge", big));
    assert_eq!((e, id.as_str()), (Effect::Deny, "max_single_charge"));
    assert_eq!(
        reason.as_deref(),
        Some("Single charge cannot exceed $500.00")
    );
    let gbp = json!({"amount": 10, "currency": "gbp", "livemode": true});
    assert_eq!(
        decide(&p, &call("create_charge", gbp)).1,
        "allowed_currencies"
    );
    // A missing argument fails its condition, as in Intercept: the call is denied.
    let (e, id, _, _) = decide(
        &p,
        &call(
            "create_charge",
            json!({"currency": "usd", "livemode": true}),
        ),
    );
    assert_eq!((e, id.as_str()), (Effect::Deny, "max_single_charge"));
    // Wildcard conditions apply to listed tools after their own rules.
    let test_mode = json!({"amount": 10, "currency": "usd", "livemode": false});
    assert_eq!(
        decide(&p, &call("create_charge", test_mode)).1,
        "no_test_mode"
    );
    // Counter conditions become limits on the tool's allow.
    let (e, _, _, limits) = decide(
        &p,
        &call("create_refund", json!({"amount": 5, "livemode": true})),
    );
    assert_eq!(e, Effect::Allow);
    assert_eq!(limits, ["create_refund_daily_count", "calls_per_minute"]);
    // Unlisted tools are denied before any rule, wildcard rules included.
    let (e, id, _, _) = decide(&p, &call("list_customers", json!({"livemode": false})));
    assert_eq!((e, id.as_str()), (Effect::Deny, "default"));
    let (e, id, _, _) = decide(&p, &call("delete_customer", json!({})));
    assert_eq!((e, id.as_str()), (Effect::Deny, "block_destructive_action"));
}

#[test]
fn the_limits_are_the_counted_bounds() {
    // `lte N` admits N calls per window; `lt N` admits N - 1.
    let doc = r#"
version: "1"
tools:
  a:
    rules:
      - name: lte
        conditions: [{path: state.a.n, op: lte, value: 5}]
        state: {counter: n, window: hour}
      - name: lt
        conditions: [{path: state.a.m, op: lt, value: 5}]
        state: {counter: m, window: day, increment: 1}
"#;
    let out = import(doc, "p").unwrap();
    assert!(
        out.source.contains("limit 5 per hour per global as a_n"),
        "{}",
        out.source
    );
    assert!(
        out.source.contains("limit 4 per day per global as a_m"),
        "{}",
        out.source
    );
}

#[test]
fn what_warden_cannot_state_is_an_error_at_its_place() {
    let cases = [
        // A counter adding up an argument counts money, not calls.
        (
            "tools: {c: {rules: [{name: s, conditions: [{path: state.c.spend, op: lte, value: 9}], state: {counter: spend, window: day, increment_from: args.amount}}]}}",
            "/tools/c/rules/0/state/increment_from",
        ),
        (
            "tools: {c: {rules: [{name: s, conditions: [{path: state.c.n, op: lte, value: 9}], state: {counter: n, window: day, increment: 5}}]}}",
            "/tools/c/rules/0/state/increment",
        ),
        (
            "tools: {c: {rules: [{name: s, conditions: [{path: state.other.n, op: lte, value: 9}], state: {counter: n, window: day}}]}}",
            "/tools/c/rules/0/conditions/0",
        ),
        (
            "tools: {c: {rules: [{name: s, conditions: [{path: state.c.n, op: gt, value: 9}], state: {counter: n, window: day}}]}}",
            "/tools/c/rules/0/conditions/0",
        ),
        (
            "tools: {c: {rules: [{name: s, conditions: [{path: state.c.n, op: lte, value: 9}]}]}}",
            "/tools/c/rules/0/conditions/0",
        ),
        (
            "tools: {c: {rules: [{name: d, action: deny, conditions: [{path: args.a, op: eq, value: 1}]}]}}",
            "/tools/c/rules/0/conditions",
        ),
        ("tools: {c: {rules: [{name: e}]}}", "/tools/c/rules/0"),
        (
            "tools: {c: {rules: [{name: e, action: evaluate, conditions: []}]}}",
            "/tools/c/rules/0/conditions",
        ),
        (
            "tools: {c: {rules: [{conditions: [{path: args.a, op: eq, value: 1}]}]}}",
            "/tools/c/rules/0",
        ),
        (
            "tools: {c: {rules: [{name: r, rate_limit: 5/week}]}}",
            "/tools/c/rules/0/rate_limit",
        ),
        (
            "tools: {c: {rules: [{name: r, rate_limit: 0/hour}]}}",
            "/tools/c/rules/0/rate_limit",
        ),
        (
            "tools: {c: {rules: [{name: r, rate_limit: 5/hour}, {name: q, rate_limit: 9/hour}]}}",
            "/tools/c/rules/1/rate_limit",
        ),
        (
            "tools: {c: {rules: [{name: r, action: block}]}}",
            "/tools/c/rules/0/action",
        ),
        ("tools: {c: {rules: [], extra: 1}}", "/tools/c/extra"),
        (
            "tools: {c: {rules: [{name: r, rate_limit: 5/hour, when: x}]}}",
            "/tools/c/rules/0/when",
        ),
        (
            "tools: {c: {rules: [{name: r, conditions: [{path: args.a, op: like, value: 1}]}]}}",
            "/tools/c/rules/0/conditions/0",
        ),
        (
            "tools: {c: {rules: [{name: r, conditions: [{path: env.a, op: eq, value: 1}]}]}}",
            "/tools/c/rules/0/conditions/0",
        ),
        ("hide: [a, a]\ntools: {}", "/hide/1"),
        ("default: maybe\ntools: {}", "/default"),
    ];
    for (body, pointer) in cases {
        let doc = format!("version: \"1\"\n{body}\n");
        let errors = import(&doc, "p").unwrap_err();
        assert!(
            errors.iter().any(|e| e.pointer == pointer),
            "{body}: expected an error at {pointer}, got {errors:?}"
        );
    }
    let errors = import("version: \"2\"\ntools: {}\n", "p").unwrap_err();
    assert_eq!(errors[0].pointer, "/version");
    let errors = import("version: [unclosed\n", "p").unwrap_err();
    assert!(errors[0].message.starts_with("not YAML"), "{errors:?}");
}

#[test]
fn limit_messages_are_reported_as_left_out() {
    let doc = "version: \"1\"\ntools: {c: {rules: [{name: r, rate_limit: 5/hour, on_deny: slow down}]}}\n";
    let out = import(doc, "p").unwrap();
    assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
    assert!(out.warnings[0].contains("\"slow down\""));
}
