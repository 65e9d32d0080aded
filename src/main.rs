//! The `warden` binary: parse the command line, run, exit with the command's status.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = warden::cli::Cli::parse();
    ExitCode::from(warden::cli::run(cli))
}
