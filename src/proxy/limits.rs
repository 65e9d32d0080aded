//! In-memory rate-limit counters with two-phase accounting.
//!
//! A call under limits first *reserves* one slot in every counter that applies (all or none);
//! the reservation is *committed* when the server answers, or *released* when the server
//! answers with a JSON-RPC error or the connection breaks (PolicyLayer's two-phase rule). Only
//! forwarded calls consume. Windows are fixed and UTC-aligned: a `per minute` counter resets at
//! every full minute since the Unix epoch. Counters are keyed by counter name and scope value,
//! not by rule, so they survive a policy reload.

use crate::ir::{Scope, Window};
use crate::table::LimitSpec;
use std::collections::HashMap;
use std::sync::Mutex;

/// Who a call is counted for.
#[derive(Clone, Debug, Default)]
pub struct Subject<'a> {
    pub grant: &'a str,
    pub session: &'a str,
    pub agent: &'a str,
    pub tool: &'a str,
}

impl Subject<'_> {
    fn scope_value(&self, scope: Scope) -> &str {
        match scope {
            Scope::Grant => self.grant,
            Scope::Session => self.session,
            Scope::Agent => self.agent,
            Scope::Tool => self.tool,
            Scope::Global => "",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    counter: String,
    scope_value: String,
    window: Window,
}

#[derive(Debug, Default)]
struct Slot {
    /// Which window (seconds since the epoch / window length) the count is for.
    index: u64,
    count: u64,
}

/// Slots held by one call until it is committed or released.
#[derive(Debug, Default)]
#[must_use = "a reservation must be committed or released"]
pub struct Reservation {
    held: Vec<(Key, u64)>,
}

impl Reservation {
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

/// The state of one counter after a reservation, for audit logs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CounterState {
    pub counter: String,
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

#[derive(Debug, Default)]
pub struct Counters {
    slots: Mutex<HashMap<Key, Slot>>,
}

impl Counters {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reserves one slot in every limit, at `now` (seconds since the Unix epoch), or none.
    pub fn reserve(
        &self,
        limits: &[LimitSpec],
        subject: &Subject,
        now: u64,
    ) -> Result<(Reservation, Vec<CounterState>), Exceeded> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let mut reservation = Reservation::default();
        let mut states = Vec::new();
        for limit in limits {
            let key = Key {
                counter: limit.counter.clone(),
                scope_value: subject.scope_value(limit.scope).to_string(),
                window: limit.window,
            };
            let index = now / limit.window.seconds();
            let slot = slots.entry(key.clone()).or_default();
            if slot.index != index {
                *slot = Slot { index, count: 0 };
            }
            // A counter shared by rules with different maxima: each limit checks its own max.
            if slot.count >= limit.max {
                let exceeded = Exceeded {
                    counter: limit.counter.clone(),
                    max: limit.max,
                    retry_after: (index + 1) * limit.window.seconds() - now,
                };
                release_locked(&mut slots, reservation);
                return Err(exceeded);
            }
            slot.count += 1;
            states.push(CounterState {
                counter: limit.counter.clone(),
                count: slot.count,
                max: limit.max,
                window: limit.window.name(),
            });
            reservation.held.push((key, index));
        }
        Ok((reservation, states))
    }

    /// The call went through: its slots stay used.
    pub fn commit(&self, reservation: Reservation) {
        drop(reservation.held);
    }

    /// The call failed upstream: give its slots back (within the window they were taken in).
    pub fn release(&self, reservation: Reservation) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        release_locked(&mut slots, reservation);
    }

    /// The current count of a counter for a scope value, at `now`.
    pub fn count(&self, counter: &str, scope_value: &str, window: Window, now: u64) -> u64 {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let key = Key {
            counter: counter.to_string(),
            scope_value: scope_value.to_string(),
            window,
        };
        slots
            .get(&key)
            .filter(|s| s.index == now / window.seconds())
            .map_or(0, |s| s.count)
    }
}

fn release_locked(slots: &mut HashMap<Key, Slot>, reservation: Reservation) {
    for (key, index) in reservation.held {
        if let Some(slot) = slots.get_mut(&key)
            && slot.index == index
        {
            slot.count = slot.count.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn limit(counter: &str, max: u64, window: Window, scope: Scope) -> LimitSpec {
        LimitSpec {
            counter: counter.into(),
            max,
            window,
            scope,
        }
    }

    fn subject(grant: &str) -> Subject<'_> {
        Subject {
            grant,
            session: "s",
            agent: "a",
            tool: "t",
        }
    }

    #[test]
    fn admits_max_per_window_then_refuses_until_the_next_window() {
        let c = Counters::new();
        let l = limit("runs", 2, Window::Minute, Scope::Grant);
        let now = 120; // the start of a minute
        for _ in 0..2 {
            let (r, _) = c
                .reserve(std::slice::from_ref(&l), &subject("ci"), now)
                .unwrap();
            c.commit(r);
        }
        let e = c
            .reserve(std::slice::from_ref(&l), &subject("ci"), now + 10)
            .unwrap_err();
        assert_eq!(e.retry_after, 50);
        // another grant has its own counter
        assert!(
            c.reserve(std::slice::from_ref(&l), &subject("other"), now)
                .is_ok()
        );
        // the next window starts empty
        assert!(
            c.reserve(std::slice::from_ref(&l), &subject("ci"), 180)
                .is_ok()
        );
    }

    #[test]
    fn all_or_nothing_and_release_gives_slots_back() {
        let c = Counters::new();
        let a = limit("a", 5, Window::Minute, Scope::Global);
        let b = limit("b", 1, Window::Hour, Scope::Grant);
        let (r, states) = c
            .reserve(&[a.clone(), b.clone()], &subject("g"), 0)
            .unwrap();
        assert_eq!(states.len(), 2);
        c.commit(r);
        // b is full: a must not keep the slot it took before b refused
        assert!(
            c.reserve(&[a.clone(), b.clone()], &subject("g"), 1)
                .is_err()
        );
        assert_eq!(c.count("a", "", Window::Minute, 1), 1);
        let (r, _) = c
            .reserve(std::slice::from_ref(&a), &subject("g"), 2)
            .unwrap();
        assert_eq!(c.count("a", "", Window::Minute, 2), 2);
        c.release(r);
        assert_eq!(c.count("a", "", Window::Minute, 2), 1);
    }

    #[test]
    fn a_release_after_the_window_turned_does_not_touch_the_new_window() {
        let c = Counters::new();
        let l = limit("x", 1, Window::Second, Scope::Global);
        let (r, _) = c
            .reserve(std::slice::from_ref(&l), &subject("g"), 10)
            .unwrap();
        let (r2, _) = c
            .reserve(std::slice::from_ref(&l), &subject("g"), 11)
            .unwrap();
        c.release(r);
        assert_eq!(c.count("x", "", Window::Second, 11), 1);
        c.commit(r2);
    }
}
