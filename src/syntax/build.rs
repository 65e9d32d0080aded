//! pest pairs → AST. The grammar guarantees each pair's shape, so a pair that does not have the
//! expected shape is a grammar/builder mismatch; the builder degrades (empty text, skipped
//! item) instead of panicking, and the tests cover every construct.

use super::Rule;
use super::comments::Comment;
use crate::ast::*;
use crate::source::{FileId, Span, Spanned};
use pest::iterators::Pair;

type P<'a> = Pair<'a, Rule>;

/// What the builder needs besides the pairs: the file id, and the comments, to trim spans.
pub(super) struct B<'t> {
    pub file: FileId,
    pub text: &'t str,
    pub comments: Vec<Comment>,
}

/// A pair's span without the whitespace and comments that pest leaves at the end of a rule
/// whose last element is optional or repeated.
fn span(b: &B, pair: &P) -> Span {
    let s = pair.as_span();
    let mut end = s.end();
    loop {
        let trimmed = b.text[s.start()..end].trim_end().len() + s.start();
        end = trimmed;
        match b
            .comments
            .iter()
            .find(|c| c.start < end && end <= c.end && c.start >= s.start())
        {
            Some(c) => end = c.start,
            None => break,
        }
    }
    Span::new(b.file, s.start(), end)
}

fn spanned(file: &B, pair: &P) -> Spanned<String> {
    Spanned::new(pair.as_str().to_string(), span(file, pair))
}

pub(super) fn file(f: &B, pair: P) -> File {
    let sp = span(f, &pair);
    let policies = pair
        .into_inner()
        .filter(|p| p.as_rule() == Rule::policy)
        .map(|p| policy(f, p))
        .collect();
    File { policies, span: sp }
}

fn policy(f: &B, pair: P) -> Policy {
    let sp = span(f, &pair);
    let mut name = Spanned::new(String::new(), sp);
    let mut items = Vec::new();
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::policy_name => name = spanned(f, &p),
            Rule::default_stmt => items.push(Item::Default(default(f, p))),
            Rule::risk_stmt => items.push(Item::Risk(risk_override(f, p))),
            Rule::rule => items.push(Item::Rule(rule(f, p))),
            Rule::assert_stmt => items.push(Item::Assert(assertion(f, p))),
            Rule::test_block => items.push(Item::Test(test_block(f, p))),
            _ => {}
        }
    }
    Policy {
        name,
        items,
        span: sp,
    }
}

fn effect_of(f: &B, pair: &P) -> Spanned<Effect> {
    let word = pair.as_str().trim();
    Spanned::new(
        Effect::from_keyword(word).unwrap_or(Effect::Deny),
        span(f, pair),
    )
}

fn default(f: &B, pair: P) -> Default {
    let sp = span(f, &pair);
    let mut effect = Spanned::new(Effect::Deny, sp);
    let mut because = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::default_effect => effect = effect_of(f, &p),
            Rule::because => {
                because = p
                    .into_inner()
                    .find(|q| q.as_rule() == Rule::string)
                    .map(|s| str_lit(f, &s))
            }
            _ => {}
        }
    }
    Default {
        effect,
        because,
        span: sp,
    }
}

fn rule(f: &B, pair: P) -> Rule_ {
    let sp = span(f, &pair);
    let mut name = None;
    let mut effect = Spanned::new(Effect::Deny, sp);
    let mut targets = Vec::new();
    let mut clauses = Vec::new();
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::rule_name => name = Some(spanned(f, &p)),
            Rule::effect => effect = effect_of(f, &p),
            Rule::targets => targets = p.into_inner().map(|t| target(f, t)).collect(),
            Rule::when => {
                let csp = span(f, &p);
                if let Some(c) = p.into_inner().find(|q| q.as_rule() == Rule::cond) {
                    clauses.push(Clause::When(cond(f, c), csp));
                }
            }
            Rule::because => {
                let csp = span(f, &p);
                if let Some(s) = p.into_inner().find(|q| q.as_rule() == Rule::string) {
                    clauses.push(Clause::Because(str_lit(f, &s), csp));
                }
            }
            Rule::limit => clauses.push(Clause::Limit(limit(f, p))),
            _ => {}
        }
    }
    Rule_ {
        name,
        effect,
        targets,
        clauses,
        span: sp,
    }
}

type Rule_ = crate::ast::Rule;

fn risk_override(f: &B, pair: P) -> RiskOverride {
    let sp = span(f, &pair);
    let mut tools = Vec::new();
    let mut class = Spanned::new(String::new(), sp);
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::pattern => tools.push(pattern(f, p)),
            Rule::risk_class => class = spanned(f, &p),
            _ => {}
        }
    }
    RiskOverride {
        tools,
        class,
        span: sp,
    }
}

