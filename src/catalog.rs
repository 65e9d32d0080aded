//! A server's tool catalog: the `tools/list` snapshot that `warden check --catalog`, `warden
//! compile --catalog`, `warden init` and the proxy's tool pinning read.
//!
//! Two file shapes are read: warden's catalog file (`file`: written by `warden catalog`, with
//! the server's name, each tool's risk class and definition hash) and a bare `tools/list`
//! result `{"tools": [{"name", "inputSchema", "annotations", …}, …]}` (a whole JSON-RPC
//! response `{"result": {"tools": …}}` is accepted too). Each tool keeps its name, description,
//! annotations, input schema, every property path the schema declares, and its definition hash.
//!
//! - `file`: the catalog file format and the definition hash;
//! - `client`: an MCP client that fetches a live server's tools (stdio), `http` its Streamable
//!   HTTP transport;
//! - `drift`: what changed between a pinned catalog and a live server.

pub mod client;
pub mod drift;
pub mod file;
pub mod http;

use crate::call::Annotations;
use crate::ir::PathSeg;
use crate::risk::{self, Classification, ToolFacts};
use serde_json::Value;

/// One tool of the catalog.
#[derive(Clone, Debug)]
pub struct CatalogTool {
    pub name: String,
    pub description: Option<String>,
    pub annotations: Annotations,
    /// The `annotations` object exactly as the server sent it (`title` and unknown hints
    /// included), `Null` when absent: part of the definition hash.
    pub annotations_json: Value,
    pub schema: Value,
    /// Every property path the schema declares (nested objects included).
    pub paths: Vec<Vec<PathSeg>>,
    /// The definition hash, `sha256:<hex>` (see [`file::definition_hash`]).
    pub hash: String,
}

impl CatalogTool {
    /// Reads one tool definition of a `tools/list` result.
    pub fn from_json(t: &Value) -> Result<CatalogTool, String> {
        let name = t
            .get("name")
            .and_then(Value::as_str)
            .ok_or("a tool has no `name` string")?;
        let annotations_json = t.get("annotations").cloned().unwrap_or(Value::Null);
        let annotations = match &annotations_json {
            Value::Null => Annotations::default(),
            a => Annotations::from_json(a).map_err(|e| format!("tool `{name}`: {e}"))?,
        };
        let description = match t.get("description") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(format!("tool `{name}`: `description` must be a string")),
        };
        let schema = t.get("inputSchema").cloned().unwrap_or(Value::Null);
        let mut paths = Vec::new();
        collect_paths(&schema, &mut Vec::new(), &mut paths, 0);
        let hash = file::definition_hash(t);
        Ok(CatalogTool {
            name: name.to_string(),
            description,
            annotations,
            annotations_json,
            schema,
            paths,
            hash,
        })
    }

    /// What the risk classifier looks at.
    pub fn facts(&self) -> ToolFacts<'_> {
        ToolFacts {
            name: &self.name,
            description: self.description.as_deref(),
            annotations: self.annotations,
            schema: (!self.schema.is_null()).then_some(&self.schema),
        }
    }

    /// The tool's risk class and why.
    pub fn classify(&self) -> Classification {
        risk::classify(&self.facts())
    }
}

/// The server a catalog was taken from, when known.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerInfo {
    pub name: Option<String>,
    pub version: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub tools: Vec<CatalogTool>,
    /// The server's `serverInfo` (warden's catalog file only).
    pub server: ServerInfo,
}

impl Catalog {
    /// Reads a catalog file or a `tools/list` result. Errors are one line, for the command line.
    pub fn parse(text: &str) -> Result<Catalog, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        if v.get(file::FORMAT_KEY).is_some() {
            return file::read(&v);
        }
        let list = v
            .get("tools")
            .or_else(|| v.get("result").and_then(|r| r.get("tools")))
            .and_then(Value::as_array)
            .ok_or_else(|| {
                "expected a warden catalog or an object with a `tools` array (a `tools/list` result)"
                    .to_string()
            })?;
        Catalog::from_tools(list, ServerInfo::default())
    }

    /// A catalog of tool definitions as a server lists them (in the server's order).
    pub fn from_tools(list: &[Value], server: ServerInfo) -> Result<Catalog, String> {
        let mut tools = Vec::new();
        for (i, t) in list.iter().enumerate() {
            let tool = CatalogTool::from_json(t).map_err(|e| format!("tool {i}: {e}"))?;
            if tools.iter().any(|o: &CatalogTool| o.name == tool.name) {
                return Err(format!("tool `{}` is listed twice", tool.name));
            }
            tools.push(tool);
        }
        Ok(Catalog { tools, server })
    }

    pub fn tool(&self, name: &str) -> Option<&CatalogTool> {
        self.tools.iter().find(|t| t.name == name)
    }
}

/// Every property path a schema declares, nested objects included (to a bounded depth).
fn collect_paths(
    schema: &Value,
    prefix: &mut Vec<PathSeg>,
    out: &mut Vec<Vec<PathSeg>>,
    depth: usize,
) {
    if depth > 8 {
        return;
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, sub) in props {
            prefix.push(PathSeg::Key(k.clone()));
            out.push(prefix.clone());
            collect_paths(sub, prefix, out, depth + 1);
            prefix.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Annotation;

    #[test]
    fn reads_a_tools_list_result_or_response() {
        let text = r#"{"tools":[{"name":"b","annotations":{"readOnlyHint":true},
            "inputSchema":{"type":"object","properties":{"x":{"type":"object","properties":{"y":{}}}}}},{"name":"a"}]}"#;
        let c = Catalog::parse(text).unwrap();
        assert!(c.tool("b").unwrap().annotations.get(Annotation::ReadOnly));
        assert!(!c.tool("a").unwrap().annotations.get(Annotation::ReadOnly));
        assert_eq!(c.tool("b").unwrap().paths.len(), 2);
        let wrapped = format!(r#"{{"jsonrpc":"2.0","id":1,"result":{text}}}"#);
        assert_eq!(Catalog::parse(&wrapped).unwrap().tools.len(), 2);
        assert!(Catalog::parse(r#"{"tools":[{"title":"x"}]}"#).is_err());
        assert!(Catalog::parse(r#"{"tools":[{"name":"x"},{"name":"x"}]}"#).is_err());
        assert!(Catalog::parse(r#"{"tools":[{"name":"x","description":3}]}"#).is_err());
        assert!(Catalog::parse("[]").is_err());
    }

    #[test]
    fn facts_carry_the_description_and_schema() {
        let c = Catalog::parse(
            r#"{"tools":[{"name":"tool","description":"Deletes a row","inputSchema":{"type":"object"}}]}"#,
        )
        .unwrap();
        let t = c.tool("tool").unwrap();
        assert_eq!(t.facts().description, Some("Deletes a row"));
        assert!(t.facts().schema.is_some());
        assert_eq!(t.classify().risk, risk::Risk::Destructive);
    }
}
