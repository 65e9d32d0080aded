//! The verifier's questions about one policy, each a satisfiability query over one symbolic
//! request, and the diagnostics they give.
//!
//! Rules are indexed by tool class ([`Space::tool_classes`]): a question about a rule only
//! involves the rules that can match one of its tools. One solver session holds the domain
//! and every query runs between push and pop. Precedence: a rule `Q` *blocks* `R` when `Q`'s
//! effect is stronger (hide > deny > approve > allow), or the same and `Q` comes first.
//! Every finding that claims a call exists is replayed through [`crate::eval`] first.
//! Questions whose answer is certain without the solver are answered by `known` first; the
//! findings that read rules' statuses are reported by `report`.

use super::known::Seen;
use super::smt::{Answer, Decisions, F, Point, Request, Session};
use super::space::Space;
use super::witness;
use super::{Options, Stats};
use crate::call::Call;
use crate::diagnostic::{Diagnostic, code};
use crate::eval;
use crate::ir::{Effect, Operand, Policy, Rule};
use crate::source::Span;

pub(super) struct Verifier<'a> {
    pub policy: &'a Policy,
    pub space: &'a Space,
    pub req: Request<'a>,
    pub session: Session,
    /// Per rule, the tool classes it can match.
    pub(super) classes: Vec<Vec<usize>>,
    /// Per tool class, the rules that can match it.
    by_class: Vec<Vec<usize>>,
    matches: Vec<F>,
    /// Per rule, the slots its condition reads.
    pub(super) rule_slots: Vec<Vec<usize>>,
    /// The domain constraints of the slots the current questions involve.
    focus: Vec<F>,
    pub out: Vec<Diagnostic>,
    pub inconclusive: usize,
    /// Calls from earlier models, to answer questions that need no model without the solver.
    pub seen: Seen,
}

/// What the first two questions found about a rule.
#[derive(Clone)]
pub(super) enum Status {
    Empty,
    /// Matches something, and decides some of it.
    Matches,
    /// Every call it matches is decided by these rules; a call it matches.
    Blocked(Vec<usize>, Point),
    Unknown,
}

pub(super) fn blocks(q: &Rule, r: &Rule) -> bool {
    q.effect.precedence() > r.effect.precedence() || (q.effect == r.effect && q.index < r.index)
}

pub(super) fn denies(e: Effect) -> bool {
    matches!(e, Effect::Deny | Effect::Hide)
}

