//! `warden check`'s verifier: proofs about a lowered policy.
//!
//! [`check`] answers, for every rule of a policy without errors: can it match at all
//! (empty-rule)? can it ever decide (unreachable-rule, with a minimal set of blocking rules)?
//! does it partly overlap a rule of a stronger effect (conflicting-rules)? would removing it
//! change anything (redundant-rule)? do its limits ever count (limit-never-applies)? can a call
//! get past it by leaving out an argument (missing-argument-hazard)? and whether every
//! `assert` holds (assertion-violated). With a [`Catalog`] it also checks names and argument
//! paths against the server's tools. Every finding that claims a call exists carries that call,
//! replayed through [`crate::eval::evaluate`] first; an unknown solver answer is reported as
//! inconclusive, never as a pass.
//!
//! Layout: [`strings`] and [`space`] build an exact finite abstraction of requests without a
//! solver; `smt` (the only module importing z3) turns it into formulas; `verify`, `report` and
//! `overlap` ask the questions; `known` answers the certain ones without the solver; `witness`
//! turns models into calls; `overrides` finds shadowed `risk … is …` globs; `parallel` spreads the rules of a large policy over threads;
//! [`diff`] compares two versions.
//! Everything but the catalog checks sits behind the default `verify` feature.

pub mod catalog;
#[cfg(feature = "verify")]
pub mod diff;
#[cfg(feature = "verify")]
mod known;
#[cfg(feature = "verify")]
mod overlap;
#[cfg(feature = "verify")]
mod overrides;
#[cfg(feature = "verify")]
mod parallel;
#[cfg(feature = "verify")]
mod report;
#[cfg(feature = "verify")]
mod smt;
#[cfg(feature = "verify")]
pub mod space;
#[cfg(feature = "verify")]
pub mod strings;
#[cfg(feature = "verify")]
pub(crate) mod verify;
#[cfg(feature = "verify")]
mod witness;

pub use catalog::Catalog;

use crate::diagnostic::Diagnostic;
use crate::ir::Policy;
use std::time::{Duration, Instant};

/// The default per-query solver timeout.
pub const DEFAULT_TIMEOUT_MS: u32 = 2_000;

/// How to check.
#[derive(Clone, Debug)]
pub struct Options {
    /// Per solver query, in milliseconds.
    pub timeout_ms: u32,
    pub catalog: Option<Catalog>,
    /// Verifier threads; `None` picks by the number of rules (never by the machine, so that
    /// witnesses are the same everywhere).
    pub workers: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout_ms: DEFAULT_TIMEOUT_MS,
            catalog: None,
            workers: None,
        }
    }
}

/// What a check did, for the summary line.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub rules: usize,
    pub queries: u64,
    pub inconclusive: usize,
    pub elapsed: Duration,
    /// False when built without the `verify` feature: only the catalog checks ran.
    pub verified: bool,
}

impl Stats {
    pub fn add(&mut self, other: &Stats) {
        self.rules += other.rules;
        self.queries += other.queries;
        self.inconclusive += other.inconclusive;
        self.elapsed += other.elapsed;
        self.verified |= other.verified;
    }
}

/// Verifies one policy (which must have no error diagnostics from lowering).
pub fn check(policy: &Policy, options: &Options) -> (Vec<Diagnostic>, Stats) {
    let start = Instant::now();
    let mut out = Vec::new();
    if let Some(cat) = &options.catalog {
        out.extend(catalog::check(policy, cat));
    }
    #[cfg(feature = "verify")]
    {
        let tools: Vec<&str> = (options.catalog.iter())
            .flat_map(|c| c.tools.iter().map(|t| t.name.as_str()))
            .collect();
        out.extend(overrides::check(policy, &tools));
    }
    #[cfg(feature = "verify")]
    let mut stats = verify_policy(policy, options, &mut out);
    #[cfg(not(feature = "verify"))]
    let mut stats = Stats {
        rules: policy.rules.len(),
        ..Stats::default()
    };
    stats.elapsed = start.elapsed();
    crate::diagnostic::sort(&mut out);
    (out, stats)
}

#[cfg(feature = "verify")]
fn verify_policy(policy: &Policy, options: &Options, out: &mut Vec<Diagnostic>) -> Stats {
    use crate::diagnostic::code;
    let space = match space::Space::build(&[policy], options.catalog.as_ref()) {
        Ok(s) => s,
        Err(strings::TooComplex) => {
            out.push(
                Diagnostic::new(
                    code::INCONCLUSIVE,
                    policy.span,
                    "this policy's patterns are too many to verify",
                )
                .label(format!(
                    "more than {} name or string classes",
                    strings::MAX_STATES
                ))
                .help("split the policy, or use fewer overlapping globs"),
            );
            return Stats {
                rules: policy.rules.len(),
                inconclusive: 1,
                verified: true,
                ..Stats::default()
            };
        }
    };
    let workers = options
        .workers
        .unwrap_or_else(|| parallel::workers(policy.rules.len()))
        .clamp(1, policy.rules.len().max(1));
    let mut stats = if workers > 1 {
        parallel::run(policy, &space, options, workers, out)
    } else {
        let mut v = verify::Verifier::new(policy, &space, options);
        let stats = v.run();
        out.append(&mut v.out);
        stats
    };
    stats.verified = true;
    stats
}
