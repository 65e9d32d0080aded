//! JSON-RPC 2.0 messages as the proxy sees them: classify a line without parsing more than
//! routing needs, reject what must not pass (malformed JSON, wrong shapes), and build the
//! responses warden sends itself. The envelope checks here (id, version, kind) serve the
//! lenient reader of server messages ([`parse`]) and the strict one of client messages
//! (`proxy::client_message`, which also refuses duplicate keys: `proxy::duplicate_keys`).

use serde::Deserialize;
use serde::de::{self, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// JSON-RPC error codes warden uses.
pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;

/// A request id, kept as its raw JSON text (so `0`, `"0"` and `1.0` stay distinct ids and are
/// echoed exactly as the peer wrote them).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Id(pub String);

impl Id {
    pub fn raw(&self) -> &str {
        &self.0
    }
}

/// What a line holds, borrowing its members from the line (nothing is copied: a server's
/// large result is only scanned).
#[derive(Debug)]
pub enum Message<'a> {
    Request {
        id: Id,
        method: Cow<'a, str>,
        params: Option<&'a RawValue>,
    },
    Notification {
        method: Cow<'a, str>,
        params: Option<&'a RawValue>,
    },
    Response {
        id: Id,
        result: Option<&'a RawValue>,
        error: Option<&'a RawValue>,
    },
    /// A JSON array: a JSON-RPC batch, with its elements' raw text.
    Batch(Vec<&'a RawValue>),
}

/// Why a line is not a message warden will relay, with the id to answer to when known.
#[derive(Debug, PartialEq, Eq)]
pub struct Rejection {
    pub id: Option<Id>,
    pub code: i64,
    pub message: String,
}

/// A message's members; what `params` and `result` are read as is the reader's choice (raw
/// text here, the members warden reads in `proxy::client_message`).
#[derive(Deserialize)]
#[serde(bound(deserialize = "P: Deserialize<'de>, R: Deserialize<'de>"))]
pub(super) struct Envelope<'a, P, R> {
    #[serde(borrow)]
    pub jsonrpc: Option<Cow<'a, str>>,
    /// `None` only when the key is absent (a notification): `"id": null` is kept as the raw
    /// `null`, an invalid id, so that it is refused instead of relayed as a notification.
    #[serde(default, deserialize_with = "present", borrow)]
    pub id: Option<&'a RawValue>,
    #[serde(borrow)]
    pub method: Option<Cow<'a, str>>,
    pub params: Option<P>,
    pub result: Option<R>,
    #[serde(borrow)]
    pub error: Option<&'a RawValue>,
}

/// Classifies one line, leniently: duplicate keys are not looked for (a client's messages are
/// read strictly, by `proxy::client_message`).
pub fn parse(line: &[u8]) -> Result<Message<'_>, Rejection> {
    let text = text_of(line)?;
    if let Some(items) = batch(text)? {
        return Ok(Message::Batch(items));
    }
    let env: Envelope<&RawValue, &RawValue> = serde_json::from_str(text).map_err(envelope_error)?;
    let id = id_of(env.id)?;
    let kind = kind_of(
        env.jsonrpc.as_deref(),
        id,
        env.method.is_some(),
        env.result.is_some() || env.error.is_some(),
    )?;
    Ok(match (kind, env.method) {
        (Kind::Request(id), Some(method)) => Message::Request {
            id,
            method,
            params: env.params,
        },
        (Kind::Notification, Some(method)) => Message::Notification {
            method,
            params: env.params,
        },
        (Kind::Response(id), _) => Message::Response {
            id,
            result: env.result,
            error: env.error,
        },
        (_, None) => return Err(not_a_message(None)),
    })
}

/// Why a message is refused, without an id to answer to.
fn reject(code: i64, message: &str) -> Rejection {
    Rejection {
        id: None,
        code,
        message: message.to_string(),
    }
}

