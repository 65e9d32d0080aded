//! The in-memory counter store: one warden's counters, in a map under a mutex. A cell keeps
//! the count of its current window only; the first use in a new window starts it from zero.
//! Cells whose window has ended are dropped whenever the map has doubled since the last such
//! sweep (per-session and per-tool counters would otherwise pile up for every session and tool
//! name ever seen).

use super::{Cell, Key, Listed, StoreRefusal};
use crate::ir::Window;
use smallvec::SmallVec;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct Slot {
    /// Which window the count is for.
    index: u64,
    count: u64,
}

/// A cell's identity without its window index: one slot per (counter, scope value, window).
type SlotKey = (Arc<str>, Arc<str>, Window);

fn slot_key(key: &Key) -> SlotKey {
    (key.counter.clone(), key.scope_value.clone(), key.window)
}

/// The map is swept once it holds this many cells and twice as many as the last sweep left.
const SWEEP_AT: usize = 4096;

#[derive(Debug, Default)]
pub struct Memory {
    slots: Mutex<Slots>,
}

#[derive(Debug, Default)]
struct Slots {
    map: HashMap<SlotKey, Slot>,
    /// Cells left by the last sweep.
    swept: usize,
}

impl Slots {
    /// Drops the cells of ended windows once the map has doubled since the last sweep.
    fn sweep(&mut self, now: u64) {
        if self.map.len() < (2 * self.swept).max(SWEEP_AT) {
            return;
        }
        self.map.retain(|k, s| s.index >= now / k.2.seconds());
        self.swept = self.map.len();
    }
}

impl Memory {
    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One slot in every cell, or none, at `now`; the counts after the reservation.
    pub(super) fn reserve(
        &self,
        cells: &[Cell],
        now: u64,
    ) -> Result<SmallVec<[u64; 2]>, StoreRefusal> {
        let mut slots = self.slots();
        slots.sweep(now);
        let mut counts = SmallVec::with_capacity(cells.len());
        for (i, cell) in cells.iter().enumerate() {
            let slot = slots.map.entry(slot_key(&cell.key)).or_default();
            if slot.index != cell.key.index {
                *slot = Slot {
                    index: cell.key.index,
                    count: 0,
                };
            }
            // A counter shared by rules with different maxima: each limit checks its own max.
            if slot.count >= cell.max {
                let taken: Vec<Key> = cells.iter().take(i).map(|c| c.key.clone()).collect();
                release_locked(&mut slots, &taken);
                return Err(StoreRefusal::Full(i));
            }
            slot.count += 1;
            counts.push(slot.count);
        }
        Ok(counts)
    }

    pub(super) fn release(&self, held: &[Key]) {
        release_locked(&mut self.slots(), held);
    }

    /// The cells of the current windows at `now` (ended windows are not kept).
    pub(super) fn list(&self, now: u64) -> Vec<Listed> {
        self.slots()
            .map
            .iter()
            .filter(|(k, s)| s.index == now / k.2.seconds())
            .map(|((counter, scope_value, window), slot)| Listed {
                counter: counter.to_string(),
                scope_value: scope_value.to_string(),
                window: window.name(),
                window_index: slot.index,
                window_start: slot.index * window.seconds(),
                count: slot.count,
                expires_in: None,
            })
            .collect()
    }
}

fn release_locked(slots: &mut Slots, held: &[Key]) {
    for key in held {
        if let Some(slot) = slots.map.get_mut(&slot_key(key))
            && slot.index == key.index
        {
            slot.count = slot.count.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Counters, Refused};
    use crate::ir::{Scope, Window};
    use crate::proxy::limits::Subject;
    use crate::proxy::request::Identity;
    use crate::table::LimitSpec;
    use std::sync::Arc;

    /// A caller of grant `grant` (session `s`, agent `a`).
    fn who(grant: &str) -> Identity {
        Identity {
            server: None,
            grant: grant.into(),
            agent: Some("a".into()),
            session: "s".into(),
        }
    }

    #[test]
    fn cells_of_ended_windows_do_not_pile_up() {
        let memory = super::Memory::default();
        let counter: Arc<str> = "per-session".into();
        let sessions = 3000;
        let mut most = 0;
        for minute in 0..10u64 {
            let now = minute * 60;
            for s in 0..sessions {
                let cell = super::super::Cell {
                    key: super::super::Key {
                        counter: counter.clone(),
                        scope_value: format!("session-{minute}-{s}").into(),
                        window: Window::Minute,
                        index: now / 60,
                    },
                    max: 10,
                };
                memory.reserve(std::slice::from_ref(&cell), now).unwrap();
                most = most.max(memory.slots().map.len());
            }
            assert_eq!(memory.list(now).len(), sessions);
        }
        // Ten minutes of new sessions, at most about twice one minute's kept at once.
        assert!(most <= 2 * sessions + 1, "{most}");
    }

    #[test]
    fn admits_max_per_window_then_refuses_until_the_next_window() {
        let c = Counters::new();
        let l = LimitSpec::new("runs", 2, Window::Minute, Scope::Grant);
        let now = 120; // the start of a minute
        for _ in 0..2 {
            let (r, _) = c
                .reserve(std::slice::from_ref(&l), &Subject::of(&who("ci"), "t"), now)
                .unwrap();
            c.commit(r);
        }
        let e = c
            .reserve(
                std::slice::from_ref(&l),
                &Subject::of(&who("ci"), "t"),
                now + 10,
            )
            .unwrap_err();
        let Refused::Exceeded(e) = e else {
            panic!("{e:?}")
        };
        assert_eq!(e.retry_after, 50);
        // another grant has its own counter
        assert!(
            c.reserve(
                std::slice::from_ref(&l),
                &Subject::of(&who("other"), "t"),
                now
            )
            .is_ok()
        );
        // the next window starts empty
        assert!(
            c.reserve(std::slice::from_ref(&l), &Subject::of(&who("ci"), "t"), 180)
                .is_ok()
        );
    }

    #[test]
    fn all_or_nothing_and_release_gives_slots_back() {
        let c = Counters::new();
        let a = LimitSpec::new("a", 5, Window::Minute, Scope::Global);
        let b = LimitSpec::new("b", 1, Window::Hour, Scope::Grant);
        let (r, states) = c
            .reserve(&[a.clone(), b.clone()], &Subject::of(&who("g"), "t"), 0)
            .unwrap();
        assert_eq!(states.len(), 2);
        c.commit(r);
        // b is full: a must not keep the slot it took before b refused
        assert!(
            c.reserve(&[a.clone(), b.clone()], &Subject::of(&who("g"), "t"), 1)
                .is_err()
        );
        assert_eq!(c.count("a", "", Window::Minute, 1), 1);
        let (r, _) = c
            .reserve(std::slice::from_ref(&a), &Subject::of(&who("g"), "t"), 2)
            .unwrap();
        assert_eq!(c.count("a", "", Window::Minute, 2), 2);
        c.release(r);
        assert_eq!(c.count("a", "", Window::Minute, 2), 1);
    }

    #[test]
    fn a_release_after_the_window_turned_does_not_touch_the_new_window() {
        let c = Counters::new();
        let l = LimitSpec::new("x", 1, Window::Second, Scope::Global);
        let (r, _) = c
            .reserve(std::slice::from_ref(&l), &Subject::of(&who("g"), "t"), 10)
            .unwrap();
        let (r2, _) = c
            .reserve(std::slice::from_ref(&l), &Subject::of(&who("g"), "t"), 11)
            .unwrap();
        c.release(r);
        assert_eq!(c.count("x", "", Window::Second, 11), 1);
        c.commit(r2);
    }
}
