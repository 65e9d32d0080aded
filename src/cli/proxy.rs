//! `warden proxy`: enforce a policy between an MCP client and server.

use super::{EXIT_FINDINGS, EXIT_USAGE};
use crate::proxy::{audit, engine, reload, stdio};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args, Debug)]
#[command(
    about = "Enforce a policy between MCP clients and an MCP server (stdio or Streamable HTTP)",
    after_help = "Over stdio, put warden where the MCP client starts the server, and the server after `--`.\nOver HTTP, give --listen and --upstream URL (callers present bearer tokens from --grants).\n\nExamples:\n  warden proxy --policy examples/everything.warden -- npx -y @modelcontextprotocol/server-everything stdio\n  warden proxy --policy kestra.warden --grant ci --audit audit.jsonl -- python -m kestra_mcp\n  warden proxy --policy p.warden --listen 127.0.0.1:8080 --upstream http://127.0.0.1:3001/mcp\n  warden proxy --policy p.warden --listen 0.0.0.0:8080 --grants grants.json --admin 127.0.0.1:9090 --upstream http://mcp:3001/mcp\n\nIn an MCP client's configuration:\n  {\"command\": \"warden\", \"args\": [\"proxy\", \"--policy\", \"policy.warden\", \"--\", \"npx\", \"-y\", \"@modelcontextprotocol/server-everything\", \"stdio\"]}"
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
    /// How often to look for a changed policy file (and, over HTTP, grants file), in milliseconds.
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
    /// Serve Streamable HTTP on ADDR (host:port) instead of stdio.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// The MCP server's Streamable HTTP endpoint (with --listen), e.g. http://127.0.0.1:3001/mcp.
    #[arg(long, value_name = "URL", requires = "listen")]
    pub upstream: Option<String>,
    /// Bearer tokens (stored as SHA-256 hashes) → grant names, and upstream credentials (JSON;
    /// see docs/proxy.md). Required for a non-loopback --listen.
    #[arg(long, value_name = "FILE", requires = "listen")]
    pub grants: Option<PathBuf>,
    /// Serve HTTPS on --listen with this certificate chain (PEM, the server's own first).
    #[arg(long, value_name = "FILE", requires_all = ["listen", "tls_key"])]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires_all = ["listen", "tls_cert"])]
    pub tls_key: Option<PathBuf>,
    /// Ask HTTPS clients for a certificate issued by a CA in FILE (PEM); a grant in --grants
    /// may be given by a name in it (`client_certificate`). Clients may still present a token.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,
    /// With --client-ca: a client without a certificate from those CAs cannot connect at all
    /// (its TLS handshake ends), token or not.
    #[arg(long, requires = "client_ca")]
    pub require_client_cert: bool,
    /// Present this client certificate chain (PEM) to an https:// --upstream that asks for one.
    #[arg(long, value_name = "FILE", requires_all = ["upstream", "upstream_key"])]
    pub upstream_cert: Option<PathBuf>,
    /// The private key of --upstream-cert (PEM).
    #[arg(long, value_name = "FILE", requires_all = ["upstream", "upstream_cert"])]
    pub upstream_key: Option<PathBuf>,
    /// Serve /metrics and /healthz on ADDR (with --listen).
    #[arg(long, value_name = "ADDR", requires = "listen")]
    pub admin: Option<std::net::SocketAddr>,
    /// Most POSTs forwarded upstream at once; beyond, callers get 503.
    #[arg(long, default_value_t = 256)]
    pub max_concurrent: usize,
    /// Seconds an upstream exchange may take; then the caller gets a JSON-RPC error and the
    /// call's rate-limit slots are released.
    #[arg(long, default_value_t = 300.0)]
    pub upstream_timeout: f64,
    /// Seconds to wait for in-flight requests on SIGTERM.
    #[arg(long, default_value_t = 30)]
    pub drain_timeout: u64,
    /// Seconds a client connection may take to send a request's head, or stay idle between
    /// requests, before warden closes it (with --listen: a slow or silent client holds no
    /// connection for long).
    #[arg(long, default_value_t = 30)]
    pub header_timeout: u64,
    /// Seconds after which a session without requests is forgotten (with --listen; its
    /// child, if any, is stopped).
    #[arg(long, default_value_t = 3600)]
    pub session_idle_timeout: u64,
    /// Worker threads of the HTTP transport (with --listen); 1 runs everything on one event
    /// loop, which measured fastest on a small machine (docs/performance.md).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// A browser origin allowed besides loopback ones (repeatable; turns on Origin checks for
    /// non-loopback listeners).
    #[arg(long, value_name = "ORIGIN")]
    pub allowed_origin: Vec<String>,
    /// The MCP server command and its arguments.
    #[arg(last = true)]
    pub command: Vec<String>,
}

