//! Which regexes mean the same in warden (the Rust `regex` crate) and in policy.json engines
//! (Go's `regexp`, RE2 syntax, as in PolicyLayer's Intercept).
//!
//! The two syntaxes share a large core, but some constructs parse in both and match
//! differently (`\d`, `\w`, `\s` and `\b` are Unicode-aware in Rust and ASCII-only in Go) and
//! some parse only in Rust (class set operations, nested classes, the `u`, `x` and `R` flags,
//! `\u` escapes, property names Go lacks). [`check`] accepts a regex only when every construct
//! in it is in the shared core, so that both engines decide every string alike; otherwise it
//! says which construct and why. It works on `regex-syntax`'s AST and knows nothing else.

use regex_syntax::ast::{
    self, AssertionKind, Ast, ClassSet, ClassSetItem, ClassUnicodeKind, Flag, FlagsItemKind,
    GroupKind, HexLiteralKind, LiteralKind, RepetitionKind, RepetitionRange,
};

/// Go's `regexp` refuses repetition counts above this.
const GO_MAX_REPEAT: u32 = 1000;

/// Unicode general categories, which both engines know under these names.
const GENERAL_CATEGORIES: &[&str] = &[
    "L", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "Mn", "Mc", "Me", "N", "Nd", "Nl", "No", "P", "Pc",
    "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "S", "Sm", "Sc", "Sk", "So", "Z", "Zs", "Zl", "Zp", "C",
    "Cc", "Cf", "Co", "Cs",
];

/// Scripts, spelled as Go spells them (Rust also accepts these spellings).
const SCRIPTS: &[&str] = &[
    "Latin",
    "Greek",
    "Cyrillic",
    "Armenian",
    "Hebrew",
    "Arabic",
    "Devanagari",
    "Thai",
    "Hangul",
    "Hiragana",
    "Katakana",
    "Han",
    "Common",
];

/// Checks that `source` (already accepted by the `regex` crate) means the same in Go's
/// `regexp`. The error names the construct that does not.
pub fn check(source: &str) -> Result<(), String> {
    let parsed = ast::parse::Parser::new()
        .parse(source)
        .map_err(|e| format!("does not parse: {}", e.kind()))?;
    walk(source, &parsed)
}

fn text<'s>(source: &'s str, span: &ast::Span) -> &'s str {
    source.get(span.start.offset..span.end.offset).unwrap_or("")
}

fn walk(source: &str, node: &Ast) -> Result<(), String> {
    match node {
        Ast::Empty(_) | Ast::Dot(_) => Ok(()),
        Ast::Flags(f) => flags(&f.flags),
        Ast::Literal(l) => literal(source, l),
        Ast::Assertion(a) => match a.kind {
            AssertionKind::StartLine
            | AssertionKind::EndLine
            | AssertionKind::StartText
            | AssertionKind::EndText => Ok(()),
            _ => Err(format!(
                "`{}` is a Unicode word boundary here and an ASCII one in Go",
                text(source, &a.span)
            )),
        },
        Ast::ClassUnicode(c) => unicode_class(source, c),
        Ast::ClassPerl(c) => Err(perl_class(source, &c.span)),
        Ast::ClassBracketed(c) => class_set(source, &c.kind),
        Ast::Repetition(r) => {
            let op = text(source, &r.op.span);
            if op.starts_with("{,") {
                return Err(format!("`{op}` is not a repetition in Go"));
            }
            if let RepetitionKind::Range(range) = &r.op.kind {
                let (RepetitionRange::Exactly(n)
                | RepetitionRange::AtLeast(n)
                | RepetitionRange::Bounded(_, n)) = range;
                if *n > GO_MAX_REPEAT {
                    return Err(format!(
                        "Go refuses repetition counts above {GO_MAX_REPEAT} (`{op}`)"
                    ));
                }
            }
            walk(source, &r.ast)
        }
        Ast::Group(g) => {
            match &g.kind {
                GroupKind::CaptureIndex(_) => {}
                GroupKind::CaptureName { starts_with_p, .. } => {
                    if !starts_with_p {
                        return Err("write named groups as `(?P<name>…)`".to_string());
                    }
                }
                GroupKind::NonCapturing(f) => flags(f)?,
            }
            walk(source, &g.ast)
        }
        Ast::Alternation(a) => a.asts.iter().try_for_each(|x| walk(source, x)),
        Ast::Concat(c) => c.asts.iter().try_for_each(|x| walk(source, x)),
    }
}

