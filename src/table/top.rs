//! The top-level members of one call's arguments, indexed in one scan of the raw JSON on
//! first use and shared by every condition of a decision ([`Top`]): byte offsets on the
//! stack, no allocation. Values are read as [`super::json`] reads them.

use super::json::{
    Val, bytes_eq, key_eq, lookup, skip_ws, string_end_escaped, trim_ws, value, value_end,
};
use crate::ir::PathSeg;
use std::borrow::Cow;

/// How many top-level members [`Top`] indexes; an object with more is searched directly.
const TOP_MEMBERS: usize = 8;

/// The top-level members of a call's arguments, found in one scan on first use and shared by
/// every condition of one decision. Lives on the stack: no allocation.
#[derive(Debug)]
pub(crate) struct Top<'a> {
    raw: Option<&'a str>,
    members: [Member; TOP_MEMBERS],
    len: usize,
    state: TopState,
}

/// One top-level member, as byte offsets into the trimmed arguments text (kept small: the
/// array is zeroed once per decision).
#[derive(Clone, Copy, Debug, Default)]
struct Member {
    /// The key's body, between its quotes.
    key: (u32, u32),
    /// The value, without surrounding whitespace.
    value: (u32, u32),
    /// The key holds escapes (compared decoded).
    key_escaped: bool,
    /// The value is a string without escapes: its body is the decoded string.
    plain_str: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TopState {
    Unscanned,
    /// `members` holds every member.
    Complete,
    /// Not an object, or too many members: lookups scan `raw`.
    Direct,
}

impl<'a> Top<'a> {
    pub(crate) fn new(raw: Option<&'a str>) -> Top<'a> {
        Top {
            raw: raw.map(trim_ws),
            members: [Member::default(); TOP_MEMBERS],
            len: 0,
            state: TopState::Unscanned,
        }
    }

    /// Records every member in one pass over the bytes; anything unexpected (or more than
    /// [`TOP_MEMBERS`] members) leaves lookups to scan the text directly.
    fn scan(&mut self) {
        self.state = TopState::Direct;
        let Some(raw) = self.raw else {
            return;
        };
        let b = raw.as_bytes();
        if b.first() != Some(&b'{') || u32::try_from(b.len()).is_err() {
            return;
        }
        let mut at = 1;
        let mut len = 0;
        loop {
            at = skip_ws(b, at);
            if b.get(at) == Some(&b',') {
                at = skip_ws(b, at + 1);
            }
            if b.get(at) != Some(&b'"') {
                break;
            }
            let Some((key_end, key_escaped)) = string_end_escaped(b, at) else {
                return;
            };
            let key = (at as u32 + 1, key_end as u32 - 1);
            at = skip_ws(b, key_end);
            if b.get(at) != Some(&b':') {
                return;
            }
            let start = skip_ws(b, at + 1);
            let end = if b.get(start) == Some(&b'"') {
                string_end_escaped(b, start)
            } else {
                value_end(b, start).map(|end| (end, true))
            };
            let Some((end, escaped)) = end else {
                return;
            };
            let Some(slot) = self.members.get_mut(len) else {
                return;
            };
            *slot = Member {
                key,
                value: (start as u32, end as u32),
                key_escaped,
                plain_str: !escaped,
            };
            len += 1;
            at = end;
        }
        self.len = len;
        self.state = TopState::Complete;
    }

    /// The value at `path`, as [`value`] of [`lookup`] on the whole arguments.
    pub(crate) fn value(&mut self, path: &[PathSeg]) -> Option<Val<'a>> {
        if self.state == TopState::Unscanned {
            self.scan();
        }
        match path.split_first() {
            Some((PathSeg::Key(k), rest)) if self.state == TopState::Complete => {
                let raw = self.raw?;
                let m = self.find(raw, k)?;
                let (start, end) = (m.value.0 as usize, m.value.1 as usize);
                if rest.is_empty() && m.plain_str {
                    let body = raw.get(start + 1..end.checked_sub(1)?)?;
                    return Some(Val::Str(Cow::Borrowed(body)));
                }
                let v = raw.get(start..end)?;
                if rest.is_empty() {
                    value(v)
                } else {
                    value(lookup(v, rest)?)
                }
            }
            _ => value(lookup(self.raw?, path)?),
        }
    }

    /// The last member whose key decodes to `k`.
    fn find(&self, raw: &str, k: &str) -> Option<Member> {
        let bytes = raw.as_bytes();
        self.members
            .get(..self.len)?
            .iter()
            .rev()
            .find(|m| {
                let (start, end) = (m.key.0 as usize, m.key.1 as usize);
                if m.key_escaped {
                    raw.get(start..end).is_some_and(|key| key_eq(key, k))
                } else {
                    bytes
                        .get(start..end)
                        .is_some_and(|key| bytes_eq(key, k.as_bytes()))
                }
            })
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The one-scan index of top-level members reads what a direct search reads: escaped
        /// keys and values, duplicates (the last wins), whitespace, nested values, and objects
        /// with more members than it indexes.
        #[test]
        fn top_agrees_with_direct_lookup(
            members in proptest::collection::vec(
                (
                    prop::sample::select(vec![r#"a"#, r#"b"#, r#"\u0061"#, r#"a\"b"#, "long_key_name"]),
                    prop::sample::select(vec![
                        r#""x""#, r#""a\nb""#, "7", "-0.5e3", "true", "null", r#"[1, "a"]"#,
                        r#"{"a": {"b": 1}}"#, r#""""#, r#""ns-5000""#,
                    ]),
                ),
                0..12,
            ),
            ws in prop::sample::select(vec!["", " ", "\n\t "]),
        ) {
            let body: Vec<String> = members
                .iter()
                .map(|(k, v)| format!("{ws}\"{k}\"{ws}:{ws}{v}{ws}"))
                .collect();
            let raw = format!("{ws}{{{}}}{ws}", body.join(","));
            for k in ["a", "b", "a\"b", "long_key_name", "zz"] {
                for path in [vec![PathSeg::Key(k.into())], vec![PathSeg::Key(k.into()), PathSeg::Key("b".into())]] {
                    let mut top = Top::new(Some(&raw));
                    prop_assert_eq!(top.value(&path), lookup(&raw, &path).and_then(value), "{} {:?}", raw, path);
                }
            }
        }
    }
}
