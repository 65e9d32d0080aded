//! Conditions → policy.json condition lists, exactly or not at all.
//!
//! A warden condition becomes a disjunction of conjunctions of policy.json conditions (a
//! [`Dnf`]): `deny_if` is a list of entries any of which denies, each a list of conditions that
//! must all hold; `require` takes one conjunction. Every translation keeps warden's meaning
//! under the engine semantics of [`crate::backend::target`]; a condition without an exact form
//! is an error with its span and a help line, never an approximation.
//!
//! The passes: tool annotations and risk classes are resolved from the catalog, negations are
//! pushed down to comparisons, recognised shapes become single conditions (the shapes [`super::super::import`]
//! writes for policy.json's loose operators, so import → compile gives back the same JSON),
//! and what remains is multiplied out.

use crate::backend::go_regex;
use crate::backend::target::{self, Condition, Op, StrClass};
use crate::call::Annotations;
use crate::diagnostic::{Code, Diagnostic, code};
use crate::eval::pred_holds;
use crate::ir::{CmpOp, Cond, Literal, Operand, PathSeg, Pred, Test};
use crate::num::Num;
use crate::risk::Risk;
use crate::source::Span;
use serde_json::Value;

/// What the catalog says of one tool: what decides its annotation and risk class tests.
#[derive(Clone, Copy, Debug)]
pub struct ToolAttrs {
    pub annotations: Annotations,
    /// The class as the policy sees it (overrides applied).
    pub risk: Risk,
}

/// Alternatives, each a list of conditions that must all hold. `[]` is false, `[[]]` true.
pub type Dnf = Vec<Vec<Condition>>;

/// Above this many alternatives, a condition is refused as too complex to multiply out.
const MAX_ALTERNATIVES: usize = 64;

/// Translates a condition. `attrs` are the tool's, from the catalog, when known.
/// `span` is where to point when the condition as a whole is the problem.
pub fn dnf(cond: &Cond, attrs: Option<&ToolAttrs>, span: Span) -> Result<Dnf, Box<Diagnostic>> {
    let resolved = resolve(cond, attrs);
    let node = to_node(&nnf(&resolved, true))?;
    expand(&node).ok_or_else(|| {
        Box::new(
            Diagnostic::new(
                code::PJ_INEXPRESSIBLE_CONDITION,
                span,
                format!("this condition multiplies out to more than {MAX_ALTERNATIVES} policy.json alternatives"),
            )
            .help("simplify the condition, or split the rule"),
        )
    })
}

/// The condition with annotation and risk class tests decided, when the tool's attributes are
/// known.
pub fn resolve(cond: &Cond, attrs: Option<&ToolAttrs>) -> Cond {
    let decided = |pred: &Pred, value: Value| {
        if pred_holds(pred, &value) {
            Cond::True
        } else {
            Cond::False
        }
    };
    let c = match (cond, attrs) {
        (
            Cond::Test(Test {
                operand: Operand::Annotation(a),
                pred,
                ..
            }),
            Some(t),
        ) => decided(pred, Value::Bool(t.annotations.get(*a))),
        (
            Cond::Test(Test {
                operand: Operand::Risk,
                pred,
                ..
            }),
            Some(t),
        ) => decided(pred, Value::String(t.risk.name().to_owned())),
        (Cond::And(cs), _) => Cond::And(cs.iter().map(|c| resolve(c, attrs)).collect()),
        (Cond::Or(cs), _) => Cond::Or(cs.iter().map(|c| resolve(c, attrs)).collect()),
        (Cond::Not(c), _) => Cond::Not(Box::new(resolve(c, attrs))),
        (other, _) => other.clone(),
    };
    fold(c)
}

/// Folds constants one level (children are already folded); flattens nested `and`s.
fn fold(c: Cond) -> Cond {
    match c {
        Cond::And(cs) => {
            let mut out = Vec::new();
            for c in cs {
                match c {
                    Cond::True => {}
                    Cond::False => return Cond::False,
                    Cond::And(inner) => out.extend(inner),
                    other => out.push(other),
                }
            }
            match out.len() {
                0 => Cond::True,
                1 => out.pop().unwrap_or(Cond::True),
                _ => Cond::And(out),
            }
        }
        Cond::Or(cs) => {
            let mut out = Vec::new();
            for c in cs {
                match c {
                    Cond::False => {}
                    Cond::True => return Cond::True,
                    other => out.push(other),
                }
            }
            match out.len() {
                0 => Cond::False,
                1 => out.pop().unwrap_or(Cond::False),
                _ => Cond::Or(out),
            }
        }
        Cond::Not(inner) => match *inner {
            Cond::True => Cond::False,
            Cond::False => Cond::True,
            other => Cond::Not(Box::new(other)),
        },
        other => other,
    }
}