impl<'a> Verifier<'a> {
    pub fn new(policy: &'a Policy, space: &'a Space, options: &Options) -> Verifier<'a> {
        let req = Request::new(space, "").under(&policy.risk);
        let session = Session::new(options.timeout_ms, &req.domain);
        let classes: Vec<Vec<usize>> = policy
            .rules
            .iter()
            .map(|r| space.tool_classes(&r.targets))
            .collect();
        let mut by_class = vec![Vec::new(); space.tools.classes.len()];
        for (i, cs) in classes.iter().enumerate() {
            for &c in cs {
                if let Some(list) = by_class.get_mut(c) {
                    list.push(i);
                }
            }
        }
        let matches = policy.rules.iter().map(|r| req.rule(r)).collect();
        let rule_slots = policy
            .rules
            .iter()
            .map(|r| slots_of(space, &r.condition))
            .collect();
        Verifier {
            rule_slots,
            focus: Vec::new(),
            policy,
            space,
            req,
            session,
            classes,
            by_class,
            matches,
            out: Vec::new(),
            inconclusive: 0,
            seen: Seen::new(space),
        }
    }

    /// The rules that can match one of these tool classes, in source order.
    pub fn overlapping(&self, classes: &[usize]) -> Vec<usize> {
        let mut out: Vec<usize> = classes
            .iter()
            .filter_map(|&c| self.by_class.get(c))
            .flatten()
            .copied()
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    pub(super) fn rule(&self, i: usize) -> Option<&'a Rule> {
        self.policy.rules.get(i)
    }

    pub(super) fn m(&self, i: usize) -> F {
        self.matches.get(i).cloned().unwrap_or_else(F::ff)
    }

    /// Runs a query; unknown answers become an inconclusive diagnostic at `span`.
    pub fn ask(&mut self, goals: &[F], assumptions: &[F], span: Span, question: &str) -> Answer {
        let mut all = self.focus.clone();
        all.extend(goals.iter().cloned());
        let answer = self.session.check(&all, assumptions, &[&self.req]);
        match &answer {
            Answer::Unknown(reason) => {
                let reason = reason.clone();
                self.unknown(span, question, &reason);
            }
            Answer::Sat(ps) => ps.iter().for_each(|p| self.seen.record(self.space, p)),
            Answer::Unsat(_) => {}
        }
        answer
    }

    /// The call for a point, if `claim` holds for it under the evaluator; otherwise records
    /// why not (an inconclusive regex, or a bug) and gives `None`.
    pub fn replay(&mut self, p: &Point, span: Span, claim: impl Fn(&Call) -> bool) -> Option<Call> {
        let annotations = self.space.annotations.get(p.tool).copied().flatten();
        let built = witness::build(self.space, p, annotations);
        if claim(&built.call) {
            return Some(witness::shrink(built.call, claim));
        }
        let json = built.call.to_json().to_string();
        if built.exact {
            self.out.push(
                Diagnostic::new(
                    code::WITNESS_MISMATCH,
                    span,
                    "a witness did not replay: this is a bug in warden",
                )
                .note(format!("witness: {json}"))
                .help("please report it with this policy"),
            );
        } else {
            self.inconclusive += 1;
            self.out.push(
                Diagnostic::new(
                    code::INCONCLUSIVE,
                    span,
                    "could not build a call for a finding here",
                )
                .label("a regular expression is involved, which the verifier approximates")
                .note(format!("closest call tried: {json}")),
            );
        }
        None
    }

    /// Shrinks an unsat core of assumptions to a minimal one (deletion-based).
    pub(super) fn minimize(
        &mut self,
        goals: &[F],
        candidates: &[F],
        core: Vec<usize>,
        span: Span,
    ) -> Vec<usize> {
        let mut keep = core;
        let mut k = 0;
        while k < keep.len() {
            let trial: Vec<usize> = keep
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != k)
                .map(|(_, &x)| x)
                .collect();
            let assumptions: Vec<F> = trial
                .iter()
                .filter_map(|&x| candidates.get(x).cloned())
                .collect();
            let mut all = self.focus.clone();
            all.extend(goals.iter().cloned());
            match self.session.check(&all, &assumptions, &[]) {
                Answer::Unsat(core) => {
                    keep = core.iter().filter_map(|&c| trial.get(c).copied()).collect();
                    k = 0;
                    keep.sort_unstable();
                    // Restart over the smaller core, skipping what was already tried is not
                    // worth the bookkeeping: cores are small.
                    if keep.len() <= 1 {
                        break;
                    }
                    continue;
                }
                Answer::Sat(_) => k += 1,
                Answer::Unknown(reason) => {
                    self.unknown(
                        span,
                        "whether a smaller set of rules blocks this one",
                        &reason,
                    );
                    k += 1;
                }
            }
        }
        keep
    }

    /// Every question about every rule and assertion, on this thread.
    pub fn run(&mut self) -> Stats {
        let all: Vec<usize> = (0..self.policy.rules.len()).collect();
        let status: Vec<Status> = all.iter().map(|&i| self.status_of(i)).collect();
        self.findings(&all, &status, true);
        self.stats()
    }

    /// Phase one for rule `i`: empty, blocked or deciding.
    pub fn status_of(&mut self, i: usize) -> Status {
        self.focus_on_rule(i);
        self.status(i)
    }

    /// Phase two for the rules `which`, given every rule's status: the findings, and the
    /// assertions when `assertions` is set.
    pub fn findings(&mut self, which: &[usize], status: &[Status], assertions: bool) {
        for &i in which {
            self.focus_on_rule(i);
            self.report_status(i, status);
        }
        for &i in which {
            self.focus_on_rule(i);
            if let Some(Status::Matches) = status.get(i) {
                self.redundant(i, status);
                self.conflicts(i, status);
                self.hazards(i);
            }
        }
        if assertions {
            for a in 0..self.policy.assertions.len() {
                self.assertion(a);
            }
        }
    }

    pub fn stats(&self) -> Stats {
        Stats {
            rules: self.policy.rules.len(),
            queries: self.session.queries(),
            inconclusive: self.inconclusive,
            ..Stats::default()
        }
    }

    /// Empty? Blocked? A call it matches.
    fn status(&mut self, i: usize) -> Status {
        let Some(r) = self.rule(i) else {
            return Status::Unknown;
        };
        let classes = self.classes.get(i).cloned().unwrap_or_default();
        if classes.is_empty() {
            return Status::Empty;
        }
        let m = self.m(i);
        let blockers: Vec<usize> = self
            .overlapping(&classes)
            .into_iter()
            .filter(|&q| q != i && self.rule(q).is_some_and(|q| blocks(q, r)))
            .collect();
        // A call seen before, or guessed from the condition, may show that it decides something.
        self.seen.guess(self.space, r, &classes);
        let matches = |q: usize, c: &Call| self.rule(q).is_some_and(|q| eval::rule_matches(q, c));
        if self.seen.any(&classes, |c| {
            matches(i, c) && !blockers.iter().any(|&q| matches(q, c))
        }) {
            return Status::Matches;
        }
        // One query answers both questions when the rule decides something (the usual case).
        let negs: Vec<F> = blockers.iter().map(|&q| self.m(q).not()).collect();
        let core = match self.ask(
            std::slice::from_ref(&m),
            &negs,
            r.head,
            "whether this rule can take effect",
        ) {
            Answer::Sat(_) => return Status::Matches,
            Answer::Unknown(_) => return Status::Unknown,
            Answer::Unsat(core) => core,
        };
        if blockers.is_empty() {
            return Status::Empty;
        }
        let point = match self.ask(
            std::slice::from_ref(&m),
            &[],
            r.head,
            "whether this rule can match",
        ) {
            Answer::Sat(mut ps) => match ps.pop() {
                Some(p) => p,
                None => return Status::Unknown,
            },
            Answer::Unsat(_) => return Status::Empty,
            Answer::Unknown(_) => return Status::Unknown,
        };
        let min = if core.len() > 1 {
            self.minimize(std::slice::from_ref(&m), &negs, core, r.head)
        } else {
            core
        };
        let mut set: Vec<usize> = min
            .iter()
            .filter_map(|&k| blockers.get(k).copied())
            .collect();
        set.sort_unstable();
        Status::Blocked(set, point)
    }
}

