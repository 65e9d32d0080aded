//! Precompiled conditions: each rule's condition flattened into a small program (ops with
//! forward jumps, tests inline), regexes and globs turned into automata, `in` lists into short
//! string lists scanned inline or hash sets (more than [`FEW_STRS`] strings) and sorted arrays
//! (exact numbers), and number literals into a form that compares against raw JSON number text
//! without allocating.
//!
//! [`Compiled::holds`] has exactly the meaning of [`crate::eval::holds`]; the differential
//! tests in tests/table.rs hold the two together.

use super::CallRef;
use super::decimal::{Decimal, ExactNum};
use super::json::{self, Val};
use super::top::Top;
use crate::ir::{
    Annotation, CmpOp, Cond, JsonType, Literal, Operand, PathSeg, Pred, RiskOverrides, Test,
};
use rustc_hash::FxHashSet;
use std::borrow::Cow;
use std::collections::HashMap;

/// The deepest condition nesting a table holds (deeper policies are refused at build and
/// load, so that evaluation cannot exhaust the stack).
pub(crate) const MAX_DEPTH: usize = 256;

/// A condition flattened into a small program: ops run in order with forward jumps for
/// short-circuit `and`/`or`, over one accumulator; the tests sit inline beside the ops. No
/// pointer chasing and no recursion when deciding.
#[derive(Clone, Debug, Default)]
pub(crate) struct Compiled {
    ops: Box<[Op]>,
    tests: Box<[CTest]>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// The accumulator becomes this constant.
    Const(bool),
    /// The accumulator becomes whether test `i` holds.
    Test(u32),
    Not,
    /// To op `to` when the accumulator is false (or true): an `and` (or `or`) decided early.
    JumpIfFalse(u32),
    JumpIfTrue(u32),
}

/// The program being emitted.
#[derive(Default)]
struct Emit {
    ops: Vec<Op>,
    tests: Vec<CTest>,
}

impl Emit {
    fn here(&self) -> Result<u32, CompileError> {
        u32::try_from(self.ops.len()).map_err(|_| "a condition is too large".into())
    }
}

#[derive(Clone, Debug)]
pub(crate) struct CTest {
    operand: COperand,
    pred: CPred,
}

#[derive(Clone, Debug)]
enum COperand {
    Arg(Box<[PathSeg]>),
    Grant,
    Agent,
    Session,
    Annotation(Annotation),
    Risk,
}

#[derive(Clone, Debug)]
enum CPred {
    Exists,
    Eq(CLit),
    Ne(CLit),
    Cmp(CmpOp, ExactNum),
    In(CSet),
    NotIn(CSet),
    /// A glob (as an anchored regex) or a regex.
    Match(regex::Regex),
    StartsWith(Box<str>),
    EndsWith(Box<str>),
    Contains(CLit),
}

#[derive(Clone, Debug)]
enum CLit {
    Null,
    Bool(bool),
    Num(ExactNum),
    Str(Box<str>),
}

/// An `in` list: which types it holds, and its values by type.
#[derive(Clone, Debug, Default)]
struct CSet {
    types: u8,
    null: bool,
    has_true: bool,
    has_false: bool,
    strs: Strs,
    /// Sorted by value, for binary search against raw number text.
    nums: Vec<ExactNum>,
}

/// The strings of an `in` list: a few are scanned (cheaper than hashing), more are hashed.
#[derive(Clone, Debug)]
enum Strs {
    Few(Vec<Box<str>>),
    Many(FxHashSet<Box<str>>),
}

/// Up to how many strings an `in` list scans instead of hashing.
const FEW_STRS: usize = 8;

impl Default for Strs {
    fn default() -> Self {
        Strs::Few(Vec::new())
    }
}

impl Strs {
    fn insert(&mut self, s: &str) {
        match self {
            Strs::Few(few) if few.iter().any(|x| **x == *s) => {}
            Strs::Few(few) if few.len() < FEW_STRS => few.push(s.into()),
            Strs::Few(few) => {
                let mut many: FxHashSet<Box<str>> = few.drain(..).collect();
                many.insert(s.into());
                *self = Strs::Many(many);
            }
            Strs::Many(many) => {
                many.insert(s.into());
            }
        }
    }

