//! The verifier's findings about a rule's status, from the statuses of all rules: empty
//! (or matching only schema-refused calls), unreachable with its minimal blocking set, limits
//! that never count, and redundant rules.

use super::smt::{Answer, F, Point, Request};
use super::verify::{Status, Verifier, blocks, decide, denies};
use crate::call::Call;
use crate::diagnostic::{Diagnostic, Severity, code};
use crate::eval::{self, Decider};
use crate::ir::{Effect, Rule};

fn effect_word(e: Effect) -> &'static str {
    e.keyword()
}

impl Verifier<'_> {
    pub(super) fn report_status(&mut self, i: usize, status: &[Status]) {
        let Some(r) = self.rule(i) else { return };
        match status.get(i) {
            Some(Status::Empty) => {
                if self.space.closed_tools && self.classes.get(i).is_some_and(Vec::is_empty) {
                    return; // the catalog check reports the unknown tools
                }
                if self.report_schema_refused_only(i, r) {
                    return;
                }
                self.out.push(
                    Diagnostic::new(
                        code::EMPTY_RULE,
                        r.head,
                        format!("{} rule `{}` can never match", effect_word(r.effect), r.id),
                    )
                    .label("no call satisfies its targets and condition together")
                    .secondary(r.span, "look for comparisons that contradict each other")
                    .help("fix the condition, or delete the rule"),
                );
            }
            Some(Status::Blocked(by, point)) => self.report_blocked(r, by, point, status),
            _ => {}
        }
    }

    /// With a catalog, a rule that matches no schema-valid call may still match calls the
    /// server's schema refuses. warden does not validate arguments, so such calls do reach it:
    /// a deny there is defence in depth (info), an allow lets through only calls the server
    /// should refuse (warning). Reports it and returns true when that is the case.
    fn report_schema_refused_only(&mut self, i: usize, r: &Rule) -> bool {
        if self.space.schema.is_empty() {
            return false;
        }
        let loose = Request::ignoring_schema(self.space, "loose_").under(&self.policy.risk);
        let mut goals = loose.domain.clone();
        goals.push(loose.rule(r));
        goals.extend(loose.domain_for(self.rule_slots.get(i).map_or(&[][..], Vec::as_slice)));
        let point = match self.session.check(&goals, &[], &[&loose]) {
            Answer::Sat(mut ps) => match ps.pop() {
                Some(p) => p,
                None => return false,
            },
            Answer::Unsat(_) | Answer::Unknown(_) => return false,
        };
        let Some(call) = self.replay(&point, r.head, |c| eval::rule_matches(r, c)) else {
            return true;
        };
        let allows = r.effect.forwards();
        let d = Diagnostic::new(
            code::SCHEMA_REFUSED_ONLY,
            r.head,
            format!(
                "{} rule `{}` matches only calls the tool's input schema refuses",
                effect_word(r.effect),
                r.id
            ),
        )
        .label("no schema-valid call satisfies its targets and condition")
        .witness(call.to_json());
        let d = if allows {
            d.help("it lets through only calls the server should refuse: fix the condition, or delete the rule")
        } else {
            d.severity(Severity::Info).help(
                "fine as defence in depth: warden does not validate arguments against the schema, so such calls do reach it",
            )
        };
        self.out.push(d);
        true
    }

    fn report_blocked(&mut self, r: &Rule, by: &[usize], point: &Point, status: &[Status]) {
        let _ = status;
        if r.effect.forwards() && !r.limits.is_empty() {
            // Its limits still count on forwarded calls even when another rule decides.
            let stoppers: Vec<F> = self
                .overlapping(&self.classes.get(r.index).cloned().unwrap_or_default())
                .into_iter()
                .filter(|&q| self.rule(q).is_some_and(|q| denies(q.effect)))
                .map(|q| self.m(q).not())
                .collect();
            let classes = self.classes.get(r.index).cloned().unwrap_or_default();
            let denied = |c: &Call| {
                self.overlapping(&classes).into_iter().any(|q| {
                    self.rule(q)
                        .is_some_and(|q| denies(q.effect) && eval::rule_matches(q, c))
                })
            };
            if self
                .seen
                .any(&classes, |c| eval::rule_matches(r, c) && !denied(c))
            {
                return;
            }
            let mut goals = vec![self.m(r.index)];
            goals.extend(stoppers);
            match self.ask(&goals, &[], r.head, "whether this rule's limits ever apply") {
                Answer::Sat(_) | Answer::Unknown(_) => return,
                Answer::Unsat(_) => {
                    if let Some(l) = r.limits.first() {
                        self.out.push(
                            Diagnostic::new(
                                code::LIMIT_NEVER_APPLIES,
                                l.span,
                                format!("this limit on `{}` never counts a call", r.id),
                            )
                            .label("every call the rule matches is denied")
                            .help("limits count forwarded calls only: move the limit to a rule that allows"),
                        );
                    }
                }
            }
        }
        let idx = r.index;
        let (policy, space, near) = (self.policy, self.space, self.near_tool(point.tool));
        let Some(call) = self.replay(point, r.head, |c| {
            eval::rule_matches(r, c)
                && decide(space, policy, &near, c).decider != Decider::Rule(idx)
        }) else {
            return;
        };
        let other = by
            .iter()
            .filter_map(|&q| self.rule(q))
            .any(|q| q.effect != r.effect);
        let mut d = Diagnostic::new(
            code::UNREACHABLE_RULE,
            r.head,
            format!(
                "{} rule `{}` can never take effect",
                effect_word(r.effect),
                r.id
            ),
        )
        .label("every call it matches is decided by another rule first")
        .severity(if other {
            Severity::Error
        } else {
            Severity::Warning
        })
        .witness(call.to_json());
        for q in by.iter().filter_map(|&q| self.rule(q)) {
            let why = if q.effect == r.effect {
                format!("by this earlier {}", effect_word(q.effect))
            } else {
                format!("by this {}", effect_word(q.effect))
            };
            d = d.secondary(q.head, why);
        }
        d = d.help(if other {
            "narrow the blocking rules, or delete this one: as written it does nothing"
        } else {
            "delete it: the blocking rules already decide the same"
        });
        self.out.push(d);
    }

    /// Does removing the rule change no decision?
    pub(super) fn redundant(&mut self, i: usize, status: &[Status]) {
        let Some(r) = self.rule(i) else { return };
        if !r.limits.is_empty() {
            return; // its limits count: removing it changes them
        }
        let near = self.overlapping(&self.classes.get(i).cloned().unwrap_or_default());
        // A reason is part of the decision: a cover must give the same one.
        let later_same: Vec<usize> = near
            .iter()
            .copied()
            .filter(|&q| {
                q > i
                    && self
                        .rule(q)
                        .is_some_and(|q| q.effect == r.effect && q.reason == r.reason)
            })
            .collect();
        let default_same =
            self.policy.default.effect == r.effect && self.policy.default.reason == r.reason;
        if later_same.is_empty() && !default_same {
            return;
        }
        let mut goals = vec![self.m(i)];
        let mut lower = Vec::new();
        for &q in &near {
            let Some(rq) = self.rule(q) else { continue };
            if q != i && blocks(rq, r) {
                goals.push(self.m(q).not());
            } else if rq.effect.precedence() < r.effect.precedence() {
                lower.push(self.m(q));
            }
        }
        if default_same {
            goals.push(F::or(&lower));
        }
        // A call seen before that only this rule decides so: not redundant.
        let hit = |q: usize, c: &Call| self.rule(q).is_some_and(|q| eval::rule_matches(q, c));
        let needed = |c: &Call| {
            hit(i, c)
                && !near.iter().any(|&q| {
                    (q != i && self.rule(q).is_some_and(|rq| blocks(rq, r))
                        || later_same.contains(&q))
                        && hit(q, c)
                })
                && (!default_same
                    || near.iter().any(|&q| {
                        self.rule(q)
                            .is_some_and(|rq| rq.effect.precedence() < r.effect.precedence())
                            && hit(q, c)
                    }))
        };
        if self.seen.any(&self.classes_of(i), needed) {
            return;
        }
        let assumptions: Vec<F> = later_same.iter().map(|&q| self.m(q).not()).collect();
        let Answer::Unsat(core) = self.ask(
            &goals,
            &assumptions,
            r.head,
            "whether this rule is redundant",
        ) else {
            return;
        };
        let min = if core.len() > 1 {
            self.minimize(&goals, &assumptions, core, r.head)
        } else {
            core
        };
        let cover: Vec<usize> = min
            .iter()
            .filter_map(|&k| later_same.get(k).copied())
            .collect();
        // Two rules covering each other: the later one is reported as unreachable already.
        let mutual = !cover.is_empty()
            && cover
                .iter()
                .all(|&q| matches!(status.get(q), Some(Status::Blocked(by, _)) if by.contains(&i)));
        if mutual {
            return;
        }
        let mut d = Diagnostic::new(
            code::REDUNDANT_RULE,
            r.head,
            format!("{} rule `{}` is redundant", effect_word(r.effect), r.id),
        )
        .label("removing it changes no decision")
        .help("delete it");
        for q in cover.iter().filter_map(|&q| self.rule(q)) {
            d = d.secondary(
                q.head,
                format!(
                    "this {} decides the same calls the same way",
                    effect_word(q.effect)
                ),
            );
        }
        if cover.is_empty() {
            d = d.secondary(
                self.policy.default.span,
                format!(
                    "the default ({}) decides the same",
                    effect_word(self.policy.default.effect)
                ),
            );
        }
        self.out.push(d);
    }
}
