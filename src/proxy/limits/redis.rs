//! The Redis counter store: counters shared by every warden that names the same server and
//! key prefix.
//!
//! A reservation is one `EVALSHA` of [`RESERVE`]: it checks and increments every cell of the
//! call atomically, all or none, and sets each cell's expiry from its window, so keys never
//! pile up. A release is one `EVALSHA` of [`RELEASE`], sent by a background thread so that the
//! transport never waits for it. Every exchange has the configured timeout; a failed one drops
//! its connection, and for [`BACKOFF`] no new one is tried (calls fail at once instead of each
//! waiting out the timeout); then the next call reconnects. Transitions between reachable and
//! unreachable are logged to stderr.
//!
//! Key layout: `{prefix}{counter}:{window}:{index}:{scope value}`, the counter with `%` and
//! `:` %-escaped, the scope value last and verbatim; the value is the count.

use super::resp::{Conn, Reply, Target, percent_decode};
use super::{Cell, Health, Key, Listed, StoreRefusal};
use crate::ir::Window;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where the counters live and how long to wait for them.
#[derive(Clone, Debug)]
pub struct Options {
    /// `redis://[user:password@]host[:port][/db]` or `rediss://…` (TLS).
    pub url: String,
    /// Prepended to every key (several policies or teams can share one server).
    pub prefix: String,
    /// The most one exchange with Redis may take (connecting included).
    pub timeout: Duration,
}

/// Reserves one slot in every cell (KEYS) or none. ARGV holds, per cell, its maximum and the
/// seconds its key must live. Answers `{1, count…}`, or `{0, position}` of the first full cell
/// (the cells taken before it are given back).
pub const RESERVE: &str = r"
local counts = {1}
for i = 1, #KEYS do
  local count = tonumber(redis.call('GET', KEYS[i]) or '0')
  if count >= tonumber(ARGV[2 * i - 1]) then
    for j = 1, i - 1 do redis.call('DECR', KEYS[j]) end
    return {0, i}
  end
  counts[i + 1] = redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], ARGV[2 * i])
end
return counts
";

/// Gives back one slot in every cell (KEYS) that still holds one; an expired cell is left
/// alone (no key is created, no count goes below zero).
pub const RELEASE: &str = r"
for i = 1, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return 0
";

/// A key lives this long past the end of its window, so a late release still finds it.
pub const GRACE_SECONDS: u64 = 60;
/// After a failed exchange, calls fail at once for this long before a reconnection is tried.
pub const BACKOFF: Duration = Duration::from_millis(200);
/// Releases waiting for the background thread; past this, a release is dropped (its slot
/// stays used until the window ends).
const RELEASE_QUEUE: usize = 4096;
/// Idle connections kept for reuse.
const IDLE: usize = 16;

/// A connection with the scripts loaded (their SHA-1s, as the server computed them).
struct Scripted {
    conn: Conn,
    reserve: String,
    release: String,
}

/// What went wrong in an exchange.
enum Fault {
    /// The connection failed or timed out: drop it.
    Transport(String),
    /// Redis answered with an error: the connection is fine.
    Reply(String),
}

struct Shared {
    target: Target,
    tls: Option<Arc<rustls::ClientConfig>>,
    prefix: String,
    timeout: Duration,
    idle: Mutex<Vec<Scripted>>,
    /// No reconnection before this instant.
    backoff_until: Mutex<Option<Instant>>,
    up: AtomicBool,
    last_error: Mutex<String>,
}

/// A release on its way: the key names, and the Unix second after which it is pointless.
struct Job {
    keys: Vec<String>,
    until: u64,
}

pub struct Redis {
    shared: Arc<Shared>,
    releases: SyncSender<Job>,
}

impl Redis {
    pub fn new(options: Options) -> Result<Redis, String> {
        let target = Target::parse(&options.url)?;
        let tls = if target.tls {
            Some(crate::proxy::tls::client_config(&[], None)?)
        } else {
            None
        };
        let shared = Arc::new(Shared {
            target,
            tls,
            prefix: options.prefix,
            timeout: options.timeout,
            idle: Mutex::new(Vec::new()),
            backoff_until: Mutex::new(None),
            up: AtomicBool::new(true),
            last_error: Mutex::new(String::new()),
        });
        let (releases, jobs) = sync_channel(RELEASE_QUEUE);
        let worker = shared.clone();
        std::thread::Builder::new()
            .name("warden-redis-release".into())
            .spawn(move || release_worker(&worker, &jobs))
            .map_err(|e| format!("cannot start the release thread: {e}"))?;
        Ok(Redis { shared, releases })
    }