pub fn run(args: Args) -> u8 {
    if args.listen.is_some() {
        return run_http(args);
    }
    if args.command.is_empty() {
        eprintln!(
            "warden: give the MCP server command after `--` (stdio), or --listen ADDR --upstream URL (HTTP)"
        );
        return EXIT_USAGE;
    }
    let engine = match engine(&args) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let runtime = match super::event_loop() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let identity = engine::Identity {
        server: args.server,
        grant: args.grant.into(),
        agent: None,
        session: session_id().into(),
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

/// The deciding core both transports share: the policy, the audit log, the approval key.
fn engine(args: &Args) -> Result<Arc<engine::Engine>, u8> {
    let loaded = engine::load(&args.policy).map_err(|e| {
        eprintln!("warden: {e}");
        EXIT_FINDINGS
    })?;
    let sink = audit::Sink::open(args.audit.as_deref()).map_err(|e| {
        eprintln!("warden: cannot open the audit log: {e}");
        EXIT_USAGE
    })?;
    let signer = crate::proxy::approval::Signer::new().map_err(|e| {
        eprintln!("warden: cannot read random bytes for the approval key: {e}");
        EXIT_USAGE
    })?;
    let pins = args
        .catalog
        .as_deref()
        .map(super::catalog::read)
        .transpose()?
        .map(|c| crate::proxy::pins::Pins::new(&c))
        .unwrap_or_default();
    let counters = args.state.counters(args.state_fail_mode).map_err(|e| {
        eprintln!("warden: --state: {e}");
        EXIT_USAGE
    })?;
    let mut engine = engine::Engine::new(
        loaded,
        sink,
        args.dry_run,
        signer,
        Duration::from_secs(args.approval_timeout),
    );
    if let Some(counters) = counters {
        // Says on stderr at once if Redis is unreachable (then retried by limited calls).
        let _ = counters.health();
        engine = engine.with_counters(counters);
    }
    engine.pins = pins;
    Ok(Arc::new(engine))
}

/// `--listen`: the Streamable HTTP transport.
fn run_http(args: Args) -> u8 {
    use crate::proxy::http::{self, grants::Grants};
    let Some(listen) = args.listen else {
        return EXIT_USAGE;
    };
    let target = match (&args.upstream, args.command.is_empty()) {
        (Some(url), true) => http::Target::Url(url.clone()),
        (None, false) => http::Target::Command(args.command.clone()),
        _ => {
            eprintln!(
                "warden: with --listen, give either --upstream URL or the server command after `--`"
            );
            return EXIT_USAGE;
        }
    };
    let grants = match &args.grants {
        Some(path) => match Grants::load(path) {
            Ok(g) => g,
            Err(e) => {
                eprintln!("warden: --grants {e}");
                return EXIT_USAGE;
            }
        },
        None if !listen.ip().is_loopback() => {
            eprintln!(
                "warden: refusing to listen on {listen} without --grants: anyone who can reach it would act as grant `default` (give --grants FILE, or listen on a loopback address)"
            );
            return EXIT_USAGE;
        }
        None => {
            eprintln!(
                "warden: warning: no --grants: every caller is grant `default` (loopback only)"
            );
            Grants::open()
        }
    };
    if !(args.upstream_timeout > 0.0 && args.upstream_timeout.is_finite()) {
        eprintln!("warden: --upstream-timeout must be a positive number of seconds");
        return EXIT_USAGE;
    }
    crate::proxy::http::init_logging();
    let engine = match engine(&args) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let runtime = match args.threads {
        0 | 1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
    }
    .enable_all()
    .build();
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("warden: cannot start the runtime: {e}");
            return EXIT_USAGE;
        }
    };
    let reload_interval = Duration::from_millis(args.reload_interval_ms.max(10));
    let tls = match pair(&args.tls_cert, &args.tls_key, "--tls-cert/--tls-key") {
        Ok(p) => p,
        Err(code) => return code,
    };
    let client_ca = args.client_ca.as_deref();
    let client_ca =
        client_ca.map(|ca| crate::proxy::tls::ClientCa::load(ca, args.require_client_cert));
    let client_ca = match client_ca.transpose() {
        Ok(ca) => ca,
        Err(e) => {
            eprintln!("warden: --client-ca: {e}");
            return EXIT_USAGE;
        }
    };
    let upstream_identity = match pair(
        &args.upstream_cert,
        &args.upstream_key,
        "--upstream-cert/--upstream-key",
    ) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let options = http::Options {
        listen,
        target,
        admin: args.admin,
        grants,
        server: args.server,
        max_concurrent: args.max_concurrent,
        upstream_timeout: Duration::from_secs_f64(args.upstream_timeout),
        approval_timeout: Duration::from_secs(args.approval_timeout),
        drain_timeout: Duration::from_secs(args.drain_timeout),
        max_message_bytes: args.max_message_bytes,
        allowed_origins: args.allowed_origin,
        session_idle: Duration::from_secs(args.session_idle_timeout.max(1)),
        header_timeout: Duration::from_secs(args.header_timeout.max(1)),
        grants_file: args.grants.clone(),
        reload_interval,
        tls,
        client_ca,
        upstream_identity,
    };
    let code = runtime.block_on(async {
        tokio::spawn(reload::watch(engine.clone(), reload_interval));
        http::run(engine, options).await
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    u8::try_from(code).unwrap_or(1)
}

/// A certificate and key given by two flags (clap makes them go together), read now.
fn pair(
    cert: &Option<PathBuf>,
    key: &Option<PathBuf>,
    flags: &str,
) -> Result<Option<Arc<crate::proxy::tls::CertPair>>, u8> {
    let (Some(cert), Some(key)) = (cert, key) else {
        return Ok(None);
    };
    crate::proxy::tls::CertPair::load(cert, key)
        .map(Some)
        .map_err(|e| {
            eprintln!("warden: {flags}: {e}");
            EXIT_USAGE
        })
}

/// A session id for this process: unique enough to key `per session` counters and logs.
fn session_id() -> String {
    use sha2::Digest;
    let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
    engine::hex(&sha2::Sha256::digest(seed.as_bytes()))[..16].to_string()
}
