//! The intermediate representation every later stage consumes: the evaluator, the verifier,
//! the policy.json backend and the decision table.
//!
//! An IR policy is resolved and typed: literals are decoded, numbers exact, globs and regexes
//! compiled, every rule has a stable id, every limit a counter. Effects are ordered by
//! precedence (hide > deny > approve > allow), independent of rule order. Spans are kept so
//! that any stage can point back at the source.

use crate::call::Annotations;
use crate::glob::Glob;
use crate::num::Num;
use crate::risk::{Risk, ToolFacts, classify};
use crate::source::{FileId, Span};
use std::collections::BTreeMap;

mod display;
mod specialize;

pub use crate::ast::Effect;

impl Effect {
    /// Higher wins: hide > deny > approve > allow.
    pub fn precedence(self) -> u8 {
        match self {
            Effect::Allow => 1,
            Effect::Approve => 2,
            Effect::Deny => 3,
            Effect::Hide => 4,
        }
    }

    /// Whether a call decided with this effect is (eventually) forwarded to the server.
    pub fn forwards(self) -> bool {
        matches!(self, Effect::Allow | Effect::Approve)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub name: String,
    pub file: FileId,
    pub span: Span,
    pub default: DefaultRule,
    pub rules: Vec<Rule>,
    /// Every counter used by a limit, by name.
    pub counters: BTreeMap<String, Counter>,
    pub assertions: Vec<Assertion>,
    pub tests: Vec<TestBlock>,
    /// `risk TOOLS is CLASS` statements.
    pub risk: RiskOverrides,
}

impl Policy {
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }
}

/// `default allow|deny`: the decision when no rule matches. Absent means deny.
#[derive(Clone, Debug, PartialEq)]
pub struct DefaultRule {
    /// `Allow` or `Deny`.
    pub effect: Effect,
    pub reason: Option<String>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// The user's name, or a generated `<effect>-<first tool pattern>[-N]`.
    pub id: String,
    /// Whether the id was written by the user.
    pub named: bool,
    /// Position among the policy's rules, from 0.
    pub index: usize,
    pub effect: Effect,
    pub targets: Vec<Target>,
    pub condition: Cond,
    pub reason: Option<String>,
    pub limits: Vec<Limit>,
    pub span: Span,
    /// Name, effect and targets.
    pub head: Span,
}

/// `[server::]tool`. A target without a server applies to every server.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub server: Option<NamePattern>,
    pub tool: NamePattern,
    pub span: Span,
}

impl Target {
    pub fn matches(&self, server: Option<&str>, tool: &str) -> bool {
        self.tool.matches(tool)
            && match &self.server {
                None => true,
                Some(p) => server.is_some_and(|s| p.matches(s)),
            }
    }
}

/// `risk TOOLS is CLASS`, one entry per tool pattern, in source order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RiskOverrides {
    pub list: Vec<RiskOverride>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RiskOverride {
    pub tool: NamePattern,
    pub risk: Risk,
    /// Where the tool pattern is written.
    pub span: Span,
}

impl RiskOverrides {
    /// The class the policy gives this tool: an exact name first, else the first glob written
    /// that matches.
    pub fn get(&self, tool: &str) -> Option<Risk> {
        let exact = self
            .list
            .iter()
            .find(|o| matches!(&o.tool, NamePattern::Exact(n) if n == tool));
        exact
            .or_else(|| {
                self.list
                    .iter()
                    .find(|o| matches!(&o.tool, NamePattern::Glob(g) if g.is_match(tool)))
            })
            .map(|o| o.risk)
    }

    /// A call's risk class: the one rule every stage (evaluator, table, proxy, verifier,
    /// backends) uses. The policy's override for the tool wins; else the call's own class (the
    /// proxy classifies the definition it saw in `tools/list`; a call JSON may give
    /// `"risk"`); else the class of the tool's name and annotations alone.
    pub fn risk_of(&self, tool: &str, own: Option<Risk>, annotations: Annotations) -> Risk {
        self.get(tool).or(own).unwrap_or_else(|| {
            classify(&ToolFacts {
                annotations,
                ..ToolFacts::named(tool)
            })
            .risk
        })
    }
}

