//! The routing headers of the 2026-07-28 revision (`Mcp-Method`, `Mcp-Name`,
//! `MCP-Protocol-Version`) checked against the body they travel with.
//!
//! Intermediaries route on these headers without parsing the body; the server executes the
//! body. A request whose headers name one tool while its body calls another would be routed
//! (and, by a header-reading gateway, decided) as one call and executed as another, so warden
//! rejects every disagreement with HTTP 400 and JSON-RPC `-32020` (HeaderMismatch). A
//! 2026-07-28 request must carry `Mcp-Method`, and `Mcp-Name` for `tools/call`, `prompts/get`
//! and `resources/read`. Values in the `=?base64?…?=` sentinel are decoded first.

use super::front::Headers;
use crate::proxy::client_message::ClientMessage;
use hyper::header::HeaderName;
use serde::Deserialize;
use serde_json::Value;

/// JSON-RPC error code of the 2026-07-28 revision for a header that disagrees with the body.
pub const HEADER_MISMATCH: i64 = -32020;
/// The first protocol revision with required routing headers.
const MODERN: &str = "2026-07-28";

/// What the checks read from a client message (its one reading, `proxy::client_message`).
#[derive(Debug, Default)]
pub struct Head<'a> {
    pub method: Option<&'a str>,
    /// `params.name` (or `params.uri` for `resources/read`) of a name-bearing method.
    pub name: Option<&'a Value>,
    pub envelope_version: Option<String>,
}

/// The 2026-07-28 envelope's version in `params._meta`.
#[derive(Deserialize)]
struct Meta {
    #[serde(rename = "io.modelcontextprotocol/protocolVersion")]
    version: Option<String>,
}

/// The routing-header names (parsed once: a lookup by `&str` parses the name every time).
static METHOD: HeaderName = HeaderName::from_static("mcp-method");
static NAME: HeaderName = HeaderName::from_static("mcp-name");
static VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");

/// The params key a method's `Mcp-Name` mirrors.
fn name_key(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    }
}

/// What the checks read from `message`.
pub fn head(message: &ClientMessage) -> Head<'_> {
    let (method, params) = match message {
        ClientMessage::Request { method, params, .. }
        | ClientMessage::Notification { method, params } => {
            (Some(method.as_str()), params.as_ref().ok())
        }
        ClientMessage::Response { .. } | ClientMessage::Batch(_) => (None, None),
    };
    let name = match (method.and_then(name_key), params) {
        (Some("name"), Some(p)) => p.name.as_ref(),
        (Some(_), Some(p)) => p.uri.as_ref(),
        _ => None,
    };
    let envelope_version = (params.and_then(|p| p.meta.as_ref()))
        .and_then(|m| serde_json::from_str::<Meta>(m.get()).ok())
        .and_then(|m| m.version);
    Head {
        method,
        name,
        envelope_version,
    }
}

/// Checks the routing headers against the body; `Err` says what disagrees.
pub fn check(headers: &Headers, head: &Head) -> Result<(), String> {
    for name in [&METHOD, &NAME, &VERSION] {
        if headers.all(name).nth(1).is_some() {
            return Err(format!("the `{name}` header is given more than once"));
        }
    }
    let text = |name: &HeaderName| -> Result<Option<&str>, String> {
        headers
            .get(name)
            .map(|v| {
                v.to_str()
                    .map_err(|_| format!("the `{name}` header is not visible ASCII"))
            })
            .transpose()
    };
    let version = text(&VERSION)?;
    if let (Some(v), Some(e)) = (&version, &head.envelope_version)
        && v != e
    {
        return Err(format!(
            "`MCP-Protocol-Version: {v}` disagrees with the body's protocol version `{e}`"
        ));
    }
    let modern = version
        .or(head.envelope_version.as_deref())
        .is_some_and(|v| v >= MODERN);
    match (text(&METHOD)?, head.method) {
        (Some(h), Some(m)) if h == m => {}
        (Some(h), Some(m)) => {
            return Err(format!(
                "`Mcp-Method: {h}` disagrees with the body's method `{m}`"
            ));
        }
        (Some(h), None) => {
            return Err(format!("`Mcp-Method: {h}` on a body that is not a request"));
        }
        (None, Some(m)) if modern => {
            return Err(format!(
                "a {MODERN} request needs `Mcp-Method` (the body's is `{m}`)"
            ));
        }
        (None, _) => {}
    }
    let bearing = head.method.and_then(name_key).is_some();
    match text(&NAME)? {
        Some(h) => {
            let decoded = decode(h)
                .ok_or_else(|| format!("`Mcp-Name: {h}` is a malformed base64 sentinel"))?;
            match head.name {
                Some(Value::String(n)) if bearing && *n == decoded => {}
                Some(Value::String(n)) if bearing => {
                    return Err(format!(
                        "`Mcp-Name: {decoded}` disagrees with the body's name `{n}`"
                    ));
                }
                _ => return Err(format!("`Mcp-Name: {decoded}` names nothing in the body")),
            }
        }
        None if modern && bearing => {
            return Err(format!(
                "a {MODERN} `{}` request needs `Mcp-Name`",
                head.method.unwrap_or_default()
            ));
        }
        None => {}
    }
    Ok(())
}

