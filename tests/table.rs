//! The decision table against the reference evaluator, on generated policies and calls; the
//! table file against corruption; `warden compile --table` and `warden eval` on a table.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on what the tests generated"
)]

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde::Deserialize;
use serde_json::value::RawValue;
use warden::call::Call;
use warden::eval::evaluate;
use warden::ir::Policy;
use warden::pipeline::Workspace;
use warden::table::{CallRef, Header, Table, TableError, content_hash, decide};

// ------------------------------------------------------------------ policies as source text

/// Tool names as calls spell them, and as policy targets do (non-ASCII names are quoted).
const TOOLS: &[&str] = &[
    "read_file",
    "write_file",
    "delete_file",
    "list_x",
    "ünï",
    "run",
];
const TARGET_TOOLS: &[&str] = &[
    "read_file",
    "write_file",
    "delete_file",
    "list_x",
    "\"ünï\"",
    "run",
];
const TOOL_GLOBS: &[&str] = &["delete_*", "*_file", "?ead*", "[rw]*", "*", "list_?", "?n*"];
const SERVERS: &[&str] = &["", "", "", "fs::", "db::", "f*::", "[df]?::"];
const STRINGS: &[&str] = &[
    r#""a""#,
    r#""b""#,
    r#""""#,
    r#""ünï""#,
    r#""x y""#,
    r#""a\"b""#,
    r#""1""#,
    r#""company.team.a""#,
    r#""日本""#,
    r#""\u00e9""#,
];
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "1.5",
    "1e400",
    "-1e400",
    "123456789012345678901234567890",
    "123456789012345678901234567891",
    "10e-1",
    "2",
    "1e-400",
];
const PATHS: &[&str] = &[
    "args.a",
    "args.b.c",
    "args.arr[0]",
    "args.arr[1]",
    r#"args["k y"]"#,
    "args.n",
    "args.s",
    "args.a.b",
    "args.deep[0][0]",
];
const IDENTS: &[&str] = &["grant", "agent", "session"];
const ANNOTATIONS: &[&str] = &[
    "tool.readOnlyHint",
    "tool.destructiveHint",
    "tool.idempotentHint",
    "tool.openWorldHint",
];
const RISKS: &[&str] = &[
    r#""read""#,
    r#""write""#,
    r#""execute""#,
    r#""destructive""#,
    r#""financial""#,
];
const REGEXES: &[&str] = &["/^a/", "/b$/", "/[0-9]+/", "/ü/", "/a|b/", r"/\./"];
const GLOBS: &[&str] = &[
    r#""a*""#,
    r#""*b""#,
    r#""?""#,
    r#""[ab]*""#,
    r#""*""#,
    r#""company.*""#,
];

fn pick(xs: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
    prop::sample::select(xs).prop_map(str::to_owned)
}

fn scalar() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        pick(STRINGS),
        pick(NUMBERS),
        pick(&["true", "false", "null"])
    ]
}

fn list_of(item: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    prop::collection::vec(item, 0..4).prop_map(|xs| format!("[{}]", xs.join(", ")))
}

/// A comparison on an argument path: every operator, any literal type it takes.
fn arg_test() -> impl Strategy<Value = String> {
    let path = pick(PATHS);
    let rhs = prop_oneof![
        scalar().prop_map(|v| format!("== {v}")),
        scalar().prop_map(|v| format!("!= {v}")),
        (pick(&["<", "<=", ">", ">="]), pick(NUMBERS)).prop_map(|(o, n)| format!("{o} {n}")),
        list_of(scalar()).prop_map(|l| format!("in {l}")),
        list_of(scalar()).prop_map(|l| format!("not in {l}")),
        pick(GLOBS).prop_map(|g| format!("matches {g}")),
        pick(REGEXES).prop_map(|r| format!("matches {r}")),
        pick(STRINGS).prop_map(|s| format!("startswith {s}")),
        pick(STRINGS).prop_map(|s| format!("endswith {s}")),
        scalar().prop_map(|v| format!("contains {v}")),
        Just("exists".to_owned()),
    ];
    (path, rhs).prop_map(|(p, r)| format!("{p} {r}"))
}

