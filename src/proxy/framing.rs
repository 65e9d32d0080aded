//! Newline-delimited JSON-RPC framing with a size limit.
//!
//! [`LineReader`] (async) and [`BlockingLineReader`] (a thread's blocking reads) yield one
//! line at a time without ever holding more than `max` bytes of a line: a longer line is
//! skipped to its newline and reported as [`Frame::TooLong`], so a hostile peer cannot make
//! warden buffer without bound.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One unit read from a newline-delimited stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A complete line, without its `\n` (and without a trailing `\r`).
    Line(Vec<u8>),
    /// A line longer than the limit; its bytes were dropped. Carries the length seen.
    TooLong(usize),
    /// End of the stream. A final line without a newline is returned as `Line` first.
    Eof,
}

pub struct LineReader<R> {
    inner: R,
    lines: Lines,
}

/// The framing itself, fed with whatever bytes the reader has buffered: shared by the async
/// [`LineReader`] and the blocking [`BlockingLineReader`].
struct Lines {
    max: usize,
    line: Vec<u8>,
    seen: usize,
    overflow: bool,
}

impl Lines {
    fn new(max: usize) -> Lines {
        Lines {
            max,
            line: Vec::new(),
            seen: 0,
            overflow: false,
        }
    }

    /// Takes bytes from `available` (non-empty); returns how many it consumed, and the frame
    /// they complete, if any.
    fn take(&mut self, available: &[u8]) -> (usize, Option<Frame>) {
        let (chunk, done) = match memchr::memchr(b'\n', available) {
            Some(i) => (&available[..i], Some(i + 1)),
            None => (available, None),
        };
        self.seen += chunk.len();
        if !self.overflow {
            if self.line.len() + chunk.len() > self.max {
                self.overflow = true;
                self.line = Vec::new();
            } else {
                self.line.extend_from_slice(chunk);
            }
        }
        match done {
            Some(consumed) => (consumed, Some(self.finish())),
            None => (available.len(), None),
        }
    }

    /// The stream ended: a final line without a newline, or the end.
    fn end(&mut self) -> Frame {
        if !self.overflow && self.line.is_empty() && self.seen == 0 {
            return Frame::Eof;
        }
        self.finish()
    }

    fn finish(&mut self) -> Frame {
        let (line, seen, overflow) = (
            std::mem::take(&mut self.line),
            std::mem::take(&mut self.seen),
            std::mem::take(&mut self.overflow),
        );
        if overflow {
            Frame::TooLong(seen)
        } else {
            Frame::Line(trim_cr(line))
        }
    }
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub fn new(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            lines: Lines::new(max),
        }
    }

    pub async fn next(&mut self) -> std::io::Result<Frame> {
        loop {
            let available = self.inner.fill_buf().await?;
            if available.is_empty() {
                return Ok(self.lines.end());
            }
            let (consumed, frame) = self.lines.take(available);
            self.inner.consume(consumed);
            if let Some(frame) = frame {
                return Ok(frame);
            }
        }
    }
}

/// [`LineReader`] over blocking I/O, for a thread that owns one side of a relay.
pub struct BlockingLineReader<R> {
    inner: std::io::BufReader<R>,
    lines: Lines,
}

impl<R: std::io::Read> BlockingLineReader<R> {
    pub fn new(inner: R, max: usize) -> Self {
        BlockingLineReader {
            inner: std::io::BufReader::with_capacity(64 * 1024, inner),
            lines: Lines::new(max),
        }
    }

    pub fn next_frame(&mut self) -> std::io::Result<Frame> {
        use std::io::BufRead;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return Ok(self.lines.end());
            }
            let (consumed, frame) = self.lines.take(available);
            self.inner.consume(consumed);
            if let Some(frame) = frame {
                return Ok(frame);
            }
        }
    }

    /// True when a complete line is already buffered: [`BlockingLineReader::next_frame`] will
    /// return without waiting for the peer.
    pub fn holds_line(&self) -> bool {
        memchr::memchr(b'\n', self.inner.buffer()).is_some()
    }
}

fn trim_cr(mut line: Vec<u8>) -> Vec<u8> {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(input: &[u8], max: usize) -> Vec<Frame> {
        let mut r = LineReader::new(tokio::io::BufReader::with_capacity(4, input), max);
        let mut out = Vec::new();
        loop {
            let f = r.next().await.unwrap();
            let eof = f == Frame::Eof;
            out.push(f);
            if eof {
                return out;
            }
        }
    }

    /// A reader that hands out at most three bytes per read, as a slow pipe would.
    struct Trickle<'a>(&'a [u8]);

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(3);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn blocking_frames(input: &[u8], max: usize) -> Vec<Frame> {
        let mut r = BlockingLineReader::new(Trickle(input), max);
        let mut out = Vec::new();
        loop {
            let f = r.next_frame().unwrap();
            let eof = f == Frame::Eof;
            out.push(f);
            if eof {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn splits_lines_and_skips_long_ones() {
        let cases: [(&[u8], Vec<Frame>); 4] = [
            (
                b"ab\r\n0123456789\nxy",
                vec![
                    Frame::Line(b"ab".to_vec()),
                    Frame::TooLong(10),
                    Frame::Line(b"xy".to_vec()),
                    Frame::Eof,
                ],
            ),
            (b"", vec![Frame::Eof]),
            (b"\n", vec![Frame::Line(vec![]), Frame::Eof]),
            (
                b"0123456789\nabcde\n123456",
                vec![
                    Frame::TooLong(10),
                    Frame::Line(b"abcde".to_vec()),
                    Frame::TooLong(6),
                    Frame::Eof,
                ],
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(frames(input, 5).await, expected, "{input:?}");
            assert_eq!(blocking_frames(input, 5), expected, "{input:?}");
        }
    }

    #[test]
    fn a_blocking_reader_knows_when_a_line_is_buffered() {
        let mut r = BlockingLineReader::new(&b"a\nb\nc"[..], 10);
        assert!(!r.holds_line(), "nothing read yet");
        assert_eq!(r.next_frame().unwrap(), Frame::Line(b"a".to_vec()));
        assert!(r.holds_line(), "b is buffered");
        assert_eq!(r.next_frame().unwrap(), Frame::Line(b"b".to_vec()));
        assert!(!r.holds_line(), "c has no newline yet");
    }
}
