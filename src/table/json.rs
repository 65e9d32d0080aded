//! Reading a call's arguments straight from their raw JSON text, without building a
//! `serde_json::Value`: path lookup, JSON types and string unescaping (numbers are compared
//! by [`super::decimal`]; the per-decision index of top-level members is [`super::top`]).
//!
//! The text is a `serde_json::value::RawValue`, so it is known to be well-formed JSON; the code
//! is still written so that malformed text gives `None`, never a panic. Semantics follow the
//! reference evaluator: object keys compare after unescaping, the last of duplicate keys wins
//! (as in `serde_json::Value`).

use crate::ir::{JsonType, PathSeg};
use std::borrow::Cow;

/// One JSON value, read lazily: numbers keep their text, arrays their raw text.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val<'a> {
    Null,
    Bool(bool),
    /// The number's text as written.
    Num(&'a str),
    /// The decoded string: borrowed unless it holds escapes.
    Str(Cow<'a, str>),
    /// The array's raw text, brackets included.
    Array(&'a str),
    Object,
}

impl Val<'_> {
    pub(crate) fn json_type(&self) -> JsonType {
        match self {
            Val::Null => JsonType::Null,
            Val::Bool(_) => JsonType::Bool,
            Val::Num(_) => JsonType::Number,
            Val::Str(_) => JsonType::String,
            Val::Array(_) => JsonType::Array,
            Val::Object => JsonType::Object,
        }
    }
}

/// The raw text of the value at `path` inside `raw`, or `None` when absent.
pub(crate) fn lookup<'a>(raw: &'a str, path: &[PathSeg]) -> Option<&'a str> {
    let mut v = trim_ws(raw);
    for seg in path {
        v = match seg {
            PathSeg::Key(k) => members(v)?
                .filter(|(key, _)| key_eq(key, k))
                .last()
                .map(|(_, value)| value)?,
            PathSeg::Index(i) => elements(v)?.nth(*i)?,
        };
    }
    Some(v)
}

/// Byte equality for the short strings of arguments (keys, names, values): compares a few
/// machine words inline, where `==` on slices calls `memcmp`, whose call costs more than the
/// comparison at these lengths.
#[inline]
pub(crate) fn short_eq(a: &str, b: &str) -> bool {
    bytes_eq(a.as_bytes(), b.as_bytes())
}

/// [`short_eq`] on bytes: eight bytes at a time, the tail as one (overlapping) last word.
#[inline]
pub(super) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a.len() < 8 {
        return short_tail_eq(a, b);
    }
    let (mut xs, mut ys) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in (&mut xs).zip(&mut ys) {
        if word(x) != word(y) {
            return false;
        }
    }
    xs.remainder().is_empty() || a.last_chunk::<8>() == b.last_chunk::<8>()
}

/// Equality of two slices of the same length under 8: two overlapping words of 4, 2 or 1
/// bytes (the first and the last).
#[inline]
fn short_tail_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() >= 4 {
        a.first_chunk::<4>() == b.first_chunk::<4>() && a.last_chunk::<4>() == b.last_chunk::<4>()
    } else if a.len() >= 2 {
        a.first_chunk::<2>() == b.first_chunk::<2>() && a.last_chunk::<2>() == b.last_chunk::<2>()
    } else {
        a.first() == b.first()
    }
}

fn word(chunk: &[u8]) -> u64 {
    chunk
        .first_chunk::<8>()
        .map_or(0, |w| u64::from_le_bytes(*w))
}

/// Classifies one raw value (no surrounding whitespace).
pub(crate) fn value(raw: &str) -> Option<Val<'_>> {
    Some(match raw.as_bytes().first()? {
        b'n' => Val::Null,
        b't' => Val::Bool(true),
        b'f' => Val::Bool(false),
        b'"' => Val::Str(unescape(raw.get(1..raw.len().checked_sub(1)?)?)?),
        b'[' => Val::Array(raw),
        b'{' => Val::Object,
        _ => Val::Num(raw),
    })
}

/// The members of a raw object: (raw key body without quotes, raw value).
pub(crate) fn members(raw: &str) -> Option<impl Iterator<Item = (&str, &str)>> {
    Some(members_escaped(raw)?.map(|(key, _, value)| (key, value)))
}

/// The members of a raw object: (raw key body without quotes, whether it holds escapes, raw
/// value without surrounding whitespace).
fn members_escaped(raw: &str) -> Option<impl Iterator<Item = (&str, bool, &str)>> {
    let bytes = raw.as_bytes();
    (bytes.first() == Some(&b'{')).then_some(())?;
    let mut at = 1;
    Some(std::iter::from_fn(move || {
        at = skip_ws(bytes, at);
        if bytes.get(at) == Some(&b',') {
            at = skip_ws(bytes, at + 1);
        }
        if bytes.get(at) != Some(&b'"') {
            return None;
        }
        let (key_end, escaped) = string_end_escaped(bytes, at)?;
        let key = raw.get(at + 1..key_end - 1)?;
        at = skip_ws(bytes, key_end);
        (bytes.get(at) == Some(&b':')).then_some(())?;
        let start = skip_ws(bytes, at + 1);
        let end = value_end(bytes, start)?;
        at = end;
        Some((key, escaped, raw.get(start..end)?))
    }))
}