/// A comparison on identity or annotations (what `hide` rules may use too).
fn meta_test() -> impl Strategy<Value = String> {
    let ident = (
        pick(IDENTS),
        prop_oneof![
            pick(STRINGS).prop_map(|s| format!("== {s}")),
            pick(STRINGS).prop_map(|s| format!("!= {s}")),
            list_of(pick(STRINGS)).prop_map(|l| format!("in {l}")),
            list_of(pick(STRINGS)).prop_map(|l| format!("not in {l}")),
            pick(GLOBS).prop_map(|g| format!("matches {g}")),
            pick(REGEXES).prop_map(|r| format!("matches {r}")),
            pick(STRINGS).prop_map(|s| format!("startswith {s}")),
            pick(STRINGS).prop_map(|s| format!("contains {s}")),
            Just("exists".to_owned()),
        ],
    )
        .prop_map(|(i, r)| format!("{i} {r}"));
    let bools = pick(&["true", "false"]);
    let annotation = (
        pick(ANNOTATIONS),
        prop_oneof![
            bools.clone().prop_map(|b| format!(" == {b}")),
            bools.clone().prop_map(|b| format!(" != {b}")),
            list_of(bools).prop_map(|l| format!(" in {l}")),
            Just(String::new()),
        ],
    )
        .prop_map(|(a, r)| format!("{a}{r}"));
    let risk = prop_oneof![
        pick(RISKS).prop_map(|r| format!("tool.risk == {r}")),
        pick(RISKS).prop_map(|r| format!("tool.risk != {r}")),
        list_of(pick(RISKS)).prop_map(|l| format!("tool.risk in {l}")),
        list_of(pick(RISKS)).prop_map(|l| format!("tool.risk not in {l}")),
    ];
    prop_oneof![2 => ident, 2 => annotation, 1 => risk]
}

/// A rule's targets: tools by name or pattern, or (never mixed with names) risk classes.
fn targets() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(target(), 1..4).prop_map(|ts| ts.join(", ")),
        1 => prop::sample::subsequence(RISKS, 1..3).prop_map(|rs| {
            rs.iter()
                .map(|r| format!("risk {}", r.trim_matches('"')))
                .collect::<Vec<_>>()
                .join(", ")
        }),
    ]
}

/// and / or / not over atoms, up to three levels deep.
fn condition(atom: BoxedStrategy<String>) -> impl Strategy<Value = String> {
    let leaf = prop_oneof![8 => atom, 1 => pick(&["true", "false"])];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4)
                .prop_map(|cs| format!("({})", cs.join(" and "))),
            prop::collection::vec(inner.clone(), 2..4)
                .prop_map(|cs| format!("({})", cs.join(" or "))),
            inner.prop_map(|c| format!("not {c}")),
        ]
    })
}

