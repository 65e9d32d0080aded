//! Exact finite abstractions of strings and numbers, computed without a solver.
//!
//! A policy only ever asks a handful of questions about one string (is it `"a"`, does it
//! match `delete_*`, does it start with `/etc`): every one is an exact string or a glob. Two
//! strings that answer every question alike are interchangeable, so the verifier reasons about
//! *classes*: the sets of strings that answer them alike. [`StringClasses::build`] enumerates
//! every class that has a member, with a shortest representative, by a breadth-first search
//! of the product of a trie of the exact strings and the globs' automata over a partition of
//! the alphabet into characters no pattern tells apart. This is exact (no string theory, so no
//! wrong-UNSAT answers from a solver) and is how glob-versus-glob questions are answered.
//!
//! Numbers get the same treatment in [`NumClasses`]: only the position of a value relative to
//! the constants it is compared with matters, so `k` constants give `2k + 1` regions.

use crate::glob::{Glob, Token};
use crate::num::Num;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// Past this many product states the abstraction is refused (an inconclusive result).
pub const MAX_STATES: usize = 200_000;

/// The classes of strings that no pattern tells apart.
#[derive(Clone, Debug, Default)]
pub struct StringClasses {
    exact: Vec<String>,
    globs: Vec<Glob>,
    classes: Vec<Class>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Signature {
    /// The exact string this class consists of, if any.
    exact: Option<usize>,
    /// Which globs match the members.
    globs: Vec<bool>,
}

#[derive(Clone, Debug)]
struct Class {
    sig: Signature,
    rep: String,
}

/// The abstraction got too large to enumerate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TooComplex;

impl StringClasses {
    /// Classes for these exact strings and globs. `preferred` strings are used as the
    /// representatives of their classes when they have one (nicer witnesses).
    pub fn build(
        exact: Vec<String>,
        globs: Vec<Glob>,
        preferred: &[&str],
    ) -> Result<StringClasses, TooComplex> {
        let mut out = StringClasses {
            exact,
            globs,
            classes: Vec::new(),
        };
        let trie = Trie::new(&out.exact);
        let alphabet = alphabet(&out.exact, &out.globs);
        let start = State {
            node: Some(0),
            globs: out.globs.iter().map(|g| closure(g, vec![0])).collect(),
        };
        let mut seen: HashMap<State, ()> = HashMap::new();
        let mut queue = VecDeque::new();
        let mut by_sig: HashMap<Signature, usize> = HashMap::new();
        seen.insert(start.clone(), ());
        queue.push_back((start, String::new()));
        while let Some((state, text)) = queue.pop_front() {
            let sig = Signature {
                exact: state.node.and_then(|n| trie.terminal(n)),
                globs: (out.globs.iter().zip(&state.globs))
                    .map(|(g, set)| set.contains(&g.tokens().len()))
                    .collect(),
            };
            match by_sig.get(&sig) {
                Some(&i) => {
                    // Prefer a non-empty representative.
                    if let Some(class) = out.classes.get_mut(i)
                        && class.rep.is_empty()
                    {
                        class.rep = text.clone();
                    }
                }
                None => {
                    by_sig.insert(sig.clone(), out.classes.len());
                    out.classes.push(Class {
                        sig,
                        rep: text.clone(),
                    });
                }
            }
            for &c in &alphabet {
                let next = State {
                    node: state.node.and_then(|n| trie.step(n, c)),
                    globs: (out.globs.iter().zip(&state.globs))
                        .map(|(g, set)| step(g, set, c))
                        .collect(),
                };
                if seen.contains_key(&next) {
                    continue;
                }
                if seen.len() >= MAX_STATES {
                    return Err(TooComplex);
                }
                seen.insert(next.clone(), ());
                let mut t = text.clone();
                t.push(c);
                queue.push_back((next, t));
            }
        }
        for p in preferred {
            if let Some(i) = out.classify(p)
                && let Some(class) = out.classes.get_mut(i)
            {
                class.rep = (*p).to_string();
            }
        }
        Ok(out)
    }

    /// How many classes there are (at least one).
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// A member of the class.
    pub fn rep(&self, class: usize) -> &str {
        self.classes.get(class).map_or("", |c| c.rep.as_str())
    }

    /// The class of a concrete string.
    pub fn classify(&self, s: &str) -> Option<usize> {
        let sig = Signature {
            exact: self.exact.iter().position(|e| e == s),
            globs: self.globs.iter().map(|g| g.is_match(s)).collect(),
        };
        self.classes.iter().position(|c| c.sig == sig)
    }

    /// The classes whose members equal the exact string number `i`.
    pub fn exact_classes(&self, i: usize) -> Vec<usize> {
        self.select(|sig| sig.exact == Some(i))
    }

    /// The classes whose members the glob number `i` matches.
    pub fn glob_classes(&self, i: usize) -> Vec<usize> {
        self.select(|sig| sig.globs.get(i).copied().unwrap_or(false))
    }

