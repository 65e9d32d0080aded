//! The deciding core shared by every transport: the loaded policy (swapped atomically on
//! reload), the counters, the audit log, and what to do with one `tools/call`.
//!
//! The transport hands the engine a parsed call and gets back a [`Ruling`]: forward it (with
//! the counter slots it holds), answer it directly (the server never sees it), or ask a human
//! first. Every internal failure becomes a denial: the proxy fails closed.

use super::approval::Signer;
use super::audit::{self, Entry, Sink};
use super::jsonrpc;
use super::limits::{CounterState, Counters, Exceeded, FailMode, Refused, Reservation, Subject};
pub use super::request::{CallRequest, Era, Identity};
use super::stats::Stats;
use crate::eval::Decider;
use crate::ir::Effect;
use crate::table::decide::INLINE_LIMITS;
use crate::table::{CallRef, Header, LimitSpec, Table, content_hash, decide};
use arc_swap::ArcSwap;
use serde_json::json;
use smallvec::SmallVec;
use std::borrow::Borrow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Machine-readable denial codes, sent in `_meta` and written to the audit log.
pub mod codes {
    pub const FORWARDED: &str = "forwarded";
    pub const POLICY_DENIED: &str = "policy_denied";
    pub const RATE_LIMITED: &str = "rate_limited";
    pub const APPROVAL_REQUIRED: &str = "approval_required";
    pub const APPROVAL_REQUESTED: &str = "approval_requested";
    pub const HIDDEN: &str = "hidden";
    pub const INTERNAL_ERROR: &str = "internal_error";
    /// The shared counter store (`--state`) did not answer in time: a call under a limit
    /// cannot be counted, so it is denied (`--state-fail-mode closed`, the default).
    pub const LIMIT_STATE_UNAVAILABLE: &str = "limit_state_unavailable";
    /// A pinned tool whose live definition differs from the catalog (`warden proxy --catalog`).
    pub const TOOL_CHANGED: &str = "tool_changed";
    /// A pinned tool called before the connection's `tools/list` showed its definition.
    pub const TOOL_UNVERIFIED: &str = "tool_unverified";
}

/// The `_meta` key under which warden explains a denial.
pub const META_KEY: &str = "warden/decision";

/// A policy ready to enforce: its decision table.
#[derive(Debug)]
pub struct Loaded {
    pub table: Table,
    /// SHA-256 of the policy source, hex: which policy version decided (logged on reload).
    pub hash: String,
    pub path: PathBuf,
}

/// Loads a policy for enforcement: a compiled decision table (refused when corrupt, of another
/// format version, or not compiled from a policy that checked clean), or a `.warden` source
/// (parsed, checked and compiled here; refused when it has errors).
pub fn load(path: &Path) -> Result<Loaded, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let table = if crate::table::is_table(&bytes) {
        let table = Table::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        if !table.header().checked {
            return Err(format!(
                "{}: the table was not compiled from a policy that checked clean",
                path.display()
            ));
        }
        table
    } else {
        let ws = crate::pipeline::load(&[path.to_path_buf()]);
        if ws.has_errors() || !ws.io_errors.is_empty() {
            let rendered = crate::diagnostic::render::human(&ws.diagnostics, &ws.sources, false);
            return Err(format!("{} has errors:\n{rendered}", path.display()));
        }
        let policy = ws
            .files
            .into_iter()
            .next()
            .and_then(|f| f.policy)
            .ok_or_else(|| format!("{} holds no policy", path.display()))?;
        let header = Header::new(content_hash(&String::from_utf8_lossy(&bytes)), true);
        Table::build(&policy, header).map_err(|e| format!("{}: {e}", path.display()))?
    };
    Ok(Loaded {
        hash: table.header().policy_hash_hex(),
        table,
        path: path.to_path_buf(),
    })
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What to do with a call.
#[derive(Debug)]
pub enum Ruling {
    /// Forward the client's message as it is; settle the reservation when the server answers.
    Forward(Reservation),
    /// Send these bytes to the client; the server never sees the call.
    Answer(Vec<u8>),
    /// Ask a human first (`approved` or `refused` finishes the decision).
    Approval(Approval),
}

