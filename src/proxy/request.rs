//! One `tools/call` as the proxy reads it ([`CallRequest`]: the tool, its raw arguments, what
//! `tools/list` said of the tool), who sends it ([`Identity`]) and in which protocol era
//! ([`Era`]). Shared by both transports; the engine decides it.

use super::engine::hex;
use super::jsonrpc::{self, Id};
use super::tools_list::Known;
use crate::call::Annotations;
use crate::risk::Risk;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::sync::Arc;

/// Which protocol era a connection speaks: results of the 2026-07-28 era carry `resultType`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Era {
    #[default]
    Handshake,
    Stateless,
}

/// Who is calling, over which connection.
#[derive(Clone, Debug, Default)]
/// The names are shared: every call's counter reservations name the grant, agent or session
/// they count for.
pub struct Identity {
    pub server: Option<String>,
    pub grant: Arc<str>,
    pub agent: Option<Arc<str>>,
    pub session: Arc<str>,
}

/// One `tools/call`, parsed.
#[derive(Debug)]
pub struct CallRequest {
    pub id: Id,
    pub tool: String,
    /// The `arguments` object as the client wrote it (numbers keep their digits).
    pub arguments: Option<Box<RawValue>>,
    pub annotations: Annotations,
    /// The tool's class from its `tools/list` definition, if it was listed.
    pub risk: Option<Risk>,
    pub era: Era,
}

/// The members of a `tools/call`'s `params` a call is made of.
#[derive(Debug, Default, Deserialize)]
pub struct CallParams {
    pub name: Option<Value>,
    pub arguments: Option<Box<RawValue>>,
}

impl CallRequest {
    /// Reads `params` of a `tools/call`: `name` a string, `arguments` an object if present.
    pub fn parse(
        id: Id,
        params: Option<&RawValue>,
        known: impl Fn(&str) -> Known,
        era: Era,
    ) -> Result<CallRequest, String> {
        let params = params.ok_or("Invalid params: tools/call needs params")?;
        let parsed: CallParams =
            serde_json::from_str(params.get()).map_err(|e| format!("Invalid params: {e}"))?;
        CallRequest::from_params(id, parsed, known, era)
    }

    /// The call made of `params` members already read (see [`CallRequest::parse`]).
    pub fn from_params(
        id: Id,
        parsed: CallParams,
        known: impl Fn(&str) -> Known,
        era: Era,
    ) -> Result<CallRequest, String> {
        let tool = match parsed.name {
            Some(Value::String(s)) => s,
            _ => return Err("Invalid params: `name` must be a string".into()),
        };
        let arguments = match parsed.arguments {
            None => None,
            Some(a) if a.get().trim_start().starts_with('{') => Some(a),
            Some(a) if a.get().trim() == "null" => None,
            Some(_) => return Err("Invalid params: `arguments` must be an object".into()),
        };
        let known = known(&tool);
        Ok(CallRequest {
            annotations: known.annotations,
            risk: known.risk,
            id,
            tool,
            arguments,
            era,
        })
    }

    /// The arguments as a JSON value (for prompts and hashes; the decision reads the raw text).
    pub fn arguments_value(&self) -> Option<Value> {
        self.arguments
            .as_ref()
            .and_then(|a| serde_json::from_str(a.get()).ok())
    }

    /// SHA-256 of the tool and its canonical arguments (keys sorted): what an approval binds to.
    pub fn hash(&self) -> String {
        let canonical = json!({"name": self.tool, "arguments": self.arguments_value()});
        hex(&Sha256::digest(canonical.to_string().as_bytes()))
    }

    /// The sorted top-level argument keys (the audit log never holds values).
    pub(super) fn argument_keys(&self) -> Vec<Cow<'_, str>> {
        let mut keys = (self.arguments.as_ref())
            .and_then(|a| jsonrpc::keys_of(a.get()))
            .unwrap_or_default();
        keys.sort_unstable();
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_keys_are_sorted_and_unescaped() {
        let params = RawValue::from_string(
            r#"{"name":"t","arguments":{"b":1,"\u0061":{"z":2},"c":[3]}}"#.to_string(),
        )
        .unwrap();
        let call = CallRequest::parse(
            Id("1".into()),
            Some(&params),
            |_| Known::default(),
            Era::Handshake,
        )
        .unwrap();
        assert_eq!(call.argument_keys(), ["a", "b", "c"]);
        let bad = RawValue::from_string(r#"{"name":"t","arguments":[1]}"#.to_string()).unwrap();
        let e = CallRequest::parse(
            Id("2".into()),
            Some(&bad),
            |_| Known::default(),
            Era::Handshake,
        );
        assert!(e.unwrap_err().contains("must be an object"));
    }
}
