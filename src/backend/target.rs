//! policy.json's condition model and the meaning its engines give it.
//!
//! A condition is `{path, op, value}` with Intercept's eleven operators. PolicyLayer does not
//! publish how its hosted engine compares values; its open-source proxy Intercept (Go) does,
//! and warden assumes the hosted engine agrees (docs/formats.md). Intercept decodes arguments
//! with Go's `encoding/json` (every number a `float64`) and compares loosely: `eq` compares two
//! numbers as floats and anything else by Go's `%v` text, so `{"op":"eq","value":"true"}`
//! also matches the boolean `true`, and `{"op":"eq","value":5}` the string `"5"`. This module
//! holds those facts — which strings can only match strings ([`StrClass`]), the `%v` text of a
//! number ([`go_format`]), which numbers survive the trip through `float64` ([`exact_f64`]) —
//! for the compiler and the importer to share.

use crate::ir::Literal;
use crate::num::Num;
use serde_json::{Map, Value};

/// The operators, with their policy.json names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Neq,
    In,
    NotIn,
    Lt,
    Lte,
    Gt,
    Gte,
    Regex,
    Contains,
    Exists,
}

impl Op {
    pub const ALL: [Op; 11] = [
        Op::Eq,
        Op::Neq,
        Op::In,
        Op::NotIn,
        Op::Lt,
        Op::Lte,
        Op::Gt,
        Op::Gte,
        Op::Regex,
        Op::Contains,
        Op::Exists,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Neq => "neq",
            Op::In => "in",
            Op::NotIn => "not_in",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Regex => "regex",
            Op::Contains => "contains",
            Op::Exists => "exists",
        }
    }

    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|o| o.name() == name)
    }
}

/// One policy.json condition. `path` holds the keys after `args.`.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub path: Vec<String>,
    pub op: Op,
    pub value: Value,
}

impl Condition {
    pub fn new(path: &[String], op: Op, value: Value) -> Condition {
        Condition {
            path: path.to_vec(),
            op,
            value,
        }
    }

    /// `args.a.b`.
    pub fn path_text(&self) -> String {
        let mut s = String::from("args");
        for k in &self.path {
            s.push('.');
            s.push_str(k);
        }
        s
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("path".into(), Value::String(self.path_text()));
        m.insert("op".into(), Value::String(self.op.name().into()));
        m.insert("value".into(), self.value.clone());
        Value::Object(m)
    }
}

/// The condition that holds for strings only: Go's `regexp` matches the empty pattern `^`
/// in every string and the `regex` operator is false for every other type.
pub fn string_guard(path: &[String]) -> Condition {
    Condition::new(path, Op::Regex, Value::String("^".into()))
}

/// What non-string values a string literal loosely equals in policy.json.
#[derive(Clone, Debug, PartialEq)]
pub enum StrClass {
    /// Only the string itself: `eq`, `in` and `contains` with it behave as in warden.
    Plain,
    /// Also exactly one scalar: `"true"` is `%v` of `true`, `"<nil>"` of `null`, `"1e+06"` of
    /// the number 1000000.
    Twin(Literal),
    /// Also arrays or objects (`"[a b]"`, `"map[…]"`), which warden cannot name.
    Composite,
}

pub fn classify(s: &str) -> StrClass {
    match s {
        "true" => return StrClass::Twin(Literal::Bool(true)),
        "false" => return StrClass::Twin(Literal::Bool(false)),
        "<nil>" => return StrClass::Twin(Literal::Null),
        _ => {}
    }
    if (s.starts_with('[') || s.starts_with("map[")) && s.ends_with(']') {
        return StrClass::Composite;
    }
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && go_format(f) == s => match Num::parse(&format!("{f:e}")) {
            Some(n) => StrClass::Twin(Literal::Num(n)),
            None => StrClass::Plain,
        },
        _ => StrClass::Plain,
    }
}

/// The string a scalar loosely equals in policy.json (its Go `%v` text), for scalars that
/// are not strings. `None` for strings and for numbers that are not exactly a `float64`.
pub fn twin_of(lit: &Literal) -> Option<String> {
    match lit {
        Literal::Bool(b) => Some(b.to_string()),
        Literal::Null => Some("<nil>".into()),
        Literal::Num(n) => exact_f64(n).map(go_format),
        Literal::Str(_) => None,
    }
}

