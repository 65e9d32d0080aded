//! A server's tool catalog: the `tools/list` snapshot that `warden check --catalog`, `warden
//! compile --catalog` (and later the proxy's tool pinning) read.
//!
//! The file holds `{"tools": [{"name", "inputSchema", "annotations", …}, …]}`; a whole
//! JSON-RPC response `{"result": {"tools": …}}` is accepted too. Each tool keeps its name, its
//! annotations, its input schema and every property path the schema declares.

use crate::call::Annotations;
use crate::ir::PathSeg;
use serde_json::Value;

/// One tool of the catalog.
#[derive(Clone, Debug)]
pub struct CatalogTool {
    pub name: String,
    pub description: Option<String>,
    pub annotations: Annotations,
    pub schema: Value,
    /// Every property path the schema declares (nested objects included).
    pub paths: Vec<Vec<PathSeg>>,
}

impl CatalogTool {
    /// What the risk classifier looks at.
    pub fn facts(&self) -> crate::risk::ToolFacts<'_> {
        crate::risk::ToolFacts {
            name: &self.name,
            description: self.description.as_deref(),
            annotations: self.annotations,
            schema: Some(&self.schema),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub tools: Vec<CatalogTool>,
}

impl Catalog {
    /// Reads a `tools/list` result. Errors are one line, for the command line.
    pub fn parse(text: &str) -> Result<Catalog, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let list = v
            .get("tools")
            .or_else(|| v.get("result").and_then(|r| r.get("tools")))
            .and_then(Value::as_array)
            .ok_or_else(|| {
                "expected an object with a `tools` array (a `tools/list` result)".to_string()
            })?;
        let mut tools = Vec::new();
        for (i, t) in list.iter().enumerate() {
            let name = t
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("tool {i} has no `name` string"))?;
            let annotations = match t.get("annotations") {
                None | Some(Value::Null) => Annotations::default(),
                Some(a) => Annotations::from_json(a).map_err(|e| format!("tool `{name}`: {e}"))?,
            };
            let schema = t.get("inputSchema").cloned().unwrap_or(Value::Null);
            let mut paths = Vec::new();
            collect_paths(&schema, &mut Vec::new(), &mut paths, 0);
            tools.push(CatalogTool {
                name: name.to_string(),
                description: t
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                annotations,
                schema,
                paths,
            });
        }
        Ok(Catalog { tools })
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
        let text = r#"{"tools":[{"name":"a"},{"name":"b","annotations":{"readOnlyHint":true},
            "inputSchema":{"type":"object","properties":{"x":{"type":"object","properties":{"y":{}}}}}}]}"#;
        let c = Catalog::parse(text).unwrap();
        assert!(c.tool("b").unwrap().annotations.get(Annotation::ReadOnly));
        assert!(!c.tool("a").unwrap().annotations.get(Annotation::ReadOnly));
        assert_eq!(c.tool("b").unwrap().paths.len(), 2);
        let wrapped = format!(r#"{{"jsonrpc":"2.0","id":1,"result":{text}}}"#);
        assert_eq!(Catalog::parse(&wrapped).unwrap().tools.len(), 2);
        assert!(Catalog::parse(r#"{"tools":[{"title":"x"}]}"#).is_err());
        assert!(Catalog::parse("[]").is_err());
    }
}
