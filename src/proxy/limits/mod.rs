//! Rate-limit counters with two-phase accounting, behind one API for every transport, over a
//! pluggable store: in memory (one warden, the default) or in Redis (replicas sharing limits).
//!
//! A call under limits first *reserves* one slot in every counter that applies (all or none);
//! the reservation is *committed* when the server answers, or *released* when the server
//! answers with a JSON-RPC error or the connection breaks (PolicyLayer's two-phase rule). Only
//! forwarded calls consume. Windows are fixed and UTC-aligned: a `per minute` counter resets at
//! every full minute since the Unix epoch. A counter cell is keyed by counter name, scope value,
//! window and window index ([`Key`]), never by rule, so counters survive a policy reload.
//!
//! This module owns the API, the keys and the windows; `memory` and `redis` own the storage
//! (`resp` is the Redis wire protocol). A call without limits never touches the store. When
//! the store cannot answer, [`Refused::Unavailable`] says so and the engine applies the
//! [`FailMode`].

mod memory;
mod redis;
mod resp;

pub use redis::Options as RedisOptions;

use super::request::Identity;
use crate::ir::{Scope, Window};
use crate::table::LimitSpec;
use smallvec::SmallVec;
use std::borrow::Borrow;
use std::sync::Arc;

/// Most calls are under one or two limits: their cells, counts and states stay inline.
const INLINE: usize = 2;

/// The counters' states after a reservation, for the audit log.
pub type States = SmallVec<[CounterState; INLINE]>;

/// Who a call is counted for.
#[derive(Clone, Debug)]
pub struct Subject<'a> {
    pub grant: &'a Arc<str>,
    pub session: &'a Arc<str>,
    pub agent: Option<&'a Arc<str>>,
    pub tool: &'a str,
}

impl<'a> Subject<'a> {
    /// A call of `tool` by `who`.
    pub fn of(who: &'a Identity, tool: &'a str) -> Subject<'a> {
        Subject {
            grant: &who.grant,
            session: &who.session,
            agent: who.agent.as_ref(),
            tool,
        }
    }

    /// The scope's value, shared where the identity already holds it.
    fn scope_value(&self, scope: Scope) -> Arc<str> {
        match scope {
            Scope::Grant => self.grant.clone(),
            Scope::Session => self.session.clone(),
            Scope::Agent => self.agent.cloned().unwrap_or_else(none),
            Scope::Tool => self.tool.into(),
            Scope::Global => none(),
        }
    }
}

/// The empty scope value (global limits, calls without an agent), made once.
fn none() -> Arc<str> {
    static NONE: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
    NONE.get_or_init(|| "".into()).clone()
}

/// One counter cell: a counter, for one scope value, in one window.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub counter: Arc<str>,
    pub scope_value: Arc<str>,
    pub window: Window,
    /// Which window: seconds since the epoch / window length.
    pub index: u64,
}

impl Key {
    /// The Unix second at which this cell's window ends.
    pub fn window_end(&self) -> u64 {
        (self.index + 1).saturating_mul(self.window.seconds())
    }
}

/// A cell to reserve in, with the maximum of the limit that names it.
#[derive(Clone, Debug)]
struct Cell {
    key: Key,
    max: u64,
}

/// Why a store refused a reservation.
#[derive(Debug)]
enum StoreRefusal {
    /// The cell at this position is full.
    Full(usize),
    Unavailable(String),
}

/// Slots held by one call until it is committed or released.
#[derive(Debug, Default)]
#[must_use = "a reservation must be committed or released"]
pub struct Reservation {
    held: SmallVec<[Key; INLINE]>,
}

impl Reservation {
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

/// The state of one counter after a reservation, for audit logs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CounterState {
    pub counter: Arc<str>,
    pub count: u64,
    pub max: u64,
    pub window: &'static str,
}

/// A limit that refused a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exceeded {
    pub counter: String,
    pub max: u64,
    /// Seconds until the window resets.
    pub retry_after: u64,
}

/// Why a reservation was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// A limit is full in this window.
    Exceeded(Exceeded),
    /// The counter store did not answer (in time): the call cannot be counted.
    Unavailable(String),
}

/// What a call under a limit gets when the counter store is unavailable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailMode {
    /// Deny it (`limit_state_unavailable`): a limit is never silently exceeded.
    #[default]
    Closed,
    /// Admit it without counting, and say so loudly.
    Open,
}

impl std::str::FromStr for FailMode {
    type Err = String;
    fn from_str(s: &str) -> Result<FailMode, String> {
        match s {
            "closed" => Ok(FailMode::Closed),
            "open" => Ok(FailMode::Open),
            other => Err(format!("`{other}` is not a fail mode (closed or open)")),
        }
    }
}

/// Whether the store answers, for health probes (`/healthz`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Health {
    /// `memory` or `redis`.
    pub store: &'static str,
    pub ok: bool,
    /// Where the state lives (credentials redacted), and the last error when not ok.
    pub detail: String,
}

/// One counter cell as listed by `warden limits`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Listed {
    pub counter: String,
    pub scope_value: String,
    pub window: &'static str,
    pub window_index: u64,
    /// The Unix second the window started.
    pub window_start: u64,
    pub count: u64,
    /// Seconds until the cell is deleted (`None`: no expiry, or the store does not expire).
    pub expires_in: Option<u64>,
}

enum Store {
    Memory(memory::Memory),
    Redis(redis::Redis),
}

/// The counters of a proxy: the store and what to do when it is unavailable.
pub struct Counters {
    store: Store,
    fail_mode: FailMode,
    /// Fail-open warnings: the second of the last one printed, and how many were held back.
    warned: std::sync::Mutex<(u64, u64)>,
}

