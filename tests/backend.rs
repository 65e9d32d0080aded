//! The policy.json backend: the golden PolicyLayer case, snapshots of every example, import
//! round trips over the fixtures in tests/policy_json/, what cannot be expressed (one case per
//! WD4xxx code), and a property test that compile → import keeps every decision (the CLI is
//! in cli.rs).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails loudly on a bad fixture"
)]

use proptest::prelude::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use warden::backend::{Catalog, compile, import};
use warden::call::Call;
use warden::diagnostic::{Diagnostic, render};
use warden::eval::evaluate;
use warden::ir::{Effect, Policy};
use warden::pipeline::Workspace;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Parses and lowers; panics on front-end errors.
fn lower(text: &str) -> (Policy, Workspace) {
    try_lower(text).unwrap_or_else(|ws| {
        panic!(
            "front-end errors:\n{}\n{text}",
            render::human(&ws.diagnostics, &ws.sources, false)
        )
    })
}

fn try_lower(text: &str) -> Result<(Policy, Workspace), Box<Workspace>> {
    let mut ws = Workspace::default();
    ws.add_source(Path::new("test.warden"), text.to_string());
    match ws.files[0].policy.clone() {
        Some(p) if !ws.has_errors() => Ok((p, ws)),
        _ => Err(Box::new(ws)),
    }
}

fn compile_text(
    text: &str,
    catalog: Option<&Catalog>,
) -> (Option<Value>, Vec<Diagnostic>, Workspace) {
    let (policy, ws) = lower(text);
    let c = compile(&policy, catalog);
    (c.json, c.diagnostics, ws)
}

fn codes(diags: &[Diagnostic]) -> Vec<&'static str> {
    diags.iter().map(|d| d.code.id).collect()
}

fn catalog() -> Catalog {
    let text = std::fs::read_to_string(root().join("tests/policy_json/catalogs/kestra-tools.json"))
        .unwrap();
    Catalog::parse(&text).unwrap()
}

// ------------------------------------------------------------------ golden

#[test]
fn policylayer_kestra_policy_comes_out_exactly() {
    let (json, diags, _) = compile_text(
        "policy kestra { default deny  allow execute_flow limit 10 per minute per grant }",
        None,
    );
    assert!(diags.is_empty(), "{diags:?}");
    let published: Value = serde_json::from_str(
        r#"{"version":"1","default":"deny","tools":{"execute_flow":{"limits":[{"counter":"execute_flow_rate","window":"minute","max":10,"scope":"grant"}]}}}"#,
    )
    .unwrap();
    assert_eq!(json.unwrap(), published);
}

#[test]
fn kestra_example_keeps_the_published_limit() {
    // PolicyLayer attaches a policy to one grant; the example's globs expand against the real
    // server's tools/list.
    let text = std::fs::read_to_string(root().join("examples/kestra.warden")).unwrap();
    let (policy, _) = lower(&text);
    let catalog = example_catalog("kestra").unwrap();
    let json = compile(&policy.for_grant("ci"), Some(&catalog))
        .json
        .expect("examples/kestra.warden compiles for a grant, with its catalog");
    let limits = &json["tools"]["execute_flow"]["limits"];
    assert!(
        limits.as_array().unwrap().contains(
            &json!({"counter":"execute_flow_rate","window":"minute","max":10,"scope":"grant"})
        ),
        "{json:#}"
    );
}

#[test]
fn output_is_deterministic_and_omits_empty_sections() {
    let text = "policy p { default deny  allow b, a  deny a when args.x == \"y\" because \"no\" }";
    let (one, ..) = compile_text(text, None);
    let (two, ..) = compile_text(text, None);
    let one = serde_json::to_string(&one.unwrap()).unwrap();
    assert_eq!(one, serde_json::to_string(&two.unwrap()).unwrap());
    assert_eq!(
        one,
        r#"{"default":"deny","tools":{"a":{"deny_if":[{"conditions":[{"op":"eq","path":"args.x","value":"y"}],"on_deny":"no"}]},"b":{}},"version":"1"}"#
    );
}

// ------------------------------------------------------------------ examples

