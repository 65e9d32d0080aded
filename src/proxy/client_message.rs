//! A client message read once, for everyone who needs it: the session's routing and decision,
//! and over HTTP the routing-header check. Two passes over the text: one refuses duplicate keys
//! at any depth (`duplicate_keys`: JSON parsers disagree on which duplicate wins),
//! the other reads the JSON-RPC envelope and, of `params`, only the members warden looks at;
//! the rest of the text (a call's arguments, above all) is skipped over, not built.
//!
//! `params` of any shape pass here: only a `tools/call` needs them to be an object, and says
//! so with an `Invalid params` error (a request's `params` is that error, not a rejection).
//! A response's `result` is skipped too: it matters only to an approval warden waits for,
//! which reads it from the line then.

use super::duplicate_keys;
use super::jsonrpc::{self, Envelope, Id, Key, Kind, Rejection};
use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// A client message, its members owned (a request's line moves on to the server).
#[derive(Debug)]
pub enum ClientMessage {
    Request {
        id: Id,
        method: String,
        /// The members read, or why `params` cannot hold them.
        params: Result<Params, String>,
    },
    Notification {
        method: String,
        params: Result<Params, String>,
    },
    Response {
        id: Id,
    },
    /// A JSON-RPC batch: each element's text.
    Batch(Vec<Vec<u8>>),
}

impl ClientMessage {
    /// The id of a request or response.
    pub fn id(&self) -> Option<&Id> {
        match self {
            ClientMessage::Request { id, .. } | ClientMessage::Response { id, .. } => Some(id),
            ClientMessage::Notification { .. } | ClientMessage::Batch(_) => None,
        }
    }
}

/// The members of a request's `params` that warden reads: those routing needs (the handshake's
/// client, the 2026-07-28 envelope in `_meta`, an approval's retry), and those a `tools/call`
/// is made of.
#[derive(Debug, Default)]
pub struct Params {
    pub name: Option<Value>,
    /// `resources/read`'s (checked against `Mcp-Name`).
    pub uri: Option<Value>,
    pub arguments: Option<Box<RawValue>>,
    /// Kept as text: only the 2026-07-28 envelope's members are read from it.
    pub meta: Option<Box<RawValue>>,
    pub client_info: Option<Value>,
    pub capabilities: Option<Value>,
    pub request_state: Option<Value>,
    pub input_responses: Option<Value>,
    /// `notifications/cancelled`'s.
    pub request_id: Option<Box<RawValue>>,
}

/// Reads one client message (strictly: duplicate keys anywhere are refused).
pub fn read(line: &[u8]) -> Result<ClientMessage, Rejection> {
    let text = jsonrpc::text_of(line)?;
    if let Some(items) = jsonrpc::batch(text)? {
        let items = items.iter().map(|i| i.get().as_bytes().to_vec()).collect();
        return Ok(ClientMessage::Batch(items));
    }
    let env: Envelope<Members, IgnoredAny> =
        serde_json::from_str(text).map_err(jsonrpc::envelope_error)?;
    let id = jsonrpc::id_of(env.id)?;
    duplicate_keys::check(text).map_err(|e| Rejection {
        id: id.clone(),
        code: jsonrpc::INVALID_REQUEST,
        message: format!("Invalid Request: {e}"),
    })?;
    let kind = jsonrpc::kind_of(
        env.jsonrpc.as_deref(),
        id,
        env.method.is_some(),
        env.result.is_some() || env.error.is_some(),
    )?;
    let params = match env.params {
        None => Err("Invalid params: tools/call needs params".to_string()),
        Some(Members(p)) => p,
    };
    let method = env.method.map(Cow::into_owned).unwrap_or_default();
    Ok(match kind {
        Kind::Request(id) => ClientMessage::Request { id, method, params },
        Kind::Notification => ClientMessage::Notification { method, params },
        Kind::Response(id) => ClientMessage::Response { id },
    })
}

/// `params` read leniently: an object's members warden reads, anything else the reason a
/// `tools/call` would give for refusing it.
struct Members(Result<Params, String>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Members, D::Error> {
        d.deserialize_any(MembersVisitor)
    }
}

struct MembersVisitor;

