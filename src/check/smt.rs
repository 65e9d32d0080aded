//! The only module that imports z3: solver variables for a [`Space`], formulas for targets,
//! conditions and decisions, and a solver session that answers with a [`Point`].
//!
//! Every variable is finite: the tool and server are integers ranging over their name
//! classes; each slot (an operand) has a type tag (0 absent, then null, boolean, number,
//! string, array, object), a boolean value, a number region, a string class, one boolean per
//! literal `contains` looks for in arrays and one per regex. So every answer is exact except
//! where a regex is involved (a free boolean: over-approximated, so UNSAT stays sound, and a
//! SAT answer's witness is replayed). No string theory is used at all: z3 4.8.12 has known
//! wrong-UNSAT bugs there.

use super::space::{SlotKind, Space, TYPES, string_glob, type_tag};
use crate::ir::{CmpOp, Cond, JsonType, Literal, Operand, PathSeg, Pred, Rule, Target};
use crate::risk::Risk;

mod decisions;
mod risk;
mod solver;
pub use decisions::Decisions;
pub use solver::{Answer, Session};
use z3::ast::{Bool, Int};

/// A formula.
#[derive(Clone, Debug)]
pub struct F(Bool);

impl F {
    pub fn tt() -> F {
        F(Bool::from_bool(true))
    }

    pub fn ff() -> F {
        F(Bool::from_bool(false))
    }

    pub fn and(parts: &[F]) -> F {
        match parts {
            [] => F::tt(),
            [one] => one.clone(),
            _ => F(Bool::and(
                &parts.iter().map(|f| f.0.clone()).collect::<Vec<_>>(),
            )),
        }
    }

    pub fn or(parts: &[F]) -> F {
        match parts {
            [] => F::ff(),
            [one] => one.clone(),
            _ => F(Bool::or(
                &parts.iter().map(|f| f.0.clone()).collect::<Vec<_>>(),
            )),
        }
    }

    pub fn not(&self) -> F {
        F(self.0.not())
    }

    pub fn implies(&self, other: &F) -> F {
        F(self.0.implies(&other.0))
    }
}

/// A concrete assignment to the variables of a [`Space`].
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub tool: usize,
    /// `None`: no server (or the server never matters).
    pub server: Option<usize>,
    pub slots: Vec<SlotValue>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SlotValue {
    /// `None` when absent.
    pub ty: Option<JsonType>,
    pub boolean: bool,
    pub number: usize,
    pub string: usize,
    pub contains: Vec<bool>,
    pub regex: Vec<bool>,
}

#[derive(Clone, Debug)]
struct SlotVars {
    ty: Int,
    boolean: Bool,
    number: Int,
    string: Int,
    contains: Vec<Bool>,
    regex: Vec<Bool>,
}

/// The variables of one symbolic request over a space.
#[derive(Clone)]
pub struct Request<'s> {
    space: &'s Space,
    tool: Int,
    server: Option<Int>,
    slots: Vec<SlotVars>,
    /// Domain constraints on the tool and server: asserted once per session.
    pub domain: Vec<F>,
    /// Per slot, its domain constraints (ranges, types, containers, schema, annotations):
    /// asserted per query for the slots the query involves only.
    slot_domains: Vec<Vec<F>>,
    /// Per tool class, the risk class the policy's overrides give it ([`Request::under`]).
    overrides: Vec<Option<Risk>>,
}

fn int(n: usize) -> Int {
    Int::from_u64(u64::try_from(n).unwrap_or(u64::MAX))
}

fn within(v: &Int, n: usize) -> F {
    F(Bool::and(&[v.ge(int(0)), v.lt(int(n))]))
}

/// `v` is one of `values`.
fn one_of(v: &Int, values: &[usize]) -> F {
    F::or(&values.iter().map(|&x| F(v.eq(int(x)))).collect::<Vec<_>>())
}

