//! `warden compile`: build a policy's backends. This file holds `--table OUT` (the decision
//! table the proxy loads); each backend has its own flag and writer function below.

use super::{EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, print_diagnostics};
use crate::ir::Policy;
use crate::pipeline;
use crate::table::{Header, Table, content_hash};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
#[command(
    about = "Compile a policy to a decision table",
    after_help = "Examples:\n  warden compile examples/kestra.warden --table kestra.wdt\n\nThe policy must check clean (no errors); the table records its content hash and that it did.\nExit status: 0 written, 1 the policy has errors, 2 usage or I/O errors."
)]
pub struct Args {
    /// The policy file.
    pub policy: PathBuf,
    /// Write the decision table (for `warden proxy` and `warden eval`) to this file.
    #[arg(long, value_name = "OUT")]
    pub table: Option<PathBuf>,
}

pub fn run(args: Args, color: bool) -> u8 {
    if args.table.is_none() {
        eprintln!("error: nothing to compile to: give `--table OUT`");
        return EXIT_USAGE;
    }
    let ws = pipeline::load(std::slice::from_ref(&args.policy));
    if !ws.io_errors.is_empty() {
        for (path, err) in &ws.io_errors {
            eprintln!("error: cannot read `{}`: {err}", pipeline::display(path));
        }
        return EXIT_USAGE;
    }
    // Only a policy with no error diagnostics is compiled: that is what `checked` records.
    let loaded = ws
        .files
        .first()
        .filter(|f| !f.has_errors)
        .and_then(|f| Some((f.policy.as_ref()?, ws.sources.get(f.id)?)));
    let Some((policy, source)) = loaded else {
        print_diagnostics(&ws, color);
        eprintln!("error: the policy has errors; nothing was compiled");
        return EXIT_FINDINGS;
    };
    let hash = content_hash(&source.text);
    match &args.table {
        Some(out) => write_table(policy, hash, out),
        None => EXIT_OK,
    }
}

fn write_table(policy: &Policy, hash: [u8; 32], out: &Path) -> u8 {
    let table = match Table::build(policy, Header::new(hash, true)) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FINDINGS;
        }
    };
    let bytes = table.to_bytes();
    if let Err(e) = std::fs::write(out, &bytes) {
        eprintln!("error: cannot write `{}`: {e}", pipeline::display(out));
        return EXIT_USAGE;
    }
    let spec = table.spec();
    eprintln!(
        "wrote `{}`: {} rules, {} tools, {} tool globs, {} bytes",
        pipeline::display(out),
        spec.rules.len(),
        spec.tools.len(),
        spec.tool_globs.len(),
        bytes.len()
    );
    EXIT_OK
}
