//! Limits → `all_tools.limits` and `tools.X.limits`.
//!
//! A policy.json limit counts every allowed call of its tool (or of every tool, under
//! `all_tools`); a warden limit counts the forwarded calls its rule matches. The two agree
//! when the rule is unconditional, or when it is the only `allow` for the tool under
//! `default deny` (then every allowed call matched it). A limit on an unconditional `allow *`,
//! or one counter carried by every `allow` rule of a `default deny` policy, counts every
//! allowed call: that is `all_tools`. Only `per grant` scopes and minute, hour and day windows
//! exist in policy.json.

use super::Cx;
use super::cond::{self, ToolAttrs};
use crate::diagnostic::{Diagnostic, code};
use crate::ir::{Cond, Effect, Limit, Rule, Scope, Window};
use crate::source::Span;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashSet};

pub(super) struct Limits {
    default: Effect,
    all_tools: Vec<Value>,
    all_counters: HashSet<String>,
    /// Per-tool counters: where first seen, and the tools they limit.
    tools_by_counter: BTreeMap<String, (Span, BTreeSet<String>)>,
}

fn supported(l: &Limit) -> bool {
    l.scope == Scope::Grant && l.window != Window::Second
}

fn to_json(l: &Limit) -> Value {
    json!({"counter": l.counter, "window": l.window.name(), "max": l.max, "scope": l.scope.name()})
}

impl Limits {
    pub(super) fn new(
        cx: &mut Cx,
        rules: &[&Rule],
        star_allows: &[&Rule],
        default: Effect,
    ) -> Limits {
        for r in rules.iter().chain(star_allows) {
            if r.effect != Effect::Allow {
                continue;
            }
            for l in r.limits.iter().filter(|l| !supported(l)) {
                let what = if l.scope == Scope::Grant {
                    "a `per second` window (policy.json has minute, hour and day)".to_string()
                } else {
                    format!(
                        "a `per {}` scope (policy.json counts per grant)",
                        l.scope.name()
                    )
                };
                cx.push(
                    Diagnostic::new(code::PJ_UNSUPPORTED_LIMIT, l.span, format!("policy.json has no limit with {what}"))
                        .help("use `per minute|hour|day per grant`, or enforce this limit with the warden proxy"),
                );
            }
        }
        let mut out = Limits {
            default,
            all_tools: Vec::new(),
            all_counters: HashSet::new(),
            tools_by_counter: BTreeMap::new(),
        };
        for r in star_allows {
            for l in &r.limits {
                out.add_all_tools(l);
            }
        }
        let allows: Vec<&Rule> = rules
            .iter()
            .copied()
            .filter(|r| r.effect == Effect::Allow)
            .collect();
        let targets: usize = allows.iter().map(|r| r.targets.len()).sum();
        if default == Effect::Deny && targets >= 2 {
            if let Some((first, rest)) = allows.split_first() {
                for l in &first.limits {
                    let everywhere = rest.iter().all(|r| {
                        r.limits
                            .iter()
                            .any(|o| o.counter == l.counter && o.max == l.max)
                    });
                    if everywhere {
                        out.add_all_tools(l);
                    }
                }
            }
        }
        out
    }

    fn add_all_tools(&mut self, l: &Limit) {
        if supported(l) && self.all_counters.insert(l.counter.clone()) {
            self.all_tools.push(to_json(l));
        }
    }

    pub(super) fn all_tools(&self) -> Vec<Value> {
        self.all_tools.clone()
    }

    /// The tool's own limits, from the allow rules that match it.
    pub(super) fn for_tool(
        &mut self,
        cx: &mut Cx,
        tool: &str,
        matching: &[&Rule],
        attrs: Option<&ToolAttrs>,
    ) -> Vec<Value> {
        let allows: Vec<(&Rule, Cond)> = matching
            .iter()
            .filter(|r| r.effect == Effect::Allow)
            .map(|r| (*r, cond::resolve(&r.condition, attrs)))
            .filter(|(_, c)| *c != Cond::False)
            .collect();
        let mut out = Vec::new();
        let mut counters = HashSet::new();
        for (r, c) in &allows {
            let sole = self.default == Effect::Deny && allows.len() == 1;
            for l in &r.limits {
                if self.all_counters.contains(&l.counter) || !supported(l) {
                    continue;
                }
                if *c != Cond::True && !sole {
                    cx.push(
                        Diagnostic::new(
                            code::PJ_CONDITIONAL_LIMIT,
                            l.span,
                            format!("this limit counts only the calls of `{tool}` that meet the rule's condition"),
                        )
                        .secondary(r.head, "conditional rule")
                        .help("policy.json limits count every allowed call of a tool: make the rule unconditional, or the only allow for the tool under `default deny`"),
                    );
                    continue;
                }
                if counters.insert(l.counter.clone()) {
                    out.push(to_json(l));
                    self.tools_by_counter
                        .entry(l.counter.clone())
                        .or_insert_with(|| (l.span, BTreeSet::new()))
                        .1
                        .insert(tool.to_string());
                }
            }
        }
        out
    }

    /// WD4010 for every counter that limits several tools.
    pub(super) fn warn_shared(&self, cx: &mut Cx) {
        for (counter, (span, tools)) in &self.tools_by_counter {
            if tools.len() > 1 {
                let list: Vec<String> = tools.iter().map(|t| format!("`{t}`")).collect();
                cx.push(
                    Diagnostic::new(
                        code::PJ_SHARED_COUNTER,
                        *span,
                        format!("counter `{counter}` limits {} together", list.join(", ")),
                    )
                    .label("written under each tool with the same counter name")
                    .help("PolicyLayer does not document whether counters are shared by name (Intercept counts per tool): give each tool its own rule to be sure"),
                );
            }
        }
    }
}
