//! `warden init`: a starting policy for one server, written from its catalog and the risk
//! classes of its tools.
//!
//! The policy denies by default and names every tool of the catalog explicitly:
//!
//! - **read** tools are allowed under one shared limit (`reads`, 120 calls per minute per grant);
//! - **write** tools are allowed under a tighter shared limit (`writes`, 30 per minute);
//! - **execute** tools are allowed one by one, 10 calls per minute each, and flagged: the
//!   comment names the arguments worth a condition (code-carrying ones first, then required
//!   ones);
//! - **destructive** and **financial** tools are behind `approve`, one rule each, whose reason
//!   is the class and the classifier's reason;
//! - a milder tool whose `action` (or `operation`, `op`) argument is an enum with destructive or
//!   financial values (Kestra's `manage_flow {action: "delete"}`) gets two rules instead: its
//!   class's `allow` for the other values, and `approve` for those.
//!
//! Every tool's class and the classifier's reason are in a comment next to its rule. The text
//! is generated, then parsed, lowered and printed by the formatter (so `warden fmt` leaves it
//! unchanged); it passes `warden check --catalog` with no findings (tests/catalog.rs checks
//! this on every real server and catalog we have).

use crate::backend::import::{finish, is_name, path_source, tool_source};
use crate::catalog::{Catalog, CatalogTool};
use crate::risk::{self, Classification, Risk, ToolFacts};
use serde_json::Value;

/// The limits of the generated rules.
pub const READ_LIMIT: &str = "limit 120 per minute per grant as reads";
pub const WRITE_LIMIT: &str = "limit 30 per minute per grant as writes";
pub const EXECUTE_LIMIT: &str = "limit 10 per minute per grant";

/// Input properties that carry code or a command: the first arguments worth a condition.
const CODE_FIRST: &[&str] = &[
    "command",
    "cmd",
    "script",
    "code",
    "sql",
    "query",
    "shell",
    "argv",
    "program",
    "args",
    "expression",
    "path",
    "url",
    "namespace",
];
const MAX_FLAGGED: usize = 4;