/// A call held for a human's decision.
#[derive(Debug)]
pub struct Approval {
    pub rule: String,
    pub reason: Option<String>,
    pub call_hash: String,
    limits: Vec<LimitSpec>,
    started: Instant,
}

pub struct Engine {
    policy: ArcSwap<Loaded>,
    pub counters: Counters,
    pub audit: Sink,
    pub dry_run: bool,
    /// Signs the `requestState` of 2026-07-28 approvals.
    pub signer: Signer,
    /// How long a person has to answer an approval.
    pub approval_ttl: std::time::Duration,
    /// The pinned tool definitions (`--catalog`; empty: no pinning).
    pub pins: super::pins::Pins,
    /// Decisions and reloads counted for metrics.
    pub stats: Stats,
}

impl Engine {
    pub fn new(
        loaded: Loaded,
        audit: Sink,
        dry_run: bool,
        signer: Signer,
        approval_ttl: std::time::Duration,
    ) -> Engine {
        Engine {
            policy: ArcSwap::from_pointee(loaded),
            counters: Counters::new(),
            audit,
            dry_run,
            signer,
            approval_ttl,
            pins: super::pins::Pins::default(),
            stats: Stats::default(),
        }
    }

    /// Uses these counters (in Redis, say) instead of counters in memory.
    pub fn with_counters(mut self, counters: Counters) -> Engine {
        self.counters = counters;
        self
    }

    pub fn policy(&self) -> Arc<Loaded> {
        self.policy.load_full()
    }

    /// Re-reads the policy file; swaps it in if it is valid, else keeps the old one. Counters
    /// are untouched either way. Returns the new hash, or why it was refused.
    pub fn reload(&self) -> Result<String, String> {
        let current = self.policy();
        let loaded = load(&current.path)?;
        let hash = loaded.hash.clone();
        self.policy.store(Arc::new(loaded));
        Ok(hash)
    }

