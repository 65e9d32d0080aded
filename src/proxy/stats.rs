//! What the proxy has done, counted for `/metrics`: decisions by effect, code and rule, and
//! policy reloads. Transport-independent: the engine and the reload watcher count here, a
//! transport's metrics endpoint reads a [`Snapshot`].
//!
//! Counting a decision takes one short lock and allocates only the first time a (effect, code,
//! rule) triple is seen.

use crate::ir::Effect;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts by (effect, code), then by rule id.
type Decisions = HashMap<(Effect, &'static str), HashMap<String, u64>>;

#[derive(Debug, Default)]
pub struct Stats {
    decisions: Mutex<Decisions>,
    reloads_ok: AtomicU64,
    reloads_refused: AtomicU64,
}

/// One row of the decision counts.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DecisionCount {
    pub effect: &'static str,
    pub code: &'static str,
    pub rule: String,
    pub count: u64,
}

/// The counts at one moment.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Sorted by effect, code and rule.
    pub decisions: Vec<DecisionCount>,
    pub reloads_ok: u64,
    pub reloads_refused: u64,
}

impl Stats {
    pub fn decision(&self, effect: Effect, code: &'static str, rule: &str) {
        let mut d = self.decisions.lock().unwrap_or_else(|p| p.into_inner());
        let by_rule = d.entry((effect, code)).or_default();
        match by_rule.get_mut(rule) {
            Some(n) => *n += 1,
            None => {
                by_rule.insert(rule.to_string(), 1);
            }
        }
    }

    pub fn reload(&self, ok: bool) {
        let counter = if ok {
            &self.reloads_ok
        } else {
            &self.reloads_refused
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let d = self.decisions.lock().unwrap_or_else(|p| p.into_inner());
        let mut decisions: Vec<DecisionCount> = d
            .iter()
            .flat_map(|((effect, code), by_rule)| {
                by_rule.iter().map(|(rule, count)| DecisionCount {
                    effect: effect.keyword(),
                    code,
                    rule: rule.clone(),
                    count: *count,
                })
            })
            .collect();
        decisions.sort();
        Snapshot {
            decisions,
            reloads_ok: self.reloads_ok.load(Ordering::Relaxed),
            reloads_refused: self.reloads_refused.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_effect_code_and_rule() {
        let s = Stats::default();
        s.decision(Effect::Allow, "forwarded", "r1");
        s.decision(Effect::Allow, "forwarded", "r1");
        s.decision(Effect::Deny, "policy_denied", "");
        s.reload(true);
        s.reload(false);
        s.reload(false);
        let snap = s.snapshot();
        assert_eq!(snap.decisions.len(), 2);
        assert_eq!(snap.decisions[0].effect, "allow");
        assert_eq!(snap.decisions[0].count, 2);
        assert_eq!((snap.reloads_ok, snap.reloads_refused), (1, 2));
    }
}
