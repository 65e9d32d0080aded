//! The finite space of symbolic requests a set of policies can tell apart.
//!
//! [`Space::build`] walks every target and condition of the policies (one for `check`, two for
//! `diff`) and the catalog, and collects: the tool and server names and globs (abstracted into
//! [`StringClasses`]), and one *slot* per operand (`args.a.b`, `grant`, `tool.readOnlyHint`)
//! with every literal, glob, prefix and number it is compared with. A slot's value is then one
//! of finitely many classes per JSON type, which makes every verifier question a finite one.
//! This module knows nothing of z3: [`super::smt`] turns a space into solver variables.

use super::catalog::Catalog;
use super::strings::{NumClasses, StringClasses, TooComplex};
use crate::glob::Glob;
use crate::ir::{
    Cond, JsonType, Literal, NamePattern, Operand, PathSeg, Policy, Pred, RiskOverrides, Target,
};
use crate::num::Num;
use crate::risk::{Risk, classify};
use std::collections::BTreeMap;

/// The name used for "some tool no rule names", when it is free.
pub const OTHER_TOOL: &str = "some_other_tool";

/// A set of names (tools or servers) abstracted into classes, with each pattern's index.
#[derive(Debug, Default)]
pub struct Names {
    pub classes: StringClasses,
    exact: BTreeMap<String, usize>,
    globs: BTreeMap<String, usize>,
    /// The classes of the `extra` names (the catalog's tools).
    pub extra_classes: Vec<usize>,
}

/// Exact strings and globs numbered in the order first seen, for [`StringClasses::build`].
#[derive(Default)]
struct Interned {
    exact: BTreeMap<String, usize>,
    globs: BTreeMap<String, usize>,
    glob_list: Vec<Glob>,
}

impl Interned {
    fn exact(&mut self, s: &str) {
        let n = self.exact.len();
        self.exact.entry(s.to_string()).or_insert(n);
    }

    fn glob(&mut self, g: &Glob) {
        if !self.globs.contains_key(g.as_str()) {
            self.globs
                .insert(g.as_str().to_string(), self.glob_list.len());
            self.glob_list.push(g.clone());
        }
    }

    /// The exact strings by number, and the globs by number.
    fn lists(&mut self) -> (Vec<String>, Vec<Glob>) {
        let mut exact_list = vec![String::new(); self.exact.len()];
        for (s, &i) in &self.exact {
            if let Some(slot) = exact_list.get_mut(i) {
                slot.clone_from(s);
            }
        }
        (exact_list, std::mem::take(&mut self.glob_list))
    }
}

impl Names {
    fn build(
        patterns: &[&NamePattern],
        extra: &[String],
        preferred: &[&str],
    ) -> Result<Names, TooComplex> {
        let mut interned = Interned::default();
        for name in extra {
            interned.exact(name);
        }
        for p in patterns {
            match p {
                NamePattern::Exact(s) => interned.exact(s),
                NamePattern::Glob(g) => interned.glob(g),
            }
        }
        let (exact_list, glob_list) = interned.lists();
        let Interned { exact, globs, .. } = interned;
        let classes = StringClasses::build(exact_list, glob_list, preferred)?;
        let mut extra_classes: Vec<usize> = extra
            .iter()
            .filter_map(|n| exact.get(n))
            .flat_map(|&i| classes.exact_classes(i))
            .collect();
        extra_classes.sort_unstable();
        extra_classes.dedup();
        Ok(Names {
            classes,
            exact,
            globs,
            extra_classes,
        })
    }

    /// The classes a pattern matches.
    pub fn matching(&self, p: &NamePattern) -> Vec<usize> {
        match p {
            NamePattern::Exact(s) => self
                .exact
                .get(s)
                .map_or_else(Vec::new, |&i| self.classes.exact_classes(i)),
            NamePattern::Glob(g) => self
                .globs
                .get(g.as_str())
                .map_or_else(Vec::new, |&i| self.classes.glob_classes(i)),
        }
    }
}

/// What an operand's value can be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotKind {
    /// An argument path: any JSON value, or absent.
    Arg,
    /// `grant`, `agent`, `session`: a string, or absent.
    Ident,
    /// A tool annotation: always a boolean.
    Annotation,
    /// `tool.risk`, the call's own class (before the policy's overrides): always one of the
    /// five class names.
    Risk,
}

