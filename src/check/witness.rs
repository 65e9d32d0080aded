//! Witnesses: a solver's [`Point`] turned into a concrete [`Call`], and the replay that
//! checks a finding's claim on that call with the reference evaluator before it is reported.
//!
//! Strings come from the class representatives of [`super::strings`], numbers from the number
//! regions, arrays and objects are built path by path. A regex is the one over-approximated
//! question: for it the builder searches a few candidate strings and says when it found none
//! ([`Built::exact`] false), so that a failed replay is reported as inconclusive rather than as
//! a bug. Any other failed replay is a bug in the encoding (code WD3009), never a finding.

use super::smt::{Point, SlotValue};
use super::space::{Slot, SlotKind, Space};
use crate::call::{Annotations, Call};
use crate::ir::{JsonType, Literal, Operand, PathSeg, RiskOverrides};
use serde_json::{Map, Value};

/// A call built from a point.
pub struct Built {
    pub call: Call,
    /// False when a regex could not be satisfied as the solver assumed.
    pub exact: bool,
}

/// The call a point stands for. `annotations`: what the catalog declares for the tool, if any.
pub fn build(space: &Space, p: &Point, annotations: Option<Annotations>) -> Built {
    let mut exact = true;
    let mut call = Call::new(space.tools.classes.rep(p.tool));
    if let (Some(c), Some(names)) = (p.server, &space.servers) {
        call.server = Some(names.classes.rep(c).to_string());
    }
    if let Some(a) = annotations {
        call.annotations = a;
    }
    let mut args = Value::Object(Map::new());
    for (slot, v) in space.slots.iter().zip(&p.slots) {
        let Some(ty) = v.ty else { continue };
        match (&slot.operand, slot.kind) {
            (Operand::Annotation(a), SlotKind::Annotation)
                if annotations.is_none() && call.annotations.get(*a) != v.boolean =>
            {
                call.annotations.set(*a, v.boolean);
            }
            (Operand::Risk, _) => {
                call.risk = crate::risk::Risk::from_name(&string_value(slot, v, &mut exact));
            }
            (Operand::Grant | Operand::Agent | Operand::Session, _) => {
                let s = string_value(slot, v, &mut exact);
                match slot.operand {
                    Operand::Grant => call.grant = Some(s),
                    Operand::Agent => call.agent = Some(s),
                    _ => call.session = Some(s),
                }
            }
            (Operand::Arg(path), _) => {
                let value = match ty {
                    JsonType::Null => Value::Null,
                    JsonType::Bool => Value::Bool(v.boolean),
                    JsonType::Number => Value::Number(slot.numbers.rep(v.number).to_json()),
                    JsonType::String => Value::String(string_value(slot, v, &mut exact)),
                    JsonType::Array => Value::Array(Vec::new()),
                    JsonType::Object => Value::Object(Map::new()),
                };
                insert(&mut args, path, value, &space.slots, slot);
            }
            _ => {}
        }
    }
    // Arrays that must contain a literal get it in a free position: appended, unless a tracked
    // index must stay absent, then in an untracked gap below that index.
    for (index, (slot, v)) in space.slots.iter().zip(&p.slots).enumerate() {
        if let (Operand::Arg(path), Some(JsonType::Array)) = (&slot.operand, v.ty) {
            let (tracked, limit) = array_elements(space, p, index);
            let Some(Value::Array(items)) = lookup_mut(&mut args, path) else {
                continue;
            };
            for (lit, wanted) in slot.contains.iter().zip(&v.contains) {
                if !*wanted || items.iter().any(|i| crate::eval::lit_eq(i, lit)) {
                    continue;
                }
                if limit.is_none_or(|k| items.len() < k) {
                    items.push(lit.to_json());
                } else if let Some(gap) = (0..items.len()).find(|j| !tracked.contains(j)) {
                    items[gap] = lit.to_json();
                } else {
                    exact = false;
                }
            }
        }
    }
    if args.as_object().is_some_and(|m| !m.is_empty()) {
        call.arguments = Some(args);
    }
    Built { call, exact }
}

