//! Server-sent events as warden relays them: split a byte stream into events as it arrives
//! (never buffering a whole stream), read an event's `data`, and rewrite only the `data` of an
//! event whose message warden changed. Every other event, and every other field (`id`,
//! `event`, `retry`, comments), passes through byte for byte.
//!
//! Lines end with `\r\n`, `\n` or `\r` (the SSE grammar); an event ends at an empty line.

/// Splits a stream of chunks into whole events.
#[derive(Debug, Default)]
pub struct Splitter {
    buf: Vec<u8>,
}

/// Why a stream cannot be relayed further.
#[derive(Debug, PartialEq, Eq)]
pub struct TooLong(pub usize);

impl Splitter {
    /// Adds a chunk; returns the events it completed (each with its terminating blank line).
    /// An event longer than `max` bytes is an error.
    pub fn push(&mut self, chunk: &[u8], max: usize) -> Result<Vec<Vec<u8>>, TooLong> {
        self.buf.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(end) = event_end(&self.buf) {
            let rest = self.buf.split_off(end);
            events.push(std::mem::replace(&mut self.buf, rest));
        }
        if self.buf.len() > max {
            return Err(TooLong(self.buf.len()));
        }
        Ok(events)
    }

    /// What is left at the end of the stream (an unterminated event), if anything.
    pub fn rest(self) -> Option<Vec<u8>> {
        (!self.buf.iter().all(u8::is_ascii_whitespace)).then_some(self.buf)
    }
}

/// The lines of `text` with their terminators' lengths; `None` when the last line's end is not
/// yet known (no terminator, or a `\r` that a `\n` may follow in the next chunk).
fn next_line(text: &[u8], from: usize) -> Option<(usize, usize)> {
    let rel = text[from..]
        .iter()
        .position(|b| *b == b'\n' || *b == b'\r')?;
    let i = from + rel;
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
fn lines(event: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some((end, term)) = next_line(event, pos) {
        if end == pos {
            break;
        }
        out.push(&event[pos..end]);
        pos = end + term;
    }
    out
}

/// A line's field name and value (`field: value`, one leading space of the value dropped).
fn field(line: &[u8]) -> (&[u8], &[u8]) {
    match line.iter().position(|b| *b == b':') {
        Some(i) => {
            let value = &line[i + 1..];
            (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
        }
        None => (line, &[]),
    }
}

/// The event's data (its `data` lines joined by `\n`), or `None` when it has no data line or
/// only empty data (a priming event).
pub fn data(event: &[u8]) -> Option<Vec<u8>> {
    let parts: Vec<&[u8]> = lines(event)
        .into_iter()
        .map(field)
        .filter(|(name, _)| *name == b"data")
        .map(|(_, value)| value)
        .collect();
    let joined = parts.join(&b'\n');
    (!joined.iter().all(u8::is_ascii_whitespace)).then_some(joined)
}

/// The event's `id`, if it has one.
pub fn id(event: &[u8]) -> Option<String> {
    lines(event)
        .into_iter()
        .map(field)
        .find(|(name, _)| *name == b"id")
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
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
            events.extend(s.push(chunk, 1024).unwrap());
        }
        assert_eq!(events.len(), 3);
        assert_eq!(data(&events[0]), None);
        assert_eq!(id(&events[0]).as_deref(), Some("1"));
        assert_eq!(data(&events[1]).unwrap(), br#"{"a":1}"#);
        assert_eq!(id(&events[1]).as_deref(), Some("2"));
        assert_eq!(data(&events[2]).unwrap(), b"x\ny");
        assert_eq!(s.rest().unwrap(), b": comment\n");
    }

    #[test]
    fn rewrites_only_the_data() {
        let event = b"event: message\r\nid: 7\r\ndata: {\"old\":1}\r\n\r\n";
        let out = with_data(event, b"{\"new\":2}");
        assert_eq!(out, b"event: message\nid: 7\ndata: {\"new\":2}\n\n");
        let mut s = Splitter::default();
        assert_eq!(s.push(&out, 100).unwrap(), vec![out.clone()]);
        assert_eq!(data(&message(b"{}")).unwrap(), b"{}");
    }

    #[test]
    fn refuses_an_endless_event() {
        let mut s = Splitter::default();
        assert_eq!(s.push(&[b'a'; 20], 10), Err(TooLong(20)));
    }
}
