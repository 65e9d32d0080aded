//! `--catalog FILE`: an MCP server's `tools/list` snapshot, and the checks it makes possible.
//!
//! The file holds `{"tools": [{"name", "inputSchema", "annotations", …}, …]}` (a whole
//! JSON-RPC response `{"result": {"tools": …}}` is accepted too). With it, `check` knows the
//! finite set of tools, their argument schemas and their annotations, and reports rules that
//! name unknown tools (with did-you-mean), globs that match no tool, `args` paths the schema
//! does not have and comparisons with a JSON type the schema rules out. These checks need no
//! solver; the verifier also uses the catalog to range over the real tools only.

pub use crate::catalog::{Catalog, CatalogTool};
use crate::diagnostic::{Diagnostic, code, did_you_mean};
use crate::ir::{
    Cond, JsonType, Literal, NamePattern, Operand, PathSeg, Policy, Pred, Target, path_text,
};
use serde_json::Value;
use std::collections::BTreeSet;

impl Catalog {
    fn names(&self) -> impl Iterator<Item = &str> + Clone {
        self.tools.iter().map(|t| t.name.as_str())
    }

    /// The catalog tools a target can name.
    fn matching(&self, t: &Target) -> Vec<&CatalogTool> {
        self.tools
            .iter()
            .filter(|c| t.tool.matches(&c.name))
            .collect()
    }
}

/// The sub-schema at a path: `None` when the schema says the path cannot exist, `Some(None)`
/// when the schema does not say (no `properties` to look in).
pub(crate) fn schema_at<'v>(schema: &'v Value, path: &[PathSeg]) -> Option<Option<&'v Value>> {
    let mut cur = schema;
    for seg in path {
        cur = match seg {
            PathSeg::Key(k) => match cur.get("properties").and_then(Value::as_object) {
                Some(props) => props.get(k)?,
                None => return Some(None),
            },
            PathSeg::Index(_) => match cur.get("items") {
                Some(items) => items,
                None => return Some(None),
            },
        };
    }
    Some(Some(cur))
}

/// The JSON types a schema allows, when it says.
pub(crate) fn schema_types(schema: &Value) -> Option<BTreeSet<JsonType>> {
    let one = |s: &str| match s {
        "null" => Some(JsonType::Null),
        "boolean" => Some(JsonType::Bool),
        "number" | "integer" => Some(JsonType::Number),
        "string" => Some(JsonType::String),
        "array" => Some(JsonType::Array),
        "object" => Some(JsonType::Object),
        _ => None,
    };
    match schema.get("type")? {
        Value::String(s) => one(s).map(|t| BTreeSet::from([t])),
        Value::Array(list) => Some(
            list.iter()
                .filter_map(|s| s.as_str().and_then(one))
                .collect(),
        ),
        _ => None,
    }
}

/// The JSON types under which a predicate can hold.
pub(crate) fn pred_types(pred: &Pred) -> Vec<JsonType> {
    match pred {
        Pred::Exists => Vec::new(),
        Pred::Eq(l) | Pred::Ne(l) => vec![l.json_type()],
        Pred::In(ls) | Pred::NotIn(ls) => ls.iter().map(Literal::json_type).collect(),
        Pred::Cmp(..) => vec![JsonType::Number],
        Pred::Glob(_) | Pred::Regex(_) | Pred::StartsWith(_) | Pred::EndsWith(_) => {
            vec![JsonType::String]
        }
        Pred::Contains(Literal::Str(_)) => vec![JsonType::String, JsonType::Array],
        Pred::Contains(_) => vec![JsonType::Array],
    }
}

