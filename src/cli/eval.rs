//! `warden eval`: decide one call with the reference evaluator and print the decision as JSON.
//! Given a decision table (`warden compile --table`, told apart by its magic number) instead
//! of a policy, it decides with the table and prints the same JSON.

use super::{EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, print_diagnostics};
use crate::call::Call;
use crate::eval::evaluate;
use crate::pipeline;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(
    about = "Decide one tool call and print the decision as JSON",
    after_help = "The call is JSON: {\"name\": TOOL, \"arguments\": {…}} and optionally \"server\", \"grant\", \"agent\", \"session\", \"annotations\", \"risk\" (the tool's risk class; the policy's `risk … is …` wins over it; the flags below override the others).\n\nExamples:\n  warden eval examples/kestra.warden --call '{\"name\":\"execute_flow\",\"arguments\":{\"namespace\":\"company.team.a\"}}' --grant ci\n  warden eval policy.warden --call @call.json\n\nPrints {\"decision\", \"rule\", \"reason\", \"limits\"}."
)]
pub struct Args {
    /// The policy file, or a decision table built by `warden compile --table`.
    pub policy: PathBuf,
    /// The call as JSON, or @FILE to read it from a file.
    #[arg(long)]
    pub call: String,
    #[arg(long)]
    pub server: Option<String>,
    #[arg(long)]
    pub grant: Option<String>,
    #[arg(long)]
    pub agent: Option<String>,
    #[arg(long)]
    pub session: Option<String>,
}

pub fn run(args: Args, color: bool) -> u8 {
    if let Ok(bytes) = std::fs::read(&args.policy) {
        if crate::table::format::is_table(&bytes) {
            return run_table(&bytes, args);
        }
    }
    let ws = pipeline::load(std::slice::from_ref(&args.policy));
    if !ws.io_errors.is_empty() {
        for (path, err) in &ws.io_errors {
            eprintln!("error: cannot read `{}`: {err}", pipeline::display(path));
        }
        return EXIT_USAGE;
    }
    let policy = match ws.files.first() {
        Some(f) if !f.has_errors => f.policy.as_ref(),
        _ => None,
    };
    let Some(policy) = policy else {
        print_diagnostics(&ws, color);
        eprintln!("error: the policy has errors; nothing was evaluated");
        return EXIT_FINDINGS;
    };
    let call = match read_call(args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let decision = evaluate(policy, &call);
    outln!("{}", decision.to_json(policy));
    EXIT_OK
}

/// Decides with a decision table instead of a policy.
fn run_table(bytes: &[u8], args: Args) -> u8 {
    let table = match crate::table::Table::from_bytes(bytes) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: `{}`: {e}", pipeline::display(&args.policy));
            return EXIT_USAGE;
        }
    };
    let call = match read_call(args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let raw = crate::table::decide::raw_arguments(&call);
    let call_ref = crate::table::CallRef::new(&call, raw.as_deref());
    let decision = crate::table::decide(&table, &call_ref);
    outln!("{}", decision.to_json(&table));
    EXIT_OK
}

/// The call from `--call`, with the identity flags applied; the exit code on error.
fn read_call(args: Args) -> Result<Call, u8> {
    let text = match args.call.strip_prefix('@') {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read `{path}`: {e}");
                return Err(EXIT_USAGE);
            }
        },
        None => args.call.clone(),
    };
    let call = serde_json::from_str::<serde_json::Value>(&text)
        .map_err(|e| format!("--call is not JSON: {e}"))
        .and_then(|v| Call::from_json(&v));
    let mut call = call.map_err(|e| {
        eprintln!("error: {e}");
        EXIT_USAGE
    })?;
    for (flag, slot) in [
        (args.server, &mut call.server),
        (args.grant, &mut call.grant),
        (args.agent, &mut call.agent),
        (args.session, &mut call.session),
    ] {
        if flag.is_some() {
            *slot = flag;
        }
    }
    Ok(call)
}