/// A line's text (JSON is UTF-8).
pub(super) fn text_of(line: &[u8]) -> Result<&str, Rejection> {
    std::str::from_utf8(line).map_err(|_| reject(PARSE_ERROR, "Parse error: not UTF-8"))
}

/// The elements of a batch (a JSON array), `None` when the text is not one.
pub(super) fn batch(text: &str) -> Result<Option<Vec<&RawValue>>, Rejection> {
    if !text.trim_start().starts_with('[') {
        return Ok(None);
    }
    let items: Vec<&RawValue> = serde_json::from_str(text)
        .map_err(|e| reject(PARSE_ERROR, &format!("Parse error: {e}")))?;
    if items.is_empty() {
        return Err(reject(INVALID_REQUEST, "Invalid Request: empty batch"));
    }
    Ok(Some(items))
}

/// The rejection for a text that did not read as an envelope: malformed JSON, or members of
/// the wrong type.
pub(super) fn envelope_error(e: serde_json::Error) -> Rejection {
    if e.is_data() {
        reject(INVALID_REQUEST, &format!("Invalid Request: {e}"))
    } else {
        reject(PARSE_ERROR, &format!("Parse error: {e}"))
    }
}

/// The request id, checked: MCP request ids are strings or integers (JSON-RPC discourages
/// fractions, and servers silently drop them, leaving the client waiting). A valid id is
/// unique (a duplicate `id` fails the envelope) and is echoed in any error from here on.
pub(super) fn id_of(raw: Option<&RawValue>) -> Result<Option<Id>, Rejection> {
    let Some(raw) = raw.map(RawValue::get) else {
        return Ok(None);
    };
    let integer = raw
        .bytes()
        .enumerate()
        .all(|(i, b)| b.is_ascii_digit() || (i == 0 && b == b'-'))
        && raw.bytes().any(|b| b.is_ascii_digit());
    if !(raw.starts_with('"') || integer) {
        return Err(reject(
            INVALID_REQUEST,
            "Invalid Request: `id` must be a string or an integer",
        ));
    }
    Ok(Some(Id(raw.to_string())))
}

/// What an envelope's members make of a message.
pub(super) enum Kind {
    Request(Id),
    Notification,
    Response(Id),
}

/// Checks `jsonrpc` and tells the kind of message from which members are there.
pub(super) fn kind_of(
    version: Option<&str>,
    id: Option<Id>,
    method: bool,
    answer: bool,
) -> Result<Kind, Rejection> {
    if version != Some("2.0") {
        return Err(Rejection {
            id,
            code: INVALID_REQUEST,
            message: "Invalid Request: `jsonrpc` must be \"2.0\"".into(),
        });
    }
    match (method, id, answer) {
        (true, Some(id), false) => Ok(Kind::Request(id)),
        (true, None, false) => Ok(Kind::Notification),
        (false, Some(id), true) => Ok(Kind::Response(id)),
        (_, id, _) => Err(not_a_message(id)),
    }
}

fn not_a_message(id: Option<Id>) -> Rejection {
    Rejection {
        id,
        code: INVALID_REQUEST,
        message: "Invalid Request: not a request, notification or response".into(),
    }
}

/// An `Option` field that is `Some` whenever the key is present, even as `null`.
pub(super) fn present<'de, D: de::Deserializer<'de>>(
    d: D,
) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// `{"jsonrpc":"2.0","id":ID,"error":{"code":…,"message":…}}` (id `null` when unknown).
pub fn error_response(id: Option<&Id>, code: i64, message: &str) -> Vec<u8> {
    let body = serde_json::json!({"code": code, "message": message});
    format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{},\"error\":{}}}",
        id.map_or("null", |i| i.raw()),
        body
    )
    .into_bytes()
}

/// `{"jsonrpc":"2.0","id":ID,"result":RESULT}`.
pub fn result_response(id: &Id, result: &serde_json::Value) -> Vec<u8> {
    format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{},\"result\":{}}}",
        id.raw(),
        result
    )
    .into_bytes()
}

