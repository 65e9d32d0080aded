//! IR → table: [`spec`] indexes a lowered policy's rules by tool; [`compile`] turns a spec
//! (built here or read from a file) into a [`Table`] ready to decide.
//!
//! Indexing: every exact tool name in the policy gets a slot listing every rule with a target
//! that matches it, by name or by glob (globs are matched against the policy's own names here,
//! once). Every tool glob gets a slot for the tools the policy does not name; at decision time
//! one multi-pattern automaton finds which globs such a tool matches. A candidate keeps the
//! server qualifiers of its rule's matching targets (exact names compare as strings, server
//! globs run their own automaton). `compile` never trusts a spec: indices are bounds-checked,
//! names must be sorted and unique, and patterns must compile.

use super::cond::{Compiled, Compiler};
use super::{Candidate, Header, LimitSpec, RuleSpec, ServerRef, Slot, Spec, Table};
use crate::glob::Glob;
use crate::ir::{Cond, Effect, NamePattern, Policy, Test};
use crate::source::Span;
use regex_automata::util::pool::Pool;
use regex_automata::{MatchKind, PatternSet, meta};
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{RefUnwindSafe, UnwindSafe};

/// A rule as the decision loop needs it.
#[derive(Debug)]
pub(crate) struct RuleRt {
    pub(crate) effect: Effect,
    pub(crate) limits: usize,
    pub(crate) cond: Compiled,
}

/// A candidate as the decision loop needs it.
#[derive(Debug)]
pub(crate) struct Cand {
    pub(crate) rule: u32,
    pub(crate) servers: Option<Box<[ServerRef]>>,
}

type SetFn = Box<dyn Fn() -> PatternSet + Send + Sync + UnwindSafe + RefUnwindSafe>;

/// The automaton over every tool glob, for tools the policy does not name.
#[derive(Debug)]
pub(crate) struct Fallback {
    pub(crate) automaton: meta::Regex,
    /// Per glob (pattern id), its candidates.
    pub(crate) slots: Vec<Box<[Cand]>>,
    /// Scratch sets of matched patterns, reused across decisions.
    pub(crate) sets: Pool<PatternSet, SetFn>,
}

/// Candidates of one slot while indexing: rule → server refs (`None`: any server).
type Entries = BTreeMap<u32, Option<BTreeSet<ServerRef>>>;

/// Indexes a lowered policy.
pub fn spec(policy: &Policy) -> Result<Spec, String> {
    let mut server_names = BTreeSet::new();
    let mut server_globs = BTreeSet::new();
    for t in policy.rules.iter().flat_map(|r| &r.targets) {
        match &t.server {
            Some(NamePattern::Exact(s)) => server_names.insert(s.as_str()),
            Some(NamePattern::Glob(g)) => server_globs.insert(g.as_str()),
            None => false,
        };
    }
    let position = |set: &BTreeSet<&str>, name: &str| {
        set.iter()
            .position(|s| *s == name)
            .and_then(|p| u32::try_from(p).ok())
    };
    let mut exact: BTreeMap<&str, Entries> = BTreeMap::new();
    let mut globs: BTreeMap<&str, (&Glob, Entries)> = BTreeMap::new();
    for rule in &policy.rules {
        let index = u32::try_from(rule.index).map_err(|_| "too many rules".to_string())?;
        for t in &rule.targets {
            let server = match &t.server {
                None => None,
                Some(NamePattern::Exact(s)) => Some(ServerRef::Exact(
                    position(&server_names, s).ok_or("server index out of range")?,
                )),
                Some(NamePattern::Glob(g)) => Some(ServerRef::Glob(
                    position(&server_globs, g.as_str()).ok_or("server index out of range")?,
                )),
            };
            let entries = match &t.tool {
                NamePattern::Exact(name) => exact.entry(name).or_default(),
                NamePattern::Glob(g) => {
                    &mut globs.entry(g.as_str()).or_insert((g, Entries::new())).1
                }
            };
            add(entries, index, server);
        }
    }
    let tools = exact
        .iter()
        .map(|(name, entries)| {
            let mut all = entries.clone();
            for (glob, glob_entries) in globs.values() {
                if glob.is_match(name) {
                    for (rule, servers) in glob_entries {
                        merge(&mut all, *rule, servers.as_ref());
                    }
                }
            }
            slot(name, &all)
        })
        .collect();
    let tool_globs = globs.iter().map(|(name, (_, e))| slot(name, e)).collect();
    Ok(Spec {
        policy: policy.name.clone(),
        default: policy.default.effect,
        default_reason: policy.default.reason.clone(),
        rules: policy.rules.iter().map(rule_spec).collect(),
        servers: server_names.into_iter().map(str::to_owned).collect(),
        server_globs: server_globs.into_iter().map(str::to_owned).collect(),
        tools,
        tool_globs,
        risk: crate::ir::RiskOverrides {
            list: policy
                .risk
                .list
                .iter()
                .map(|o| crate::ir::RiskOverride {
                    span: Span::default(),
                    ..o.clone()
                })
                .collect(),
        },
    })
}

fn add(entries: &mut Entries, rule: u32, server: Option<ServerRef>) {
    merge(entries, rule, server.map(|s| BTreeSet::from([s])).as_ref());
}

fn merge(entries: &mut Entries, rule: u32, servers: Option<&BTreeSet<ServerRef>>) {
    let slot = entries.entry(rule).or_insert_with(|| Some(BTreeSet::new()));
    match (slot.as_mut(), servers) {
        (Some(mine), Some(more)) => mine.extend(more),
        _ => *slot = None,
    }
}