#[test]
fn every_example_snapshots_its_policy_json_or_its_diagnostics() {
    let dir = std::fs::read_dir(root().join("examples")).unwrap();
    let mut paths: Vec<PathBuf> = dir
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "warden"))
        .collect();
    paths.sort();
    for path in paths {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let (policy, ws) = lower(&text);
        let catalog = example_catalog(&name);
        let compiled = compile(&policy.for_grant("ci"), catalog.as_ref());
        let diags = compact(&compiled.diagnostics, &ws).join("\n");
        let snapshot = match &compiled.json {
            Some(j) => format!(
                "{}\n=== diagnostics ===\n{diags}",
                serde_json::to_string_pretty(j).unwrap()
            ),
            None => format!("=== does not compile ===\n{diags}"),
        };
        insta::with_settings!({snapshot_suffix => name.clone(), prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!("example_policy_json", snapshot);
        });
    }
}

/// The real `tools/list` of the server an example is written for (tests/catalogs/).
fn example_catalog(example: &str) -> Option<Catalog> {
    let file = match example {
        "payments" => "stripe",
        other => other,
    };
    let text =
        std::fs::read_to_string(root().join("tests/catalogs").join(format!("{file}.json"))).ok()?;
    Some(Catalog::parse(&text).unwrap())
}

// ------------------------------------------------------------------ import round trips

fn fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("tests/policy_json"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

#[test]
fn import_then_compile_gives_the_same_json_for_every_fixture() {
    let fixtures = fixtures();
    assert!(fixtures.len() >= 6);
    for path in fixtures {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let imported = import(&text, &name).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        // `warden fmt` leaves it unchanged.
        let mut ws = Workspace::default();
        let id = ws.sources.add("x", imported.source.clone());
        let ast = warden::syntax::parse(id, &imported.source).unwrap();
        assert_eq!(
            warden::syntax::format::format(&ast, &imported.source),
            imported.source
        );
        let (policy, _) = lower(&imported.source);
        let compiled = compile(&policy, None);
        assert!(!compiled.has_errors(), "{name}: {:?}", compiled.diagnostics);
        let original: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            compiled.json.unwrap(),
            original,
            "{name}:\n{}",
            imported.source
        );
        insta::with_settings!({snapshot_suffix => name.clone(), prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!("imported", imported.source);
        });
    }
}

#[test]
fn import_errors_name_their_json_pointer() {
    let cases = [
        (
            json!({"version":"1","default":"deny","tools":{"x":{"deny_if":[{"conditions":[],"foo":1}]}}}),
            "/tools/x/deny_if/0/foo",
        ),
        (
            json!({"version":"1","default":"deny","tools":{"x":{"require":[{"path":"args.a","op":"eq"}]}}}),
            "/tools/x/require/0",
        ),
        (
            json!({"version":"1","default":"deny","tools":{"x":{"limits":[{"counter":"c","window":"week","max":1,"scope":"grant"}]}}}),
            "/tools/x/limits/0/window",
        ),
        (
            json!({"version":"1","default":"deny","tools":{"x":{"limits":[{"counter":"c","window":"hour","max":0,"scope":"grant"}]}}}),
            "/tools/x/limits/0/max",
        ),
        (
            json!({"version":"1","default":"deny","tools":{"x":{"limits":[{"counter":"c","window":"hour","max":1,"scope":"session"}]}}}),
            "/tools/x/limits/0/scope",
        ),
        (json!({"version":"1","default":"deny","hide":"x"}), "/hide"),
        (json!({"version":"2","default":"deny"}), "/version"),
        (json!({"version":"1","default":"maybe"}), "/default"),
        (
            json!({"version":"1","default":"deny","tools":{"a/b":{"require":[{"path":"args.x","op":"like","value":1}]}}}),
            "/tools/a~1b/require/0",
        ),
        (
            json!({"version":"1","default":"deny","tools":{"x":{"deny_if":[{"conditions":[{"path":"args.a","op":"regex","value":"\\d"}]}]}}}),
            "/tools/x/deny_if/0/conditions/0",
        ),
        (
            json!({"version":"1","default":"deny","description":"x"}),
            "/description",
        ),
    ];
    for (doc, pointer) in cases {
        let errors = import(&doc.to_string(), "p").unwrap_err();
        assert!(
            errors.iter().any(|e| e.pointer == pointer),
            "{doc}: expected an error at {pointer}, got {errors:?}"
        );
    }
    // Every error is reported, not only the first.
    let many = json!({"version":"1","default":"deny","x":1,"tools":{"a":{"y":2},"b":{"z":3}}});
    assert_eq!(import(&many.to_string(), "p").unwrap_err().len(), 3);
}