/// A tool or server name: exact, or a glob.
#[derive(Clone, Debug, PartialEq)]
pub enum NamePattern {
    Exact(String),
    Glob(Glob),
}

impl NamePattern {
    pub fn matches(&self, name: &str) -> bool {
        match self {
            NamePattern::Exact(s) => s == name,
            NamePattern::Glob(g) => g.is_match(name),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            NamePattern::Exact(s) => s,
            NamePattern::Glob(g) => g.as_str(),
        }
    }
}

/// A condition. `True` is the condition of a rule without `when`.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    True,
    False,
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Test(Test),
}

/// Calls `f` on every test in a condition.
pub fn visit_tests<'c>(c: &'c Cond, f: &mut impl FnMut(&'c Test)) {
    match c {
        Cond::And(cs) | Cond::Or(cs) => cs.iter().for_each(|c| visit_tests(c, f)),
        Cond::Not(c) => visit_tests(c, f),
        Cond::Test(t) => f(t),
        Cond::True | Cond::False => {}
    }
}

impl Cond {
    /// Whether some test in the condition looks at this operand.
    pub fn mentions(&self, operand: &Operand) -> bool {
        let mut found = false;
        visit_tests(self, &mut |t| found |= t.operand == *operand);
        found
    }
}

/// One comparison: an operand and a predicate on its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Test {
    pub operand: Operand,
    pub pred: Pred,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operand {
    /// `args.a[0].b`: a path into the call's arguments object.
    Arg(Vec<PathSeg>),
    Grant,
    Agent,
    Session,
    Annotation(Annotation),
    /// `tool.risk`: the call's risk class, a string (one of [`Risk::name`]).
    Risk,
}

/// `args.a[0]["b c"]` for an IR path.
pub fn path_text(path: &[PathSeg]) -> String {
    let mut s = String::from("args");
    for seg in path {
        match seg {
            PathSeg::Key(k)
                if !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    && !k.starts_with('-') =>
            {
                s.push('.');
                s.push_str(k);
            }
            PathSeg::Key(k) => s.push_str(&format!("[{}]", serde_json::Value::String(k.clone()))),
            PathSeg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathSeg {
    /// An object member.
    Key(String),
    /// An array element.
    Index(usize),
}

/// The four MCP tool annotations, with the spec's defaults when the server declares none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Annotation {
    ReadOnly,
    Destructive,
    Idempotent,
    OpenWorld,
}

impl Annotation {
    pub const ALL: [Annotation; 4] = [
        Annotation::ReadOnly,
        Annotation::Destructive,
        Annotation::Idempotent,
        Annotation::OpenWorld,
    ];

    /// The MCP field name, which is also the name in `tool.<name>`.
    pub fn name(self) -> &'static str {
        match self {
            Annotation::ReadOnly => "readOnlyHint",
            Annotation::Destructive => "destructiveHint",
            Annotation::Idempotent => "idempotentHint",
            Annotation::OpenWorld => "openWorldHint",
        }
    }

    /// The MCP spec's value when the server does not declare it.
    pub fn spec_default(self) -> bool {
        match self {
            Annotation::ReadOnly | Annotation::Idempotent => false,
            Annotation::Destructive | Annotation::OpenWorld => true,
        }
    }

    pub fn from_name(name: &str) -> Option<Annotation> {
        Annotation::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// A predicate on a present value. Every predicate but `Exists` is false when the value is
/// absent or has a JSON type the predicate does not take.
#[derive(Clone, Debug, PartialEq)]
pub enum Pred {
    Exists,
    Eq(Literal),
    Ne(Literal),
    Cmp(CmpOp, Num),
    In(Vec<Literal>),
    NotIn(Vec<Literal>),
    Glob(Glob),
    Regex(Regex),
    StartsWith(String),
    EndsWith(String),
    Contains(Literal),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Lt => ordering == Less,
            CmpOp::Le => ordering != Greater,
            CmpOp::Gt => ordering == Greater,
            CmpOp::Ge => ordering != Less,
        }
    }
}

/// A scalar literal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Literal {
    Null,
    Bool(bool),
    Num(Num),
    Str(String),
}