/// The elements of a raw array.
pub(crate) fn elements(raw: &str) -> Option<impl Iterator<Item = &str>> {
    let bytes = raw.as_bytes();
    (bytes.first() == Some(&b'[')).then_some(())?;
    let mut at = 1;
    Some(std::iter::from_fn(move || {
        at = skip_ws(bytes, at);
        if bytes.get(at) == Some(&b',') {
            at = skip_ws(bytes, at + 1);
        }
        if matches!(bytes.get(at), Some(b']') | None) {
            return None;
        }
        let start = at;
        at = value_end(bytes, start)?;
        raw.get(start..at)
    }))
}

pub(super) fn skip_ws(bytes: &[u8], mut at: usize) -> usize {
    while bytes
        .get(at)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        at += 1;
    }
    at
}

/// Without the JSON whitespace around it.
pub(super) fn trim_ws(raw: &str) -> &str {
    let bytes = raw.as_bytes();
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let start = bytes.iter().take_while(|b| ws(b)).count();
    let end = bytes.len() - bytes.iter().rev().take_while(|b| ws(b)).count();
    raw.get(start..end.max(start)).unwrap_or("")
}

/// Just past the closing quote of the string whose opening quote is at `at`.
fn string_end(bytes: &[u8], at: usize) -> Option<usize> {
    string_end_escaped(bytes, at).map(|(end, _)| end)
}

