//! One policy.json condition → the warden condition with the same meaning, as source text.
//!
//! policy.json's operators compare loosely (see [`crate::backend::target`]); warden's are
//! typed. Each condition is written as the warden condition that decides every call as the
//! policy.json engine would: `{"op":"eq","value":5}` is `(args.n == 5 or args.n == "5")`,
//! `{"op":"neq",…}` is `(args.x exists and not (…))`, `{"op":"exists","value":true}` excludes
//! `null`. These are exactly the shapes the compiler recognises, so compiling the result gives
//! the same condition back. A condition whose meaning warden cannot state (loose equality with
//! arrays, a regex Go reads differently) is an error.

use crate::backend::go_regex;
use crate::backend::target::{self, Op, StrClass};
use crate::num::Num;
use serde_json::Value;

/// A condition as warden source, or why it cannot be imported.
pub fn translate(path: &str, op: &str, value: &Value) -> Result<String, String> {
    let keys = keys(path)?;
    let p = super::path_source(&keys);
    let op = Op::from_name(op).ok_or_else(|| {
        let names: Vec<&str> = Op::ALL.iter().map(|o| o.name()).collect();
        format!(
            "unknown operator `{op}` (expected one of {})",
            names.join(", ")
        )
    })?;
    Ok(match op {
        Op::Eq => loose_eq(&p, value)?,
        Op::Neq => format!("({p} exists and {})", not(&loose_eq(&p, value)?)),
        Op::In => {
            let items = list(op, value)?;
            match items.as_slice() {
                [] => "false".to_string(),
                _ if all_plain(items) => format!("{p} in {}", literal_list(items)),
                [one] => loose_eq(&p, one)?,
                _ => loose_any(&p, items)?,
            }
        }
        Op::NotIn => {
            let items = list(op, value)?;
            if items.is_empty() {
                format!("{p} exists")
            } else if all_plain(items) {
                format!("({p} exists and not ({p} in {}))", literal_list(items))
            } else {
                let inner = match items.as_slice() {
                    [one] => loose_eq(&p, one)?,
                    _ => loose_any(&p, items)?,
                };
                format!("({p} exists and {})", not(&inner))
            }
        }
        Op::Lt | Op::Lte | Op::Gt | Op::Gte => {
            let symbol = match op {
                Op::Lt => "<",
                Op::Lte => "<=",
                Op::Gt => ">",
                _ => ">=",
            };
            format!("{p} {symbol} {}", number(value)?)
        }
        Op::Regex => format!("{p} matches /{}/", regex(value)?),
        Op::Contains => match value {
            Value::String(s) if target::classify(s) == StrClass::Plain => {
                format!("{p} contains {}", quote(s))
            }
            _ => {
                return Err(
                    "`contains` with anything but a plain string compares array elements loosely, which warden cannot state".into(),
                );
            }
        },
        Op::Exists => match value {
            Value::Bool(true) => format!("({p} exists and not ({p} == null))"),
            Value::Bool(false) => format!("(not {p} exists or {p} == null)"),
            _ => return Err("`exists` takes `true` or `false`".into()),
        },
    })
}

/// `args.a.b` → `["a", "b"]`.
fn keys(path: &str) -> Result<Vec<String>, String> {
    let rest = path.strip_prefix("args.").ok_or_else(|| {
        if path.starts_with("state.") {
            "`state.` paths are Intercept's counters; policy.json limits are `limits` entries"
                .to_string()
        } else {
            format!("a path starts with `args.`, not `{path}`")
        }
    })?;
    let keys: Vec<String> = rest.split('.').map(str::to_string).collect();
    if keys.iter().any(String::is_empty) {
        return Err(format!("the path `{path}` has an empty segment"));
    }
    Ok(keys)
}

fn not(inner: &str) -> String {
    if inner.starts_with('(') {
        format!("not {inner}")
    } else {
        format!("not ({inner})")
    }
}

