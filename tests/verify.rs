//! The verifier: snapshot cases (tests/verify/*.warden, source and findings together), witness
//! replay, a differential property test against the evaluator, and `warden diff`.

#![cfg(feature = "verify")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly"
)]

use proptest::prelude::*;
use std::path::Path;
use warden::call::Call;
use warden::check::{Catalog, Options};
use warden::diagnostic::{Diagnostic, code, render};
use warden::eval;
use warden::ir::{Effect, Policy};
use warden::pipeline::Workspace;
use warden::risk::Risk;

/// Loads one policy source; panics on lowering errors (cases are meant to lower cleanly).
fn load(name: &str, text: &str) -> (Workspace, Policy) {
    let mut ws = Workspace::default();
    ws.add_source(Path::new(name), text.to_string());
    assert!(
        !ws.has_errors(),
        "{name} does not lower: {:?}",
        ws.diagnostics
    );
    let policy = ws.files[0].policy.clone().expect("a policy");
    (ws, policy)
}

fn verify(policy: &Policy, catalog: Option<Catalog>) -> Vec<Diagnostic> {
    let options = Options {
        catalog,
        ..Options::default()
    };
    let (diags, stats) = warden::check::check(policy, &options);
    assert!(stats.verified);
    for d in &diags {
        assert_ne!(
            d.code,
            code::WITNESS_MISMATCH,
            "a witness did not replay: {d:?}"
        );
    }
    diags
}

#[test]
fn snapshot_cases() {
    insta::glob!("verify/*.warden", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let (ws, policy) = load(&name, &text);
        let catalog = std::fs::read_to_string(path.with_extension("json"))
            .ok()
            .map(|t| Catalog::parse(&t).unwrap());
        let diags = verify(&policy, catalog);
        let mut out = ws.diagnostics.clone();
        out.extend(diags.iter().cloned());
        warden::diagnostic::sort(&mut out);
        let rendered = render::human(&out, &ws.sources, false);
        insta::assert_snapshot!(format!("{text}\n---\n{rendered}"));
    });
}

/// The rule whose head a diagnostic points at.
fn rule_of<'p>(policy: &'p Policy, d: &Diagnostic) -> Option<&'p warden::ir::Rule> {
    policy.rules.iter().find(|r| r.head == d.primary.span)
}

fn codes(diags: &[Diagnostic]) -> Vec<&'static str> {
    diags.iter().map(|d| d.code.name).collect()
}

#[test]
fn every_witness_replays_to_its_claim() {
    let text = std::fs::read_to_string("tests/verify/conflict.warden").unwrap();
    let (_, policy) = load("conflict.warden", &text);
    let diags = verify(&policy, None);
    let conflicts: Vec<&Diagnostic> = diags
        .iter()
        .filter(|d| d.code == code::CONFLICTING_RULES)
        .collect();
    assert_eq!(conflicts.len(), 4, "{:?}", codes(&diags));
    // Visible exceptions are info; the overlap that arises only through patterns is a warning.
    let warnings: Vec<&str> = conflicts
        .iter()
        .filter(|d| d.severity == warden::diagnostic::Severity::Warning)
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(
        warnings,
        ["allow rule `allow-fs_*` overlaps deny rule `deny-*_write`"]
    );
    for d in conflicts {
        let call = Call::from_json(d.witness.as_ref().unwrap()).unwrap();
        let a = rule_of(&policy, d).unwrap();
        assert!(eval::rule_matches(a, &call));
        assert!(eval::evaluate(&policy, &call).effect.precedence() > a.effect.precedence());
    }
}

#[test]
fn unreachable_reports_the_minimal_blocking_set() {
    let text = std::fs::read_to_string("tests/verify/unreachable.warden").unwrap();
    let (_, policy) = load("unreachable.warden", &text);
    let diags = verify(&policy, None);
    let size = policy.rules.iter().find(|r| r.id == "allow-size").unwrap();
    let d = diags
        .iter()
        .find(|d| d.code == code::UNREACHABLE_RULE && d.primary.span == size.head)
        .unwrap();
    // `3 < n < 7` needs both denies (`n < 5` and `n >= 5`), and not the unrelated rules.
    let spans: Vec<_> = d.secondary.iter().map(|l| l.span).collect();
    assert_eq!(spans, vec![policy.rules[3].head, policy.rules[4].head]);
}

