//! IR → PolicyLayer's `policy.json`, keeping every decision or refusing with a diagnostic.
//!
//! policy.json decides a call to tool `X` this way (Intercept's engine, docs/formats.md):
//! a tool in `hide` is denied; under `default: deny` a tool missing from `tools` is denied;
//! a listed tool is denied when one of its `require` conditions fails or one of its `deny_if`
//! entries holds; otherwise it is allowed, subject to `all_tools.limits` and its own `limits`.
//! warden's precedence (hide > deny > approve > allow > default) maps onto that per tool:
//! hides become `hide`, denies and approvals (which policy.json cannot hold, so they deny with
//! PolicyLayer's "Requires human approval" message) become `deny_if` entries, and under
//! `default deny` the allows become the tool's `require` — which must be one conjunction.
//! Globs are expanded against a catalog, or applied to the tools the policy names where that
//! keeps every decision. Output is deterministic: `serde_json`'s map sorts keys, and arrays
//! follow rule order.

mod cond;
mod limits;

use crate::backend::target::Condition;
use crate::catalog::Catalog;
use crate::diagnostic::{Diagnostic, Severity, code};
use crate::ir::{Cond, Effect, NamePattern, Policy, Rule, Target};
use cond::{Dnf, ToolAttrs};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// PolicyLayer's message for an approval, as in its published policies.
pub const APPROVAL_MESSAGE: &str = "Requires human approval";