// ------------------------------------------------------------------ what cannot be expressed

#[test]
fn inexpressible_constructs_are_errors_with_their_code() {
    let cases = [
        ("default deny  allow list_*", "WD4001"),
        ("default allow  deny delete_*", "WD4001"),
        ("default deny  allow kestra::execute_flow", "WD4002"),
        ("default deny  allow x when grant == \"ci\"", "WD4003"),
        ("default deny  allow x when tool.readOnlyHint", "WD4004"),
        ("default deny  approve risk financial", "WD4017"),
        ("default deny  allow x when tool.risk == \"read\"", "WD4017"),
        ("default deny  allow x when not (args.a == \"b\")", "WD4005"),
        ("default deny  deny x when args.flag == true", "WD4005"),
        (
            "default deny  allow x when args.a == \"b\" or args.c == \"d\"",
            "WD4016",
        ),
        ("default deny  allow x when args.a matches /\\d+/", "WD4006"),
        (
            "default deny  allow x limit 5 per second per grant",
            "WD4007",
        ),
        (
            "default deny  allow x limit 5 per minute per session",
            "WD4007",
        ),
        (
            "default deny  allow x  allow x when args.a == \"b\" limit 5 per minute per grant",
            "WD4008",
        ),
        (
            "default deny  allow x when args.n < 9007199254740993",
            "WD4012",
        ),
        ("default deny  allow x when args.a[0] == \"b\"", "WD4013"),
        (
            "default deny  allow x when args[\"a.b\"] == \"c\"",
            "WD4013",
        ),
        (
            "default deny  allow x when args.a == \"b\"  allow x when args.c == \"d\"",
            "WD4016",
        ),
    ];
    for (body, code) in cases {
        let (json, diags, _) = compile_text(&format!("policy p {{ {body} }}"), None);
        assert!(
            json.is_none(),
            "{body}: compiled although {code} was expected"
        );
        assert!(
            codes(&diags).contains(&code),
            "{body}: expected {code}, got {:?}",
            codes(&diags)
        );
    }
}

#[test]
fn documented_lowerings_warn() {
    let cases = [
        (
            "default deny  allow x  approve x because \"money\"",
            "WD4009",
        ),
        (
            "default deny  allow a, b limit 5 per minute per grant  allow c",
            "WD4010",
        ),
        ("default deny because \"closed\"  allow x", "WD4011"),
        ("default deny  hide backfill_*  allow x", "WD4014"),
    ];
    for (body, code) in cases {
        let (json, diags, _) = compile_text(&format!("policy p {{ {body} }}"), None);
        assert!(json.is_some(), "{body}: {diags:?}");
        assert!(
            codes(&diags).contains(&code),
            "{body}: expected {code}, got {:?}",
            codes(&diags)
        );
    }
    let (_, diags, _) = compile_text(
        "policy p { default allow  deny delete_* }",
        Some(&catalog()),
    );
    assert!(codes(&diags).contains(&"WD4015"), "{diags:?}");
}

#[test]
fn diagnostics_point_at_the_construct() {
    let (_, diags, ws) = compile_text(
        "policy p {\n  default deny\n  allow x when args.a matches /\\w+/\n}\n",
        None,
    );
    assert_eq!(
        compact(&diags, &ws),
        vec![
            "WD4006 error 3:16 policy.json engines use Go's regex syntax, where this differs: `\\w` is Unicode-aware here and ASCII-only in Go: write the class out, e.g. `[0-9]`",
        ]
    );
    assert!(diags[0].help.is_some());
}

/// `CODE severity line:col message`, one per diagnostic: stable across renderers.
fn compact(diags: &[Diagnostic], ws: &Workspace) -> Vec<String> {
    diags
        .iter()
        .map(|d| {
            let file = ws.sources.get(d.primary.span.file).unwrap();
            let (line, col) = file.line_col(d.primary.span.start);
            format!(
                "{} {} {line}:{col} {}",
                d.code.id,
                d.severity.as_str(),
                d.message
            )
        })
        .collect()
}

