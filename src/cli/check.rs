//! `warden check`: parse, lower and lint policies; report every diagnostic of every file.

use super::{EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use crate::diagnostic::{Severity, render};
use crate::pipeline;
use clap::ValueEnum;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(
    about = "Check policies: syntax, names, types and lints, all files in one run",
    after_help = "Examples:\n  warden check examples/\n  warden check --format json policy.warden\n  warden check --format sarif policies/ > warden.sarif\n\nExit status: 0 no errors, 1 errors (or warnings with --deny-warnings), 2 usage or I/O errors."
)]
pub struct Args {
    /// Policy files, or directories searched for *.warden files.
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Treat warnings as errors for the exit status.
    #[arg(long)]
    pub deny_warnings: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Sarif,
}

pub fn run(args: Args, color: bool) -> u8 {
    let ws = pipeline::load(&args.paths);
    match args.format {
        Format::Human => {
            print!("{}", render::human(&ws.diagnostics, &ws.sources, color));
            println!("{}", render::summary(&ws.diagnostics, ws.files.len()));
        }
        Format::Json => print!("{}", render::json_lines(&ws.diagnostics, &ws.sources)),
        Format::Sarif => println!(
            "{}",
            render::sarif(&ws.diagnostics, &ws.sources, env!("CARGO_PKG_VERSION"))
        ),
    }
    for (path, err) in &ws.io_errors {
        eprintln!("error: cannot read `{}`: {err}", pipeline::display(path));
    }
    if !ws.io_errors.is_empty() {
        EXIT_USAGE
    } else if ws.has_errors() || (args.deny_warnings && ws.count(Severity::Warning) > 0) {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    }
}