/// `{"jsonrpc":"2.0","id":ID,"method":METHOD,"params":PARAMS}`.
pub fn request(id: &Id, method: &str, params: &serde_json::Value) -> Vec<u8> {
    format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":{},\"params\":{}}}",
        id.raw(),
        serde_json::Value::String(method.to_string()),
        params
    )
    .into_bytes()
}

/// An object key, borrowed from the text when it has no escapes (serde's own `Cow<str>`
/// always copies).
pub(super) struct Key<'de>(pub Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// The keys of the JSON object `text`, in order, borrowed where they hold no escapes; `None`
/// when `text` is not an object.
pub fn keys_of(text: &str) -> Option<Vec<Cow<'_, str>>> {
    serde_json::from_str::<Keys>(text).ok().map(|k| k.0)
}

/// The keys of a JSON object, borrowed from its text where they hold no escapes.
struct Keys<'a>(Vec<Cow<'a, str>>);

impl<'de> Deserialize<'de> for Keys<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeysVisitor;
        impl<'de> serde::de::Visitor<'de> for KeysVisitor {
            type Value = Keys<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Keys<'de>, A::Error> {
                let mut keys = Vec::new();
                while let Some(Key(k)) = map.next_key::<Key>()? {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    keys.push(k);
                }
                Ok(Keys(keys))
            }
        }
        d.deserialize_map(KeysVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_messages() {
        let m = parse(br#"{"jsonrpc":"2.0","id":0,"method":"tools/list"}"#).unwrap();
        assert!(matches!(m, Message::Request { ref id, .. } if id.raw() == "0"));
        let m = parse(br#"{"method":"notifications/initialized","jsonrpc":"2.0"}"#).unwrap();
        assert!(matches!(m, Message::Notification { .. }));
        let m = parse(br#"{"result":{},"jsonrpc":"2.0","id":"a"}"#).unwrap();
        assert!(matches!(m, Message::Response { ref id, .. } if id.raw() == "\"a\""));
        assert!(matches!(parse(b"[1,2]").unwrap(), Message::Batch(v) if v.len() == 2));
    }

    #[test]
    fn rejects_what_must_not_pass() {
        assert_eq!(parse(b"{not json").unwrap_err().code, PARSE_ERROR);
        assert_eq!(parse(b"[]").unwrap_err().code, INVALID_REQUEST);
        let dup = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"rm"}}"#;
        assert!(
            parse(dup).is_ok(),
            "duplicate keys are the strict reader's to refuse"
        );
        let e = parse(br#"{"jsonrpc":"1.0","id":7,"method":"x"}"#).unwrap_err();
        assert_eq!(e.id, Some(Id("7".into())));
        assert!(parse(br#"{"jsonrpc":"2.0","id":{},"method":"x"}"#).is_err());
        assert!(parse(br#"{"jsonrpc":"2.0","id":true,"method":"x"}"#).is_err());
        assert!(parse(br#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#).is_err());
        assert!(parse(br#"{"jsonrpc":"2.0","id":1e2,"method":"x"}"#).is_err());
        assert!(parse(br#"{"jsonrpc":"2.0","id":-7,"method":"x"}"#).is_ok());
        let e = parse(br#"{"jsonrpc":"2.0","id":null,"method":"x"}"#).unwrap_err();
        assert_eq!((e.id, e.code), (None, INVALID_REQUEST));
        assert!(parse(br#"{"jsonrpc":"2.0"}"#).is_err());
        assert_eq!(parse(b"\xff").unwrap_err().code, PARSE_ERROR);
    }

    #[test]
    fn responses_echo_ids_exactly() {
        let r = error_response(Some(&Id("0".into())), METHOD_NOT_FOUND, "Method not found");
        let v: serde_json::Value = serde_json::from_slice(&r).unwrap();
        assert_eq!(v["id"], 0);
        assert_eq!(v["error"]["code"], -32601);
        let r = error_response(None, PARSE_ERROR, "x");
        assert!(String::from_utf8(r).unwrap().contains("\"id\":null"));
    }
}