    fn contains(&self, s: &str) -> bool {
        match self {
            Strs::Few(few) => few.iter().any(|x| json::short_eq(x, s)),
            Strs::Many(many) => many.contains(s),
        }
    }
}

/// Why a condition could not be compiled.
pub(crate) type CompileError = String;

/// Compiles conditions, sharing one automaton per distinct pattern.
#[derive(Default)]
pub(crate) struct Compiler {
    regexes: HashMap<String, regex::Regex>,
}

impl Compiler {
    pub(crate) fn regex(&mut self, source: &str) -> Result<regex::Regex, CompileError> {
        if let Some(r) = self.regexes.get(source) {
            return Ok(r.clone());
        }
        let r = regex::Regex::new(source)
            .map_err(|e| format!("regex `{source}` does not compile: {e}"))?;
        self.regexes.insert(source.to_owned(), r.clone());
        Ok(r)
    }

    /// Compiles a rule's condition (`depth` is its nesting so far).
    pub(crate) fn cond(&mut self, c: &Cond, depth: usize) -> Result<Compiled, CompileError> {
        let mut out = Emit::default();
        self.emit(c, depth, &mut out)?;
        if out.ops == [Op::Const(true)] {
            // The empty program holds: tool-only rules run no op at all.
            out.ops.clear();
        }
        Ok(Compiled {
            ops: out.ops.into(),
            tests: out.tests.into(),
        })
    }

    fn emit(&mut self, c: &Cond, depth: usize, out: &mut Emit) -> Result<(), CompileError> {
        if depth > MAX_DEPTH {
            return Err(format!("a condition is nested more than {MAX_DEPTH} deep"));
        }
        match c {
            Cond::True => out.ops.push(Op::Const(true)),
            Cond::False => out.ops.push(Op::Const(false)),
            Cond::And(cs) | Cond::Or(cs) => {
                let and = matches!(c, Cond::And(_));
                let Some((last, first)) = cs.split_last() else {
                    out.ops.push(Op::Const(and));
                    return Ok(());
                };
                // Each operand but the last jumps to the end when it decides the whole.
                let mut jumps = Vec::with_capacity(first.len());
                for c in first {
                    self.emit(c, depth + 1, out)?;
                    jumps.push(out.ops.len());
                    out.ops.push(Op::Const(and));
                }
                self.emit(last, depth + 1, out)?;
                let end = out.here()?;
                for at in jumps {
                    if let Some(op) = out.ops.get_mut(at) {
                        *op = if and {
                            Op::JumpIfFalse(end)
                        } else {
                            Op::JumpIfTrue(end)
                        };
                    }
                }
            }
            Cond::Not(c) => {
                self.emit(c, depth + 1, out)?;
                out.ops.push(Op::Not);
            }
            Cond::Test(t) => {
                let i = u32::try_from(out.tests.len()).map_err(|_| "a condition is too large")?;
                out.tests.push(self.test(t)?);
                out.ops.push(Op::Test(i));
            }
        }
        Ok(())
    }

    fn test(&mut self, t: &Test) -> Result<CTest, CompileError> {
        let operand = match &t.operand {
            Operand::Arg(path) => COperand::Arg(path.clone().into_boxed_slice()),
            Operand::Grant => COperand::Grant,
            Operand::Agent => COperand::Agent,
            Operand::Session => COperand::Session,
            Operand::Annotation(a) => COperand::Annotation(*a),
            Operand::Risk => COperand::Risk,
        };
        let pred = match &t.pred {
            Pred::Exists => CPred::Exists,
            Pred::Eq(l) => CPred::Eq(lit(l)?),
            Pred::Ne(l) => CPred::Ne(lit(l)?),
            Pred::Cmp(op, n) => CPred::Cmp(*op, exact(n)?),
            Pred::In(list) => CPred::In(set(list)?),
            Pred::NotIn(list) => CPred::NotIn(set(list)?),
            Pred::Glob(g) => CPred::Match(self.regex(&g.to_regex())?),
            Pred::Regex(r) => CPred::Match(
                self.regexes
                    .entry(r.source.clone())
                    .or_insert_with(|| r.compiled.clone())
                    .clone(),
            ),
            Pred::StartsWith(s) => CPred::StartsWith(s.as_str().into()),
            Pred::EndsWith(s) => CPred::EndsWith(s.as_str().into()),
            Pred::Contains(l) => CPred::Contains(lit(l)?),
        };
        Ok(CTest { operand, pred })
    }
}

