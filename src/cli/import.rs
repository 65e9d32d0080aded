//! `warden import`: PolicyLayer's policy.json → a formatted `.warden` policy.

use super::{EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use crate::backend::import;
use crate::pipeline;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(
    about = "Import PolicyLayer's policy.json as a formatted warden policy",
    after_help = "Examples:\n  warden import policy.json                  # print the policy\n  warden import policy.json -o kestra.warden --name kestra\n\nUnknown fields and wrong types are errors naming their JSON Pointer (/tools/x/deny_if/0/foo).\nThe result decides every call as the policy.json does, and compiles back to the same JSON.\n\nExit status: 0 imported, 1 the document is not a valid policy.json, 2 usage or I/O errors."
)]
pub struct Args {
    /// The policy.json file (`-` for stdin).
    pub input: PathBuf,
    /// Write the policy here instead of stdout.
    #[arg(short, long, value_name = "OUT.warden")]
    pub output: Option<PathBuf>,
    /// The policy's name (default: the input file's stem, or `imported`).
    #[arg(long)]
    pub name: Option<String>,
}

pub fn run(args: Args) -> u8 {
    let text = if args.input == std::path::Path::new("-") {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(&args.input)
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "error: cannot read `{}`: {e}",
                pipeline::display(&args.input)
            );
            return EXIT_USAGE;
        }
    };
    let name = args.name.clone().unwrap_or_else(|| {
        args.input
            .file_stem()
            .map(|s| s.to_string_lossy().replace(['.', ' '], "-"))
            .unwrap_or_default()
    });
    let imported = match import::import(&text, &name) {
        Ok(i) => i,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            eprintln!(
                "error: `{}` is not a policy.json warden can import ({} problem{})",
                pipeline::display(&args.input),
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
            return EXIT_FINDINGS;
        }
    };
    for w in &imported.warnings {
        eprintln!("warning: {w}");
    }
    match &args.output {
        None => {
            print!("{}", imported.source);
            EXIT_OK
        }
        Some(out) => match std::fs::write(out, &imported.source) {
            Ok(()) => EXIT_OK,
            Err(e) => {
                eprintln!("error: cannot write `{}`: {e}", pipeline::display(out));
                EXIT_USAGE
            }
        },
    }
}
