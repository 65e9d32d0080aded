//! The hot path: deciding one call with a [`Table`].
//!
//! [`decide`] looks the tool up (one hash probe, or for a tool the policy does not name one
//! run of the tool-glob automaton), then evaluates only the candidates found there. It does
//! not allocate: the call is borrowed ([`CallRef`]), arguments are read from their raw JSON
//! text, scratch pattern sets come from a pool, and limits are kept inline (up to
//! [`INLINE_LIMITS`] of them; a call under more limits than that spills to the heap). The one
//! other allocation is decoding a string argument that holds JSON escapes (`\n`, `\u00e9`).
//!
//! `tool.risk`: when some rule looks at it, the call's class is worked out once per decision
//! ([`Table::risk_of`]: the policy's override, else the call's own class, else the classifier
//! on the tool's name). Only that last case allocates (the classifier splits the name into
//! words); the proxy passes the class it learned from `tools/list`, so it arises only for a
//! tool called before it was listed.
//!
//! The result is exactly [`crate::eval::evaluate`]'s: the highest-precedence matching effect,
//! the first such rule in source order, and when the call is forwarded, every limit of every
//! matching allow and approve rule in rule order.

use super::Table;
use super::build::Cand;
use super::top::Top;
use crate::call::{Annotations, Call};
use crate::eval::{Decider, Decision, LimitRef};
use crate::ir::Effect;
use crate::risk::Risk;
use regex_automata::Input;
use serde_json::value::RawValue;
use smallvec::SmallVec;

/// How many limits a decision holds without allocating.
pub const INLINE_LIMITS: usize = 8;

/// A call as the table sees it: everything borrowed, arguments as raw JSON text.
#[derive(Clone, Copy, Debug, Default)]
pub struct CallRef<'a> {
    pub server: Option<&'a str>,
    pub tool: &'a str,
    /// The raw `arguments` object; `None` when the call has none.
    pub arguments: Option<&'a RawValue>,
    pub grant: Option<&'a str>,
    pub agent: Option<&'a str>,
    pub session: Option<&'a str>,
    pub annotations: Annotations,
    /// The tool's own risk class (the proxy: from its `tools/list` definition), if known.
    pub risk: Option<Risk>,
}

impl<'a> CallRef<'a> {
    /// Borrows a [`Call`], with its arguments given as raw JSON (see [`raw_arguments`]).
    pub fn new(call: &'a Call, arguments: Option<&'a RawValue>) -> CallRef<'a> {
        CallRef {
            server: call.server.as_deref(),
            tool: &call.tool,
            arguments,
            grant: call.grant.as_deref(),
            agent: call.agent.as_deref(),
            session: call.session.as_deref(),
            annotations: call.annotations,
            risk: call.risk,
        }
    }
}

/// The raw JSON of a call's arguments, for [`CallRef::new`] (numbers keep their digits).
pub fn raw_arguments(call: &Call) -> Option<Box<RawValue>> {
    let args = call.arguments.as_ref()?;
    serde_json::value::to_raw_value(args).ok()
}

/// A decision by the table: the same content as [`crate::eval::Decision`], held without
/// allocating.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDecision {
    pub effect: Effect,
    pub decider: Decider,
    /// Limits that apply when the call is forwarded, in rule order.
    pub limits: SmallVec<[LimitRef; INLINE_LIMITS]>,
}

impl TableDecision {
    /// The same decision in the reference evaluator's type.
    pub fn to_decision(&self) -> Decision {
        Decision {
            effect: self.effect,
            decider: self.decider,
            limits: self.limits.to_vec(),
        }
    }

    /// The deciding rule's id, or `default`.
    pub fn rule_id<'t>(&self, table: &'t Table) -> &'t str {
        match self.decider {
            Decider::Default => "default",
            Decider::Rule(i) => table.spec.rules.get(i).map_or("default", |r| r.id.as_str()),
        }
    }

    /// The reason shown to the caller, if the deciding rule (or default) has one.
    pub fn reason<'t>(&self, table: &'t Table) -> Option<&'t str> {
        match self.decider {
            Decider::Default => table.spec.default_reason.as_deref(),
            Decider::Rule(i) => table.spec.rules.get(i).and_then(|r| r.reason.as_deref()),
        }
    }

    /// The JSON form `warden eval` prints, the same as [`Decision::to_json`].
    pub fn to_json(&self, table: &Table) -> serde_json::Value {
        let limits = self
            .limits
            .iter()
            .filter_map(|l| {
                let rule = table.spec.rules.get(l.rule)?;
                let limit = rule.limits.get(l.limit)?;
                Some(crate::eval::limit_json(
                    &rule.id,
                    &limit.counter,
                    limit.max,
                    limit.window,
                    limit.scope,
                ))
            })
            .collect();
        crate::eval::decision_json(self.effect, self.rule_id(table), self.reason(table), limits)
    }
}

