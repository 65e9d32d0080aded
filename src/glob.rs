//! Glob patterns for tool names and string arguments: parsing, matching, and translation.
//!
//! A [`Glob`] matches the whole string, char by char (Unicode scalar values), case-sensitive,
//! with no normalization: `*` is any run of characters including none, `?` exactly one,
//! `[…]` a class of characters and ranges (`[!…]` or `[^…]` negated), and a backslash escapes
//! the next character everywhere. Matching is a star-restart scan, `O(pattern × text)` at
//! worst, never exponential. [`Glob::to_regex`] gives the equivalent `regex` crate source for
//! consumers that build automata. This module knows nothing of policies or diagnostics; a
//! [`GlobError`] carries a byte offset into the pattern for the caller to turn into a span.

use std::fmt;
use std::hash::{Hash, Hasher};

/// A parsed glob pattern. Equality and hashing are by the source text.
#[derive(Clone, Debug)]
pub struct Glob {
    source: String,
    tokens: Vec<Token>,
}

/// One element of a parsed pattern, for consumers that build automata (the verifier).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    /// One character, matched exactly (escapes already removed).
    Literal(char),
    /// `?`: any one character.
    Any,
    /// `*`: any run of characters; consecutive stars are collapsed into one.
    Star,
    /// `[…]`: one character in (or, negated, not in) the inclusive ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Token {
    /// Whether this single-character token matches `c` (a `Star` matches nothing here).
    pub fn matches(&self, c: char) -> bool {
        match self {
            Token::Literal(l) => *l == c,
            Token::Any => true,
            Token::Star => false,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        }
    }
}

/// Why a pattern is not a glob; `offset` is the byte offset in the pattern of the culprit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobError {
    pub offset: usize,
    pub message: String,
}

impl GlobError {
    fn new(offset: usize, message: impl Into<String>) -> GlobError {
        GlobError {
            offset,
            message: message.into(),
        }
    }
}

