//! Decoding what the user wrote literally: strings (JSON escapes), numbers (exact, bounded),
//! name patterns (exact or glob) and JSON values in tests.

use super::Ctx;
use crate::ast;
use crate::diagnostic::{Diagnostic, code};
use crate::glob::Glob;
use crate::ir::NamePattern;
use crate::num::Num;

/// Policy number literals must have an order of magnitude within this bound, so that every
/// backend (the solver included) can hold them exactly.
pub const MAX_MAGNITUDE: i64 = 1000;

impl Ctx {
    pub(super) fn string(&mut self, lit: &ast::StrLit) -> Option<String> {
        match serde_json::from_str::<String>(&lit.raw) {
            Ok(s) => Some(s),
            Err(e) => {
                self.push(
                    Diagnostic::new(code::INVALID_STRING, lit.span, "invalid string literal")
                        .label(e.to_string())
                        .help("strings use JSON escapes: \\\" \\\\ \\n \\t \\u00e9"),
                );
                None
            }
        }
    }

    pub(super) fn number(&mut self, lit: &ast::NumLit) -> Option<Num> {
        let n = Num::parse(&lit.raw);
        match n {
            Some(n) if n.magnitude().abs() <= MAX_MAGNITUDE => Some(n),
            _ => {
                self.push(
                    Diagnostic::new(
                        code::INVALID_NUMBER,
                        lit.span,
                        format!("number `{}` is out of range", lit.raw),
                    )
                    .help(format!(
                        "numbers in policies must lie between 1e-{MAX_MAGNITUDE} and 1e{MAX_MAGNITUDE} in magnitude"
                    )),
                );
                None
            }
        }
    }

    pub(super) fn name_pattern(&mut self, p: &ast::Pattern) -> Option<NamePattern> {
        if p.quoted || !Glob::has_metachar(&p.text) {
            // A quoted name is always exact; so is a bare one without metacharacters.
            return Some(NamePattern::Exact(p.text.clone()));
        }
        match Glob::parse(&p.text) {
            Ok(g) => Some(NamePattern::Glob(g)),
            Err(e) => {
                self.push(
                    Diagnostic::new(
                        code::INVALID_GLOB,
                        p.span,
                        format!("invalid glob `{}`", p.text),
                    )
                    .label(e.to_string())
                    .help("`*` is any run of characters, `?` one character, `[a-z]` a class"),
                );
                None
            }
        }
    }

    pub(super) fn json(&mut self, j: &ast::Json, what: &str) -> Option<serde_json::Value> {
        match serde_json::from_str::<serde_json::Value>(&j.raw) {
            Ok(v) => Some(v),
            Err(e) => {
                self.push(
                    Diagnostic::new(
                        code::INVALID_TEST_CALL,
                        j.span,
                        format!("{what} is not valid JSON"),
                    )
                    .label(e.to_string())
                    .help("write strict JSON: double-quoted keys and strings, no comments"),
                );
                None
            }
        }
    }
}
