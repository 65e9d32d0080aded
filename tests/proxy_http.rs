//! End-to-end tests of `warden proxy --listen` (Streamable HTTP) against real MCP peers, never
//! mocks: `@modelcontextprotocol/server-everything` in its `streamableHttp` mode (handshake
//! era, sessions, SSE answers), the SDK fixture server over HTTP (both eras; 2026-07-28
//! stateless), the official Python SDK's Streamable HTTP client (tests/e2e/http_client.py),
//! and hand-written HTTP requests for the edges.
//!
//! - `sdk`: the SDK client through warden: both eras, filtering, decisions, SSE progress,
//!   approvals, two grants with their own limits, credentials;
//! - `children`: `--listen` in front of stdio servers, one child per session;
//! - `load`: 20,000 calls from 32 clients across 4 grants (exact limits, no growth); reload;
//! - `shared`: three replicas sharing limits in one Redis, `/healthz` following the store,
//!   pins across stateless requests;
//! - `jwt`: bearer JWTs from an identity provider (PyJWT-made), grants from a claim, key rotation;
//! - `tls`: an `https://` upstream (the test's own CA), for the proxy and `catalog --url`;
//! - `wire`: raw HTTP: 401, routing headers, `requestState` tampering, origins, overload,
//!   timeouts, sessions, metrics, shutdown;
//! - `support`: peers on free ports, warden on port 0, a raw HTTP client.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails loudly on a bad fixture"
)]

#[path = "common/certs.rs"]
mod certs;
#[path = "proxy_http/children.rs"]
mod children;
#[allow(
    dead_code,
    reason = "shared with tests/proxy_e2e.rs; this binary uses a part"
)]
#[path = "proxy_e2e/support.rs"]
mod e2e;
#[path = "proxy_http/jwt.rs"]
mod jwt;
#[path = "proxy_http/load.rs"]
mod load;
#[path = "common/ports.rs"]
mod ports;
#[allow(
    dead_code,
    reason = "shared with tests/limits_redis.rs; this binary uses a part"
)]
#[path = "limits_redis/server.rs"]
mod redis;
#[path = "proxy_http/sdk.rs"]
mod sdk;
#[path = "proxy_http/shared.rs"]
mod shared;
#[path = "proxy_http/support.rs"]
mod support;
#[path = "proxy_http/tls.rs"]
mod tls;
#[path = "proxy_http/wire.rs"]
mod wire;
