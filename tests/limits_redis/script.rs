//! The Redis store's scripts against a real server, with a controllable clock: reservations
//! are all or none, releases give slots back, every key expires from its window, a call at a
//! window's edge is counted in its own window, and the store agrees with the in-memory one on
//! the same sequence of operations.

use crate::server::{RedisServer, eventually};
use std::time::Duration;
use warden::ir::{Scope, Window};
use warden::proxy::engine::Identity;
use warden::proxy::limits::{
    Counters, FailMode, Listed, RedisOptions, Refused, Reservation, Subject,
};
use warden::table::LimitSpec;

fn redis(server: &RedisServer, prefix: &str) -> Counters {
    Counters::redis(
        RedisOptions {
            url: server.url(),
            prefix: prefix.into(),
            timeout: Duration::from_millis(500),
        },
        FailMode::Closed,
    )
    .unwrap()
}

/// A caller of grant `grant` (session `s1`, agent `agent`).
fn who(grant: &str) -> Identity {
    Identity {
        server: None,
        grant: grant.into(),
        agent: Some("agent".into()),
        session: "s1".into(),
    }
}

/// 2026-11-24T00:00:00Z, a day's (and so a minute's) start.
const DAY: u64 = 1_795_478_400;

fn reserve(
    c: &Counters,
    limits: &[LimitSpec],
    grant: &str,
    now: u64,
) -> Result<Reservation, Refused> {
    c.reserve(limits, &Subject::of(&who(grant), "echo"), now)
        .map(|(r, _)| r)
}