impl<'s> Request<'s> {
    /// Fresh variables named with `prefix`, constrained to the space.
    pub fn new(space: &'s Space, prefix: &str) -> Request<'s> {
        Request::build(space, prefix, true)
    }

    /// As [`Request::new`], but arguments may break the catalog's input schemas: the calls a
    /// server would refuse, which still reach warden (it does not validate arguments).
    pub fn ignoring_schema(space: &'s Space, prefix: &str) -> Request<'s> {
        Request::build(space, prefix, false)
    }

    fn build(space: &'s Space, prefix: &str, schema: bool) -> Request<'s> {
        let tool = Int::new_const(format!("{prefix}tool"));
        let server = space
            .servers
            .as_ref()
            .map(|_| Int::new_const(format!("{prefix}server")));
        let mut r = Request {
            space,
            tool,
            server,
            slots: Vec::new(),
            domain: Vec::new(),
            slot_domains: vec![Vec::new(); space.slots.len()],
            overrides: Vec::new(),
        };
        // Every query constrains the tool through some targets (which keep to the domain).
        r.domain.push(within(&r.tool, space.tools.classes.len()));
        if let (Some(s), Some(names)) = (&r.server, &space.servers) {
            // One more value than classes: no server at all.
            r.domain.push(within(s, names.classes.len() + 1));
        }
        for i in 0..space.slots.len() {
            let vars = r.fresh_slot(prefix, i);
            r.slots.push(vars);
        }
        for i in 0..space.slots.len() {
            r.slot_domain(i);
        }
        // With a catalog, arguments follow the tool's input schema.
        for (class, slot, tags) in space.schema.iter().filter(|_| schema) {
            if let Some(v) = r.slots.get(*slot) {
                let typed = one_of(&v.ty, tags);
                let f = F(r.tool.eq(int(*class))).implies(&typed);
                if let Some(d) = r.slot_domains.get_mut(*slot) {
                    d.push(f);
                }
            }
        }
        // With a catalog, a tool's annotations are what it declares.
        for (i, slot) in space.slots.iter().enumerate() {
            let (Operand::Annotation(a), Some(v)) = (&slot.operand, r.slots.get(i)) else {
                continue;
            };
            for (class, ann) in space.annotations.iter().enumerate() {
                if let Some(ann) = ann {
                    let value = F(v.boolean.iff(Bool::from_bool(ann.get(*a))));
                    let f = F(r.tool.eq(int(class))).implies(&value);
                    if let Some(d) = r.slot_domains.get_mut(i) {
                        d.push(f);
                    }
                }
            }
        }
        // With a catalog, a tool's own risk class is the classifier's verdict on its definition.
        r.pin_own_risk(&space.risks);
        r
    }

    fn fresh_slot(&self, prefix: &str, i: usize) -> SlotVars {
        let slot = self.space.slots.get(i);
        let name = |what: &str| format!("{prefix}s{i}.{what}");
        SlotVars {
            ty: Int::new_const(name("ty")),
            boolean: Bool::new_const(name("b")),
            number: Int::new_const(name("n")),
            string: Int::new_const(name("s")),
            contains: (0..slot.map_or(0, |s| s.contains.len()))
                .map(|k| Bool::new_const(name(&format!("c{k}"))))
                .collect(),
            regex: (0..slot.map_or(0, |s| s.regexes.len()))
                .map(|k| Bool::new_const(name(&format!("r{k}"))))
                .collect(),
        }
    }

    fn slot_domain(&mut self, i: usize) {
        let (Some(slot), Some(v)) = (self.space.slots.get(i), self.slots.get(i)) else {
            return;
        };
        let mut d = vec![
            within(&v.number, slot.numbers.len()),
            within(&v.string, slot.strings.len()),
        ];
        d.push(match slot.kind {
            SlotKind::Arg => within(&v.ty, TYPES.len()),
            SlotKind::Ident => one_of(&v.ty, &[0, type_tag(JsonType::String)]),
            SlotKind::Annotation => F(v.ty.eq(int(type_tag(JsonType::Bool)))),
            SlotKind::Risk => {
                let names: Vec<usize> = Risk::ALL
                    .iter()
                    .flat_map(|r| slot.exact_classes(r.name()))
                    .collect();
                F::and(&[
                    F(v.ty.eq(int(type_tag(JsonType::String)))),
                    one_of(&v.string, &names),
                ])
            }
        });
        if let Some((parent, array)) = slot.parent
            && let Some(pv) = self.slots.get(parent)
        {
            let container = if array {
                JsonType::Array
            } else {
                JsonType::Object
            };
            let present = F(v.ty.eq(int(0))).not();
            d.push(present.implies(&F(pv.ty.eq(int(type_tag(container))))));
            // Array elements before a present one are present too.
            if let Operand::Arg(path) = &slot.operand
                && let Some(PathSeg::Index(n)) = path.last()
            {
                for (j, other) in self.space.slots.iter().enumerate() {
                    if let Operand::Arg(p2) = &other.operand
                        && other.parent.map(|x| x.0) == Some(parent)
                        && let Some(PathSeg::Index(m)) = p2.last()
                        && m < n
                    {
                        d.push(present.implies(&self.present(j)));
                    }
                }
            }
            // An array too short to have this element keeps what it contains among the
            // elements before it, when every index below is tracked (none is free to hold it).
            if array
                && let Operand::Arg(path) = &slot.operand
                && let Some(PathSeg::Index(n)) = path.last()
                && let (Some(pslot), Some(pv)) =
                    (self.space.slots.get(parent), self.slots.get(parent))
            {
                let below: Vec<usize> = self
                    .space
                    .slots
                    .iter()
                    .enumerate()
                    .filter(|(_, other)| other.parent.map(|x| x.0) == Some(parent))
                    .filter(|(_, other)| matches!(&other.operand, Operand::Arg(p2) if matches!(p2.last(), Some(PathSeg::Index(m)) if m < n)))
                    .map(|(j, _)| j)
                    .collect();
                if below.len() == *n {
                    for (k, lit) in pslot.contains.iter().enumerate() {
                        if let Some(c) = pv.contains.get(k) {
                            let held: Vec<F> = below.iter().map(|j| self.lit_eq(*j, lit)).collect();
                            d.push(F::and(&[F(c.clone()), present.not()]).implies(&F::or(&held)));
                        }
                    }
                }
            }
            // An element equal to a literal the array is said not to contain is impossible.
            if let Some(pslot) = self.space.slots.get(parent)
                && array
            {
                for (k, lit) in pslot.contains.iter().enumerate() {
                    if let Some(c) = pv.contains.get(k) {
                        d.push(self.lit_eq(i, lit).implies(&F(c.clone())));
                    }
                }
            }
        }
        if let Some(list) = self.slot_domains.get_mut(i) {
            *list = d;
        }
    }

    /// The domain constraints of these slots and their enclosing paths.
    pub fn domain_for(&self, slots: &[usize]) -> Vec<F> {
        let mut all: Vec<usize> = Vec::new();
        for &i in slots {
            let mut cur = Some(i);
            while let Some(c) = cur {
                if all.contains(&c) {
                    break;
                }
                all.push(c);
                cur = self.space.slots.get(c).and_then(|s| s.parent.map(|p| p.0));
            }
        }
        all.sort_unstable();
        all.iter()
            .filter_map(|&i| self.slot_domains.get(i))
            .flatten()
            .cloned()
            .collect()
    }

    /// A copy whose slots `which` (and their enclosing paths) get fresh variables: the same
    /// call with those arguments changed.
    pub fn with_fresh(&self, which: &[usize], prefix: &str) -> Request<'s> {
        let mut r = self.clone();
        r.domain.clear();
        let mut all: Vec<usize> = Vec::new();
        for &i in which {
            let mut cur = Some(i);
            while let Some(c) = cur {
                if !all.contains(&c) {
                    all.push(c);
                }
                cur = self.space.slots.get(c).and_then(|s| s.parent.map(|p| p.0));
            }
        }
        for &i in &all {
            let vars = r.fresh_slot(prefix, i);
            if let Some(slot) = r.slots.get_mut(i) {
                *slot = vars;
            }
        }
        for &i in &all {
            r.slot_domain(i);
        }
        // Children of a changed path must stay consistent with it too.
        for (i, s) in self.space.slots.iter().enumerate() {
            if s.parent.is_some_and(|(p, _)| all.contains(&p)) && !all.contains(&i) {
                r.slot_domain(i);
            }
        }
        r
    }

    pub fn tool_is(&self, classes: &[usize]) -> F {
        one_of(&self.tool, classes)
    }

    /// The tool is one of these classes and in the domain (with a catalog: a real tool).
    fn tool_in_domain(&self, classes: &[usize]) -> F {
        if self.space.closed_tools {
            let domain = self.space.tool_domain();
            let kept: Vec<usize> = classes
                .iter()
                .copied()
                .filter(|c| domain.contains(c))
                .collect();
            one_of(&self.tool, &kept)
        } else {
            one_of(&self.tool, classes)
        }
    }

    pub fn targets(&self, targets: &[Target]) -> F {
        let parts: Vec<F> = targets
            .iter()
            .map(|t| {
                let tool = self.tool_in_domain(&self.space.tools.matching(&t.tool));
                match (&t.server, &self.server, &self.space.servers) {
                    (Some(p), Some(s), Some(names)) => {
                        F::and(&[tool, one_of(s, &names.matching(p))])
                    }
                    (Some(_), _, _) => F::ff(),
                    (None, _, _) => tool,
                }
            })
            .collect();
        F::or(&parts)
    }

    pub fn rule(&self, rule: &Rule) -> F {
        F::and(&[self.targets(&rule.targets), self.cond(&rule.condition)])
    }

    pub fn cond(&self, c: &Cond) -> F {
        match c {
            Cond::True => F::tt(),
            Cond::False => F::ff(),
            Cond::And(cs) => F::and(&cs.iter().map(|c| self.cond(c)).collect::<Vec<_>>()),
            Cond::Or(cs) => F::or(&cs.iter().map(|c| self.cond(c)).collect::<Vec<_>>()),
            Cond::Not(c) => self.cond(c).not(),
            Cond::Test(t) => match self.space.slot(&t.operand) {
                Some(i) if t.operand == Operand::Risk => self.risk_test(i, &t.pred),
                Some(i) => self.pred(i, &t.pred),
                None => F::ff(),
            },
        }
    }

    fn ty_is(&self, i: usize, t: JsonType) -> F {
        self.slots
            .get(i)
            .map_or_else(F::ff, |v| F(v.ty.eq(int(type_tag(t)))))
    }

    /// The slot holds one of these JSON types (absent is none of them).
    pub fn typed(&self, i: usize, types: &[JsonType]) -> F {
        F::or(&types.iter().map(|t| self.ty_is(i, *t)).collect::<Vec<_>>())
    }

    pub fn present(&self, i: usize) -> F {
        self.slots
            .get(i)
            .map_or_else(F::ff, |v| F(v.ty.eq(int(0))).not())
    }

    /// The slot's value equals the literal (same JSON type and value).
    fn lit_eq(&self, i: usize, lit: &Literal) -> F {
        let (Some(slot), Some(v)) = (self.space.slots.get(i), self.slots.get(i)) else {
            return F::ff();
        };
        let value = match lit {
            Literal::Null => F::tt(),
            Literal::Bool(b) => F(v.boolean.iff(Bool::from_bool(*b))),
            Literal::Num(n) => match slot.numbers.exact(n) {
                Some(region) => F(v.number.eq(int(region))),
                None => F::ff(),
            },
            Literal::Str(s) => one_of(&v.string, &slot.exact_classes(s)),
        };
        F::and(&[self.ty_is(i, lit.json_type()), value])
    }

    fn pred(&self, i: usize, pred: &Pred) -> F {
        let (Some(slot), Some(v)) = (self.space.slots.get(i), self.slots.get(i)) else {
            return F::ff();
        };
        let string_glob_holds = |p: &Pred| match string_glob(p) {
            Some(g) => F::and(&[
                self.ty_is(i, JsonType::String),
                one_of(&v.string, &slot.glob_classes(&g)),
            ]),
            None => F::ff(),
        };
        match pred {
            Pred::Exists => self.present(i),
            Pred::Eq(l) => self.lit_eq(i, l),
            Pred::Ne(l) => F::and(&[self.ty_is(i, l.json_type()), self.lit_eq(i, l).not()]),
            Pred::In(ls) => F::or(&ls.iter().map(|l| self.lit_eq(i, l)).collect::<Vec<_>>()),
            Pred::NotIn(ls) => {
                let typed: Vec<F> = ls.iter().map(|l| self.ty_is(i, l.json_type())).collect();
                let equal: Vec<F> = ls.iter().map(|l| self.lit_eq(i, l)).collect();
                F::and(&[F::or(&typed), F::or(&equal).not()])
            }
            Pred::Cmp(op, n) => {
                // Regions are ordered like the numbers in them: one integer comparison.
                let Some(at) = slot.numbers.exact(n) else {
                    return F::ff();
                };
                let at = int(at);
                let holds = match op {
                    CmpOp::Lt => v.number.lt(at),
                    CmpOp::Le => v.number.le(at),
                    CmpOp::Gt => v.number.gt(at),
                    CmpOp::Ge => v.number.ge(at),
                };
                F::and(&[self.ty_is(i, JsonType::Number), F(holds)])
            }
            Pred::Glob(_) | Pred::StartsWith(_) | Pred::EndsWith(_) => string_glob_holds(pred),
            Pred::Regex(r) => match slot.regex_index(&r.source).and_then(|k| v.regex.get(k)) {
                Some(b) => F::and(&[self.ty_is(i, JsonType::String), F(b.clone())]),
                None => F::ff(),
            },
            Pred::Contains(l) => {
                let in_array = match slot.contains_index(l).and_then(|k| v.contains.get(k)) {
                    Some(b) => F::and(&[self.ty_is(i, JsonType::Array), F(b.clone())]),
                    None => F::ff(),
                };
                F::or(&[string_glob_holds(pred), in_array])
            }
        }
    }

    /// Reads this request's values from a model.
    fn point(&self, model: &z3::Model) -> Point {
        let int_of = |v: &Int| {
            model
                .eval(v, true)
                .and_then(|x| x.as_u64())
                .and_then(|x| usize::try_from(x).ok())
                .unwrap_or(0)
        };
        let bool_of = |v: &Bool| {
            model
                .eval(v, true)
                .and_then(|x| x.as_bool())
                .unwrap_or(false)
        };
        let server = match (&self.server, &self.space.servers) {
            (Some(s), Some(names)) => Some(int_of(s)).filter(|&c| c < names.classes.len()),
            _ => None,
        };
        Point {
            tool: int_of(&self.tool),
            server,
            slots: self
                .slots
                .iter()
                .map(|v| SlotValue {
                    ty: TYPES.get(int_of(&v.ty)).copied().flatten(),
                    boolean: bool_of(&v.boolean),
                    number: int_of(&v.number),
                    string: int_of(&v.string),
                    contains: v.contains.iter().map(bool_of).collect(),
                    regex: v.regex.iter().map(bool_of).collect(),
                })
                .collect(),
        }
    }
}