#[test]
fn a_shadowed_risk_override_names_a_tool_it_does_not_apply_to() {
    let text = std::fs::read_to_string("tests/verify/risk_overrides.warden").unwrap();
    let (_, policy) = load("risk_overrides.warden", &text);
    let diags = verify(&policy, None);
    let mut found = Vec::new();
    for d in diags
        .iter()
        .filter(|d| d.code == code::SHADOWED_RISK_OVERRIDE)
    {
        let call = Call::from_json(d.witness.as_ref().unwrap()).unwrap();
        let shadowed = policy
            .risk
            .list
            .iter()
            .find(|o| o.span == d.primary.span)
            .unwrap();
        let winner = policy
            .risk
            .list
            .iter()
            .find(|o| o.span == d.secondary[0].span)
            .unwrap();
        assert!(shadowed.tool.matches(&call.tool) && winner.tool.matches(&call.tool));
        assert_eq!(policy.risk.get(&call.tool), Some(winner.risk));
        assert_ne!(winner.risk, shadowed.risk);
        found.push((
            winner.tool.as_str().to_string(),
            shadowed.tool.as_str().to_string(),
            call.tool,
        ));
    }
    // `*_log` agrees with `read_*` on `read_…_log`, and the exact `purge_file` wins over every
    // glob without shadowing one.
    let expected = [
        ("delete_*", "*_file", "delete_file"),
        ("*_file", "read_*", "read_file"),
        ("delete_*", "*_log", "delete_log"),
    ];
    assert_eq!(
        found,
        expected.map(|(w, s, t)| (w.to_string(), s.to_string(), t.to_string()))
    );
    // The override, not what a server would list, decides the witness's class.
    let call = Call {
        risk: Some(Risk::Write),
        ..Call::new("delete_file")
    };
    assert_eq!(eval::evaluate(&policy, &call).effect, Effect::Approve);
}

// ------------------------------------------------------------------ differential property

const TOOLS: [&str; 4] = ["a", "b", "c_x", "d"];

fn rule_text() -> impl Strategy<Value = String> {
    let effect = prop::sample::select(vec!["allow", "deny", "approve"]);
    let target = prop::sample::select(vec![
        "a",
        "b",
        "c_*",
        "a, b",
        "*",
        "risk destructive",
        "risk read, risk write",
    ]);
    let cond = prop::sample::select(vec![
        "",
        " when args.n > 3",
        " when args.n < 5",
        " when args.n == 5",
        " when args.n >= 3 and args.n <= 5",
        " when args.s startswith \"ab\"",
        " when args.s == \"abc\"",
        " when args.s matches \"*c\"",
        " when not (args.s exists)",
        " when args.n != 5",
        " when grant == \"ci\"",
        " when args.n > 3 or args.s == \"b\"",
        " when tool.risk == \"destructive\"",
        " when tool.risk not in [\"read\", \"write\"]",
    ]);
    (effect, target, cond).prop_map(|(e, t, c)| format!("  {e} {t}{c}\n"))
}

fn calls() -> Vec<Call> {
    let ns = [
        None,
        Some("0"),
        Some("3"),
        Some("4"),
        Some("5"),
        Some("7"),
        Some("\"x\""),
    ];
    let ss = [
        None,
        Some("\"ab\""),
        Some("\"abc\""),
        Some("\"b\""),
        Some("\"xc\""),
        Some("1"),
    ];
    let mut out = Vec::new();
    for tool in TOOLS {
        for n in ns {
            for s in ss {
                for (grant, risk) in [
                    (None, None),
                    (Some("ci"), None),
                    (None, Some(Risk::Destructive)),
                    (Some("ci"), Some(Risk::Read)),
                    (None, Some(Risk::Execute)),
                ] {
                    let mut args = serde_json::Map::new();
                    if let Some(n) = n {
                        args.insert("n".into(), serde_json::from_str(n).unwrap());
                    }
                    if let Some(s) = s {
                        args.insert("s".into(), serde_json::from_str(s).unwrap());
                    }
                    let mut call = Call::new(tool);
                    call.arguments = Some(serde_json::Value::Object(args));
                    call.grant = grant.map(str::to_string);
                    call.risk = risk;
                    out.push(call);
                }
            }
        }
    }
    out
}

