//! The one registry of diagnostic codes.
//!
//! Every diagnostic warden emits has a code from this file: a stable id (`WD` + stage digit +
//! number), a kebab-case name that says what the problem is, a default severity and a one-line
//! summary. Stages: `WD0xxx` syntax, `WD1xxx` names, `WD2xxx` types and meaning, `WD3xxx` the
//! verifier, `WD4xxx` backends. Ids are never reused. docs/diagnostics.md has one section per
//! code (a test keeps the two in step).

use super::Severity;

/// A registered diagnostic code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Code {
    pub id: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
}

macro_rules! codes {
    ($($konst:ident = $id:literal, $name:literal, $sev:ident, $summary:literal;)*) => {
        $(pub const $konst: Code = Code {
            id: $id,
            name: $name,
            severity: Severity::$sev,
            summary: $summary,
        };)*
        /// Every registered code, in id order.
        pub const ALL: &[Code] = &[$($konst),*];
    };
}

codes! {
    SYNTAX_ERROR = "WD0001", "syntax-error", Error, "the text is not a well-formed policy";
    INVALID_STRING = "WD0002", "invalid-string-literal", Error, "a string literal has an invalid escape sequence";
    INVALID_NUMBER = "WD0003", "invalid-number-literal", Error, "a number literal is out of the supported range";
    NO_POLICY = "WD0004", "missing-policy", Error, "a file holds no `policy` block";
    SEVERAL_POLICIES = "WD0005", "several-policies", Error, "a file holds more than one `policy` block";
    UNREADABLE_FILE = "WD0006", "unreadable-file", Error, "a policy file could not be read";

    UNKNOWN_IDENTIFIER = "WD1001", "unknown-identifier", Error, "a condition names something that does not exist";
    UNKNOWN_ATTRIBUTE = "WD1002", "unknown-tool-attribute", Error, "a condition names a tool attribute that does not exist";
    DUPLICATE_RULE_NAME = "WD1003", "duplicate-rule-name", Error, "two rules have the same name";
    UNKNOWN_RULE = "WD1004", "unknown-rule", Error, "a test expects a decision by a rule that does not exist";
    UNKNOWN_WINDOW = "WD1005", "unknown-window", Error, "a limit names a window that does not exist";
    UNKNOWN_SCOPE = "WD1006", "unknown-scope", Error, "a limit names a scope that does not exist";
    UNKNOWN_EFFECT = "WD1007", "unknown-effect", Error, "a test expects a decision that does not exist";
    UNKNOWN_CALL_OPTION = "WD1008", "unknown-call-option", Error, "a test call sets something a call does not have";
    DUPLICATE_TEST_NAME = "WD1009", "duplicate-test-name", Error, "two tests have the same name";
    DUPLICATE_DEFAULT = "WD1010", "duplicate-default", Error, "a policy sets its default more than once";
    DUPLICATE_CLAUSE = "WD1011", "duplicate-clause", Error, "a rule has the same clause twice";
    PATH_ON_SCALAR = "WD1012", "path-on-scalar", Error, "a path goes into a value that has no fields";
    MISSING_ARGUMENT_PATH = "WD1013", "missing-argument-path", Error, "`args` is used without naming an argument";
    UNKNOWN_RISK_CLASS = "WD1014", "unknown-risk-class", Error, "a risk class that does not exist is named";
    CONFLICTING_RISK_OVERRIDE = "WD1015", "conflicting-risk-override", Error, "one tool pattern is given two different risk classes";

    OPERATOR_TYPE_MISMATCH = "WD2001", "operator-type-mismatch", Error, "an operator is given a value of a type it does not take";
    OPERAND_TYPE_MISMATCH = "WD2002", "operand-type-mismatch", Error, "a value is compared with a literal of another type, so the test is always false";
    INVALID_REGEX = "WD2003", "invalid-regex", Error, "a regular expression does not compile";
    INVALID_GLOB = "WD2004", "invalid-glob", Error, "a glob pattern is malformed";
    INCONSISTENT_ARGUMENT_TYPE = "WD2005", "inconsistent-argument-type", Warning, "one argument is compared as different JSON types";
    EMPTY_LIST = "WD2006", "empty-list", Warning, "`in` or `not in` against an empty list is always false";
    INVALID_LIMIT = "WD2007", "invalid-limit", Error, "a limit's maximum is zero, fractional, negative or too large";
    HUGE_LIMIT = "WD2008", "huge-limit", Warning, "a limit so large it limits nothing";
    COUNTER_MISMATCH = "WD2009", "counter-mismatch", Error, "one counter is used with different windows or scopes";
    LIMIT_ON_DENY = "WD2010", "limit-on-denying-rule", Error, "a rule that never forwards a call has a limit";
    REASON_ON_ALLOW = "WD2011", "reason-on-allow", Warning, "an `allow` rule has a reason nobody will see";
    HIDE_ON_ARGUMENTS = "WD2012", "hide-depends-on-arguments", Error, "a `hide` rule's condition looks at arguments, which `tools/list` does not have";
    DUPLICATE_TARGET = "WD2013", "duplicate-target", Warning, "a rule names the same target twice";
    NEGATED_COMPARISON_IN_DENY = "WD2014", "absent-argument-skips-deny", Warning, "a deny compares with `!=` or `not in`, which is false when the argument is absent";
    COUNTER_NAME_CLASH = "WD2015", "counter-name-clash", Error, "two unnamed limits of one rule would share a counter name";
    INVALID_TEST_CALL = "WD2016", "invalid-test-call", Error, "a test call is not a call a client could make";
    NON_BOOLEAN_CONDITION = "WD2017", "non-boolean-condition", Error, "a bare value used as a condition is not a boolean";
    MIXED_RISK_TARGETS = "WD2018", "mixed-risk-targets", Error, "a rule lists `risk CLASS` targets beside tool names";

    UNREACHABLE_RULE = "WD3001", "unreachable-rule", Error, "every call a rule matches is decided by rules of higher precedence";
    EMPTY_RULE = "WD3002", "empty-rule", Error, "a rule's targets and condition can never hold together";
    CONFLICTING_RULES = "WD3003", "conflicting-rules", Warning, "rules of different effects partly overlap";
    REDUNDANT_RULE = "WD3004", "redundant-rule", Warning, "removing a rule would change no decision";
    LIMIT_NEVER_APPLIES = "WD3005", "limit-never-applies", Error, "a limit is on a rule whose calls are never forwarded";
    ASSERTION_VIOLATED = "WD3006", "assertion-violated", Error, "a call breaks an `assert`";
    MISSING_ARGUMENT_HAZARD = "WD3007", "missing-argument-hazard", Warning, "leaving out an argument, or giving it another type, gets a call past a deny";
    INCONCLUSIVE = "WD3008", "verification-inconclusive", Warning, "the solver could not answer a question in time";
    WITNESS_MISMATCH = "WD3009", "witness-replay-failed", Error, "internal: a witness did not replay through the evaluator";
    UNKNOWN_TOOL = "WD3010", "unknown-tool", Warning, "a rule names a tool the catalog does not have";
    UNMATCHED_TOOL_PATTERN = "WD3011", "unmatched-tool-pattern", Warning, "a tool glob matches no tool in the catalog";
    UNKNOWN_ARGUMENT = "WD3012", "unknown-argument", Warning, "a condition looks at an argument the tool's input schema does not have";
    SCHEMA_TYPE_MISMATCH = "WD3013", "schema-type-mismatch", Warning, "a test compares an argument with a JSON type its schema rules out";
    SCHEMA_REFUSED_ONLY = "WD3014", "schema-refused-only", Warning, "with a catalog, a rule matches only calls the tool's input schema refuses";
    SHADOWED_RISK_OVERRIDE = "WD3015", "shadowed-risk-override", Warning, "a `risk … is …` glob gives some tools another class than an earlier glob that wins for them";
    PJ_GLOB_TARGET = "WD4001", "policy-json-glob-target", Error, "a glob target cannot be written in policy.json without a catalog to expand it";
    PJ_SERVER_TARGET = "WD4002", "policy-json-server-target", Error, "a target is qualified by a server, but a policy.json governs one server";
    PJ_IDENTITY_CONDITION = "WD4003", "policy-json-identity-condition", Error, "a condition looks at the grant, agent or session, which policy.json conditions cannot";
    PJ_ANNOTATION_CONDITION = "WD4004", "policy-json-annotation-condition", Error, "a condition looks at tool annotations, which policy.json can only have resolved from a catalog";
    PJ_INEXPRESSIBLE_CONDITION = "WD4005", "policy-json-inexpressible-condition", Error, "a condition has no exact policy.json form";
    PJ_UNPORTABLE_REGEX = "WD4006", "policy-json-unportable-regex", Error, "a regex would match differently in policy.json's Go regex engine";
    PJ_UNSUPPORTED_LIMIT = "WD4007", "policy-json-unsupported-limit", Error, "a limit's window or scope has no policy.json form";
    PJ_CONDITIONAL_LIMIT = "WD4008", "policy-json-conditional-limit", Error, "a limit counts only some calls of a tool, but policy.json limits count every allowed call";
    PJ_APPROVAL_DENIES = "WD4009", "policy-json-approval-denies", Warning, "policy.json has no approval hold: an `approve` rule becomes a deny with a message";
    PJ_SHARED_COUNTER = "WD4010", "policy-json-shared-counter", Warning, "one counter limits several tools, which policy.json engines may count apart";
    PJ_REASON_DROPPED = "WD4011", "policy-json-reason-dropped", Warning, "a reason has no place in policy.json and is left out";
    PJ_INEXACT_NUMBER = "WD4012", "policy-json-inexact-number", Error, "a number is not exactly what a 64-bit float reads back";
    PJ_UNSUPPORTED_PATH = "WD4013", "policy-json-unsupported-path", Error, "an argument path has an array index or a key policy.json's dotted paths cannot spell";
    PJ_HIDE_GLOB_LISTED = "WD4014", "policy-json-hide-glob-listed", Warning, "a `hide` glob without a catalog denies the tools but cannot remove them from `tools/list`";
    PJ_OPEN_EXPANSION = "WD4015", "policy-json-open-expansion", Warning, "under `default allow`, a glob expanded from the catalog misses tools the server adds later";
    PJ_RISK_WITHOUT_CATALOG = "WD4017", "policy-json-risk-without-catalog", Error, "a rule looks at risk classes, which policy.json can only have resolved from a catalog";
    PJ_ALTERNATIVE_ALLOWS = "WD4016", "policy-json-alternative-allows", Error, "a tool is allowed under alternative conditions, but policy.json's `require` is one list that must all hold";
}

/// Looks a code up by id (`WD2003`) or name (`invalid-regex`).
pub fn lookup(key: &str) -> Option<Code> {
    ALL.iter().copied().find(|c| c.id == key || c.name == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_and_names_are_unique_and_well_formed() {
        let mut ids = HashSet::new();
        let mut names = HashSet::new();
        for c in ALL {
            assert!(ids.insert(c.id), "duplicate id {}", c.id);
            assert!(names.insert(c.name), "duplicate name {}", c.name);
            assert!(c.id.len() == 6 && c.id.starts_with("WD"), "{}", c.id);
            assert!(
                c.name
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch == '-')
            );
        }
        assert_eq!(lookup("invalid-regex"), Some(INVALID_REGEX));
        assert_eq!(lookup("WD2003"), Some(INVALID_REGEX));
    }
}
