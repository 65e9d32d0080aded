//! The command line: clap definitions and dispatch. One file per subcommand under `cli/`.
//!
//! Exit codes, for every command: 0 success, 1 the policy has errors (or tests failed, or
//! `fmt --check` found a file to reformat), 2 usage or I/O errors.

/// `print!` to stdout that ignores a closed pipe (`warden check | head`) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// `println!` to stdout that ignores a closed pipe.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod catalog;
mod check;
mod compile;
#[cfg(feature = "verify")]
mod diff;
mod eval;
mod fmt;
mod grants;
mod import;
mod init;
mod limits;
mod progress;
mod proxy;
mod test;

use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;

pub const EXIT_OK: u8 = 0;
pub const EXIT_FINDINGS: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

/// A tokio runtime on this thread, for a command's I/O; a failure is reported (exit 2).
pub fn event_loop() -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("warden: cannot start the runtime: {e}");
            EXIT_USAGE
        })
}

#[derive(Parser, Debug)]
#[command(
    name = "warden",
    version,
    about = "Policies for AI agents' MCP tool calls: write, check, test, enforce",
    after_help = "Examples:\n  warden check examples/\n  warden test examples/\n  warden fmt --check examples/\n  warden eval examples/kestra.warden --call '{\"name\":\"execute_flow\",\"arguments\":{\"namespace\":\"company.team.a\"}}'"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// When to colour output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    Check(check::Args),
    #[cfg(feature = "verify")]
    Diff(diff::Args),
    Fmt(fmt::Args),
    Eval(eval::Args),
    Test(test::Args),
    Compile(compile::Args),
    Import(import::Args),
    Proxy(Box<proxy::Args>),
    Limits(limits::Args),
    Catalog(catalog::Args),
    Init(init::Args),
    Grants(grants::Args),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Auto: colour only on a terminal, and never when `NO_COLOR` is set (no-color.org).
    pub fn enabled(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> u8 {
    let color = cli.color.enabled();
    match cli.command {
        Command::Check(args) => check::run(args, color),
        #[cfg(feature = "verify")]
        Command::Diff(args) => diff::run(args, color),
        Command::Fmt(args) => fmt::run(args, color),
        Command::Eval(args) => eval::run(args, color),
        Command::Test(args) => test::run(args, color),
        Command::Compile(args) => compile::run(args, color),
        Command::Import(args) => import::run(args),
        Command::Proxy(args) => proxy::run(*args),
        Command::Limits(args) => limits::run(args),
        Command::Catalog(args) => catalog::run(args),
        Command::Init(args) => init::run(args),
        Command::Grants(args) => grants::run(args),
    }
}

/// Prints the diagnostics of a workspace in human form and says whether there were I/O errors.
fn print_diagnostics(ws: &crate::pipeline::Workspace, color: bool) {
    let text = crate::diagnostic::render::human(&ws.diagnostics, &ws.sources, color);
    out!("{text}");
}

/// The verifier's options from `--catalog FILE` and `--timeout-ms`, or why not (exit 2).
fn verifier_options(
    catalog: Option<&std::path::Path>,
    timeout_ms: u32,
) -> Result<crate::check::Options, u8> {
    let catalog = catalog.map(catalog::read).transpose()?;
    Ok(crate::check::Options {
        timeout_ms,
        catalog,
        workers: None,
    })
}