/// The result of compiling: the JSON when there were no errors, and every diagnostic.
#[derive(Debug)]
pub struct Compiled {
    pub json: Option<Value>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Compiled {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// `on_deny` for an approve rule: "Requires human approval." or "Requires human approval: R".
pub fn approval_message(reason: Option<&str>) -> String {
    match reason {
        Some(r) => format!("{APPROVAL_MESSAGE}: {r}"),
        None => format!("{APPROVAL_MESSAGE}."),
    }
}

/// Compiles a policy (which must have no front-end errors).
pub fn compile(policy: &Policy, catalog: Option<&Catalog>) -> Compiled {
    let mut cx = Cx {
        policy,
        catalog,
        diagnostics: Vec::new(),
    };
    let json = cx.run();
    let mut seen = HashSet::new();
    let mut diagnostics: Vec<Diagnostic> = cx
        .diagnostics
        .into_iter()
        .filter(|d| seen.insert((d.code.id, d.primary.span, d.message.clone())))
        .collect();
    crate::diagnostic::sort(&mut diagnostics);
    let failed = diagnostics.iter().any(|d| d.severity == Severity::Error);
    Compiled {
        json: if failed { None } else { Some(json) },
        diagnostics,
    }
}

struct Cx<'a> {
    policy: &'a Policy,
    catalog: Option<&'a Catalog>,
    diagnostics: Vec<Diagnostic>,
}

/// What the rules say about one tool.
#[derive(Default)]
struct ToolPlan {
    require: Vec<Condition>,
    deny_if: Vec<(Vec<Condition>, Option<String>)>,
    /// Whether the tool must be listed even without require, deny_if or limits.
    listed: bool,
}

impl<'a> Cx<'a> {
    fn push(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    fn run(&mut self) -> Value {
        let policy = self.policy;
        if let Some(reason) = &policy.default.reason {
            self.push(
                Diagnostic::new(
                    code::PJ_REASON_DROPPED,
                    policy.default.span,
                    format!("policy.json has no place for the default's reason \"{reason}\""),
                )
                .help("denied calls get the engine's own message"),
            );
        }
        let star_allows: Vec<&Rule> = policy.rules.iter().filter(|r| is_star_allow(r)).collect();
        let default = if star_allows.is_empty() {
            policy.default.effect
        } else {
            Effect::Allow
        };
        let rules: Vec<&Rule> = policy
            .rules
            .iter()
            .filter(|r| !is_star_allow(r) && self.targets_ok(r, default))
            .collect();
        let hide_all = rules.iter().any(|r| {
            r.effect == Effect::Hide
                && cond::resolve(&r.condition, None) == Cond::True
                && r.targets.iter().any(is_star)
        });
        let tools = self.universe(&rules);
        let mut limits = limits::Limits::new(self, &rules, &star_allows, default);
        let mut hidden: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        let mut out = Map::new();
        for tool in &tools {
            let attrs = self.catalog.and_then(|c| c.tool(tool)).map(|t| ToolAttrs {
                annotations: t.annotations,
                risk: policy.risk.risk_of(
                    tool,
                    Some(crate::risk::classify(&t.facts()).risk),
                    t.annotations,
                ),
            });
            let matching: Vec<&Rule> = rules
                .iter()
                .copied()
                .filter(|r| r.targets.iter().any(|t| t.matches(None, tool)))
                .collect();
            if let Some(by) = self.hidden_by(&matching, attrs.as_ref(), tool) {
                hidden.insert(tool.clone(), by);
                continue;
            }
            let Some(plan) = self.plan(&matching, attrs.as_ref(), default) else {
                continue;
            };
            let tool_limits = limits.for_tool(self, tool, &matching, attrs.as_ref());
            let mut entry = Map::new();
            if !plan.require.is_empty() {
                entry.insert("require".into(), conditions(&plan.require));
            }
            if !plan.deny_if.is_empty() {
                let list = plan.deny_if.iter().map(|(cs, on_deny)| {
                    let mut e = Map::new();
                    e.insert("conditions".into(), conditions(cs));
                    if let Some(m) = on_deny {
                        e.insert("on_deny".into(), Value::String(m.clone()));
                    }
                    Value::Object(e)
                });
                entry.insert("deny_if".into(), Value::Array(list.collect()));
            }
            if !tool_limits.is_empty() {
                entry.insert("limits".into(), Value::Array(tool_limits));
            }
            if plan.listed || !entry.is_empty() {
                out.insert(tool.clone(), Value::Object(entry));
            }
        }
        limits.warn_shared(self);
        let mut doc = Map::new();
        doc.insert("version".into(), json!("1"));
        doc.insert("default".into(), json!(default.keyword()));
        let hide = if hide_all {
            vec![json!("*")]
        } else {
            hide_order(&hidden)
        };
        if !hide.is_empty() {
            doc.insert("hide".into(), Value::Array(hide));
        }
        let all = limits.all_tools();
        if !all.is_empty() {
            doc.insert("all_tools".into(), json!({ "limits": all }));
        }
        if !out.is_empty() {
            doc.insert("tools".into(), Value::Object(out));
        }
        Value::Object(doc)
    }

    /// Checks a rule's targets; false when the rule cannot be compiled at all.
    fn targets_ok(&mut self, rule: &Rule, default: Effect) -> bool {
        if self.catalog.is_none() && rule.condition.mentions(&crate::ir::Operand::Risk) {
            self.push(
                Diagnostic::new(
                    code::PJ_RISK_WITHOUT_CATALOG,
                    rule.head,
                    "policy.json has no risk classes, so this rule needs a catalog to list its tools",
                )
                .help("pass `--catalog FILE` (the server's `tools/list`): each tool's class is resolved and the rule written per tool"),
            );
            return false;
        }
        let mut ok = true;
        // `risk CLASS` targets are `*` with a `tool.risk` condition.
        let by_risk = rule.condition.mentions(&crate::ir::Operand::Risk);
        for t in &rule.targets {
            if t.server.is_some() {
                self.push(
                    Diagnostic::new(
                        code::PJ_SERVER_TARGET,
                        t.span,
                        format!(
                            "policy.json governs one server, so `{}` cannot name one",
                            target_text(t)
                        ),
                    )
                    .help("compile one policy per server, with unqualified tool names"),
                );
                ok = false;
                continue;
            }
            let NamePattern::Glob(g) = &t.tool else {
                continue;
            };
            if rule.effect == Effect::Hide && is_star(t) && rule.condition == Cond::True {
                continue;
            }
            let restrictive = rule.effect != Effect::Allow;
            match (self.catalog.is_some(), default, restrictive) {
                (true, Effect::Allow, true) => self.push(
                    Diagnostic::new(
                        code::PJ_OPEN_EXPANSION,
                        t.span,
                        if by_risk {
                            "the tools of this risk class are taken from the catalog; a tool the server adds later is allowed by default".to_string()
                        } else {
                            format!("`{}` is expanded to the catalog's tools; a tool the server adds later is allowed by default", g.as_str())
                        },
                    )
                    .help("recompile when the server's tools change, or use `default deny`"),
                ),
                (true, ..) => {}
                (false, Effect::Deny, true) if rule.effect == Effect::Hide => self.push(
                    Diagnostic::new(
                        code::PJ_HIDE_GLOB_LISTED,
                        t.span,
                        format!("without a catalog, tools matching `{}` are denied by default but still listed", g.as_str()),
                    )
                    .help("pass `--catalog FILE` to hide them by name"),
                ),
                // Under default deny, a deny or approve glob changes nothing for tools the
                // policy does not name; it is applied to those it names.
                (false, Effect::Deny, true) => {}
                (false, ..) => {
                    self.push(
                        Diagnostic::new(
                            code::PJ_GLOB_TARGET,
                            t.span,
                            format!("policy.json lists tools by name and cannot say `{}`", g.as_str()),
                        )
                        .help("pass `--catalog FILE` (the server's `tools/list`) to expand the glob, or name the tools"),
                    );
                    ok = false;
                }
            }
        }
        ok
    }

    /// Every tool name the output may mention: the policy's exact names and the catalog's.
    fn universe(&self, rules: &[&Rule]) -> BTreeSet<String> {
        let mut tools: BTreeSet<String> = rules
            .iter()
            .flat_map(|r| r.targets.iter())
            .filter_map(|t| match &t.tool {
                NamePattern::Exact(name) => Some(name.clone()),
                NamePattern::Glob(_) => None,
            })
            .collect();
        if let Some(c) = self.catalog {
            tools.extend(c.tools.iter().map(|t| t.name.clone()));
        }
        tools
    }

    /// The first hide rule that hides the tool, and the position of the target that does.
    fn hidden_by(
        &mut self,
        matching: &[&Rule],
        attrs: Option<&ToolAttrs>,
        tool: &str,
    ) -> Option<(usize, usize)> {
        let mut by = None;
        for r in matching.iter().filter(|r| r.effect == Effect::Hide) {
            match cond::resolve(&r.condition, attrs) {
                Cond::True => {
                    let position = r.targets.iter().position(|t| t.matches(None, tool));
                    by.get_or_insert((r.index, position.unwrap_or(0)));
                }
                Cond::False => {}
                other => {
                    let d = match cond::dnf(&other, attrs, r.head) {
                        Err(d) => *d,
                        Ok(_) => Diagnostic::new(
                            code::PJ_INEXPRESSIBLE_CONDITION,
                            r.head,
                            "policy.json hides tools unconditionally",
                        ),
                    };
                    self.push(d);
                }
            }
        }
        by
    }

    fn dnf(&mut self, r: &Rule, attrs: Option<&ToolAttrs>) -> Option<Dnf> {
        match cond::dnf(&r.condition, attrs, r.head) {
            Ok(d) => Some(d),
            Err(d) => {
                self.push(*d);
                None
            }
        }
    }

    /// The tool's require and deny_if; `None` when the tool stays out of `tools`.
    fn plan(
        &mut self,
        matching: &[&Rule],
        attrs: Option<&ToolAttrs>,
        default: Effect,
    ) -> Option<ToolPlan> {
        let mut plan = ToolPlan::default();
        // Conditions every allowed call must meet, from `deny X when not (C)`.
        let mut extra_require = Vec::new();
        let mut approvals = Vec::new();
        for effect in [Effect::Deny, Effect::Approve] {
            for r in matching.iter().filter(|r| r.effect == effect) {
                let message = match effect {
                    Effect::Approve => {
                        self.warn_approval(r);
                        Some(approval_message(r.reason.as_deref()))
                    }
                    _ => r.reason.clone(),
                };
                let entries = match self.negated_conjunction(r, attrs) {
                    Some(require) => {
                        if let Some(reason) = &message {
                            self.push(
                                Diagnostic::new(
                                    code::PJ_REASON_DROPPED,
                                    r.head,
                                    format!("this rule becomes the tool's `require`, which has no message for \"{reason}\""),
                                )
                                .help("state the condition positively to keep the message in a `deny_if` entry"),
                            );
                        }
                        extra_require.extend(require);
                        continue;
                    }
                    None => self.dnf(r, attrs)?,
                };
                let unconditional = entries.iter().any(Vec::is_empty);
                for cs in entries {
                    plan.deny_if.push((cs, message.clone()));
                }
                if effect == Effect::Approve && unconditional {
                    approvals.push(r.index);
                }
            }
        }
        if default == Effect::Allow {
            plan.require = extra_require;
            return Some(plan);
        }
        let allows: Vec<&Rule> = matching
            .iter()
            .copied()
            .filter(|r| r.effect == Effect::Allow)
            .collect();
        let mut alternatives: Vec<(Vec<Condition>, &Rule)> = Vec::new();
        for r in &allows {
            for cs in self.dnf(r, attrs)? {
                alternatives.push((cs, r));
            }
        }
        if alternatives.is_empty() {
            // Nothing is allowed: default deny decides. An unconditional approval is listed
            // anyway so that callers see PolicyLayer's approval message.
            if approvals.is_empty() {
                return None;
            }
            plan.listed = true;
            return Some(plan);
        }
        plan.listed = true;
        if !alternatives.iter().any(|(cs, _)| cs.is_empty()) {
            if let [(cs, _)] = alternatives.as_slice() {
                plan.require = cs.clone();
            } else {
                let (first, rest) = alternatives.split_at(1);
                let mut d = Diagnostic::new(
                    code::PJ_ALTERNATIVE_ALLOWS,
                    first[0].1.head,
                    format!("this tool is allowed under {} alternative conditions", alternatives.len()),
                )
                .help("policy.json's `require` is one list of conditions that must all hold: merge the allows into one conjunction, or enforce with the warden proxy");
                for (_, r) in rest {
                    if r.index != first[0].1.index {
                        d = d.secondary(r.head, "another alternative");
                    }
                }
                self.push(d);
                return None;
            }
        }
        for c in extra_require {
            if !plan.require.contains(&c) {
                plan.require.push(c);
            }
        }
        Some(plan)
    }

    /// `deny X when not (C)` with `C` one conjunction: that is `require C`.
    fn negated_conjunction(
        &mut self,
        r: &Rule,
        attrs: Option<&ToolAttrs>,
    ) -> Option<Vec<Condition>> {
        let Cond::Not(inner) = cond::resolve(&r.condition, attrs) else {
            return None;
        };
        match cond::dnf(&inner, attrs, r.head) {
            Ok(d) => match <[Vec<Condition>; 1]>::try_from(d) {
                Ok([cs]) if !cs.is_empty() => Some(cs),
                _ => None,
            },
            Err(_) => None,
        }
    }

    fn warn_approval(&mut self, r: &Rule) {
        let mut d = Diagnostic::new(
            code::PJ_APPROVAL_DENIES,
            r.head,
            "policy.json cannot hold a call for a human: this approval denies",
        )
        .label(format!(
            "denied with \"{}\"",
            approval_message(r.reason.as_deref())
        ))
        .help("enforce with the warden proxy to get real approvals");
        if !r.limits.is_empty() {
            d = d
                .note("its limits never apply in policy.json, since the calls are never forwarded");
        }
        self.push(d);
    }
}

fn conditions(cs: &[Condition]) -> Value {
    Value::Array(cs.iter().map(Condition::to_json).collect())
}

fn is_star(t: &Target) -> bool {
    t.server.is_none() && matches!(&t.tool, NamePattern::Glob(g) if g.as_str() == "*")
}

/// An unconditional `allow *`: every call not denied is allowed, as under `default allow`.
fn is_star_allow(r: &Rule) -> bool {
    r.effect == Effect::Allow
        && cond::resolve(&r.condition, None) == Cond::True
        && r.targets.iter().any(is_star)
}

/// Hidden tools in the order of the rules and targets that hide them, then by name.
fn hide_order(hidden: &BTreeMap<String, (usize, usize)>) -> Vec<Value> {
    let mut list: Vec<(&(usize, usize), &String)> = hidden.iter().map(|(t, r)| (r, t)).collect();
    list.sort();
    list.into_iter().map(|(_, t)| json!(t)).collect()
}

fn target_text(t: &Target) -> String {
    match &t.server {
        Some(s) => format!("{}::{}", s.as_str(), t.tool.as_str()),
        None => t.tool.as_str().to_string(),
    }
}
