//! Intercept's YAML policy → a formatted `.warden` policy with the same decisions.
//!
//! Intercept (PolicyLayer's open-source proxy) reads `version`, `description`, `default`
//! (`allow` when absent), `hide` and `tools: {NAME | "*": {rules: […]}}`, where a rule has a
//! `name`, an `action` (`evaluate`, the default, or `deny`), `conditions` that must all hold
//! for the call to pass, an `on_deny` message, a `state` counter and a `rate_limit` shorthand.
//! Each piece becomes warden source:
//!
//! - an `evaluate` rule → `NAME: deny TOOL when not (C₁ and …) because "on_deny"`, its name
//!   made a warden name (`"max single charge"` → `max_single_charge`);
//! - an `action: deny` rule → an unconditional `deny`;
//! - `rate_limit: N/window`, and a condition `state.<tool>.<counter>` `lte N` (or `lt N + 1`)
//!   with its `state` block → `limit N per window per global` on the tool's `allow` rule
//!   (Intercept's counters are per proxy, not per caller; one named counter per Intercept
//!   counter). A counter incremented by anything but 1 (`increment`, `increment_from`) counts
//!   something other than calls and is an error;
//! - wildcard (`"*"`) rules: under `default allow` they target `*`; under `default deny` they
//!   target the listed tools only, since Intercept denies unlisted tools before any rule, and
//!   their limits go on every listed tool's `allow` under one shared counter;
//! - `description` → a comment above the policy.
//!
//! Conditions are translated by the policy.json importer's [`super::cond`]: policy.json took
//! its condition model, operators and loose comparisons from Intercept. Rules are written in
//! Intercept's evaluation order (tool rules, then wildcard rules), so the first failing rule's
//! message is warden's reason too. What has no place in warden (a limit rule's `on_deny`: warden
//! answers an exhausted limit with its own `rate_limited` denial and retry time) is a warning.

mod write;

use super::{ImportError, Imported, Limit, Reader, cond, finish, is_name, pointer, tool_source};
use crate::ir::Window;
use serde_json::Value;
use std::collections::BTreeSet;

/// Imports Intercept YAML text as a policy named `name` (`imported` when that is not a name).
pub fn import(text: &str, name: &str) -> Result<Imported, Vec<ImportError>> {
    let value: Value = serde_yaml_ng::from_str(text).map_err(|e| {
        vec![ImportError {
            pointer: String::new(),
            message: format!("not YAML: {e}"),
        }]
    })?;
    import_value(&value, name)
}

/// A deny: `when` holds the conditions that must all pass (`None`: deny every call).
pub(super) struct Deny {
    pub name: String,
    pub when: Option<Vec<String>>,
    pub reason: Option<String>,
}

#[derive(Default)]
pub(super) struct Rules {
    pub denies: Vec<Deny>,
    pub limits: Vec<Limit>,
}

/// What every rule of the document shares while it is read.
struct Doc {
    r: Reader,
    warnings: Vec<String>,
    rule_names: BTreeSet<String>,
    counter_names: BTreeSet<String>,
}

impl Doc {
    /// A unique warden name from free text: `"max single charge"` → `max_single_charge`.
    fn unique(taken: &mut BTreeSet<String>, text: &str, fallback: &str) -> String {
        let mut slug = String::new();
        for c in text.chars() {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.ends_with('_') {
                slug.push('_');
            }
        }
        let slug = slug.trim_matches('_').to_string();
        let base = if is_name(&slug) {
            slug
        } else if is_name(&format!("_{slug}")) && !slug.is_empty() {
            format!("_{slug}")
        } else {
            fallback.to_string()
        };
        crate::lower::unique_id(&base, |id| !taken.insert(id.to_string()))
    }

    fn window(&mut self, v: &Value, at: &str) -> Option<Window> {
        let w = self.r.string(v, at)?;
        match w {
            "minute" => Some(Window::Minute),
            "hour" => Some(Window::Hour),
            "day" => Some(Window::Day),
            _ => {
                self.r.error(
                    at,
                    format!("unknown window `{w}` (expected `minute`, `hour` or `day`)"),
                );
                None
            }
        }
    }

