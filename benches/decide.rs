//! ns per decision of the decision table, against the rule count, the reference evaluator and
//! Cedar; and the table's load time. `cargo bench --bench decide` prints criterion's figures,
//! then a summary table with the ratios (docs/performance.md records a run).
//!
//! Synthetic policies of N rules, each on its own tool (`tool_0` … `tool_N-1`), default deny:
//! - tool-only: `allow tool_i`;
//! - 3 argument conditions: `allow tool_i when args.namespace == "ns-i" and args.count < 100
//!   and args.env in ["dev", "staging"]`;
//! - risk class: `allow tool_i when tool.risk == "write"`, with overrides for three other
//!   tools, and the call carrying the class the proxy learned from `tools/list`.
//!
//! The call is `tool_{N/2}` with arguments that satisfy its rule. With `--features cedar`,
//! Cedar gets the same policy (tool = action, arguments = context) and is timed beside it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark fails loudly on its own fixtures"
)]

use criterion::{BenchmarkId, Criterion, black_box};
use serde_json::value::RawValue;
use std::time::{Duration, Instant};
use warden::call::Call;
use warden::eval::evaluate;
use warden::ir::Policy;
use warden::pipeline::Workspace;
use warden::table::{CallRef, Header, Table, content_hash, decide};

const SIZES: [usize; 4] = [10, 100, 1_000, 10_000];

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    ToolOnly,
    Args3,
    Risk,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::ToolOnly => "tool-only",
            Kind::Args3 => "3 arg conditions",
            Kind::Risk => "risk class",
        }
    }
}

fn warden_text(kind: Kind, n: usize) -> String {
    let mut out = String::from("policy bench {\n  default deny\n");
    if kind == Kind::Risk {
        out += "  risk tool_0, other_* is read\n  risk refund_* is financial\n";
    }
    for i in 0..n {
        match kind {
            Kind::ToolOnly => out += &format!("  allow tool_{i}\n"),
            Kind::Risk => out += &format!("  allow tool_{i} when tool.risk == \"write\"\n"),
            Kind::Args3 => {
                out += &format!(
                    "  allow tool_{i} when args.namespace == \"ns-{i}\" and args.count < 100 and args.env in [\"dev\", \"staging\"]\n"
                )
            }
        }
    }
    out + "}\n"
}

fn cedar_text(kind: Kind, n: usize) -> String {
    (0..n)
        .map(|i| match kind {
            Kind::ToolOnly => format!("permit(principal, action == Action::\"tool_{i}\", resource);\n"),
            Kind::Risk => format!(
                "permit(principal, action == Action::\"tool_{i}\", resource) when {{ context.risk == \"write\" }};\n"
            ),
            Kind::Args3 => format!(
                "permit(principal, action == Action::\"tool_{i}\", resource) when {{ context.namespace == \"ns-{i}\" && context.count < 100 && [\"dev\", \"staging\"].contains(context.env) }};\n"
            ),
        })
        .collect()
}

fn arguments(n: usize) -> serde_json::Value {
    serde_json::json!({"namespace": format!("ns-{}", n / 2), "count": 7, "env": "dev"})
}

struct Fixture {
    policy: Policy,
    table: Table,
    bytes: Vec<u8>,
    call: Call,
    raw: Box<RawValue>,
    cedar: cedar::Fixture,
}

fn fixture(kind: Kind, n: usize) -> Fixture {
    let text = warden_text(kind, n);
    let mut ws = Workspace::default();
    ws.add_source(std::path::Path::new("bench.warden"), text.clone());
    assert!(!ws.has_errors());
    let policy = ws.files.remove(0).policy.unwrap();
    let table = Table::build(&policy, Header::new(content_hash(&text), true)).unwrap();
    let bytes = table.to_bytes();
    let args = arguments(n);
    let call = Call {
        tool: format!("tool_{}", n / 2),
        arguments: Some(args.clone()),
        grant: Some("ci".into()),
        ..Call::default()
    };
    let raw = serde_json::value::to_raw_value(&args).unwrap();
    let call = Call {
        risk: (kind == Kind::Risk).then_some(warden::risk::Risk::Write),
        ..call
    };
    let mut context = args;
    if kind == Kind::Risk {
        context["risk"] = serde_json::json!("write");
    }
    let cedar = cedar::Fixture::new(&cedar_text(kind, n), n, context);
    Fixture {
        policy,
        table,
        bytes,
        call,
        raw,
        cedar,
    }
}

impl Fixture {
    fn call_ref(&self) -> CallRef<'_> {
        CallRef::new(&self.call, Some(&self.raw))
    }

    fn check(&self) {
        let expected = evaluate(&self.policy, &self.call);
        assert_eq!(decide(&self.table, &self.call_ref()), expected);
        assert_eq!(expected.effect, warden::ir::Effect::Allow);
        self.cedar.check();
    }
}

#[cfg(feature = "cedar")]
mod cedar {
    use cedar_policy::{Authorizer, Context, Entities, EntityUid, PolicySet, Request};

    pub struct Fixture {
        policies: PolicySet,
        request: Request,
        authorizer: Authorizer,
        entities: Entities,
    }

