//! Limits and counters: parses `limit` clauses, gives unnamed limits their counter names and
//! checks that every use of one counter agrees on its window and scope.
//!
//! Counter names: `as NAME` when given (rules that name the same counter share it). Otherwise
//! `<tool>_rate` for a rule whose first target is an exact tool name (PolicyLayer's convention:
//! `execute_flow_rate`), else `<rule id>_rate`; a default name already taken by another rule
//! falls back to `<rule id>_rate`. A rule with several unnamed limits gets
//! `<base>_rate_<window>` for each.

use super::{Counters, Ctx, suggest};
use crate::ast;
use crate::diagnostic::{Diagnostic, code};
use crate::ir::{self, Counter, Effect, NamePattern, Scope, Window};
use crate::source::Span;
use std::collections::{HashMap, HashSet};

/// Above this, a limit is allowed but almost certainly a mistake.
const HUGE: u64 = 10_000_000;

impl Ctx {
    pub(super) fn assign_counters(
        &mut self,
        rules: &[&ast::Rule],
        lowered: &mut [ir::Rule],
    ) -> Counters {
        let explicit: HashSet<&str> = rules
            .iter()
            .flat_map(|r| r.clauses.iter())
            .filter_map(|c| match c {
                ast::Clause::Limit(l) => l.counter.as_ref().map(|n| n.node.as_str()),
                _ => None,
            })
            .collect();
        let mut defaults_taken: HashSet<String> = HashSet::new();
        let mut counters = Counters::new();
        let mut first_use: HashMap<String, Span> = HashMap::new();
        for (r, ir_rule) in rules.iter().zip(lowered.iter_mut()) {
            let limits: Vec<&ast::Limit> = r
                .clauses
                .iter()
                .filter_map(|c| match c {
                    ast::Clause::Limit(l) => Some(l),
                    _ => None,
                })
                .collect();
            if limits.is_empty() {
                continue;
            }
            if matches!(ir_rule.effect, Effect::Deny | Effect::Hide) {
                for l in &limits {
                    self.limit(l);
                    self.push(
                        Diagnostic::new(
                            code::LIMIT_ON_DENY,
                            l.span,
                            format!(
                                "a `{}` rule never forwards a call, so it has nothing to limit",
                                ir_rule.effect.keyword()
                            ),
                        )
                        .help("put the limit on the `allow` or `approve` rule for these calls"),
                    );
                }
                continue;
            }
            let base = self.default_base(ir_rule, &explicit, &mut defaults_taken);
            let unnamed = limits.iter().filter(|l| l.counter.is_none()).count();
            let mut unnamed_windows: HashMap<String, Span> = HashMap::new();
            for l in limits {
                let Some(limit) = self.limit(l) else { continue };
                let (window, scope, max) = limit;
                let counter = match &l.counter {
                    Some(n) => n.node.clone(),
                    None if unnamed == 1 => format!("{base}_rate"),
                    None => {
                        if let Some(first) = unnamed_windows.get(window.name()) {
                            self.push(
                                Diagnostic::new(
                                    code::COUNTER_NAME_CLASH,
                                    l.span,
                                    format!(
                                        "two unnamed `per {}` limits on one rule",
                                        window.name()
                                    ),
                                )
                                .secondary(*first, "the other one")
                                .help("name them: `… as NAME`"),
                            );
                            continue;
                        }
                        unnamed_windows.insert(window.name().to_string(), l.span);
                        format!("{base}_rate_{}", window.name())
                    }
                };
                match counters.get(&counter) {
                    Some(c) if c.window != window || c.scope != scope => {
                        let mut d = Diagnostic::new(
                            code::COUNTER_MISMATCH,
                            l.span,
                            format!(
                                "counter `{counter}` is counted per {} per {} here and per {} per {} elsewhere",
                                window.name(),
                                scope.name(),
                                c.window.name(),
                                c.scope.name()
                            ),
                        )
                        .help("a shared counter has one window and one scope: align them, or use another counter name");
                        if let Some(first) = first_use.get(&counter) {
                            d = d.secondary(*first, "first used here");
                        }
                        self.push(d);
                    }
                    Some(_) => {}
                    None => {
                        counters.insert(counter.clone(), Counter { window, scope });
                        first_use.insert(counter.clone(), l.span);
                    }
                }
                ir_rule.limits.push(ir::Limit {
                    counter,
                    max,
                    window,
                    scope,
                    span: l.span,
                });
            }
        }
        counters
    }

    fn default_base(
        &mut self,
        rule: &ir::Rule,
        explicit: &HashSet<&str>,
        taken: &mut HashSet<String>,
    ) -> String {
        if let Some(NamePattern::Exact(tool)) = rule.targets.first().map(|t| &t.tool) {
            let name = format!("{tool}_rate");
            if !explicit.contains(name.as_str()) && !taken.contains(&name) {
                taken.insert(name);
                return tool.clone();
            }
        }
        taken.insert(format!("{}_rate", rule.id));
        rule.id.clone()
    }

    fn limit(&mut self, l: &ast::Limit) -> Option<(Window, Scope, u64)> {
        let window = Window::from_name(&l.window.node);
        if window.is_none() {
            self.push(
                Diagnostic::new(
                    code::UNKNOWN_WINDOW,
                    l.window.span,
                    format!("unknown window `{}`", l.window.node),
                )
                .help(suggest(&l.window.node, Window::ALL.map(|w| w.name()))),
            );
        }
        let scope = Scope::from_name(&l.scope.node);
        if scope.is_none() {
            self.push(
                Diagnostic::new(
                    code::UNKNOWN_SCOPE,
                    l.scope.span,
                    format!("unknown scope `{}`", l.scope.node),
                )
                .help(suggest(&l.scope.node, Scope::ALL.map(|s| s.name()))),
            );
        }
        let max = self.limit_max(&l.max);
        Some((window?, scope?, max?))
    }

    fn limit_max(&mut self, n: &ast::NumLit) -> Option<u64> {
        let value = crate::num::Num::parse(&n.raw);
        let max = value
            .as_ref()
            .and_then(|v| v.to_u64())
            .filter(|m| *m >= 1 && *m <= u64::from(u32::MAX));
        match max {
            Some(m) if m > HUGE => {
                self.push(
                    Diagnostic::new(
                        code::HUGE_LIMIT,
                        n.span,
                        format!("a limit of {m} limits almost nothing"),
                    )
                    .help("check the number, or delete the limit"),
                );
                Some(m)
            }
            Some(m) => Some(m),
            None => {
                self.push(
                    Diagnostic::new(
                        code::INVALID_LIMIT,
                        n.span,
                        format!("`{}` is not a valid limit", n.raw),
                    )
                    .label("a limit is a whole number of calls from 1 to 4294967295")
                    .help(if value.is_some_and(|v| v.is_zero()) {
                        "a limit of 0 allows nothing: use `deny` instead"
                    } else {
                        "write a whole number of calls"
                    }),
                );
                None
            }
        }
    }
}
