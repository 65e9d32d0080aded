//! Conditions: operands resolved, operators typed against their values, regexes and globs
//! compiled, and the lints that need only the syntax of one condition.

use super::{Ctx, suggest};
use crate::ast::{self, Op};
use crate::diagnostic::{Diagnostic, code};
use crate::glob::Glob;
use crate::ir::{
    Annotation, CmpOp, Cond, Effect, JsonType, Literal, Operand, PathSeg, Policy, Pred, Regex,
    Test, path_text,
};
use crate::source::Span;
use std::collections::BTreeMap;

const ROOTS: [&str; 5] = ["args", "grant", "agent", "session", "tool"];

/// What an operand can hold, as far as lowering knows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Any JSON value (arguments).
    Json,
    /// Always a string when present (identity).
    Str,
    /// Always a boolean (tool annotations).
    Bool,
    /// Always one of the risk class names (`tool.risk`).
    Risk,
}

impl Ctx {
    /// Lowers a `when` condition of a rule with the given effect.
    pub(super) fn condition(&mut self, e: &ast::Expr, effect: Effect) -> Cond {
        self.expr(e, effect, true)
    }

    /// Lowers an assertion's condition (no deny lints: it does not decide anything).
    pub(super) fn plain_condition(&mut self, e: &ast::Expr) -> Cond {
        self.expr(e, Effect::Allow, true)
    }

    fn expr(&mut self, e: &ast::Expr, effect: Effect, positive: bool) -> Cond {
        match e {
            ast::Expr::Or(parts, _) => Cond::Or(
                parts
                    .iter()
                    .map(|p| self.expr(p, effect, positive))
                    .collect(),
            ),
            ast::Expr::And(parts, _) => Cond::And(
                parts
                    .iter()
                    .map(|p| self.expr(p, effect, positive))
                    .collect(),
            ),
            ast::Expr::Not(inner, _) => Cond::Not(Box::new(self.expr(inner, effect, !positive))),
            ast::Expr::Group(inner, _) => self.expr(inner, effect, positive),
            ast::Expr::Bool(b, _) => {
                if *b {
                    Cond::True
                } else {
                    Cond::False
                }
            }
            ast::Expr::Compare(c) => match self.compare(c, effect, positive) {
                Some(t) => Cond::Test(t),
                // An ill-formed comparison has an error diagnostic; `False` keeps the rest
                // of the policy lowerable.
                None => Cond::False,
            },
        }
    }

    fn compare(&mut self, c: &ast::Compare, effect: Effect, positive: bool) -> Option<Test> {
        let (operand, kind) = self.operand(&c.operand)?;
        let subject = operand_text(&c.operand);
        let pred = match &c.test {
            None => match kind {
                Kind::Json | Kind::Bool => Pred::Eq(Literal::Bool(true)),
                Kind::Str | Kind::Risk => {
                    self.push(
                        Diagnostic::new(
                            code::NON_BOOLEAN_CONDITION,
                            c.span,
                            format!(
                                "`{subject}` is {}, not a condition",
                                if kind == Kind::Risk {
                                    "a risk class"
                                } else {
                                    "a string"
                                }
                            ),
                        )
                        .help(format!("compare it: `{subject} == \"…\"`")),
                    );
                    return None;
                }
            },
            Some(ast::Test::Exists(_)) => Pred::Exists,
            Some(ast::Test::Op(op, value)) => {
                let pred = self.predicate(op.node, op.span, value, kind, c)?;
                if kind == Kind::Risk && !self.risk_names(value) {
                    return None;
                }
                pred
            }
        };
        let restrictive = matches!(effect, Effect::Deny | Effect::Approve | Effect::Hide);
        if restrictive
            && positive
            && matches!(operand, Operand::Arg(_))
            && matches!(pred, Pred::Ne(_) | Pred::NotIn(_))
        {
            let path = operand_text(&c.operand);
            let op = if matches!(pred, Pred::Ne(_)) {
                "!="
            } else {
                "not in"
            };
            let positive_op = if op == "!=" { "==" } else { "in" };
            self.push(
                Diagnostic::new(
                    code::NEGATED_COMPARISON_IN_DENY,
                    c.span,
                    format!(
                        "this {} does not apply when `{path}` is absent",
                        effect.keyword()
                    ),
                )
                .label(format!(
                    "`{op}` is false when `{path}` is missing or not of the compared type"
                ))
                .help(format!(
                    "to also catch calls without it, write `not ({path} {positive_op} …)`"
                )),
            );
        }
        Some(Test {
            operand,
            pred,
            span: c.span,
        })
    }