    /// The rules of one `tools` entry. `scope` is the tool's name, or `_global` for `"*"`.
    fn tool(&mut self, v: &Value, at: &str, scope: &str) -> Rules {
        let mut out = Rules::default();
        let Some(m) = self.r.object(v, at, &["rules"]) else {
            return out;
        };
        let Some(rules) = m.get("rules") else {
            self.r.error(at, "missing field `rules`");
            return out;
        };
        let at = pointer(at, "rules");
        let counter_prefix = if scope == "_global" {
            String::new()
        } else {
            format!("{scope}_")
        };
        let mut windows_seen = BTreeSet::new();
        for (i, rule) in self.r.array(rules, &at).iter().enumerate() {
            let at = pointer(&at, &i.to_string());
            self.rule(
                rule,
                &at,
                scope,
                &counter_prefix,
                &mut windows_seen,
                &mut out,
            );
        }
        out
    }

    fn rule(
        &mut self,
        v: &Value,
        at: &str,
        scope: &str,
        prefix: &str,
        rate_windows: &mut BTreeSet<&'static str>,
        out: &mut Rules,
    ) {
        let fields = [
            "name",
            "action",
            "conditions",
            "on_deny",
            "state",
            "rate_limit",
        ];
        let Some(m) = self.r.object(v, at, &fields) else {
            return;
        };
        let title = match m
            .get("name")
            .map(|n| (n, self.r.string(n, &pointer(at, "name"))))
        {
            Some((_, Some(t))) if !t.trim().is_empty() => t.to_string(),
            Some((_, Some(_))) => {
                self.r
                    .error(&pointer(at, "name"), "a rule's name must not be empty");
                return;
            }
            Some((_, None)) => return,
            None => {
                self.r
                    .error(at, "missing field `name` (every rule has one)");
                return;
            }
        };
        let on_deny = m
            .get("on_deny")
            .and_then(|d| self.r.string(d, &pointer(at, "on_deny")))
            .map(str::to_string);
        let deny_action = match m
            .get("action")
            .map(|a| self.r.string(a, &pointer(at, "action")))
        {
            None | Some(Some("evaluate")) => false,
            Some(Some("deny")) => true,
            Some(Some(a)) => {
                self.r.error(
                    &pointer(at, "action"),
                    format!("unknown action `{a}` (expected `evaluate` or `deny`)"),
                );
                return;
            }
            Some(None) => return,
        };
        if let Some(rate) = m.get("rate_limit") {
            for k in ["conditions", "state"] {
                if m.contains_key(k) {
                    self.r.error(
                        &pointer(at, k),
                        format!("`rate_limit` cannot be combined with `{k}`"),
                    );
                }
            }
            if deny_action {
                self.r.error(
                    &pointer(at, "action"),
                    "`rate_limit` cannot be used with `action: deny`",
                );
            }
            let at = pointer(at, "rate_limit");
            if let Some(limit) = self.rate_limit(rate, &at, prefix, rate_windows) {
                self.limit_message(&title, on_deny.as_deref());
                out.limits.push(limit);
            }
            return;
        }
        let name = Doc::unique(&mut self.rule_names, &title, "rule");
        if deny_action {
            for k in ["conditions", "state"] {
                if m.contains_key(k) {
                    self.r.error(
                        &pointer(at, k),
                        format!("a rule with `action: deny` has no `{k}`"),
                    );
                }
            }
            out.denies.push(Deny {
                name,
                when: None,
                reason: on_deny,
            });
            return;
        }
        let Some(conds) = m.get("conditions") else {
            self.r
                .error(at, "an `evaluate` rule needs `conditions` (at least one)");
            return;
        };
        let cat = pointer(at, "conditions");
        let entries = self.r.condition_entries(conds, &cat);
        if entries.is_empty() && conds.as_array().is_some_and(Vec::is_empty) {
            self.r
                .error(&cat, "an `evaluate` rule needs at least one condition");
        }
        let state = m
            .get("state")
            .and_then(|s| self.state(s, &pointer(at, "state")));
        let mut when = Vec::new();
        let mut used_state = false;
        for (cat, path, op, value) in entries {
            if let Some(rest) = path.strip_prefix("state.") {
                used_state = true;
                if let Some(limit) =
                    self.counter_condition(rest, op, value, &cat, scope, prefix, &state)
                {
                    self.limit_message(&title, on_deny.as_deref());
                    out.limits.push(limit);
                }
                continue;
            }
            match cond::translate(path, op, value) {
                Ok(text) => when.push(text),
                Err(e) => self.r.error(&cat, e),
            }
        }
        if let (Some((counter, _)), false) = (&state, used_state) {
            self.warnings.push(format!(
                "{at}: counter `{counter}` is counted but no condition limits it; left out"
            ));
        }
        if !when.is_empty() {
            out.denies.push(Deny {
                name,
                when: Some(when),
                reason: on_deny,
            });
        } else {
            self.rule_names.remove(&name);
        }
    }