/// The number as a `float64`, when the float reads back as the same number: the literal is
/// the shortest decimal text of its float, so the engine compares against the number written.
pub fn exact_f64(n: &Num) -> Option<f64> {
    let f: f64 = n.to_string().parse().ok()?;
    (f.is_finite() && Num::parse(&format!("{f:e}")).as_ref() == Some(n)).then_some(f)
}

/// Go's `fmt.Sprintf("%v", f)` for a `float64`: the shortest digits that round-trip, in `%e`
/// form (`1e+06`, `1.5e-07`) when the decimal exponent is below -4 or at least 6 (the
/// precision `%g` uses for shortest output), else plain (`123456`, `0.001`).
pub fn go_format(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if f < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        let point = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{point}{rest}e{esign}{:02}", exp.abs());
    }
    let point = exp + 1; // digits before the decimal point
    let nd = digits.len() as i64;
    if point <= 0 {
        let zeros = "0".repeat(usize::try_from(-point).unwrap_or(0));
        format!("{sign}0.{zeros}{digits}")
    } else if point >= nd {
        let zeros = "0".repeat(usize::try_from(point - nd).unwrap_or(0));
        format!("{sign}{digits}{zeros}")
    } else {
        let (int, frac) = digits.split_at(usize::try_from(point).unwrap_or(0));
        format!("{sign}{int}.{frac}")
    }
}

/// A string literal as an anchored-prefix regex (`^` + escaped text).
pub fn prefix_regex(prefix: &str) -> String {
    format!("^{}", regex::escape(prefix))
}

/// A string literal as an anchored-suffix regex (escaped text + `$`).
pub fn suffix_regex(suffix: &str) -> String {
    format!("{}$", regex::escape(suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_format_matches_fmt_v() {
        // Values checked against Go 1.22's fmt.Sprintf("%v", x).
        for (f, go) in [
            (0.0, "0"),
            (1.0, "1"),
            (-5.0, "-5"),
            (100000.0, "100000"),
            (1000000.0, "1e+06"),
            (123456789.0, "1.23456789e+08"),
            (0.5, "0.5"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e21, "1e+21"),
            (1e100, "1e+100"),
            (12.25, "12.25"),
            (0.1, "0.1"),
        ] {
            assert_eq!(go_format(f), go, "{f}");
        }
    }

    #[test]
    fn strings_are_classified_by_what_they_also_match() {
        assert_eq!(classify("prod"), StrClass::Plain);
        assert_eq!(classify("5.0"), StrClass::Plain); // Go prints 5 as `5`
        assert_eq!(classify("1000000"), StrClass::Plain); // …and 1e6 as `1e+06`
        assert_eq!(classify("NaN"), StrClass::Plain);
        assert_eq!(classify("true"), StrClass::Twin(Literal::Bool(true)));
        assert_eq!(classify("<nil>"), StrClass::Twin(Literal::Null));
        assert_eq!(
            classify("5"),
            StrClass::Twin(Literal::Num(Num::from_u64(5)))
        );
        assert_eq!(
            classify("1e+06"),
            StrClass::Twin(Literal::Num(Num::from_u64(1_000_000)))
        );
        assert_eq!(classify("[a b]"), StrClass::Composite);
        assert_eq!(classify("map[a:1]"), StrClass::Composite);
    }

    #[test]
    fn exact_floats() {
        let n = |s: &str| Num::parse(s).unwrap();
        assert_eq!(exact_f64(&n("10")), Some(10.0));
        assert_eq!(exact_f64(&n("0.5")), Some(0.5));
        assert_eq!(exact_f64(&n("0.1")), Some(0.1)); // the shortest text of a float
        assert_eq!(exact_f64(&n("0.10000000000000001")), None);
        assert_eq!(exact_f64(&n("9007199254740993")), None);
        assert_eq!(
            exact_f64(&n("9007199254740992")),
            Some(9_007_199_254_740_992.0)
        );
        assert_eq!(exact_f64(&n("1e400")), None);
        assert_eq!(twin_of(&Literal::Num(n("5"))), Some("5".into()));
        assert_eq!(twin_of(&Literal::Bool(false)), Some("false".into()));
    }
}
