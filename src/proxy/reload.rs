//! Hot reload: the policy file is polled; a changed file is loaded and checked, then swapped in
//! atomically. A file with errors is refused (logged) and the old policy stays. Counters live
//! outside the policy and survive.
//!
//! Polling (default every 500 ms) rather than inotify: it needs no dependency, works on every
//! filesystem (including bind mounts and editors that replace files), and costs one `stat`.

use super::audit;
use super::engine::Engine;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

fn stamp(path: &PathBuf) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: m.modified().ok(),
        len: m.len(),
    })
}

/// Watches the engine's policy file forever (spawn it).
pub async fn watch(engine: Arc<Engine>, every: Duration) {
    let path = engine.policy().path.clone();
    let mut last = stamp(&path);
    let mut ticker = tokio::time::interval(every);
    loop {
        ticker.tick().await;
        let now = stamp(&path);
        if now.is_none() || now == last {
            continue;
        }
        last = now;
        match engine.reload() {
            Ok(hash) => {
                engine.stats.reload(true);
                eprintln!("warden: reloaded {} ({})", path.display(), &hash[..12]);
                engine.audit.write(&json!({"time": audit::now_rfc3339(), "event": "reload", "ok": true, "policy_hash": hash}));
            }
            Err(e) => {
                engine.stats.reload(false);
                eprintln!(
                    "warden: refused to reload {}, keeping the previous policy: {e}",
                    path.display()
                );
                engine.audit.write(&json!({"time": audit::now_rfc3339(), "event": "reload", "ok": false, "error": e}));
            }
        }
    }
}
