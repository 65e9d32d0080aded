//! warden's catalog file: what `warden catalog` writes and [`Catalog::parse`] reads, and the
//! definition hash that pins a tool.
//!
//! ```json
//! {
//!   "format": "warden-catalog",
//!   "version": 1,
//!   "server": {"name": "mcp-servers/everything", "version": "2.0.0"},
//!   "tools": [
//!     {"name": "echo", "hash": "sha256:…", "risk": "read", "riskReason": "…",
//!      "description": "…", "annotations": {…}, "inputSchema": {…}}
//!   ]
//! }
//! ```
//!
//! Tools are sorted by name (byte order) and every JSON object's keys are sorted, so the file
//! is the same for the same server and diffs line by line. `risk` and `riskReason` are written
//! for reviewers; warden recomputes them from the definition when it reads the file. `hash` is
//! checked on reading: a file whose definitions were edited by hand is refused.
//!
//! The **definition hash** is `sha256:` followed by the lowercase hex SHA-256 of the canonical
//! JSON text of the object holding the tool's `name`, `description`, `inputSchema` and
//! `annotations` as the server sent them (members that are absent or `null` are left out):
//! no whitespace, object keys sorted by their UTF-8 bytes at every depth, array order kept,
//! strings escaped as JSON requires (`"`, `\`, and control characters: `\b \f \n \r \t`, others
//! `\u00XX`; nothing else is escaped, non-ASCII stays UTF-8), numbers exactly as the server
//! wrote them.

use super::{Catalog, CatalogTool, ServerInfo};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The member that marks a catalog file, and its value.
pub const FORMAT_KEY: &str = "format";
pub const FORMAT: &str = "warden-catalog";
/// The file format version this warden writes and reads.
pub const VERSION: u64 = 1;

/// The members of a tool definition the hash covers.
const HASHED: [&str; 4] = ["name", "description", "inputSchema", "annotations"];

/// The definition hash of one tool of a `tools/list` result (see the module docs).
pub fn definition_hash(tool: &Value) -> String {
    let mut covered = Map::new();
    for key in HASHED {
        if let Some(v) = tool.get(key).filter(|v| !v.is_null()) {
            covered.insert(key.to_string(), v.clone());
        }
    }
    let mut text = String::new();
    canonical(&Value::Object(covered), &mut text);
    format!(
        "sha256:{}",
        crate::proxy::engine::hex(&Sha256::digest(text.as_bytes()))
    )
}

/// Appends the canonical JSON text of a value: no whitespace, keys sorted by bytes.
pub fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(sub) = m.get(k) {
                    canonical(sub, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// A copy of a value whose objects hold their keys in sorted order, whatever map type
/// serde_json was built with.
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .filter_map(|k| Some((k.clone(), sorted(m.get(k)?))))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        scalar => scalar.clone(),
    }
}

#[derive(Serialize)]
struct FileServer<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
}

#[derive(Serialize)]
struct FileTool<'a> {
    name: &'a str,
    hash: &'a str,
    risk: &'static str,
    #[serde(rename = "riskReason")]
    risk_reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Value::is_null")]
    annotations: Value,
    #[serde(rename = "inputSchema", skip_serializing_if = "Value::is_null")]
    input_schema: Value,
}

#[derive(Serialize)]
struct File<'a> {
    format: &'static str,
    version: u64,
    server: FileServer<'a>,
    tools: Vec<FileTool<'a>>,
}