#[test]
fn a_reservation_takes_every_cell_or_none_and_sets_expiry_from_the_window() {
    let server = RedisServer::start();
    let c = redis(&server, "t1:");
    let a = LimitSpec::new("a", 5, Window::Minute, Scope::Global);
    let b = LimitSpec::new("b", 1, Window::Hour, Scope::Grant);
    let now = DAY + 3600 + 15; // 01:00:15
    let (r, states) = c
        .reserve(
            &[a.clone(), b.clone()],
            &Subject::of(&who("ci"), "echo"),
            now,
        )
        .unwrap();
    assert_eq!(states.iter().map(|s| s.count).collect::<Vec<_>>(), [1, 1]);
    c.commit(r);
    let minute = (now / 60).to_string();
    let hour = (now / 3600).to_string();
    let key_a = format!("t1:a:minute:{minute}:");
    let key_b = format!("t1:b:hour:{hour}:ci");
    assert_eq!(server.keys("t1:"), [key_a.clone(), key_b.clone()]);
    // Expiry: the rest of the window (by the caller's clock) plus a grace of 60 s.
    let ttl_a = server.ttl(&key_a);
    assert!((100..=105).contains(&ttl_a), "{ttl_a}");
    let ttl_b = server.ttl(&key_b);
    assert!(
        (3600 - 15 + 55..=3600 - 15 + 60).contains(&ttl_b),
        "{ttl_b}"
    );

    // b is full: a must not keep the slot it took before b refused.
    match reserve(&c, &[a.clone(), b.clone()], "ci", now + 1) {
        Err(Refused::Exceeded(e)) => {
            assert_eq!((e.counter.as_str(), e.max), ("b", 1));
            assert_eq!(e.retry_after, 3600 - 16);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.get(&key_a), Some(1));
    assert_eq!(server.get(&key_b), Some(1));
    // another grant has its own cell of b
    c.commit(reserve(&c, &[a.clone(), b.clone()], "other", now + 2).unwrap());
    assert_eq!(server.get(&key_a), Some(2));
}

#[test]
fn a_release_gives_the_slot_back_in_its_own_window_and_never_below_zero() {
    let server = RedisServer::start();
    let c = redis(&server, "t2:");
    let l = LimitSpec::new("x", 2, Window::Second, Scope::Global);
    let now = DAY + 10;
    let first = reserve(&c, std::slice::from_ref(&l), "g", now).unwrap();
    let second = reserve(&c, std::slice::from_ref(&l), "g", now).unwrap();
    let key = format!("t2:x:second:{now}:");
    assert_eq!(server.get(&key), Some(2));
    c.release(second);
    eventually(Duration::from_secs(5), "the release", || {
        (server.get(&key) == Some(1)).then_some(())
    });
    // the window turned: a release of the old window leaves the new one alone
    let next = reserve(&c, std::slice::from_ref(&l), "g", now + 1).unwrap();
    server.cli(&["DEL", &key]); // the old cell expired meanwhile
    c.release(first);
    c.commit(next);
    // the release is sent by a background thread: wait until a later operation saw it done
    let key_next = format!("t2:x:second:{}:", now + 1);
    let marker = reserve(
        &c,
        &[LimitSpec::new("m", 1, Window::Day, Scope::Global)],
        "g",
        now + 1,
    )
    .unwrap();
    c.release(marker);
    eventually(Duration::from_secs(5), "the releases", || {
        (server.get(&format!("t2:m:day:{}:", now / 86_400)) == Some(0)).then_some(())
    });
    assert_eq!(server.get(&key), None, "a release must not create a key");
    assert_eq!(server.get(&key_next), Some(1));
}

#[test]
fn calls_straddling_a_window_edge_are_counted_in_their_own_windows() {
    let server = RedisServer::start();
    let c = redis(&server, "t3:");
    let l = LimitSpec::new("edge", 1, Window::Minute, Scope::Grant);
    let edge = DAY + 60 * 7; // 00:07:00
    c.commit(reserve(&c, std::slice::from_ref(&l), "g", edge - 1).unwrap());
    // the last second of the window is full
    match reserve(&c, std::slice::from_ref(&l), "g", edge - 1) {
        Err(Refused::Exceeded(e)) => assert_eq!(e.retry_after, 1),
        other => panic!("{other:?}"),
    }
    // the first second of the next window starts from zero
    c.commit(reserve(&c, std::slice::from_ref(&l), "g", edge).unwrap());
    let before = format!("t3:edge:minute:{}:g", (edge - 1) / 60);
    let after = format!("t3:edge:minute:{}:g", edge / 60);
    assert_eq!(server.keys("t3:"), [before.clone(), after.clone()]);
    assert_eq!(
        (server.get(&before), server.get(&after)),
        (Some(1), Some(1))
    );
    // each key expires from its own window: the ended one within the grace
    let (ttl_before, ttl_after) = (server.ttl(&before), server.ttl(&after));
    assert!(
        ttl_before <= 61 && ttl_after > 61,
        "{ttl_before} {ttl_after}"
    );
}

#[test]
fn the_redis_store_agrees_with_the_memory_store_on_a_sequence() {
    let server = RedisServer::start();
    let shared = redis(&server, "t4:");
    let memory = Counters::new();
    // two rules naming one counter with different maxima, a global and a per-tool counter
    let limits = [
        LimitSpec::new("runs", 3, Window::Minute, Scope::Grant),
        LimitSpec::new("runs", 4, Window::Minute, Scope::Grant),
        LimitSpec::new("all", 5, Window::Hour, Scope::Global),
        LimitSpec::new("tool", 2, Window::Second, Scope::Tool),
    ];
    let mut now = DAY + 50;
    let (mut held_m, mut held_r) = (Vec::new(), Vec::new());
    for step in 0..40u64 {
        now += step % 3; // the clock moves across second and minute edges
        let pick: Vec<LimitSpec> = limits
            .iter()
            .enumerate()
            .filter(|(i, _)| (step >> i) & 1 == 1 || *i == 2)
            .map(|(_, l)| l.clone())
            .collect();
        let grant = ["a", "b"][(step % 2) as usize];
        let m = memory.reserve(&pick, &Subject::of(&who(grant), "echo"), now);
        let r = shared.reserve(&pick, &Subject::of(&who(grant), "echo"), now);
        match (m, r) {
            (Ok((rm, sm)), Ok((rr, sr))) => {
                assert_eq!(sm, sr, "step {step}");
                held_m.push(rm);
                held_r.push(rr);
            }
            (Err(em), Err(er)) => assert_eq!(em, er, "step {step}"),
            (m, r) => panic!("step {step}: memory {m:?}, redis {r:?}"),
        }
        if step % 4 == 3 {
            memory.release(held_m.remove(0));
            shared.release(held_r.remove(0));
            // releases are asynchronous in Redis: wait until the counts agree
            let listed = |c: &Counters| -> Vec<(String, String, u64)> {
                c.list(now)
                    .unwrap()
                    .into_iter()
                    .filter(|l: &Listed| {
                        l.window_index == now / Window::from_name(l.window).unwrap().seconds()
                    })
                    .map(|l| (l.counter, l.scope_value, l.count))
                    .filter(|l| l.2 > 0)
                    .collect()
            };
            let want = listed(&memory);
            eventually(Duration::from_secs(5), "the release", || {
                (listed(&shared) == want).then_some(())
            });
        }
    }
    for (m, r) in held_m.into_iter().zip(held_r) {
        memory.commit(m);
        shared.commit(r);
    }
}

#[test]
fn a_lost_script_is_loaded_again_and_an_outage_is_reported_then_recovered() {
    let mut server = RedisServer::start();
    let c = redis(&server, "t5:");
    let l = [LimitSpec::new("n", 10, Window::Day, Scope::Global)];
    c.commit(reserve(&c, &l, "g", DAY).unwrap());
    server.cli(&["SCRIPT", "FLUSH"]);
    c.commit(reserve(&c, &l, "g", DAY).unwrap());
    assert_eq!(server.get("t5:n:day:20781:"), Some(2));
    assert!(c.health().ok);

    server.stop();
    match reserve(&c, &l, "g", DAY) {
        Err(Refused::Unavailable(why)) => assert!(why.contains("127.0.0.1"), "{why}"),
        other => panic!("{other:?}"),
    }
    let health = c.health();
    assert!(!health.ok && health.store == "redis", "{health:?}");
    assert!(health.detail.contains("is unavailable"), "{health:?}");
    // a call without limits never touches the store
    assert!(
        c.reserve(&[] as &[LimitSpec], &Subject::of(&who("g"), "echo"), DAY)
            .is_ok()
    );

    server.restart();
    eventually(Duration::from_secs(5), "a reconnection", || {
        reserve(&c, &l, "g", DAY).ok().map(|r| c.commit(r))
    });
    assert!(c.health().ok);
    // no persistence: the restarted server counts from zero
    assert_eq!(server.get("t5:n:day:20781:"), Some(1));
}

/// The current hour's index, for keys of `per hour` counters.
pub fn hour_now() -> u64 {
    warden::proxy::audit::unix_now() / 3600
}