fn without(policy: &Policy, index: usize) -> Policy {
    let mut p = policy.clone();
    p.rules.remove(index);
    for (i, r) in p.rules.iter_mut().enumerate() {
        r.index = i;
    }
    p
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn findings_agree_with_the_evaluator(
        rules in prop::collection::vec(rule_text(), 1..6),
        default in prop::sample::select(vec!["allow", "deny"]),
        overrides in prop::sample::select(vec!["", "  risk c_* is destructive\n", "  risk a is read\n  risk c_x is execute\n"]),
    ) {
        let text = format!("policy p {{\n  default {default}\n{overrides}{}}}\n", rules.concat());
        let mut ws = Workspace::default();
        ws.add_source(Path::new("p.warden"), text.clone());
        let Some(policy) = ws.files[0].policy.clone().filter(|_| !ws.has_errors()) else {
            return Ok(());
        };
        let diags = verify(&policy, None);
        // Each call as the policy sees it (its overrides applied), for `rule_matches`.
        let calls: Vec<Call> = calls()
            .iter()
            .map(|c| eval::with_risk(&policy.risk, c).into_owned())
            .collect();
        for d in &diags {
            prop_assert!(d.code != code::INCONCLUSIVE, "{text}: {d:?}");
            let Some(rule) = rule_of(&policy, d) else { continue };
            let decided_by_rule = |c: &Call| {
                eval::evaluate(&policy, c).decider == eval::Decider::Rule(rule.index)
            };
            if d.code == code::EMPTY_RULE {
                prop_assert!(!calls.iter().any(|c| eval::rule_matches(rule, c)), "{text}");
            }
            if d.code == code::UNREACHABLE_RULE || d.code == code::EMPTY_RULE {
                prop_assert!(!calls.iter().any(decided_by_rule), "{text}: {}", rule.id);
            }
            if d.code == code::REDUNDANT_RULE {
                let smaller = without(&policy, rule.index);
                for c in &calls {
                    prop_assert_eq!(
                        eval::evaluate(&policy, c).effect,
                        eval::evaluate(&smaller, c).effect,
                        "{}: removing {} changes {:?}", text, rule.id, c
                    );
                }
            }
            if d.code == code::CONFLICTING_RULES {
                let call = Call::from_json(d.witness.as_ref().unwrap()).unwrap();
                let other = policy.rules.iter().find(|r| r.head == d.secondary[0].span).unwrap();
                prop_assert!(eval::rule_matches(rule, &call) && eval::rule_matches(other, &call));
            }
        }
        // Conversely: a rule that decides some generated call is neither empty nor unreachable.
        for r in &policy.rules {
            if calls.iter().any(|c| eval::evaluate(&policy, c).decider == eval::Decider::Rule(r.index)) {
                let flagged = diags.iter().any(|d| {
                    d.primary.span == r.head
                        && (d.code == code::EMPTY_RULE || d.code == code::UNREACHABLE_RULE)
                });
                prop_assert!(!flagged, "{}: {} decides a call", text, r.id);
            }
        }
        let _ = Effect::Allow;
    }
}

// ------------------------------------------------------------------ warden diff

fn diff(old: &str, new: &str) -> warden::check::diff::Report {
    let (_, a) = load("old.warden", old);
    let (_, b) = load("new.warden", new);
    let report = warden::check::diff::diff(&a, &b, &Options::default()).unwrap();
    assert!(report.inconclusive.is_empty(), "{:?}", report.inconclusive);
    for c in &report.changes {
        // Every witness replays: decisions differ as reported.
        assert_eq!(eval::evaluate(&a, &c.witness), c.old);
        assert_eq!(eval::evaluate(&b, &c.witness), c.new);
    }
    report
}

