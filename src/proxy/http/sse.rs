//! Server-sent events as warden relays them: split a byte stream into events as it arrives
//! (never buffering a whole stream), read an event's `data`, and rewrite only the `data` of an
//! event whose message warden changed. Every other event, and every other field (`id`,
//! `event`, `retry`, comments), passes through byte for byte.
//!
//! Lines end with `\r\n`, `\n` or `\r` (the SSE grammar); an event ends at an empty line.

use std::borrow::Cow;

/// Splits a stream of chunks into whole events.
#[derive(Debug, Default)]
pub struct Splitter {
    buf: Vec<u8>,
}

/// Why a stream cannot be relayed further.
#[derive(Debug, PartialEq, Eq)]
pub struct TooLong(pub usize);

impl Splitter {
    /// Adds a chunk and hands each event it completed (with its terminating blank line) to
    /// `each`, borrowed from the buffer. An event longer than `max` bytes is an error.
    pub fn push(
        &mut self,
        chunk: &[u8],
        max: usize,
        mut each: impl FnMut(&[u8]),
    ) -> Result<(), TooLong> {
        if self.buf.is_empty() {
            // Complete events are read from the chunk itself; only a partial one is kept.
            let start = events(chunk, &mut each);
            self.buf.extend_from_slice(&chunk[start..]);
        } else {
            self.buf.extend_from_slice(chunk);
            let start = events(&self.buf, &mut each);
            self.buf.drain(..start);
        }
        if self.buf.len() > max {
            return Err(TooLong(self.buf.len()));
        }
        Ok(())
    }

    /// What is left at the end of the stream (an unterminated event), if anything.
    pub fn rest(self) -> Option<Vec<u8>> {
        (!self.buf.iter().all(u8::is_ascii_whitespace)).then_some(self.buf)
    }
}

/// Hands each complete event at the start of `text` to `each`; returns where the rest starts.
fn events(text: &[u8], each: &mut impl FnMut(&[u8])) -> usize {
    let mut start = 0;
    while let Some(len) = event_end(&text[start..]) {
        each(&text[start..start + len]);
        start += len;
    }
    start
}

/// The lines of `text` with their terminators' lengths; `None` when the last line's end is not
/// yet known (no terminator, or a `\r` that a `\n` may follow in the next chunk).
fn next_line(text: &[u8], from: usize) -> Option<(usize, usize)> {
    let i = from + memchr::memchr2(b'\n', b'\r', &text[from..])?;
    let term = match (text[i], text.get(i + 1)) {
        (b'\r', Some(b'\n')) => 2,
        (b'\r', None) => return None,
        _ => 1,
    };
    Some((i, term))
}

/// The length of the first complete event in `buf` (through its empty line).
fn event_end(buf: &[u8]) -> Option<usize> {
    let mut pos = 0;
    loop {
        let (end, term) = next_line(buf, pos)?;
        if end == pos {
            return Some(end + term);
        }
        pos = end + term;
    }
}

/// The lines of a complete event, without terminators (the final empty line excluded).
fn lines(event: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let (end, term) = next_line(event, pos)?;
        if end == pos {
            return None;
        }
        let line = &event[pos..end];
        pos = end + term;
        Some(line)
    })
}

/// A line's field name and value (`field: value`, one leading space of the value dropped).
fn field(line: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(b':', line) {
        Some(i) => {
            let value = &line[i + 1..];
            (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
        }
        None => (line, &[]),
    }
}

/// The event's data (its `data` lines joined by `\n`; borrowed when there is one), or `None`
/// when it has no data line or only empty data (a priming event).
pub fn data(event: &[u8]) -> Option<Cow<'_, [u8]>> {
    let mut data: Option<Cow<'_, [u8]>> = None;
    for (name, value) in lines(event).map(field) {
        if name != b"data" {
            continue;
        }
        data = Some(match data {
            None => Cow::Borrowed(value),
            Some(before) => {
                let mut joined = before.into_owned();
                joined.push(b'\n');
                joined.extend_from_slice(value);
                Cow::Owned(joined)
            }
        });
    }
    data.filter(|d| !d.iter().all(u8::is_ascii_whitespace))
}

/// The event with its data replaced by `data` (one line: JSON text has no raw newlines); every
/// other line kept in place.
pub fn with_data(event: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(event.len() + data.len());
    let mut written = false;
    for line in lines(event) {
        if field(line).0 == b"data" {
            if !written {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(data);
                out.push(b'\n');
                written = true;
            }
        } else {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
    }
    if !written {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(data);
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

/// A new `message` event carrying `data`.
pub fn message(data: &[u8]) -> Vec<u8> {
    let mut out = b"event: message\ndata: ".to_vec();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_events_across_chunks_and_line_endings() {
        let mut s = Splitter::default();
        let stream: &[&[u8]] = &[
            b"id: 1\ndata: \n\nevent: message\r",
            b"\nid: 2\r\ndata: {\"a\":1}\r\n\r",
            b"\ndata: x\rdata: y\r\r: comment\n",
        ];
        let mut events = Vec::new();
        for chunk in stream {
            s.push(chunk, 1024, |e| events.push(e.to_vec())).unwrap();
        }
        assert_eq!(events.len(), 3);
        assert_eq!(data(&events[0]), None);
        assert!(matches!(
            data(&events[1]),
            Some(Cow::Borrowed(br#"{"a":1}"#))
        ));
        assert_eq!(data(&events[2]).unwrap().as_ref(), b"x\ny");
        assert_eq!(s.rest().unwrap(), b": comment\n");
    }

    #[test]
    fn the_same_events_wherever_the_chunks_split() {
        let stream =
            b"id: 1\ndata: a\n\nevent: message\r\ndata: {\"b\":2}\r\n\r\ndata: c\r\rdata: d\n\n";
        let split = |chunks: &[&[u8]]| {
            let mut s = Splitter::default();
            let mut events = Vec::new();
            for chunk in chunks {
                s.push(chunk, 1024, |e| events.push(e.to_vec())).unwrap();
            }
            (events, s.rest())
        };
        let whole = split(&[stream]);
        assert_eq!(whole.0.len(), 4);
        for i in 0..=stream.len() {
            for j in i..=stream.len() {
                let (a, rest) = stream.split_at(i);
                let (b, c) = rest.split_at(j - i);
                assert_eq!(split(&[a, b, c]), whole, "split at {i} and {j}");
            }
        }
    }

    #[test]
    fn rewrites_only_the_data() {
        let event = b"event: message\r\nid: 7\r\ndata: {\"old\":1}\r\n\r\n";
        let out = with_data(event, b"{\"new\":2}");
        assert_eq!(out, b"event: message\nid: 7\ndata: {\"new\":2}\n\n");
        let mut s = Splitter::default();
        let mut events = Vec::new();
        s.push(&out, 100, |e| events.push(e.to_vec())).unwrap();
        assert_eq!(events, vec![out.clone()]);
        assert_eq!(data(&message(b"{}")).unwrap().as_ref(), b"{}");
    }

    #[test]
    fn refuses_an_endless_event() {
        let mut s = Splitter::default();
        assert_eq!(s.push(&[b'a'; 20], 10, |_| {}), Err(TooLong(20)));
    }
}