    fn operand(&mut self, o: &ast::Operand) -> Option<(Operand, Kind)> {
        let root = o.root.node.as_str();
        let ident = |op: Operand| Some((op, Kind::Str));
        let no_path = |ctx: &mut Ctx, what: &str| -> bool {
            if let Some(seg) = o.segments.first() {
                ctx.push(
                    Diagnostic::new(
                        code::PATH_ON_SCALAR,
                        seg.span.to(o.span),
                        format!("`{root}` is {what} and has no fields"),
                    )
                    .help(format!("compare `{root}` itself")),
                );
                return false;
            }
            true
        };
        match root {
            "args" => {
                if o.segments.is_empty() {
                    self.push(
                        Diagnostic::new(code::MISSING_ARGUMENT_PATH, o.span, "`args` needs a path")
                            .help("name an argument, e.g. `args.namespace` or `args[\"odd key\"]`"),
                    );
                    return None;
                }
                let mut path = Vec::new();
                for seg in &o.segments {
                    path.push(match &seg.node {
                        ast::Segment::Field(f) => PathSeg::Key(f.clone()),
                        ast::Segment::Key(k) => PathSeg::Key(self.string(k)?),
                        ast::Segment::Index(i) => match i.parse::<usize>() {
                            Ok(n) => PathSeg::Index(n),
                            Err(_) => {
                                self.push(Diagnostic::new(
                                    code::INVALID_NUMBER,
                                    seg.span,
                                    format!("index `{i}` is too large"),
                                ));
                                return None;
                            }
                        },
                    });
                }
                Some((Operand::Arg(path), Kind::Json))
            }
            "grant" => no_path(self, "a string")
                .then_some(())
                .and_then(|_| ident(Operand::Grant)),
            "agent" => no_path(self, "a string")
                .then_some(())
                .and_then(|_| ident(Operand::Agent)),
            "session" => no_path(self, "a string")
                .then_some(())
                .and_then(|_| ident(Operand::Session)),
            "tool" => {
                let names: Vec<&str> = Annotation::ALL
                    .iter()
                    .map(|a| a.name())
                    .chain(["risk"])
                    .collect();
                let Some(first) = o.segments.first() else {
                    self.push(
                        Diagnostic::new(
                            code::UNKNOWN_ATTRIBUTE,
                            o.span,
                            "`tool` needs an attribute",
                        )
                        .help(suggest("", names.iter().copied())),
                    );
                    return None;
                };
                let name = match &first.node {
                    ast::Segment::Field(f) => f.clone(),
                    _ => String::new(),
                };
                let found = match Annotation::from_name(&name) {
                    Some(a) => Some((Operand::Annotation(a), Kind::Bool, "a boolean")),
                    None if name == "risk" => Some((Operand::Risk, Kind::Risk, "a risk class")),
                    None => None,
                };
                let Some((operand, kind, what)) = found else {
                    self.push(
                        Diagnostic::new(
                            code::UNKNOWN_ATTRIBUTE,
                            first.span,
                            format!("tools have no attribute `{name}`"),
                        )
                        .help(suggest(&name, names.iter().copied())),
                    );
                    return None;
                };
                if let Some(extra) = o.segments.get(1) {
                    self.push(
                        Diagnostic::new(
                            code::PATH_ON_SCALAR,
                            extra.span,
                            format!("`tool.{name}` is {what} and has no fields"),
                        )
                        .help(format!("use `tool.{name}` itself")),
                    );
                    return None;
                }
                Some((operand, kind))
            }
            other => {
                self.push(
                    Diagnostic::new(
                        code::UNKNOWN_IDENTIFIER,
                        o.root.span,
                        format!("unknown name `{other}`"),
                    )
                    .label("not something a condition can look at")
                    .help(suggest(other, ROOTS)),
                );
                None
            }
        }
    }