/// One operand and every question asked about it.
#[derive(Debug)]
pub struct Slot {
    pub operand: Operand,
    pub kind: SlotKind,
    /// The slot of the enclosing argument path, with whether it is an array (an index step).
    pub parent: Option<(usize, bool)>,
    pub strings: StringClasses,
    exact: BTreeMap<String, usize>,
    globs: BTreeMap<String, usize>,
    pub numbers: NumClasses,
    /// The literals `contains` looks for in arrays.
    pub contains: Vec<Literal>,
    /// Regex sources: abstracted as free booleans, so witnesses may need a search.
    pub regexes: Vec<crate::ir::Regex>,
}

impl Slot {
    /// String classes equal to `s`.
    pub fn exact_classes(&self, s: &str) -> Vec<usize> {
        self.exact
            .get(s)
            .map_or_else(Vec::new, |&i| self.strings.exact_classes(i))
    }

    /// String classes the glob (as abstracted by [`string_glob`]) matches.
    pub fn glob_classes(&self, g: &Glob) -> Vec<usize> {
        self.globs
            .get(g.as_str())
            .map_or_else(Vec::new, |&i| self.strings.glob_classes(i))
    }

    pub fn contains_index(&self, lit: &Literal) -> Option<usize> {
        self.contains.iter().position(|l| l == lit)
    }

    pub fn regex_index(&self, source: &str) -> Option<usize> {
        self.regexes.iter().position(|r| r.source == source)
    }
}

/// The JSON types a slot's type tag ranges over; index 0 is "absent".
pub const TYPES: [Option<JsonType>; 7] = [
    None,
    Some(JsonType::Null),
    Some(JsonType::Bool),
    Some(JsonType::Number),
    Some(JsonType::String),
    Some(JsonType::Array),
    Some(JsonType::Object),
];

pub fn type_tag(t: JsonType) -> usize {
    TYPES.iter().position(|x| *x == Some(t)).unwrap_or(0)
}

/// Everything the verifier needs to build symbolic requests.
#[derive(Debug)]
pub struct Space {
    pub tools: Names,
    /// `None` when no target names a server (then the server never matters).
    pub servers: Option<Names>,
    pub slots: Vec<Slot>,
    slot_index: BTreeMap<Operand, usize>,
    /// With a catalog, tools are exactly the catalog's: no "other tool" class.
    pub closed_tools: bool,
    /// Per tool class, the annotations the catalog declares for it.
    pub annotations: Vec<Option<crate::call::Annotations>>,
    /// Per tool class, the class the classifier gives the catalog's definition of it (the
    /// call's own class, as the proxy would compute it).
    pub risks: Vec<Option<Risk>>,
    /// With a catalog: (tool class, slot, the type tags the input schema allows there, 0 for
    /// absent). Requests range over schema-valid arguments only.
    pub schema: Vec<(usize, usize, Vec<usize>)>,
}

/// Collects the questions a policy asks.
#[derive(Default)]
struct Collector<'a> {
    tool_patterns: Vec<&'a NamePattern>,
    server_patterns: Vec<&'a NamePattern>,
    /// Per operand: exact strings, globs, numbers, contains literals, regexes.
    ops: BTreeMap<Operand, Questions>,
}

#[derive(Default)]
struct Questions {
    exact: Vec<String>,
    globs: Vec<Glob>,
    numbers: Vec<Num>,
    contains: Vec<Literal>,
    regexes: Vec<crate::ir::Regex>,
}

impl<'a> Collector<'a> {
    fn targets(&mut self, targets: &'a [Target]) {
        for t in targets {
            self.tool_patterns.push(&t.tool);
            if let Some(s) = &t.server {
                self.server_patterns.push(s);
            }
        }
    }

