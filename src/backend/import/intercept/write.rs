//! Writing an imported Intercept policy as warden source: one group of rules per tool, in
//! Intercept's evaluation order, then the wildcard rules (see the parent module for the
//! mapping).

use super::{Deny, Rules};
use crate::backend::import::{Limit, close_policy, tool_source};
use serde_json::Value;

fn limits_source(limits: &[&Limit]) -> String {
    limits
        .iter()
        .map(|l| {
            format!(
                " limit {} per {} per global as {}",
                l.max,
                l.window.name(),
                l.counter
            )
        })
        .collect()
}

fn deny_source(d: &Deny, targets: &str) -> String {
    let when = match d.when.as_deref() {
        None => String::new(),
        // A translated condition is one atom or one parenthesised group.
        Some([one]) if one.starts_with('(') => format!(" when not {one}"),
        Some(all) => format!(" when not ({})", all.join(" and ")),
    };
    let because = d
        .reason
        .as_ref()
        .map(|r| format!(" because {}", Value::String(r.clone())))
        .unwrap_or_default();
    format!("{}: deny {targets}{when}{because}", d.name)
}

pub(super) fn policy(
    name: &str,
    description: Option<&str>,
    default: &str,
    hide: &[String],
    tools: &[(String, Rules)],
    wildcard: &Rules,
) -> String {
    let mut out = String::new();
    for line in description.into_iter().flat_map(str::lines) {
        out.push_str(&format!("// {line}\n"));
    }
    out.push_str(&format!("policy {name} {{\n  default {default}\n"));
    let mut groups: Vec<Vec<String>> = Vec::new();
    if !hide.is_empty() {
        groups.push(vec![format!("hide {}", hide.join(", "))]);
    }
    let deny_default = default == "deny";
    for (tool, rules) in tools {
        let x = tool_source(tool);
        let mut group = Vec::new();
        let mut limits: Vec<&Limit> = rules.limits.iter().collect();
        if deny_default {
            limits.extend(wildcard.limits.iter());
        }
        // A tool Intercept always denies gets no allow (it would never decide anything).
        let always_denied = rules.denies.iter().any(|d| d.when.is_none())
            || wildcard.denies.iter().any(|d| d.when.is_none());
        if (deny_default || !limits.is_empty()) && !always_denied {
            group.push(format!("allow {x}{}", limits_source(&limits)));
        }
        group.extend(rules.denies.iter().map(|d| deny_source(d, &x)));
        if !group.is_empty() {
            groups.push(group);
        }
    }
    let listed: Vec<String> = tools.iter().map(|(t, _)| tool_source(t)).collect();
    let wildcard_targets = if deny_default {
        listed.join(", ")
    } else {
        "*".to_string()
    };
    if !wildcard_targets.is_empty() {
        let mut group = Vec::new();
        if !deny_default && !wildcard.limits.is_empty() {
            let limits: Vec<&Limit> = wildcard.limits.iter().collect();
            group.push(format!("allow *{}", limits_source(&limits)));
        }
        group.extend(
            wildcard
                .denies
                .iter()
                .map(|d| deny_source(d, &wildcard_targets)),
        );
        if !group.is_empty() {
            groups.push(group);
        }
    }
    close_policy(&mut out, &groups);
    out
}