    fn predicate(
        &mut self,
        op: Op,
        op_span: Span,
        value: &ast::Value,
        kind: Kind,
        c: &ast::Compare,
    ) -> Option<Pred> {
        let subject = operand_text(&c.operand);
        // 1. The operator's own demands on the value's shape.
        let wants = match op {
            Op::In | Op::NotIn => "a list",
            Op::Lt | Op::Le | Op::Gt | Op::Ge => "a number",
            Op::Matches => "a glob string or a /regex/",
            Op::StartsWith | Op::EndsWith => "a string",
            Op::Eq | Op::Ne | Op::Contains => "a single value",
        };
        let shape_ok = match (op, value) {
            (Op::In | Op::NotIn, ast::Value::List(..)) => true,
            (Op::In | Op::NotIn, _) => false,
            (_, ast::Value::List(..)) => false,
            (Op::Matches, ast::Value::Regex(_) | ast::Value::Literal(ast::Literal::Str(_))) => true,
            (_, ast::Value::Regex(_)) => false,
            (Op::Lt | Op::Le | Op::Gt | Op::Ge, ast::Value::Literal(ast::Literal::Num(_))) => true,
            (Op::Lt | Op::Le | Op::Gt | Op::Ge, _) => false,
            (Op::StartsWith | Op::EndsWith, ast::Value::Literal(ast::Literal::Str(_))) => true,
            (Op::Matches | Op::StartsWith | Op::EndsWith, _) => false,
            _ => true,
        };
        if !shape_ok {
            let hint = match op {
                Op::Lt | Op::Le | Op::Gt | Op::Ge => "order comparisons take numbers; strings compare with `==`, `startswith`, `matches`".to_string(),
                Op::In | Op::NotIn => format!("write `{subject} {} [ … ]`", op.symbol()),
                _ => format!("give `{}` {wants}", op.symbol()),
            };
            self.push(
                Diagnostic::new(
                    code::OPERATOR_TYPE_MISMATCH,
                    value.span(),
                    format!("`{}` takes {wants}", op.symbol()),
                )
                .secondary(op_span, "this operator")
                .help(hint),
            );
            return None;
        }
        // 2. The operand's type against the value's.
        let operand_takes = |lit: &Literal| match kind {
            Kind::Json => true,
            Kind::Str | Kind::Risk => matches!(lit, Literal::Str(_)),
            Kind::Bool => matches!(lit, Literal::Bool(_)),
        };
        let kind_name = match kind {
            Kind::Json => "any JSON value",
            Kind::Str => "a string",
            Kind::Bool => "a boolean",
            Kind::Risk => "a risk class",
        };
        let op_fits_kind = match kind {
            Kind::Json => true,
            Kind::Str => !matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge),
            Kind::Bool | Kind::Risk => matches!(op, Op::Eq | Op::Ne | Op::In | Op::NotIn),
        };
        if !op_fits_kind {
            self.push(
                Diagnostic::new(
                    code::OPERAND_TYPE_MISMATCH,
                    c.span,
                    format!("`{subject}` is {kind_name}, which `{}` never takes", op.symbol()),
                )
                .label("always false")
                .help(match kind {
                    Kind::Bool => format!("test the attribute itself: `{subject}` or `not {subject}`"),
                    Kind::Risk => format!("compare classes with `==`, `!=`, `in` or `not in`: `{subject} in [\"destructive\", \"financial\"]`"),
                    _ => "compare strings with `==`, `in`, `startswith`, `endswith`, `contains` or `matches`".to_string(),
                }),
            );
            return None;
        }
        let mismatch = |ctx: &mut Ctx, span: Span, lit: &Literal| {
            ctx.push(
                Diagnostic::new(
                    code::OPERAND_TYPE_MISMATCH,
                    span,
                    format!(
                        "`{subject}` is {kind_name}, never a {}",
                        lit.json_type().name()
                    ),
                )
                .secondary(c.operand.span, "this operand")
                .label("so this comparison is always false")
                .help(match kind {
                    Kind::Str => "quote the value".to_string(),
                    Kind::Risk => "name a class in quotes: `\"read\"`, `\"write\"`, `\"execute\"`, `\"destructive\"` or `\"financial\"`".to_string(),
                    _ => "write `true` or `false`".to_string(),
                }),
            );
        };
        // 3. Build the predicate.
        Some(match value {
            ast::Value::Regex(r) => {
                let source = r.node.replace("\\/", "/");
                match regex::Regex::new(&source) {
                    Ok(compiled) => Pred::Regex(Regex { source, compiled }),
                    Err(e) => {
                        self.push(
                            Diagnostic::new(code::INVALID_REGEX, r.span, "this regex does not compile")
                                .note(e.to_string())
                                .help("warden uses the Rust `regex` crate's syntax (no look-around, no backreferences)"),
                        );
                        return None;
                    }
                }
            }
            ast::Value::List(items, span) => {
                let mut list = Vec::new();
                for item in items {
                    let lit = self.literal(item)?;
                    if !operand_takes(&lit) {
                        mismatch(self, item.span(), &lit);
                        return None;
                    }
                    list.push(lit);
                }
                if list.is_empty() {
                    self.push(
                        Diagnostic::new(
                            code::EMPTY_LIST,
                            *span,
                            format!("`{}` an empty list is always false", op.symbol()),
                        )
                        .help("list at least one value, or delete the comparison"),
                    );
                }
                if op == Op::In {
                    Pred::In(list)
                } else {
                    Pred::NotIn(list)
                }
            }
            ast::Value::Literal(l) => {
                let lit = self.literal(l)?;
                if !matches!(
                    op,
                    Op::Matches | Op::StartsWith | Op::EndsWith | Op::Contains
                ) && !operand_takes(&lit)
                {
                    mismatch(self, l.span(), &lit);
                    return None;
                }
                match (op, lit) {
                    (Op::Eq, lit) => Pred::Eq(lit),
                    (Op::Ne, lit) => Pred::Ne(lit),
                    (Op::Lt, Literal::Num(n)) => Pred::Cmp(CmpOp::Lt, n),
                    (Op::Le, Literal::Num(n)) => Pred::Cmp(CmpOp::Le, n),
                    (Op::Gt, Literal::Num(n)) => Pred::Cmp(CmpOp::Gt, n),
                    (Op::Ge, Literal::Num(n)) => Pred::Cmp(CmpOp::Ge, n),
                    (Op::StartsWith, Literal::Str(s)) => Pred::StartsWith(s),
                    (Op::EndsWith, Literal::Str(s)) => Pred::EndsWith(s),
                    (Op::Contains, lit) => {
                        if kind == Kind::Str && !matches!(lit, Literal::Str(_)) {
                            mismatch(self, l.span(), &lit);
                            return None;
                        }
                        Pred::Contains(lit)
                    }
                    (Op::Matches, Literal::Str(s)) => match Glob::parse(&s) {
                        Ok(g) => Pred::Glob(g),
                        Err(e) => {
                            self.push(
                                Diagnostic::new(code::INVALID_GLOB, l.span(), format!("invalid glob `{s}`"))
                                    .label(e.to_string())
                                    .help("`*` is any run of characters, `?` one character, `[a-z]` a class, `\\` escapes"),
                            );
                            return None;
                        }
                    },
                    // Shapes were checked above; anything else cannot reach here.
                    _ => return None,
                }
            }
        })
    }

    /// Whether every string compared with `tool.risk` names a class (each one that does not
    /// gets a diagnostic).
    fn risk_names(&mut self, value: &ast::Value) -> bool {
        let items: Vec<&ast::Literal> = match value {
            ast::Value::Literal(l) => vec![l],
            ast::Value::List(items, _) => items.iter().collect(),
            ast::Value::Regex(_) => Vec::new(),
        };
        let mut ok = true;
        for item in items {
            if let ast::Literal::Str(s) = item
                && let Some(name) = self.string(s)
            {
                ok &= self.risk_class(&name, s.span).is_some();
            }
        }
        ok
    }

    fn literal(&mut self, l: &ast::Literal) -> Option<Literal> {
        Some(match l {
            ast::Literal::Str(s) => Literal::Str(self.string(s)?),
            ast::Literal::Num(n) => Literal::Num(self.number(n)?),
            ast::Literal::Bool(b, _) => Literal::Bool(*b),
            ast::Literal::Null(_) => Literal::Null,
        })
    }

    /// WD2005: one argument compared as different JSON types across the policy.
    pub(super) fn argument_types(&mut self, policy: &Policy) {
        let mut seen: BTreeMap<Vec<PathSeg>, Vec<(JsonType, Span)>> = BTreeMap::new();
        let conds = policy
            .rules
            .iter()
            .map(|r| &r.condition)
            .chain(policy.assertions.iter().map(|a| &a.condition));
        for c in conds {
            visit_tests(c, &mut |t| {
                if let Operand::Arg(path) = &t.operand {
                    for ty in pred_types(&t.pred) {
                        seen.entry(path.clone()).or_default().push((ty, t.span));
                    }
                }
            });
        }
        for (path, uses) in seen {
            let Some((first_ty, first_span)) = uses.first().copied() else {
                continue;
            };
            if let Some((ty, span)) = uses.iter().copied().find(|(ty, _)| *ty != first_ty) {
                let name = path_text(&path);
                self.push(
                    Diagnostic::new(
                        code::INCONSISTENT_ARGUMENT_TYPE,
                        span,
                        format!(
                            "`{name}` is compared as a {} here and as a {} elsewhere",
                            ty.name(),
                            first_ty.name()
                        ),
                    )
                    .secondary(
                        first_span,
                        format!("compared as a {} here", first_ty.name()),
                    )
                    .help("one of the comparisons is always false: a value has one JSON type"),
                );
            }
        }
    }
}

