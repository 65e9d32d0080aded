//! Tool pinning: the proxy holds a reviewed catalog (`--catalog FILE`) and forwards a call to
//! a pinned tool only while the server's live definition of that tool has the pinned hash
//! (docs/catalog.md has the hash).
//!
//! Transport-independent: the session feeds every `tools/list` result through [`Pins::review`]
//! (which records each pinned tool's live hash for the connection, reports changes, and drops
//! changed tools from the list) and asks [`Pins::verdict`] before deciding a `tools/call`:
//!
//! - a tool not in the catalog is left to the policy, as usual;
//! - a pinned tool whose live hash is the pinned one is left to the policy;
//! - a pinned tool whose live hash differs is hidden from `tools/list` and its calls are
//!   denied with code `tool_changed`; the change is written to the audit log and stderr with
//!   both hashes, once per connection and new definition;
//! - a pinned tool the connection has not seen in a `tools/list` yet is denied with code
//!   `tool_unverified` (fail closed: warden cannot tell whether it changed).
//!
//! In dry-run mode every verdict is logged and nothing is hidden or denied for it.

use super::audit;
use super::engine::{CallRequest, Engine, Identity, codes, denial};
use crate::catalog::{Catalog, file};
use crate::ir::Effect;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// The pinned definition hashes, by tool name (empty: no pinning).
#[derive(Clone, Debug, Default)]
pub struct Pins {
    pinned: HashMap<String, String>,
}

/// What one connection has seen of the pinned tools: their live hashes.
#[derive(Debug, Default)]
pub struct Seen {
    live: HashMap<String, String>,
}

/// What pinning says about a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not pinned, or pinned and unchanged: the policy decides.
    Pass,
    Changed {
        pinned: String,
        live: String,
    },
    Unverified,
}

/// A pinned tool whose live definition differs, as logged.
#[derive(Debug, Serialize)]
struct ChangedEvent<'a> {
    time: String,
    event: &'static str,
    server: Option<&'a str>,
    tool: &'a str,
    session: &'a str,
    pinned_hash: &'a str,
    live_hash: &'a str,
    dry_run: bool,
}

