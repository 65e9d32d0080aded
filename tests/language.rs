//! The language front end on real policies and generated ones: every example snapshotted as
//! IR, checked clean and passing its tests; the formatter idempotent and meaning-preserving;
//! random and mutated input never panics.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails loudly on a bad fixture"
)]

use proptest::prelude::*;
use std::path::{Path, PathBuf};
use warden::call::Call;
use warden::diagnostic::Severity;
use warden::pipeline::Workspace;
use warden::{eval, ir, lower, syntax, testing};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every policy the repository ships: the examples and the clean UI cases.
fn shipped_policies() -> Vec<PathBuf> {
    let (mut files, errors) =
        warden::pipeline::discover(&[root().join("examples"), root().join("tests/ui/ok")]);
    assert!(errors.is_empty(), "{errors:?}");
    files.retain(|f| !f.components().any(|c| c.as_os_str() == "flawed"));
    files
}

fn lower_text(text: &str) -> (Option<ir::Policy>, Vec<warden::diagnostic::Diagnostic>) {
    let mut ws = Workspace::default();
    ws.add_source(Path::new("policy.warden"), text.to_string());
    (ws.files.pop().and_then(|f| f.policy), ws.diagnostics)
}

#[test]
fn examples_check_clean_and_pass_their_tests() {
    let examples = warden::pipeline::discover(&[root().join("examples")]).0;
    assert!(
        examples.len() >= 5,
        "expected at least five examples, found {}",
        examples.len()
    );
    for path in shipped_policies() {
        let text = std::fs::read_to_string(&path).unwrap();
        let (policy, diags) = lower_text(&text);
        let errors: Vec<_> = diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
        let policy = policy.unwrap();
        let results = testing::run(&policy);
        let failed: Vec<_> = results.iter().filter(|r| !r.passed).collect();
        assert!(
            failed.is_empty(),
            "{}: failing tests {failed:#?}",
            path.display()
        );
        if path.starts_with(root().join("examples")) {
            // Every rule decides at least one test case.
            for rule in &policy.rules {
                assert!(
                    results.iter().any(|r| r.got_by == rule.id),
                    "{}: no test is decided by rule `{}`",
                    path.display(),
                    rule.id
                );
            }
        }
    }
}

#[test]
fn example_ir_snapshots() {
    insta::glob!("../examples", "*.warden", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let (policy, _) = lower_text(&text);
        insta::assert_snapshot!(policy.map(|p| p.to_string()).unwrap_or_default());
    });
}

#[test]
fn shipped_policies_are_formatted_and_formatting_keeps_meaning() {
    for path in shipped_policies() {
        let text = std::fs::read_to_string(&path).unwrap();
        let ast = syntax::parse(warden::source::FileId(0), &text).unwrap();
        let formatted = syntax::format::format(&ast, &text);
        assert_eq!(
            formatted,
            text,
            "{} is not formatted (run `warden fmt`)",
            path.display()
        );
        assert_fmt_properties(&text);
    }
}

/// fmt(fmt(x)) == fmt(x), the IR of fmt(x) equals the IR of x, and no comment is lost.
fn assert_fmt_properties(text: &str) {
    let id = warden::source::FileId(0);
    let ast = syntax::parse(id, text).unwrap();
    let once = syntax::format::format(&ast, text);
    let ast2 = syntax::parse(id, &once)
        .unwrap_or_else(|d| panic!("formatted text does not parse: {d:?}\n{once}"));
    let twice = syntax::format::format(&ast2, &once);
    assert_eq!(once, twice, "formatting is not idempotent");
    let before = lower::lower(id, &ast);
    let after = lower::lower(id, &ast2);
    assert_eq!(
        without_spans(&before.policy),
        without_spans(&after.policy),
        "formatting changed the IR:\n{text}\n---\n{once}"
    );
    let comments = |s: &str| {
        syntax::comments::scan(s)
            .into_iter()
            .map(|c| c.text)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        comments(text),
        comments(&once),
        "formatting lost or reordered comments"
    );
}

/// The IR's full debug form with every span blanked: equal iff the policies mean the same and
/// differ at most in where things were written.
fn without_spans(policy: &Option<ir::Policy>) -> String {
    let re = regex::Regex::new(r"Span \{ file: FileId\(\d+\), start: \d+, end: \d+ \}").unwrap();
    re.replace_all(&format!("{policy:?}"), "Span").into_owned()
}

// ------------------------------------------------------------------ generated policies

fn tool() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("execute_flow".to_string()),
        Just("list_flows".to_string()),
        Just("delete_*".to_string()),
        Just("kestra::get_flow".to_string()),
        Just("\"odd name\"".to_string()),
        Just("*".to_string()),
    ]
}

fn comparison() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("args.namespace == \"company.team\"".to_string()),
        Just("args.n > 5".to_string()),
        Just("args.n <= -2.5e3".to_string()),
        Just("args.tags contains \"x\"".to_string()),
        Just("args.items[0].id in [1, 2, 3]".to_string()),
        Just("args[\"dry-run\"] exists".to_string()),
        Just("args.path matches \"/tmp/*\"".to_string()),
        Just("args.cmd matches /^rm\\s/".to_string()),
        Just("args.env not in [\"dev\"]".to_string()),
        Just("grant == \"ci\"".to_string()),
        Just("agent startswith \"claude\"".to_string()),
        Just("tool.destructiveHint".to_string()),
        Just("tool.risk == \"destructive\"".to_string()),
        Just("tool.risk not in [\"read\", \"write\"]".to_string()),
        Just("true".to_string()),
    ]
}