impl Default for Counters {
    fn default() -> Counters {
        Counters::new()
    }
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let store = match &self.store {
            Store::Memory(_) => "memory",
            Store::Redis(_) => "redis",
        };
        f.debug_struct("Counters")
            .field("store", &store)
            .field("fail_mode", &self.fail_mode)
            .finish()
    }
}

impl Counters {
    /// Counters in this process's memory.
    pub fn new() -> Counters {
        Counters {
            store: Store::Memory(memory::Memory::default()),
            fail_mode: FailMode::Closed,
            warned: Default::default(),
        }
    }

    /// Counters in Redis, shared by every warden that names the same server and prefix.
    /// Checks the URL only: an unreachable server is retried on every use.
    pub fn redis(options: RedisOptions, fail_mode: FailMode) -> Result<Counters, String> {
        Ok(Counters {
            store: Store::Redis(redis::Redis::new(options)?),
            fail_mode,
            warned: Default::default(),
        })
    }

    pub fn fail_mode(&self) -> FailMode {
        self.fail_mode
    }

    /// Says on stderr that a call was admitted without counting (fail-open): at most one line
    /// a second, with how many more there were; the audit log has every call.
    pub fn warn_uncounted(&self, text: &str, now: u64) {
        let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        if warned.0 == now {
            warned.1 += 1;
            return;
        }
        let more = std::mem::take(&mut warned.1);
        warned.0 = now;
        let more = if more > 0 {
            format!(" (and {more} more such calls since the last warning)")
        } else {
            String::new()
        };
        eprintln!("warden: WARNING: {text}{more}");
    }

    /// Reserves one slot in every limit, at `now` (seconds since the Unix epoch), or none.
    pub fn reserve(
        &self,
        limits: &[impl Borrow<LimitSpec>],
        subject: &Subject,
        now: u64,
    ) -> Result<(Reservation, States), Refused> {
        if limits.is_empty() {
            return Ok((Reservation::default(), States::new()));
        }
        let limits = limits.iter().map(Borrow::borrow);
        let cells: SmallVec<[Cell; INLINE]> = limits
            .clone()
            .map(|limit| Cell {
                key: Key {
                    counter: limit.counter.clone(),
                    scope_value: subject.scope_value(limit.scope),
                    window: limit.window,
                    index: now / limit.window.seconds(),
                },
                max: limit.max,
            })
            .collect();
        let counts = match &self.store {
            Store::Memory(m) => m.reserve(&cells, now),
            Store::Redis(r) => r.reserve(&cells, now).map(SmallVec::from_vec),
        };
        match counts {
            Ok(counts) => {
                let states = limits
                    .clone()
                    .zip(counts)
                    .map(|(limit, count)| CounterState {
                        counter: limit.counter.clone(),
                        count,
                        max: limit.max,
                        window: limit.window.name(),
                    })
                    .collect();
                let held = cells.into_iter().map(|c| c.key).collect();
                Ok((Reservation { held }, states))
            }
            Err(StoreRefusal::Full(i)) => match (limits.clone().nth(i), cells.get(i)) {
                (Some(limit), Some(cell)) => Err(Refused::Exceeded(Exceeded {
                    counter: limit.counter.to_string(),
                    max: limit.max,
                    retry_after: cell.key.window_end().saturating_sub(now),
                })),
                _ => Err(Refused::Unavailable(format!(
                    "the store refused limit {i} of {}",
                    cells.len()
                ))),
            },
            Err(StoreRefusal::Unavailable(why)) => Err(Refused::Unavailable(why)),
        }
    }

    /// The call went through: its slots stay used.
    pub fn commit(&self, reservation: Reservation) {
        drop(reservation.held);
    }

    /// The call failed upstream: give its slots back (within the window they were taken in).
    /// Never waits on the network: the Redis store releases in the background.
    pub fn release(&self, reservation: Reservation) {
        if reservation.held.is_empty() {
            return;
        }
        match &self.store {
            Store::Memory(m) => m.release(&reservation.held),
            Store::Redis(r) => r.release(reservation.held.into_vec()),
        }
    }

    /// Whether calls under a limit are admitted uncounted when the store does not answer.
    pub fn fails_open(&self) -> bool {
        self.fail_mode == FailMode::Open
    }

    /// Whether the store answers now (Redis: a `PING` within the timeout).
    pub fn health(&self) -> Health {
        match &self.store {
            Store::Memory(_) => Health {
                store: "memory",
                ok: true,
                detail: "in this process".into(),
            },
            Store::Redis(r) => r.health(),
        }
    }

    /// Every counter cell the store holds, at `now`, sorted.
    pub fn list(&self, now: u64) -> Result<Vec<Listed>, String> {
        let mut cells = match &self.store {
            Store::Memory(m) => m.list(now),
            Store::Redis(r) => r.list()?,
        };
        cells.sort_by(|a, b| {
            (&a.counter, &a.scope_value, a.window, a.window_index).cmp(&(
                &b.counter,
                &b.scope_value,
                b.window,
                b.window_index,
            ))
        });
        Ok(cells)
    }

    /// The current count of a counter for a scope value, at `now`.
    pub fn count(&self, counter: &str, scope_value: &str, window: Window, now: u64) -> u64 {
        let index = now / window.seconds();
        self.list(now)
            .unwrap_or_default()
            .into_iter()
            .find(|c| {
                c.counter == counter
                    && c.scope_value == scope_value
                    && c.window == window.name()
                    && c.window_index == index
            })
            .map_or(0, |c| c.count)
    }
}
