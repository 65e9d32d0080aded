//! Duplicate keys in a client message, at any depth: JSON parsers disagree on which of two
//! equal keys wins, so `{"name":"echo","name":"delete_file"}` could be decided as one tool and
//! run as another. warden refuses such a message.
//!
//! One pass over the text, after a JSON parser has accepted it (`client_message` reads the
//! envelope first): containers are tracked on a stack, and each object's keys compared as
//! they come, borrowed from the text unless they hold escapes (then unescaped, so that `"a"`
//! and `"\u0061"` are the same key). Strings are skipped to their closing quote with a
//! vectorised search; nothing else is looked at. Objects in MCP messages have a handful of
//! keys, so a linear search beats hashing until they get large.

use std::borrow::Cow;
use std::collections::HashSet;

use smallvec::SmallVec;

/// Objects with more keys than this are checked with a hash set.
const LINEAR_KEYS: usize = 16;

/// Fails on the first object, at any depth, that has a key twice (after unescaping). `text`
/// is JSON a parser has accepted; anything else may pass or fail, but never panics.
pub fn check(text: &str) -> Result<(), String> {
    let bytes = text.as_bytes();
    // The keys of every open object, innermost last; each open container's frame.
    let mut keys: SmallVec<[Cow<'_, str>; 16]> = SmallVec::new();
    let mut open: SmallVec<[Frame<'_>; 8]> = SmallVec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => open.push(Frame::object(keys.len())),
            b'[' => open.push(Frame::array()),
            b'}' | b']' => {
                if let Some(frame) = open.pop()
                    && let Some(start) = frame.keys
                {
                    keys.truncate(start);
                }
            }
            b',' => {
                if let Some(frame) = open.last_mut() {
                    frame.expect_key = frame.keys.is_some();
                }
            }
            b'"' => {
                let end = string_end(bytes, i + 1).ok_or("unterminated string")?;
                if let Some(frame) = open.last_mut()
                    && frame.expect_key
                {
                    frame.expect_key = false;
                    frame.insert(&mut keys, key(text, i, end)?)?;
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// An open object or array.
struct Frame<'a> {
    /// An object's: where its keys start in the list of open objects' keys.
    keys: Option<usize>,
    /// The next string is a key.
    expect_key: bool,
    /// An object's keys once it has many.
    many: Option<HashSet<Cow<'a, str>>>,
}

impl<'a> Frame<'a> {
    fn object(start: usize) -> Frame<'a> {
        Frame {
            keys: Some(start),
            expect_key: true,
            many: None,
        }
    }

    fn array() -> Frame<'a> {
        Frame {
            keys: None,
            expect_key: false,
            many: None,
        }
    }

    /// Adds one of this object's keys (its others are `all[start..]`).
    fn insert(
        &mut self,
        all: &mut SmallVec<[Cow<'a, str>; 16]>,
        key: Cow<'a, str>,
    ) -> Result<(), String> {
        let start = self.keys.unwrap_or(all.len());
        let seen = match &mut self.many {
            Some(set) => !set.insert(key.clone()),
            None if all.len() - start < LINEAR_KEYS => {
                let seen = all[start..].contains(&key);
                all.push(key.clone());
                seen
            }
            None => {
                let mut set: HashSet<Cow<'a, str>> = all.drain(start..).collect();
                let seen = !set.insert(key.clone());
                self.many = Some(set);
                seen
            }
        };
        if seen {
            return Err(format!("duplicate key `{key}`"));
        }
        Ok(())
    }
}

/// The index of the quote that closes the string whose contents start at `from`.
fn string_end(bytes: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let at = from + memchr::memchr2(b'"', b'\\', bytes.get(from..)?)?;
        if bytes[at] == b'"' {
            return Some(at);
        }
        from = at + 2; // an escape: the next byte is not a closing quote
    }
}

/// The key whose quotes are at `open` and `close`: borrowed, or unescaped if it has escapes.
fn key(text: &str, open: usize, close: usize) -> Result<Cow<'_, str>, String> {
    let raw = text.get(open + 1..close).ok_or("malformed key")?;
    if !raw.contains('\\') {
        return Ok(Cow::Borrowed(raw));
    }
    let quoted = text.get(open..=close).ok_or("malformed key")?;
    serde_json::from_str::<String>(quoted)
        .map(Cow::Owned)
        .map_err(|e| format!("malformed key: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn finds_duplicates_in_objects_of_any_size() {
        for n in [2, 15, 16, 17, 40] {
            let keys: Vec<String> = (0..n).map(|i| format!("\"k{i}\":{i}")).collect();
            let object = format!("{{{}}}", keys.join(","));
            assert!(check(&object).is_ok(), "{object}");
            for dup in [r#""k0":0"#, r#""\u006b1":1"#] {
                let with = format!("{{{},{dup}}}", keys.join(","));
                let e = check(&with).unwrap_err();
                assert!(e.contains("duplicate key"), "{n} keys + {dup}: {e}");
            }
            let nested = format!(r#"{{"a":[{object},{{"x":1,"x":2}}]}}"#);
            assert!(check(&nested).is_err());
        }
    }

    #[test]
    fn strings_that_look_like_structure_are_only_strings() {
        assert!(check(r#"{"a":"}{\"a\":1,","b":"\\","c":["a","a"]}"#).is_ok());
        assert!(check(r#"{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}"#).is_ok());
        assert!(check(r#"{"a\"b":1,"a\u0022b":2}"#).is_err());
        assert!(check(r#"{"x":[1,{"k":1,"j":2,"k":3}]}"#).is_err());
        assert!(check(r#"{"unterminated"#).is_err());
    }

    /// JSON text whose objects may repeat keys (a `Value` could not: its maps merge them),
    /// with keys that are equal only once unescaped.
    fn json() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            Just(r#""a""#),
            Just(r#""\u0061""#),
            Just(r#""b""#),
            Just(r#""a\"b""#),
            Just(r#""}""#),
        ];
        let leaf = prop_oneof![
            Just("1".to_string()),
            Just("-2.5e3".to_string()),
            Just("null".to_string()),
            Just(r#""x,{\"]""#.to_string()),
            Just(r#""\\""#.to_string()),
        ];
        leaf.prop_recursive(4, 32, 5, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec((key.clone(), inner), 0..5).prop_map(|members| {
                    let members: Vec<String> = members
                        .into_iter()
                        .map(|(k, v)| format!("{k} : {v}"))
                        .collect();
                    format!("{{ {} }}", members.join(" ,"))
                }),
            ]
        })
    }

    /// What a JSON parser's reading says: serde_json with a visitor that keeps every key.
    fn reference(text: &str) -> bool {
        use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
        struct Any;
        impl<'de> DeserializeSeed<'de> for Any {
            type Value = ();
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                d.deserialize_any(Any)
            }
        }
        impl<'de> Visitor<'de> for Any {
            type Value = ();
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, _: bool) -> Result<(), E> {
                Ok(())
            }
            fn visit_u64<E>(self, _: u64) -> Result<(), E> {
                Ok(())
            }
            fn visit_i64<E>(self, _: i64) -> Result<(), E> {
                Ok(())
            }
            fn visit_f64<E>(self, _: f64) -> Result<(), E> {
                Ok(())
            }
            fn visit_str<E>(self, _: &str) -> Result<(), E> {
                Ok(())
            }
            fn visit_unit<E>(self) -> Result<(), E> {
                Ok(())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
                while seq.next_element_seed(Any)?.is_some() {}
                Ok(())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
                let mut keys = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if keys.contains(&key) {
                        return Err(serde::de::Error::custom("duplicate"));
                    }
                    keys.push(key);
                    map.next_value_seed(Any)?;
                }
                Ok(())
            }
        }
        let mut de = serde_json::Deserializer::from_str(text);
        Any.deserialize(&mut de).is_ok()
    }

    proptest! {
        #[test]
        fn agrees_with_a_parser_s_reading(text in json()) {
            prop_assert!(serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok(), "{}", text);
            prop_assert_eq!(check(&text).is_ok(), reference(&text), "{}", text);
        }

        #[test]
        fn never_panics(text in ".{0,64}") {
            let _ = check(&text);
        }
    }
}
