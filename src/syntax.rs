//! The only code that sees pest: the parser, pairs → AST, pest errors → diagnostics, and the
//! canonical formatter.
//!
//! [`parse`] turns one file's text into an [`ast::File`] or a single syntax [`Diagnostic`] (pest
//! stops at the first syntax error). String and number literals are kept as written; decoding
//! them, resolving names and checking types happen in `lower`.

mod build;
pub mod comments;
mod error;
pub mod format;

use crate::ast;
use crate::diagnostic::Diagnostic;
use crate::source::FileId;
use pest::Parser as _;

#[derive(pest_derive::Parser)]
#[grammar = "grammar/warden.pest"]
pub(crate) struct WardenParser;

/// Parses one file. On a syntax error, returns the one diagnostic that describes it.
pub fn parse(file: FileId, text: &str) -> Result<ast::File, Box<Diagnostic>> {
    match WardenParser::parse(Rule::file, text) {
        Ok(mut pairs) => match pairs.next() {
            Some(pair) => {
                let b = build::B {
                    file,
                    text,
                    comments: comments::scan(text),
                };
                Ok(build::file(&b, pair))
            }
            None => Err(Box::new(error::empty(file, text))),
        },
        Err(err) => Err(Box::new(error::from_pest(file, text, &err))),
    }
}
