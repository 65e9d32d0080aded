//! A server's tool catalog: the result of MCP `tools/list` (`{"tools": [{"name", "annotations",
//! …}]}`), or a whole JSON-RPC response holding one. Backends use it to expand globs into the
//! tool names a server really has and to resolve tool annotations per tool. Fields other than
//! `name` and `annotations` are ignored, as MCP clients ignore what they do not know.

use crate::call::Annotations;
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    /// In the order the server listed them.
    pub tools: Vec<CatalogTool>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CatalogTool {
    pub name: String,
    pub annotations: Annotations,
}

impl Catalog {
    /// Reads a catalog from JSON text. Errors say where the JSON is not a tool list.
    pub fn parse(text: &str) -> Result<Catalog, String> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("the catalog is not JSON: {e}"))?;
        Catalog::from_json(&value)
    }

    pub fn from_json(value: &Value) -> Result<Catalog, String> {
        let list = value
            .get("result")
            .unwrap_or(value)
            .get("tools")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                "a catalog is a `tools/list` result: an object with a `tools` array".to_string()
            })?;
        let mut tools = Vec::new();
        for (i, tool) in list.iter().enumerate() {
            let name = tool
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("`tools[{i}]` has no string `name`"))?;
            let annotations = match tool.get("annotations") {
                None | Some(Value::Null) => Annotations::default(),
                Some(a) => Annotations::from_json(a).map_err(|e| format!("`tools[{i}]`: {e}"))?,
            };
            tools.push(CatalogTool {
                name: name.to_string(),
                annotations,
            });
        }
        Ok(Catalog { tools })
    }

    pub fn get(&self, name: &str) -> Option<&CatalogTool> {
        self.tools.iter().find(|t| t.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Annotation;
    use serde_json::json;

    #[test]
    fn reads_a_result_or_a_response() {
        let result = json!({"tools":[{"name":"a","inputSchema":{}},
            {"name":"b","annotations":{"readOnlyHint":true,"title":"B"}}]});
        let c = Catalog::from_json(&result).unwrap();
        assert_eq!(c.tools.len(), 2);
        assert!(c.get("b").unwrap().annotations.get(Annotation::ReadOnly));
        assert!(!c.get("a").unwrap().annotations.get(Annotation::ReadOnly));
        let response = json!({"jsonrpc":"2.0","id":1,"result":result});
        assert_eq!(Catalog::from_json(&response).unwrap(), c);
        assert!(Catalog::parse("[]").is_err());
        assert!(
            Catalog::parse(r#"{"tools":[{"title":"x"}]}"#)
                .unwrap_err()
                .contains("tools[0]")
        );
    }
}
