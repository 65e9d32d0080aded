//! `warden init`: write a starting policy for a server, from the live server or its catalog.

use super::EXIT_USAGE;
use super::catalog::{ServerArgs, read, write_out};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(
    about = "Write a starting policy for an MCP server from its tools and their risk classes",
    after_help = "Examples:\n  warden init -o everything.warden -- npx -y @modelcontextprotocol/server-everything stdio\n  warden init --catalog everything.catalog.json -o everything.warden\n  warden init --url http://127.0.0.1:3001/mcp\n\nThe policy denies by default, allows read tools under a shared limit and write tools under a\ntighter one, allows each execute tool on a small limit (flagged for argument conditions), and\nputs destructive and financial tools behind `approve`. Every rule says why in a comment.\nIt passes `warden check --catalog` with no findings; review it before use.\n\nExit status: 0 written, 2 usage, connection or I/O errors."
)]
pub struct Args {
    /// Read the tools from this catalog file (from `warden catalog`, or a tools/list result)
    /// instead of a live server.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["url", "command"])]
    pub catalog: Option<PathBuf>,
    /// Write the policy here instead of stdout.
    #[arg(short, long, value_name = "OUT.warden")]
    pub output: Option<PathBuf>,
    /// The policy's name (default: from the server's name).
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub server: ServerArgs,
}

pub fn run(args: Args) -> u8 {
    let catalog = match &args.catalog {
        Some(path) => read(path),
        None => args.server.fetch(),
    };
    let catalog = match catalog {
        Ok(c) => c,
        Err(code) => return code,
    };
    match crate::init::policy(&catalog, args.name.as_deref()) {
        Ok(text) => write_out(args.output.as_deref(), &text),
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_USAGE
        }
    }
}
