//! `warden check`: parse, lower and lint policies, then verify every policy that lowered
//! without errors (crate::check); report every diagnostic of every file.

use super::{EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use crate::check::Stats;
use crate::diagnostic::{Severity, code, render};
use crate::pipeline;
use clap::ValueEnum;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(
    about = "Check policies: syntax, names, types, lints and proofs (unreachable, conflicting, redundant rules, assertions)",
    after_help = "Examples:\n  warden check examples/\n  warden check --format json policy.warden\n  warden check --format sarif policies/ > warden.sarif\n  warden check --catalog tools.json policy.warden\n\nExit status: 0 no errors, 1 errors (or warnings with --deny-warnings, or inconclusive\nproofs with --fail-on-inconclusive), 2 usage or I/O errors."
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
    /// A server's `tools/list` result (JSON `{"tools": [...]}`): check tool names, argument
    /// paths and types against it, and verify over its tools only.
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    /// Per solver query timeout in milliseconds; a query that runs out is inconclusive.
    #[arg(long, value_name = "N", default_value_t = crate::check::DEFAULT_TIMEOUT_MS)]
    pub timeout_ms: u32,
    /// Exit 1 when any proof is inconclusive.
    #[arg(long)]
    pub fail_on_inconclusive: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Sarif,
}

pub fn run(args: Args, color: bool) -> u8 {
    let options = match super::verifier_options(args.catalog.as_deref(), args.timeout_ms) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let mut ws = pipeline::load(&args.paths);
    let mut stats = Stats::default();
    let progress = super::progress::Progress::new(ws.files.len());
    for file in &ws.files {
        progress.file(&pipeline::display(&file.path));
        if !file.has_errors
            && let Some(policy) = &file.policy
        {
            let (mut found, s) = crate::check::check(policy, &options);
            stats.add(&s);
            ws.diagnostics.append(&mut found);
        }
        progress.done_one();
    }
    progress.finish();
    crate::diagnostic::sort(&mut ws.diagnostics);
    match args.format {
        Format::Human => {
            out!("{}", render::human(&ws.diagnostics, &ws.sources, color));
            outln!("{}", render::summary(&ws.diagnostics, ws.files.len()));
            outln!("{}", summary(&stats));
        }
        Format::Json => out!("{}", render::json_lines(&ws.diagnostics, &ws.sources)),
        Format::Sarif => outln!(
            "{}",
            render::sarif(&ws.diagnostics, &ws.sources, env!("CARGO_PKG_VERSION"))
        ),
    }
    for (path, err) in &ws.io_errors {
        eprintln!("error: cannot read `{}`: {err}", pipeline::display(path));
    }
    let inconclusive = ws.diagnostics.iter().any(|d| d.code == code::INCONCLUSIVE);
    if !ws.io_errors.is_empty() {
        EXIT_USAGE
    } else if ws.has_errors()
        || (args.deny_warnings && ws.count(Severity::Warning) > 0)
        || (args.fail_on_inconclusive && inconclusive)
    {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    }
}

/// "verified 12 rules: 40 solver queries, 0 inconclusive, 35 ms".
fn summary(stats: &Stats) -> String {
    if !stats.verified {
        return format!(
            "{} rules linted; proofs skipped (built without the `verify` feature)",
            stats.rules
        );
    }
    format!(
        "verified {} rules: {} solver queries, {} inconclusive, {} ms",
        stats.rules,
        stats.queries,
        stats.inconclusive,
        stats.elapsed.as_millis()
    )
}
