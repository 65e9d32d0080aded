//! Newline-delimited JSON-RPC framing with a size limit.
//!
//! [`LineReader`] yields one line at a time without ever holding more than `max` bytes of a
//! line: a longer line is skipped to its newline and reported as [`Frame::TooLong`], so a
//! hostile peer cannot make warden buffer without bound.

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
    max: usize,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub fn new(inner: R, max: usize) -> Self {
        LineReader { inner, max }
    }

    pub async fn next(&mut self) -> std::io::Result<Frame> {
        let mut line = Vec::new();
        let mut seen = 0usize;
        let mut overflow = false;
        loop {
            let available = self.inner.fill_buf().await?;
            if available.is_empty() {
                return Ok(match (overflow, line.is_empty() && seen == 0) {
                    (true, _) => Frame::TooLong(seen),
                    (false, true) => Frame::Eof,
                    (false, false) => Frame::Line(trim_cr(line)),
                });
            }
            let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
                Some(i) => (&available[..i], Some(i + 1)),
                None => (available, None),
            };
            seen += chunk.len();
            if !overflow {
                if line.len() + chunk.len() > self.max {
                    overflow = true;
                    line = Vec::new();
                } else {
                    line.extend_from_slice(chunk);
                }
            }
            let consumed = done.unwrap_or(available.len());
            self.inner.consume(consumed);
            if done.is_some() {
                if overflow {
                    return Ok(Frame::TooLong(seen));
                }
                return Ok(Frame::Line(trim_cr(line)));
            }
        }
    }
}

impl<R: tokio::io::AsyncRead + Unpin> LineReader<tokio::io::BufReader<R>> {
    /// True when a complete line is already buffered: [`LineReader::next`] will return
    /// without waiting for the peer.
    pub fn holds_line(&self) -> bool {
        self.inner.buffer().contains(&b'\n')
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

    #[tokio::test]
    async fn splits_lines_and_skips_long_ones() {
        let got = frames(b"ab\r\n0123456789\nxy", 5).await;
        assert_eq!(
            got,
            vec![
                Frame::Line(b"ab".to_vec()),
                Frame::TooLong(10),
                Frame::Line(b"xy".to_vec()),
                Frame::Eof
            ]
        );
        assert_eq!(frames(b"", 5).await, vec![Frame::Eof]);
        assert_eq!(
            frames(b"\n", 5).await,
            vec![Frame::Line(vec![]), Frame::Eof]
        );
    }
}
