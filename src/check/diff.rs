//! `warden diff`: the calls whose decision differs between two versions of a policy.
//!
//! Both versions are encoded over one symbolic request (one [`Space`] built from both). For
//! every tool class and every effect the new version can decide, two questions: is some call
//! newly decided so *and* more permissive than before, or newly decided so and less
//! permissive? (Permissiveness: hide < deny < approve < allow.) A last question per tool: is
//! some call forwarded by both versions under different limits? Each yes carries a witness
//! call replayed through both versions with the evaluator. The verdict is equivalent, more
//! permissive, less permissive or incomparable; an unknown answer is counted as inconclusive
//! (and makes `--fail-on new-access` fail: it is not a proof of no new access).

use super::Options;
use super::smt::{Answer, Decisions, F, Request, Session};
use super::space::Space;
use super::witness;
use crate::call::Call;
use crate::eval::{self, Decision};
use crate::ir::{Effect, Policy};
use serde_json::{Value, json};

/// How permissive an effect is: hide < deny < approve < allow.
fn rank(e: Effect) -> u8 {
    5 - e.precedence()
}

const EFFECTS: [Effect; 4] = [Effect::Allow, Effect::Approve, Effect::Deny, Effect::Hide];

/// What kind of change a call shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Decided with this effect now, another before.
    Now(Effect),
    /// Forwarded by both, under different limits.
    LimitsChanged,
}

impl Kind {
    pub fn describe(self) -> String {
        match self {
            Kind::Now(Effect::Allow) => "newly allowed".into(),
            Kind::Now(Effect::Approve) => "newly needs approval".into(),
            Kind::Now(Effect::Deny) => "newly denied".into(),
            Kind::Now(Effect::Hide) => "newly hidden".into(),
            Kind::LimitsChanged => "limits changed".into(),
        }
    }
}

/// One changed call.
#[derive(Clone, Debug)]
pub struct Change {
    pub tool: String,
    pub kind: Kind,
    /// Whether the call got more access (a higher permissiveness rank, or for limits: none).
    pub more_permissive: bool,
    pub witness: Call,
    pub old: Decision,
    pub new: Decision,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Equivalent,
    MorePermissive,
    LessPermissive,
    Incomparable,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Equivalent => "equivalent",
            Verdict::MorePermissive => "more permissive",
            Verdict::LessPermissive => "less permissive",
            Verdict::Incomparable => "incomparable",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Report {
    pub verdict: Verdict,
    pub changes: Vec<Change>,
    /// Questions the solver could not answer.
    pub inconclusive: Vec<String>,
    pub queries: u64,
}

impl Report {
    /// Whether some call gets more access than before (or that could not be ruled out).
    pub fn new_access(&self) -> bool {
        self.changes.iter().any(|c| c.more_permissive) || !self.inconclusive.is_empty()
    }