/// The JSON types a predicate's literal commits the value to (none for type-agnostic ones).
fn pred_types(p: &Pred) -> Vec<JsonType> {
    let non_null = |l: &Literal| (l.json_type() != JsonType::Null).then(|| l.json_type());
    match p {
        Pred::Eq(l) | Pred::Ne(l) => non_null(l).into_iter().collect(),
        Pred::In(ls) | Pred::NotIn(ls) => {
            let mut tys: Vec<JsonType> = ls.iter().filter_map(non_null).collect();
            tys.sort();
            tys.dedup();
            // A deliberately mixed list says the argument may take several types.
            if tys.len() == 1 { tys } else { Vec::new() }
        }
        Pred::Cmp(..) => vec![JsonType::Number],
        Pred::Glob(_) | Pred::Regex(_) | Pred::StartsWith(_) | Pred::EndsWith(_) => {
            vec![JsonType::String]
        }
        Pred::Exists | Pred::Contains(_) => Vec::new(),
    }
}

pub use crate::ir::visit_tests;

/// Whether a condition looks at the call's arguments.
pub fn mentions_arguments(c: &Cond) -> bool {
    let mut found = false;
    visit_tests(c, &mut |t| found |= matches!(t.operand, Operand::Arg(_)));
    found
}

fn operand_text(o: &ast::Operand) -> String {
    let mut s = o.root.node.clone();
    for seg in &o.segments {
        match &seg.node {
            ast::Segment::Field(f) => {
                s.push('.');
                s.push_str(f);
            }
            ast::Segment::Index(i) => s.push_str(&format!("[{i}]")),
            ast::Segment::Key(k) => s.push_str(&format!("[{}]", k.raw)),
        }
    }
    s
}
