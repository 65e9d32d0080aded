//! Backends: what a checked policy compiles to, and what warden imports from.
//!
//! - [`policy_json`]: IR → PolicyLayer's `policy.json`, keeping every decision or refusing
//!   with a `WD4xxx` diagnostic; [`import`]: `policy.json` → formatted `.warden` source.
//! - [`target`]: policy.json's condition model and its engines' (loose) comparison semantics,
//!   shared by both directions; [`go_regex`]: which regexes Go's engine reads as warden does.
//! - a server's `tools/list` ([`crate::catalog`]) expands globs and resolves annotations.
//!
//! Backends consume the IR and never see syntax, except that `import` generates source text
//! and runs it through the front end like any policy. docs/formats.md is the mapping reference.

pub mod go_regex;
pub mod import;
pub mod policy_json;
pub mod target;

pub use crate::catalog::Catalog;
pub use import::{ImportError, Imported, import};
pub use policy_json::{Compiled, compile};