    pub(super) fn reserve(&self, cells: &[Cell], now: u64) -> Result<Vec<u64>, StoreRefusal> {
        let keys: Vec<String> = cells.iter().map(|c| self.shared.key(&c.key)).collect();
        let mut args: Vec<Vec<u8>> = Vec::with_capacity(3 + 3 * cells.len());
        args.push(b"EVALSHA".to_vec());
        args.push(Vec::new()); // the script's SHA-1, filled in per connection
        args.push(cells.len().to_string().into_bytes());
        args.extend(keys.into_iter().map(String::into_bytes));
        for cell in cells {
            let ttl = cell.key.window_end().saturating_sub(now) + GRACE_SECONDS;
            args.push(cell.max.to_string().into_bytes());
            args.push(ttl.to_string().into_bytes());
        }
        let reply = self
            .shared
            .exchange(self.shared.timeout, |s, deadline| {
                s.eval(Script::Reserve, &mut args, deadline)
            })
            .map_err(StoreRefusal::Unavailable)?;
        let numbers: Option<Vec<i64>> = match &reply {
            Reply::Array(Some(items)) => items.iter().map(Reply::int).collect(),
            _ => None,
        };
        match numbers.as_deref() {
            Some([1, counts @ ..]) if counts.len() == cells.len() => Ok(counts
                .iter()
                .map(|c| u64::try_from(*c).unwrap_or(0))
                .collect()),
            Some([0, position]) if *position >= 1 => Err(StoreRefusal::Full(
                usize::try_from(*position - 1).unwrap_or(usize::MAX),
            )),
            _ => Err(StoreRefusal::Unavailable(format!(
                "unexpected answer from the reserve script: {reply:?}"
            ))),
        }
    }

    /// Queues a release for the background thread; never waits.
    pub(super) fn release(&self, held: Vec<Key>) {
        let until = held.iter().map(Key::window_end).max().unwrap_or(0) + GRACE_SECONDS;
        let keys = held.iter().map(|k| self.shared.key(k)).collect();
        if let Err(TrySendError::Full(_)) = self.releases.try_send(Job { keys, until }) {
            eprintln!(
                "warden: limit state: too many releases queued, one was dropped (its slots stay used until the window ends)"
            );
        }
    }

    pub(super) fn health(&self) -> Health {
        let answer = self.shared.exchange(self.shared.timeout, |s, deadline| {
            s.conn
                .call(&[b"PING"], deadline)
                .map_err(Fault::Transport)?
                .ok()
                .map_err(Fault::Reply)
        });
        let place = self.shared.target.redacted();
        match answer {
            Ok(_) => Health {
                store: "redis",
                ok: true,
                detail: place,
            },
            // The error names the place already.
            Err(e) => Health {
                store: "redis",
                ok: false,
                detail: e,
            },
        }
    }