/// The catalog checks for one policy.
pub fn check(policy: &Policy, catalog: &Catalog) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut all_targets: Vec<(&[Target], &Cond)> = policy
        .rules
        .iter()
        .map(|r| (r.targets.as_slice(), &r.condition))
        .collect();
    all_targets.extend(
        policy
            .assertions
            .iter()
            .map(|a| (a.targets.as_slice(), &a.condition)),
    );
    // A `risk … is …` for a tool the server does not have is a typo or a stale name.
    for o in &policy.risk.list {
        let t = Target {
            server: None,
            tool: o.tool.clone(),
            span: o.span,
        };
        if catalog.matching(&t).is_empty() {
            out.push(unknown_target(&t, catalog));
        }
    }
    for (targets, cond) in all_targets {
        let mut tools: Vec<&CatalogTool> = Vec::new();
        for t in targets {
            let matched = catalog.matching(t);
            if matched.is_empty() {
                out.push(unknown_target(t, catalog));
            }
            tools.extend(matched);
        }
        if !tools.is_empty() {
            tests(cond, &mut |test| {
                if let Operand::Arg(path) = &test.operand
                    && let Some(d) = argument_finding(path, &test.pred, test.span, &tools)
                {
                    out.push(d);
                }
            });
        }
    }
    out
}

fn unknown_target(t: &Target, catalog: &Catalog) -> Diagnostic {
    match &t.tool {
        NamePattern::Exact(name) => {
            let d = Diagnostic::new(
                code::UNKNOWN_TOOL,
                t.span,
                format!("the catalog has no tool `{name}`"),
            )
            .label("not in the catalog");
            match did_you_mean(name, catalog.names()) {
                Some(m) => d.help(format!("did you mean `{m}`?")),
                None => d.help("check the name against the server's `tools/list`"),
            }
        }
        NamePattern::Glob(g) => Diagnostic::new(
            code::UNMATCHED_TOOL_PATTERN,
            t.span,
            format!("`{}` matches no tool in the catalog", g.as_str()),
        )
        .label("matches nothing")
        .help("fix the pattern, or delete it"),
    }
}

fn argument_finding(
    path: &[PathSeg],
    pred: &Pred,
    span: crate::source::Span,
    tools: &[&CatalogTool],
) -> Option<Diagnostic> {
    let at: Vec<Option<Option<&Value>>> =
        tools.iter().map(|t| schema_at(&t.schema, path)).collect();
    if at.iter().all(Option::is_none) {
        let last = match path.last() {
            Some(PathSeg::Key(k)) => k.as_str(),
            _ => "",
        };
        let parent = path.get(..path.len().saturating_sub(1)).unwrap_or(&[]);
        let siblings: Vec<String> = tools
            .iter()
            .filter_map(|t| schema_at(&t.schema, parent).flatten())
            .filter_map(|s| s.get("properties").and_then(Value::as_object))
            .flat_map(|p| p.keys().cloned())
            .collect();
        let d = Diagnostic::new(
            code::UNKNOWN_ARGUMENT,
            span,
            format!("no targeted tool has an argument `{}`", path_text(path)),
        )
        .label("not in the input schema");
        return Some(
            match did_you_mean(last, siblings.iter().map(String::as_str)) {
                Some(m) => d.help(format!("did you mean `{m}`?")),
                None => d.help("compare with the tool's `inputSchema`"),
            },
        );
    }
    let wanted = pred_types(pred);
    if wanted.is_empty() {
        return None;
    }
    // Types the schemas allow at the path; unknown if any schema does not say.
    let mut allowed: BTreeSet<JsonType> = BTreeSet::new();
    for a in at.iter().flatten() {
        match a.and_then(schema_types) {
            Some(ts) => allowed.extend(ts),
            None => return None,
        }
    }
    if wanted.iter().any(|t| allowed.contains(t)) {
        return None;
    }
    let names: Vec<&str> = allowed.iter().map(|t| t.name()).collect();
    let wanted_names: Vec<&str> = wanted.iter().map(|t| t.name()).collect();
    Some(
        Diagnostic::new(
            code::SCHEMA_TYPE_MISMATCH,
            span,
            format!(
                "`{}` is a {} in the input schema, so this test is always false",
                path_text(path),
                names.join(" or ")
            ),
        )
        .label(format!("holds only for a {}", wanted_names.join(" or ")))
        .help("compare with a literal of the schema's type"),
    )
}

pub(crate) fn tests(c: &Cond, f: &mut impl FnMut(&crate::ir::Test)) {
    match c {
        Cond::True | Cond::False => {}
        Cond::And(cs) | Cond::Or(cs) => cs.iter().for_each(|c| tests(c, f)),
        Cond::Not(c) => tests(c, f),
        Cond::Test(t) => f(t),
    }
}
