//! `warden eval`: decide one call with the reference evaluator and print the decision as JSON.

use super::{EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, print_diagnostics};
use crate::call::Call;
use crate::eval::evaluate;
use crate::pipeline;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(
    about = "Decide one tool call and print the decision as JSON",
    after_help = "The call is JSON: {\"name\": TOOL, \"arguments\": {…}} and optionally \"server\", \"grant\", \"agent\", \"session\", \"annotations\" (the flags below override those).\n\nExamples:\n  warden eval examples/kestra.warden --call '{\"name\":\"execute_flow\",\"arguments\":{\"namespace\":\"company.team.a\"}}' --grant ci\n  warden eval policy.warden --call @call.json\n\nPrints {\"decision\", \"rule\", \"reason\", \"limits\"}."
)]
pub struct Args {
    /// The policy file.
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
    let text = match args.call.strip_prefix('@') {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read `{path}`: {e}");
                return EXIT_USAGE;
            }
        },
        None => args.call.clone(),
    };
    let call = serde_json::from_str::<serde_json::Value>(&text)
        .map_err(|e| format!("--call is not JSON: {e}"))
        .and_then(|v| Call::from_json(&v));
    let mut call = match call {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
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
    let decision = evaluate(policy, &call);
    println!("{}", decision.to_json(policy));
    EXIT_OK
}