fn exact(n: &crate::num::Num) -> Result<ExactNum, CompileError> {
    ExactNum::new(n).ok_or_else(|| format!("number `{n}` is out of range"))
}

fn lit(l: &Literal) -> Result<CLit, CompileError> {
    Ok(match l {
        Literal::Null => CLit::Null,
        Literal::Bool(b) => CLit::Bool(*b),
        Literal::Num(n) => CLit::Num(exact(n)?),
        Literal::Str(s) => CLit::Str(s.as_str().into()),
    })
}

fn set(list: &[Literal]) -> Result<CSet, CompileError> {
    let mut out = CSet::default();
    for l in list {
        out.types |= type_bit(l.json_type());
        match l {
            Literal::Null => out.null = true,
            Literal::Bool(true) => out.has_true = true,
            Literal::Bool(false) => out.has_false = true,
            Literal::Num(n) => out.nums.push(exact(n)?),
            Literal::Str(s) => {
                out.strs.insert(s);
            }
        }
    }
    out.nums.sort_by(|x, y| x.view().cmp(&y.view()));
    Ok(out)
}

fn type_bit(t: JsonType) -> u8 {
    1 << (t as u8)
}

impl Compiled {
    /// Whether the condition holds for the call (see [`crate::eval::holds`]). `top` indexes
    /// the call's arguments' top-level members on first use; one serves a whole decision.
    pub(crate) fn holds<'a>(&self, call: &CallRef<'a>, top: &mut Top<'a>) -> bool {
        let mut acc = true;
        let mut pc = 0;
        while let Some(op) = self.ops.get(pc) {
            pc += 1;
            match *op {
                Op::Const(b) => acc = b,
                Op::Test(i) => {
                    acc = self.tests.get(i as usize).is_some_and(|t| {
                        resolve(&t.operand, call, top).is_some_and(|v| t.pred.holds(&v))
                    });
                }
                Op::Not => acc = !acc,
                // Jumps only go forward, so a program always ends.
                Op::JumpIfFalse(to) if !acc => pc = to as usize,
                Op::JumpIfTrue(to) if acc => pc = to as usize,
                Op::JumpIfFalse(_) | Op::JumpIfTrue(_) => {}
            }
        }
        acc
    }
}

fn resolve<'a>(operand: &COperand, call: &CallRef<'a>, top: &mut Top<'a>) -> Option<Val<'a>> {
    let ident = |s: Option<&'a str>| s.map(|s| Val::Str(Cow::Borrowed(s)));
    match operand {
        COperand::Grant => ident(call.grant),
        COperand::Agent => ident(call.agent),
        COperand::Session => ident(call.session),
        COperand::Annotation(a) => Some(Val::Bool(call.annotations.get(*a))),
        // `decide` has set the class the policy sees; a call without one is classified.
        COperand::Risk => Some(Val::Str(Cow::Borrowed(
            RiskOverrides::default()
                .risk_of(call.tool, call.risk, call.annotations)
                .name(),
        ))),
        COperand::Arg(path) => top.value(path),
    }
}

