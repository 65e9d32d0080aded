//! `warden diff OLD NEW`: which calls change decision between two versions of a policy
//! (crate::check::diff), grouped by tool and kind of change, with a verdict.

use super::{EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use crate::diagnostic::render;
use crate::ir::Policy;
use crate::pipeline;
use clap::ValueEnum;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
#[command(
    about = "Compare two versions of a policy: the calls whose decision changes, and a verdict",
    after_help = "Examples:\n  warden diff old/kestra.warden kestra.warden\n  warden diff --fail-on new-access base.warden head.warden\n  warden diff --format json a.warden b.warden\n\nExit status: 0 (or, with --fail-on new-access, no call gets more access), 1 new access\nwith --fail-on new-access (or a version has errors), 2 usage or I/O errors."
)]
pub struct Args {
    /// The old version of the policy.
    pub old: PathBuf,
    /// The new version of the policy.
    pub new: PathBuf,
    /// Exit 1 when some call gets more access in NEW (the pull-request gate).
    #[arg(long, value_enum)]
    pub fail_on: Option<FailOn>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// A server's `tools/list` result: compare over its tools only.
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    /// Per solver query timeout in milliseconds.
    #[arg(long, value_name = "N", default_value_t = crate::check::DEFAULT_TIMEOUT_MS)]
    pub timeout_ms: u32,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FailOn {
    /// Some call is decided more permissively (deny → approve → allow; hide → listed).
    NewAccess,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

/// Loads one version; prints its diagnostics when it has errors.
fn load(path: &Path, color: bool) -> Result<Policy, u8> {
    let ws = pipeline::load(&[path.to_path_buf()]);
    for (p, err) in &ws.io_errors {
        eprintln!("error: cannot read `{}`: {err}", pipeline::display(p));
    }
    if !ws.io_errors.is_empty() {
        return Err(EXIT_USAGE);
    }
    let policy = ws.files.first().and_then(|f| f.policy.clone());
    match policy {
        Some(p) if !ws.has_errors() => Ok(p),
        _ => {
            eprint!("{}", render::human(&ws.diagnostics, &ws.sources, color));
            eprintln!(
                "error: `{}` has errors: fix them before comparing",
                pipeline::display(path)
            );
            Err(EXIT_FINDINGS)
        }
    }
}

pub fn run(args: Args, color: bool) -> u8 {
    let (old, new) = match (load(&args.old, color), load(&args.new, color)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let options = match super::verifier_options(args.catalog.as_deref(), args.timeout_ms) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let report = match crate::check::diff::diff(&old, &new, &options) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FINDINGS;
        }
    };
    match args.format {
        Format::Json => outln!("{}", report.to_json(&old, &new)),
        Format::Human => out!("{}", human(&report, &old, &new, &args)),
    }
    if matches!(args.fail_on, Some(FailOn::NewAccess)) && report.new_access() {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    }
}

fn human(report: &crate::check::diff::Report, old: &Policy, new: &Policy, args: &Args) -> String {
    let mut out = String::new();
    let mut tool = "";
    for c in &report.changes {
        if c.tool != tool {
            tool = &c.tool;
            out.push_str(&format!("{tool}\n"));
        }
        out.push_str(&format!(
            "  {}{}: {} (`{}`) → {} (`{}`)\n    {}\n",
            c.kind.describe(),
            if c.more_permissive {
                " (more access)"
            } else {
                ""
            },
            c.old.effect.keyword(),
            c.old.rule_id(old),
            c.new.effect.keyword(),
            c.new.rule_id(new),
            c.witness.to_json()
        ));
    }
    for q in &report.inconclusive {
        out.push_str(&format!("inconclusive: {q}\n"));
    }
    out.push_str(&format!(
        "{} → {}: {} ({} changes, {} solver queries)\n",
        pipeline::display(&args.old),
        pipeline::display(&args.new),
        report.verdict.name(),
        report.changes.len(),
        report.queries
    ));
    out
}