    pub fn to_json(&self, old: &Policy, new: &Policy) -> Value {
        let changes: Vec<Value> = self
            .changes
            .iter()
            .map(|c| {
                json!({
                    "tool": c.tool,
                    "kind": c.kind.describe(),
                    "more_permissive": c.more_permissive,
                    "witness": c.witness.to_json(),
                    "old": c.old.to_json(old),
                    "new": c.new.to_json(new),
                })
            })
            .collect();
        json!({
            "verdict": self.verdict.name(),
            "changes": changes,
            "inconclusive": self.inconclusive,
        })
    }
}

/// Compares two versions. Fails only when the policies' patterns are too many to abstract.
pub fn diff(old: &Policy, new: &Policy, options: &Options) -> Result<Report, String> {
    let space = Space::build(&[old, new], options.catalog.as_ref())
        .map_err(|_| "the policies' patterns are too many to compare".to_string())?;
    let req = Request::new(&space, "");
    let session = Session::new(options.timeout_ms, &req.domain);
    // One call, seen by each version with its own `risk … is …` overrides.
    let (old_req, new_req) = (req.under(&old.risk), req.under(&new.risk));
    let mut report = Report {
        verdict: Verdict::Equivalent,
        changes: Vec::new(),
        inconclusive: Vec::new(),
        queries: 0,
    };
    let old_classes: Vec<Vec<usize>> = old
        .rules
        .iter()
        .map(|r| space.tool_classes(&r.targets))
        .collect();
    let new_classes: Vec<Vec<usize>> = new
        .rules
        .iter()
        .map(|r| space.tool_classes(&r.targets))
        .collect();
    let near = |classes: &[Vec<usize>], c: usize| -> Vec<usize> {
        (0..classes.len())
            .filter(|&i| classes.get(i).is_some_and(|cs| cs.contains(&c)))
            .collect()
    };
    for class in space.tool_domain() {
        let (o, n) = (near(&old_classes, class), near(&new_classes, class));
        let (od, nd) = (
            Decisions::new(old, &o, &old_req),
            Decisions::new(new, &n, &new_req),
        );
        let tool = req.tool_is(&[class]);
        let mut slots: Vec<usize> = Vec::new();
        for (p, rules) in [(old, &o), (new, &n)] {
            for r in rules.iter().filter_map(|&i| p.rules.get(i)) {
                slots.extend(super::verify::slots_of(&space, &r.condition));
            }
        }
        let focus = req.domain_for(&slots);
        let mut ask = |goals: Vec<F>, what: String| -> Option<Call> {
            let mut all = vec![tool.clone()];
            all.extend(focus.iter().cloned());
            all.extend(goals);
            match session.check(&all, &[], &[&req]) {
                Answer::Sat(ps) => ps.first().map(|p| {
                    let annotations = space.annotations.get(p.tool).copied().flatten();
                    witness::build(&space, p, annotations).call
                }),
                Answer::Unsat(_) => None,
                Answer::Unknown(reason) => {
                    report.inconclusive.push(format!("{what}: {reason}"));
                    None
                }
            }
        };
        let name = space.tools.classes.rep(class).to_string();
        let mut found: Vec<(Kind, bool, Call)> = Vec::new();
        for e2 in EFFECTS {
            for more in [true, false] {
                let before: Vec<F> = EFFECTS
                    .iter()
                    .filter(|&&e1| {
                        if more {
                            rank(e1) < rank(e2)
                        } else {
                            rank(e1) > rank(e2)
                        }
                    })
                    .map(|&e1| od.is(e1))
                    .collect();
                if before.is_empty() {
                    continue;
                }
                let what = format!("whether calls to `{name}` are {}", Kind::Now(e2).describe());
                if let Some(call) = ask(vec![nd.is(e2), F::or(&before)], what) {
                    found.push((Kind::Now(e2), more, call));
                }
            }
        }
        let limits = limit_difference((old, &o, &old_req), (new, &n, &new_req));
        let what = format!("whether limits on `{name}` changed");
        if let Some(call) = ask(vec![od.forwards(), nd.forwards(), limits], what) {
            found.push((Kind::LimitsChanged, false, call));
        }
        for (kind, more, call) in found {
            let claim = |c: &Call| replays(old, new, kind, more, c);
            if !claim(&call) {
                report.inconclusive.push(format!(
                    "a witness for `{name}` ({}) did not replay: {}",
                    kind.describe(),
                    call.to_json()
                ));
                continue;
            }
            let call = witness::shrink(call, claim);
            report.changes.push(Change {
                tool: name.clone(),
                kind,
                more_permissive: more,
                old: eval::evaluate(old, &call),
                new: eval::evaluate(new, &call),
                witness: call,
            });
        }
    }
    report.queries = session.queries();
    let more = report.changes.iter().any(|c| c.more_permissive);
    let less = report
        .changes
        .iter()
        .any(|c| matches!(c.kind, Kind::Now(_)) && !c.more_permissive);
    report.verdict = match (more, less) {
        (false, false) => Verdict::Equivalent,
        (true, false) => Verdict::MorePermissive,
        (false, true) => Verdict::LessPermissive,
        (true, true) => Verdict::Incomparable,
    };
    Ok(report)
}

/// One version of the policy: the policy, the rules that can match the tool, and the request as
/// that version sees it.
type Version<'a, 's> = (&'a Policy, &'a [usize], &'a Request<'s>);

/// Some limit (counter, max, window, scope) applies under one version and not the other.
fn limit_difference(old: Version<'_, '_>, new: Version<'_, '_>) -> F {
    type Sig = (String, u64, &'static str, &'static str);
    let sigs = |(p, rules, req): Version<'_, '_>| -> Vec<(Sig, F)> {
        rules
            .iter()
            .filter_map(|&i| p.rules.get(i))
            .filter(|r| r.effect.forwards())
            .flat_map(|r| {
                r.limits.iter().map(move |l| {
                    let sig: Sig = (l.counter.clone(), l.max, l.window.name(), l.scope.name());
                    (sig, req.rule(r))
                })
            })
            .collect()
    };
    let (a, b) = (sigs(old), sigs(new));
    let mut all: Vec<&Sig> = a.iter().chain(&b).map(|(s, _)| s).collect();
    all.sort();
    all.dedup();
    let applies = |list: &[(Sig, F)], s: &Sig| {
        F::or(
            &list
                .iter()
                .filter(|(x, _)| x == s)
                .map(|(_, f)| f.clone())
                .collect::<Vec<_>>(),
        )
    };
    F::or(
        &all.iter()
            .map(|s| {
                let (x, y) = (applies(&a, s), applies(&b, s));
                F::or(&[F::and(&[x.clone(), y.not()]), F::and(&[y, x.not()])])
            })
            .collect::<Vec<_>>(),
    )
}

/// The limits that apply to a call, as comparable tuples.
fn limit_set(p: &Policy, d: &Decision) -> Vec<(String, u64, &'static str, &'static str)> {
    let mut out: Vec<_> = d
        .limits
        .iter()
        .filter_map(|l| p.rules.get(l.rule)?.limits.get(l.limit))
        .map(|l| (l.counter.clone(), l.max, l.window.name(), l.scope.name()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Does the call show this change under the evaluator?
fn replays(old: &Policy, new: &Policy, kind: Kind, more: bool, call: &Call) -> bool {
    let (a, b) = (eval::evaluate(old, call), eval::evaluate(new, call));
    match kind {
        Kind::Now(e) => {
            b.effect == e
                && if more {
                    rank(a.effect) < rank(e)
                } else {
                    rank(a.effect) > rank(e)
                }
        }
        Kind::LimitsChanged => {
            a.effect.forwards() && b.effect.forwards() && limit_set(old, &a) != limit_set(new, &b)
        }
    }
}