    fn cond(&mut self, c: &Cond) {
        match c {
            Cond::True | Cond::False => {}
            Cond::And(cs) | Cond::Or(cs) => cs.iter().for_each(|c| self.cond(c)),
            Cond::Not(c) => self.cond(c),
            Cond::Test(t) => {
                self.operand(&t.operand);
                let q = self.ops.entry(t.operand.clone()).or_default();
                let lit = |q: &mut Questions, l: &Literal| match l {
                    Literal::Str(s) => q.exact.push(s.clone()),
                    Literal::Num(n) => q.numbers.push(n.clone()),
                    Literal::Null | Literal::Bool(_) => {}
                };
                match &t.pred {
                    Pred::Exists => {}
                    Pred::Eq(l) | Pred::Ne(l) => lit(q, l),
                    Pred::In(ls) | Pred::NotIn(ls) => ls.iter().for_each(|l| lit(q, l)),
                    Pred::Cmp(_, n) => q.numbers.push(n.clone()),
                    Pred::Glob(g) => q.globs.push(g.clone()),
                    Pred::Regex(r) => q.regexes.push(r.clone()),
                    Pred::StartsWith(_) | Pred::EndsWith(_) => {
                        if let Some(g) = string_glob(&t.pred) {
                            q.globs.push(g);
                        }
                    }
                    Pred::Contains(l) => {
                        lit(q, l);
                        q.contains.push(l.clone());
                        if let Some(g) = string_glob(&t.pred) {
                            q.globs.push(g);
                        }
                    }
                }
            }
        }
    }

    /// Registers an operand and every enclosing argument path.
    fn operand(&mut self, o: &Operand) {
        if let Operand::Arg(path) = o {
            for n in 1..path.len() {
                let prefix = Operand::Arg(path.iter().take(n).cloned().collect());
                self.ops.entry(prefix).or_default();
            }
        }
        self.ops.entry(o.clone()).or_default();
    }

    fn policy(&mut self, p: &'a Policy) {
        // Overridden names and globs get tool classes of their own.
        self.tool_patterns
            .extend(p.risk.list.iter().map(|o| &o.tool));
        for r in &p.rules {
            self.targets(&r.targets);
            self.cond(&r.condition);
        }
        for a in &p.assertions {
            self.targets(&a.targets);
            self.cond(&a.condition);
        }
    }
}

