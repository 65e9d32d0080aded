//! `tools/list` results: learn each tool's annotations and risk class (the only source of
//! either the policy trusts: never the client's; the class is [`crate::risk::classify`] of the
//! tool's name, description, annotations and input schema), and drop the tools this caller must
//! not see — hidden ones, and ones every call to which would be denied whatever the arguments.
//!
//! Everything else is kept as the server sent it: each kept tool's JSON text byte for byte,
//! and every other field of the result (`nextCursor`, `_meta`, `ttlMs`, unknown ones). When no
//! tool is dropped the original message is relayed untouched.

use super::engine::Identity;
use crate::call::{Annotations, Call};
use crate::eval::holds_without_arguments;
use crate::ir::Effect;
use crate::risk::{Risk, ToolFacts, classify};
use crate::table::Table;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct ToolHead {
    name: String,
    #[serde(default)]
    annotations: Option<serde_json::Value>,
    #[serde(default)]
    description: Option<serde_json::Value>,
    #[serde(default, rename = "inputSchema")]
    input_schema: Option<serde_json::Value>,
}

/// What the proxy knows of a tool from `tools/list`. The default is a tool never listed: no
/// annotations, and a class from its name alone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Known {
    pub annotations: Annotations,
    pub risk: Option<Risk>,
}

/// What filtering found.
pub struct Filtered {
    /// The message to send instead of the original, when tools were dropped.
    pub replacement: Option<Vec<u8>>,
    /// Every listed tool's annotations and class (before filtering).
    pub tools: Vec<(String, Known)>,
    pub dropped: Vec<String>,
}

/// Filters one `tools/list` response line. A line that is not a result with a `tools` array
/// is left alone (errors, odd servers).
pub fn filter(line: &[u8], table: &Table, who: &Identity, enforce: bool) -> Filtered {
    let mut out = Filtered {
        replacement: None,
        tools: Vec::new(),
        dropped: Vec::new(),
    };
    let Ok(message) = serde_json::from_slice::<BTreeMap<String, Box<RawValue>>>(line) else {
        return out;
    };
    let Some(Ok(result)) = message
        .get("result")
        .map(|r| serde_json::from_str::<BTreeMap<String, Box<RawValue>>>(r.get()))
    else {
        return out;
    };
    let Some(Ok(tools)) = result
        .get("tools")
        .map(|t| serde_json::from_str::<Vec<Box<RawValue>>>(t.get()))
    else {
        return out;
    };
    let mut kept: Vec<&str> = Vec::new();
    for raw in &tools {
        let Ok(head) = serde_json::from_str::<ToolHead>(raw.get()) else {
            kept.push(raw.get()); // not a tool warden understands: not warden's to drop
            continue;
        };
        let annotations = head
            .annotations
            .as_ref()
            .and_then(|a| Annotations::from_json(a).ok())
            .unwrap_or_default();
        let facts = ToolFacts {
            name: &head.name,
            description: head.description.as_ref().and_then(|d| d.as_str()),
            annotations,
            schema: head.input_schema.as_ref(),
        };
        let known = Known {
            annotations,
            risk: Some(classify(&facts).risk),
        };
        out.tools.push((head.name.clone(), known));
        if listed(table, who, &head.name, known) {
            kept.push(raw.get());
        } else {
            out.dropped.push(head.name);
        }
    }
    if out.dropped.is_empty() || !enforce {
        return out;
    }
    out.replacement = rebuild(message, result, &kept);
    out
}

/// A `tools/list` response (`message`, its `result`) with only the `kept` tools' JSON texts.
pub(super) fn rebuild(
    mut message: BTreeMap<String, Box<RawValue>>,
    mut result: BTreeMap<String, Box<RawValue>>,
    kept: &[&str],
) -> Option<Vec<u8>> {
    let tools = RawValue::from_string(format!("[{}]", kept.join(","))).ok()?;
    result.insert("tools".into(), tools);
    let result = RawValue::from_string(serde_json::to_string(&result).ok()?).ok()?;
    message.insert("result".into(), result);
    serde_json::to_vec(&message).ok()
}

/// Whether `tools/list` shows a tool to this caller: not hidden, and not denied for every
/// possible set of arguments.
pub fn listed(table: &Table, who: &Identity, tool: &str, known: Known) -> bool {
    let annotations = known.annotations;
    let risk = table.spec().risk.risk_of(tool, known.risk, annotations);
    let call = Call {
        server: who.server.clone(),
        tool: tool.to_string(),
        arguments: None,
        grant: Some(who.grant.to_string()),
        agent: who.agent.as_deref().map(str::to_string),
        session: Some(who.session.to_string()),
        annotations,
        risk: Some(risk),
    };
    let spec = table.spec();
    let mut may_forward = false;
    for index in table.candidate_rules(who.server.as_deref(), tool) {
        let Some(rule) = spec.rules.get(index) else {
            continue;
        };
        let holds = holds_without_arguments(&rule.condition, &call);
        match rule.effect {
            Effect::Hide | Effect::Deny if holds == Some(true) => return false,
            Effect::Allow | Effect::Approve if holds != Some(false) => may_forward = true,
            _ => {}
        }
    }
    may_forward || spec.default == Effect::Allow
}