    /// Every cell under the prefix (a `SCAN`, then `GET` and `TTL` of each page's keys).
    pub(super) fn list(&self) -> Result<Vec<Listed>, String> {
        let timeout = self.shared.timeout.max(Duration::from_secs(5));
        let pattern = format!("{}*", glob_escape(&self.shared.prefix));
        let mut cursor = "0".to_string();
        let mut cells = Vec::new();
        loop {
            let page = self.shared.exchange(timeout, |s, deadline| {
                let scan: &[&[u8]] = &[
                    b"SCAN",
                    cursor.as_bytes(),
                    b"MATCH",
                    pattern.as_bytes(),
                    b"COUNT",
                    b"1000",
                ];
                let reply = s.conn.call(scan, deadline).map_err(Fault::Transport)?;
                let Reply::Array(Some(parts)) = reply.ok().map_err(Fault::Reply)? else {
                    return Err(Fault::Reply("SCAN gave no array".into()));
                };
                let next = parts.first().and_then(Reply::text).unwrap_or_default();
                let names: Vec<String> = match parts.get(1) {
                    Some(Reply::Array(Some(keys))) => keys.iter().filter_map(Reply::text).collect(),
                    _ => Vec::new(),
                };
                let commands: Vec<Vec<Vec<u8>>> = names
                    .iter()
                    .flat_map(|k| {
                        [
                            vec![b"GET".to_vec(), k.as_bytes().to_vec()],
                            vec![b"TTL".to_vec(), k.as_bytes().to_vec()],
                        ]
                    })
                    .collect();
                let replies = if commands.is_empty() {
                    Vec::new()
                } else {
                    s.conn
                        .pipeline(&commands, deadline)
                        .map_err(Fault::Transport)?
                };
                Ok((next, names, replies))
            })?;
            let (next, names, replies) = page;
            for (name, pair) in names.iter().zip(replies.chunks(2)) {
                let Some(cell) = self.shared.parse_key(name) else {
                    continue;
                };
                let (Some(count), Some(ttl)) = (
                    pair.first().and_then(Reply::int),
                    pair.get(1).and_then(Reply::int),
                ) else {
                    continue; // expired between SCAN and GET
                };
                cells.push(Listed {
                    counter: cell.counter.to_string(),
                    scope_value: cell.scope_value.to_string(),
                    window: cell.window.name(),
                    window_index: cell.index,
                    window_start: cell.index.saturating_mul(cell.window.seconds()),
                    count: u64::try_from(count).unwrap_or(0),
                    expires_in: u64::try_from(ttl).ok(),
                });
            }
            if next == "0" || next.is_empty() {
                return Ok(cells);
            }
            cursor = next;
        }
    }
}

#[derive(Clone, Copy)]
enum Script {
    Reserve,
    Release,
}

impl Scripted {
    /// `EVALSHA` with the script's SHA-1 in `args[1]`; loads the script again if the server
    /// lost it (`SCRIPT FLUSH`) and retries once.
    fn eval(
        &mut self,
        script: Script,
        args: &mut [Vec<u8>],
        deadline: Instant,
    ) -> Result<Reply, Fault> {
        for attempt in 0..2 {
            let sha = match script {
                Script::Reserve => &self.reserve,
                Script::Release => &self.release,
            };
            if let Some(slot) = args.get_mut(1) {
                *slot = sha.as_bytes().to_vec();
            }
            let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            match self.conn.call(&refs, deadline).map_err(Fault::Transport)? {
                Reply::Error(e) if e.starts_with("NOSCRIPT") && attempt == 0 => {
                    let (reserve, release) = load_scripts(&mut self.conn, deadline)?;
                    (self.reserve, self.release) = (reserve, release);
                }
                Reply::Error(e) => return Err(Fault::Reply(e)),
                reply => return Ok(reply),
            }
        }
        Err(Fault::Reply("the server keeps losing the scripts".into()))
    }
}

fn load_scripts(conn: &mut Conn, deadline: Instant) -> Result<(String, String), Fault> {
    let mut load = |script: &str| -> Result<String, Fault> {
        conn.call(&[b"SCRIPT", b"LOAD", script.as_bytes()], deadline)
            .map_err(Fault::Transport)?
            .ok()
            .map_err(Fault::Reply)?
            .text()
            .ok_or_else(|| Fault::Reply("SCRIPT LOAD gave no SHA-1".into()))
    };
    Ok((load(RESERVE)?, load(RELEASE)?))
}

impl Shared {
    fn key(&self, key: &Key) -> String {
        let counter = key.counter.replace('%', "%25").replace(':', "%3A");
        format!(
            "{}{counter}:{}:{}:{}",
            self.prefix,
            key.window.name(),
            key.index,
            key.scope_value
        )
    }

    fn parse_key(&self, name: &str) -> Option<Key> {
        let rest = name.strip_prefix(&self.prefix)?;
        let mut parts = rest.splitn(4, ':');
        let counter = percent_decode(parts.next()?)?;
        let window = Window::from_name(parts.next()?)?;
        let index = parts.next()?.parse().ok()?;
        let scope_value = parts.next()?.into();
        Some(Key {
            counter: counter.into(),
            scope_value,
            window,
            index,
        })
    }

