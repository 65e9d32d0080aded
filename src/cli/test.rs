//! `warden test`: run the `test` blocks of policies and report each case.

use super::{EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, print_diagnostics};
use crate::pipeline;
use crate::testing;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(
    about = "Run the policies' test blocks",
    after_help = "A test block:\n  test \"billing is off-limits\" {\n    call execute_flow {\"namespace\": \"company.prod.billing\"} with grant \"ci\" => deny by no-billing\n  }\n\nExamples:\n  warden test examples/\n  warden test examples/kestra.warden\n\nExit status: 0 all cases pass, 1 a case failed or a policy has errors, 2 I/O errors."
)]
pub struct Args {
    /// Policy files, or directories searched for *.warden files.
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
}

pub fn run(args: Args, color: bool) -> u8 {
    let ws = pipeline::load(&args.paths);
    for (path, err) in &ws.io_errors {
        eprintln!("error: cannot read `{}`: {err}", pipeline::display(path));
    }
    if !ws.io_errors.is_empty() {
        return EXIT_USAGE;
    }
    if ws.has_errors() {
        print_diagnostics(&ws, color);
        eprintln!("error: policies have errors; no test was run");
        return EXIT_FINDINGS;
    }
    let (mut passed, mut failed) = (0, 0);
    for file in &ws.files {
        let Some(policy) = &file.policy else { continue };
        let Some(source) = ws.sources.get(file.id) else {
            continue;
        };
        let results = testing::run(policy);
        outln!(
            "{} ({} cases)",
            pipeline::display(&file.path),
            results.len()
        );
        for r in results {
            let (line, _) = source.line_col(r.span.start);
            let expected = match &r.expect_by {
                Some(by) => format!("{} by {by}", r.expect.keyword()),
                None => r.expect.keyword().to_string(),
            };
            if r.passed {
                passed += 1;
                outln!("  ok    {}:{line} {} => {expected}", r.test, r.call.tool);
            } else {
                failed += 1;
                outln!("  FAIL  {}:{line} {} => {expected}", r.test, r.call.tool);
                outln!("        call:     {}", r.call.to_json());
                outln!("        expected: {expected}");
                let reason = r
                    .got
                    .reason(policy)
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default();
                outln!(
                    "        got:      {} by {}{reason}",
                    r.got.effect.keyword(),
                    r.got_by
                );
            }
        }
    }
    outln!("{passed} passed, {failed} failed");
    if failed > 0 { EXIT_FINDINGS } else { EXIT_OK }
}
