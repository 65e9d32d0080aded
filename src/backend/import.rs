//! policy.json → a formatted `.warden` policy with the same decisions.
//!
//! The document is read strictly: an unknown field, a wrong type or an unknown value is an
//! error naming its JSON Pointer (`/tools/x/deny_if/0/foo`), and every error is reported, not
//! only the first. Each tool becomes rules: under `default deny`, `allow X when <require>`
//! carrying the tool's limits; under `default allow`, `deny X when not (<require>)`; each
//! `deny_if` entry a `deny` (or an `approve`, when its message is PolicyLayer's "Requires
//! human approval"); `hide` a `hide` rule; `all_tools.limits` the limits of an `allow *`
//! (under `default allow`) or a named counter on every allow (under `default deny`). The text
//! is generated, then parsed, lowered (it must have no errors) and printed by the formatter,
//! so `warden fmt` leaves it unchanged.
//!
//! [`intercept`] imports Intercept's YAML policies the same way, on the same reader.

mod cond;
pub mod intercept;

use crate::backend::policy_json::APPROVAL_MESSAGE;
use crate::ir::Window;
use crate::source::SourceMap;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// A problem in the input, at a JSON Pointer (`""` is the whole document).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportError {
    pub pointer: String,
    pub message: String,
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "(document)"
        } else {
            &self.pointer
        };
        write!(f, "{at}: {}", self.message)
    }
}

/// The imported policy and what the import could not carry over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    pub source: String,
    pub warnings: Vec<String>,
}

/// Imports policy.json text as a policy named `name` (`imported` when that is not a name).
pub fn import(text: &str, name: &str) -> Result<Imported, Vec<ImportError>> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        vec![ImportError {
            pointer: String::new(),
            message: format!("not JSON: {e}"),
        }]
    })?;
    import_value(&value, name)
}

/// `args.a.b`, or `args["a b"]` for keys a bare field cannot spell.
pub fn path_source(keys: &[String]) -> String {
    let mut s = String::from("args");
    for k in keys {
        let mut chars = k.chars();
        let bare = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if bare {
            s.push('.');
            s.push_str(k);
        } else {
            s.push_str(&format!("[{}]", Value::String(k.clone())));
        }
    }
    s
}

struct Limit {
    counter: String,
    window: Window,
    max: u64,
}

#[derive(Default)]
struct Tool {
    require: Vec<String>,
    deny_if: Vec<(Vec<String>, Option<String>)>,
    limits: Vec<Limit>,
}

/// Reads the document, collecting every error.
struct Reader {
    errors: Vec<ImportError>,
    /// Counter name → window and where first seen, so that uses agree.
    counters: BTreeMap<String, (Window, String)>,
}

fn pointer(base: &str, key: &str) -> String {
    format!("{base}/{}", key.replace('~', "~0").replace('/', "~1"))
}

impl Reader {
    fn error(&mut self, pointer: &str, message: impl Into<String>) {
        self.errors.push(ImportError {
            pointer: pointer.to_string(),
            message: message.into(),
        });
    }

