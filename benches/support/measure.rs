//! What the proxy benchmarks (benches/proxy.rs, benches/proxy_http.rs) share: where the MCP
//! peers are, CPU time as the scheduler accounts it, and percentiles.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The peers installed by scripts/install-deps.sh (`WARDEN_PEERS`, else ~/.cache/warden-peers).
pub fn peers() -> PathBuf {
    let dir = std::env::var_os("WARDEN_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(&std::env::var_os("HOME").unwrap()).join(".cache/warden-peers")
        });
    let server = dir.join("npm/node_modules/.bin/mcp-server-everything");
    assert!(
        server.exists(),
        "{} is missing: run scripts/install-deps.sh",
        server.display()
    );
    dir
}

/// CPU time one thread (`/proc/PID/task/TID`, or `/proc/thread-self`'s target) has run for.
pub fn thread_cpu(task: &Path) -> Option<Duration> {
    let stat = std::fs::read_to_string(task.join("schedstat")).ok()?;
    Some(Duration::from_nanos(stat.split(' ').next()?.parse().ok()?))
}

/// CPU time the live threads of process `pid` have run for.
pub fn process_cpu(pid: u32) -> Duration {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| tasks.filter_map(|t| thread_cpu(&t.ok()?.path())).sum())
        .unwrap_or_default()
}

/// The `p` quantile of sorted durations (nearest rank).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
