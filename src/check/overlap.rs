//! The verifier's questions that produce a call: conflicts between rules of different
//! effects, the missing-argument hazard, and user assertions. Each finding's call is replayed
//! through the evaluator before it is reported (see [`Verifier::replay`]).

use super::smt::{Answer, F};
use super::verify::{Status, Verifier, compared_arguments, decide};
use crate::call::Call;
use crate::diagnostic::{Diagnostic, Severity, code};
use crate::eval::{self, Decider};
use crate::ir::{Assertion, Effect, Operand};

/// `a` is a decision of kind `e` as assertions read it: `deny` includes `hide`.
fn decided_as(actual: Effect, e: Effect) -> bool {
    actual == e || (e == Effect::Deny && actual == Effect::Hide)
}

impl Verifier<'_> {
    /// An allow (or approve) that partly overlaps a stronger rule.
    pub(super) fn conflicts(&mut self, i: usize, status: &[Status]) {
        let Some(a) = self.rule_at(i).cloned() else {
            return;
        };
        if !a.effect.forwards() {
            return;
        }
        for j in self.overlapping(&self.classes_of(i)) {
            let Some(b) = self.rule_at(j).cloned() else {
                continue;
            };
            if b.effect.precedence() <= a.effect.precedence()
                || matches!(status.get(j), Some(Status::Empty) | None)
            {
                continue;
            }
            if super::known::excludes(&a.condition, &b.condition) {
                continue; // no call satisfies both conditions
            }
            let (ma, mb) = (self.matches_of(i), self.matches_of(j));
            let point = match self.ask(
                &[ma.clone(), mb.clone()],
                &[],
                a.head,
                "whether two rules overlap",
            ) {
                Answer::Sat(mut ps) => match ps.pop() {
                    Some(p) => p,
                    None => continue,
                },
                _ => continue,
            };
            // An exception: on the weaker rule's own tools, the stronger rule lies inside it
            // (a deny that also covers other tools is still an exception for this allow).
            let on_a_tools = |c: &Call| {
                a.targets
                    .iter()
                    .any(|t| t.matches(c.server.as_deref(), &c.tool))
            };
            let outside = |c: &Call| {
                eval::rule_matches(&b, c) && on_a_tools(c) && !eval::holds(&a.condition, c)
            };
            let exception = if super::known::implies(&b.condition, &a.condition) {
                true
            } else if self.seen.any(&self.classes_of(i), outside) {
                false
            } else {
                matches!(
                    self.ask(
                        &[mb.clone(), self.req.targets(&a.targets), ma.not()],
                        &[],
                        b.head,
                        "whether one rule lies inside another"
                    ),
                    Answer::Unsat(_)
                )
            };
            // A visible exception too: the stronger rule covers every one of the weaker rule's
            // targets by name (the same name or pattern, a pattern matching the exact name, or
            // `*`), so its author wrote it against these calls knowingly.
            let covers = |tb: &crate::ir::Target, ta: &crate::ir::Target| {
                (tb.server.is_none() || tb.server == ta.server)
                    && (tb.tool.as_str() == ta.tool.as_str()
                        || tb.tool.as_str() == "*"
                        || matches!(&ta.tool, crate::ir::NamePattern::Exact(n) if tb.tool.matches(n)))
            };
            let visible = a.targets.iter().all(|ta| b.targets.iter().any(|tb| covers(tb, ta)))
                || a.targets.iter().any(|ta| {
                    b.targets.iter().any(|tb| {
                        tb.server == ta.server
                            && (tb.tool.as_str() == ta.tool.as_str()
                                // singles out a tool of the weaker rule's pattern
                                || matches!(&tb.tool, crate::ir::NamePattern::Exact(n) if ta.tool.matches(n)))
                    })
                });
            let (policy, space, near) = (self.policy, self.space, self.near_tool(point.tool));
            let Some(call) = self.replay(&point, a.head, |c| {
                eval::rule_matches(&a, c)
                    && eval::rule_matches(&b, c)
                    && decide(space, policy, &near, c).effect.precedence() >= b.effect.precedence()
            }) else {
                continue;
            };
            let (ae, be) = (a.effect.keyword(), b.effect.keyword());
            let mut d = Diagnostic::new(
                code::CONFLICTING_RULES,
                a.head,
                format!("{ae} rule `{}` overlaps {be} rule `{}`", a.id, b.id),
            )
            .label(format!("some calls it matches are decided `{be}` instead"))
            .secondary(b.head, format!("this {be} decides the overlap"))
            .witness(call.to_json());
            d = if exception {
                d.severity(Severity::Info)
                    .note(format!("every call to its tools that `{}` matches is also matched by `{}`: an exception carved out of it", b.id, a.id))
                    .help("fine if intended; nothing to fix")
            } else if visible {
                d.severity(Severity::Info)
                    .note(format!(
                        "`{}` names these tools itself: a restriction layered over `{}`",
                        b.id, a.id
                    ))
                    .help("fine if intended; the witness shows one call it takes away")
            } else {
                d.help("make the conditions disjoint, or make one rule contain the other")
            };
            self.out.push(d);
        }
    }

    /// A deny (approve, hide) that a call escapes by leaving out an argument or giving it
    /// another type, while an allow accepts the call.
    pub(super) fn hazards(&mut self, i: usize) {
        let Some(d) = self.rule_at(i).cloned() else {
            return;
        };
        if d.effect.forwards() {
            return;
        }
        let mut paths = Vec::new();
        compared_arguments(&d.condition, &mut paths);
        if paths.is_empty() {
            return;
        }
        let near = self.overlapping(&self.classes_of(i));
        let dec = self.decisions(&near, &self.req);
        for operand in paths {
            let Some(slot) = self.space.slot(&operand) else {
                continue;
            };
            // The types the rule's tests on the argument take: the call has none of them,
            // the variant one.
            let mut types = Vec::new();
            super::catalog::tests(&d.condition, &mut |t| {
                if t.operand == operand {
                    types.extend(super::catalog::pred_types(&t.pred));
                }
            });
            let other = self.req.with_fresh(&[slot], "h.");
            let mut goals = vec![
                self.req.targets(&d.targets),
                self.matches_of(i).not(),
                // Let through without a person: an approval in its place is a person's call.
                dec.allow.clone(),
                other.cond(&d.condition),
                other.typed(slot, &types),
                self.req.typed(slot, &types).not(),
            ];
            goals.extend(self.focus_domain());
            goals.extend(other.domain_for(&super::verify::slots_of(self.space, &d.condition)));
            let answer = self.session.check(&goals, &[], &[&self.req, &other]);
            let (p1, p2) = match answer {
                Answer::Sat(ps) => match (ps.first(), ps.get(1)) {
                    (Some(a), Some(b)) => (a.clone(), b.clone()),
                    _ => continue,
                },
                Answer::Unknown(reason) => {
                    self.unknown(
                        d.head,
                        "whether a missing argument gets past this rule",
                        &reason,
                    );
                    continue;
                }
                Answer::Unsat(_) => continue,
            };
            let annotations = self.space.annotations.get(p2.tool).copied().flatten();
            let variant = super::witness::build(self.space, &p2, annotations);
            if !eval::rule_matches(&d, &variant.call) {
                // Only a regex can make the variant differ from what the solver assumed.
                if variant.exact {
                    self.replay(&p2, d.head, |_| false);
                }
                continue;
            }
            let (policy, space, near) = (self.policy, self.space, self.near_tool(p1.tool));
            let Some(call) = self.replay(&p1, d.head, |c: &Call| {
                decide(space, policy, &near, c).effect == Effect::Allow
                    && !eval::rule_matches(&d, c)
            }) else {
                continue;
            };
            let Operand::Arg(path) = &operand else {
                continue;
            };
            // Show the same (shrunk) call with the argument set.
            let shown = super::witness::with_argument(&call, &variant.call, path)
                .filter(|c| eval::rule_matches(&d, c))
                .unwrap_or(variant.call);
            let text = operand.to_string();
            let mut diag = Diagnostic::new(
                code::MISSING_ARGUMENT_HAZARD,
                d.head,
                format!(
                    "{} rule `{}` does not apply when `{text}` is missing or of another type",
                    d.effect.keyword(),
                    d.id
                ),
            )
            .label(format!("every test on `{text}` is false then"))
            .witness(call.to_json())
            .note(format!(
                "with `{text}` set, the {} applies: {}",
                d.effect.keyword(),
                shown.to_json()
            ))
            .help(format!(
                "also catch calls without it: add `or not ({text} exists)` to the condition, or deny them in a rule of their own"
            ));
            if let Decider::Rule(k) = eval::evaluate(policy, &call).decider
                && let Some(by) = self.rule_at(k)
            {
                diag = diag.secondary(by.head, "lets the call through");
            }
            self.out.push(diag);
        }
    }

    /// `assert never|always EFFECT targets when C`.
    pub(super) fn assertion(&mut self, k: usize) {
        let Some(a) = self.policy.assertions.get(k).cloned() else {
            return;
        };
        let classes = self.space.tool_classes(&a.targets);
        let own = super::verify::slots_of(self.space, &a.condition);
        self.focus_on(&classes, &own);
        let near = self.overlapping(&classes);
        let dec = self.decisions(&near, &self.req);
        let kind = if a.effect == Effect::Deny {
            F::or(&[dec.deny.clone(), dec.hide.clone()])
        } else {
            dec.is(a.effect)
        };
        let broken = if a.always { kind.not() } else { kind };
        let goals = [
            self.req.targets(&a.targets),
            self.req.cond(&a.condition),
            broken,
        ];
        let Answer::Sat(mut ps) = self.ask(&goals, &[], a.span, "whether this assertion holds")
        else {
            return;
        };
        let Some(point) = ps.pop() else { return };
        let policy = self.policy;
        let holds_for = |c: &Call| violates(&a, c, policy);
        let Some(call) = self.replay(&point, a.span, holds_for) else {
            return;
        };
        let decision = eval::evaluate(policy, &call);
        let mut d = Diagnostic::new(
            code::ASSERTION_VIOLATED,
            a.span,
            format!(
                "assertion does not hold: a call is decided `{}`",
                decision.effect.keyword()
            ),
        )
        .label("a counter-example exists")
        .witness(call.to_json())
        .help("change the rules, or the assertion if it is what is wrong");
        d = match decision.decider {
            Decider::Rule(r) => match self.rule_at(r) {
                Some(rule) => d.secondary(
                    rule.head,
                    format!("decided `{}` by this rule", decision.effect.keyword()),
                ),
                None => d,
            },
            Decider::Default => d.secondary(self.policy.default.span, "decided by the default"),
        };
        self.out.push(d);
    }
}

/// Whether the call is a counter-example to the assertion, by the evaluator.
fn violates(a: &Assertion, call: &Call, policy: &crate::ir::Policy) -> bool {
    let targeted = a
        .targets
        .iter()
        .any(|t| t.matches(call.server.as_deref(), &call.tool));
    if !targeted || !eval::holds(&a.condition, call) {
        return false;
    }
    let got = decided_as(eval::evaluate(policy, call).effect, a.effect);
    if a.always { !got } else { got }
}