fn target(f: &B, pair: P) -> Target {
    let sp = span(f, &pair);
    if pair.as_rule() == Rule::risk_target {
        let class = pair
            .into_inner()
            .find(|p| p.as_rule() == Rule::risk_class)
            .map_or(
                Pattern {
                    text: String::new(),
                    raw: String::new(),
                    quoted: false,
                    span: sp,
                },
                |p| pattern(f, p),
            );
        return Target {
            server: None,
            tool: class,
            risk: true,
            span: sp,
        };
    }
    let mut parts: Vec<Pattern> = pair.into_inner().map(|p| pattern(f, p)).collect();
    let tool = parts.pop().unwrap_or(Pattern {
        text: String::new(),
        raw: String::new(),
        quoted: false,
        span: sp,
    });
    Target {
        server: parts.pop(),
        tool,
        risk: false,
        span: sp,
    }
}

fn pattern(f: &B, pair: P) -> Pattern {
    let sp = span(f, &pair);
    let raw = pair.as_str().to_string();
    let quoted = raw.starts_with('"');
    let text = if quoted {
        serde_json::from_str::<String>(&raw).unwrap_or_else(|_| raw.trim_matches('"').to_string())
    } else {
        raw.clone()
    };
    Pattern {
        text,
        raw,
        quoted,
        span: sp,
    }
}

fn limit(f: &B, pair: P) -> Limit {
    let sp = span(f, &pair);
    let mut max = NumLit {
        raw: String::new(),
        span: sp,
    };
    let mut window = Spanned::new(String::new(), sp);
    let mut scope = Spanned::new(String::new(), sp);
    let mut counter = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::number => max = num_lit(f, &p),
            Rule::window => window = spanned(f, &p),
            Rule::scope => scope = spanned(f, &p),
            Rule::counter_name => counter = Some(spanned(f, &p)),
            _ => {}
        }
    }
    Limit {
        max,
        window,
        scope,
        counter,
        span: sp,
    }
}

fn str_lit(f: &B, pair: &P) -> StrLit {
    StrLit {
        raw: pair.as_str().to_string(),
        span: span(f, pair),
    }
}

fn num_lit(f: &B, pair: &P) -> NumLit {
    NumLit {
        raw: pair.as_str().to_string(),
        span: span(f, pair),
    }
}

pub(super) fn cond(f: &B, pair: P) -> Expr {
    let sp = span(f, &pair);
    match pair.as_rule() {
        Rule::cond | Rule::not_expr => match pair.into_inner().next() {
            Some(inner) => cond(f, inner),
            None => Expr::Bool(false, sp),
        },
        Rule::group => {
            let body = pair.into_inner().next().map(|c| cond(f, c));
            Expr::Group(Box::new(body.unwrap_or(Expr::Bool(false, sp))), sp)
        }
        Rule::or_expr | Rule::and_expr => {
            let is_or = pair.as_rule() == Rule::or_expr;
            let mut parts: Vec<Expr> = pair
                .into_inner()
                .filter(|p| !matches!(p.as_rule(), Rule::kw_or | Rule::kw_and))
                .map(|p| cond(f, p))
                .collect();
            if parts.len() == 1 {
                parts.pop().unwrap_or(Expr::Bool(false, sp))
            } else if is_or {
                Expr::Or(parts, sp)
            } else {
                Expr::And(parts, sp)
            }
        }
        Rule::negation => {
            let inner = pair
                .into_inner()
                .find(|p| p.as_rule() == Rule::not_expr)
                .map(|p| cond(f, p));
            Expr::Not(Box::new(inner.unwrap_or(Expr::Bool(false, sp))), sp)
        }
        Rule::bool_lit => Expr::Bool(pair.as_str().trim() == "true", sp),
        Rule::comparison => Expr::Compare(compare(f, pair)),
        _ => Expr::Bool(false, sp),
    }
}

fn compare(f: &B, pair: P) -> Compare {
    let sp = span(f, &pair);
    let mut operand_ast = None;
    let mut op = None;
    let mut test = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::operand => operand_ast = Some(operand(f, p)),
            Rule::kw_exists => test = Some(Test::Exists(span(f, &p))),
            Rule::op => op = Some(Spanned::new(op_of(p.as_str()), span(f, &p))),
            Rule::value => {
                if let Some(o) = op.take() {
                    test = Some(Test::Op(o, value(f, p)));
                }
            }
            _ => {}
        }
    }
    Compare {
        operand: operand_ast.unwrap_or(Operand {
            root: Spanned::new(String::new(), sp),
            segments: Vec::new(),
            span: sp,
        }),
        test,
        span: sp,
    }
}

fn op_of(text: &str) -> Op {
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        ["=="] => Op::Eq,
        ["!="] => Op::Ne,
        ["<"] => Op::Lt,
        ["<="] => Op::Le,
        [">"] => Op::Gt,
        [">="] => Op::Ge,
        ["in"] => Op::In,
        ["not", "in"] => Op::NotIn,
        ["matches"] => Op::Matches,
        ["startswith"] => Op::StartsWith,
        ["endswith"] => Op::EndsWith,
        _ => Op::Contains,
    }
}