/// A header value: verbatim, or the UTF-8 text inside `=?base64?…?=` (canonical base64 only;
/// `None` when malformed, so that a corrupt header never matches by accident).
pub fn decode(value: &str) -> Option<String> {
    let Some(payload) = value
        .strip_prefix("=?base64?")
        .and_then(|v| v.strip_suffix("?="))
    else {
        return Some(value.to_string());
    };
    let bytes = crate::proxy::base64::decode_padded(payload)?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(n, v)| {
                (
                    HeaderName::from_bytes(n.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                )
            })
            .collect()
    }

    const CALL: &[u8] = br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;

    fn message(body: &[u8]) -> ClientMessage {
        crate::proxy::client_message::read(body).unwrap()
    }

    #[test]
    fn reads_what_the_checks_need_from_the_message() {
        let call = message(CALL);
        let h = head(&call);
        assert_eq!(h.method, Some("tools/call"));
        assert_eq!(h.name, Some(&Value::String("echo".into())));
        assert_eq!(h.envelope_version.as_deref(), Some("2026-07-28"));
        let odd = message(
            br#"{"jsonrpc":"2.0","id":"a","method":"resources/read","params":{"uri":"file:///x","_meta":{"io.modelcontextprotocol/protocolVersion":7,"other":{"deep":[1]}}}}"#,
        );
        let h = head(&odd);
        assert_eq!(h.name, Some(&Value::String("file:///x".into())));
        assert_eq!(
            h.envelope_version, None,
            "a version that is not a string is none"
        );
        let answer = message(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
        assert!(
            head(&answer).method.is_none(),
            "a body that is no request reads as nothing"
        );
    }

    #[test]
    fn agreeing_headers_pass() {
        let call = message(CALL);
        let h = head(&call);
        let ok = headers(&[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "echo"),
        ]);
        assert_eq!(check(&ok, &h), Ok(()));
        let b64 = headers(&[
            ("mcp-method", "tools/call"),
            ("mcp-name", "=?base64?ZWNobw==?="),
        ]);
        assert_eq!(check(&b64, &h), Ok(()));
        // legacy requests need no routing headers
        let legacy =
            message(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}"#);
        assert_eq!(
            check(
                &headers(&[("mcp-protocol-version", "2025-11-25")]),
                &head(&legacy)
            ),
            Ok(())
        );
    }

    #[test]
    fn disagreements_are_refused() {
        let call = message(CALL);
        let h = head(&call);
        let cases = [
            vec![("mcp-method", "tools/call"), ("mcp-name", "delete_file")],
            vec![("mcp-method", "tools/list"), ("mcp-name", "echo")],
            vec![("mcp-method", "tools/call")],
            vec![("mcp-name", "echo")],
            vec![
                ("mcp-method", "tools/call"),
                ("mcp-name", "echo"),
                ("mcp-name", "echo"),
            ],
            vec![
                ("mcp-method", "tools/call"),
                ("mcp-name", "=?base64?ZWNobw?="),
            ],
            vec![
                ("mcp-protocol-version", "2025-11-25"),
                ("mcp-method", "tools/call"),
                ("mcp-name", "echo"),
            ],
        ];
        for case in cases {
            assert!(check(&headers(&case), &h).is_err(), "{case:?}");
        }
    }

    #[test]
    fn decodes_canonical_base64_only() {
        assert_eq!(decode("=?base64?w6l0w6k=?=").as_deref(), Some("été"));
        assert_eq!(decode("plain").as_deref(), Some("plain"));
        assert_eq!(decode("=?base64?ZW=?="), None);
        assert_eq!(decode("=?base64?ZWNobx==?="), None);
    }
}