    /// `N/window` → a limit on the counter `<prefix>rate_<window>`.
    fn rate_limit(
        &mut self,
        v: &Value,
        at: &str,
        prefix: &str,
        seen: &mut BTreeSet<&'static str>,
    ) -> Option<Limit> {
        let text = self.r.string(v, at)?;
        let parsed = text.split_once('/').and_then(|(n, w)| {
            let max = n
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|m| (1..=u64::from(u32::MAX)).contains(m))?;
            let window = match w.trim() {
                "minute" => Window::Minute,
                "hour" => Window::Hour,
                "day" => Window::Day,
                _ => return None,
            };
            Some((max, window))
        });
        let Some((max, window)) = parsed else {
            self.r.error(
                at,
                format!("`{text}` is not `<count>/<window>` with a count from 1 to {} and a window of minute, hour or day", u32::MAX),
            );
            return None;
        };
        if !seen.insert(window.name()) {
            self.r.error(
                at,
                format!(
                    "a second `rate_limit` per {} on this tool (Intercept's duplicate counter)",
                    window.name()
                ),
            );
            return None;
        }
        let counter = Doc::unique(
            &mut self.counter_names,
            &format!("{prefix}rate_{}", window.name()),
            "rate",
        );
        Some(Limit {
            counter,
            window,
            max,
        })
    }

    /// A `state` block: its counter and window. Only counting calls (increment 1) has a
    /// warden form.
    fn state(&mut self, v: &Value, at: &str) -> Option<(String, Window)> {
        let m = self
            .r
            .object(v, at, &["counter", "window", "increment", "increment_from"])?;
        if m.contains_key("increment_from") {
            self.r.error(
                &pointer(at, "increment_from"),
                "a counter that adds up an argument counts something other than calls; warden limits count calls",
            );
        }
        match m.get("increment") {
            None => {}
            Some(i) if i.as_u64() == Some(1) => {}
            Some(i) => self.r.error(
                &pointer(at, "increment"),
                format!("an increment of {i} counts something other than calls; warden limits count calls (increment 1)"),
            ),
        }
        let counter = match m.get("counter") {
            Some(c) => self
                .r
                .string(c, &pointer(at, "counter"))
                .map(str::to_string),
            None => {
                self.r.error(at, "missing field `counter`");
                None
            }
        };
        let window = match m.get("window") {
            Some(w) => self.window(w, &pointer(at, "window")),
            None => {
                self.r.error(at, "missing field `window`");
                None
            }
        };
        Some((counter?, window?))
    }

    /// `state.<scope>.<counter>` `lte N` (or `lt N`) → a limit of N (N - 1) calls.
    #[allow(
        clippy::too_many_arguments,
        reason = "one call site; the rule's context"
    )]
    fn counter_condition(
        &mut self,
        rest: &str,
        op: &str,
        value: &Value,
        at: &str,
        scope: &str,
        prefix: &str,
        state: &Option<(String, Window)>,
    ) -> Option<Limit> {
        let Some((s, counter)) = rest.split_once('.') else {
            self.r.error(
                at,
                format!("a counter path is `state.<tool>.<counter>`, not `state.{rest}`"),
            );
            return None;
        };
        if s != scope {
            self.r.error(
                at,
                format!("this rule's counters are `state.{scope}.…`; a condition on `state.{s}` (another tool's counter) has no warden form"),
            );
            return None;
        }
        let Some((declared, window)) = state.as_ref().filter(|(c, _)| c == counter) else {
            self.r.error(
                at,
                format!("no `state` block with counter `{counter}` in this rule"),
            );
            return None;
        };
        let n = value.as_u64();
        let max = match (op, n) {
            ("lte", Some(n)) => n,
            ("lt", Some(n)) => n.saturating_sub(1),
            ("lt" | "lte", None) => {
                self.r.error(
                    at,
                    format!("a counter is compared with a whole number, not {value}"),
                );
                return None;
            }
            _ => {
                self.r.error(
                    at,
                    format!(
                        "only `lte` and `lt` on a counter are limits; `{op}` has no warden form"
                    ),
                );
                return None;
            }
        };
        if !(1..=u64::from(u32::MAX)).contains(&max) {
            self.r.error(
                at,
                format!(
                    "a limit of {max} calls has no warden form (1 to {})",
                    u32::MAX
                ),
            );
            return None;
        }
        let counter = Doc::unique(
            &mut self.counter_names,
            &format!("{prefix}{declared}"),
            "counter",
        );
        Some(Limit {
            counter,
            window: *window,
            max,
        })
    }

    fn limit_message(&mut self, rule: &str, on_deny: Option<&str>) {
        if let Some(m) = on_deny {
            self.warnings.push(format!(
                "rule \"{rule}\": the message {} of a limit is left out; warden answers an exhausted limit with its own `rate_limited` denial and retry time",
                Value::String(m.to_string())
            ));
        }
    }
}

