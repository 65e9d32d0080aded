//! The verifier's speed on synthetic but realistic policies: N rules over T = N/5 tools, each
//! tool with an argument-conditioned allow, a deny exception, an approval threshold, an
//! identity rule and a limit, plus a few cross-tool globs. Prints the full `check` wall time for
//! N = 100, 1,000 and 5,000 and the ratio 1,000/100 (target: 1,000 rules under 1 s, growth
//! close to linear). Run with `cargo bench --bench check`.

use std::path::Path;
use std::time::Instant;
use warden::check::{Options, check};
use warden::pipeline::Workspace;

/// A policy with `n` rules over `n / 5` tools.
fn policy(n: usize) -> String {
    let tools = (n / 5).max(1);
    let verbs = ["list", "get", "create", "update", "delete", "run", "export"];
    let mut out = String::from("policy bench {\n  default deny\n");
    let mut rules = 0;
    for t in 0..tools {
        let tool = format!(
            "{}_{}_{t}",
            verbs[t % verbs.len()],
            ["flow", "file", "user", "job"][t % 4]
        );
        let team = t % 13;
        let lines = [
            format!(
                "  allow {tool} when args.namespace matches \"team{team}.*\" limit 20 per minute per grant as c{t}\n"
            ),
            format!(
                "  deny {tool} when args.namespace == \"team{team}.prod\" because \"production is read-only\"\n"
            ),
            format!(
                "  approve {tool} when args.amount > {} because \"large\"\n",
                100 * (t % 7 + 1)
            ),
            format!("  allow {tool} when grant == \"ci\" and args.dry_run == true\n"),
            format!(
                "  deny {tool} when args.path startswith \"/etc\" or args.count >= {}\n",
                1000 + t
            ),
        ];
        for l in lines {
            if rules < n {
                out.push_str(&l);
                rules += 1;
            }
        }
    }
    // A few cross-tool rules, as real policies have.
    out.push_str("  hide export_*\n  approve delete_* because \"destructive\"\n");
    out.push_str("  assert never allow delete_file_1 when args.namespace == \"team1.prod\"\n}\n");
    out
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![100, 1_000, 5_000]
    } else {
        sizes
    };
    let mut times = Vec::new();
    for n in sizes {
        let text = policy(n);
        let mut ws = Workspace::default();
        ws.add_source(Path::new("bench.warden"), text);
        let Some(p) = ws.files.first().and_then(|f| f.policy.clone()) else {
            eprintln!("the generated policy did not lower: {:?}", ws.diagnostics);
            return;
        };
        let start = Instant::now();
        let (diags, stats) = check(&p, &Options::default());
        let secs = start.elapsed().as_secs_f64();
        println!(
            "check N={n:>5} rules, T={:>4} tools: {:>8.3} s  ({} solver queries, {} findings, {} inconclusive)",
            n / 5,
            secs,
            stats.queries,
            diags.len(),
            stats.inconclusive
        );
        times.push(secs);
    }
    if let [t100, t1000, ..] = times.as_slice() {
        println!("ratio 1000/100: {:.1} (10 would be linear)", t1000 / t100);
    }
}