#[test]
fn catalog_expands_globs_and_resolves_annotations() {
    let text = r#"policy kestra {
  default deny
  allow * when tool.readOnlyHint
  allow execute_flow
  approve delete_*
  hide backfill_*
}"#;
    let (json, diags, _) = compile_text(text, Some(&catalog()));
    assert_eq!(codes(&diags), vec!["WD4009"]);
    assert_eq!(
        json.unwrap(),
        json!({"version":"1","default":"deny","hide":["backfill_executions"],"tools":{
            "delete_execution":{"deny_if":[{"conditions":[],"on_deny":"Requires human approval."}]},
            "delete_flow":{"deny_if":[{"conditions":[],"on_deny":"Requires human approval."}]},
            "execute_flow":{},
            "list_flows":{}}})
    );
}

#[test]
fn catalog_resolves_risk_classes_per_tool() {
    let text = r#"policy kestra {
  default deny
  risk kill_execution is write
  allow risk read, risk write
  approve risk destructive because "a human decides"
  allow execute_flow when tool.risk == "execute" and args.namespace startswith "dev."
}"#;
    let (json, diags, _) = compile_text(text, Some(&catalog()));
    assert_eq!(codes(&diags), vec!["WD4009"]);
    assert_eq!(
        json.unwrap(),
        // `backfill_executions` is classed execute: the default denies it.
        json!({"version":"1","default":"deny","tools":{
            "delete_execution":{"deny_if":[{"conditions":[],"on_deny":"Requires human approval: a human decides"}]},
            "delete_flow":{"deny_if":[{"conditions":[],"on_deny":"Requires human approval: a human decides"}]},
            "execute_flow":{"require":[{"path":"args.namespace","op":"regex","value":"^dev\\."}]},
            "kill_execution":{},
            "list_flows":{}}})
    );
}

#[test]
fn typed_comparisons_get_exact_forms() {
    let (json, ..) = compile_text(
        r#"policy p { default deny  allow x when args.n == 4 and args.s != "a" and args.t not in ["b"] and args.u exists }"#,
        None,
    );
    assert_eq!(
        json.unwrap()["tools"]["x"]["require"],
        json!([
            {"path":"args.n","op":"gte","value":4}, {"path":"args.n","op":"lte","value":4},
            {"path":"args.s","op":"neq","value":"a"}, {"path":"args.s","op":"regex","value":"^"},
            {"path":"args.t","op":"not_in","value":["b"]}, {"path":"args.t","op":"regex","value":"^"},
            {"path":"args.u","op":"not_in","value":[]}
        ])
    );
    // An `or` in a deny becomes several entries; `!=` on a number two of them.
    let (json, ..) = compile_text(
        r#"policy p { default deny  allow x  deny x when args.n != 4 or args.s startswith "a/" }"#,
        None,
    );
    let entries = json.unwrap()["tools"]["x"]["deny_if"].clone();
    assert_eq!(
        entries,
        json!([
            {"conditions":[{"path":"args.n","op":"lt","value":4}]},
            {"conditions":[{"path":"args.n","op":"gt","value":4}]},
            {"conditions":[{"path":"args.s","op":"regex","value":"^a/"}]}
        ])
    );
    // Under default allow, `deny X when not (C)` is X's `require`.
    let (json, ..) = compile_text(
        r#"policy p { default allow  deny x when not (args.n <= 5 and args.s == "a") }"#,
        None,
    );
    assert_eq!(
        json.unwrap()["tools"]["x"],
        json!({"require":[{"path":"args.n","op":"lte","value":5},{"path":"args.s","op":"eq","value":"a"}]})
    );
}

// ------------------------------------------------------------------ compile → import → evaluate

const TOOLS: [&str; 3] = ["a", "b", "c"];

const ATOMS: [&str; 18] = [
    r#"args.x == "p""#,
    r#"args.x == "q""#,
    r#"args.x != "p""#,
    r#"args.x in ["p", "q"]"#,
    r#"args.x not in ["p"]"#,
    r#"args.x startswith "p""#,
    r#"args.x matches "q*""#,
    r#"args.x matches /^p$/"#,
    r#"args.x contains "p""#,
    "args.x exists",
    "args.n > 3",
    "args.n <= 5",
    "args.n == 4",
    "args.n != 4",
    "args.o.k == \"v\"",
    r#"(args.f == true or args.f == "true")"#,
    "(not args.x exists or args.x == null)",
    "(args.x exists and not (args.x == null))",
];

