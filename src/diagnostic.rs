//! Diagnostics as plain data.
//!
//! A [`Diagnostic`] is built by a small constructor next to the check that finds it and carries
//! everything a renderer needs: a stable [`Code`] from the registry in [`code`], a severity, a
//! one-line message (lowercase, no final period, user input in backticks), a primary label,
//! secondary labels, a help line, notes and, for verifier findings, a witness call. Rendering
//! (ariadne, JSON, SARIF) lives in [`render`] and nowhere else.

pub mod code;
pub mod render;

pub use code::Code;

use crate::source::Span;
use serde::Serialize;

/// How bad a finding is. Ordered: `Error` is the greatest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// A span with an optional message written under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: Option<String>,
}

impl Label {
    pub fn new(span: Span) -> Self {
        Label {
            span,
            message: None,
        }
    }

    pub fn with_message(span: Span, message: impl Into<String>) -> Self {
        Label {
            span,
            message: Some(message.into()),
        }
    }
}

/// One finding about one place in a policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub primary: Label,
    pub secondary: Vec<Label>,
    pub help: Option<String>,
    pub notes: Vec<String>,
    /// A concrete tool call that shows the finding, for findings that claim one exists.
    pub witness: Option<serde_json::Value>,
}

impl Diagnostic {
    /// A diagnostic with the code's default severity and a primary label without a message.
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: code.severity,
            message: message.into(),
            primary: Label::new(span),
            secondary: Vec::new(),
            help: None,
            notes: Vec::new(),
            witness: None,
        }
    }

    pub fn label(mut self, message: impl Into<String>) -> Self {
        self.primary.message = Some(message.into());
        self
    }

    pub fn secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label::with_message(span, message));
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    pub fn witness(mut self, witness: serde_json::Value) -> Self {
        self.witness = Some(witness);
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Sorts diagnostics by file, then position, then code: the order every renderer prints.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (a.primary.span.file, a.primary.span.start, a.code.id).cmp(&(
            b.primary.span.file,
            b.primary.span.start,
            b.code.id,
        ))
    });
}

/// "did you mean `x`?" for the closest candidate within a small edit distance, if any.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1) + 1;
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_finds_close_words_only() {
        let words = ["args", "grant", "agent", "session", "tool"];
        assert_eq!(did_you_mean("arg", words), Some("args"));
        assert_eq!(did_you_mean("grnt", words), Some("grant"));
        assert_eq!(did_you_mean("Session", words), Some("session"));
        assert_eq!(did_you_mean("zzzzzz", words), None);
    }
}
