//! Spreading the verifier's questions over threads for large policies.
//!
//! z3 contexts are per thread, so every worker builds its own [`Verifier`] (its own encoding of
//! the whole policy and its own solver) over the shared [`Space`] and answers the questions of
//! one contiguous share of the rules. The work runs in the verifier's two phases: every worker
//! finds the status of its rules (empty, blocked, deciding) and sends them to the calling
//! thread, which hands every worker all statuses (redundancy and conflicts read other rules'
//! statuses); then every worker reports the findings of its rules, and the first also checks
//! the assertions. A worker that fails leaves its rules' statuses unknown and an inconclusive
//! finding, never a silent pass.
//!
//! The number of workers depends only on the number of rules, never on the machine, so that
//! the same policy gets the same witnesses everywhere (a solver's models depend on its
//! history).

use super::space::Space;
use super::verify::{Status, Verifier};
use super::{Options, Stats};
use crate::diagnostic::{Diagnostic, code};
use crate::ir::Policy;
use std::sync::mpsc;

/// Below this many rules one thread answers faster than two build their encodings.
const RULES_PER_WORKER: usize = 200;
const MAX_WORKERS: usize = 2;

/// How many workers verify a policy of `rules` rules.
pub fn workers(rules: usize) -> usize {
    (rules / RULES_PER_WORKER).clamp(1, MAX_WORKERS)
}

/// Verifies `policy` on `workers` threads; findings go to `out`.
pub fn run(
    policy: &Policy,
    space: &Space,
    options: &Options,
    workers: usize,
    out: &mut Vec<Diagnostic>,
) -> Stats {
    let n = policy.rules.len();
    let shares: Vec<Vec<usize>> = (0..workers)
        .map(|w| (w * n / workers..(w + 1) * n / workers).collect())
        .collect();
    let mut stats = Stats {
        rules: n,
        ..Stats::default()
    };
    std::thread::scope(|scope| {
        let (found_tx, found_rx) = mpsc::channel::<Vec<(usize, Status)>>();
        let mut to_workers = Vec::new();
        let mut handles = Vec::new();
        for (w, share) in shares.iter().enumerate() {
            let (all_tx, all_rx) = mpsc::channel::<Vec<Status>>();
            to_workers.push(all_tx);
            let found_tx = found_tx.clone();
            handles.push(scope.spawn(move || {
                let mut v = Verifier::new(policy, space, options);
                let mine = share.iter().map(|&i| (i, v.status_of(i))).collect();
                // The lead waits for every worker's statuses (or its end) before answering.
                let _ = found_tx.send(mine);
                drop(found_tx);
                let all = all_rx.recv().unwrap_or_else(|_| vec![Status::Unknown; n]);
                v.findings(share, &all, w == 0);
                let stats = v.stats();
                (std::mem::take(&mut v.out), stats)
            }));
        }
        drop(found_tx);
        // A worker that ends without sending closes its sender: the loop ends when all have.
        let mut all = vec![Status::Unknown; n];
        for (i, s) in found_rx.iter().flatten() {
            if let Some(slot) = all.get_mut(i) {
                *slot = s;
            }
        }
        for tx in to_workers {
            let _ = tx.send(all.clone());
        }
        for h in handles {
            match h.join() {
                Ok((mut found, s)) => {
                    out.append(&mut found);
                    stats.queries += s.queries;
                    stats.inconclusive += s.inconclusive;
                }
                Err(_) => {
                    stats.inconclusive += 1;
                    out.push(
                        Diagnostic::new(
                            code::INCONCLUSIVE,
                            policy.span,
                            "a verifier thread failed: some questions went unanswered",
                        )
                        .help("please report it with this policy"),
                    );
                }
            }
        }
    });
    stats
}
