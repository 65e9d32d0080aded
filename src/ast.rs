//! The abstract syntax tree: what the user wrote, with spans, before any meaning is given.
//!
//! Built from pest pairs by `syntax::build` and printed back by `syntax::format`. It keeps the
//! source text of literals (`raw`) so that the formatter reproduces them exactly. Names are not
//! resolved and types are not checked here: that is `lower`'s job.

use crate::source::{Span, Spanned};

/// A parsed file: its policies (a well-formed file has exactly one).
#[derive(Clone, Debug, PartialEq)]
pub struct File {
    pub policies: Vec<Policy>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub name: Spanned<String>,
    pub items: Vec<Item>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Default(Default),
    Risk(RiskOverride),
    Rule(Rule),
    Assert(Assert),
    Test(TestBlock),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Default(d) => d.span,
            Item::Risk(r) => r.span,
            Item::Rule(r) => r.span,
            Item::Assert(a) => a.span,
            Item::Test(t) => t.span,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Effect {
    Allow,
    Deny,
    Approve,
    Hide,
}

impl Effect {
    pub fn keyword(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
            Effect::Approve => "approve",
            Effect::Hide => "hide",
        }
    }

    pub fn from_keyword(word: &str) -> Option<Effect> {
        match word {
            "allow" => Some(Effect::Allow),
            "deny" => Some(Effect::Deny),
            "approve" => Some(Effect::Approve),
            "hide" => Some(Effect::Hide),
            _ => None,
        }
    }
}

/// `default allow|deny [because "…"]`
#[derive(Clone, Debug, PartialEq)]
pub struct Default {
    pub effect: Spanned<Effect>,
    pub because: Option<StrLit>,
    pub span: Span,
}

/// `risk TOOL, … is CLASS`: the risk class of these tools (exact names or globs), whatever the
/// classifier says.
#[derive(Clone, Debug, PartialEq)]
pub struct RiskOverride {
    pub tools: Vec<Pattern>,
    pub class: Spanned<String>,
    pub span: Span,
}

/// `[name:] EFFECT TARGETS CLAUSE*`
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub name: Option<Spanned<String>>,
    pub effect: Spanned<Effect>,
    pub targets: Vec<Target>,
    pub clauses: Vec<Clause>,
    pub span: Span,
}

impl Rule {
    /// The span of the rule's head: name, effect and targets.
    pub fn head_span(&self) -> Span {
        let start = self.name.as_ref().map_or(self.effect.span, |n| n.span);
        let end = self.targets.last().map_or(self.effect.span, |t| t.span);
        start.to(end)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Clause {
    When(Expr, Span),
    Because(StrLit, Span),
    Limit(Limit),
}

impl Clause {
    pub fn span(&self) -> Span {
        match self {
            Clause::When(_, s) | Clause::Because(_, s) => *s,
            Clause::Limit(l) => l.span,
        }
    }
}

/// `[server::]tool`, each part a bare pattern or a quoted string; or, in a rule's or an
/// assertion's targets, `risk CLASS` (every tool of that risk class).
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub server: Option<Pattern>,
    /// For `risk CLASS`, the class name as written.
    pub tool: Pattern,
    /// Whether this is `risk CLASS` (then `server` is `None`).
    pub risk: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    /// The pattern text after unquoting (for quoted patterns, the decoded string).
    pub text: String,
    /// The source text, quotes included.
    pub raw: String,
    pub quoted: bool,
    pub span: Span,
}

/// `limit N per WINDOW per SCOPE [as NAME]`
#[derive(Clone, Debug, PartialEq)]
pub struct Limit {
    pub max: NumLit,
    pub window: Spanned<String>,
    pub scope: Spanned<String>,
    pub counter: Option<Spanned<String>>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Or(Vec<Expr>, Span),
    And(Vec<Expr>, Span),
    Not(Box<Expr>, Span),
    Group(Box<Expr>, Span),
    Bool(bool, Span),
    Compare(Compare),
}

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::Or(_, s)
            | Expr::And(_, s)
            | Expr::Not(_, s)
            | Expr::Group(_, s)
            | Expr::Bool(_, s) => *s,
            Expr::Compare(c) => c.span,
        }
    }
}

/// `OPERAND [OP VALUE | exists]`
#[derive(Clone, Debug, PartialEq)]
pub struct Compare {
    pub operand: Operand,
    pub test: Option<Test>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Test {
    Exists(Span),
    Op(Spanned<Op>, Value),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    Matches,
    StartsWith,
    EndsWith,
    Contains,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::In => "in",
            Op::NotIn => "not in",
            Op::Matches => "matches",
            Op::StartsWith => "startswith",
            Op::EndsWith => "endswith",
            Op::Contains => "contains",
        }
    }
}

/// `root(.field | [index] | ["key"])*`, as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Operand {
    pub root: Spanned<String>,
    pub segments: Vec<Spanned<Segment>>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Segment {
    Field(String),
    Index(String),
    Key(StrLit),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Literal(Literal),
    List(Vec<Literal>, Span),
    Regex(Spanned<String>),
}

impl Value {
    pub fn span(&self) -> Span {
        match self {
            Value::Literal(l) => l.span(),
            Value::List(_, s) => *s,
            Value::Regex(r) => r.span,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Str(StrLit),
    Num(NumLit),
    Bool(bool, Span),
    Null(Span),
}

impl Literal {
    pub fn span(&self) -> Span {
        match self {
            Literal::Str(s) => s.span,
            Literal::Num(n) => n.span,
            Literal::Bool(_, s) | Literal::Null(s) => *s,
        }
    }
}

/// A string literal: its source text with quotes, and the span. Decoding happens in `lower`.
#[derive(Clone, Debug, PartialEq)]
pub struct StrLit {
    pub raw: String,
    pub span: Span,
}

/// A number literal: its source text and span.
#[derive(Clone, Debug, PartialEq)]
pub struct NumLit {
    pub raw: String,
    pub span: Span,
}

/// `assert never|always EFFECT TARGETS [when COND]`
#[derive(Clone, Debug, PartialEq)]
pub struct Assert {
    pub always: Spanned<bool>,
    pub effect: Spanned<Effect>,
    pub targets: Vec<Target>,
    pub when: Option<Expr>,
    pub span: Span,
}

/// `test "name" { case* }`
#[derive(Clone, Debug, PartialEq)]
pub struct TestBlock {
    pub name: StrLit,
    pub cases: Vec<TestCase>,
    pub span: Span,
}

/// `call TARGET [{json}] [with k v, …] => EFFECT [by RULE]`
#[derive(Clone, Debug, PartialEq)]
pub struct TestCase {
    pub target: Target,
    pub arguments: Option<Json>,
    pub with: Vec<WithItem>,
    pub expect: Spanned<String>,
    pub by: Option<Spanned<String>>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct WithItem {
    pub key: Spanned<String>,
    pub value: Json,
    pub span: Span,
}

/// A JSON value as written in a test: its source text and its span. Parsed in `lower`.
#[derive(Clone, Debug, PartialEq)]
pub struct Json {
    pub raw: String,
    pub span: Span,
}