fn condition() -> impl Strategy<Value = String> {
    let atom = (0..ATOMS.len()).prop_map(|i| ATOMS[i].to_string());
    prop_oneof![
        4 => atom.clone(),
        2 => (atom.clone(), atom.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
        1 => (atom.clone(), atom.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
        1 => atom.prop_map(|a| format!("not ({a})")),
    ]
}

fn rule() -> impl Strategy<Value = String> {
    let tool = (0..TOOLS.len()).prop_map(|i| TOOLS[i]);
    (
        0..4u8,
        tool,
        proptest::option::of(condition()),
        any::<bool>(),
    )
        .prop_map(|(e, tool, cond, extra)| {
            let when = cond.map(|c| format!(" when {c}")).unwrap_or_default();
            match e {
                0 => format!(
                    "allow {tool}{when}{}",
                    if extra {
                        " limit 5 per minute per grant"
                    } else {
                        ""
                    }
                ),
                1 => format!(
                    "deny {tool}{when}{}",
                    if extra { " because \"r\"" } else { "" }
                ),
                2 => format!(
                    "approve {tool}{when}{}",
                    if extra { " because \"h\"" } else { "" }
                ),
                _ => format!("hide {tool}"),
            }
        })
}

fn policy_text() -> impl Strategy<Value = String> {
    (any::<bool>(), proptest::collection::vec(rule(), 0..6)).prop_map(|(allow, rules)| {
        let default = if allow { "allow" } else { "deny" };
        format!(
            "policy p {{\n  default {default}\n  {}\n}}\n",
            rules.join("\n  ")
        )
    })
}

fn call() -> impl Strategy<Value = Call> {
    let x = prop_oneof![
        Just(None),
        Just(Some(json!("p"))),
        Just(Some(json!("q"))),
        Just(Some(json!("pq"))),
        Just(Some(json!(5))),
        Just(Some(Value::Null)),
        Just(Some(json!(true))),
        Just(Some(json!(["p"])))
    ];
    let n = prop_oneof![
        Just(None),
        Just(Some(json!(3))),
        Just(Some(json!(4))),
        Just(Some(json!(5))),
        Just(Some(json!(4.5))),
        Just(Some(json!("4"))),
        Just(Some(Value::Null))
    ];
    let f = prop_oneof![
        Just(None),
        Just(Some(json!(true))),
        Just(Some(json!("true"))),
        Just(Some(json!(false)))
    ];
    let o = prop_oneof![
        Just(None),
        Just(Some(json!({"k":"v"}))),
        Just(Some(json!({"k":1}))),
        Just(Some(json!("v")))
    ];
    (0..TOOLS.len() + 1, x, n, f, o).prop_map(|(t, x, n, f, o)| {
        let mut args = serde_json::Map::new();
        for (k, v) in [("x", x), ("n", n), ("f", f), ("o", o)] {
            if let Some(v) = v {
                args.insert(k.into(), v);
            }
        }
        let mut c = Call::new(TOOLS.get(t).copied().unwrap_or("zz"));
        c.arguments = Some(Value::Object(args));
        c
    })
}

/// What policy.json can say: allowed (with which counters), hidden, or denied.
fn outcome(policy: &Policy, call: &Call) -> (Effect, Vec<String>) {
    let d = evaluate(policy, call);
    let effect = match d.effect {
        Effect::Approve => Effect::Deny,
        e => e,
    };
    // policy.json never forwards an approval, so its limits never count.
    let forwarded = if effect == Effect::Allow {
        d.limits.as_slice()
    } else {
        &[]
    };
    let mut counters: Vec<String> = forwarded
        .iter()
        .map(|l| policy.rules[l.rule].limits[l.limit].counter.clone())
        .collect();
    counters.sort();
    counters.dedup();
    (effect, counters)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn compile_import_keeps_every_decision(text in policy_text(), calls in proptest::collection::vec(call(), 24)) {
        let Ok((original, _)) = try_lower(&text) else { return Ok(()) };
        let Some(json) = compile(&original, None).json else { return Ok(()) };
        let imported = import(&json.to_string(), "p")
            .unwrap_or_else(|e| panic!("{text}\n{json}\n{e:?}"));
        let (back, _) = lower(&imported.source);
        let again = compile(&back, None).json;
        prop_assert_eq!(again.as_ref(), Some(&json), "{}\n{}", text, imported.source);
        for c in &calls {
            prop_assert_eq!(outcome(&original, c), outcome(&back, c),
                "{}\n{}\n{}\n{}", text, json, imported.source, c.to_json());
        }
    }
}