/// Negation normal form: `not` only directly on comparisons.
fn nnf(c: &Cond, positive: bool) -> Cond {
    let c = match c {
        Cond::True | Cond::False => {
            if positive == matches!(c, Cond::True) {
                Cond::True
            } else {
                Cond::False
            }
        }
        Cond::And(cs) | Cond::Or(cs) => {
            let parts = cs.iter().map(|c| nnf(c, positive)).collect();
            if matches!(c, Cond::And(_)) == positive {
                Cond::And(parts)
            } else {
                Cond::Or(parts)
            }
        }
        Cond::Not(inner) => nnf(inner, !positive),
        Cond::Test(_) if positive => c.clone(),
        Cond::Test(_) => Cond::Not(Box::new(c.clone())),
    };
    fold(c)
}

/// A condition on its way to DNF: recognised pieces are already policy.json conjunctions.
enum Node {
    Conj(Vec<Condition>),
    And(Vec<Node>),
    Or(Vec<Node>),
}

fn expand(node: &Node) -> Option<Dnf> {
    let dnf = match node {
        Node::Conj(cs) => vec![cs.clone()],
        Node::Or(parts) => {
            let mut out = Vec::new();
            for p in parts {
                out.extend(expand(p)?);
            }
            out
        }
        Node::And(parts) => {
            let mut out: Dnf = vec![Vec::new()];
            for p in parts {
                let alternatives = expand(p)?;
                let mut next = Vec::new();
                for left in &out {
                    for right in &alternatives {
                        let mut both = left.clone();
                        for c in right {
                            if !both.contains(c) {
                                both.push(c.clone());
                            }
                        }
                        next.push(both);
                    }
                }
                out = next;
                if out.len() > MAX_ALTERNATIVES {
                    return None;
                }
            }
            out
        }
    };
    (dnf.len() <= MAX_ALTERNATIVES).then_some(dnf)
}

fn to_node(c: &Cond) -> Result<Node, Box<Diagnostic>> {
    match c {
        Cond::True => Ok(Node::Conj(Vec::new())),
        Cond::False => Ok(Node::Or(Vec::new())),
        Cond::Test(t) => test(t),
        Cond::Not(inner) => match inner.as_ref() {
            Cond::Test(t) => Err(negated(t)),
            other => to_node(other),
        },
        Cond::Or(cs) => {
            if let Some(node) = or_shape(cs)? {
                return Ok(node);
            }
            Ok(Node::Or(cs.iter().map(to_node).collect::<Result<_, _>>()?))
        }
        Cond::And(cs) => and(cs),
    }
}

/// `P exists and not (…P…)`: Intercept's `neq`, `not_in` and `exists: true` are false when
/// the argument is absent, so each is a `not (…)` right after an `exists` of its path (the
/// pair the importer writes); the `exists` is then part of it.
fn and(cs: &[Cond]) -> Result<Node, Box<Diagnostic>> {
    let mut nodes: Vec<Node> = Vec::new();
    let mut previous_exists: Option<&Operand> = None;
    for c in cs {
        let shape = match (c, previous_exists) {
            (Cond::Not(inner), Some(present)) => {
                negated_shape(inner).filter(|(o, ..)| *o == present)
            }
            _ => None,
        };
        previous_exists = None;
        if let Some((operand, span, op, value)) = shape {
            nodes.pop();
            nodes.push(Node::Conj(vec![Condition::new(
                &path(operand, span)?,
                op,
                value,
            )]));
            continue;
        }
        if let Cond::Test(t) = c {
            if t.pred == Pred::Exists {
                previous_exists = Some(&t.operand);
            }
        }
        nodes.push(to_node(c)?);
    }
    Ok(Node::And(nodes))
}