/// The tracked element indices of the array at slot `array`, and the smallest tracked index the
/// point says is absent (the array must be shorter than it).
fn array_elements(space: &Space, p: &Point, array: usize) -> (Vec<usize>, Option<usize>) {
    let mut tracked = Vec::new();
    let mut limit: Option<usize> = None;
    for (slot, v) in space.slots.iter().zip(&p.slots) {
        if slot.parent.map(|x| x.0) != Some(array) {
            continue;
        }
        if let Operand::Arg(path) = &slot.operand
            && let Some(PathSeg::Index(n)) = path.last()
        {
            tracked.push(*n);
            if v.ty.is_none() {
                limit = Some(limit.map_or(*n, |l| l.min(*n)));
            }
        }
    }
    (tracked, limit)
}

/// The slot's string: the class representative, or with regexes a candidate that keeps the
/// class and gives every regex the value the solver chose.
fn string_value(slot: &Slot, v: &SlotValue, exact: &mut bool) -> String {
    let rep = slot.strings.rep(v.string).to_string();
    if slot.regexes.is_empty() {
        return rep;
    }
    let samples: Vec<String> = slot
        .regexes
        .iter()
        .filter_map(|r| sample(&r.source))
        .collect();
    let mut candidates = vec![rep.clone()];
    for s in &samples {
        candidates.push(s.clone());
        candidates.push(format!("{rep}{s}"));
        candidates.push(format!("{s}{rep}"));
    }
    let fits = |c: &String| {
        slot.strings.classify(c) == Some(v.string)
            && (slot.regexes.iter().zip(&v.regex)).all(|(r, want)| r.compiled.is_match(c) == *want)
    };
    match candidates.into_iter().find(fits) {
        Some(c) => c,
        None => {
            *exact = false;
            rep
        }
    }
}

/// A short string the regex matches, when one is easy to find.
fn sample(source: &str) -> Option<String> {
    let hir = regex_syntax::parse(source).ok()?;
    let mut out = String::new();
    sample_hir(&hir, &mut out).then_some(out)
}

fn sample_hir(h: &regex_syntax::hir::Hir, out: &mut String) -> bool {
    use regex_syntax::hir::{Class, HirKind};
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => true,
        HirKind::Literal(l) => match std::str::from_utf8(&l.0) {
            Ok(s) => {
                out.push_str(s);
                true
            }
            Err(_) => false,
        },
        HirKind::Class(Class::Unicode(c)) => match c.ranges().first() {
            Some(r) => {
                out.push(r.start());
                true
            }
            None => false,
        },
        HirKind::Class(Class::Bytes(c)) => match c.ranges().first() {
            Some(r) if r.start().is_ascii() => {
                out.push(char::from(r.start()));
                true
            }
            _ => false,
        },
        HirKind::Repetition(r) => (0..r.min.min(8)).all(|_| sample_hir(&r.sub, out)),
        HirKind::Capture(c) => sample_hir(&c.sub, out),
        HirKind::Concat(parts) => parts.iter().all(|p| sample_hir(p, out)),
        HirKind::Alternation(alts) => alts.first().is_some_and(|a| sample_hir(a, out)),
    }
}