/// Imports a parsed Intercept document.
pub fn import_value(doc: &Value, name: &str) -> Result<Imported, Vec<ImportError>> {
    let mut d = Doc {
        r: Reader {
            errors: Vec::new(),
            counters: Default::default(),
        },
        warnings: Vec::new(),
        rule_names: BTreeSet::new(),
        counter_names: BTreeSet::new(),
    };
    let fields = ["version", "description", "default", "hide", "tools"];
    let Some(top) = d.r.object(doc, "", &fields) else {
        return Err(d.r.errors);
    };
    match top.get("version") {
        Some(Value::String(v)) if v == "1" => {}
        Some(v) => {
            d.r.error("/version", format!("only version \"1\" exists, found {v}"))
        }
        None => d.r.error("", "missing field `version`"),
    }
    let description = top
        .get("description")
        .and_then(|v| d.r.string(v, "/description"))
        .map(str::to_string);
    let default = match top.get("default") {
        None => "allow",
        Some(Value::String(s)) if s == "allow" || s == "deny" => s.as_str(),
        Some(v) => {
            d.r.error(
                "/default",
                format!("expected \"allow\" or \"deny\", found {v}"),
            );
            "allow"
        }
    };
    let mut hide = Vec::new();
    if let Some(h) = top.get("hide") {
        let mut seen = BTreeSet::new();
        for (i, t) in d.r.array(h, "/hide").iter().enumerate() {
            let at = format!("/hide/{i}");
            match d.r.string(t, &at) {
                Some("") => d.r.error(&at, "an empty tool name"),
                Some(t) if !seen.insert(t) => d.r.error(&at, format!("`{t}` is hidden twice")),
                Some("*") => hide.push("*".to_string()),
                Some(t) => hide.push(tool_source(t)),
                None => {}
            }
        }
    }
    let mut tools: Vec<(String, Rules)> = Vec::new();
    let mut wildcard = Rules::default();
    match top.get("tools") {
        Some(Value::Object(m)) => {
            for (tool, v) in m.iter().filter(|(t, _)| *t != "*") {
                let at = pointer("/tools", tool);
                if tool.is_empty() {
                    d.r.error(&at, "an empty tool name");
                    continue;
                }
                let rules = d.tool(v, &at, tool);
                tools.push((tool.clone(), rules));
            }
            if let Some(v) = m.get("*") {
                wildcard = d.tool(v, &pointer("/tools", "*"), "_global");
            }
        }
        Some(v) => d.r.error(
            "/tools",
            format!("expected a map of tools, found {}", super::type_name(v)),
        ),
        None => d.r.error("", "missing field `tools`"),
    }
    if !d.r.errors.is_empty() {
        return Err(d.r.errors);
    }
    if default == "deny"
        && tools.is_empty()
        && !(wildcard.denies.is_empty() && wildcard.limits.is_empty())
    {
        d.warnings.push("under `default: deny` with no tool listed, the wildcard rules decide nothing; left out".into());
    }
    let name = if is_name(name) { name } else { "imported" };
    let text = write::policy(
        name,
        description.as_deref(),
        default,
        &hide,
        &tools,
        &wildcard,
    );
    finish(&text).map(|source| Imported {
        source,
        warnings: d.warnings,
    })
}