fn kinds(r: &warden::check::diff::Report) -> Vec<(String, String, bool)> {
    r.changes
        .iter()
        .map(|c| (c.tool.clone(), c.kind.describe(), c.more_permissive))
        .collect()
}

const KESTRA_OLD: &str = r#"policy kestra {
  allow list_flows, get_flow
  allow execute_flow when args.namespace matches "company.team.*" limit 10 per minute per grant
  approve delete_*
}"#;

const KESTRA_NEW: &str = r#"policy kestra {
  allow list_flows
  allow execute_flow when args.namespace matches "company.*" limit 20 per minute per grant
  deny execute_flow when args.namespace == "company.prod.billing"
  approve delete_*
  allow delete_flow when args.namespace startswith "dev."
}"#;

#[test]
fn diff_finds_new_access_lost_access_and_limit_changes() {
    use warden::check::diff::Verdict;
    let r = diff(KESTRA_OLD, KESTRA_NEW);
    assert_eq!(r.verdict, Verdict::Incomparable);
    assert_eq!(
        kinds(&r),
        vec![
            ("get_flow".into(), "newly denied".into(), false),
            ("execute_flow".into(), "newly allowed".into(), true),
            ("execute_flow".into(), "limits changed".into(), false),
        ]
    );
    assert!(r.new_access());
    // The reverse direction: the same calls, the other way round.
    let back = diff(KESTRA_NEW, KESTRA_OLD);
    assert_eq!(back.verdict, Verdict::Incomparable);
}

#[test]
fn diff_verdicts() {
    use warden::check::diff::Verdict;
    let same = diff(KESTRA_OLD, KESTRA_OLD);
    assert_eq!(same.verdict, Verdict::Equivalent);
    assert!(same.changes.is_empty() && !same.new_access());

    let tighter = diff(
        "policy p { allow run }",
        "policy p { allow run\n deny run when args.env == \"prod\" }",
    );
    assert_eq!(tighter.verdict, Verdict::LessPermissive);
    assert!(!tighter.new_access());
    assert_eq!(
        tighter.changes[0].witness.to_json().to_string(),
        r#"{"arguments":{"env":"prod"},"name":"run"}"#
    );

    // Reordering rules changes nothing: precedence does not depend on order.
    let reordered = diff(
        "policy p { allow run\n deny run when args.n > 3 }",
        "policy p { deny run when args.n > 3\n allow run }",
    );
    assert_eq!(reordered.verdict, Verdict::Equivalent);

    // hide → deny lists the tool again: more access.
    let unhidden = diff("policy p { hide admin_* }", "policy p { deny admin_* }");
    assert_eq!(unhidden.verdict, Verdict::MorePermissive);
    assert_eq!(kinds(&unhidden)[0].1, "newly denied");

    // Approval turned into allow.
    let looser = diff("policy p { approve pay }", "policy p { allow pay }");
    assert_eq!(looser.verdict, Verdict::MorePermissive);
}

#[test]
fn an_override_that_disagrees_with_the_catalog_keeps_the_tool_possible() {
    // The classifier finds sync_ledger's definition a write; the policy says financial.
    let catalog = || {
        Catalog::parse(&std::fs::read_to_string("tests/verify/risk_catalog.json").unwrap()).unwrap()
    };
    let text = r#"policy p {
  default deny
  risk sync_ledger is financial
  approve risk financial because "money moves"
  allow risk write
  assert never approve sync_ledger
  assert always approve sync_ledger
}"#;
    let (_, policy) = load("p.warden", text);
    let diags = verify(&policy, Some(catalog()));
    let violated: Vec<_> = diags
        .iter()
        .filter(|d| d.code == code::ASSERTION_VIOLATED)
        .collect();
    assert_eq!(violated.len(), 1, "{diags:#?}");
    let witness = Call::from_json(violated[0].witness.as_ref().unwrap()).unwrap();
    assert_eq!(witness.tool, "sync_ledger");
    assert_eq!(eval::evaluate(&policy, &witness).effect, Effect::Approve);
    // sync_ledger was the catalog's one write tool: with the override, the allow of write
    // tools matches nothing.
    assert!(codes(&diags).contains(&"empty-rule"), "{diags:#?}");
}

