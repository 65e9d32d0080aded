//! Runs a policy's `test` blocks through the reference evaluator.

use crate::call::Call;
use crate::eval::{Decision, evaluate};
use crate::ir::{Effect, Policy};
use crate::source::Span;

/// The outcome of one `call … => …` case.
#[derive(Clone, Debug)]
pub struct CaseResult {
    pub test: String,
    pub call: Call,
    pub expect: Effect,
    pub expect_by: Option<String>,
    pub got: Decision,
    pub got_by: String,
    pub passed: bool,
    pub span: Span,
}

/// Runs every case of every test block, in order.
pub fn run(policy: &Policy) -> Vec<CaseResult> {
    let mut out = Vec::new();
    for block in &policy.tests {
        for case in &block.cases {
            let got = evaluate(policy, &case.call);
            let got_by = got.rule_id(policy).to_string();
            let passed = got.effect == case.expect && case.by.as_ref().is_none_or(|b| *b == got_by);
            out.push(CaseResult {
                test: block.name.clone(),
                call: case.call.clone(),
                expect: case.expect,
                expect_by: case.by.clone(),
                got,
                got_by,
                passed,
                span: case.span,
            });
        }
    }
    out
}