/// The catalog file's text: pretty, sorted, ending with a newline.
pub fn write(catalog: &Catalog) -> String {
    let mut tools: Vec<&CatalogTool> = catalog.tools.iter().collect();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    let file = File {
        format: FORMAT,
        version: VERSION,
        server: FileServer {
            name: catalog.server.name.as_deref(),
            version: catalog.server.version.as_deref(),
        },
        tools: tools
            .into_iter()
            .map(|t| {
                let c = t.classify();
                FileTool {
                    name: &t.name,
                    hash: &t.hash,
                    risk: c.risk.name(),
                    risk_reason: c.why,
                    description: t.description.as_deref(),
                    annotations: sorted(&t.annotations_json),
                    input_schema: sorted(&t.schema),
                }
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&file).unwrap_or_default();
    text.push('\n');
    text
}

/// Reads a parsed catalog file (its `format` member is present).
pub(super) fn read(v: &Value) -> Result<Catalog, String> {
    if v.get(FORMAT_KEY).and_then(Value::as_str) != Some(FORMAT) {
        return Err(format!("`{FORMAT_KEY}` is not \"{FORMAT}\""));
    }
    match v.get("version").and_then(Value::as_u64) {
        Some(VERSION) => {}
        Some(n) => {
            return Err(format!(
                "catalog format version {n} is not supported (this warden reads version {VERSION})"
            ));
        }
        None => return Err("the catalog has no `version` number".into()),
    }
    let text = |key: &str| {
        v.get("server")
            .and_then(|s| s.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let server = ServerInfo {
        name: text("name"),
        version: text("version"),
    };
    let list = v
        .get("tools")
        .and_then(Value::as_array)
        .ok_or("the catalog has no `tools` array")?;
    let catalog = Catalog::from_tools(list, server)?;
    for (tool, raw) in catalog.tools.iter().zip(list) {
        match raw.get("hash").and_then(Value::as_str) {
            Some(h) if h == tool.hash => {}
            Some(h) => {
                return Err(format!(
                    "tool `{}`: its recorded hash {h} is not the hash of its definition ({}); was the file edited by hand? Run `warden catalog` again",
                    tool.name, tool.hash
                ));
            }
            None => return Err(format!("tool `{}` has no `hash`", tool.name)),
        }
        if let Some(r) = raw.get("risk")
            && r.as_str().and_then(crate::risk::Risk::from_name).is_none()
        {
            return Err(format!(
                "tool `{}`: `risk` {r} is not a risk class",
                tool.name
            ));
        }
    }
    Ok(catalog)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_hash_covers_the_four_members_canonically() {
        let a = json!({"name": "t", "description": "d", "inputSchema": {"b": 1, "a": [2, {"y": 1.0, "x": "é\n"}]}, "title": "ignored"});
        let mut text = String::new();
        canonical(&a, &mut text);
        assert_eq!(
            text,
            r#"{"description":"d","inputSchema":{"a":[2,{"x":"é\n","y":1.0}],"b":1},"name":"t","title":"ignored"}"#
        );
        let h = definition_hash(&a);
        assert!(h.starts_with("sha256:") && h.len() == 71, "{h}");
        // Members outside the four, and null ones, do not count; every covered one does.
        let b = json!({"inputSchema": {"a": [2, {"x": "é\n", "y": 1.0}], "b": 1}, "description": "d", "name": "t", "annotations": null, "outputSchema": {}});
        assert_eq!(definition_hash(&b), h);
        let c = json!({"name": "t", "description": "d ", "inputSchema": {"b": 1, "a": [2, {"y": 1.0, "x": "é\n"}]}});
        assert_ne!(definition_hash(&c), h);
        // A fixed value, so that a change of the definition is a deliberate format change.
        assert_eq!(
            definition_hash(&json!({"name": "echo"})),
            format!(
                "sha256:{}",
                crate::proxy::engine::hex(&Sha256::digest(br#"{"name":"echo"}"#))
            )
        );
    }

    #[test]
    fn written_files_read_back_and_hand_edits_are_refused() {
        let list = json!([
            {"name": "zeta", "description": "Deletes a thing", "annotations": {"title": "Z"}},
            {"name": "alpha", "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}}}
        ]);
        let server = ServerInfo {
            name: Some("srv".into()),
            version: Some("1.0".into()),
        };
        let catalog = Catalog::from_tools(list.as_array().unwrap(), server.clone()).unwrap();
        let text = write(&catalog);
        assert!(text.find("\"alpha\"").unwrap() < text.find("\"zeta\"").unwrap());
        let back = Catalog::parse(&text).unwrap();
        assert_eq!(back.server, server);
        assert_eq!(write(&back), text, "stable");
        assert_eq!(
            back.tool("zeta").unwrap().hash,
            catalog.tool("zeta").unwrap().hash
        );
        let edited = text.replace("Deletes a thing", "Reads a thing");
        let err = Catalog::parse(&edited).unwrap_err();
        assert!(err.contains("edited by hand"), "{err}");
        let future = text.replace("\"version\": 1", "\"version\": 2");
        assert!(Catalog::parse(&future).unwrap_err().contains("version 2"));
        let bad_risk = text.replace("\"risk\": \"write\"", "\"risk\": \"mild\"");
        assert!(
            Catalog::parse(&bad_risk)
                .unwrap_err()
                .contains("not a risk class")
        );
    }
}
