//! The synthetic policies of the verifier benchmark (benches/check.rs), shared with the
//! verifier's tests (tests/verify.rs) so that both exercise the same shapes.

/// A policy with `n` rules over `n / 5` tools.
pub fn policy(n: usize) -> String {
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
