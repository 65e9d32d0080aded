//! Answers the verifier knows without asking the solver, given only where they are certain.
//!
//! - **From the conditions' syntax** ([`implies`], [`excludes`]): a rule whose condition
//!   requires `x == "a"` cannot overlap one that requires `x == "b"`, and lies inside one that
//!   requires `x matches "a*"` or states one of its own tests again. Only UNSAT-style answers
//!   (no call exists) are given this way; they need no witness. Tests on regexes and on
//!   `tool.risk` are never decided here (the encoding approximates the first and overrides the
//!   second), so a syntactic answer is always the one the solver would give.
//! - **From calls already seen** ([`Seen`]): a question whose SAT answer is used without its
//!   model ("can this rule take effect at all?", "does it lie inside that one?") is answered
//!   SAT when a call built from an earlier model satisfies it under the real evaluator. That
//!   call is a real call, and without a catalog or `tool.risk` every real call is a point of
//!   the solver's domain, so the solver would answer SAT too; with either, [`Seen`] stays off.

use super::smt::Point;
use super::space::Space;
use super::witness;
use crate::call::Call;
use crate::eval;
use crate::glob::Token;
use crate::ir::{CmpOp, Cond, Operand, PathSeg, Pred, Rule, Test};
use crate::num::Num;
use serde_json::Value;

/// Calls kept per tool class: enough for the few rules of one tool, bounded for many.
const PER_CLASS: usize = 24;

/// Calls built from the solver's earlier models, by tool class.
pub(super) struct Seen {
    by_class: Vec<Vec<Call>>,
    on: bool,
}

impl Seen {
    pub fn new(space: &Space) -> Seen {
        let on = !space.closed_tools
            && space.schema.is_empty()
            && space.annotations.iter().all(Option::is_none)
            && space.risks.iter().all(Option::is_none)
            && space.slot(&Operand::Risk).is_none();
        Seen {
            by_class: vec![Vec::new(); if on { space.tools.classes.len() } else { 0 }],
            on,
        }
    }

    /// Keeps the call a model stands for (when it is exactly that call).
    pub fn record(&mut self, space: &Space, p: &Point) {
        let Some(list) = self.by_class.get_mut(p.tool).filter(|_| self.on) else {
            return;
        };
        if list.len() >= PER_CLASS {
            return;
        }
        let built = witness::build(space, p, None);
        if built.exact && !list.contains(&built.call) {
            list.push(built.call);
        }
    }

    /// Keeps a call guessed from the rule's condition for each of these tool classes: a
    /// value per argument that satisfies the tests the condition requires (the first branch
    /// of an `or`). Only a guess: whoever uses it checks it with the evaluator.
    pub fn guess(&mut self, space: &Space, rule: &Rule, classes: &[usize]) {
        if !self.on {
            return;
        }
        let mut args = serde_json::Map::new();
        let mut call = Call::new("");
        guess_values(&rule.condition, &mut call, &mut args);
        call.arguments = (!args.is_empty()).then_some(Value::Object(args));
        for &c in classes.iter().take(2) {
            if let Some(list) = self.by_class.get_mut(c)
                && list.len() < PER_CLASS
            {
                let mut call = call.clone();
                call.tool = space.tools.classes.rep(c).to_owned();
                if !list.contains(&call) {
                    list.push(call);
                }
            }
        }
    }

    /// Whether a kept call to one of these tool classes satisfies `claim`.
    pub fn any(&self, classes: &[usize], claim: impl Fn(&Call) -> bool) -> bool {
        classes
            .iter()
            .filter_map(|&c| self.by_class.get(c))
            .flatten()
            .any(claim)
    }
}

/// Every call satisfying `b` satisfies `a`.
pub(super) fn implies(b: &Cond, a: &Cond) -> bool {
    Facts::of(b).decide(a) == Some(true)
}

/// No call satisfies both `a` and `b`.
pub(super) fn excludes(a: &Cond, b: &Cond) -> bool {
    Facts::of(b).decide(a) == Some(false) || Facts::of(a).decide(b) == Some(false)
}

/// What a condition states outright: its top-level tests, and the values its top-level
/// equalities give.
struct Facts<'c> {
    tests: Vec<&'c Test>,
    values: Vec<(&'c Operand, Value)>,
}