/// The glob a string predicate amounts to (`startswith "a"` is `a*`), for the string classes.
pub fn string_glob(pred: &Pred) -> Option<Glob> {
    let text = match pred {
        Pred::StartsWith(p) => format!("{}*", escape(p)),
        Pred::EndsWith(p) => format!("*{}", escape(p)),
        Pred::Contains(Literal::Str(s)) => format!("*{}*", escape(s)),
        Pred::Glob(g) => return Some(g.clone()),
        _ => return None,
    };
    Glob::parse(&text).ok()
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '*' | '?' | '[') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Space {
    /// The space of the given policies (and catalog). Fails only when a string abstraction
    /// would be too large to enumerate.
    pub fn build(policies: &[&Policy], catalog: Option<&Catalog>) -> Result<Space, TooComplex> {
        let mut c = Collector::default();
        for p in policies {
            c.policy(p);
        }
        if let Some(cat) = catalog {
            for tool in &cat.tools {
                for path in &tool.paths {
                    c.operand(&Operand::Arg(path.clone()));
                }
            }
        }
        let catalog_names: Vec<String> = catalog.map_or_else(Vec::new, |cat| {
            cat.tools.iter().map(|t| t.name.clone()).collect()
        });
        let tools = Names::build(&c.tool_patterns, &catalog_names, &[OTHER_TOOL])?;
        let servers = if c.server_patterns.is_empty() {
            None
        } else {
            Some(Names::build(&c.server_patterns, &[], &["some_server"])?)
        };
        let mut slots = Vec::new();
        let mut slot_index = BTreeMap::new();
        for (operand, q) in c.ops {
            let kind = match operand {
                Operand::Arg(_) => SlotKind::Arg,
                Operand::Grant | Operand::Agent | Operand::Session => SlotKind::Ident,
                Operand::Annotation(_) => SlotKind::Annotation,
                Operand::Risk => SlotKind::Risk,
            };
            let parent = match &operand {
                Operand::Arg(path) if path.len() > 1 => {
                    let prefix = Operand::Arg(path.iter().take(path.len() - 1).cloned().collect());
                    let array = matches!(path.last(), Some(PathSeg::Index(_)));
                    slot_index.get(&prefix).map(|&i| (i, array))
                }
                _ => None,
            };
            let mut interned = Interned::default();
            if kind == SlotKind::Risk {
                // Every class name is a value of its own, whether the policy names it or not.
                Risk::ALL.iter().for_each(|r| interned.exact(r.name()));
            }
            q.exact.iter().for_each(|s| interned.exact(s));
            q.globs.iter().for_each(|g| interned.glob(g));
            let (exact_list, glob_list) = interned.lists();
            let Interned { exact, globs, .. } = interned;
            let mut contains = q.contains;
            contains.dedup();
            let mut regexes: Vec<crate::ir::Regex> = Vec::new();
            for r in q.regexes {
                if !regexes.iter().any(|x| x.source == r.source) {
                    regexes.push(r);
                }
            }
            slot_index.insert(operand.clone(), slots.len());
            slots.push(Slot {
                operand,
                kind,
                parent,
                strings: StringClasses::build(exact_list, glob_list, &[])?,
                exact,
                globs,
                numbers: NumClasses::new(q.numbers),
                contains: dedup(contains),
                regexes,
            });
        }
        let mut annotations = vec![None; tools.classes.len()];
        let mut risks = vec![None; tools.classes.len()];
        if let Some(cat) = catalog {
            for t in &cat.tools {
                let risk = classify(&t.facts()).risk;
                for c in tools.matching(&NamePattern::Exact(t.name.clone())) {
                    if let Some(a) = annotations.get_mut(c) {
                        *a = Some(t.annotations);
                    }
                    if let Some(r) = risks.get_mut(c) {
                        *r = Some(risk);
                    }
                }
            }
        }
        let mut schema = Vec::new();
        for t in catalog.map_or(&[][..], |c| c.tools.as_slice()) {
            let classes = tools.matching(&NamePattern::Exact(t.name.clone()));
            for (i, slot) in slots.iter().enumerate() {
                let Operand::Arg(path) = &slot.operand else {
                    continue;
                };
                let Some(Some(sub)) = super::catalog::schema_at(&t.schema, path) else {
                    continue;
                };
                let Some(types) = super::catalog::schema_types(sub) else {
                    continue;
                };
                let required = match path.as_slice() {
                    [PathSeg::Key(k)] => t
                        .schema
                        .get("required")
                        .and_then(serde_json::Value::as_array)
                        .is_some_and(|r| r.iter().any(|x| x.as_str() == Some(k))),
                    _ => false,
                };
                let mut tags: Vec<usize> = types.into_iter().map(type_tag).collect();
                if !required {
                    tags.push(0);
                }
                for &c in &classes {
                    schema.push((c, i, tags.clone()));
                }
            }
        }
        Ok(Space {
            schema,
            tools,
            servers,
            slots,
            slot_index,
            closed_tools: catalog.is_some(),
            annotations,
            risks,
        })
    }

    /// Per tool class, the class a policy's `risk … is …` gives it (an exact name first, then
    /// the first glob written, as [`RiskOverrides::get`]): a class holds either only names a
    /// pattern matches or none.
    pub fn overrides(&self, overrides: &RiskOverrides) -> Vec<Option<Risk>> {
        let mut out = vec![None; self.tools.classes.len()];
        let exact = overrides
            .list
            .iter()
            .filter(|o| matches!(o.tool, NamePattern::Exact(_)));
        let globs = overrides
            .list
            .iter()
            .filter(|o| matches!(o.tool, NamePattern::Glob(_)));
        for o in exact.chain(globs) {
            for c in self.tools.matching(&o.tool) {
                if let Some(slot @ None) = out.get_mut(c) {
                    *slot = Some(o.risk);
                }
            }
        }
        out
    }

    /// The tool classes a request ranges over: all, or with a catalog only its tools.
    pub fn tool_domain(&self) -> Vec<usize> {
        if self.closed_tools {
            self.tools.extra_classes.clone()
        } else {
            (0..self.tools.classes.len()).collect()
        }
    }

    pub fn slot(&self, operand: &Operand) -> Option<usize> {
        self.slot_index.get(operand).copied()
    }

    /// Tool classes a rule's (or assertion's) targets can match: the index by tool.
    pub fn tool_classes(&self, targets: &[Target]) -> Vec<usize> {
        let domain = self.tool_domain();
        let mut out: Vec<usize> = targets
            .iter()
            .flat_map(|t| self.tools.matching(&t.tool))
            .filter(|c| domain.contains(c))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

fn dedup(v: Vec<Literal>) -> Vec<Literal> {
    let mut out: Vec<Literal> = Vec::new();
    for l in v {
        if !out.contains(&l) {
            out.push(l);
        }
    }
    out
}
