//! `warden fmt`: rewrite policies in canonical form, or check that they are.

use super::{EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use crate::diagnostic::render;
use crate::pipeline;
use crate::source::SourceMap;
use crate::syntax;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(
    about = "Format policies canonically (idempotent, keeps comments)",
    after_help = "Examples:\n  warden fmt examples/\n  warden fmt --check examples/     # exit 1 if a file would change"
)]
pub struct Args {
    /// Policy files, or directories searched for *.warden files.
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Change nothing; exit 1 when a file is not formatted.
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: Args, color: bool) -> u8 {
    let (files, mut io_errors) = pipeline::discover(&args.paths);
    let mut sources = SourceMap::new();
    let mut diagnostics = Vec::new();
    let mut unformatted = 0;
    for path in files {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                io_errors.push((path, e.to_string()));
                continue;
            }
        };
        let id = sources.add(pipeline::display(&path), text.clone());
        let ast = match syntax::parse(id, &text) {
            Ok(ast) => ast,
            Err(d) => {
                diagnostics.push(*d);
                continue;
            }
        };
        let formatted = syntax::format::format(&ast, &text);
        if formatted == text {
            continue;
        }
        if args.check {
            outln!("would reformat {}", pipeline::display(&path));
            unformatted += 1;
        } else if let Err(e) = std::fs::write(&path, formatted) {
            io_errors.push((path, e.to_string()));
        } else {
            outln!("formatted {}", pipeline::display(&path));
        }
    }
    out!("{}", render::human(&diagnostics, &sources, color));
    for (path, err) in &io_errors {
        eprintln!("error: `{}`: {err}", pipeline::display(path));
    }
    if !io_errors.is_empty() {
        EXIT_USAGE
    } else if !diagnostics.is_empty() || unformatted > 0 {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    }
}