fn slot(name: &str, entries: &Entries) -> Slot {
    Slot {
        name: name.to_owned(),
        candidates: entries
            .iter()
            .map(|(rule, servers)| Candidate {
                rule: *rule,
                servers: servers.as_ref().map(|s| s.iter().copied().collect()),
            })
            .collect(),
    }
}

fn rule_spec(rule: &crate::ir::Rule) -> RuleSpec {
    RuleSpec {
        id: rule.id.clone(),
        effect: rule.effect,
        reason: rule.reason.clone(),
        limits: rule
            .limits
            .iter()
            .map(|l| LimitSpec {
                counter: l.counter.as_str().into(),
                max: l.max,
                window: l.window,
                scope: l.scope,
            })
            .collect(),
        condition: without_spans(&rule.condition),
    }
}

/// The condition with every span set to `Span::default()`: tables keep no source positions.
pub(crate) fn without_spans(c: &Cond) -> Cond {
    match c {
        Cond::True => Cond::True,
        Cond::False => Cond::False,
        Cond::And(cs) => Cond::And(cs.iter().map(without_spans).collect()),
        Cond::Or(cs) => Cond::Or(cs.iter().map(without_spans).collect()),
        Cond::Not(c) => Cond::Not(Box::new(without_spans(c))),
        Cond::Test(t) => Cond::Test(Test {
            span: Span::default(),
            ..t.clone()
        }),
    }
}

/// Makes a spec ready to decide, validating every index and name in it.
pub fn compile(header: Header, spec: Spec) -> Result<Table, String> {
    let mut compiler = Compiler::default();
    let rules = spec
        .rules
        .iter()
        .map(|r| {
            Ok(RuleRt {
                effect: r.effect,
                limits: r.limits.len(),
                cond: compiler.cond(&r.condition, 0)?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    if matches!(spec.default, Effect::Approve | Effect::Hide) {
        return Err(format!(
            "default `{}` is not allow or deny",
            spec.default.keyword()
        ));
    }
    let server_globs = spec
        .server_globs
        .iter()
        .map(|g| compiler.regex(&glob(g)?.to_regex()))
        .collect::<Result<Vec<_>, String>>()?;
    let candidates = |slot: &Slot| -> Result<Box<[Cand]>, String> {
        let mut previous = None;
        slot.candidates
            .iter()
            .map(|c| {
                if previous.is_some_and(|p| p >= c.rule) || c.rule as usize >= rules.len() {
                    return Err(format!("slot `{}` has a bad rule index", slot.name));
                }
                previous = Some(c.rule);
                let servers = c.servers.as_ref().map(|refs| {
                    refs.iter()
                        .all(|r| match *r {
                            ServerRef::Exact(i) => (i as usize) < spec.servers.len(),
                            ServerRef::Glob(i) => (i as usize) < spec.server_globs.len(),
                        })
                        .then(|| refs.clone().into_boxed_slice())
                });
                Ok(Cand {
                    rule: c.rule,
                    servers: match servers {
                        None => None,
                        Some(Some(s)) => Some(s),
                        Some(None) => {
                            return Err(format!("slot `{}` has a bad server index", slot.name));
                        }
                    },
                })
            })
            .collect()
    };
    sorted_unique(spec.tools.iter().map(|s| s.name.as_str()), "tool names")?;
    sorted_unique(
        spec.tool_globs.iter().map(|s| s.name.as_str()),
        "tool globs",
    )?;
    sorted_unique(spec.servers.iter().map(String::as_str), "server names")?;
    sorted_unique(spec.server_globs.iter().map(String::as_str), "server globs")?;
    let tools = spec
        .tools
        .iter()
        .map(|s| Ok((Box::from(s.name.as_str()), candidates(s)?)))
        .collect::<Result<FxHashMap<_, _>, String>>()?;
    let fallback = if spec.tool_globs.is_empty() {
        None
    } else {
        let patterns = spec
            .tool_globs
            .iter()
            .map(|s| Ok(glob(&s.name)?.to_regex()))
            .collect::<Result<Vec<_>, String>>()?;
        let automaton = meta::Regex::builder()
            .configure(meta::Regex::config().match_kind(MatchKind::All))
            .build_many(&patterns)
            .map_err(|e| format!("tool globs do not compile: {e}"))?;
        let len = automaton.pattern_len();
        let make: SetFn = Box::new(move || PatternSet::new(len));
        Some(Fallback {
            automaton,
            slots: spec
                .tool_globs
                .iter()
                .map(candidates)
                .collect::<Result<_, _>>()?,
            sets: Pool::new(make),
        })
    };
    let needs_risk = spec
        .rules
        .iter()
        .any(|r| r.condition.mentions(&crate::ir::Operand::Risk));
    Ok(Table {
        header,
        spec,
        rules,
        tools,
        fallback,
        server_globs,
        needs_risk,
    })
}

fn glob(pattern: &str) -> Result<Glob, String> {
    Glob::parse(pattern).map_err(|e| format!("glob `{pattern}`: {e}"))
}

fn sorted_unique<'a>(names: impl Iterator<Item = &'a str>, what: &str) -> Result<(), String> {
    let mut previous: Option<&str> = None;
    for name in names {
        if previous.is_some_and(|p| p >= name) {
            return Err(format!("{what} are not sorted and unique"));
        }
        previous = Some(name);
    }
    Ok(())
}
