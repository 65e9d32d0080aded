//! End-to-end tests of `warden proxy` (stdio) against real MCP peers, never mocks: the official
//! Python SDK's client, `@modelcontextprotocol/server-everything` (handshake era),
//! `mcp-server-time` (2026-07-28), the Kestra server, and a small SDK server of our own for the
//! cases the reference servers cannot produce on demand (tests/e2e/fixture_server.py).
//!
//! The peers are installed by `scripts/install-deps.sh` under `$WARDEN_PEERS` (default
//! `~/.cache/warden-peers`); a missing peer fails the test with that instruction.
//!
//! - `sdk`: both eras and the Kestra policy, driven by the SDK client (tests/e2e/*.py print
//!   one JSON line; the assertions are here);
//! - `enforce`: limits, approvals, hot reload and dry run over live SDK sessions;
//! - `wire`: raw JSON-RPC over warden's pipes: hostile input and shutdown;
//! - `support`: locating peers, running scripts and processes with bounded waits.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails loudly on a bad fixture"
)]

#[path = "proxy_e2e/enforce.rs"]
mod enforce;
#[path = "proxy_e2e/sdk.rs"]
mod sdk;
#[path = "proxy_e2e/support.rs"]
mod support;
#[path = "proxy_e2e/wire.rs"]
mod wire;