    /// The object at `at`, after reporting its unknown fields.
    fn object<'v>(
        &mut self,
        v: &'v Value,
        at: &str,
        fields: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Some(m) = v.as_object() else {
            self.error(at, format!("expected an object, found {}", type_name(v)));
            return None;
        };
        for k in m.keys().filter(|k| !fields.contains(&k.as_str())) {
            let expected: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
            self.error(
                &pointer(at, k),
                format!("unknown field `{k}` (expected {})", expected.join(", ")),
            );
        }
        Some(m)
    }

    fn array<'v>(&mut self, v: &'v Value, at: &str) -> &'v [Value] {
        match v.as_array() {
            Some(a) => a,
            None => {
                self.error(at, format!("expected an array, found {}", type_name(v)));
                &[]
            }
        }
    }

    fn string<'v>(&mut self, v: &'v Value, at: &str) -> Option<&'v str> {
        let s = v.as_str();
        if s.is_none() {
            self.error(at, format!("expected a string, found {}", type_name(v)));
        }
        s
    }

    /// The `{path, op, value}` entries of a conditions array, each with its pointer.
    fn condition_entries<'v>(
        &mut self,
        v: &'v Value,
        at: &str,
    ) -> Vec<(String, &'v str, &'v str, &'v Value)> {
        let mut out = Vec::new();
        for (i, c) in self.array(v, at).iter().enumerate() {
            let at = pointer(at, &i.to_string());
            let Some(m) = self.object(c, &at, &["path", "op", "value"]) else {
                continue;
            };
            let field = |r: &mut Reader, k: &str| {
                let v = m.get(k);
                if v.is_none() {
                    r.error(&at, format!("missing field `{k}`"));
                }
                v
            };
            let (Some(path), Some(op), Some(value)) =
                (field(self, "path"), field(self, "op"), field(self, "value"))
            else {
                continue;
            };
            let (Some(path), Some(op)) = (
                self.string(path, &pointer(&at, "path")),
                self.string(op, &pointer(&at, "op")),
            ) else {
                continue;
            };
            out.push((at, path, op, value));
        }
        out
    }

    fn conditions(&mut self, v: &Value, at: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (at, path, op, value) in self.condition_entries(v, at) {
            match cond::translate(path, op, value) {
                Ok(text) => out.push(text),
                Err(e) => self.error(&at, e),
            }
        }
        out
    }

    fn limits(&mut self, v: &Value, at: &str) -> Vec<Limit> {
        let mut out = Vec::new();
        for (i, l) in self.array(v, at).iter().enumerate() {
            let at = pointer(at, &i.to_string());
            let Some(m) = self.object(l, &at, &["counter", "window", "max", "scope"]) else {
                continue;
            };
            let mut get = |k: &str| {
                let v = m.get(k);
                if v.is_none() {
                    self.error(&at, format!("missing field `{k}`"));
                }
                v
            };
            let (Some(counter), Some(window), Some(max), Some(scope)) =
                (get("counter"), get("window"), get("max"), get("scope"))
            else {
                continue;
            };
            let counter = self
                .string(counter, &pointer(&at, "counter"))
                .map(str::to_string);
            let window =
                self.string(window, &pointer(&at, "window")).and_then(
                    |w| match Window::from_name(w) {
                        Some(Window::Second) | None => {
                            self.error(
                                &pointer(&at, "window"),
                                format!(
                                    "unknown window `{w}` (expected `minute`, `hour` or `day`)"
                                ),
                            );
                            None
                        }
                        some => some,
                    },
                );
            let max = match max
                .as_u64()
                .filter(|m| (1..=u64::from(u32::MAX)).contains(m))
            {
                Some(m) => Some(m),
                None => {
                    self.error(
                        &pointer(&at, "max"),
                        format!(
                            "expected a whole number from 1 to {}, found {max}",
                            u32::MAX
                        ),
                    );
                    None
                }
            };
            if let Some(s) = self.string(scope, &pointer(&at, "scope")) {
                if s != "grant" {
                    self.error(
                        &pointer(&at, "scope"),
                        format!("unknown scope `{s}` (policy.json counts per `grant`)"),
                    );
                }
            }
            if let Some(c) = &counter {
                if !is_name(c) {
                    self.error(&pointer(&at, "counter"), format!("the counter name `{c}` is not a warden name (letters, digits, `_`, `-`)"));
                }
            }
            let (Some(counter), Some(window), Some(max)) = (counter, window, max) else {
                continue;
            };
            match self.counters.get(&counter) {
                Some((w, first)) if *w != window => {
                    let first = first.clone();
                    self.error(
                        &pointer(&at, "window"),
                        format!("counter `{counter}` counts per {} at {first}", w.name()),
                    );
                }
                Some(_) => {}
                None => {
                    self.counters.insert(counter.clone(), (window, at.clone()));
                }
            }
            out.push(Limit {
                counter,
                window,
                max,
            });
        }
        out
    }

    fn tool(&mut self, v: &Value, at: &str) -> Tool {
        let mut tool = Tool::default();
        let Some(m) = self.object(v, at, &["require", "deny_if", "limits"]) else {
            return tool;
        };
        if let Some(r) = m.get("require") {
            tool.require = self.conditions(r, &pointer(at, "require"));
        }
        if let Some(d) = m.get("deny_if") {
            let at = pointer(at, "deny_if");
            for (i, entry) in self.array(d, &at).iter().enumerate() {
                let at = pointer(&at, &i.to_string());
                let Some(e) = self.object(entry, &at, &["conditions", "on_deny"]) else {
                    continue;
                };
                let conditions = match e.get("conditions") {
                    Some(c) => self.conditions(c, &pointer(&at, "conditions")),
                    None => {
                        self.error(&at, "missing field `conditions`");
                        continue;
                    }
                };
                let on_deny = e
                    .get("on_deny")
                    .and_then(|m| self.string(m, &pointer(&at, "on_deny")))
                    .map(str::to_string);
                tool.deny_if.push((conditions, on_deny));
            }
        }
        if let Some(l) = m.get("limits") {
            tool.limits = self.limits(l, &pointer(at, "limits"));
        }
        tool
    }
}

