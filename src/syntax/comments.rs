//! Finds the `//` comments of a source text, which the grammar skips, so that the formatter
//! can put them back.
//!
//! A small scanner that knows the three places `//` does not start a comment: inside a string
//! literal, inside a `/regex/`, and nowhere else (the grammar has no other `/`).

/// One comment: its byte range (from `//` to the end of the line, newline excluded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

pub fn scan(src: &str) -> Vec<Comment> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => i = skip_quoted(bytes, i + 1, b'"'),
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = src[i..].find('\n').map_or(src.len(), |n| i + n);
                out.push(Comment {
                    start: i,
                    end,
                    text: src[i..end].trim_end().to_string(),
                });
                i = end;
            }
            b'/' => i = skip_quoted(bytes, i + 1, b'/'),
            _ => i += 1,
        }
    }
    out
}

/// Skips to just past the closing `close`, honouring backslash escapes and stopping at a
/// newline (neither strings nor regexes span lines).
fn skip_quoted(bytes: &[u8], mut i: usize, close: u8) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' => return i,
            c if c == close => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// Hands out comments in source order: the formatter asks for the ones before a position
/// (leading) and the one on the same line after a position (trailing).
pub struct Cursor<'a> {
    src: &'a str,
    comments: Vec<Comment>,
    next: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(src: &'a str) -> Self {
        Cursor {
            src,
            comments: scan(src),
            next: 0,
        }
    }

    /// Every not yet emitted comment that starts before `pos`, with whether a blank line
    /// separated it from what came before.
    pub fn leading(&mut self, pos: usize) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        while let Some(c) = self.comments.get(self.next) {
            if c.start >= pos {
                break;
            }
            out.push((c.text.clone(), self.blank_line_before(c.start)));
            self.next += 1;
        }
        out
    }

    /// The next comment, if it starts after `end` on the same line.
    pub fn trailing(&mut self, end: usize) -> Option<String> {
        let c = self.comments.get(self.next)?;
        let between = self.src.get(end..c.start)?;
        if c.start >= end && !between.contains('\n') {
            self.next += 1;
            return Some(c.text.clone());
        }
        None
    }

    /// Where the text before `pos` really starts: the first not yet emitted comment before
    /// `pos`, or `pos` itself.
    pub fn peek_start(&self, pos: usize) -> usize {
        match self.comments.get(self.next) {
            Some(c) if c.start < pos => c.start,
            _ => pos,
        }
    }

    /// Whether a not yet emitted comment starts within `start..end`.
    pub fn has_comment_within(&self, start: usize, end: usize) -> bool {
        self.comments[self.next.min(self.comments.len())..]
            .iter()
            .any(|c| c.start >= start && c.start < end)
    }

    /// Whether a blank line separates `pos` from the previous non-blank text.
    pub fn blank_line_before(&self, pos: usize) -> bool {
        let before = &self.src[..pos.min(self.src.len())];
        let trimmed = before.trim_end_matches([' ', '\t', '\r']);
        let Some(rest) = trimmed.strip_suffix('\n') else {
            return false;
        };
        rest.trim_end_matches([' ', '\t', '\r']).ends_with('\n') && !rest.trim().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_found_outside_strings_and_regexes() {
        let src = "a \"x // not\" // one\nb matches /https?:\\/\\/x/ // two\n// three";
        let texts: Vec<String> = scan(src).into_iter().map(|c| c.text).collect();
        assert_eq!(texts, ["// one", "// two", "// three"]);
    }
}