    fn select(&self, keep: impl Fn(&Signature) -> bool) -> Vec<usize> {
        (self.classes.iter().enumerate())
            .filter(|(_, c)| keep(&c.sig))
            .map(|(i, _)| i)
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct State {
    /// The trie node, `None` once no exact string can match.
    node: Option<u32>,
    /// Per glob, the sorted set of token positions it may be at.
    globs: Vec<Vec<usize>>,
}

/// Adds the positions after stars (a star may match nothing).
fn closure(glob: &Glob, mut set: Vec<usize>) -> Vec<usize> {
    let tokens = glob.tokens();
    let mut i = 0;
    while let Some(&p) = set.get(i) {
        if matches!(tokens.get(p), Some(Token::Star)) && !set.contains(&(p + 1)) {
            set.push(p + 1);
        }
        i += 1;
    }
    set.sort_unstable();
    set.dedup();
    set
}

fn step(glob: &Glob, set: &[usize], c: char) -> Vec<usize> {
    let tokens = glob.tokens();
    let mut next = Vec::new();
    for &p in set {
        match tokens.get(p) {
            Some(Token::Star) => next.push(p),
            Some(t) if t.matches(c) => next.push(p + 1),
            _ => {}
        }
    }
    closure(glob, next)
}

/// A trie of the exact strings.
struct Trie {
    children: Vec<BTreeMap<char, u32>>,
    terminal: Vec<Option<usize>>,
}

impl Trie {
    fn new(words: &[String]) -> Trie {
        let mut t = Trie {
            children: vec![BTreeMap::new()],
            terminal: vec![None],
        };
        for (i, w) in words.iter().enumerate() {
            let mut node = 0usize;
            for c in w.chars() {
                let fresh = u32::try_from(t.children.len()).unwrap_or(u32::MAX);
                let next = *t.children[node].entry(c).or_insert(fresh);
                if next == fresh {
                    t.children.push(BTreeMap::new());
                    t.terminal.push(None);
                }
                node = next as usize;
            }
            if t.terminal[node].is_none() {
                t.terminal[node] = Some(i);
            }
        }
        t
    }

    fn step(&self, node: u32, c: char) -> Option<u32> {
        self.children.get(node as usize)?.get(&c).copied()
    }

    fn terminal(&self, node: u32) -> Option<usize> {
        self.terminal.get(node as usize).copied().flatten()
    }
}

/// One representative character per block of characters that every pattern treats alike.
fn alphabet(exact: &[String], globs: &[Glob]) -> Vec<char> {
    let mut cuts: BTreeSet<u32> = BTreeSet::new();
    cuts.insert(0);
    let mut cut_around = |lo: char, hi: char| {
        cuts.insert(lo as u32);
        cuts.insert(hi as u32 + 1);
    };
    for w in exact {
        for c in w.chars() {
            cut_around(c, c);
        }
    }
    for g in globs {
        for t in g.tokens() {
            match t {
                Token::Literal(c) => cut_around(*c, *c),
                Token::Class { ranges, .. } => {
                    for &(lo, hi) in ranges {
                        cut_around(lo, hi);
                    }
                }
                Token::Any | Token::Star => {}
            }
        }
    }
    cuts.insert(char::MAX as u32 + 1);
    let cuts: Vec<u32> = cuts.into_iter().collect();
    let mut out: Vec<char> = cuts
        .windows(2)
        .filter_map(|w| match w {
            [lo, hi] => representative(*lo, *hi),
            _ => None,
        })
        .collect();
    // Readable letters first, so that breadth-first search finds readable strings.
    out.sort_by_key(|c| (!c.is_ascii_alphanumeric(), *c));
    out
}

/// A readable character in `lo..hi`, else its first valid one.
fn representative(lo: u32, hi: u32) -> Option<char> {
    let nice = ('a'..='z').chain('0'..='9').chain(['_', '-', '.', '/']);
    nice.into_iter()
        .find(|c| (lo..hi).contains(&(*c as u32)))
        .or_else(|| (lo..hi).find_map(char::from_u32))
}

/// The regions of the number line cut by the constants a value is compared with: region
/// `2i + 1` is the constant `i` itself, region `2i` the numbers strictly between constants
/// `i - 1` and `i` (region 0 below all, region `2k` above all).
#[derive(Clone, Debug, Default)]
pub struct NumClasses {
    constants: Vec<Num>,
}

impl NumClasses {
    pub fn new(mut constants: Vec<Num>) -> NumClasses {
        constants.sort();
        constants.dedup();
        NumClasses { constants }
    }

    pub fn len(&self) -> usize {
        2 * self.constants.len() + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The region holding exactly `n`, when `n` is one of the constants.
    pub fn exact(&self, n: &Num) -> Option<usize> {
        self.constants.binary_search(n).ok().map(|i| 2 * i + 1)
    }

    /// The region of a concrete number.
    pub fn classify(&self, n: &Num) -> usize {
        match self.constants.binary_search(n) {
            Ok(i) => 2 * i + 1,
            Err(i) => 2 * i,
        }
    }

    /// How any number of the region compares with constant `n`, when `n` is a constant.
    pub fn compare(&self, region: usize, n: &Num) -> Option<std::cmp::Ordering> {
        let j = self.constants.binary_search(n).ok()?;
        let i = region / 2;
        Some(if region % 2 == 1 {
            i.cmp(&j)
        } else if i <= j {
            std::cmp::Ordering::Less
        } else {
            std::cmp::Ordering::Greater
        })
    }

    /// A decimal number in the region.
    pub fn rep(&self, region: usize) -> Num {
        let i = region / 2;
        if region % 2 == 1 {
            return self.constants.get(i).cloned().unwrap_or_else(Num::zero);
        }
        let below = i.checked_sub(1).and_then(|j| self.constants.get(j));
        let above = self.constants.get(i);
        between(below, above)
    }
}

/// A decimal strictly between two bounds (either may be missing), without big arithmetic.
fn between(lo: Option<&Num>, hi: Option<&Num>) -> Num {
    let zero = Num::zero();
    let positive = |n: &Num| !n.is_negative() && !n.is_zero();
    match (lo, hi) {
        (None, None) => zero,
        // Below everything: 0 if that is below, else -(1 followed by the integer digits).
        (None, Some(h)) if positive(h) => zero,
        (None, Some(h)) => parse_or_zero(&format!("-1{}", plain(h).0.trim_start_matches('-'))),
        (Some(l), None) if l.is_negative() => zero,
        (Some(l), None) => parse_or_zero(&format!("1{}", plain(l).0)),
        (Some(l), Some(h)) => {
            if l.is_negative() && positive(h) {
                return zero;
            }
            let frac = plain(l).1.len().max(plain(h).1.len());
            // l >= 0: l + 10^-(frac+1); else h <= 0: h - 10^-(frac+1).
            let (base, sign) = if l.is_negative() { (h, "-") } else { (l, "") };
            let (int, f) = plain(base);
            let int = int.trim_start_matches('-');
            let pad = "0".repeat(frac - f.len());
            parse_or_zero(&format!("{sign}{int}.{f}{pad}1"))
        }
    }
}

/// Integer digits (with sign) and fraction digits of a number written plainly.
fn plain(n: &Num) -> (String, String) {
    let (num, den) = n.to_rational_strings();
    let (sign, digits) = match num.strip_prefix('-') {
        Some(d) => ("-", d.to_string()),
        None => ("", num),
    };
    let scale = den.len() - 1;
    let digits = format!(
        "{}{digits}",
        "0".repeat((scale + 1).saturating_sub(digits.len()))
    );
    let (int, frac) = digits.split_at(digits.len() - scale);
    (
        format!("{sign}{int}"),
        frac.trim_end_matches('0').to_string(),
    )
}

fn parse_or_zero(text: &str) -> Num {
    Num::parse(text).unwrap_or_else(Num::zero)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(p: &str) -> Glob {
        Glob::parse(p).unwrap()
    }

    #[test]
    fn classes_of_names_and_globs() {
        let c = StringClasses::build(
            vec!["delete_flow".into(), "list_flows".into()],
            vec![g("delete_*"), g("*_flow")],
            &[],
        )
        .unwrap();
        // delete_flow; list_flows; delete_* only; *_flow only; both globs but not delete_flow
        // (impossible: delete_*_flow... `delete__flow` is one); neither.
        for s in [
            "delete_flow",
            "list_flows",
            "delete_x",
            "x_flow",
            "delete_x_flow",
            "zz",
        ] {
            let class = c.classify(s).unwrap();
            assert_eq!(c.classify(c.rep(class)), Some(class), "{s}");
        }
        assert_eq!(c.len(), 6);
        assert_eq!(c.exact_classes(0).len(), 1);
        assert_eq!(c.glob_classes(0).len(), 3);
    }

    #[test]
    fn a_glob_inside_another_has_no_class_of_its_own() {
        let c = StringClasses::build(vec![], vec![g("a*"), g("ab*")], &[]).unwrap();
        // a-not-ab, ab, neither
        assert_eq!(c.len(), 3);
        let only_inner: Vec<usize> = c
            .glob_classes(1)
            .into_iter()
            .filter(|k| !c.glob_classes(0).contains(k))
            .collect();
        assert!(only_inner.is_empty());
    }

    #[test]
    fn class_globs_with_exact_members_only() {
        let c = StringClasses::build(vec!["a".into(), "b".into()], vec![g("[ab]")], &[]).unwrap();
        // "a", "b", neither: no string matches [ab] without being "a" or "b"
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn number_regions_and_representatives() {
        let n = |s: &str| Num::parse(s).unwrap();
        let r = NumClasses::new(vec![n("10"), n("-2.5"), n("0"), n("0.001"), n("10")]);
        assert_eq!(r.len(), 9);
        for region in 0..r.len() {
            assert_eq!(r.classify(&r.rep(region)), region, "region {region}");
        }
        let empty = NumClasses::new(vec![]);
        assert_eq!(empty.classify(&empty.rep(0)), 0);
        let neg = NumClasses::new(vec![n("-7"), n("-6.99")]);
        for region in 0..neg.len() {
            assert_eq!(neg.classify(&neg.rep(region)), region, "region {region}");
        }
    }
}