/// What `not (X)` is when paired with `exists`: `X` loosely equal to a value (`neq`), to one
/// of several (`not_in`), or `== null` (`exists: true`).
fn negated_shape(c: &Cond) -> Option<(&Operand, Span, Op, Value)> {
    if let Cond::Test(t) = c {
        match &t.pred {
            Pred::Eq(Literal::Null) => return Some((&t.operand, t.span, Op::Exists, true.into())),
            Pred::In(list) if all_plain(list) => {
                return Some((&t.operand, t.span, Op::NotIn, list_json(list)));
            }
            _ => {}
        }
    }
    if let Some((operand, span, value)) = loose_eq(c) {
        return Some((operand, span, Op::Neq, value));
    }
    loose_set(c).map(|(operand, span, values)| (operand, span, Op::NotIn, Value::Array(values)))
}

/// Shapes of a whole `or`: `not P exists or P == null` (`exists: false`), a loose equality
/// pair (`eq`), several loose equalities on one path (`in`).
fn or_shape(cs: &[Cond]) -> Result<Option<Node>, Box<Diagnostic>> {
    if let [a, b] = cs {
        for (x, y) in [(a, b), (b, a)] {
            if let (Cond::Not(n), Cond::Test(t)) = (x, y) {
                if let Cond::Test(e) = n.as_ref() {
                    if e.pred == Pred::Exists
                        && t.pred == Pred::Eq(Literal::Null)
                        && e.operand == t.operand
                    {
                        let p = path(&t.operand, t.span)?;
                        return Ok(Some(Node::Conj(vec![Condition::new(
                            &p,
                            Op::Exists,
                            false.into(),
                        )])));
                    }
                }
            }
        }
    }
    let whole = Cond::Or(cs.to_vec());
    if let Some((operand, span, value)) = loose_eq(&whole) {
        let p = path(operand, span)?;
        return Ok(Some(Node::Conj(vec![Condition::new(&p, Op::Eq, value)])));
    }
    if let Some((operand, span, values)) = loose_set(&whole) {
        let p = path(operand, span)?;
        return Ok(Some(Node::Conj(vec![Condition::new(
            &p,
            Op::In,
            Value::Array(values),
        )])));
    }
    Ok(None)
}

/// A condition that means Intercept's `eq VALUE`: `P == "plain"`, or a string and the one
/// non-string it prints as, in either order (`P == true or P == "true"`); the first written
/// is the value.
fn loose_eq(c: &Cond) -> Option<(&Operand, Span, Value)> {
    match c {
        Cond::Test(Test {
            operand,
            pred: Pred::Eq(Literal::Str(s)),
            span,
        }) if target::classify(s) == StrClass::Plain => {
            Some((operand, *span, Value::String(s.clone())))
        }
        Cond::Or(pair) => {
            let [Cond::Test(a), Cond::Test(b)] = pair.as_slice() else {
                return None;
            };
            let (Pred::Eq(x), Pred::Eq(y)) = (&a.pred, &b.pred) else {
                return None;
            };
            if a.operand != b.operand {
                return None;
            }
            let twins = |s: &Literal, other: &Literal| match s {
                Literal::Str(s) => target::twin_of(other).as_deref() == Some(s.as_str()),
                _ => false,
            };
            (twins(x, y) || twins(y, x)).then(|| (&a.operand, a.span, x.to_json()))
        }
        _ => None,
    }
}

/// Several loose equalities on one path: Intercept's `in`.
fn loose_set(c: &Cond) -> Option<(&Operand, Span, Vec<Value>)> {
    let Cond::Or(parts) = c else { return None };
    if parts.len() < 2 {
        return None;
    }
    let mut operand = None;
    let mut values = Vec::new();
    for p in parts {
        let (o, span, v) = loose_eq(p)?;
        if operand.is_some_and(|(first, _)| first != o) {
            return None;
        }
        operand.get_or_insert((o, span));
        values.push(v);
    }
    operand.map(|(o, span)| (o, span, values))
}

fn all_plain(list: &[Literal]) -> bool {
    list.iter()
        .all(|l| matches!(l, Literal::Str(s) if target::classify(s) == StrClass::Plain))
}

fn list_json(list: &[Literal]) -> Value {
    Value::Array(list.iter().map(Literal::to_json).collect())
}

