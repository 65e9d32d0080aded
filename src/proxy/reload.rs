//! Hot reload: the policy file is polled; a changed file is loaded and checked, then swapped in
//! atomically. A file with errors is refused (logged) and the old policy stays. Counters live
//! outside the policy and survive. [`FileWatch`] also serves the HTTP proxy's grants file.
//!
//! Polling (default every 500 ms) rather than inotify: it needs no dependency, works on every
//! filesystem (including bind mounts and editors that replace files), and costs one `stat`.

use super::audit;
use super::engine::Engine;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: m.modified().ok(),
        len: m.len(),
    })
}

/// A file polled for changes: its modification time and length, as last seen.
pub struct FileWatch {
    path: PathBuf,
    last: Option<Stamp>,
    ticker: tokio::time::Interval,
}

impl FileWatch {
    /// Starts watching `path` as it is now, looking every `every`.
    pub fn new(path: PathBuf, every: Duration) -> FileWatch {
        FileWatch {
            last: stamp(&path),
            path,
            ticker: tokio::time::interval(every),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits until the file has changed since it was last seen (a file that disappeared is
    /// not a change: it is read again when it is back).
    pub async fn changed(&mut self) {
        FileWatch::any_changed(std::slice::from_mut(self)).await
    }

    /// Waits until one of `files` (watched at the first one's pace) has changed; each one's
    /// change is taken as seen, so that files written together are reloaded once.
    pub async fn any_changed(files: &mut [FileWatch]) {
        loop {
            match files.first_mut() {
                Some(first) => first.ticker.tick().await,
                None => return std::future::pending().await,
            };
            let seen = files.iter_mut().map(FileWatch::saw_change);
            if seen.fold(false, |any, changed| any | changed) {
                return;
            }
        }
    }

    /// Whether the file is there and differs from when it was last seen.
    fn saw_change(&mut self) -> bool {
        let now = stamp(&self.path);
        let changed = now.is_some() && now != self.last;
        if changed {
            self.last = now;
        }
        changed
    }
}

/// Watches the engine's policy file forever (spawn it).
pub async fn watch(engine: Arc<Engine>, every: Duration) {
    let mut file = FileWatch::new(engine.policy().path.clone(), every);
    loop {
        file.changed().await;
        let path = file.path().display();
        match engine.reload() {
            Ok(hash) => {
                engine.stats.reload(true);
                eprintln!("warden: reloaded {path} ({})", &hash[..12]);
                engine.audit.write(&json!({"time": audit::now_rfc3339(), "event": "reload", "ok": true, "policy_hash": hash}));
            }
            Err(e) => {
                engine.stats.reload(false);
                eprintln!("warden: refused to reload {path}, keeping the previous policy: {e}");
                engine.audit.write(&json!({"time": audit::now_rfc3339(), "event": "reload", "ok": false, "error": e}));
            }
        }
    }
}
