//! `warden compile`: a checked policy → its enforcement artifacts. Today `--json` writes
//! PolicyLayer's policy.json; every output is a flag of this one command, so that one run
//! writes several artifacts from one check (the `output` argument group needs at least one).

use super::{EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use crate::backend::{Catalog, policy_json};
use crate::diagnostic::render;
use crate::pipeline;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
#[command(
    about = "Compile a policy to PolicyLayer's policy.json",
    after_help = "Examples:\n  warden compile examples/kestra.warden --json kestra.json\n  warden compile policy.warden --json - --catalog tools.json   # to stdout; globs expanded\n  warden compile examples/kestra.warden --json ci.json --grant ci --catalog tests/catalogs/kestra.json\n\nThe catalog is a server's MCP `tools/list` result ({\"tools\": [{\"name\", \"annotations\"}, …]}).\nWhat policy.json cannot express is an error (nothing is written) or a documented lowering with a\nwarning; docs/formats.md has the mapping.\n\nExit status: 0 written (warnings allowed), 1 the policy has errors or cannot be expressed, 2 usage or I/O errors."
)]
#[command(group = clap::ArgGroup::new("output").required(true).multiple(true))]
pub struct Args {
    /// The policy file.
    pub policy: PathBuf,
    /// Write PolicyLayer's policy.json here (`-` for stdout).
    #[arg(long, value_name = "OUT.json", group = "output")]
    pub json: Option<PathBuf>,
    /// A server's `tools/list` result: expands globs to its tool names, resolves annotations.
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    /// Compile the policy as one grant sees it (PolicyLayer attaches a policy to one grant):
    /// conditions on `grant` become true or false.
    #[arg(long, value_name = "NAME")]
    pub grant: Option<String>,
}

pub fn run(args: Args, color: bool) -> u8 {
    let ws = pipeline::load(std::slice::from_ref(&args.policy));
    if !ws.io_errors.is_empty() {
        for (path, err) in &ws.io_errors {
            eprintln!("error: cannot read `{}`: {err}", pipeline::display(path));
        }
        return EXIT_USAGE;
    }
    let catalog = match &args.catalog {
        None => None,
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| Catalog::parse(&text))
        {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("error: catalog `{}`: {e}", pipeline::display(path));
                return EXIT_USAGE;
            }
        },
    };
    let policy = match ws.files.first() {
        Some(f) if !f.has_errors => f.policy.as_ref(),
        _ => None,
    };
    let Some(policy) = policy else {
        eprint!("{}", render::human(&ws.diagnostics, &ws.sources, color));
        eprintln!("error: the policy has errors; nothing was written");
        return EXIT_FINDINGS;
    };
    let mut diagnostics = ws.diagnostics.clone();
    let mut status = EXIT_OK;
    if let Some(out) = &args.json {
        let specialised = args.grant.as_deref().map(|g| policy.for_grant(g));
        let compiled =
            policy_json::compile(specialised.as_ref().unwrap_or(policy), catalog.as_ref());
        diagnostics.extend(compiled.diagnostics);
        match compiled.json {
            Some(json) => status = status.max(write(out, &json)),
            None => status = status.max(EXIT_FINDINGS),
        }
    }
    crate::diagnostic::sort(&mut diagnostics);
    eprint!("{}", render::human(&diagnostics, &ws.sources, color));
    if status == EXIT_FINDINGS {
        eprintln!("error: the policy cannot be compiled as it stands; nothing was written");
    }
    status
}

/// Writes pretty JSON (sorted keys, a final newline) to a file or stdout.
fn write(out: &Path, json: &serde_json::Value) -> u8 {
    let mut text = match serde_json::to_string_pretty(json) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    text.push('\n');
    if out == Path::new("-") {
        print!("{text}");
        return EXIT_OK;
    }
    match std::fs::write(out, text) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("error: cannot write `{}`: {e}", pipeline::display(out));
            EXIT_USAGE
        }
    }
}
