//! `warden grants`: helpers for the HTTP proxy's grants file (docs/proxy.md).

use super::{EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use crate::proxy::http::grants::Grants;
use std::io::Read;
use std::path::Path;

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
    /// Read a grants file as `warden proxy --grants` does (fetching a JWKS URL it names) and
    /// print what it grants; with `--token-stdin` and/or `--certificate`, the grant a request
    /// with that bearer token (read from stdin) and client certificate has, or why it has none.
    /// Exit 0 valid (and granted), 1 not, 2 unreadable.
    #[command(
        after_help = "Examples:\n  warden grants check grants.json\n  printf %s \"$TOKEN\" | warden grants check grants.json --token-stdin\n  warden grants check grants.json --certificate agent.crt"
    )]
    Check {
        file: std::path::PathBuf,
        /// Check the bearer token on stdin against the file.
        #[arg(long)]
        token_stdin: bool,
        /// Check a client certificate (PEM, its own certificate first) against the file: the
        /// names in it that grants are given by. (Whether the CA issued it is the handshake's
        /// to check: `--client-ca`.)
        #[arg(long, value_name = "FILE")]
        certificate: Option<std::path::PathBuf>,
    },
}

pub fn run(args: Args) -> u8 {
    match args.command {
        Command::Hash => match stdin_token() {
            Ok(token) => {
                println!("{}", crate::proxy::http::grants::hash_token(&token));
                EXIT_OK
            }
            Err(code) => code,
        },
        Command::Check {
            file,
            token_stdin,
            certificate,
        } => check(&file, token_stdin, certificate.as_deref()),
    }
}

/// A token on stdin, without its line end.
fn stdin_token() -> Result<String, u8> {
    let mut token = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut token) {
        eprintln!("warden: cannot read the token from stdin: {e}");
        return Err(EXIT_USAGE);
    }
    let token = token.trim_end_matches(['\n', '\r']);
    if token.is_empty() || token.trim() != token {
        eprintln!("warden: give the token on stdin (no surrounding spaces)");
        return Err(EXIT_USAGE);
    }
    Ok(token.to_string())
}

fn check(file: &Path, token_stdin: bool, certificate: Option<&Path>) -> u8 {
    if let Err(e) = std::fs::metadata(file) {
        eprintln!("warden: cannot read {}: {e}", file.display());
        return EXIT_USAGE;
    }
    let names = match certificate.map(certificate_names).transpose() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("warden: --certificate: {e}");
            return EXIT_USAGE;
        }
    };
    let token = match token_stdin.then(stdin_token).transpose() {
        Ok(t) => t,
        Err(code) => return code,
    };
    let runtime = match super::event_loop() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let loaded = runtime.block_on(async {
        let grants = Grants::load(file)?;
        crate::proxy::http::watch::fetch_keys(&grants).await?;
        Ok::<_, String>(grants)
    });
    let grants = match loaded {
        Ok(g) => g,
        Err(e) => {
            println!("invalid: {e}");
            return EXIT_FINDINGS;
        }
    };
    println!("{}: {}", file.display(), grants.summary());
    if let Some(jwt) = &grants.jwt {
        println!("{}", jwt.describe());
    }
    let headers: Vec<&str> = grants
        .upstream_headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    if !headers.is_empty() {
        println!("upstream headers: {}", headers.join(", "));
    }
    if token.is_none() && names.is_none() {
        return EXIT_OK;
    }
    if let Some(names) = &names {
        println!("the certificate's names: {}", names.join(", "));
    }
    let (what, have) = match (&token, &names) {
        (Some(_), Some(_)) => ("the token and certificate", "have"),
        (Some(_), None) => ("the token", "has"),
        _ => ("the certificate", "has"),
    };
    let authorization = token.map(|t| format!("Bearer {t}"));
    match grants.check(
        authorization.as_deref().map(str::as_bytes),
        names.as_deref(),
    ) {
        Ok(grant) => {
            println!("{what} {have} grant `{grant}`");
            EXIT_OK
        }
        Err(refusal) => {
            println!("{what} {have} no grant: {}", refusal.why());
            EXIT_FINDINGS
        }
    }
}

/// The names a grant may be given by in the first certificate of a PEM file.
fn certificate_names(path: &Path) -> Result<Vec<String>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let cert = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .next()
        .ok_or_else(|| format!("{} holds no certificate", path.display()))?
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let names = crate::proxy::tls::subject_names(&cert);
    if names.is_empty() {
        return Err(format!(
            "{} names no DNS or URI subject alternative name",
            path.display()
        ));
    }
    Ok(names)
}