    /// Runs `f` on a connection (an idle one, else a new one) within `timeout`; keeps the
    /// connection unless the exchange broke it.
    fn exchange<T>(
        &self,
        timeout: Duration,
        f: impl FnOnce(&mut Scripted, Instant) -> Result<T, Fault>,
    ) -> Result<T, String> {
        let deadline = Instant::now() + timeout;
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut scripted = match idle {
            Some(s) => s,
            None => {
                if let Some(until) = *self.backoff_until.lock().unwrap_or_else(|p| p.into_inner())
                    && Instant::now() < until
                {
                    let last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
                    return Err(format!("{} is unavailable: {last}", self.target.redacted()));
                }
                match self.connect(deadline) {
                    Ok(s) => s,
                    Err(Fault::Transport(e) | Fault::Reply(e)) => return Err(self.failed(e)),
                }
            }
        };
        match f(&mut scripted, deadline) {
            Ok(value) => {
                self.recovered();
                let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
                if idle.len() < IDLE {
                    idle.push(scripted);
                }
                Ok(value)
            }
            Err(Fault::Reply(e)) => {
                let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
                if idle.len() < IDLE {
                    idle.push(scripted);
                }
                Err(format!("{}: {e}", self.target.redacted()))
            }
            Err(Fault::Transport(e)) => {
                // Every idle connection is suspect too (a restarted server closed them all).
                self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
                Err(self.failed(e))
            }
        }
    }

    fn connect(&self, deadline: Instant) -> Result<Scripted, Fault> {
        let mut conn =
            Conn::open(&self.target, self.tls.as_ref(), deadline).map_err(Fault::Transport)?;
        let (reserve, release) = load_scripts(&mut conn, deadline)?;
        Ok(Scripted {
            conn,
            reserve,
            release,
        })
    }

    /// Records a failure (logged when the state was reachable until now); starts the backoff.
    fn failed(&self, error: String) -> String {
        *self.backoff_until.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Instant::now() + BACKOFF);
        let message = format!("{} is unavailable: {error}", self.target.redacted());
        if self.up.swap(false, Ordering::SeqCst) {
            eprintln!("warden: limit state {message}");
        }
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = error;
        message
    }

    fn recovered(&self) {
        if !self.up.swap(true, Ordering::SeqCst) {
            eprintln!(
                "warden: limit state {} is reachable again",
                self.target.redacted()
            );
        }
    }
}

/// Sends queued releases; one that fails is retried (after the backoff) until its window is
/// over, when it no longer matters.
fn release_worker(shared: &Shared, jobs: &Receiver<Job>) {
    for job in jobs {
        let mut args: Vec<Vec<u8>> = vec![
            b"EVALSHA".to_vec(),
            Vec::new(),
            job.keys.len().to_string().into_bytes(),
        ];
        args.extend(job.keys.iter().map(|k| k.as_bytes().to_vec()));
        loop {
            let sent = shared.exchange(shared.timeout, |s, deadline| {
                s.eval(Script::Release, &mut args, deadline)
            });
            if sent.is_ok() {
                break;
            }
            if crate::proxy::audit::unix_now() > job.until {
                eprintln!(
                    "warden: limit state: a release could not be sent before its window ended"
                );
                break;
            }
            std::thread::sleep(BACKOFF);
        }
    }
}

/// `prefix` as a literal in a `SCAN MATCH` pattern.
fn glob_escape(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_with_escaped_counters_and_any_scope_value() {
        let r = Redis::new(Options {
            url: "redis://127.0.0.1:1/0".into(),
            prefix: "t:".into(),
            timeout: Duration::from_millis(10),
        })
        .unwrap();
        let key = Key {
            counter: "a:b%c".into(),
            scope_value: "grant:with:colons".into(),
            window: Window::Minute,
            index: 29_000_000,
        };
        let name = r.shared.key(&key);
        assert_eq!(name, "t:a%3Ab%25c:minute:29000000:grant:with:colons");
        assert_eq!(r.shared.parse_key(&name), Some(key));
        assert_eq!(r.shared.parse_key("other:x:minute:1:g"), None);
        assert_eq!(glob_escape("a*b[1]"), r"a\*b\[1\]");
    }
}
