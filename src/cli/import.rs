//! `warden import`: PolicyLayer's policy.json or Intercept's YAML → a formatted `.warden`
//! policy.

use super::{EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use crate::backend::import;
use crate::pipeline;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(
    about = "Import PolicyLayer's policy.json or Intercept's YAML as a formatted warden policy",
    after_help = "Examples:\n  warden import policy.json                  # print the policy\n  warden import policy.json -o kestra.warden --name kestra\n  warden import github.yaml                  # Intercept's YAML (by extension, or --from intercept)\n\nUnknown fields and wrong types are errors naming their JSON Pointer (/tools/x/deny_if/0/foo).\nThe result decides every call as the input does; a policy.json compiles back to the same JSON.\n\nExit status: 0 imported, 1 the document is not a policy warden can import, 2 usage or I/O errors."
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
    /// The input's format (default: `intercept` for `.yaml`/`.yml` files, else `policy-json`).
    #[arg(long, value_enum)]
    pub from: Option<Format>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// PolicyLayer's hosted policy.json.
    PolicyJson,
    /// Intercept's YAML policy.
    Intercept,
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
    let format = args.from.unwrap_or_else(|| {
        let yaml = args
            .input
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml");
        if yaml {
            Format::Intercept
        } else {
            Format::PolicyJson
        }
    });
    let (imported, what) = match format {
        Format::PolicyJson => (import::import(&text, &name), "policy.json"),
        Format::Intercept => (import::intercept::import(&text, &name), "Intercept policy"),
    };
    let imported = match imported {
        Ok(i) => i,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            eprintln!(
                "error: `{}` is not a {what} warden can import ({} problem{})",
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
            out!("{}", imported.source);
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