fn target() -> impl Strategy<Value = String> {
    let tool = prop_oneof![
        3 => pick(TARGET_TOOLS),
        2 => pick(TOOL_GLOBS),
        1 => Just(r#""odd name""#.to_owned()),
    ];
    (pick(SERVERS), tool).prop_map(|(s, t)| format!("{s}{t}"))
}

fn rule(index: usize) -> impl Strategy<Value = String> {
    let effect = pick(&["allow", "allow", "deny", "approve", "hide"]);
    (
        effect,
        targets(),
        prop::option::weighted(0.7, condition(arg_test().boxed())),
        prop::option::weighted(0.5, condition(meta_test().boxed())),
        prop::option::of(0..3usize),
        any::<bool>(),
    )
        .prop_map(
            move |(effect, targets, args_cond, meta_cond, limits, reason)| {
                let mut out = format!("  {effect} {targets}");
                let cond = match (effect.as_str(), args_cond, meta_cond) {
                    ("hide", _, m) => m,
                    (_, Some(a), Some(m)) => Some(format!("{a} and {m}")),
                    (_, a, m) => a.or(m),
                };
                if let Some(c) = cond {
                    out += &format!("\n    when {c}");
                }
                if matches!(effect.as_str(), "allow" | "approve") {
                    for k in 0..limits.unwrap_or(0) {
                        let (window, scope) =
                            [("minute", "grant"), ("hour", "tool"), ("second", "global")][k];
                        out += &format!(
                            "\n    limit {} per {window} per {scope} as c{index}_{k}",
                            k * 7 + 1
                        );
                    }
                } else if reason {
                    out += &format!("\n    because \"reason {index}\"");
                }
                out
            },
        )
}

fn policy_text() -> impl Strategy<Value = String> {
    (1..12usize)
        .prop_flat_map(|n| {
            let rules: Vec<_> = (0..n).map(rule).collect();
            let overrides = prop::collection::vec(
                (
                    prop::sample::subsequence(
                        &["delete_*", "read_me", "other", "*_file", "run"][..],
                        1..3,
                    ),
                    pick(RISKS),
                ),
                0..3,
            );
            (rules, pick(&["allow", "deny"]), any::<bool>(), overrides)
        })
        .prop_map(|(rules, default, reason, overrides)| {
            let because = if reason {
                " because \"no rule says so\""
            } else {
                ""
            };
            // Later statements that repeat a pattern with another class are conflicts: keep
            // the first class of each pattern.
            let mut seen = std::collections::HashSet::new();
            let mut risk = String::new();
            for (tools, class) in overrides {
                let tools: Vec<&str> = tools.into_iter().filter(|t| seen.insert(*t)).collect();
                if !tools.is_empty() {
                    risk += &format!(
                        "  risk {} is {}\n",
                        tools.join(", "),
                        class.trim_matches('"')
                    );
                }
            }
            format!(
                "policy gen {{\n  default {default}{because}\n{risk}{}\n}}\n",
                rules.join("\n")
            )
        })
}

fn lower(text: &str) -> Policy {
    let mut ws = Workspace::default();
    ws.add_source(std::path::Path::new("gen.warden"), text.to_owned());
    assert!(
        !ws.has_errors(),
        "generated policy has errors:\n{text}\n{:#?}",
        ws.diagnostics
    );
    ws.files.remove(0).policy.expect("a policy")
}

/// Builds the table, writes it and loads it back: the decisions tested are the loaded one's.
fn table_of(policy: &Policy, text: &str) -> Table {
    let built = Table::build(policy, Header::new(content_hash(text), true)).expect("builds");
    let loaded = Table::from_bytes(&built.to_bytes()).expect("loads");
    assert_eq!(built.spec(), loaded.spec());
    assert_eq!(built.header(), loaded.header());
    loaded
}

// ------------------------------------------------------------------ calls as raw JSON text

/// A JSON value as a tree, written out by `write_json` (so that escapes and duplicate keys
/// reach the table's raw reader as a client would send them).
#[derive(Clone, Debug)]
enum J {
    Lit(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

const KEYS: &[&str] = &["a", "b", "c", "k y", "arr", "n", "s", "deep", "ünï"];
const CALL_STRINGS: &[&str] = &[
    "a",
    "b",
    "",
    "ünï",
    "x y",
    "a\"b",
    "1",
    "company.team.a",
    "日本",
    "é",
    "ab",
    "ba",
    "a.b",
    "😀",
    "line\nbreak",
    "b\\",
];
const CALL_NUMBERS: &[&str] = &[
    "0",
    "-0",
    "0.0",
    "1",
    "1.0",
    "10e-1",
    "1E0",
    "-1",
    "1.5",
    "15e-1",
    "2",
    "1e400",
    "-1e400",
    "1e-400",
    "123456789012345678901234567890",
    "123456789012345678901234567891",
    "1.23456789012345678901234567890e29",
    "1e99999999999999999999",
    "-1e-99999999999999999999",
];

fn json_value() -> impl Strategy<Value = J> {
    let leaf = prop_oneof![
        pick(CALL_STRINGS).prop_map(J::Str),
        pick(CALL_NUMBERS).prop_map(J::Lit),
        pick(&["true", "false", "null"]).prop_map(J::Lit),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(J::Arr),
            prop::collection::vec((pick(KEYS), inner), 0..4).prop_map(J::Obj),
        ]
    })
}

/// Nesting far deeper than any policy path: `[[[…x…]]]` or `{"a":{"a":…}}`.
fn deep_value() -> impl Strategy<Value = J> {
    (0..60usize, any::<bool>(), json_value()).prop_map(|(depth, arrays, mut v)| {
        for _ in 0..depth {
            v = if arrays {
                J::Arr(vec![v])
            } else {
                J::Obj(vec![("a".into(), v)])
            };
        }
        v
    })
}

fn arguments() -> impl Strategy<Value = Option<J>> {
    let members = prop::collection::vec(
        (
            pick(KEYS),
            prop_oneof![4 => json_value(), 1 => deep_value()],
        ),
        0..7,
    );
    prop::option::weighted(0.9, members.prop_map(J::Obj))
}

fn write_json(v: &J, escape: bool, out: &mut String) {
    match v {
        J::Lit(s) => out.push_str(s),
        J::Str(s) => write_str(s, escape, out),
        J::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(item, escape, out);
            }
            out.push(']');
        }
        J::Obj(members) => {
            out.push_str("{ ");
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(k, escape, out);
                out.push_str(" :");
                write_json(v, escape, out);
            }
            out.push('}');
        }
    }
}

