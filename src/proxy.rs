//! The enforcement proxy: sits between an MCP client and an MCP server and decides every
//! `tools/call` before the server sees it.
//!
//! - `framing`: newline-delimited messages with a size limit;
//! - `jsonrpc`: classify messages, reject malformed ones, build warden's own answers;
//! - `client_message`: a client message read once (duplicate keys refused, the envelope and
//!   the `params` members warden reads), for the session and the HTTP header check;
//!   `duplicate_keys`: the one-pass duplicate-key check;
//! - `request`: one parsed `tools/call`, its caller and its protocol era;
//! - `engine`: the deciding core shared by transports (policy, counters, audit, rulings);
//! - `limits`: counters with two-phase accounting, in memory or in Redis (`--state`);
//! - `tools_list`: filtering `tools/list` and learning annotations and risk classes;
//! - `pins`: tool pinning against a reviewed catalog (`--catalog`);
//! - `session`: one connection's state and routing, without I/O;
//! - `stdio`: the stdio transport (child process, readers, shutdown);
//! - `spawn`: starting a stdio MCP server as a child with piped stdin and stdout;
//! - `http`: the Streamable HTTP transport (grants, sessions, SSE relay, metrics, admin);
//! - `tls`: the TLS client configuration (Redis at `rediss://`, `https://` upstreams);
//! - `stats`: decisions and reloads counted for metrics;
//! - `outlet`: writing relayed lines to a side from the task that produced them;
//! - `reload`: watching the policy file;
//! - `approval`: approval prompts and the signed `requestState` of 2026-07-28 approvals;
//! - `audit`: the JSON-lines audit log; `base64`: canonical base64 decoding.
//!
//! Decisions go through the compiled decision table (`table`). A `.warden` source is loaded
//! through `pipeline` and compiled once per (re)load; the proxy never uses the verifier.

pub mod approval;
pub mod audit;
pub mod base64;
pub mod client_message;
pub mod duplicate_keys;
pub mod engine;
pub mod framing;
pub mod http;
pub mod jsonrpc;
pub mod limits;
pub mod outlet;
pub mod pins;
pub mod reload;
pub mod request;
pub mod session;
#[cfg(test)]
mod session_tests;
pub mod spawn;
pub mod stats;
pub mod stdio;
pub mod tls;
pub mod tools_list;
