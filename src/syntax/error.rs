//! pest errors → one syntax [`Diagnostic`], with human names for grammar rules.
//!
//! `describe` is an exhaustive match over the grammar's `Rule` enum (as jj does), so adding a
//! rule to the grammar forces a decision on how it is named in messages.

use super::Rule;
use crate::diagnostic::{Diagnostic, code};
use crate::source::{FileId, Span};
use pest::error::{ErrorVariant, InputLocation};

pub(super) fn from_pest(file: FileId, text: &str, err: &pest::error::Error<Rule>) -> Diagnostic {
    let (start, end) = match err.location {
        InputLocation::Pos(p) => (p, p),
        InputLocation::Span((s, e)) => (s, e),
    };
    let start = start.min(text.len());
    let end = end.clamp(start, text.len());
    let found = found_at(text, start);
    let span = Span::new(file, start, end.max(start + found.len()).min(text.len()));
    let message = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = positives.iter().filter_map(|r| describe(*r)).collect();
            names.sort_unstable();
            names.dedup();
            let expected = match names.as_slice() {
                [] => "something else".to_string(),
                [one] => (*one).to_string(),
                [init @ .., last] => format!("{} or {}", init.join(", "), last),
            };
            format!("expected {expected}, found {}", describe_found(&found))
        }
        ErrorVariant::CustomError { message } => message.clone(),
    };
    Diagnostic::new(code::SYNTAX_ERROR, span, message)
        .label("unexpected here")
        .help(help_for(&found))
}

/// A file whose parse produced no pairs at all (cannot happen with this grammar, but handled).
pub(super) fn empty(file: FileId, text: &str) -> Diagnostic {
    Diagnostic::new(
        code::SYNTAX_ERROR,
        Span::new(file, 0, text.len().min(1)),
        "empty parse",
    )
}

/// The token at `offset`: a word, one symbol, or "" at end of input.
fn found_at(text: &str, offset: usize) -> String {
    let rest = text.get(offset..).unwrap_or("");
    let word: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    if !word.is_empty() {
        return word;
    }
    rest.chars().next().map(String::from).unwrap_or_default()
}

fn describe_found(found: &str) -> String {
    match found {
        "" => "end of file".to_string(),
        "\n" | "\r" => "end of line".to_string(),
        s => format!("`{s}`"),
    }
}

fn help_for(found: &str) -> String {
    match found {
        "=" => "compare with `==`".to_string(),
        "&&" | "&" => "write `and`".to_string(),
        "||" | "|" => "write `or`".to_string(),
        "!" => "write `not`, or `!=`".to_string(),
        "'" => "strings use double quotes".to_string(),
        "" => "is a block missing its closing `}`?".to_string(),
        _ => "see docs/language.md for the grammar".to_string(),
    }
}

/// The name of a grammar rule as users should read it, or None for rules never worth naming.
fn describe(r: Rule) -> Option<&'static str> {
    Some(match r {
        Rule::EOI => "end of file",
        Rule::file | Rule::policy | Rule::kw_policy => "`policy`",
        Rule::policy_name => "a policy name",
        Rule::default_stmt | Rule::kw_default => "`default`",
        Rule::default_effect => "`allow` or `deny`",
        Rule::rule | Rule::item => "a rule",
        Rule::rule_name => "a rule name",
        Rule::effect => "`allow`, `deny`, `approve` or `hide`",
        Rule::targets
        | Rule::target_item
        | Rule::target
        | Rule::pattern
        | Rule::bare_pattern
        | Rule::quoted => "a tool name or pattern",
        Rule::risk_stmt | Rule::risk_target | Rule::kw_risk => "`risk`",
        Rule::risk_class => "a risk class (`read`, `write`, `execute`, `destructive`, `financial`)",
        Rule::kw_is => "`is`",
        Rule::when | Rule::kw_when => "`when`",
        Rule::clause => "`when`, `limit` or `because`",
        Rule::because | Rule::kw_because => "`because`",
        Rule::limit | Rule::kw_limit => "`limit`",
        Rule::window => "a window (`second`, `minute`, `hour`, `day`)",
        Rule::scope => "a scope (`grant`, `session`, `agent`, `tool`, `global`)",
        Rule::counter_name => "a counter name",
        Rule::cond
        | Rule::or_expr
        | Rule::and_expr
        | Rule::not_expr
        | Rule::negation
        | Rule::group => "a condition",
        Rule::bool_lit => "`true` or `false`",
        Rule::comparison | Rule::operand | Rule::root => {
            "`args.…`, `grant`, `agent`, `session` or `tool.…`"
        }
        Rule::op | Rule::op_not_in => "an operator",
        Rule::segment | Rule::field | Rule::index => "a path segment",
        Rule::value | Rule::list | Rule::literal => "a value",
        Rule::regex | Rule::regex_body => "a regex `/…/`",
        Rule::assert_stmt | Rule::kw_assert => "`assert`",
        Rule::quantifier => "`never` or `always`",
        Rule::test_block | Rule::kw_test => "`test`",
        Rule::test_case | Rule::kw_call => "`call`",
        Rule::with_clause | Rule::kw_with => "`with`",
        Rule::with_item | Rule::with_key => "a call option",
        Rule::expectation | Rule::expected_effect => "an expected decision",
        Rule::rule_ref => "a rule id",
        Rule::json | Rule::json_object | Rule::json_member | Rule::json_array => "JSON",
        Rule::string | Rule::string_body => "a string",
        Rule::number => "a number",
        Rule::kw_allow => "`allow`",
        Rule::kw_deny => "`deny`",
        Rule::kw_approve => "`approve`",
        Rule::kw_hide => "`hide`",
        Rule::kw_per => "`per`",
        Rule::kw_as => "`as`",
        Rule::kw_and => "`and`",
        Rule::kw_or => "`or`",
        Rule::kw_not => "`not`",
        Rule::kw_in => "`in`",
        Rule::kw_matches => "`matches`",
        Rule::kw_startswith => "`startswith`",
        Rule::kw_endswith => "`endswith`",
        Rule::kw_contains => "`contains`",
        Rule::kw_exists => "`exists`",
        Rule::kw_true => "`true`",
        Rule::kw_false => "`false`",
        Rule::kw_null => "`null`",
        Rule::kw_never => "`never`",
        Rule::kw_always => "`always`",
        Rule::kw_by => "`by`",
        Rule::WHITESPACE
        | Rule::COMMENT
        | Rule::ident_char
        | Rule::name
        | Rule::pattern_char
        | Rule::reserved
        | Rule::class => {
            return None;
        }
    })
}