    /// Decides a call.
    pub fn decide(&self, req: &CallRequest, who: &Identity) -> Ruling {
        let started = Instant::now();
        let loaded = self.policy();
        let table = &loaded.table;
        let call = CallRef {
            server: who.server.as_deref(),
            tool: &req.tool,
            arguments: req.arguments.as_deref(),
            grant: Some(&who.grant),
            agent: who.agent.as_deref(),
            session: Some(&who.session),
            annotations: req.annotations,
            risk: req.risk,
        };
        let decision = decide(table, &call);
        // Borrowed from the policy this call was decided by (a reload replaces it whole).
        let rule = decision.rule_id(table);
        let reason = decision.reason(table);
        let spec = table.spec();
        let limits: SmallVec<[&LimitSpec; INLINE_LIMITS]> = decision
            .limits
            .iter()
            .filter_map(|l| spec.rules.get(l.rule)?.limits.get(l.limit))
            .collect();
        let log = |effect: Effect, code: &'static str, counters: &[CounterState]| {
            self.log(
                req, who, effect, code, rule, reason, counters, started, None,
            );
        };
        match decision.effect {
            Effect::Allow => {
                self.forward_within_limits(req, who, &limits, Effect::Allow, rule, started)
            }
            Effect::Approve if self.dry_run => {
                log(Effect::Approve, codes::APPROVAL_REQUIRED, &[]);
                self.forward_within_limits(req, who, &limits, Effect::Approve, rule, started)
            }
            Effect::Approve => Ruling::Approval(Approval {
                call_hash: req.hash(),
                rule: rule.to_string(),
                reason: reason.map(str::to_string),
                limits: limits.into_iter().cloned().collect(),
                started,
            }),
            Effect::Deny | Effect::Hide if self.dry_run => {
                let code = if decision.effect == Effect::Hide {
                    codes::HIDDEN
                } else {
                    codes::POLICY_DENIED
                };
                log(decision.effect, code, &[]);
                Ruling::Forward(Reservation::default())
            }
            Effect::Hide => {
                log(Effect::Hide, codes::HIDDEN, &[]);
                Ruling::Answer(jsonrpc::error_response(
                    Some(&req.id),
                    jsonrpc::INVALID_PARAMS,
                    &format!("Unknown tool: {}", req.tool),
                ))
            }
            Effect::Deny => {
                log(Effect::Deny, codes::POLICY_DENIED, &[]);
                let text = match (reason, decision.decider) {
                    (Some(r), _) => r.to_string(),
                    (None, Decider::Default) => {
                        format!("`{}` is not allowed by the policy", req.tool)
                    }
                    (None, Decider::Rule(_)) => {
                        format!("`{}` is denied by rule `{rule}`", req.tool)
                    }
                };
                Ruling::Answer(denial(req, codes::POLICY_DENIED, rule, &text, None))
            }
        }
    }

    /// The human said yes: reserve the limits and forward (or refuse if a limit is full).
    pub fn approved(&self, req: &CallRequest, who: &Identity, approval: Approval) -> Ruling {
        self.forward_within_limits(
            req,
            who,
            &approval.limits,
            Effect::Approve,
            &approval.rule,
            approval.started,
        )
    }

    /// A person is being asked (logged; the decision follows with `approved` or `refused`).
    pub fn asked(&self, req: &CallRequest, who: &Identity, approval: &Approval) {
        self.log(
            req,
            who,
            Effect::Approve,
            codes::APPROVAL_REQUESTED,
            &approval.rule,
            approval.reason.as_deref(),
            &[],
            approval.started,
            Some(&approval.call_hash),
        );
    }

    /// The human said no, did not answer, or could not be asked: deny with `approval_required`.
    pub fn refused(
        &self,
        req: &CallRequest,
        who: &Identity,
        approval: Approval,
        why: &str,
    ) -> Vec<u8> {
        let reason = approval
            .reason
            .as_deref()
            .unwrap_or("this call needs a person's approval");
        self.log(
            req,
            who,
            Effect::Approve,
            codes::APPROVAL_REQUIRED,
            &approval.rule,
            Some(reason),
            &[],
            approval.started,
            Some(&approval.call_hash),
        );
        denial(
            req,
            codes::APPROVAL_REQUIRED,
            &approval.rule,
            &format!("requires human approval: {reason} ({why})"),
            None,
        )
    }

    fn forward_within_limits(
        &self,
        req: &CallRequest,
        who: &Identity,
        limits: &[impl Borrow<LimitSpec>],
        effect: Effect,
        rule: &str,
        started: Instant,
    ) -> Ruling {
        let subject = Subject::of(who, &req.tool);
        match self.counters.reserve(limits, &subject, audit::unix_now()) {
            Ok((reservation, states)) => {
                self.log(
                    req,
                    who,
                    effect,
                    codes::FORWARDED,
                    rule,
                    None,
                    &states,
                    started,
                    None,
                );
                Ruling::Forward(reservation)
            }
            Err(Refused::Exceeded(Exceeded {
                counter,
                max,
                retry_after,
            })) => {
                let text = format!(
                    "rate limit: counter `{counter}` allows {max} calls per window; retry in {retry_after} s"
                );
                self.refuse(
                    req,
                    who,
                    effect,
                    codes::RATE_LIMITED,
                    rule,
                    &text,
                    Some(retry_after),
                    started,
                )
            }
            Err(Refused::Unavailable(why)) if self.counters.fail_mode() == FailMode::Open => {
                let text = format!(
                    "limit state unavailable, the call was admitted without counting (--state-fail-mode open): {why}"
                );
                self.counters.warn_uncounted(&text, audit::unix_now());
                self.log(
                    req,
                    who,
                    effect,
                    codes::FORWARDED,
                    rule,
                    Some(&text),
                    &[],
                    started,
                    None,
                );
                Ruling::Forward(Reservation::default())
            }
            Err(Refused::Unavailable(why)) => {
                let text = format!(
                    "the shared limit state is unavailable, so this call under a limit cannot be counted; retry shortly ({why})"
                );
                self.refuse(
                    req,
                    who,
                    effect,
                    codes::LIMIT_STATE_UNAVAILABLE,
                    rule,
                    &text,
                    Some(1),
                    started,
                )
            }
        }
    }

    /// A call refused by its limits: logged, and denied (forwarded uncounted in dry run).
    #[allow(clippy::too_many_arguments)]
    fn refuse(
        &self,
        req: &CallRequest,
        who: &Identity,
        effect: Effect,
        code: &'static str,
        rule: &str,
        text: &str,
        retry_after: Option<u64>,
        started: Instant,
    ) -> Ruling {
        self.log(req, who, effect, code, rule, Some(text), &[], started, None);
        if self.dry_run {
            return Ruling::Forward(Reservation::default());
        }
        Ruling::Answer(denial(req, code, rule, text, retry_after))
    }

    /// A decision that could not be made: fail closed.
    pub fn internal_error(&self, req: &CallRequest, who: &Identity, what: &str) -> Vec<u8> {
        self.log(
            req,
            who,
            Effect::Deny,
            codes::INTERNAL_ERROR,
            "",
            Some(what),
            &[],
            Instant::now(),
            None,
        );
        denial(
            req,
            codes::INTERNAL_ERROR,
            "",
            &format!("internal error, the call was not forwarded: {what}"),
            None,
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn log(
        &self,
        req: &CallRequest,
        who: &Identity,
        effect: Effect,
        code: &'static str,
        rule: &str,
        reason: Option<&str>,
        counters: &[CounterState],
        started: Instant,
        call_hash: Option<&str>,
    ) {
        // The decision is made: what follows is bookkeeping, not deciding.
        let latency_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.stats.decision(effect, code, rule);
        if self.audit.is_off() {
            return;
        }
        let keys = req.argument_keys();
        let risk = self.policy().table.risk_of(&CallRef {
            tool: &req.tool,
            annotations: req.annotations,
            risk: req.risk,
            ..CallRef::default()
        });
        self.audit.write_entry(&Entry {
            time: audit::now_rfc3339(),
            event: "decision",
            request_id: Some(req.id.raw()),
            server: who.server.as_deref(),
            tool: &req.tool,
            grant: &who.grant,
            agent: who.agent.as_deref(),
            session: &who.session,
            decision: effect.keyword(),
            code,
            rule,
            reason,
            counters,
            latency_ns,
            argument_keys: keys.iter().map(|k| k.as_ref()).collect(),
            risk: risk.name(),
            dry_run: self.dry_run,
            call_hash,
        });
    }
}

/// A tool result that tells the model why its call was refused: `isError: true`, the text
/// `[POLICY DENIED] …`, and the machine-readable code, rule and retry time in `_meta`.
pub fn denial(
    req: &CallRequest,
    code: &str,
    rule: &str,
    text: &str,
    retry_after: Option<u64>,
) -> Vec<u8> {
    let mut meta = json!({"code": code, "rule": rule, "reason": text});
    if let Some(s) = retry_after {
        meta["retryAfterSeconds"] = json!(s);
    }
    let mut result = json!({
        "content": [{"type": "text", "text": format!("[POLICY DENIED] {text}")}],
        "isError": true,
        "_meta": {META_KEY: meta},
    });
    if req.era == Era::Stateless {
        result["resultType"] = json!("complete");
    }
    jsonrpc::result_response(&req.id, &result)
}