fn err(code: Code, t: &Test, message: String, help: &str) -> Box<Diagnostic> {
    Box::new(Diagnostic::new(code, t.span, message).help(help))
}

fn negated(t: &Test) -> Box<Diagnostic> {
    let help = if t.pred == Pred::Exists {
        "policy.json's `exists: false` also holds for a null value: write `(not P exists or P == null)` if that is meant"
    } else {
        "a policy.json comparison is false when the argument is absent, and so would its negation be; state the condition positively (`<=` for `not >`), or pair it with `exists`"
    };
    err(
        code::PJ_INEXPRESSIBLE_CONDITION,
        t,
        "policy.json cannot negate this comparison".into(),
        help,
    )
}

/// The keys of an argument path; errors for identity, annotations, risk and unspellable paths.
fn path(operand: &Operand, span: Span) -> Result<Vec<String>, Box<Diagnostic>> {
    let d = |code: Code, msg: &str, help: &str| {
        Box::new(Diagnostic::new(code, span, msg.to_string()).help(help.to_string()))
    };
    match operand {
        Operand::Grant | Operand::Agent | Operand::Session => Err(d(
            code::PJ_IDENTITY_CONDITION,
            "policy.json conditions cannot look at who calls",
            "PolicyLayer gives each grant its own policy: compile one policy per grant instead",
        )),
        Operand::Annotation(_) => Err(d(
            code::PJ_ANNOTATION_CONDITION,
            "policy.json conditions cannot look at tool annotations",
            "pass `--catalog FILE` (the server's `tools/list`) so that annotations are resolved per tool",
        )),
        Operand::Risk => Err(d(
            code::PJ_RISK_WITHOUT_CATALOG,
            "policy.json conditions cannot look at risk classes",
            "pass `--catalog FILE` (the server's `tools/list`) so that each tool's class is resolved",
        )),
        Operand::Arg(segs) => {
            let mut keys = Vec::new();
            for s in segs {
                match s {
                    PathSeg::Key(k) if !k.is_empty() && !k.contains('.') => keys.push(k.clone()),
                    PathSeg::Key(k) => {
                        return Err(d(
                            code::PJ_UNSUPPORTED_PATH,
                            &format!(
                                "policy.json paths are dotted, so they cannot spell the key `{k}`"
                            ),
                            "rename the argument, or enforce this rule with the warden proxy",
                        ));
                    }
                    PathSeg::Index(_) => {
                        return Err(d(
                            code::PJ_UNSUPPORTED_PATH,
                            "policy.json paths cannot index into arrays",
                            "use `contains` on the array, or enforce this rule with the warden proxy",
                        ));
                    }
                }
            }
            Ok(keys)
        }
    }
}

fn number(n: &Num, t: &Test) -> Result<Value, Box<Diagnostic>> {
    match target::exact_f64(n) {
        Some(_) => Ok(Value::Number(n.to_json())),
        None => Err(err(
            code::PJ_INEXACT_NUMBER,
            t,
            format!("policy.json engines read `{n}` as a 64-bit float, which is another number"),
            "use a number a float holds exactly (at most 15 significant digits is always safe)",
        )),
    }
}

fn conj(cs: Vec<Condition>) -> Result<Node, Box<Diagnostic>> {
    Ok(Node::Conj(cs))
}