impl CPred {
    fn holds(&self, v: &Val<'_>) -> bool {
        match self {
            CPred::Exists => true,
            CPred::Eq(l) => l.eq(v),
            CPred::Ne(l) => l.json_type() == v.json_type() && !l.eq(v),
            CPred::Cmp(op, n) => match v {
                Val::Num(text) => n.cmp_text(text).is_some_and(|o| op.holds(o)),
                _ => false,
            },
            CPred::In(set) => set.contains(v),
            CPred::NotIn(set) => set.types & type_bit(v.json_type()) != 0 && !set.contains(v),
            CPred::Match(re) => string(v).is_some_and(|s| re.is_match(s)),
            CPred::StartsWith(p) => string(v).is_some_and(|s| s.starts_with(&**p)),
            CPred::EndsWith(p) => string(v).is_some_and(|s| s.ends_with(&**p)),
            CPred::Contains(l) => match (v, l) {
                (Val::Str(s), CLit::Str(sub)) => s.contains(&**sub),
                (Val::Array(raw), _) => json::elements(raw).is_some_and(|mut items| {
                    items.any(|item| json::value(item).is_some_and(|x| l.eq(&x)))
                }),
                _ => false,
            },
        }
    }
}

fn string<'v>(v: &'v Val<'_>) -> Option<&'v str> {
    match v {
        Val::Str(s) => Some(s),
        _ => None,
    }
}

fn number<'v>(v: &Val<'v>) -> Option<Decimal<'v>> {
    match v {
        Val::Num(text) => Decimal::parse(text),
        _ => None,
    }
}

impl CLit {
    fn json_type(&self) -> JsonType {
        match self {
            CLit::Null => JsonType::Null,
            CLit::Bool(_) => JsonType::Bool,
            CLit::Num(_) => JsonType::Number,
            CLit::Str(_) => JsonType::String,
        }
    }

    /// Same type and same value (numbers exactly), as [`crate::eval::lit_eq`].
    #[inline(always)]
    fn eq(&self, v: &Val<'_>) -> bool {
        match (v, self) {
            (Val::Null, CLit::Null) => true,
            (Val::Bool(a), CLit::Bool(b)) => a == b,
            (Val::Num(text), CLit::Num(n)) => n.cmp_text(text) == Some(std::cmp::Ordering::Equal),
            (Val::Str(a), CLit::Str(b)) => json::short_eq(a, b),
            _ => false,
        }
    }
}

impl CSet {
    #[inline(always)]
    fn contains(&self, v: &Val<'_>) -> bool {
        match v {
            Val::Null => self.null,
            Val::Bool(true) => self.has_true,
            Val::Bool(false) => self.has_false,
            Val::Str(s) => self.strs.contains(s),
            Val::Num(_) => {
                number(v).is_some_and(|x| self.nums.binary_search_by(|n| n.view().cmp(&x)).is_ok())
            }
            Val::Array(_) | Val::Object => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Constant conditions (no tests) through the flattened program, against their meaning.
    #[test]
    fn programs_short_circuit_like_the_tree() {
        let (t, f) = (|| Cond::True, || Cond::False);
        let cases = [
            (Cond::True, true),
            (Cond::False, false),
            (Cond::And(vec![]), true),
            (Cond::Or(vec![]), false),
            (Cond::And(vec![t(), f(), t()]), false),
            (Cond::Or(vec![f(), f(), t()]), true),
            (
                Cond::Not(Box::new(Cond::Or(vec![f(), Cond::And(vec![t(), t()])]))),
                false,
            ),
            (
                Cond::Or(vec![Cond::And(vec![t(), f()]), Cond::Not(Box::new(f()))]),
                true,
            ),
            (
                Cond::And(vec![Cond::Or(vec![f(), t()]), Cond::Or(vec![f(), f()])]),
                false,
            ),
        ];
        for (cond, expected) in cases {
            let program = Compiler::default().cond(&cond, 0).unwrap();
            let call = CallRef::default();
            assert_eq!(
                program.holds(&call, &mut Top::new(None)),
                expected,
                "{cond:?}"
            );
        }
    }

    #[test]
    fn string_sets_agree_few_or_many() {
        for n in [0, 1, FEW_STRS, FEW_STRS + 1, 40] {
            let mut set = Strs::default();
            for i in 0..n {
                set.insert(&format!("s{i}"));
                set.insert(&format!("s{i}"));
            }
            assert_eq!(matches!(set, Strs::Many(_)), n > FEW_STRS);
            for i in 0..n + 2 {
                assert_eq!(set.contains(&format!("s{i}")), i < n, "{n} {i}");
            }
            assert!(!set.contains(""));
        }
    }
}