/// The starting policy for a catalog, formatted. `name` is the policy's name (default: from
/// the server's name).
pub fn policy(catalog: &Catalog, name: Option<&str>) -> Result<String, String> {
    let name = policy_name(name.or(catalog.server.name.as_deref()));
    let mut by_class: Vec<(&CatalogTool, Classification)> =
        catalog.tools.iter().map(|t| (t, t.classify())).collect();
    by_class.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    let class = |r: Risk| -> Vec<&(&CatalogTool, Classification)> {
        by_class.iter().filter(|(_, c)| c.risk == r).collect()
    };

    let server = match (&catalog.server.name, &catalog.server.version) {
        (Some(n), Some(v)) => format!("{n} {v}"),
        (Some(n), None) => n.clone(),
        _ => "this server".to_string(),
    };
    let mut out = format!(
        "// A starting policy for {}, written by `warden init` from its tools/list ({} tool{}).\n\
         // Each tool is named with its risk class and the reason the classifier gave\n\
         // (docs/catalog.md). Review every rule and narrow it with conditions on the arguments.\n\
         policy {name} {{\n  default deny because {}\n",
        comment(&server),
        catalog.tools.len(),
        if catalog.tools.len() == 1 { "" } else { "s" },
        quote(&format!("not on the allow-list for {server}")),
    );

    for (risk, rule, limit, intro) in [
        (
            Risk::Read,
            "reads",
            READ_LIMIT,
            "read (low risk): allowed, within one shared rate limit.",
        ),
        (
            Risk::Write,
            "writes",
            WRITE_LIMIT,
            "write (medium risk): allowed, within a tighter shared rate limit.",
        ),
    ] {
        let tools = class(risk);
        if tools.is_empty() {
            continue;
        }
        out.push_str(&format!("\n  // {intro}\n"));
        let (split, whole): (Vec<_>, Vec<_>) = tools
            .into_iter()
            .map(|tc| (tc, split(tc.0)))
            .partition(|(_, s)| s.is_some());
        let whole: Vec<_> = whole.into_iter().map(|(tc, _)| tc).collect();
        if !whole.is_empty() {
            list_reasons(&mut out, &whole);
            out.push_str(&format!("  {rule}: allow {} {limit}\n", targets(&whole)));
        }
        for ((t, c), s) in split.into_iter().filter_map(|(tc, s)| Some((tc, s?))) {
            out.push_str(&format!(
                "\n  // {}: {}.\n",
                comment(&t.name),
                comment(&c.why)
            ));
            out.push_str(&s.rules(t, limit));
        }
    }
    let executes = class(Risk::Execute);
    if !executes.is_empty() {
        out.push_str(
            "\n  // execute (high risk): allowed one by one on a small limit. FLAGGED: add a `when`\n  // condition on the arguments named below before giving this policy to an agent.\n",
        );
        for (t, c) in executes {
            out.push_str(&format!(
                "  // {}: {}.\n",
                comment(&t.name),
                comment(&c.why)
            ));
            out.push_str(&format!("  //   {}\n", flagged(t)));
            match split(t) {
                Some(s) => out.push_str(&s.rules(t, EXECUTE_LIMIT)),
                None => out.push_str(&format!(
                    "  allow {} {EXECUTE_LIMIT}\n",
                    tool_source(&t.name)
                )),
            }
        }
    }
    for (risk, what) in [
        (Risk::Destructive, "destroys data"),
        (Risk::Financial, "moves money"),
    ] {
        let tools = class(risk);
        if tools.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "\n  // {} ({} risk): {what}; a person approves every call.\n",
            risk.name(),
            risk.severity()
        ));
        for (t, c) in tools {
            out.push_str(&format!(
                "  // {}: {}.\n",
                comment(&t.name),
                comment(&c.why)
            ));
            out.push_str(&format!(
                "  approve {} because {}\n",
                tool_source(&t.name),
                quote(&format!("{}: {}", risk.name(), c.why))
            ));
        }
    }
    out.push_str("}\n");
    finish(&out).map_err(|errors| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// Arguments that select what a tool does (Kestra's `manage_flow {action: "delete"}`).
const SELECTORS: &[&str] = &["action", "operation", "op"];

/// A milder tool with an argument that selects what it does, some of whose values destroy or
/// move money: those values go behind `approve`, the others are allowed as the tool's class
/// says.
struct Split {
    arg: String,
    risky: Vec<String>,
    /// The strongest class among the risky values.
    risk: Risk,
    rest: Vec<String>,
}

fn split(tool: &CatalogTool) -> Option<Split> {
    let props = tool.schema.get("properties")?.as_object()?;
    SELECTORS.iter().find_map(|arg| {
        let values = props.get(*arg)?.get("enum")?.as_array()?;
        let mut s = Split {
            arg: arg.to_string(),
            risky: Vec::new(),
            risk: Risk::Read,
            rest: Vec::new(),
        };
        for v in values {
            let v = v.as_str()?;
            let c = risk::classify(&ToolFacts::named(v));
            if c.risk >= Risk::Destructive {
                s.risk = s.risk.max(c.risk);
                s.risky.push(v.to_string());
            } else {
                s.rest.push(v.to_string());
            }
        }
        (!s.risky.is_empty() && !s.rest.is_empty()).then_some(s)
    })
}

impl Split {
    /// The tool's two rules, with a comment saying why.
    fn rules(&self, tool: &CatalogTool, limit: &str) -> String {
        let quoted =
            |values: &[String]| -> Vec<String> { values.iter().map(|v| quote(v)).collect() };
        let (noun, verb) = match (self.risky.len() == 1, self.risk == Risk::Financial) {
            (true, true) => ("value", "moves money"),
            (false, true) => ("values", "move money"),
            (true, false) => ("value", "destroys"),
            (false, false) => ("values", "destroy"),
        };
        let arg = path_source(std::slice::from_ref(&self.arg));
        let x = tool_source(&tool.name);
        let ticked: Vec<String> = self.risky.iter().map(|v| format!("`{v}`")).collect();
        let reason = format!(
            "{}: {} {} {}",
            self.risk.name(),
            tool.name,
            self.arg,
            ticked.join(" or ")
        );
        let risky = quoted(&self.risky);
        format!(
            "  //   its `{}` {noun} {} {verb}: a person approves those calls.\n  allow {x} when {arg} in [{}] {limit}\n  approve {x} when {arg} in [{}] because {}\n",
            comment(&self.arg),
            comment(&risky.join(", ")),
            quoted(&self.rest).join(", "),
            risky.join(", "),
            quote(&reason),
        )
    }
}

/// A policy name from the server's name: its last `/` segment, with characters a name cannot
/// hold turned into `_`.
fn policy_name(server: Option<&str>) -> String {
    let base = server
        .and_then(|s| s.rsplit('/').find(|p| !p.is_empty()))
        .unwrap_or("server");
    let name: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if is_name(&name) {
        name
    } else {
        format!("server_{name}")
    }
}

fn targets(tools: &[&(&CatalogTool, Classification)]) -> String {
    tools
        .iter()
        .map(|(t, _)| tool_source(&t.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn list_reasons(out: &mut String, tools: &[&(&CatalogTool, Classification)]) {
    for (t, c) in tools {
        out.push_str(&format!(
            "  //   {}: {}\n",
            comment(&t.name),
            comment(&c.why)
        ));
    }
}

/// The arguments of an execute tool worth a condition, as a comment line.
fn flagged(tool: &CatalogTool) -> String {
    let props: Vec<&String> = tool
        .schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().collect())
        .unwrap_or_default();
    if props.is_empty() {
        return "it takes no arguments to condition on: consider `approve` instead".to_string();
    }
    let required: Vec<&str> = tool
        .schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let rank = |p: &str| {
        let lower = p.to_ascii_lowercase();
        match CODE_FIRST.iter().position(|c| *c == lower) {
            Some(i) => (0, i),
            None if required.contains(&p) => (1, 0),
            None => (2, 0),
        }
    };
    let mut ranked = props;
    ranked.sort_by_key(|p| (rank(p), p.as_str().to_string()));
    let named: Vec<String> = ranked
        .iter()
        .take(MAX_FLAGGED)
        .map(|p| {
            let ty = tool
                .schema
                .pointer(&format!(
                    "/properties/{}/type",
                    p.replace('~', "~0").replace('/', "~1")
                ))
                .and_then(Value::as_str)
                .map(|t| format!(" ({t})"))
                .unwrap_or_default();
            format!("{}{ty}", path_source(&[(*p).clone()]))
        })
        .collect();
    format!("arguments worth a condition: {}", named.join(", "))
}

fn quote(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// Text safe inside a `//` comment: one line.
fn comment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_tool_by_class() {
        let catalog = Catalog::parse(
            r#"{"tools":[
              {"name":"list_rows","annotations":{"readOnlyHint":true}},
              {"name":"update_row"},
              {"name":"run_query","inputSchema":{"type":"object","properties":{"db":{"type":"string"},"sql":{"type":"string"}},"required":["db"]}},
              {"name":"drop_table"},
              {"name":"refund_payment"},
              {"name":"when"}
            ]}"#,
        )
        .unwrap();
        let text = policy(&catalog, Some("db/mcp server")).unwrap();
        assert!(
            text.starts_with("// A starting policy for this server"),
            "{text}"
        );
        assert!(text.contains("policy mcp_server {"), "{text}");
        assert!(text.contains("reads: allow list_rows limit 120"), "{text}");
        assert!(
            text.contains(r#"writes: allow update_row, "when" limit 30"#),
            "{text}"
        );
        assert!(
            text.contains("args.sql (string), args.db (string)"),
            "{text}"
        );
        assert!(
            text.contains("allow run_query limit 10 per minute per grant"),
            "{text}"
        );
        assert!(
            text.contains(
                r#"approve drop_table because "destructive: the name's verb `drop` destroys""#
            ),
            "{text}"
        );
        assert!(
            text.contains("approve refund_payment because \"financial:"),
            "{text}"
        );
        assert_eq!(policy_name(Some("9lives")), "server_9lives");
        let catalog = Catalog::parse(
            r#"{"tools":[{"name":"manage_flow","inputSchema":{"type":"object","properties":{"action":{"enum":["get","delete","kill"]}}}},
              {"name":"manage_kv","inputSchema":{"type":"object","properties":{"action":{"enum":["delete"]}}}}]}"#,
        )
        .unwrap();
        let text = policy(&catalog, None).unwrap();
        let rules = text.replace("\n    ", " ");
        assert!(
            rules.contains(r#"allow manage_flow when args.action in ["get"] limit 30"#),
            "{text}"
        );
        assert!(
            rules.contains(r#"approve manage_flow when args.action in ["delete", "kill"]"#),
            "{text}"
        );
        assert!(
            text.contains("values \"delete\", \"kill\" destroy"),
            "{text}"
        );
        // Every value destroys: nothing to split, the tool keeps its class.
        assert!(text.contains("writes: allow manage_kv limit 30"), "{text}");
        assert_eq!(policy_name(None), "server");
    }
}