/// One comparison.
fn test(t: &Test) -> Result<Node, Box<Diagnostic>> {
    let p = path(&t.operand, t.span)?;
    let one = |op: Op, v: Value| conj(vec![Condition::new(&p, op, v)]);
    let guarded =
        |op: Op, v: Value| conj(vec![Condition::new(&p, op, v), target::string_guard(&p)]);
    let loose = |what: &str, lit: &Literal| {
        let twin = target::twin_of(lit).unwrap_or_default();
        err(
            code::PJ_INEXPRESSIBLE_CONDITION,
            t,
            format!("policy.json's comparison with `{what}` also matches the string \"{twin}\""),
            &format!(
                "policy.json has no exact form; to accept both, write `({} == {what} or {} == {})`",
                super::super::import::path_source(&p),
                super::super::import::path_source(&p),
                Value::String(twin.clone())
            ),
        )
    };
    match &t.pred {
        Pred::Exists => one(Op::NotIn, Value::Array(Vec::new())),
        Pred::Eq(Literal::Str(s)) => match target::classify(s) {
            StrClass::Plain => one(Op::Eq, s.clone().into()),
            _ => guarded(Op::Eq, s.clone().into()),
        },
        Pred::Eq(Literal::Num(n)) => {
            let v = number(n, t)?;
            conj(vec![
                Condition::new(&p, Op::Gte, v.clone()),
                Condition::new(&p, Op::Lte, v),
            ])
        }
        Pred::Eq(lit @ (Literal::Bool(_) | Literal::Null)) => {
            Err(loose(&lit.to_json().to_string(), lit))
        }
        Pred::Ne(Literal::Str(s)) => guarded(Op::Neq, s.clone().into()),
        Pred::Ne(Literal::Num(n)) => {
            let v = number(n, t)?;
            Ok(Node::Or(vec![
                Node::Conj(vec![Condition::new(&p, Op::Lt, v.clone())]),
                Node::Conj(vec![Condition::new(&p, Op::Gt, v)]),
            ]))
        }
        Pred::Ne(Literal::Bool(b)) => Err(loose(&(!b).to_string(), &Literal::Bool(!b))),
        Pred::Ne(Literal::Null) => Ok(Node::Or(Vec::new())),
        Pred::Cmp(op, n) => {
            let op = match op {
                CmpOp::Lt => Op::Lt,
                CmpOp::Le => Op::Lte,
                CmpOp::Gt => Op::Gt,
                CmpOp::Ge => Op::Gte,
            };
            one(op, number(n, t)?)
        }
        Pred::In(list) if all_plain(list) && !list.is_empty() => one(Op::In, list_json(list)),
        Pred::In(list) => Ok(Node::Or(
            list.iter()
                .map(|l| {
                    test(&Test {
                        operand: t.operand.clone(),
                        pred: Pred::Eq(l.clone()),
                        span: t.span,
                    })
                })
                .collect::<Result<_, _>>()?,
        )),
        Pred::NotIn(list) if list.is_empty() => Ok(Node::Or(Vec::new())),
        Pred::NotIn(list) if list.iter().all(|l| matches!(l, Literal::Str(_))) => {
            guarded(Op::NotIn, list_json(list))
        }
        Pred::NotIn(_) => Err(err(
            code::PJ_INEXPRESSIBLE_CONDITION,
            t,
            "policy.json's `not_in` compares loosely with every type".into(),
            "only `not in` a list of strings has an exact form; compare numbers with `<` and `>`",
        )),
        Pred::Glob(g) => {
            let src = g.as_str();
            let prefix = src
                .strip_suffix('*')
                .filter(|before| !crate::glob::Glob::has_metachar(before))
                .and_then(|before| crate::glob::Glob::parse(before).ok())
                .and_then(|before| before.literal());
            let re = match prefix {
                Some(prefix) => target::prefix_regex(&prefix),
                None => g.to_regex(),
            };
            regex(t, re)
        }
        Pred::Regex(r) => regex(t, r.source.clone()),
        Pred::StartsWith(s) => regex(t, target::prefix_regex(s)),
        Pred::EndsWith(s) => regex(t, target::suffix_regex(s)),
        Pred::Contains(Literal::Str(s)) if target::classify(s) == StrClass::Plain => {
            one(Op::Contains, s.clone().into())
        }
        Pred::Contains(lit) => Err(err(
            code::PJ_INEXPRESSIBLE_CONDITION,
            t,
            format!(
                "policy.json's `contains` compares array elements loosely, so `{}` would also match other types",
                lit.to_json()
            ),
            "only `contains` with a plain string has an exact form",
        )),
    }
}

fn regex(t: &Test, source: String) -> Result<Node, Box<Diagnostic>> {
    match go_regex::check(&source) {
        Ok(()) => {
            let p = path(&t.operand, t.span)?;
            conj(vec![Condition::new(&p, Op::Regex, source.into())])
        }
        Err(why) => Err(err(
            code::PJ_UNPORTABLE_REGEX,
            t,
            format!("policy.json engines use Go's regex syntax, where this differs: {why}"),
            "rewrite the regex with constructs both engines share (docs/formats.md lists them)",
        )),
    }
}
