//! `warden catalog`: take a live server's tool catalog, or check it against a pinned one.

use super::{EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use crate::catalog::client::{self, Server};
use crate::catalog::{Catalog, drift, file};
use crate::pipeline;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How to reach a live MCP server (shared with `warden init`).
#[derive(clap::Args, Debug)]
pub struct ServerArgs {
    /// A Streamable HTTP endpoint (plain http://) instead of a command.
    #[arg(long, value_name = "URL", conflicts_with = "command")]
    pub url: Option<String>,
    /// Seconds the whole exchange with the server may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
    /// The MCP server command and its arguments (stdio).
    #[arg(last = true)]
    pub command: Vec<String>,
}

impl ServerArgs {
    /// The server to connect to, if one was given.
    pub fn server(&self) -> Option<Server> {
        match (&self.url, self.command.is_empty()) {
            (Some(url), _) => Some(Server::Url(url.clone())),
            (None, false) => Some(Server::Command(self.command.clone())),
            (None, true) => None,
        }
    }

    /// Takes the live server's catalog; errors are printed (exit 2).
    pub fn fetch(&self) -> Result<Catalog, u8> {
        let Some(server) = self.server() else {
            eprintln!("error: give the server command after `--`, or `--url URL`");
            return Err(EXIT_USAGE);
        };
        client::fetch(&server, Duration::from_secs(self.timeout.max(1))).map_err(|e| {
            eprintln!("error: {e}");
            EXIT_USAGE
        })
    }
}

#[derive(clap::Args, Debug)]
#[command(
    about = "Write a live MCP server's tool catalog (names, schemas, annotations, risk classes, hashes), or check it for drift",
    after_help = "Examples:\n  warden catalog -o everything.catalog.json -- npx -y @modelcontextprotocol/server-everything stdio\n  warden catalog --url http://127.0.0.1:3001/mcp\n  warden catalog --check everything.catalog.json -- npx -y @modelcontextprotocol/server-everything stdio\n\nThe file is sorted and stable, so it diffs cleanly in git; docs/catalog.md has its format.\n\nExit status: 0 written (or no drift), 1 --check found drift, 2 usage, connection or I/O errors."
)]
pub struct Args {
    /// Write the catalog here instead of stdout.
    #[arg(short, long, value_name = "FILE", conflicts_with = "check")]
    pub output: Option<PathBuf>,
    /// Compare the live server with this pinned catalog and report added, removed and changed
    /// tools (exit 1 on drift).
    #[arg(long, value_name = "FILE")]
    pub check: Option<PathBuf>,
    /// With --check: print the report as JSON.
    #[arg(long, requires = "check")]
    pub json: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// Reads a catalog file (exit 2 when it cannot be read or parsed).
pub fn read(path: &Path) -> Result<Catalog, u8> {
    std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|t| Catalog::parse(&t))
        .map_err(|e| {
            eprintln!("error: catalog `{}`: {e}", pipeline::display(path));
            EXIT_USAGE
        })
}

pub fn run(args: Args) -> u8 {
    let pinned = match args.check.as_deref().map(read).transpose() {
        Ok(p) => p,
        Err(code) => return code,
    };
    let live = match args.server.fetch() {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let (Some(pinned), Some(path)) = (pinned, &args.check) {
        let d = drift::compare(&pinned, &live);
        if args.json {
            outln!("{}", d.to_json());
        } else {
            out!("{}", d.human(&pipeline::display(path)));
        }
        return if d.is_empty() { EXIT_OK } else { EXIT_FINDINGS };
    }
    write_out(args.output.as_deref(), &file::write(&live))
}

/// Writes text to a file, or to stdout without one.
pub fn write_out(path: Option<&Path>, text: &str) -> u8 {
    match path {
        None => {
            out!("{text}");
            EXIT_OK
        }
        Some(p) => match std::fs::write(p, text) {
            Ok(()) => EXIT_OK,
            Err(e) => {
                eprintln!("error: cannot write `{}`: {e}", pipeline::display(p));
                EXIT_USAGE
            }
        },
    }
}