/// The JSON types a literal can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JsonType {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl JsonType {
    pub fn of(value: &serde_json::Value) -> JsonType {
        match value {
            serde_json::Value::Null => JsonType::Null,
            serde_json::Value::Bool(_) => JsonType::Bool,
            serde_json::Value::Number(_) => JsonType::Number,
            serde_json::Value::String(_) => JsonType::String,
            serde_json::Value::Array(_) => JsonType::Array,
            serde_json::Value::Object(_) => JsonType::Object,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            JsonType::Null => "null",
            JsonType::Bool => "boolean",
            JsonType::Number => "number",
            JsonType::String => "string",
            JsonType::Array => "array",
            JsonType::Object => "object",
        }
    }
}

impl Literal {
    pub fn json_type(&self) -> JsonType {
        match self {
            Literal::Null => JsonType::Null,
            Literal::Bool(_) => JsonType::Bool,
            Literal::Num(_) => JsonType::Number,
            Literal::Str(_) => JsonType::String,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Literal::Null => serde_json::Value::Null,
            Literal::Bool(b) => serde_json::Value::Bool(*b),
            Literal::Num(n) => serde_json::Value::Number(n.to_json()),
            Literal::Str(s) => serde_json::Value::String(s.clone()),
        }
    }
}

/// A compiled regex, equal to another when the sources are equal.
#[derive(Clone, Debug)]
pub struct Regex {
    pub source: String,
    pub compiled: regex::Regex,
}

impl PartialEq for Regex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// `limit MAX per WINDOW per SCOPE as COUNTER`.
#[derive(Clone, Debug, PartialEq)]
pub struct Limit {
    pub counter: String,
    pub max: u64,
    pub window: Window,
    pub scope: Scope,
    pub span: Span,
}

/// A counter: its window and scope (shared by every limit that names it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter {
    pub window: Window,
    pub scope: Scope,
}

/// Fixed, UTC-aligned windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Window {
    Second,
    Minute,
    Hour,
    Day,
}

impl Window {
    pub const ALL: [Window; 4] = [Window::Second, Window::Minute, Window::Hour, Window::Day];

    pub fn name(self) -> &'static str {
        match self {
            Window::Second => "second",
            Window::Minute => "minute",
            Window::Hour => "hour",
            Window::Day => "day",
        }
    }

    pub fn seconds(self) -> u64 {
        match self {
            Window::Second => 1,
            Window::Minute => 60,
            Window::Hour => 3600,
            Window::Day => 86_400,
        }
    }

    pub fn from_name(name: &str) -> Option<Window> {
        Window::ALL.into_iter().find(|w| w.name() == name)
    }
}

/// Whose calls a counter counts together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Grant,
    Session,
    Agent,
    Tool,
    Global,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Grant,
        Scope::Session,
        Scope::Agent,
        Scope::Tool,
        Scope::Global,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scope::Grant => "grant",
            Scope::Session => "session",
            Scope::Agent => "agent",
            Scope::Tool => "tool",
            Scope::Global => "global",
        }
    }

    pub fn from_name(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// `assert never|always EFFECT TARGETS [when COND]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Assertion {
    pub always: bool,
    pub effect: Effect,
    pub targets: Vec<Target>,
    pub condition: Cond,
    pub span: Span,
}

/// `test "name" { … }`.
#[derive(Clone, Debug, PartialEq)]
pub struct TestBlock {
    pub name: String,
    pub cases: Vec<TestCase>,
    pub span: Span,
}

/// One `call … => EFFECT [by RULE]`.
#[derive(Clone, Debug, PartialEq)]
pub struct TestCase {
    pub call: crate::call::Call,
    pub expect: Effect,
    /// The expected deciding rule id, `default` for the default.
    pub by: Option<String>,
    pub span: Span,
}