fn quote(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

fn list(op: Op, value: &Value) -> Result<&Vec<Value>, String> {
    value
        .as_array()
        .ok_or_else(|| format!("`{}` takes a list", op.name()))
}

fn all_plain(items: &[Value]) -> bool {
    items
        .iter()
        .all(|v| matches!(v, Value::String(s) if target::classify(s) == StrClass::Plain))
}

fn literal_list(items: &[Value]) -> String {
    let parts: Vec<String> = items.iter().map(Value::to_string).collect();
    format!("[{}]", parts.join(", "))
}

fn loose_any(p: &str, items: &[Value]) -> Result<String, String> {
    let parts = items
        .iter()
        .map(|v| loose_eq(p, v))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(format!("({})", parts.join(" or ")))
}

/// Intercept's `eq VALUE`: the value, and the one value of another type it prints as.
fn loose_eq(p: &str, value: &Value) -> Result<String, String> {
    let pair = |a: String, b: String| format!("({p} == {a} or {p} == {b})");
    match value {
        Value::String(s) => match target::classify(s) {
            StrClass::Plain => Ok(format!("{p} == {}", quote(s))),
            StrClass::Twin(lit) => Ok(pair(quote(s), lit.to_json().to_string())),
            StrClass::Composite => Err(format!(
                "policy.json compares {} with the printed form of arrays and objects, which warden cannot state",
                quote(s)
            )),
        },
        Value::Number(_) => {
            let n = number(value)?;
            let twin = target::go_format(target::exact_f64(&n).unwrap_or_default());
            Ok(pair(n.to_string(), quote(&twin)))
        }
        Value::Bool(b) => Ok(pair(b.to_string(), quote(&b.to_string()))),
        Value::Null => Ok(pair("null".into(), quote("<nil>"))),
        Value::Array(_) | Value::Object(_) => Err(
            "comparing with an array or object compares printed forms, which warden cannot state"
                .into(),
        ),
    }
}

/// A number the engine reads exactly, in canonical text.
fn number(value: &Value) -> Result<Num, String> {
    let n = value
        .as_number()
        .and_then(Num::from_json)
        .ok_or_else(|| "expected a number".to_string())?;
    if target::exact_f64(&n).is_none() {
        return Err(format!(
            "policy.json engines read `{n}` as a 64-bit float, which is another number"
        ));
    }
    Ok(n)
}

/// A regex both engines read alike, as the body of a warden `/…/` literal.
fn regex(value: &Value) -> Result<String, String> {
    let s = value
        .as_str()
        .ok_or_else(|| "`regex` takes a string".to_string())?;
    if s.contains('\n') || s.contains("\\/") {
        return Err("a regex with a newline or `\\/` cannot be written as a warden /regex/".into());
    }
    regex::Regex::new(s).map_err(|e| format!("the regex does not compile: {e}"))?;
    go_regex::check(s).map_err(|why| format!("the regex means something else in warden: {why}"))?;
    Ok(s.replace('/', "\\/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn loose_operators_become_their_exact_meaning() {
        let t = |op: &str, v: Value| translate("args.x", op, &v).unwrap();
        assert_eq!(t("eq", json!("prod")), r#"args.x == "prod""#);
        assert_eq!(t("eq", json!(5)), r#"(args.x == 5 or args.x == "5")"#);
        assert_eq!(
            t("eq", json!("true")),
            r#"(args.x == "true" or args.x == true)"#
        );
        assert_eq!(
            t("neq", json!("a")),
            r#"(args.x exists and not (args.x == "a"))"#
        );
        assert_eq!(t("in", json!(["a", "b"])), r#"args.x in ["a", "b"]"#);
        assert_eq!(
            t("not_in", json!(["a"])),
            r#"(args.x exists and not (args.x in ["a"]))"#
        );
        assert_eq!(t("not_in", json!([])), "args.x exists");
        assert_eq!(t("lte", json!(50000)), "args.x <= 50000");
        assert_eq!(t("regex", json!("^a/b")), r"args.x matches /^a\/b/");
        assert_eq!(
            t("exists", json!(true)),
            "(args.x exists and not (args.x == null))"
        );
        assert_eq!(
            t("exists", json!(false)),
            "(not args.x exists or args.x == null)"
        );
        assert_eq!(
            translate("args.a.b-c", "eq", &json!("v")).unwrap(),
            r#"args.a.b-c == "v""#
        );
    }

    #[test]
    fn what_warden_cannot_state_is_refused() {
        for (path, op, v) in [
            ("args.x", "eq", json!([1])),
            ("args.x", "eq", json!("[a]")),
            ("args.x", "contains", json!(5)),
            ("args.x", "regex", json!(r"\d")),
            ("args.x", "lt", json!("5")),
            ("args.x", "lt", json!(9007199254740993u64)),
            ("args.x", "like", json!("a")),
            ("state.x.c", "lte", json!(5)),
            ("args..x", "eq", json!("a")),
            ("x", "eq", json!("a")),
        ] {
            assert!(translate(path, op, &v).is_err(), "{path} {op} {v}");
        }
    }
}