impl<'c> Facts<'c> {
    fn of(c: &'c Cond) -> Facts<'c> {
        let mut f = Facts {
            tests: Vec::new(),
            values: Vec::new(),
        };
        f.add(c);
        f
    }

    fn add(&mut self, c: &'c Cond) {
        match c {
            Cond::And(cs) => cs.iter().for_each(|c| self.add(c)),
            Cond::Test(t) => {
                self.tests.push(t);
                let value = match &t.pred {
                    Pred::Eq(l) => Some(l),
                    Pred::In(ls) if ls.len() == 1 => ls.first(),
                    _ => None,
                };
                if let Some(l) = value {
                    self.values.push((&t.operand, l.to_json()));
                }
            }
            _ => {}
        }
    }

    /// `c` on every call these facts hold for: `Some(b)` when certain, by Kleene's logic.
    fn decide(&self, c: &Cond) -> Option<bool> {
        eval::kleene(c, &|t| {
            if self
                .tests
                .iter()
                .any(|f| f.operand == t.operand && f.pred == t.pred)
            {
                return Some(true);
            }
            if t.operand == Operand::Risk || matches!(t.pred, Pred::Regex(_)) {
                return None;
            }
            self.values
                .iter()
                .find(|(o, _)| **o == t.operand)
                .map(|(_, v)| eval::pred_holds(&t.pred, v))
        })
    }
}

/// Sets, for each test `c` requires, a value that satisfies it (when one is easy to name).
fn guess_values(c: &Cond, call: &mut Call, args: &mut serde_json::Map<String, Value>) {
    match c {
        Cond::And(cs) => cs.iter().for_each(|c| guess_values(c, call, args)),
        Cond::Or(cs) => {
            if let Some(c) = cs.first() {
                guess_values(c, call, args);
            }
        }
        Cond::Test(t) => {
            let Some(v) = satisfying(&t.pred) else { return };
            let ident = match &t.operand {
                Operand::Grant => &mut call.grant,
                Operand::Agent => &mut call.agent,
                Operand::Session => &mut call.session,
                Operand::Arg(path) => return put(args, path, v),
                Operand::Annotation(_) | Operand::Risk => return,
            };
            if let (None, Value::String(s)) = (&ident, v) {
                *ident = Some(s);
            }
        }
        Cond::True | Cond::False | Cond::Not(_) => {}
    }
}

/// Sets `args.path` to `v` unless something is there already (keys only).
fn put(args: &mut serde_json::Map<String, Value>, path: &[PathSeg], v: Value) {
    let Some((PathSeg::Key(first), rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        args.entry(first.clone()).or_insert(v);
        return;
    }
    let inner = args
        .entry(first.clone())
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if let Value::Object(m) = inner {
        put(m, rest, v);
    }
}

/// A value satisfying `pred`, when one is easy to name.
fn satisfying(pred: &Pred) -> Option<Value> {
    let int = |n: &Num, by: i64| {
        n.to_i64()
            .and_then(|x| x.checked_add(by))
            .map(|x| Value::Number(Num::from_i64(x).to_json()))
    };
    match pred {
        Pred::Exists => Some(Value::Bool(true)),
        Pred::Eq(l) => Some(l.to_json()),
        Pred::In(ls) => ls.first().map(|l| l.to_json()),
        Pred::Cmp(CmpOp::Ge | CmpOp::Le, n) => Some(Value::Number(n.to_json())),
        Pred::Cmp(CmpOp::Gt, n) => int(n, 1),
        Pred::Cmp(CmpOp::Lt, n) => int(n, -1),
        Pred::StartsWith(s) | Pred::EndsWith(s) => Some(Value::String(s.clone())),
        Pred::Contains(crate::ir::Literal::Str(s)) => Some(Value::String(s.clone())),
        Pred::Glob(g) => {
            let mut out = String::new();
            for t in g.tokens() {
                match t {
                    Token::Star => {}
                    Token::Literal(c) => out.push(*c),
                    Token::Class {
                        negated: false,
                        ranges,
                    } => out.push(ranges.first()?.0),
                    other => out.push(
                        ['a', 'z', '0', '_', '.']
                            .into_iter()
                            .find(|&c| other.matches(c))?,
                    ),
                }
            }
            Some(Value::String(out))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Policy;
    use crate::pipeline::Workspace;
    use std::path::Path;

    fn policy(rules: &str) -> Policy {
        let mut ws = Workspace::default();
        let text = format!("policy p {{\n  default deny\n{rules}}}\n");
        ws.add_source(Path::new("t.warden"), text);
        assert!(!ws.has_errors(), "{:?}", ws.diagnostics);
        ws.files.remove(0).policy.unwrap()
    }

    fn conds(rules: &str) -> Vec<Cond> {
        policy(rules)
            .rules
            .into_iter()
            .map(|r| r.condition)
            .collect()
    }

    #[test]
    fn a_forced_value_decides_the_other_condition() {
        let c = conds(
            "  allow t when args.ns matches \"team1.*\"\n  deny t when args.ns == \"team1.prod\"\n  deny t when args.ns == \"team2.prod\"\n",
        );
        assert!(implies(&c[1], &c[0]));
        assert!(!implies(&c[0], &c[1]));
        assert!(!implies(&c[2], &c[0]));
        assert!(excludes(&c[0], &c[2]));
        assert!(excludes(&c[1], &c[2]));
        assert!(!excludes(&c[0], &c[1]));
    }

    #[test]
    fn a_repeated_test_is_implied_and_unknowns_decide_nothing() {
        let c = conds(
            "  allow t when grant == \"ci\" and args.dry_run == true\n  allow t when grant == \"ci\"\n  allow t when args.n > 3\n  allow t when args.s matches /a+/\n  allow t when args.s == \"b\"\n",
        );
        assert!(implies(&c[0], &c[1]));
        assert!(!implies(&c[1], &c[0]));
        assert!(!excludes(&c[0], &c[2]));
        // A regex is approximated by the solver: never decided here.
        assert!(!excludes(&c[3], &c[4]));
    }

    #[test]
    fn a_guessed_call_satisfies_simple_conditions() {
        let p = policy(
            "  approve t when args.amount > 100 and args.path startswith \"/etc\" and grant == \"ci\"\n  deny t when args.x.y matches \"a?[b-c]*\" or args.z == 1\n",
        );
        let space = Space::build(&[&p], None).unwrap();
        let mut seen = Seen::new(&space);
        for r in &p.rules {
            let classes = space.tool_classes(&r.targets);
            assert!(!seen.any(&classes, |c| eval::rule_matches(r, c)));
            seen.guess(&space, r, &classes);
            assert!(seen.any(&classes, |c| eval::rule_matches(r, c)), "{}", r.id);
        }
    }
}