fn flags(f: &ast::Flags) -> Result<(), String> {
    for item in &f.items {
        match item.kind {
            FlagsItemKind::Negation
            | FlagsItemKind::Flag(
                Flag::CaseInsensitive | Flag::MultiLine | Flag::DotMatchesNewLine | Flag::SwapGreed,
            ) => {}
            FlagsItemKind::Flag(Flag::Unicode) => {
                return Err("Go has no `u` flag".to_string());
            }
            FlagsItemKind::Flag(Flag::CRLF) => return Err("Go has no `R` flag".to_string()),
            FlagsItemKind::Flag(Flag::IgnoreWhitespace) => {
                return Err("Go has no `x` flag".to_string());
            }
        }
    }
    Ok(())
}

fn literal(source: &str, l: &ast::Literal) -> Result<(), String> {
    match &l.kind {
        LiteralKind::Verbatim | LiteralKind::Meta | LiteralKind::Superfluous => Ok(()),
        LiteralKind::Special(_) => Ok(()),
        LiteralKind::HexFixed(HexLiteralKind::X) | LiteralKind::HexBrace(HexLiteralKind::X) => {
            Ok(())
        }
        LiteralKind::Octal
        | LiteralKind::HexFixed(HexLiteralKind::UnicodeShort | HexLiteralKind::UnicodeLong)
        | LiteralKind::HexBrace(HexLiteralKind::UnicodeShort | HexLiteralKind::UnicodeLong) => {
            Err(format!(
                "Go does not know the escape `{}`: write `\\x{{…}}`",
                text(source, &l.span)
            ))
        }
    }
}

fn perl_class(source: &str, span: &ast::Span) -> String {
    format!(
        "`{}` is Unicode-aware here and ASCII-only in Go: write the class out, e.g. `[0-9]`",
        text(source, span)
    )
}

fn unicode_class(source: &str, c: &ast::ClassUnicode) -> Result<(), String> {
    let known = match &c.kind {
        ClassUnicodeKind::OneLetter(l) => GENERAL_CATEGORIES.contains(&l.to_string().as_str()),
        ClassUnicodeKind::Named(n) => {
            GENERAL_CATEGORIES.contains(&n.as_str()) || SCRIPTS.contains(&n.as_str())
        }
        ClassUnicodeKind::NamedValue { .. } => false,
    };
    if known {
        Ok(())
    } else {
        Err(format!(
            "Go may not know the Unicode class `{}`: use a general category such as `\\p{{Lu}}`",
            text(source, &c.span)
        ))
    }
}

fn class_set(source: &str, set: &ClassSet) -> Result<(), String> {
    match set {
        ClassSet::BinaryOp(op) => Err(format!(
            "Go has no class set operations (`{}`)",
            text(source, &op.span)
        )),
        ClassSet::Item(item) => class_item(source, item),
    }
}

fn class_item(source: &str, item: &ClassSetItem) -> Result<(), String> {
    match item {
        ClassSetItem::Empty(_) | ClassSetItem::Ascii(_) => Ok(()),
        ClassSetItem::Literal(l) => literal(source, l),
        ClassSetItem::Range(r) => literal(source, &r.start).and_then(|()| literal(source, &r.end)),
        ClassSetItem::Unicode(c) => unicode_class(source, c),
        ClassSetItem::Perl(c) => Err(perl_class(source, &c.span)),
        ClassSetItem::Bracketed(b) => Err(format!(
            "Go has no nested classes (`{}`)",
            text(source, &b.span)
        )),
        ClassSetItem::Union(u) => u.items.iter().try_for_each(|i| class_item(source, i)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_core_is_accepted() {
        for re in [
            r"^company\.team\.",
            r"(?s)\Aa.*b\z",
            r"(?i)^prod$",
            r"[a-z0-9_-]+",
            r"[[:alpha:]]",
            r"\pL\p{Greek}",
            r"a{2,5}",
            r"(?P<x>a|b)",
            r"\x41\x{263a}\n\t",
            r"\#\&\~\-\/",
            "",
        ] {
            assert_eq!(check(re), Ok(()), "{re}");
        }
    }

    #[test]
    fn differing_constructs_are_refused() {
        for (re, why) in [
            (r"\d+", "ASCII-only in Go"),
            (r"[\w.]", "ASCII-only in Go"),
            (r"\bword\b", "word boundary"),
            (r"[a-z&&[^q]]", "set operations"),
            (r"[a[bc]]", "nested classes"),
            (r"(?x) a b", "`x` flag"),
            (r"(?-u:.)", "`u` flag"),
            (r"\u0041", "escape"),
            (r"a{1001}", "above 1000"),
            (r"\p{Alphabetic}", "Unicode class"),
            (r"(?<n>a)", "(?P<name>"),
        ] {
            let err = check(re).unwrap_err();
            assert!(err.contains(why), "{re}: {err}");
        }
    }
}
