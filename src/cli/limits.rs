//! `warden limits`: list the counters in a shared limit state; and the `--state…` flags that
//! `warden proxy` shares with it.

use super::{EXIT_OK, EXIT_USAGE};
use crate::proxy::audit;
use crate::proxy::limits::{Counters, FailMode, RedisOptions};
use std::time::Duration;

/// Where the counters live: in memory (no `--state`), or in Redis.
#[derive(clap::Args, Debug, Clone)]
pub struct StateArgs {
    /// Keep the limit counters in Redis, shared by every warden given the same URL and
    /// prefix: `redis://[user:password@]HOST[:PORT][/DB]`, or `rediss://…` for TLS (the CA
    /// bundle is `SSL_CERT_FILE`, else the system's). Default: in this process's memory.
    #[arg(long, value_name = "URL")]
    pub state: Option<String>,
    /// Prefix of every counter key in Redis.
    #[arg(long, value_name = "PREFIX", default_value = "warden:")]
    pub state_prefix: String,
    /// The most one exchange with Redis may take, in milliseconds (connecting included).
    #[arg(long, value_name = "MS", default_value_t = 50)]
    pub state_timeout_ms: u64,
}

impl StateArgs {
    /// The counters these flags name (`None`: no `--state`, counters in memory).
    pub fn counters(&self, fail_mode: FailMode) -> Result<Option<Counters>, String> {
        let Some(url) = &self.state else {
            return Ok(None);
        };
        let options = RedisOptions {
            url: url.clone(),
            prefix: self.state_prefix.clone(),
            timeout: Duration::from_millis(self.state_timeout_ms.max(1)),
        };
        Counters::redis(options, fail_mode).map(Some)
    }
}

#[derive(clap::Args, Debug)]
#[command(
    about = "List the limit counters kept in Redis by `warden proxy --state`",
    after_help = "Examples:\n  warden limits --state redis://127.0.0.1:6379/0\n  warden limits --state redis://cache:6379/2 --state-prefix team-a: --json\n\nOne line per counter cell: counter, scope value (grant, session, agent or tool; empty for\n`global`), window, when the window started (UTC), count, and seconds until the key expires.\n\nExit status: 0 listed, 2 usage errors or Redis unreachable."
)]
pub struct Args {
    #[command(flatten)]
    pub state: StateArgs,
    /// Print JSON: `{\"counters\": [{counter, scope_value, window, window_index, window_start,
    /// count, expires_in}]}`.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> u8 {
    if args.state.state.is_none() {
        eprintln!(
            "error: `warden limits` needs --state URL (counters in memory live in their proxy)"
        );
        return EXIT_USAGE;
    }
    let counters = match args.state.counters(FailMode::Closed) {
        Ok(Some(c)) => c,
        Ok(None) => return EXIT_USAGE,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let cells = match counters.list(audit::unix_now()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: cannot list the counters: {e}");
            return EXIT_USAGE;
        }
    };
    if args.json {
        outln!("{}", serde_json::json!({ "counters": cells }));
        return EXIT_OK;
    }
    if cells.is_empty() {
        outln!("no counters");
        return EXIT_OK;
    }
    let rows: Vec<[String; 6]> = cells
        .iter()
        .map(|c| {
            [
                c.counter.clone(),
                if c.scope_value.is_empty() {
                    "(global)".into()
                } else {
                    c.scope_value.clone()
                },
                c.window.to_string(),
                audit::rfc3339(c.window_start, 0),
                c.count.to_string(),
                c.expires_in.map_or("never".into(), |s| format!("{s} s")),
            ]
        })
        .collect();
    let header = [
        "COUNTER",
        "SCOPE VALUE",
        "WINDOW",
        "WINDOW START (UTC)",
        "COUNT",
        "EXPIRES IN",
    ];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        outln!("{}", padded.join("  ").trim_end());
    };
    line(&header.map(str::to_string));
    for row in &rows {
        line(row);
    }
    EXIT_OK
}