impl MembersVisitor {
    fn not_an_object<E>(what: &str) -> Result<Members, E> {
        Ok(Members(Err(format!(
            "Invalid params: `params` must be an object, not {what}"
        ))))
    }
}

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Members;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("params")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
        let mut p = Params::default();
        // Keys compare unescaped, as a derived reader's would; duplicates were refused before.
        while let Some(Key(key)) = map.next_key::<Key>()? {
            match key.as_ref() {
                "name" => p.name = Some(map.next_value()?),
                "uri" => p.uri = Some(map.next_value()?),
                "arguments" => p.arguments = Some(map.next_value()?),
                "_meta" => p.meta = Some(map.next_value()?),
                "clientInfo" => p.client_info = Some(map.next_value()?),
                "capabilities" => p.capabilities = Some(map.next_value()?),
                "requestState" => p.request_state = Some(map.next_value()?),
                "inputResponses" => p.input_responses = Some(map.next_value()?),
                "requestId" => p.request_id = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Members(Ok(p)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Members, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Self::not_an_object("an array")
    }

    fn visit_str<E>(self, _: &str) -> Result<Members, E> {
        Self::not_an_object("a string")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Members, E> {
        Self::not_an_object("a boolean")
    }

    fn visit_i64<E>(self, _: i64) -> Result<Members, E> {
        Self::not_an_object("a number")
    }

    fn visit_u64<E>(self, _: u64) -> Result<Members, E> {
        Self::not_an_object("a number")
    }

    fn visit_f64<E>(self, _: f64) -> Result<Members, E> {
        Self::not_an_object("a number")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> (Id, String, Result<Params, String>) {
        match read(text.as_bytes()).unwrap() {
            ClientMessage::Request { id, method, params } => (id, method, params),
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn reads_the_envelope_and_the_params_members_warden_needs() {
        let (id, method, params) = request(
            r#"{"jsonrpc":"2.0","id":"7","method":"tools/call","params":{"name":"echo",
            "arguments":{"a":[1,{"b":2}]},"other":{"x":1},"_meta":{"k":"v"},"n\u0061me2":1}}"#,
        );
        assert_eq!((id.raw(), method.as_str()), (r#""7""#, "tools/call"));
        let p = params.unwrap();
        assert_eq!(p.name, Some(Value::from("echo")));
        assert_eq!(p.arguments.unwrap().get(), r#"{"a":[1,{"b":2}]}"#);
        assert_eq!(p.meta.unwrap().get(), r#"{"k":"v"}"#);
        let (_, _, params) =
            request(r#"{"jsonrpc":"2.0","id":1,"method":"m","params":{"\u006eame":"x"}}"#);
        assert_eq!(
            params.unwrap().name,
            Some(Value::from("x")),
            "keys compare unescaped"
        );
    }

    #[test]
    fn params_of_another_shape_are_the_call_s_problem() {
        let (_, _, params) =
            request(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[1,{"a":2}]}"#);
        assert!(
            params
                .unwrap_err()
                .contains("must be an object, not an array")
        );
        let (_, _, params) = request(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#);
        assert!(params.unwrap_err().contains("needs params"));
        let (_, _, params) =
            request(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":null}"#);
        assert!(params.is_err());
        let (_, _, params) = request(r#"{"jsonrpc":"2.0","id":1,"method":"x","params":"s"}"#);
        assert!(params.unwrap_err().contains("a string"));
    }

    #[test]
    fn duplicate_keys_anywhere_are_refused_with_the_id() {
        for dup in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"rm"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"m","params":{"a":1,"\u0061":2}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"m","params":{"arguments":{"deep":[{"x":1,"x":2}]}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"m","method":"n"}"#,
        ] {
            let e = read(dup.as_bytes()).unwrap_err();
            assert_eq!(e.code, jsonrpc::INVALID_REQUEST, "{dup}");
            if !dup.contains(r#""method":"n""#) {
                assert_eq!(e.id, Some(Id("1".into())), "{dup}");
                assert!(e.message.contains("duplicate key"), "{dup}: {}", e.message);
            }
        }
    }

    #[test]
    fn notifications_responses_and_batches() {
        let n = read(
            br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"r1"}}"#,
        );
        let Ok(ClientMessage::Notification { method, params }) = n else {
            panic!("{n:?}")
        };
        assert_eq!(method, "notifications/cancelled");
        assert_eq!(params.unwrap().request_id.unwrap().get(), r#""r1""#);
        let r = read(br#"{"jsonrpc":"2.0","id":"w-1","result":{"action":"accept"}}"#);
        let Ok(ClientMessage::Response { id }) = r else {
            panic!("{r:?}")
        };
        assert_eq!(id.raw(), r#""w-1""#);
        let e = read(br#"{"jsonrpc":"2.0","id":"w-1","result":{"a":1,"a":2}}"#).unwrap_err();
        assert!(e.message.contains("duplicate key"), "{}", e.message);
        let b = read(br#"[{"a":1}, 2]"#);
        let Ok(ClientMessage::Batch(items)) = b else {
            panic!("{b:?}")
        };
        assert_eq!(items, vec![br#"{"a":1}"#.to_vec(), b"2".to_vec()]);
        assert_eq!(read(b"{not json").unwrap_err().code, jsonrpc::PARSE_ERROR);
        let e = read(br#"{"jsonrpc":"2.0","id":1,"method":5}"#).unwrap_err();
        assert_eq!(e.code, jsonrpc::INVALID_REQUEST);
    }
}
