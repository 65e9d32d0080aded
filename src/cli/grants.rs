//! `warden grants`: helpers for the HTTP proxy's grants file (docs/proxy.md).

use super::EXIT_USAGE;
use std::io::Read;

#[derive(clap::Args, Debug)]
#[command(about = "Helpers for the HTTP proxy's grants file")]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Print the SHA-256 hash of a bearer token read from stdin (what `--grants` files store).
    #[command(after_help = "Example:\n  printf %s \"$TOKEN\" | warden grants hash")]
    Hash,
}

pub fn run(args: Args) -> u8 {
    match args.command {
        Command::Hash => {
            let mut token = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut token) {
                eprintln!("warden: cannot read the token from stdin: {e}");
                return EXIT_USAGE;
            }
            let token = token.trim_end_matches(['\n', '\r']);
            if token.is_empty() || token.trim() != token {
                eprintln!("warden: give the token on stdin (no surrounding spaces)");
                return EXIT_USAGE;
            }
            println!("{}", crate::proxy::http::grants::hash_token(token));
            0
        }
    }
}
