//! The compiled decision table: what `warden compile --table` writes and the proxy loads.
//!
//! ```text
//! IR ─build::spec─► Spec (plain data) ─format::write─► bytes ─format::read─► Spec ─build::compile─► Table ─decide─► TableDecision
//! ```
//!
//! A [`Spec`] is the table's content as plain data: rules (id, effect, reason, limits,
//! condition) and the index, by exact tool name and by tool glob, of the rules that can match
//! each tool, with each candidate's server qualifiers. A [`Table`] is a spec made ready to
//! decide: a hash map from tool name to its candidates, one multi-pattern automaton over every
//! tool glob for tools the policy does not name, and conditions precompiled (see `cond`).
//! Deciding a call costs one hash lookup (or one automaton run) plus the conditions of the
//! rules that can match that tool, whatever the total rule count.
//!
//! [`decide`] agrees with [`crate::eval::evaluate`] on every call: effect, deciding rule,
//! reason and limits (tests/table.rs checks it on generated policies and calls).
//!
//! This module depends on the IR, the evaluator's decision types and nothing of `syntax`,
//! `lower` or `check`: the enforcement path stays small and builds without the verifier.

pub mod build;
mod cond;
pub mod decide;
mod decimal;
pub mod format;
pub(crate) mod json;
mod top;

pub use decide::{CallRef, TableDecision, decide};
pub use format::{FORMAT_VERSION, MAGIC, is_table};

use crate::ir::{Cond, Effect, Scope, Window};
use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};
use std::fmt;

/// What a table file says about where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The table format version ([`FORMAT_VERSION`] for tables this warden writes).
    pub format_version: u16,
    /// SHA-256 of the policy source text the table was built from ([`content_hash`]).
    pub policy_hash: [u8; 32],
    /// Whether the policy was checked clean (no error diagnostics) before it was compiled.
    /// The proxy refuses a table without it.
    pub checked: bool,
    /// The version of warden that wrote the table.
    pub writer: String,
}

impl Header {
    /// A header for a table built now from a policy source with this hash.
    pub fn new(policy_hash: [u8; 32], checked: bool) -> Header {
        Header {
            format_version: FORMAT_VERSION,
            policy_hash,
            checked,
            writer: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// The policy hash in lowercase hex.
    pub fn policy_hash_hex(&self) -> String {
        self.policy_hash
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// SHA-256 of a policy's source text: the policy content hash a table records.
pub fn content_hash(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// The table's content as plain data: what the file stores, in the order it stores it.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    pub policy: String,
    pub default: Effect,
    pub default_reason: Option<String>,
    /// In source order: a rule's position is its index in decisions.
    pub rules: Vec<RuleSpec>,
    /// Exact server names that candidates refer to by position.
    pub servers: Vec<String>,
    /// Server glob patterns that candidates refer to by position.
    pub server_globs: Vec<String>,
    /// One slot per exact tool name in the policy, sorted by name. A slot lists every rule
    /// with a target whose tool pattern matches that name (exactly or by glob).
    pub tools: Vec<Slot>,
    /// One slot per tool glob pattern, sorted: the rules that target it, for tools the
    /// policy does not name.
    pub tool_globs: Vec<Slot>,
    /// The policy's `risk … is …` overrides (no spans).
    pub risk: crate::ir::RiskOverrides,
}

/// One rule as the table keeps it. Conditions carry no spans (they are `Span::default()`).
#[derive(Clone, Debug, PartialEq)]
pub struct RuleSpec {
    pub id: String,
    pub effect: Effect,
    pub reason: Option<String>,
    pub limits: Vec<LimitSpec>,
    pub condition: Cond,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitSpec {
    /// Shared: every call under the limit names its counter in its reservation.
    pub counter: std::sync::Arc<str>,
    pub max: u64,
    pub window: Window,
    pub scope: Scope,
}

impl LimitSpec {
    pub fn new(counter: &str, max: u64, window: Window, scope: Scope) -> LimitSpec {
        LimitSpec {
            counter: counter.into(),
            max,
            window,
            scope,
        }
    }
}

/// A tool name or tool glob and the rules that can match it, in rule order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    pub name: String,
    pub candidates: Vec<Candidate>,
}

/// A rule that can match a slot's tools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub rule: u32,
    /// `None`: any server. Otherwise the call's server must match one of these.
    pub servers: Option<Vec<ServerRef>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServerRef {
    /// An index into [`Spec::servers`].
    Exact(u32),
    /// An index into [`Spec::server_globs`].
    Glob(u32),
}

/// A table ready to decide calls.
#[derive(Debug)]
pub struct Table {
    header: Header,
    spec: Spec,
    rules: Vec<build::RuleRt>,
    /// FxHash: the keys are the policy's own names, so a caller cannot pick colliding keys.
    tools: FxHashMap<Box<str>, Box<[build::Cand]>>,
    fallback: Option<build::Fallback>,
    server_globs: Vec<regex::Regex>,
    /// Whether some rule looks at `tool.risk` (only then is a call's class worked out).
    needs_risk: bool,
}

impl Table {
    /// Builds a table from a lowered policy. `header` records the source hash and whether
    /// the policy was checked clean.
    pub fn build(policy: &crate::ir::Policy, header: Header) -> Result<Table, TableError> {
        let spec = build::spec(policy).map_err(TableError::Build)?;
        build::compile(header, spec).map_err(TableError::Build)
    }

    /// Loads a table file: a validated parse that refuses corrupt, truncated and
    /// foreign-version files.
    pub fn from_bytes(bytes: &[u8]) -> Result<Table, TableError> {
        let (header, spec) = format::read(bytes)?;
        build::compile(header, spec).map_err(TableError::Malformed)
    }

    /// The file form.
    pub fn to_bytes(&self) -> Vec<u8> {
        format::write(&self.header, &self.spec)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn spec(&self) -> &Spec {
        &self.spec
    }
}

/// Why a table could not be built or loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableError {
    /// The bytes do not start with the table magic number.
    NotATable,
    /// A table of a format version this warden does not read.
    Version { found: u16 },
    /// The file is shorter than its header says.
    Truncated { expected: u64, found: u64 },
    /// The checksum does not match the content.
    Checksum,
    /// The checksum matched but the content does not make a table.
    Malformed(String),
    /// The policy cannot be made into a table.
    Build(String),
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::NotATable => f.write_str("not a warden decision table (bad magic number)"),
            TableError::Version { found } => write!(
                f,
                "decision table format version {found} is not supported (this warden reads version {FORMAT_VERSION}): recompile the policy"
            ),
            TableError::Truncated { expected, found } => write!(
                f,
                "decision table is truncated: {found} bytes of {expected}"
            ),
            TableError::Checksum => {
                f.write_str("decision table is corrupt: its checksum does not match")
            }
            TableError::Malformed(m) => write!(f, "decision table is malformed: {m}"),
            TableError::Build(m) => write!(f, "cannot build a decision table: {m}"),
        }
    }
}

impl std::error::Error for TableError {}