/// A tool class and the rules that can match its calls ([`Verifier::near_tool`]).
pub(super) type Near<'a> = Option<(usize, Vec<&'a Rule>)>;

/// [`eval::evaluate`], over only the rules that can match the call's tool when they are known:
/// the same decision, without scanning a large policy for every witness tried.
pub(super) fn decide(space: &Space, policy: &Policy, near: &Near<'_>, c: &Call) -> eval::Decision {
    match near {
        Some((k, rules)) if space.tools.classes.classify(&c.tool) == Some(*k) => {
            eval::evaluate_among(policy, rules.iter().copied(), c)
        }
        _ => eval::evaluate(policy, c),
    }
}

/// Arguments a condition compares (not just tests for presence), for the hazard check.
pub(super) fn compared_arguments(c: &crate::ir::Cond, out: &mut Vec<Operand>) {
    use crate::ir::{Cond, Pred};
    match c {
        Cond::True | Cond::False => {}
        Cond::And(cs) | Cond::Or(cs) => cs.iter().for_each(|c| compared_arguments(c, out)),
        Cond::Not(c) => compared_arguments(c, out),
        Cond::Test(t) => {
            if matches!(t.operand, Operand::Arg(_))
                && !matches!(t.pred, Pred::Exists)
                && !out.contains(&t.operand)
            {
                out.push(t.operand.clone());
            }
        }
    }
}

/// The slots a condition reads.
pub(super) fn slots_of(space: &Space, c: &crate::ir::Cond) -> Vec<usize> {
    let mut out = Vec::new();
    super::catalog::tests(c, &mut |t| {
        if let Some(i) = space.slot(&t.operand)
            && !out.contains(&i)
        {
            out.push(i);
        }
    });
    out
}

impl<'a> Verifier<'a> {
    /// Sets the domain for questions about the rules that can match these tool classes, plus
    /// extra slots.
    pub(super) fn focus_on(&mut self, classes: &[usize], extra: &[usize]) {
        let mut slots: Vec<usize> = extra.to_vec();
        for r in self.overlapping(classes) {
            if let Some(list) = self.rule_slots.get(r) {
                slots.extend(list);
            }
        }
        slots.sort_unstable();
        slots.dedup();
        self.focus = self.req.domain_for(&slots);
    }

    fn focus_on_rule(&mut self, i: usize) {
        let classes = self.classes_of(i);
        self.focus_on(&classes, &[]);
    }

    pub(super) fn focus_domain(&self) -> Vec<F> {
        self.focus.clone()
    }

    pub(super) fn classes_of(&self, i: usize) -> Vec<usize> {
        self.classes.get(i).cloned().unwrap_or_default()
    }

    pub(super) fn rule_at(&self, i: usize) -> Option<&Rule> {
        self.rule(i)
    }

    pub(super) fn matches_of(&self, i: usize) -> F {
        self.m(i)
    }

    pub(super) fn decisions(&self, rules: &[usize], req: &Request<'_>) -> Decisions {
        Decisions::new(self.policy, rules, req)
    }

    /// The rules that can match a call to tool class `k`, for [`decide`]; `None` with a
    /// catalog (its index leaves out tools outside the catalog).
    pub(super) fn near_tool(&self, k: usize) -> Near<'a> {
        let rules = self.by_class.get(k).filter(|_| !self.space.closed_tools)?;
        Some((k, rules.iter().filter_map(|&i| self.rule(i)).collect()))
    }

    /// Records an unknown answer.
    pub(super) fn unknown(&mut self, span: Span, question: &str, reason: &str) {
        self.inconclusive += 1;
        self.out.push(
            Diagnostic::new(
                code::INCONCLUSIVE,
                span,
                format!("could not decide {question}"),
            )
            .label(format!("the solver answered unknown: {reason}"))
            .help("raise `--timeout-ms`, or simplify the rule; this is not a pass"),
        );
    }
}