impl Pins {
    pub fn new(catalog: &Catalog) -> Pins {
        Pins {
            pinned: catalog
                .tools
                .iter()
                .map(|t| (t.name.clone(), t.hash.clone()))
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pinned.is_empty()
    }

    pub fn len(&self) -> usize {
        self.pinned.len()
    }

    pub fn verdict(&self, seen: &Seen, tool: &str) -> Verdict {
        let Some(pinned) = self.pinned.get(tool) else {
            return Verdict::Pass;
        };
        match seen.live.get(tool) {
            None => Verdict::Unverified,
            Some(live) if live == pinned => Verdict::Pass,
            Some(live) => Verdict::Changed {
                pinned: pinned.clone(),
                live: live.clone(),
            },
        }
    }

    /// Reviews one `tools/list` response line: records the live hash of every pinned tool it
    /// lists, logs the tools that changed, and returns the line without them (`None`: relay it
    /// as it is).
    pub fn review(
        &self,
        engine: &Engine,
        who: &Identity,
        seen: &mut Seen,
        line: &[u8],
    ) -> Option<Vec<u8>> {
        if self.is_empty() {
            return None;
        }
        let message: BTreeMap<String, Box<RawValue>> = serde_json::from_slice(line).ok()?;
        let result: BTreeMap<String, Box<RawValue>> =
            serde_json::from_str(message.get("result")?.get()).ok()?;
        let tools: Vec<Box<RawValue>> = serde_json::from_str(result.get("tools")?.get()).ok()?;
        // The pinned tools this page lists, with their live hashes. A name listed twice (a
        // protocol violation) counts as changed if any of its definitions differs.
        let live: Vec<Option<(&str, String)>> = tools
            .iter()
            .map(|raw| {
                let definition: Value = serde_json::from_str(raw.get()).ok()?;
                let (name, _) = self
                    .pinned
                    .get_key_value(definition.get("name")?.as_str()?)?;
                Some((name.as_str(), file::definition_hash(&definition)))
            })
            .collect();
        let mut verdicts: HashMap<&str, &String> = HashMap::new();
        for (name, hash) in live.iter().flatten() {
            let pinned = self.pinned.get(*name);
            if verdicts.get(name).is_none_or(|h| Some(*h) == pinned) {
                verdicts.insert(name, hash);
            }
        }
        for (name, hash) in &verdicts {
            let Some(pinned) = self.pinned.get(*name) else {
                continue;
            };
            if *hash != pinned && seen.live.get(*name) != Some(*hash) {
                self.log_change(engine, who, name, pinned, hash);
            }
            seen.live.insert(name.to_string(), (*hash).clone());
        }
        let changed = |name: &str| verdicts.get(name).copied() != self.pinned.get(name);
        let mut kept: Vec<&str> = Vec::new();
        let mut dropped = false;
        for (raw, live) in tools.iter().zip(&live) {
            match live {
                Some((name, _)) if changed(name) && !engine.dry_run => dropped = true,
                _ => kept.push(raw.get()),
            }
        }
        if !dropped {
            return None;
        }
        super::tools_list::rebuild(message, result, &kept)
    }

    fn log_change(&self, engine: &Engine, who: &Identity, tool: &str, pinned: &str, live: &str) {
        eprintln!(
            "warden: tool `{tool}` differs from its pinned definition (pinned {pinned}, live {live}){}",
            if engine.dry_run {
                " [dry run: not enforced]"
            } else {
                ": hidden from tools/list and its calls denied"
            }
        );
        engine.audit.write(&ChangedEvent {
            time: audit::now_rfc3339(),
            event: codes::TOOL_CHANGED,
            server: who.server.as_deref(),
            tool,
            session: &who.session,
            pinned_hash: pinned,
            live_hash: live,
            dry_run: engine.dry_run,
        });
    }
}

impl Engine {
    /// The answer to a call that pinning refuses (logged), or `None` when the policy decides
    /// (the verdict passes, or this is a dry run: then the refusal is only logged).
    pub fn pinned(&self, req: &CallRequest, who: &Identity, verdict: Verdict) -> Option<Vec<u8>> {
        let (code, text) = match verdict {
            Verdict::Pass => return None,
            Verdict::Changed { pinned, live } => (
                codes::TOOL_CHANGED,
                format!(
                    "tool `{}` differs from its pinned definition (pinned {pinned}, live {live}); it stays blocked until the new definition is reviewed and pinned",
                    req.tool
                ),
            ),
            Verdict::Unverified => (
                codes::TOOL_UNVERIFIED,
                format!(
                    "tool `{}` is pinned, and this connection has not seen its definition in a tools/list yet; list the tools first",
                    req.tool
                ),
            ),
        };
        self.log(
            req,
            who,
            Effect::Deny,
            code,
            PIN_RULE,
            Some(&text),
            &[],
            Instant::now(),
            None,
        );
        if self.dry_run {
            return None;
        }
        Some(denial(req, code, PIN_RULE, &text, None))
    }
}

/// The rule id reported for pinning's denials.
pub const PIN_RULE: &str = "pin";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_the_live_hashes() {
        let catalog =
            Catalog::parse(r#"{"tools":[{"name":"a","description":"x"},{"name":"b"}]}"#).unwrap();
        let pins = Pins::new(&catalog);
        let mut seen = Seen::default();
        assert_eq!(pins.verdict(&seen, "other"), Verdict::Pass);
        assert_eq!(pins.verdict(&seen, "a"), Verdict::Unverified);
        let a = catalog.tool("a").unwrap().hash.clone();
        seen.live.insert("a".into(), a.clone());
        assert_eq!(pins.verdict(&seen, "a"), Verdict::Pass);
        seen.live.insert("a".into(), "sha256:0".into());
        assert_eq!(
            pins.verdict(&seen, "a"),
            Verdict::Changed {
                pinned: a,
                live: "sha256:0".into()
            }
        );
    }
}