/// A JSON string; with `escape`, every character other than ASCII letters as `\uXXXX`.
fn write_str(s: &str, escape: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        if escape && !c.is_ascii_alphabetic() {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        } else {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

fn call_text() -> impl Strategy<Value = String> {
    let tool = prop_oneof![
        3 => pick(TOOLS),
        2 => pick(&["delete_all", "read_me", "other", "", "ünïcode", "list_y", "odd name", "wx"]),
    ];
    let ident = || {
        prop::option::weighted(
            0.6,
            pick(&["a", "b", "ab", "intern", "ünï", "", "x y", "1", "é"]),
        )
    };
    let annotations = prop::collection::vec((pick(ANNOTATIONS), any::<bool>()), 0..3);
    (
        tool,
        prop::option::of(pick(&["fs", "db", "fx", "other"])),
        arguments(),
        (ident(), ident(), ident()),
        annotations,
        any::<bool>(),
        prop::option::weighted(0.5, pick(RISKS)),
    )
        .prop_map(
            |(tool, server, args, (grant, agent, session), ann, escape, risk)| {
                let mut out = String::from("{\"name\": ");
                write_str(&tool, false, &mut out);
                if let Some(args) = args {
                    out.push_str(", \"arguments\": ");
                    write_json(&args, escape, &mut out);
                }
                for (key, v) in [
                    ("server", server),
                    ("grant", grant),
                    ("agent", agent),
                    ("session", session),
                ] {
                    if let Some(v) = v {
                        out.push_str(&format!(", \"{key}\": "));
                        write_str(&v, escape, &mut out);
                    }
                }
                let ann: Vec<String> = ann
                    .iter()
                    .map(|(a, b)| format!("\"{}\": {b}", a.trim_start_matches("tool.")))
                    .collect();
                out.push_str(&format!(", \"annotations\": {{{}}}", ann.join(", ")));
                if let Some(r) = risk {
                    out.push_str(&format!(", \"risk\": {r}"));
                }
                out.push('}');
                out
            },
        )
}

#[derive(Deserialize)]
struct RawArgs<'a> {
    #[serde(borrow)]
    arguments: Option<&'a RawValue>,
}

/// Decides one call both ways and fails on any difference.
fn agree(policy: &Policy, table: &Table, text: &str) -> Result<(), TestCaseError> {
    let value: serde_json::Value = serde_json::from_str(text).expect("generated call is JSON");
    let call = Call::from_json(&value).expect("generated call is a call");
    let raw: RawArgs = serde_json::from_str(text).expect("raw arguments");
    let expected = evaluate(policy, &call);
    let got = decide(table, &CallRef::new(&call, raw.arguments));
    prop_assert_eq!(&got.to_decision(), &expected, "call {}", text);
    prop_assert_eq!(got.rule_id(table), expected.rule_id(policy));
    prop_assert_eq!(got.reason(table), expected.reason(policy));
    prop_assert_eq!(got.to_json(table), expected.to_json(policy));
    Ok(())
}

const POLICIES: u32 = 1_000;
const CALLS_PER_POLICY: usize = 100;

/// The core property: on 1,000 generated policies × 100 generated calls (100,000 decisions),
/// the table (built, written, loaded back) decides exactly as the reference evaluator.
#[test]
fn table_agrees_with_reference_evaluator() {
    let mut runner = TestRunner::new(Config {
        cases: POLICIES,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        policy_text(),
        prop::collection::vec(call_text(), CALLS_PER_POLICY),
    );
    runner
        .run(&strategy, |(text, calls)| {
            let policy = lower(&text);
            let table = table_of(&policy, &text);
            for call in &calls {
                agree(&policy, &table, call)?;
            }
            Ok(())
        })
        .unwrap();
}

// ------------------------------------------------------------------ the file against corruption

/// A realistic policy: exact names, globs, server qualifiers, every effect, limits, reasons.
const KESTRA: &str = r#"policy kestra {
  default deny because "not on the list"

  allow list_flows, search_flows, get_flow
  read-anything: allow *::get_*, *::list_* when tool.readOnlyHint

  allow execute_flow
    when args.namespace matches "company.team.*" and not (args.inputs.size > 1000)
    limit 10 per minute per grant

  deny execute_flow
    when args.namespace == "company.prod.billing" or args.labels contains "pii"
    because "billing flows are run by finance only"

  approve delete_*, kill_execution because "destructive: a human decides"
  hide backfill_*
  deny prod::* when grant in ["intern", "guest"] and not (agent matches /^ops-/) because "no prod for you"
  allow prod::restart_* when session startswith "oncall-" limit 3 per hour per session as restarts
}
"#;

fn kestra() -> (Policy, Table) {
    let policy = lower(KESTRA);
    let table = table_of(&policy, KESTRA);
    (policy, table)
}

const PROBES: &[&str] = &[
    r#"{"name":"execute_flow","arguments":{"namespace":"company.team.a","inputs":{"size":10}},"grant":"ci"}"#,
    r#"{"name":"execute_flow","arguments":{"namespace":"company.prod.billing"}}"#,
    r#"{"name":"execute_flow","arguments":{"namespace":"company.team.x","labels":["pii"]}}"#,
    r#"{"name":"delete_flow"}"#,
    r#"{"name":"backfill_all","server":"prod"}"#,
    r#"{"name":"get_logs","server":"prod","grant":"intern","annotations":{"readOnlyHint":true}}"#,
    r#"{"name":"restart_worker","server":"prod","session":"oncall-7"}"#,
    r#"{"name":"something_else"}"#,
];

fn decisions(table: &Table) -> Vec<serde_json::Value> {
    PROBES
        .iter()
        .map(|text| {
            let call = Call::from_json(&serde_json::from_str(text).unwrap()).unwrap();
            let raw: RawArgs = serde_json::from_str(text).unwrap();
            decide(table, &CallRef::new(&call, raw.arguments)).to_json(table)
        })
        .collect()
}

#[test]
fn probes_agree_with_the_reference() {
    let (policy, table) = kestra();
    for text in PROBES {
        agree(&policy, &table, text).unwrap();
    }
    let got = decisions(&table);
    assert_eq!(got[0]["decision"], "allow");
    assert_eq!(got[0]["limits"][0]["counter"], "execute_flow_rate");
    assert_eq!(got[1]["reason"], "billing flows are run by finance only");
    assert_eq!(got[3]["decision"], "approve");
    assert_eq!(got[4]["decision"], "hide");
    assert_eq!(got[5]["rule"], "deny-*");
    assert_eq!(got[6]["limits"][0]["counter"], "restarts");
    assert_eq!(got[7]["rule"], "default");
}

#[test]
fn every_byte_flip_is_refused_or_harmless() {
    let (_, table) = kestra();
    let bytes = table.to_bytes();
    let expected = decisions(&table);
    let mut refused = 0;
    for at in 0..bytes.len() {
        for mask in [0x01u8, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff] {
            let mut corrupt = bytes.clone();
            corrupt[at] ^= mask;
            match Table::from_bytes(&corrupt) {
                Err(_) => refused += 1,
                Ok(t) => assert_eq!(decisions(&t), expected, "flip {mask:#x} at byte {at}"),
            }
        }
    }
    // CRC-32 catches every burst of up to 32 bits, so in fact every flip is refused.
    assert_eq!(refused, bytes.len() * 9);
}

#[test]
fn every_truncation_is_refused() {
    let (_, table) = kestra();
    let bytes = table.to_bytes();
    for len in 0..bytes.len() {
        let err = Table::from_bytes(&bytes[..len]).unwrap_err();
        if len >= 8 {
            assert!(
                matches!(err, TableError::Truncated { .. }),
                "length {len}: {err}"
            );
        }
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        Table::from_bytes(&longer),
        Err(TableError::Malformed(_))
    ));
}

