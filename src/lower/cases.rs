//! Assertions and test blocks: the statements that say what a policy must decide.

use super::{Ctx, suggest};
use crate::ast;
use crate::call::{Annotations, Call};
use crate::diagnostic::{Diagnostic, code};
use crate::ir::{Assertion, Cond, Effect, Policy, TestBlock, TestCase};
use crate::source::Span;
use serde_json::Value;
use std::collections::HashMap;

const EFFECTS: [&str; 4] = ["allow", "deny", "approve", "hide"];
const CALL_OPTIONS: [&str; 6] = ["grant", "agent", "session", "server", "annotations", "risk"];

impl Ctx {
    pub(super) fn assertion(&mut self, a: &ast::Assert) -> Option<Assertion> {
        let (targets, risk) = self.targets_and_risk(&a.targets);
        let condition = match &a.when {
            Some(e) => self.plain_condition(e),
            None => Cond::True,
        };
        let condition = super::risk::join(risk, condition);
        Some(Assertion {
            always: a.always.node,
            effect: a.effect.node,
            targets,
            condition,
            span: a.span,
        })
    }

    pub(super) fn tests(&mut self, blocks: &[&ast::TestBlock], policy: &Policy) -> Vec<TestBlock> {
        let mut names: HashMap<String, Span> = HashMap::new();
        let mut out = Vec::new();
        for b in blocks {
            let Some(name) = self.string(&b.name) else {
                continue;
            };
            if let Some(first) = names.get(&name) {
                self.push(
                    Diagnostic::new(
                        code::DUPLICATE_TEST_NAME,
                        b.name.span,
                        format!("a second test named `{name}`"),
                    )
                    .secondary(*first, "first here")
                    .help("test names must be unique within a policy: rename one"),
                );
                continue;
            }
            names.insert(name.clone(), b.name.span);
            let cases = b
                .cases
                .iter()
                .filter_map(|c| self.test_case(c, policy))
                .collect();
            out.push(TestBlock {
                name,
                cases,
                span: b.span,
            });
        }
        out
    }

    fn test_case(&mut self, c: &ast::TestCase, policy: &Policy) -> Option<TestCase> {
        let exact = |ctx: &mut Ctx, p: &ast::Pattern| -> Option<String> {
            if !p.quoted && crate::glob::Glob::has_metachar(&p.text) {
                ctx.push(
                    Diagnostic::new(
                        code::INVALID_TEST_CALL,
                        p.span,
                        format!("a call names one tool, not a pattern `{}`", p.text),
                    )
                    .help("write the exact name of a tool"),
                );
                return None;
            }
            Some(p.text.clone())
        };
        let tool = exact(self, &c.target.tool);
        let mut call = Call::new(tool.clone().unwrap_or_default());
        if let Some(s) = &c.target.server {
            call.server = exact(self, s);
        }
        let mut ok = tool.is_some();
        if let Some(args) = &c.arguments {
            match self.json(args, "the arguments") {
                Some(v @ Value::Object(_)) => call.arguments = Some(v),
                Some(_) => ok = false,
                None => ok = false,
            }
        }
        for item in &c.with {
            ok &= self.call_option(&mut call, item);
        }
        let expect = match Effect::from_keyword(&c.expect.node) {
            Some(e) => Some(e),
            None => {
                self.push(
                    Diagnostic::new(
                        code::UNKNOWN_EFFECT,
                        c.expect.span,
                        format!("unknown decision `{}`", c.expect.node),
                    )
                    .help(suggest(&c.expect.node, EFFECTS)),
                );
                None
            }
        };
        if let Some(by) = &c.by
            && by.node != "default"
            && policy.rule(&by.node).is_none()
        {
            let ids: Vec<&str> = policy
                .rules
                .iter()
                .map(|r| r.id.as_str())
                .chain(["default"])
                .collect();
            self.push(
                Diagnostic::new(
                    code::UNKNOWN_RULE,
                    by.span,
                    format!("no rule has the id `{}`", by.node),
                )
                .help(suggest(&by.node, ids.iter().copied())),
            );
            ok = false;
        }
        if !ok {
            return None;
        }
        Some(TestCase {
            call,
            expect: expect?,
            by: c.by.as_ref().map(|b| b.node.clone()),
            span: c.span,
        })
    }

    /// Applies one `with KEY VALUE`. Returns false (with a diagnostic) when it is not valid.
    fn call_option(&mut self, call: &mut Call, item: &ast::WithItem) -> bool {
        let key = item.key.node.as_str();
        if !CALL_OPTIONS.contains(&key) {
            self.push(
                Diagnostic::new(
                    code::UNKNOWN_CALL_OPTION,
                    item.key.span,
                    format!("a call has no `{key}`"),
                )
                .help(suggest(key, CALL_OPTIONS)),
            );
            return false;
        }
        let Some(value) = self.json(&item.value, &format!("`{key}`")) else {
            return false;
        };
        let bad = |ctx: &mut Ctx, what: String| {
            ctx.push(
                Diagnostic::new(code::INVALID_TEST_CALL, item.value.span, what)
                    .help("see `warden test --help`"),
            );
            false
        };
        match (key, value) {
            ("annotations", v) => match Annotations::from_json(&v) {
                Ok(a) => {
                    call.annotations = a;
                    true
                }
                Err(e) => bad(self, e),
            },
            ("risk", Value::String(s)) => match self.risk_class(&s, item.value.span) {
                Some(r) => {
                    call.risk = Some(r);
                    true
                }
                None => false,
            },
            (_, Value::String(s)) => {
                let slot = match key {
                    "grant" => &mut call.grant,
                    "agent" => &mut call.agent,
                    "session" => &mut call.session,
                    _ => &mut call.server,
                };
                *slot = Some(s);
                true
            }
            (_, _) => bad(self, format!("`{key}` must be a string")),
        }
    }
}