fn type_name(v: &Value) -> &'static str {
    crate::ir::JsonType::of(v).name()
}

/// Whether a string is a warden `name` (the grammar's `name` token).
pub(crate) fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

const KEYWORDS: &[&str] = &[
    "policy",
    "default",
    "allow",
    "deny",
    "approve",
    "hide",
    "when",
    "because",
    "limit",
    "per",
    "as",
    "and",
    "or",
    "not",
    "in",
    "matches",
    "startswith",
    "endswith",
    "contains",
    "exists",
    "true",
    "false",
    "null",
    "assert",
    "never",
    "always",
    "test",
    "call",
    "with",
    "by",
];

/// A tool name as a target: bare when the grammar reads it back as that exact name.
pub(crate) fn tool_source(name: &str) -> String {
    let bare = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if bare && !KEYWORDS.contains(&name) {
        name.to_string()
    } else {
        Value::String(name.to_string()).to_string()
    }
}

/// Imports a parsed policy.json document.
pub fn import_value(doc: &Value, name: &str) -> Result<Imported, Vec<ImportError>> {
    let mut r = Reader {
        errors: Vec::new(),
        counters: BTreeMap::new(),
    };
    let fields = ["version", "default", "hide", "all_tools", "tools"];
    let Some(top) = r.object(doc, "", &fields) else {
        return Err(r.errors);
    };
    match top.get("version") {
        Some(Value::String(v)) if v == "1" => {}
        Some(v) => r.error("/version", format!("only version \"1\" exists, found {v}")),
        None => r.error("", "missing field `version`"),
    }
    let default = match top.get("default") {
        Some(Value::String(d)) if d == "allow" || d == "deny" => d.clone(),
        Some(v) => {
            r.error(
                "/default",
                format!("expected \"allow\" or \"deny\", found {v}"),
            );
            "deny".into()
        }
        None => {
            r.error("", "missing field `default`");
            "deny".into()
        }
    };
    let mut hide = Vec::new();
    if let Some(h) = top.get("hide") {
        for (i, t) in r.array(h, "/hide").iter().enumerate() {
            match r.string(t, &format!("/hide/{i}")) {
                Some("") => r.error(&format!("/hide/{i}"), "an empty tool name"),
                Some(t) => hide.push(if t == "*" {
                    "*".to_string()
                } else {
                    tool_source(t)
                }),
                None => {}
            }
        }
    }
    let mut all_limits = Vec::new();
    if let Some(a) = top.get("all_tools") {
        if let Some(m) = r.object(a, "/all_tools", &["limits"]) {
            if let Some(l) = m.get("limits") {
                all_limits = r.limits(l, "/all_tools/limits");
            }
        }
    }
    let mut tools = Vec::new();
    if let Some(t) = top.get("tools") {
        if let Some(m) = t.as_object() {
            for (tool, v) in m {
                tools.push((tool.clone(), r.tool(v, &pointer("/tools", tool))));
            }
        } else {
            r.error(
                "/tools",
                format!("expected an object, found {}", type_name(t)),
            );
        }
    }
    if !r.errors.is_empty() {
        return Err(r.errors);
    }
    let mut warnings = Vec::new();
    let name = if is_name(name) { name } else { "imported" };
    let text = write(name, &default, &hide, &all_limits, &tools, &mut warnings);
    finish(&text).map(|source| Imported { source, warnings })
}