#[test]
fn foreign_files_and_versions_are_refused_clearly() {
    let (_, table) = kestra();
    let mut bytes = table.to_bytes();
    let err = Table::from_bytes(KESTRA.as_bytes()).unwrap_err();
    assert_eq!(err, TableError::NotATable);
    assert!(err.to_string().contains("not a warden decision table"));
    // Format 1 (before risk classes) is another format now.
    bytes[8] = 1;
    let n = bytes.len();
    let crc = crc32(&bytes[..n - 4]);
    bytes[n - 4..].copy_from_slice(&crc.to_le_bytes());
    let err = Table::from_bytes(&bytes).unwrap_err();
    assert_eq!(err, TableError::Version { found: 1 });
    assert!(
        err.to_string().contains("version 1 is not supported"),
        "{err}"
    );
}

#[test]
fn header_records_hash_and_check_status() {
    let (_, table) = kestra();
    let loaded = Table::from_bytes(&table.to_bytes()).unwrap();
    assert_eq!(loaded.header().policy_hash, content_hash(KESTRA));
    assert!(loaded.header().checked);
    assert_eq!(loaded.header().writer, env!("CARGO_PKG_VERSION"));
    let unchecked = Table::build(&lower(KESTRA), Header::new([7; 32], false)).unwrap();
    let loaded = Table::from_bytes(&unchecked.to_bytes()).unwrap();
    assert!(!loaded.header().checked);
    assert_eq!(loaded.header().policy_hash, [7; 32]);
}