#[test]
fn diff_sees_each_versions_risk_overrides() {
    use warden::check::diff::Verdict;
    let old = "policy p {\n  allow risk read\n}";
    let new = "policy p {\n  risk purge_cache is read\n  allow risk read\n}";
    let r = diff(old, new);
    assert_eq!(r.verdict, Verdict::MorePermissive);
    assert_eq!(
        kinds(&r),
        vec![("purge_cache".into(), "newly allowed".into(), true)]
    );
    // The old version allows it only when its own class is read; the witness is another class.
    assert_ne!(r.changes[0].witness.risk, Some(Risk::Read));
    assert_eq!(diff(new, new).verdict, Verdict::Equivalent);
}

#[test]
fn the_flawed_example_shows_every_finding() {
    let text = std::fs::read_to_string("examples/flawed/flawed.warden").unwrap();
    let (ws, policy) = load("examples/flawed/flawed.warden", &text);
    let diags = verify(&policy, None);
    for c in [
        code::EMPTY_RULE,
        code::UNREACHABLE_RULE,
        code::CONFLICTING_RULES,
        code::REDUNDANT_RULE,
        code::LIMIT_NEVER_APPLIES,
        code::ASSERTION_VIOLATED,
        code::MISSING_ARGUMENT_HAZARD,
    ] {
        assert!(diags.iter().any(|d| d.code == c), "no {}", c.name);
    }
    for d in &diags {
        assert_ne!(d.code, code::INCONCLUSIVE);
    }
    let mut all = ws.diagnostics.clone();
    all.extend(diags);
    warden::diagnostic::sort(&mut all);
    insta::assert_snapshot!(render::human(&all, &ws.sources, false));
}

/// The shipped examples verify without errors: in particular no witness fails to replay
/// (array elements with `contains` once produced one in examples/shell.warden).
#[test]
fn shipped_examples_verify_without_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "warden"))
        .collect();
    names.sort();
    assert!(names.len() >= 6);
    for path in names {
        let text = std::fs::read_to_string(&path).unwrap();
        let (ws, policy) = load(&path.file_name().unwrap().to_string_lossy(), &text);
        let diags = verify(&policy, None);
        let errors: Vec<String> = diags
            .iter()
            .filter(|d| d.is_error())
            .map(|d| render::human(std::slice::from_ref(d), &ws.sources, false))
            .collect();
        assert!(
            errors.is_empty(),
            "{}:\n{}",
            path.display(),
            errors.join("\n")
        );
    }
}

#[path = "../benches/support/check_policy.rs"]
mod check_policy;

/// A large policy is verified on several threads (each with its own z3 context); the findings
/// must be the same as on one thread: same codes, rules, messages and severities.
#[test]
fn threads_find_what_one_thread_finds() {
    let text = check_policy::policy(450);
    let (_, policy) = load("bench.warden", &text);
    let findings = |workers: usize| {
        let options = Options {
            workers: Some(workers),
            ..Options::default()
        };
        let (diags, stats) = warden::check::check(&policy, &options);
        assert_eq!(stats.inconclusive, 0);
        let mut out: Vec<String> = diags
            .iter()
            .map(|d| {
                format!(
                    "{} {:?} {:?} {}",
                    d.code.id, d.severity, d.primary.span, d.message
                )
            })
            .collect();
        out.sort();
        out
    };
    let one = findings(1);
    assert!(
        one.len() > 300,
        "the policy should have many findings: {}",
        one.len()
    );
    assert!(one.iter().any(|f| f.starts_with("WD3003")));
    assert_eq!(one, findings(3));
}
