//! The verifier's speed on synthetic but realistic policies: N rules over T = N/5 tools, each
//! tool with an argument-conditioned allow, a deny exception, an approval threshold, an
//! identity rule and a limit, plus a few cross-tool globs. Prints the full `check` wall time for
//! N = 100, 1,000 and 5,000 and the ratio 1,000/100 (target: 1,000 rules under 1 s, growth
//! close to linear). Run with `cargo bench --bench check`.

#[path = "support/check_policy.rs"]
mod check_policy;

use check_policy::policy;
use std::path::Path;
use std::time::Instant;
use warden::check::{Options, check};
use warden::pipeline::Workspace;

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
        if n >= 1_000 {
            let one = Options {
                workers: Some(1),
                ..Options::default()
            };
            let start = Instant::now();
            let _ = check(&p, &one);
            let single = start.elapsed().as_secs_f64();
            println!(
                "              one thread: {single:>8.3} s  (default / one thread: {:.2})",
                secs / single
            );
        }
    }
    if let [t100, t1000, ..] = times.as_slice() {
        println!("ratio 1000/100: {:.1} (10 would be linear)", t1000 / t100);
    }
}