impl PartialEq<Decision> for TableDecision {
    fn eq(&self, other: &Decision) -> bool {
        self.effect == other.effect
            && self.decider == other.decider
            && self.limits.as_slice() == other.limits.as_slice()
    }
}

/// The running winner and limits while candidates are considered.
struct Acc {
    /// (effect, rule index) of the best match so far.
    best: Option<(Effect, u32)>,
    limits: SmallVec<[LimitRef; INLINE_LIMITS]>,
}

/// Decides one call.
pub fn decide(table: &Table, call: &CallRef<'_>) -> TableDecision {
    // The class `tool.risk` reads, worked out once, and only when some rule looks at it.
    let resolved;
    let call = if table.needs_risk {
        resolved = CallRef {
            risk: Some(table.risk_of(call)),
            ..*call
        };
        &resolved
    } else {
        call
    };
    let mut acc = Acc {
        best: None,
        limits: SmallVec::new(),
    };
    let mut top = Top::new(call.arguments.map(|a| a.get()));
    if let Some(cands) = table.tools.get(call.tool) {
        for c in cands.iter() {
            consider(table, c, call, &mut top, &mut acc);
        }
    } else if let Some(fb) = &table.fallback {
        let mut set = fb.sets.get();
        set.clear();
        fb.automaton
            .which_overlapping_matches(&Input::new(call.tool), &mut set);
        let several = set.len() > 1;
        for pattern in set.iter() {
            for c in fb.slots.get(pattern.as_usize()).into_iter().flatten() {
                consider(table, c, call, &mut top, &mut acc);
            }
        }
        if several {
            // Candidates came from several globs: put limits back in rule order, once each.
            acc.limits.sort_unstable();
            acc.limits.dedup();
        }
    }
    match acc.best {
        None => TableDecision {
            effect: table.spec.default,
            decider: Decider::Default,
            limits: SmallVec::new(),
        },
        Some((effect, rule)) => TableDecision {
            effect,
            decider: Decider::Rule(rule as usize),
            limits: if effect.forwards() {
                acc.limits
            } else {
                SmallVec::new()
            },
        },
    }
}

fn consider<'a>(table: &Table, c: &Cand, call: &CallRef<'a>, top: &mut Top<'a>, acc: &mut Acc) {
    let Some(rule) = table.rules.get(c.rule as usize) else {
        return;
    };
    let forwards = rule.effect.forwards();
    // Skip what can neither win nor add a limit that will be reported.
    if let Some((best, at)) = acc.best {
        let wins = rule.effect.precedence() > best.precedence()
            || (rule.effect.precedence() == best.precedence() && c.rule < at);
        let adds_limits = forwards && best.forwards() && rule.limits > 0;
        if !wins && !adds_limits {
            return;
        }
    }
    if !server_matches(table, c, call.server) || !rule.cond.holds(call, top) {
        return;
    }
    let wins = acc.best.is_none_or(|(best, at)| {
        rule.effect.precedence() > best.precedence()
            || (rule.effect.precedence() == best.precedence() && c.rule < at)
    });
    if wins {
        acc.best = Some((rule.effect, c.rule));
    }
    if forwards && rule.limits > 0 {
        let r = c.rule as usize;
        acc.limits
            .extend((0..rule.limits).map(|limit| LimitRef { rule: r, limit }));
    }
}

fn server_matches(table: &Table, c: &Cand, server: Option<&str>) -> bool {
    let Some(refs) = &c.servers else {
        return true;
    };
    let Some(server) = server else {
        return false;
    };
    refs.iter().any(|r| match *r {
        super::ServerRef::Exact(i) => table
            .spec
            .servers
            .get(i as usize)
            .is_some_and(|s| s == server),
        super::ServerRef::Glob(i) => table
            .server_globs
            .get(i as usize)
            .is_some_and(|g| g.is_match(server)),
    })
}

impl Table {
    /// The call's risk class as the policy sees it ([`crate::ir::RiskOverrides::risk_of`]).
    pub fn risk_of(&self, call: &CallRef<'_>) -> Risk {
        self.spec
            .risk
            .risk_of(call.tool, call.risk, call.annotations)
    }

    /// The rules whose targets match this server and tool (whatever their conditions), in rule
    /// order: what `tools/list` filtering looks at.
    pub fn candidate_rules(&self, server: Option<&str>, tool: &str) -> Vec<usize> {
        let mut out = Vec::new();
        let mut take = |c: &Cand| {
            if server_matches(self, c, server) {
                out.push(c.rule as usize);
            }
        };
        if let Some(cands) = self.tools.get(tool) {
            cands.iter().for_each(&mut take);
        } else if let Some(fb) = &self.fallback {
            let mut set = fb.sets.get();
            set.clear();
            fb.automaton
                .which_overlapping_matches(&Input::new(tool), &mut set);
            for pattern in set.iter() {
                fb.slots
                    .get(pattern.as_usize())
                    .into_iter()
                    .flatten()
                    .for_each(&mut take);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}