fn operand(f: &B, pair: P) -> Operand {
    let sp = span(f, &pair);
    let mut root = Spanned::new(String::new(), sp);
    let mut segments = Vec::new();
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::root => root = spanned(f, &p),
            Rule::segment => {
                let ssp = span(f, &p);
                if let Some(inner) = p.into_inner().next() {
                    let seg = match inner.as_rule() {
                        Rule::field => Segment::Field(inner.as_str().to_string()),
                        Rule::index => Segment::Index(inner.as_str().to_string()),
                        _ => Segment::Key(str_lit(f, &inner)),
                    };
                    segments.push(Spanned::new(seg, ssp));
                }
            }
            _ => {}
        }
    }
    Operand {
        root,
        segments,
        span: sp,
    }
}

fn value(f: &B, pair: P) -> Value {
    let sp = span(f, &pair);
    match pair.into_inner().next() {
        Some(p) if p.as_rule() == Rule::list => {
            let lsp = span(f, &p);
            Value::List(p.into_inner().map(|l| literal(f, l)).collect(), lsp)
        }
        Some(p) if p.as_rule() == Rule::regex => {
            let rsp = span(f, &p);
            let body = p
                .into_inner()
                .next()
                .map(|b| b.as_str().to_string())
                .unwrap_or_default();
            Value::Regex(Spanned::new(body, rsp))
        }
        Some(p) => Value::Literal(literal(f, p)),
        None => Value::Literal(Literal::Null(sp)),
    }
}

fn literal(f: &B, pair: P) -> Literal {
    let sp = span(f, &pair);
    match pair.into_inner().next() {
        Some(p) => match p.as_rule() {
            Rule::string => Literal::Str(str_lit(f, &p)),
            Rule::number => Literal::Num(num_lit(f, &p)),
            Rule::kw_true => Literal::Bool(true, sp),
            Rule::kw_false => Literal::Bool(false, sp),
            _ => Literal::Null(sp),
        },
        None => Literal::Null(sp),
    }
}

fn assertion(f: &B, pair: P) -> Assert {
    let sp = span(f, &pair);
    let mut always = Spanned::new(false, sp);
    let mut effect = Spanned::new(Effect::Allow, sp);
    let mut targets = Vec::new();
    let mut when = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::quantifier => always = Spanned::new(p.as_str().trim() == "always", span(f, &p)),
            Rule::effect => effect = effect_of(f, &p),
            Rule::targets => targets = p.into_inner().map(|t| target(f, t)).collect(),
            Rule::cond => when = Some(cond(f, p)),
            _ => {}
        }
    }
    Assert {
        always,
        effect,
        targets,
        when,
        span: sp,
    }
}

fn test_block(f: &B, pair: P) -> TestBlock {
    let sp = span(f, &pair);
    let mut name = StrLit {
        raw: String::new(),
        span: sp,
    };
    let mut cases = Vec::new();
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::string => name = str_lit(f, &p),
            Rule::test_case => cases.push(test_case(f, p)),
            _ => {}
        }
    }
    TestBlock {
        name,
        cases,
        span: sp,
    }
}

fn test_case(f: &B, pair: P) -> TestCase {
    let sp = span(f, &pair);
    let mut case = TestCase {
        target: Target {
            server: None,
            tool: Pattern {
                text: String::new(),
                raw: String::new(),
                quoted: false,
                span: sp,
            },
            risk: false,
            span: sp,
        },
        arguments: None,
        with: Vec::new(),
        expect: Spanned::new(String::new(), sp),
        by: None,
        span: sp,
    };
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::target => case.target = target(f, p),
            Rule::json_object => case.arguments = Some(json(f, &p)),
            Rule::with_clause => {
                for item in p.into_inner().filter(|i| i.as_rule() == Rule::with_item) {
                    let isp = span(f, &item);
                    let mut key = Spanned::new(String::new(), isp);
                    let mut val = Json {
                        raw: String::new(),
                        span: isp,
                    };
                    for q in item.into_inner() {
                        match q.as_rule() {
                            Rule::with_key => key = spanned(f, &q),
                            Rule::json => val = json(f, &q),
                            _ => {}
                        }
                    }
                    case.with.push(WithItem {
                        key,
                        value: val,
                        span: isp,
                    });
                }
            }
            Rule::expectation => {
                for q in p.into_inner() {
                    match q.as_rule() {
                        Rule::expected_effect => case.expect = spanned(f, &q),
                        Rule::rule_ref => case.by = Some(spanned(f, &q)),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    case
}

fn json(f: &B, pair: &P) -> Json {
    Json {
        raw: pair.as_str().to_string(),
        span: span(f, pair),
    }
}
