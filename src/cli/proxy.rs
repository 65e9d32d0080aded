//! `warden proxy`: enforce a policy between an MCP client and server.

use super::{EXIT_FINDINGS, EXIT_USAGE};
use crate::proxy::{audit, engine, reload, stdio};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args, Debug)]
#[command(
    about = "Enforce a policy between an MCP client and an MCP server (stdio)",
    after_help = "Put warden where the MCP client starts the server, and the server after `--`.\n\nExamples:\n  warden proxy --policy examples/everything.warden -- npx -y @modelcontextprotocol/server-everything stdio\n  warden proxy --policy kestra.warden --grant ci --audit audit.jsonl -- python -m kestra_mcp\n\nIn an MCP client's configuration:\n  {\"command\": \"warden\", \"args\": [\"proxy\", \"--policy\", \"policy.warden\", \"--\", \"npx\", \"-y\", \"@modelcontextprotocol/server-everything\", \"stdio\"]}"
)]
pub struct Args {
    /// The policy: a `.warden` source (checked and compiled at start; warden refuses to start
    /// on errors) or a decision table from `warden compile --table`.
    #[arg(long)]
    pub policy: PathBuf,
    /// The grant (credential name) this connection's calls are counted and decided for.
    #[arg(long, default_value = "default")]
    pub grant: String,
    /// The server's name for server-qualified rules (default: the server's `serverInfo.name`).
    #[arg(long)]
    pub server: Option<String>,
    /// Write the audit log (JSON lines) to FILE, or `-` for stderr. Re-opened on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub audit: Option<String>,
    /// Decide and log everything, enforce nothing (shadow mode).
    #[arg(long)]
    pub dry_run: bool,
    /// Seconds to wait for a person's approval before denying.
    #[arg(long, default_value_t = 120)]
    pub approval_timeout: u64,
    /// Largest message accepted from the client, in bytes.
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    pub max_message_bytes: usize,
    /// How often to look for a changed policy file, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub reload_interval_ms: u64,
    /// Shared limits (`--state redis://…`): counters in Redis instead of in memory.
    #[command(flatten)]
    pub state: super::limits::StateArgs,
    /// When the `--state` store is unreachable or slow, deny calls under a limit (`closed`,
    /// code `limit_state_unavailable`) or admit them uncounted, logged loudly (`open`).
    #[arg(long, value_name = "closed|open", default_value = "closed")]
    pub state_fail_mode: crate::proxy::limits::FailMode,
    /// Pin the tools of this catalog (from `warden catalog`): a tool whose live definition
    /// differs from it is hidden and its calls denied (`tool_changed`). docs/catalog.md.
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    /// The MCP server command and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

pub fn run(args: Args) -> u8 {
    let loaded = match engine::load(&args.policy) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("warden: {e}");
            return EXIT_FINDINGS;
        }
    };
    let pins = match args
        .catalog
        .as_deref()
        .map(super::catalog::read)
        .transpose()
    {
        Ok(c) => c
            .map(|c| crate::proxy::pins::Pins::new(&c))
            .unwrap_or_default(),
        Err(code) => return code,
    };
    let sink = match audit::Sink::open(args.audit.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("warden: cannot open the audit log: {e}");
            return EXIT_USAGE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("warden: cannot start the runtime: {e}");
            return EXIT_USAGE;
        }
    };
    let signer = match crate::proxy::approval::Signer::new() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("warden: cannot read random bytes for the approval key: {e}");
            return EXIT_USAGE;
        }
    };
    let counters = match args.state.counters(args.state_fail_mode) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("warden: --state: {e}");
            return EXIT_USAGE;
        }
    };
    let approval_ttl = Duration::from_secs(args.approval_timeout);
    let mut engine = engine::Engine::new(loaded, sink, args.dry_run, signer, approval_ttl);
    if let Some(counters) = counters {
        // Says on stderr at once if Redis is unreachable (then retried by limited calls).
        let _ = counters.health();
        engine = engine.with_counters(counters);
    }
    engine.pins = pins;
    let engine = Arc::new(engine);
    let identity = engine::Identity {
        server: args.server,
        grant: args.grant,
        agent: None,
        session: session_id(),
    };
    let options = stdio::Options {
        command: args.command,
        identity,
        max_message_bytes: args.max_message_bytes,
        approval_timeout: Duration::from_secs(args.approval_timeout),
        drain_timeout: Duration::from_secs(30),
    };
    let code = runtime.block_on(async {
        tokio::spawn(reload::watch(
            engine.clone(),
            Duration::from_millis(args.reload_interval_ms.max(10)),
        ));
        stdio::run(engine, options).await
    });
    // tokio reads stdin on a blocking thread that returns only with the client's next bytes or
    // EOF; dropping the runtime would wait for it, so a server that exits (or a SIGTERM) while
    // the client keeps its end open would leave warden hanging. Everything is relayed by now.
    runtime.shutdown_background();
    u8::try_from(code).unwrap_or(1)
}

/// A session id for this process: unique enough to key `per session` counters and logs.
fn session_id() -> String {
    use sha2::Digest;
    let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
    engine::hex(&sha2::Sha256::digest(seed.as_bytes()))[..16].to_string()
}
