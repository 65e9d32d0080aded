//! A tool call as policies see it: server, tool, arguments, identity, the tool's annotations and
//! its risk class.
//!
//! This is the request model shared by the evaluator, the decision table, the verifier's
//! witnesses and the proxy. Its JSON form (`{"name", "arguments", "server", "grant", "agent",
//! "session", "annotations", "risk"}`) is what `warden eval --call` reads and what witnesses print.

use crate::ir::Annotation;
use crate::risk::Risk;
use serde_json::{Map, Value};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Call {
    /// The server's name, when known.
    pub server: Option<String>,
    pub tool: String,
    /// The `arguments` object; `None` when the call has none.
    pub arguments: Option<Value>,
    pub grant: Option<String>,
    pub agent: Option<String>,
    pub session: Option<String>,
    pub annotations: Annotations,
    /// The tool's risk class as the caller knows it (the proxy: classified from the tool's
    /// `tools/list` definition). `None`: classified from the name and annotations. A policy's
    /// `risk … is …` overrides either ([`crate::ir::RiskOverrides::risk_of`]).
    pub risk: Option<Risk>,
}

/// The annotations the server declared for the tool (absent ones are `None`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Annotations {
    pub read_only: Option<bool>,
    pub destructive: Option<bool>,
    pub idempotent: Option<bool>,
    pub open_world: Option<bool>,
}

impl Annotations {
    fn slot(&mut self, a: Annotation) -> &mut Option<bool> {
        match a {
            Annotation::ReadOnly => &mut self.read_only,
            Annotation::Destructive => &mut self.destructive,
            Annotation::Idempotent => &mut self.idempotent,
            Annotation::OpenWorld => &mut self.open_world,
        }
    }

    pub fn declared(&self, a: Annotation) -> Option<bool> {
        match a {
            Annotation::ReadOnly => self.read_only,
            Annotation::Destructive => self.destructive,
            Annotation::Idempotent => self.idempotent,
            Annotation::OpenWorld => self.open_world,
        }
    }

    /// The value a policy sees: the declared one, else the MCP spec default.
    pub fn get(&self, a: Annotation) -> bool {
        self.declared(a).unwrap_or(a.spec_default())
    }

    pub fn set(&mut self, a: Annotation, value: bool) {
        *self.slot(a) = Some(value);
    }

    /// Reads an MCP `annotations` object. Unknown keys (`title`, …) are ignored, as in MCP;
    /// a known key with a non-boolean value is an error.
    pub fn from_json(value: &Value) -> Result<Annotations, String> {
        let obj = value
            .as_object()
            .ok_or_else(|| "`annotations` must be an object".to_string())?;
        let mut out = Annotations::default();
        for a in Annotation::ALL {
            match obj.get(a.name()) {
                None => {}
                Some(Value::Bool(b)) => out.set(a, *b),
                Some(_) => return Err(format!("`annotations.{}` must be a boolean", a.name())),
            }
        }
        Ok(out)
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        for a in Annotation::ALL {
            if let Some(b) = self.declared(a) {
                m.insert(a.name().to_string(), Value::Bool(b));
            }
        }
        Value::Object(m)
    }
}

const KEYS: [&str; 8] = [
    "name",
    "arguments",
    "server",
    "grant",
    "agent",
    "session",
    "annotations",
    "risk",
];

impl Call {
    pub fn new(tool: impl Into<String>) -> Call {
        Call {
            tool: tool.into(),
            ..Call::default()
        }
    }

    /// Reads the JSON form. `name` is required; unknown keys are errors (a typo such as
    /// `argument` must not silently drop the arguments).
    pub fn from_json(value: &Value) -> Result<Call, String> {
        let obj = value
            .as_object()
            .ok_or_else(|| "a call must be a JSON object".to_string())?;
        if let Some(k) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(format!(
                "unknown key `{k}` in a call (expected one of {})",
                KEYS.join(", ")
            ));
        }
        let string = |key: &str| -> Result<Option<String>, String> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(format!("`{key}` must be a string")),
            }
        };
        let tool = string("name")?.ok_or_else(|| "a call needs a `name`".to_string())?;
        let arguments = match obj.get("arguments") {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => Some(v.clone()),
            Some(_) => return Err("`arguments` must be an object".to_string()),
        };
        let annotations = match obj.get("annotations") {
            None | Some(Value::Null) => Annotations::default(),
            Some(v) => Annotations::from_json(v)?,
        };
        let risk = match string("risk")? {
            None => None,
            Some(name) => Some(Risk::from_name(&name).ok_or_else(|| {
                format!(
                    "`risk` must be one of {}, not `{name}`",
                    Risk::ALL.map(Risk::name).join(", ")
                )
            })?),
        };
        Ok(Call {
            server: string("server")?,
            tool,
            arguments,
            grant: string("grant")?,
            agent: string("agent")?,
            session: string("session")?,
            annotations,
            risk,
        })
    }

    /// The JSON form, with absent parts left out.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), Value::String(self.tool.clone()));
        if let Some(a) = &self.arguments {
            m.insert("arguments".into(), a.clone());
        }
        for (key, value) in [
            ("server", &self.server),
            ("grant", &self.grant),
            ("agent", &self.agent),
            ("session", &self.session),
        ] {
            if let Some(v) = value {
                m.insert(key.into(), Value::String(v.clone()));
            }
        }
        let ann = self.annotations.to_json();
        if ann.as_object().is_some_and(|o| !o.is_empty()) {
            m.insert("annotations".into(), ann);
        }
        if let Some(r) = self.risk {
            m.insert("risk".into(), Value::String(r.name().into()));
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trip_keeps_every_part() {
        let v = json!({"name":"execute_flow","arguments":{"namespace":"a.b"},"server":"kestra",
            "grant":"ci","agent":"claude","session":"s1","annotations":{"readOnlyHint":true},
            "risk":"financial"});
        let call = Call::from_json(&v).unwrap();
        assert!(call.annotations.get(Annotation::ReadOnly));
        assert!(call.annotations.get(Annotation::Destructive)); // spec default
        assert_eq!(call.risk, Some(Risk::Financial));
        assert_eq!(call.to_json(), v);
    }

    #[test]
    fn typos_and_wrong_types_are_errors() {
        assert!(
            Call::from_json(&json!({"name":"x","argument":{}}))
                .unwrap_err()
                .contains("`argument`")
        );
        assert!(Call::from_json(&json!({"arguments":{}})).is_err());
        assert!(Call::from_json(&json!({"name":"x","arguments":[1]})).is_err());
        assert!(
            Call::from_json(&json!({"name":"x","annotations":{"readOnlyHint":"yes"}})).is_err()
        );
        assert!(
            Call::from_json(&json!({"name":"x","risk":"dangerous"}))
                .unwrap_err()
                .contains("`dangerous`")
        );
    }
}
