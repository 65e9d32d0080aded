//! warden: a policy language, verifier, compiler and enforcement proxy for MCP tool calls.
//!
//! ```text
//! text ─syntax─► pest pairs ─syntax::build─► AST ─lower─► IR ─┬─► check (lint) ─► diagnostics ─► render
//!                                                            ├─► eval (reference semantics)
//!                                                            └─► testing (test blocks)
//! ```
//! docs/architecture.md describes each stage and the invariants between them.

pub mod ast;
pub mod backend;
pub mod call;
pub mod catalog;
pub mod check;
pub mod cli;
pub mod diagnostic;
pub mod eval;
pub mod glob;
pub mod init;
pub mod ir;
pub mod lower;
pub mod num;
pub mod pipeline;
pub mod proxy;
pub mod risk;
pub mod source;
pub mod syntax;
pub mod table;
pub mod testing;