/// A rule's targets: tool names and patterns, or (a rule cannot mix the two) risk classes.
fn targets() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::collection::vec(tool(), 1..3).prop_map(|mut tools| {
            tools.dedup();
            tools.join(", ")
        }),
        1 => prop::sample::subsequence(vec!["read", "execute", "destructive", "financial"], 1..3)
            .prop_map(|classes| {
                classes.iter().map(|c| format!("risk {c}")).collect::<Vec<_>>().join(", ")
            }),
    ]
}

fn condition() -> impl Strategy<Value = String> {
    comparison().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} or {b}")),
            inner.clone().prop_map(|a| format!("not ({a})")),
            inner.prop_map(|a| format!("({a})")),
        ]
    })
}

/// A separator: spaces, a newline, or a comment and newline.
fn sep() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just(" ".to_string()),
        1 => Just("\n    ".to_string()),
        1 => Just("   // note\n  ".to_string()),
    ]
}

fn rule(i: usize) -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["allow", "deny", "approve"]),
        targets(),
        prop::option::of(condition()),
        any::<bool>(),
        any::<bool>(),
        sep(),
        sep(),
    )
        .prop_map(move |(effect, tools, cond, named, limit, s1, s2)| {
            let mut r = String::new();
            if named {
                r.push_str(&format!("rule{i}: "));
            }
            r.push_str(effect);
            r.push(' ');
            r.push_str(&tools);
            if let Some(c) = cond {
                r.push_str(&s1);
                r.push_str("when ");
                r.push_str(&c);
            }
            if limit && effect != "deny" {
                r.push_str(&s2);
                r.push_str(&format!("limit {} per minute per grant as c{i}", i + 1));
            }
            if effect != "allow" {
                r.push_str(" because \"reason\"");
            }
            r
        })
}

fn policy_text() -> impl Strategy<Value = String> {
    (1usize..6)
        .prop_flat_map(|n| {
            let rules: Vec<_> = (0..n).map(rule).collect();
            (rules, sep(), prop::bool::ANY, prop::bool::ANY)
        })
        .prop_map(|(rules, s, default_allow, overrides)| {
            let mut text = String::from("// generated\npolicy g {\n");
            text.push_str(if default_allow { "  default allow\n" } else { "  default deny\n" });
            if overrides {
                text.push_str("  risk refund_*, \"odd name\" is financial\n");
            }
            for r in rules {
                text.push_str("  ");
                text.push_str(&r);
                text.push_str(&s);
                text.push('\n');
            }
            text.push_str("  assert never allow delete_*\n");
            text.push_str("  test \"t\" {\n    call execute_flow {\"n\": 1} with grant \"ci\" => deny\n  }\n}\n");
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn formatting_generated_policies_is_idempotent_and_keeps_meaning(text in policy_text()) {
        let id = warden::source::FileId(0);
        prop_assume!(syntax::parse(id, &text).is_ok());
        assert_fmt_properties(&text);
    }

    #[test]
    fn random_text_never_panics(text in "\\PC{0,200}") {
        front_end_never_panics(&text);
    }

    #[test]
    fn mutated_examples_never_panic(
        which in 0usize..64,
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<char>()), 1..8),
    ) {
        let files = shipped_policies();
        let path = &files[which % files.len()];
        let mut text: Vec<char> = std::fs::read_to_string(path).unwrap().chars().collect();
        for (at, kind, c) in edits {
            if text.is_empty() { break; }
            let i = at.index(text.len());
            match kind {
                0 => { text.remove(i); }
                1 => text.insert(i, c),
                _ => text[i] = c,
            }
        }
        front_end_never_panics(&text.into_iter().collect::<String>());
    }
}

/// Parse, lower, format, evaluate and run tests on arbitrary text: none of it may panic.
fn front_end_never_panics(text: &str) {
    let id = warden::source::FileId(0);
    let (policy, diags) = lower_text(text);
    let mut sources = warden::source::SourceMap::new();
    sources.add("x.warden", text.to_string());
    let _ = warden::diagnostic::render::human(&diags, &sources, false);
    let _ = warden::diagnostic::render::json_lines(&diags, &sources);
    if let Ok(ast) = syntax::parse(id, text) {
        let _ = syntax::format::format(&ast, text);
    }
    if let Some(p) = policy {
        let _ = testing::run(&p);
        let mut call = Call::new("execute_flow");
        call.arguments = Some(
            serde_json::from_str(
                r#"{"namespace": "company.team", "n": 1e400, "items": [{"id": 2}]}"#,
            )
            .unwrap(),
        );
        let d = eval::evaluate(&p, &call);
        let _ = d.to_json(&p);
    }
}

#[test]
fn a_large_generated_policy_parses_and_checks() {
    // Scaling is measured in benches/front_end.rs; this only proves 10,000 rules go through.
    let mut text = String::from("policy big {\n  default deny\n");
    for i in 0..10_000 {
        text.push_str(&format!(
            "  allow tool_{i} when args.n < {i} and args.ns startswith \"t{i}\"\n"
        ));
    }
    text.push_str("}\n");
    let (policy, diags) = lower_text(&text);
    assert!(diags.is_empty(), "{:?}", &diags[..diags.len().min(3)]);
    assert_eq!(policy.unwrap().rules.len(), 10_000);
}