fn lookup_mut<'v>(root: &'v mut Value, path: &[PathSeg]) -> Option<&'v mut Value> {
    let mut cur = root;
    for seg in path {
        cur = match (seg, cur) {
            (PathSeg::Key(k), Value::Object(m)) => m.get_mut(k)?,
            (PathSeg::Index(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Sets the value at a path whose enclosing containers already exist (slots come parents
/// first). Array gaps are filled with a value no `contains` question is about.
fn insert(root: &mut Value, path: &[PathSeg], value: Value, slots: &[Slot], slot: &Slot) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let parent_slot = slot.parent.and_then(|(i, _)| slots.get(i));
    let Some(parent) = lookup_mut(root, parent_path) else {
        return;
    };
    match (last, parent) {
        (PathSeg::Key(k), Value::Object(m)) => {
            m.insert(k.clone(), value);
        }
        (PathSeg::Index(i), Value::Array(items)) => {
            let filler = filler(parent_slot.map_or(&[][..], |s| s.contains.as_slice()));
            while items.len() <= *i {
                items.push(filler.clone());
            }
            if let Some(item) = items.get_mut(*i) {
                *item = value;
            }
        }
        _ => {}
    }
}

fn filler(avoid: &[Literal]) -> Value {
    let candidates = [
        Value::Null,
        Value::Bool(false),
        Value::from(0),
        Value::String("filler".into()),
    ];
    candidates
        .iter()
        .find(|c| !avoid.iter().any(|l| crate::eval::lit_eq(c, l)))
        .cloned()
        .unwrap_or(Value::Object(Map::new()))
}

/// Drops every part of the call the claim does not need (identity, annotations, a risk class
/// the name gives anyway, arguments),
/// so that witnesses show only what matters.
pub fn shrink(mut call: Call, claim: impl Fn(&Call) -> bool) -> Call {
    let attempt = |call: &mut Call, change: &dyn Fn(&mut Call)| {
        let mut trial = call.clone();
        change(&mut trial);
        if trial != *call && claim(&trial) {
            *call = trial;
        }
    };
    attempt(&mut call, &|c| c.server = None);
    attempt(&mut call, &|c| c.grant = None);
    attempt(&mut call, &|c| c.agent = None);
    attempt(&mut call, &|c| c.session = None);
    attempt(&mut call, &|c| c.annotations = Annotations::default());
    // A class the name and annotations give anyway goes without saying.
    attempt(&mut call, &|c| {
        if c.risk == Some(RiskOverrides::default().risk_of(&c.tool, None, c.annotations)) {
            c.risk = None;
        }
    });
    attempt(&mut call, &|c| c.arguments = None);
    while let Some(args) = &call.arguments {
        let mut paths = Vec::new();
        removable(args, &mut Vec::new(), &mut paths);
        let before = call.clone();
        for path in paths {
            attempt(&mut call, &|c| {
                if let Some(a) = c.arguments.as_mut() {
                    remove(a, &path);
                }
            });
            if call != before {
                break;
            }
        }
        if call == before {
            break;
        }
    }
    call
}

/// Paths that can be removed: object members, and the last element of arrays.
fn removable(v: &Value, prefix: &mut Vec<PathSeg>, out: &mut Vec<Vec<PathSeg>>) {
    match v {
        Value::Object(m) => {
            for (k, sub) in m {
                prefix.push(PathSeg::Key(k.clone()));
                out.push(prefix.clone());
                removable(sub, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, sub) in items.iter().enumerate() {
                prefix.push(PathSeg::Index(i));
                if i + 1 == items.len() {
                    out.push(prefix.clone());
                }
                removable(sub, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn remove(root: &mut Value, path: &[PathSeg]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    match (last, lookup_mut(root, parent)) {
        (PathSeg::Key(k), Some(Value::Object(m))) => {
            m.remove(k);
        }
        (PathSeg::Index(_), Some(Value::Array(items))) => {
            items.pop();
        }
        _ => {}
    }
}

/// The call with the value at `path` taken from `from` (containers created as needed).
pub fn with_argument(call: &Call, from: &Call, path: &[PathSeg]) -> Option<Call> {
    let mut value = from.arguments.as_ref()?;
    for seg in path {
        value = match (seg, value) {
            (PathSeg::Key(k), Value::Object(m)) => m.get(k)?,
            (PathSeg::Index(i), Value::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    let mut out = call.clone();
    let mut cur = out
        .arguments
        .get_or_insert_with(|| Value::Object(Map::new()));
    let (last, parents) = path.split_last()?;
    for (n, seg) in parents.iter().enumerate() {
        let next_is_index = matches!(path.get(n + 1), Some(PathSeg::Index(_)));
        let fresh = || {
            if next_is_index {
                Value::Array(Vec::new())
            } else {
                Value::Object(Map::new())
            }
        };
        cur = match seg {
            PathSeg::Key(k) => {
                if !cur.is_object() {
                    *cur = Value::Object(Map::new());
                }
                let m = cur.as_object_mut()?;
                let entry = m.entry(k.clone()).or_insert_with(fresh);
                if next_is_index && !entry.is_array() || !next_is_index && !entry.is_object() {
                    *entry = fresh();
                }
                entry
            }
            PathSeg::Index(i) => {
                let items = cur.as_array_mut()?;
                while items.len() <= *i {
                    items.push(Value::Null);
                }
                let entry = items.get_mut(*i)?;
                if !entry.is_object() && !entry.is_array() {
                    *entry = fresh();
                }
                entry
            }
        };
    }
    match (last, cur) {
        (PathSeg::Key(k), Value::Object(m)) => {
            m.insert(k.clone(), value.clone());
        }
        (PathSeg::Index(i), Value::Array(items)) => {
            while items.len() <= *i {
                items.push(Value::Null);
            }
            *items.get_mut(*i)? = value.clone();
        }
        _ => return None,
    }
    Some(out)
}
