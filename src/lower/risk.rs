//! Risk classes in a policy: `risk TOOLS is CLASS` overrides, `risk CLASS` targets, and the
//! class names `tool.risk` is compared with.
//!
//! A rule's `risk CLASS` targets lower to one target matching every tool (`*`) and the
//! condition `tool.risk in [CLASS, …]` joined to the rule's own: every later stage sees only
//! a condition on [`Operand::Risk`]. A rule cannot mix them with tool names (its targets would
//! need a condition per target); lowering says so ([`code::MIXED_RISK_TARGETS`]).

use super::{Ctx, suggest};
use crate::ast;
use crate::diagnostic::{Diagnostic, code};
use crate::glob::Glob;
use crate::ir::{
    Cond, Literal, NamePattern, Operand, Pred, RiskOverride, RiskOverrides, Target, Test,
};
use crate::risk::Risk;
use crate::source::Span;
use std::collections::HashMap;

impl Ctx {
    /// A risk class by name, or a diagnostic with a did-you-mean.
    pub(super) fn risk_class(&mut self, name: &str, span: Span) -> Option<Risk> {
        let found = Risk::from_name(name);
        if found.is_none() {
            self.push(
                Diagnostic::new(
                    code::UNKNOWN_RISK_CLASS,
                    span,
                    format!("there is no risk class `{name}`"),
                )
                .help(suggest(name, Risk::ALL.map(Risk::name))),
            );
        }
        found
    }

    /// Every `risk TOOLS is CLASS` of a policy.
    pub(super) fn risk_overrides(&mut self, items: &[&ast::RiskOverride]) -> RiskOverrides {
        let mut seen: HashMap<String, (Risk, Span)> = HashMap::new();
        let mut out = RiskOverrides::default();
        for o in items {
            let Some(risk) = self.risk_class(&o.class.node, o.class.span) else {
                continue;
            };
            for p in &o.tools {
                let Some(tool) = self.name_pattern(p) else {
                    continue;
                };
                match seen.get(tool.as_str()) {
                    Some((first, _)) if *first == risk => continue,
                    Some((first, at)) => {
                        self.push(
                            Diagnostic::new(
                                code::CONFLICTING_RISK_OVERRIDE,
                                p.span,
                                format!("`{}` is given the risk class `{risk}` here", p.text),
                            )
                            .secondary(*at, format!("and `{first}` here"))
                            .help("keep one of the two"),
                        );
                        continue;
                    }
                    None => {}
                }
                seen.insert(tool.as_str().to_owned(), (risk, p.span));
                out.list.push(RiskOverride {
                    tool,
                    risk,
                    span: p.span,
                });
            }
        }
        out
    }

    /// A rule's or an assertion's targets, and the risk condition its `risk CLASS` targets add.
    pub(super) fn targets_and_risk(
        &mut self,
        targets: &[ast::Target],
    ) -> (Vec<Target>, Option<Cond>) {
        let (risky, named): (Vec<&ast::Target>, Vec<&ast::Target>) =
            targets.iter().partition(|t| t.risk);
        let Some(first) = risky.first() else {
            return (self.targets(targets), None);
        };
        if let Some(name) = named.first() {
            self.push(
                Diagnostic::new(
                    code::MIXED_RISK_TARGETS,
                    name.span,
                    "a rule lists tools by name and by risk class",
                )
                .secondary(first.span, "a risk class target")
                .help("write two rules: one for the named tools, one for `risk …`"),
            );
            return (Vec::new(), None);
        }
        let mut classes = Vec::new();
        let mut seen: HashMap<Risk, Span> = HashMap::new();
        for t in &risky {
            let Some(r) = self.risk_class(&t.tool.text, t.tool.span) else {
                continue;
            };
            if let Some(at) = seen.get(&r) {
                self.push(
                    Diagnostic::new(
                        code::DUPLICATE_TARGET,
                        t.span,
                        format!("`risk {r}` is named twice"),
                    )
                    .secondary(*at, "first here")
                    .help("delete one"),
                );
                continue;
            }
            seen.insert(r, t.span);
            classes.push(Literal::Str(r.name().to_owned()));
        }
        let span = first.span.to(risky.last().map_or(first.span, |t| t.span));
        let every_tool = match Glob::parse("*") {
            Ok(g) => NamePattern::Glob(g),
            Err(_) => NamePattern::Exact(String::new()),
        };
        let target = Target {
            server: None,
            tool: every_tool,
            span,
        };
        let test = Cond::Test(Test {
            operand: Operand::Risk,
            pred: Pred::In(classes),
            span,
        });
        (vec![target], Some(test))
    }
}

/// `risk` joined to `condition` (a rule's `when`), keeping `True` out.
pub(super) fn join(risk: Option<Cond>, condition: Cond) -> Cond {
    match (risk, condition) {
        (None, c) => c,
        (Some(r), Cond::True) => r,
        (Some(r), c) => Cond::And(vec![r, c]),
    }
}