impl fmt::Display for GlobError {
    /// The message alone (lowercase, no final period); the offset belongs in a label.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for GlobError {}

type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

impl Glob {
    /// Parses a pattern. Errors: an unclosed or empty class, a reversed range, a trailing
    /// backslash. `]`, `!` and `^` outside a class are ordinary characters.
    pub fn parse(pattern: &str) -> Result<Glob, GlobError> {
        let mut tokens = Vec::new();
        let mut chars = pattern.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            let token = match c {
                '\\' => match chars.next() {
                    Some((_, escaped)) => Token::Literal(escaped),
                    None => return Err(GlobError::new(at, "trailing backslash")),
                },
                '*' if tokens.last() == Some(&Token::Star) => continue,
                '*' => Token::Star,
                '?' => Token::Any,
                '[' => parse_class(at, &mut chars)?,
                other => Token::Literal(other),
            };
            tokens.push(token);
        }
        Ok(Glob {
            source: pattern.to_owned(),
            tokens,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The parsed tokens (consecutive stars collapsed), for building automata.
    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// Whether the whole of `s` matches.
    ///
    /// Every token but `*` consumes exactly one character, so on a mismatch it suffices to
    /// retry from the most recent star, letting it absorb one more character: earlier stars
    /// can never do better, because anything they could absorb the latest star can too.
    /// Hence at most `len(s)` restarts of at most `len(pattern)` steps each.
    pub fn is_match(&self, s: &str) -> bool {
        let char_at = |at: usize| s.get(at..).and_then(|rest| rest.chars().next());
        // Byte offsets into `s`, always on char boundaries.
        let (mut p, mut t) = (0, 0);
        // (pattern index just after the latest star, text offset where that star's run ends)
        let mut restart: Option<(usize, usize)> = None;
        while let Some(c) = char_at(t) {
            match self.tokens.get(p) {
                Some(Token::Star) => {
                    p += 1;
                    restart = Some((p, t));
                    continue;
                }
                Some(token) if token.matches(c) => {
                    p += 1;
                    t += c.len_utf8();
                    continue;
                }
                _ => {}
            }
            // The star's run ends at or before `t`, so it has a next char to absorb.
            match restart.zip(restart.and_then(|(_, end)| char_at(end))) {
                Some(((after_star, star_end), absorbed)) => {
                    p = after_star;
                    t = star_end + absorbed.len_utf8();
                    restart = Some((after_star, t));
                }
                None => return false,
            }
        }
        self.tokens
            .get(p..)
            .is_some_and(|rest| rest.iter().all(|token| *token == Token::Star))
    }

    /// Whether the pattern has no metacharacters at all once escapes are removed.
    pub fn is_literal(&self) -> bool {
        self.tokens
            .iter()
            .all(|token| matches!(token, Token::Literal(_)))
    }

    /// The unescaped text when the pattern is literal (`list\*` gives `list*`).
    pub fn literal(&self) -> Option<String> {
        self.is_literal().then(|| self.literal_prefix())
    }

    /// The unescaped literal text before the first metacharacter (all of it when literal):
    /// every matching string starts with it.
    pub fn literal_prefix(&self) -> String {
        self.tokens
            .iter()
            .map_while(|token| match token {
                Token::Literal(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    /// An equivalent source for the `regex` crate: anchored with `\A … \z`, `(?s)` so `?`
    /// and `*` match newlines too, every literal character escaped.
    pub fn to_regex(&self) -> String {
        let mut out = String::from(r"(?s)\A");
        for token in &self.tokens {
            match token {
                Token::Literal(c) => push_escaped(&mut out, *c),
                Token::Any => out.push('.'),
                Token::Star => out.push_str(".*"),
                Token::Class { negated, ranges } => {
                    out.push('[');
                    if *negated {
                        out.push('^');
                    }
                    for &(lo, hi) in ranges {
                        push_escaped(&mut out, lo);
                        if lo != hi {
                            out.push('-');
                            push_escaped(&mut out, hi);
                        }
                    }
                    out.push(']');
                }
            }
        }
        out.push_str(r"\z");
        out
    }

    /// Whether a raw pattern contains an unescaped `*`, `?` or `[`: `delete_*` is a glob,
    /// `list_flows` (and `list\*`) an exact name.
    pub fn has_metachar(s: &str) -> bool {
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '*' | '?' | '[' => return true,
                _ => {}
            }
        }
        false
    }
}

/// The body of a class after its `[` (at byte `open`), through the closing `]`.
fn parse_class(open: usize, chars: &mut Chars<'_>) -> Result<Token, GlobError> {
    let unclosed = || GlobError::new(open, "unclosed character class `[`");
    let negated = chars.next_if(|&(_, c)| c == '!' || c == '^').is_some();
    let mut ranges = Vec::new();
    loop {
        let (at, c) = chars.next().ok_or_else(unclosed)?;
        let lo = match c {
            ']' if ranges.is_empty() => return Err(GlobError::new(open, "empty character class")),
            ']' => break,
            '\\' => chars.next().ok_or_else(unclosed)?.1,
            other => other,
        };
        // `-` makes a range unless it is last (`[a-]`); escaped `\-` is always literal.
        let dash_then_more = {
            let mut ahead = chars.clone();
            matches!(ahead.next(), Some((_, '-'))) && !matches!(ahead.next(), Some((_, ']')) | None)
        };
        if !dash_then_more {
            ranges.push((lo, lo));
            continue;
        }
        chars.next();
        let (_, c) = chars.next().ok_or_else(unclosed)?;
        let hi = match c {
            '\\' => chars.next().ok_or_else(unclosed)?.1,
            other => other,
        };
        if lo > hi {
            return Err(GlobError::new(at, format!("range `{lo}-{hi}` is reversed")));
        }
        ranges.push((lo, hi));
    }
    Ok(Token::Class { negated, ranges })
}

fn push_escaped(out: &mut String, c: char) {
    let mut buf = [0u8; 4];
    out.push_str(&regex::escape(c.encode_utf8(&mut buf)));
}

impl PartialEq for Glob {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Glob {}

impl Hash for Glob {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.source.hash(state);
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn g(pattern: &str) -> Glob {
        Glob::parse(pattern).unwrap_or_else(|e| panic!("`{pattern}`: {e}"))
    }

    fn err(pattern: &str) -> (usize, String) {
        let e = Glob::parse(pattern).unwrap_err();
        (e.offset, e.message)
    }

    fn agrees_with_regex(glob: &Glob, s: &str) -> bool {
        let re = regex::Regex::new(&glob.to_regex()).unwrap();
        glob.is_match(s) == re.is_match(s)
    }

    #[test]
    fn star_suffix() {
        let glob = g("delete_*");
        assert!(glob.is_match("delete_"));
        assert!(glob.is_match("delete_flow"));
        assert!(!glob.is_match("undelete_x"));
        assert!(!glob.is_match("delete"));
        assert_eq!(glob.literal_prefix(), "delete_");
        assert!(!glob.is_literal());
    }

    #[test]
    fn question_mark_is_one_scalar_value() {
        let glob = g("caf?");
        assert!(glob.is_match("café"));
        assert!(glob.is_match("cafe"));
        assert!(!glob.is_match("caf"));
        assert!(!glob.is_match("cafée"));
        assert!(g("??").is_match("日本"));
        assert!(
            !g("?").is_match("e\u{301}"),
            "a combining sequence is two chars"
        );
        assert!(g("a?b").is_match("a\nb"));
    }

    #[test]
    fn classes() {
        let hex = g("[0-9a-f]");
        assert!(hex.is_match("7") && hex.is_match("c"));
        assert!(
            !hex.is_match("g") && !hex.is_match("C") && !hex.is_match("") && !hex.is_match("77")
        );
        for negated in ["[!ab]", "[^ab]"] {
            let glob = g(negated);
            assert!(glob.is_match("c") && glob.is_match("\n") && glob.is_match("é"));
            assert!(!glob.is_match("a") && !glob.is_match("b") && !glob.is_match(""));
        }
        let dashes = g("[-a][a-][+--]");
        assert!(dashes.is_match("--,") && dashes.is_match("aa+"));
        assert!(!dashes.is_match("ab+"));
        let escaped = g(r"[\]\\\-]");
        assert!(escaped.is_match("]") && escaped.is_match("\\") && escaped.is_match("-"));
        assert!(!escaped.is_match("a"));
        assert!(g("[α-ω]").is_match("λ"));
        assert!(
            Glob::parse("x[]a]").is_err(),
            "`]` first is not literal: escape it"
        );
        assert!(g("[!!]").is_match("a") && !g("[!!]").is_match("!"));
        assert!(g("a]!^").is_match("a]!^"));
    }

    #[test]
    fn escapes_and_literals() {
        let star = g(r"list\*");
        assert!(star.is_match("list*") && !star.is_match("lists"));
        assert!(star.is_literal());
        assert_eq!(star.literal().as_deref(), Some("list*"));
        assert_eq!(g(r"a\?b\[c\\").literal().as_deref(), Some("a?b[c\\"));
        assert_eq!(g("list_flows").literal().as_deref(), Some("list_flows"));
        assert_eq!(g("ab?c*").literal(), None);
        assert_eq!(g(r"a\*b[xy]z").literal_prefix(), "a*b");
        assert_eq!(g("*x").literal_prefix(), "");
    }

    #[test]
    fn empty_and_star() {
        let empty = g("");
        assert!(empty.is_match("") && !empty.is_match("a"));
        assert!(empty.is_literal());
        for s in ["", "a", "anything at all\n", "日本"] {
            assert!(g("*").is_match(s) && g("***").is_match(s));
        }
        assert!(g("a**b").is_match("ab") && g("a**b").is_match("axyzb"));
        assert_eq!(g("a**b").tokens.len(), 3);
    }

    #[test]
    fn errors_with_offsets() {
        assert_eq!(err("ab[cd"), (2, "unclosed character class `[`".into()));
        assert_eq!(err("ab["), (2, "unclosed character class `[`".into()));
        assert_eq!(err("[a-"), (0, "unclosed character class `[`".into()));
        assert_eq!(err(r"[a\"), (0, "unclosed character class `[`".into()));
        assert_eq!(err("x[]"), (1, "empty character class".into()));
        assert_eq!(err("é[!]"), (2, "empty character class".into()));
        assert_eq!(err("ab[xz-a]"), (4, "range `z-a` is reversed".into()));
        assert_eq!(err(r"abc\"), (3, "trailing backslash".into()));
        assert_eq!(
            Glob::parse("a[").unwrap_err().to_string(),
            "unclosed character class `[`"
        );
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let text = "a".repeat(10_000);
        assert!(!g("*a*a*a*a*a*a*a*a*b").is_match(&text));
        assert!(g("*a*a*a*a*a*a*a*a*").is_match(&text));
        assert!(g("*a*a*a*a*a*a*a*a*b").is_match(&format!("{text}b")));
    }

    #[test]
    fn regex_translation() {
        assert_eq!(g("a.b*").to_regex(), r"(?s)\Aa\.b.*\z");
        assert_eq!(g("[!a-c]?").to_regex(), r"(?s)\A[^a-c].\z");
        for (pattern, s) in [
            ("a.b", "axb"),
            ("(x)|y", "(x)|y"),
            ("[&&]", "&"),
            ("[~-~]", "~"),
        ] {
            assert!(agrees_with_regex(&g(pattern), s), "{pattern} on {s}");
        }
    }

    #[test]
    fn has_metachar_and_equality() {
        assert!(
            Glob::has_metachar("delete_*") && Glob::has_metachar("a?") && Glob::has_metachar("[x]")
        );
        assert!(!Glob::has_metachar("list_flows") && !Glob::has_metachar(r"list\*"));
        assert!(!Glob::has_metachar("a]!^-") && !Glob::has_metachar(r"\[\?"));
        assert_eq!(g("a*"), g("a*"));
        assert_ne!(g("a*"), g("a**"), "equality is by source text");
        assert_eq!(g("a*").as_str(), "a*");
    }

    fn pattern_over(atoms: &'static [&'static str]) -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(atoms), 0..10).prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn matches_like_regex(
            pattern in pattern_over(&["a", "b", "*", "?", "[ab]", "[!a]"]),
            s in "[abc]{0,12}",
        ) {
            let glob = g(&pattern);
            prop_assert!(agrees_with_regex(&glob, &s), "pattern {:?} on {:?}", pattern, s);
        }

        #[test]
        fn matches_like_regex_wider(
            pattern in pattern_over(&["a", "*", "?", "[a-c]", "[^b]", r"\*", r"\?", ".", "é", "[-*]"]),
            s in "[abc*?.é\n-]{0,12}",
        ) {
            let glob = g(&pattern);
            prop_assert!(agrees_with_regex(&glob, &s), "pattern {:?} on {:?}", pattern, s);
        }

        #[test]
        fn parse_never_panics(pattern in any::<String>(), s in any::<String>()) {
            if let Ok(glob) = Glob::parse(&pattern) {
                prop_assert!(agrees_with_regex(&glob, &s));
            }
        }

        #[test]
        fn parse_never_panics_on_metachar_soup(pattern in r"[\\\[\]!^*?a-c\-]{0,16}", s in "[a-c]{0,8}") {
            if let Ok(glob) = Glob::parse(&pattern) {
                prop_assert!(agrees_with_regex(&glob, &s), "pattern {:?} on {:?}", pattern, s);
                prop_assert_eq!(glob.is_literal(), !Glob::has_metachar(&pattern));
            }
        }

        #[test]
        fn escaped_text_is_literal(s in any::<String>()) {
            let mut pattern = String::new();
            for c in s.chars() {
                if matches!(c, '\\' | '*' | '?' | '[') {
                    pattern.push('\\');
                }
                pattern.push(c);
            }
            let glob = g(&pattern);
            prop_assert!(!Glob::has_metachar(&pattern));
            prop_assert_eq!(glob.literal(), Some(s.clone()));
            prop_assert!(glob.is_match(&s));
            let longer = format!("{s}x");
            prop_assert!(!glob.is_match(&longer));
        }
    }
}