/// [`string_end`], and whether the string holds escapes.
pub(super) fn string_end_escaped(bytes: &[u8], at: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    let mut i = at + 1;
    loop {
        // Eight bytes at a time while eight remain (argument strings are short: this beats
        // memchr's setup), then byte by byte from the first quote or backslash.
        while let Some(w) = bytes.get(i..).and_then(|rest| rest.first_chunk::<8>()) {
            let found = quote_or_backslash(u64::from_le_bytes(*w));
            if found != 0 {
                i += (found.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        i += bytes
            .get(i..)?
            .iter()
            .position(|&b| b == b'"' || b == b'\\')?;
        match bytes.get(i)? {
            b'"' => return Some((i + 1, escaped)),
            _ => {
                escaped = true;
                i += 2;
            }
        }
    }
}

/// The high bit of each byte of `w` (little-endian) that is a quote or a backslash, exact up
/// to the first such byte (bits above it may be false positives, which the byte scan after it never sees).
#[inline]
fn quote_or_backslash(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    zero_byte(w ^ (ONES * u64::from(b'"'))) | zero_byte(w ^ (ONES * u64::from(b'\\')))
}

/// Whether any byte of `bytes` is one a JSON string must escape (a control character, `"` or
/// `\\`): eight bytes at a time, by [`quote_or_backslash`] and its "below 0x20" sibling (both
/// exact about whether any byte matches).
pub(crate) fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let w = u64::from_le_bytes(w);
        let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
        if control | quote_or_backslash(w) != 0 {
            return true;
        }
    }
    (words.remainder().iter()).any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// Just past the value that starts at `at`.
pub(super) fn value_end(bytes: &[u8], at: usize) -> Option<usize> {
    match bytes.get(at)? {
        b'"' => string_end(bytes, at),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = at;
            loop {
                match bytes.get(i)? {
                    b'"' => {
                        i = string_end(bytes, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let mut i = at;
            while bytes
                .get(i)
                .is_some_and(|b| !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
            {
                i += 1;
            }
            (i > at).then_some(i)
        }
    }
}

/// Whether a raw key body (between the quotes) decodes to `key`.
pub(super) fn key_eq(raw: &str, key: &str) -> bool {
    if !raw.contains('\\') {
        return short_eq(raw, key);
    }
    let mut want = key.chars();
    let mut ok = true;
    let complete = decode(raw, |c| {
        ok &= want.next() == Some(c);
        ok
    });
    complete && ok && want.next().is_none()
}

/// Decodes a raw string body: borrowed when it has no escapes.
pub(crate) fn unescape(raw: &str) -> Option<Cow<'_, str>> {
    if !raw.bytes().any(|b| b == b'\\') {
        return Some(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    decode(raw, |c| {
        out.push(c);
        true
    })
    .then_some(Cow::Owned(out))
}

/// Feeds the decoded chars of a raw string body to `sink` until it returns false. Returns
/// whether the whole body was decoded (false on a bad escape or when the sink stopped).
fn decode(raw: &str, mut sink: impl FnMut(char) -> bool) -> bool {
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        let decoded = if c != '\\' {
            Some(c)
        } else {
            match chars.next() {
                Some('"') => Some('"'),
                Some('\\') => Some('\\'),
                Some('/') => Some('/'),
                Some('b') => Some('\u{8}'),
                Some('f') => Some('\u{c}'),
                Some('n') => Some('\n'),
                Some('r') => Some('\r'),
                Some('t') => Some('\t'),
                Some('u') => hex4(&mut chars).and_then(|hi| {
                    if (0xD800..0xDC00).contains(&hi) {
                        let rest = chars.as_str();
                        let lo = rest.strip_prefix("\\u").and_then(|r| {
                            let mut it = r.chars();
                            let lo = hex4(&mut it)?;
                            chars = it;
                            Some(lo)
                        })?;
                        (0xDC00..0xE000).contains(&lo).then_some(())?;
                        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                    } else {
                        char::from_u32(hi)
                    }
                }),
                _ => None,
            }
        };
        match decoded {
            Some(c) if sink(c) => {}
            _ => return false,
        }
    }
    true
}

fn hex4(chars: &mut std::str::Chars<'_>) -> Option<u32> {
    let mut v = 0;
    for _ in 0..4 {
        v = v * 16 + chars.next()?.to_digit(16)?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lookup_follows_paths_and_last_duplicate_wins() {
        let raw =
            r#" {"a": {"b": [1, "x", {"c": null}]}, "k y": true, "a\u0062": 5, "d": 1, "d": 2} "#;
        let key = |k: &str| PathSeg::Key(k.into());
        assert_eq!(
            lookup(raw, &[key("a"), key("b"), PathSeg::Index(1)]),
            Some(r#""x""#)
        );
        assert_eq!(
            lookup(raw, &[key("a"), key("b"), PathSeg::Index(2), key("c")]),
            Some("null")
        );
        assert_eq!(lookup(raw, &[key("k y")]), Some("true"));
        assert_eq!(lookup(raw, &[key("ab")]), Some("5"));
        assert_eq!(lookup(raw, &[key("d")]), Some("2"));
        assert_eq!(lookup(raw, &[key("a"), PathSeg::Index(0)]), None);
        assert_eq!(lookup(raw, &[key("a"), key("b"), PathSeg::Index(3)]), None);
        assert_eq!(lookup(raw, &[key("zz")]), None);
    }

    #[test]
    fn strings_decode_escapes() {
        assert_eq!(
            value(r#""a\"b\\\n\u00e9\ud83d\ude00""#),
            Some(Val::Str("a\"b\\\né😀".into()))
        );
        assert_eq!(
            value(r#""\ud83d""#),
            None,
            "a lone surrogate is not a string"
        );
        assert!(matches!(
            value(r#""plain""#),
            Some(Val::Str(Cow::Borrowed("plain")))
        ));
    }

    proptest! {
        #[test]
        fn short_eq_is_equality(a in "[ab]{0,20}", b in "[ab]{0,20}") {
            prop_assert_eq!(short_eq(&a, &b), a == b);
            prop_assert!(short_eq(&a, &a));
        }

        /// The word-at-a-time string scan finds what a byte-at-a-time scan finds.
        #[test]
        fn string_scan_is_bytewise(body in "a{0,20}[ab\"\\\\]{0,30}") {
            let text = format!("\"{body}");
            let bytes = text.as_bytes();
            let mut expected = None;
            let (mut i, mut escaped) = (1, false);
            while let Some(&b) = bytes.get(i) {
                match b {
                    b'"' => {
                        expected = Some((i + 1, escaped));
                        break;
                    }
                    b'\\' => {
                        escaped = true;
                        i += 2;
                    }
                    _ => i += 1,
                }
            }
            prop_assert_eq!(string_end_escaped(bytes, 0), expected);
        }

        #[test]
        fn scanning_never_panics(raw in any::<String>(), key in "[a-c]{0,2}") {
            let _ = lookup(&raw, &[PathSeg::Key(key), PathSeg::Index(1)]);
            let _ = value(&raw);
        }
    }

    #[test]
    fn finds_what_needs_escaping_anywhere_in_a_string() {
        let plain = "abcdefghijklmnopqrstuvwxyz é ~\u{7f}";
        assert!(!needs_escape(plain.as_bytes()));
        for special in ['"', '\\', '\n', '\u{0}', '\u{1f}'] {
            for at in 0..plain.len() {
                if !plain.is_char_boundary(at) {
                    continue;
                }
                let mut s = plain.to_string();
                s.insert(at, special);
                assert!(needs_escape(s.as_bytes()), "{s:?}");
            }
        }
        for byte in 0u8..=0x7f {
            // In a word and in the remainder, next to bytes with their high bit set.
            for s in [
                format!("é{}é12345", char::from(byte)),
                format!("12345678é{}", char::from(byte)),
            ] {
                let escaped = serde_json::to_string(&s).unwrap() != format!("\"{s}\"");
                assert_eq!(
                    needs_escape(s.as_bytes()),
                    escaped,
                    "byte {byte:#x} in {s:?}"
                );
            }
        }
    }
}