    impl Fixture {
        pub fn new(text: &str, n: usize, args: serde_json::Value) -> Fixture {
            let request = Request::new(
                r#"User::"ci""#.parse::<EntityUid>().unwrap(),
                format!(r#"Action::"tool_{}""#, n / 2).parse().unwrap(),
                r#"Server::"kestra""#.parse().unwrap(),
                Context::from_json_value(args, None).unwrap(),
                None,
            )
            .unwrap();
            Fixture {
                policies: text.parse().unwrap(),
                request,
                authorizer: Authorizer::new(),
                entities: Entities::empty(),
            }
        }

        pub fn enabled(&self) -> bool {
            true
        }

        pub fn decide(&self) -> bool {
            let answer = self.authorizer.is_authorized(
                std::hint::black_box(&self.request),
                &self.policies,
                &self.entities,
            );
            answer.decision() == cedar_policy::Decision::Allow
        }

        pub fn check(&self) {
            assert!(self.decide(), "Cedar denies the call the policy allows");
        }
    }
}

/// Without `--features cedar`: no Cedar figures.
#[cfg(not(feature = "cedar"))]
mod cedar {
    pub struct Fixture;

    impl Fixture {
        pub fn new(_text: &str, _n: usize, _args: serde_json::Value) -> Fixture {
            Fixture
        }

        pub fn enabled(&self) -> bool {
            false
        }

        pub fn decide(&self) -> bool {
            false
        }

        pub fn check(&self) {}
    }
}

/// Median ns per call of `f` over a few rounds sized to about 50 ms each.
fn ns_per(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut calibrate = 0u64;
    while start.elapsed() < Duration::from_millis(20) {
        f();
        calibrate += 1;
    }
    let iters = (calibrate * 5 / 2).max(1);
    let mut rounds: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    rounds.sort_by(|a, b| a.total_cmp(b));
    rounds[rounds.len() / 2]
}

fn cedar_note() {
    if !cfg!(feature = "cedar") {
        println!("(Cedar columns are NaN: run with `--features cedar` to time Cedar)");
    }
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(600))
        .sample_size(10)
        .configure_from_args();
    let fixtures: Vec<(Kind, usize, Fixture)> = [Kind::ToolOnly, Kind::Args3, Kind::Risk]
        .into_iter()
        .flat_map(|k| SIZES.map(|n| (k, n, fixture(k, n))))
        .collect();
    for (kind, n, f) in &fixtures {
        f.check();
        let mut group = c.benchmark_group(kind.name());
        let call = f.call_ref();
        group.bench_with_input(BenchmarkId::new("table", n), n, |b, _| {
            b.iter(|| decide(black_box(&f.table), black_box(&call)))
        });
        group.bench_with_input(BenchmarkId::new("reference", n), n, |b, _| {
            b.iter(|| evaluate(black_box(&f.policy), black_box(&f.call)))
        });
        if f.cedar.enabled() {
            group.bench_with_input(BenchmarkId::new("cedar", n), n, |b, _| {
                b.iter(|| f.cedar.decide())
            });
        }
        if *n == 10_000 {
            group.bench_function("load-10000", |b| {
                b.iter(|| Table::from_bytes(black_box(&f.bytes)).unwrap())
            });
        }
        group.finish();
    }
    // WARDEN_BENCH_SUMMARY=0 skips the summary (e.g. when profiling one benchmark).
    if std::env::var_os("WARDEN_BENCH_SUMMARY").is_none_or(|v| v != "0") {
        summary(&fixtures);
    }
}

fn summary(fixtures: &[(Kind, usize, Fixture)]) {
    println!("\n## Summary (median ns per decision)\n");
    cedar_note();
    println!("| rules | policy | table | reference | reference/table | cedar | cedar/table |");
    println!("|---:|---|---:|---:|---:|---:|---:|");
    let mut table_ns = Vec::new();
    for (kind, n, f) in fixtures {
        let call = f.call_ref();
        let t = ns_per(|| {
            black_box(decide(black_box(&f.table), black_box(&call)));
        });
        let r = ns_per(|| {
            black_box(evaluate(black_box(&f.policy), black_box(&f.call)));
        });
        let cd = if f.cedar.enabled() {
            ns_per(|| {
                black_box(f.cedar.decide());
            })
        } else {
            f64::NAN
        };
        println!(
            "| {n} | {} | {t:.1} | {r:.1} | {:.0}× | {cd:.0} | {:.0}× |",
            kind.name(),
            r / t,
            cd / t
        );
        table_ns.push((*kind, *n, t));
    }
    for kind in [Kind::ToolOnly, Kind::Args3, Kind::Risk] {
        let at = |n| {
            table_ns
                .iter()
                .find(|(k, m, _)| *k == kind && *m == n)
                .map_or(f64::NAN, |(_, _, t)| *t)
        };
        println!(
            "\nratio 10,000/10 rules, {}: {:.2} (target < 2)",
            kind.name(),
            at(10_000) / at(10)
        );
    }
    if let Some((_, _, f)) = fixtures
        .iter()
        .find(|(k, n, _)| *k == Kind::Args3 && *n == 10_000)
    {
        let start = Instant::now();
        let rounds = 10;
        for _ in 0..rounds {
            black_box(Table::from_bytes(black_box(&f.bytes)).unwrap());
        }
        println!(
            "table load, 10,000 rules with 3 arg conditions ({} bytes): {:.2} ms",
            f.bytes.len(),
            start.elapsed().as_secs_f64() * 1000.0 / f64::from(rounds)
        );
    }
}