/// CRC-32 (IEEE), bit by bit: an independent check of the format's checksum.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

// ------------------------------------------------------------------ the command line

fn warden() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("warden").unwrap()
}

#[test]
fn compile_table_then_eval_matches_eval_of_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("kestra.warden");
    let table = dir.path().join("kestra.wdt");
    std::fs::write(&policy, KESTRA).unwrap();
    warden()
        .arg("compile")
        .arg(&policy)
        .arg("--table")
        .arg(&table)
        .assert()
        .success();
    for call in PROBES {
        let from_policy = warden()
            .arg("eval")
            .arg(&policy)
            .args(["--call", call])
            .assert()
            .success();
        let from_table = warden()
            .arg("eval")
            .arg(&table)
            .args(["--call", call])
            .assert()
            .success();
        assert_eq!(
            from_policy.get_output().stdout,
            from_table.get_output().stdout,
            "{call}"
        );
    }
    let bytes = std::fs::read(&table).unwrap();
    std::fs::write(&table, &bytes[..bytes.len() - 1]).unwrap();
    let out = warden()
        .arg("eval")
        .arg(&table)
        .args(["--call", PROBES[0]])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("truncated"), "{stderr}");
}

#[test]
fn compile_refuses_a_policy_with_errors() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("bad.warden");
    let table = dir.path().join("bad.wdt");
    std::fs::write(&policy, "policy bad { allow x when args.n < \"ten\" }").unwrap();
    warden()
        .arg("compile")
        .arg(&policy)
        .arg("--table")
        .arg(&table)
        .assert()
        .code(1);
    assert!(!table.exists());
}

#[test]
fn risk_classes_decide_the_same_from_a_table_file() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("risk.warden");
    let table = dir.path().join("risk.wdt");
    std::fs::write(
        &policy,
        r#"policy risky {
  default allow
  risk purge_cache is read
  risk refund_* is financial
  deny risk destructive because "nothing is deleted"
  approve risk financial because "money moves"
  hide risk execute
}"#,
    )
    .unwrap();
    warden()
        .arg("compile")
        .arg(&policy)
        .arg("--table")
        .arg(&table)
        .assert()
        .success();
    let cases = [
        (r#"{"name":"drop_table"}"#, "deny"),
        (r#"{"name":"drop_table","risk":"read"}"#, "allow"),
        (r#"{"name":"purge_cache"}"#, "allow"),
        (r#"{"name":"refund_all","risk":"read"}"#, "approve"),
        (r#"{"name":"list_x","risk":"execute"}"#, "hide"),
        (r#"{"name":"list_x"}"#, "allow"),
    ];
    for (call, expected) in cases {
        let mut outputs = Vec::new();
        for source in [&policy, &table] {
            let out = warden()
                .arg("eval")
                .arg(source)
                .args(["--call", call])
                .assert()
                .success();
            outputs.push(out.get_output().stdout.clone());
        }
        assert_eq!(outputs[0], outputs[1], "{call}");
        let d: serde_json::Value = serde_json::from_slice(&outputs[0]).unwrap();
        assert_eq!(d["decision"], expected, "{call}");
    }
}
