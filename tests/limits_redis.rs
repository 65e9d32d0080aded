//! Shared limits in Redis (`warden proxy --state redis://…`), against a real `redis-server`
//! that each test starts on a free loopback port without persistence and kills at the end
//! (Debian's `redis-server`, installed by scripts/install-deps.sh; missing, the tests fail).
//!
//! - `script`: the store's Lua scripts through the library API, with a controllable clock;
//! - `replicas`: several stdio wardens sharing one Redis, real SDK clients and fixture servers
//!   (tests/e2e/replicas.py), and Redis faults seen over warden's pipes;
//! - `tls`: `rediss://` against a TLS port with the test's own CA;
//! - `server`: the redis-server process and `redis-cli` as the oracle.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails loudly on a bad fixture"
)]

#[path = "common/certs.rs"]
mod certs;
#[path = "common/ports.rs"]
mod ports;
#[path = "limits_redis/replicas.rs"]
mod replicas;
#[path = "limits_redis/script.rs"]
mod script;
#[path = "limits_redis/server.rs"]
mod server;
#[path = "proxy_e2e/support.rs"]
#[allow(dead_code, reason = "shared with proxy_e2e, which uses all of it")]
mod support;
#[path = "limits_redis/tls.rs"]
mod tls;
