//! Front-end scaling: parse + lower (all static checks) of generated policies with 100, 1,000
//! and 10,000 rules. Prints the time per rule at each size and the ratio 10,000/100 of the
//! per-rule times: close to 1 means linear, growth means something quadratic crept in.
//!
//! Run: `cargo bench --bench front_end`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails loudly on a bad fixture"
)]

use std::path::Path;
use std::time::{Duration, Instant};
use warden::pipeline::Workspace;

/// A realistic rule mix: tool rules, argument conditions, limits, denials with reasons.
fn policy(rules: usize) -> String {
    let mut s = String::from("policy bench {\n  default deny\n");
    for i in 0..rules {
        let tool = format!("tool_{}", i / 5);
        match i % 5 {
            0 => s.push_str(&format!("  allow {tool}\n")),
            1 => s.push_str(&format!(
                "  allow {tool} when args.ns startswith \"team{i}.\" and args.n < {i}\n    limit 10 per minute per grant as c{i}\n"
            )),
            2 => s.push_str(&format!(
                "  deny {tool} when args.ns == \"prod{i}\" or args.path matches \"/etc/*\" because \"no {i}\"\n"
            )),
            3 => s.push_str(&format!("  approve {tool} when args.amount > {i}.5 because \"big\"\n")),
            _ => s.push_str(&format!("  allow {tool} when grant in [\"a\", \"b\"] and not (args.env == \"prod\")\n")),
        }
    }
    s.push_str("}\n");
    s
}

fn time_one(text: &str) -> Duration {
    let start = Instant::now();
    let mut ws = Workspace::default();
    ws.add_source(Path::new("bench.warden"), text.to_string());
    let elapsed = start.elapsed();
    assert!(!ws.has_errors(), "generated policy has errors");
    elapsed
}

/// The median of several runs.
fn measure(text: &str, runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs).map(|_| time_one(text)).collect();
    times.sort();
    times[runs / 2]
}

fn main() {
    println!("front end: parse + lower + static checks (median of runs)");
    println!("{:>8} {:>12} {:>14}", "rules", "total", "per rule");
    let mut per_rule = Vec::new();
    for (n, runs) in [(100, 31), (1_000, 11), (10_000, 5)] {
        let text = policy(n);
        let t = measure(&text, runs);
        let each = t.as_secs_f64() / n as f64;
        per_rule.push(each);
        println!(
            "{n:>8} {:>10.2}ms {:>12.2}µs",
            t.as_secs_f64() * 1e3,
            each * 1e6
        );
    }
    println!(
        "per-rule time ratio 10,000 / 100 rules: {:.2} (1.0 = linear)",
        per_rule[2] / per_rule[0]
    );
}