fn limit_source(l: &Limit, default_name: Option<&str>) -> String {
    let mut s = format!("limit {} per {} per grant", l.max, l.window.name());
    if default_name != Some(l.counter.as_str()) {
        s.push_str(&format!(" as {}", l.counter));
    }
    s
}

fn write(
    name: &str,
    default: &str,
    hide: &[String],
    all: &[Limit],
    tools: &[(String, Tool)],
    warnings: &mut Vec<String>,
) -> String {
    let mut out = format!("policy {name} {{\n  default {default}\n");
    let mut rules: Vec<Vec<String>> = Vec::new();
    if !hide.is_empty() {
        rules.push(vec![format!("hide {}", hide.join(", "))]);
    }
    if default == "allow" && !all.is_empty() {
        let limits: Vec<String> = all.iter().map(|l| limit_source(l, None)).collect();
        rules.push(vec![format!("allow * {}", limits.join(" "))]);
    }
    if default == "deny" && !all.is_empty() && tools.is_empty() {
        warnings.push(
            "`all_tools.limits` limit nothing when no tool is allowed; they are left out".into(),
        );
    }
    for (tool, t) in tools {
        let x = tool_source(tool);
        let mut group = Vec::new();
        let when = |conds: &[String]| {
            if conds.is_empty() {
                String::new()
            } else {
                format!(" when {}", conds.join(" and "))
            }
        };
        let single = t.limits.len() == 1;
        let own_default = format!("{tool}_rate");
        let mut limits: Vec<String> = t
            .limits
            .iter()
            .map(|l| limit_source(l, single.then_some(own_default.as_str())))
            .collect();
        if default == "deny" {
            limits.extend(all.iter().map(|l| limit_source(l, None)));
            let mut rule = format!("allow {x}{}", when(&t.require));
            for l in &limits {
                rule.push(' ');
                rule.push_str(l);
            }
            group.push(rule);
        } else {
            match t.require.as_slice() {
                [] => {}
                [one] if one.starts_with('(') => group.push(format!("deny {x} when not {one}")),
                all => group.push(format!("deny {x} when not ({})", all.join(" and "))),
            }
            if !limits.is_empty() {
                group.push(format!("allow {x} {}", limits.join(" ")));
            }
        }
        for (conds, on_deny) in &t.deny_if {
            let (effect, reason) = match on_deny.as_deref() {
                Some(m) if m == format!("{APPROVAL_MESSAGE}.") => ("approve", None),
                Some(m) => match m.strip_prefix(&format!("{APPROVAL_MESSAGE}: ")) {
                    Some(reason) => ("approve", Some(reason)),
                    None => ("deny", Some(m)),
                },
                None => ("deny", None),
            };
            let because = reason
                .map(|r| format!(" because {}", Value::String(r.to_string())))
                .unwrap_or_default();
            group.push(format!("{effect} {x}{}{because}", when(conds)));
        }
        if !group.is_empty() {
            rules.push(group);
        }
    }
    close_policy(&mut out, &rules);
    out
}

/// Ends generated policy text: each group of rules after a blank line, then the closing `}`.
fn close_policy(out: &mut String, groups: &[Vec<String>]) {
    for group in groups {
        out.push('\n');
        for rule in group {
            out.push_str("  ");
            out.push_str(rule);
            out.push('\n');
        }
    }
    out.push_str("}\n");
}

/// Parses, lowers and formats the generated text; any error there is a bug in this module.
pub(crate) fn finish(text: &str) -> Result<String, Vec<ImportError>> {
    let internal = |what: String| {
        vec![ImportError {
            pointer: String::new(),
            message: format!(
                "internal error: the generated policy {what}; please report this with the input"
            ),
        }]
    };
    let mut sources = SourceMap::new();
    let id = sources.add("imported.warden", text);
    let ast = crate::syntax::parse(id, text)
        .map_err(|d| internal(format!("does not parse ({})", d.message)))?;
    let lowered = crate::lower::lower(id, &ast);
    if let Some(d) = lowered.diagnostics.iter().find(|d| d.is_error()) {
        return Err(internal(format!(
            "has an error ({}: {})",
            d.code.id, d.message
        )));
    }
    Ok(crate::syntax::format::format(&ast, text))
}
