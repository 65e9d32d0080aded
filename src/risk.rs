//! Risk classes of tools and the deterministic classifier that assigns them.
//!
//! Every tool gets one of PolicyLayer's five classes (Read, Write, Execute, Destructive,
//! Financial) from what its server publishes in `tools/list`: the name, the annotations, the
//! description and the input schema. No model is in the loop: the same definition always gets
//! the same class, and [`Classification::why`] says which fact decided it. A policy can
//! override the class of any tool.
//!
//! The classifier, in order (the first step that applies decides):
//!
//! 1. The name is split into words (`_ - . /` and camelCase boundaries, lowercased). Each word
//!    is looked up in the verb lists below; a plural `s`/`es` is also tried. The name's *verb
//!    class* is the strongest class among its words (Destructive > Execute > Write > Read).
//! 2. **Financial** when a word is a money-moving verb (`pay`, `refund`, `charge`, `transfer`,
//!    …; one that is also a money noun, such as `refund` or `charge`, counts as a verb only as
//!    the name's first word: `refund_payment` moves money, `list_refunds` reads), or when a word is a money noun (`payment`, `invoice`, `subscription`, …) and the verb
//!    class is not Read (creating, updating or cancelling money objects moves money; listing
//!    them does not). A money noun with no verb at all is Financial unless the server declares
//!    `readOnlyHint: true`.
//! 3. **Destructive** when the verb class is Destructive (`delete`, `drop`, `purge`, …), or the
//!    server declares `destructiveHint: true` without `readOnlyHint: true` (an explicit
//!    declaration only: the MCP default of `destructiveHint` is not evidence).
//! 4. **Execute** when the verb class is Execute (`run`, `exec`, `deploy`, `trigger`, …), or the
//!    input schema has a top-level property that carries code (`command`, `script`, `sql`, …)
//!    and the verb class is not Read.
//! 5. **Write** when the verb class is Write, unless the server declares `readOnlyHint: true`
//!    (then Read: the server's word decides between the two mild classes).
//! 6. **Read** when the verb class is Read, unless the server declares `readOnlyHint: false`
//!    (then Write).
//! 7. No verb in the name: `readOnlyHint: true` gives Read; otherwise the description's first
//!    word is looked up the same way (`"Deletes a …"`); otherwise **Write**, the cautious
//!    default for a tool whose effect cannot be told.

use crate::call::Annotations;
use serde_json::Value;
use std::fmt;

/// A tool's risk class, mildest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Risk {
    Read,
    Write,
    Execute,
    Destructive,
    Financial,
}

impl Risk {
    pub const ALL: [Risk; 5] = [
        Risk::Read,
        Risk::Write,
        Risk::Execute,
        Risk::Destructive,
        Risk::Financial,
    ];

    /// The lowercase name the language and the catalog file use.
    pub fn name(self) -> &'static str {
        match self {
            Risk::Read => "read",
            Risk::Write => "write",
            Risk::Execute => "execute",
            Risk::Destructive => "destructive",
            Risk::Financial => "financial",
        }
    }

    pub fn from_name(name: &str) -> Option<Risk> {
        Risk::ALL.into_iter().find(|r| r.name() == name)
    }

    /// PolicyLayer's severity of the class.
    pub fn severity(self) -> &'static str {
        match self {
            Risk::Read => "low",
            Risk::Write => "medium",
            Risk::Execute => "high",
            Risk::Destructive | Risk::Financial => "critical",
        }
    }
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the classifier looks at: one tool definition from `tools/list`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ToolFacts<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub annotations: Annotations,
    /// The `inputSchema`, when known.
    pub schema: Option<&'a Value>,
}

impl<'a> ToolFacts<'a> {
    /// A tool known by its name only (no `tools/list` seen for it).
    pub fn named(name: &'a str) -> ToolFacts<'a> {
        ToolFacts {
            name,
            ..ToolFacts::default()
        }
    }
}

/// A class and the fact that decided it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classification {
    pub risk: Risk,
    pub why: String,
}

const FINANCIAL_VERBS: &[&str] = &[
    "pay",
    "refund",
    "charge",
    "transfer",
    "withdraw",
    "payout",
    "purchase",
    "checkout",
    "capture",
    "buy",
    "sell",
    "bill",
    "reimburse",
    "disburse",
];

const MONEY_NOUNS: &[&str] = &[
    "payment",
    "invoice",
    "subscription",
    "price",
    "balance",
    "transaction",
    "wallet",
    "billing",
    "refund",
    "charge",
    "payout",
    "transfer",
    "coupon",
    "discount",
    "dispute",
    "credit",
    "order",
    "fund",
    "money",
    "card",
];

const DESTRUCTIVE_VERBS: &[&str] = &[
    "delete",
    "remove",
    "drop",
    "destroy",
    "purge",
    "truncate",
    "wipe",
    "erase",
    "kill",
    "terminate",
    "revoke",
    "uninstall",
    "rm",
    "rmdir",
    "unlink",
    "reset",
    "overwrite",
    "cancel",
    "ban",
    "evict",
    "shred",
    "format",
    "prune",
    "clear",
];

const EXECUTE_VERBS: &[&str] = &[
    "run", "exec", "execute", "eval", "evaluate", "invoke", "trigger", "launch", "spawn", "shell",
    "command", "script", "deploy", "restart", "start", "stop", "backfill", "replay", "resume",
    "rerun", "retry", "build", "compile", "install", "bash", "sh", "python",
];

const WRITE_VERBS: &[&str] = &[
    "create",
    "update",
    "write",
    "edit",
    "set",
    "put",
    "post",
    "send",
    "upload",
    "move",
    "rename",
    "add",
    "insert",
    "patch",
    "modify",
    "merge",
    "push",
    "commit",
    "publish",
    "enable",
    "disable",
    "toggle",
    "manage",
    "save",
    "append",
    "copy",
    "fork",
    "import",
    "assign",
    "invite",
    "approve",
    "close",
    "comment",
    "reply",
    "label",
    "tag",
    "mark",
    "replace",
    "upsert",
    "submit",
    "schedule",
    "register",
    "apply",
    "change",
    "make",
    "new",
    "generate",
    "finalize",
    "archive",
    "lock",
    "unlock",
    "link",
    "subscribe",
    "unsubscribe",
    "star",
    "share",
    "grant",
    "store",
    "record",
    "log",
    "notify",
    "email",
    "message",
    "dispatch",
    "configure",
    "restore",
    "sync",
    "review",
];

const READ_VERBS: &[&str] = &[
    "get",
    "list",
    "search",
    "read",
    "fetch",
    "find",
    "describe",
    "show",
    "view",
    "count",
    "stat",
    "check",
    "lookup",
    "query",
    "browse",
    "inspect",
    "download",
    "retrieve",
    "head",
    "tail",
    "watch",
    "status",
    "info",
    "explain",
    "diff",
    "validate",
    "preview",
    "summarize",
    "analyze",
    "echo",
    "ping",
    "whoami",
    "tree",
    "print",
];

/// Words that are verbs only as a name's first word and nouns elsewhere (`add_comment` writes,
/// `get_comments` reads; `build_image` runs, `get_build_status` reads).
const FIRST_WORD_ONLY: &[&str] = &[
    "comment", "label", "tag", "link", "log", "message", "email", "record", "store", "review",
    "share", "star", "mark", "change", "build", "command", "script", "shell", "python", "bash",
    "sh", "start", "stop", "status", "info", "tree", "head", "tail", "watch", "print", "format",
    "clear", "reset", "lock", "archive", "schedule", "sync", "import", "copy", "fork", "post",
    "set", "put", "new", "make", "grant", "order", "state", "lookup", "diff", "commit", "trigger",
    "update", "replay", "credit",
];

/// Top-level input properties that carry code or a command line.
const CODE_PROPERTIES: &[&str] = &[
    "command",
    "cmd",
    "script",
    "code",
    "sql",
    "shell",
    "argv",
    "program",
    "expression",
];

/// Assigns a tool its class. Deterministic: see the module documentation for the rules.
pub fn classify(facts: &ToolFacts) -> Classification {
    let words = words(facts.name);
    let verb = strongest_verb(&words);
    let ro = facts.annotations.read_only;
    let decided = |risk: Risk, why: String| Classification { risk, why };

    if let Some(w) = words
        .iter()
        .enumerate()
        .find(|(i, w)| in_list(w, FINANCIAL_VERBS) && (*i == 0 || !in_list(w, MONEY_NOUNS)))
        .map(|(_, w)| w)
    {
        return decided(
            Risk::Financial,
            format!("the name's verb `{w}` moves money"),
        );
    }
    if let Some(w) = words.iter().find(|w| in_list(w, MONEY_NOUNS)) {
        let reading = match verb {
            Some((Risk::Read, _)) => true,
            None => ro == Some(true),
            _ => false,
        };
        if !reading {
            return decided(
                Risk::Financial,
                match verb {
                    Some((_, v)) => format!("the name acts (`{v}`) on money (`{w}`)"),
                    None => format!("the name names money (`{w}`) and the tool is not read-only"),
                },
            );
        }
    }
    if let Some((Risk::Destructive, v)) = verb {
        return decided(Risk::Destructive, format!("the name's verb `{v}` destroys"));
    }
    if facts.annotations.destructive == Some(true) && ro != Some(true) {
        return decided(
            Risk::Destructive,
            "the server declares `destructiveHint: true`".to_string(),
        );
    }
    if let Some((Risk::Execute, v)) = verb {
        return decided(
            Risk::Execute,
            format!("the name's verb `{v}` runs something"),
        );
    }
    if !matches!(verb, Some((Risk::Read, _))) {
        if let Some(p) = code_property(facts.schema) {
            return decided(
                Risk::Execute,
                format!("the input schema takes code or a command (`{p}`)"),
            );
        }
    }
    match verb {
        Some((Risk::Write, v)) if ro == Some(true) => decided(
            Risk::Read,
            format!("the name's verb `{v}` writes, but the server declares `readOnlyHint: true`"),
        ),
        Some((Risk::Write, v)) => decided(Risk::Write, format!("the name's verb `{v}` writes")),
        Some((Risk::Read, v)) if ro == Some(false) => decided(
            Risk::Write,
            format!("the name's verb `{v}` reads, but the server declares `readOnlyHint: false`"),
        ),
        Some((_, v)) => decided(Risk::Read, format!("the name's verb `{v}` reads")),
        None if ro == Some(true) => decided(
            Risk::Read,
            "the server declares `readOnlyHint: true`".to_string(),
        ),
        None => match description_verb(facts.description) {
            Some((risk, v)) => decided(risk, format!("the description starts with `{v}`")),
            None => decided(
                Risk::Write,
                "no known verb in the name or description: assumed to write".to_string(),
            ),
        },
    }
}

/// The name split into lowercase words at `_ - . / space` and camelCase boundaries.
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Whether `word`, or `word` without a plural or third-person `s`/`es`, is in `list`.
fn in_list(word: &str, list: &[&str]) -> bool {
    let stems = [
        Some(word),
        word.strip_suffix("es"),
        word.strip_suffix('s'),
        word.strip_suffix('d'),
        word.strip_suffix("ed"),
    ];
    stems.into_iter().flatten().any(|s| list.contains(&s))
}

fn verb_class(word: &str) -> Option<Risk> {
    if in_list(word, DESTRUCTIVE_VERBS) {
        Some(Risk::Destructive)
    } else if in_list(word, EXECUTE_VERBS) {
        Some(Risk::Execute)
    } else if in_list(word, WRITE_VERBS) {
        Some(Risk::Write)
    } else if in_list(word, READ_VERBS) {
        Some(Risk::Read)
    } else {
        None
    }
}

/// The strongest verb class among the words (Destructive > Execute > Write > Read) and the
/// word that gave it. Words of [`FIRST_WORD_ONLY`] count only in first position.
fn strongest_verb(words: &[String]) -> Option<(Risk, &str)> {
    words
        .iter()
        .enumerate()
        .filter(|(i, w)| *i == 0 || !in_list(w, FIRST_WORD_ONLY))
        .filter_map(|(_, w)| verb_class(w).map(|r| (r, w.as_str())))
        .fold(None, |best, (r, w)| match best {
            Some((b, _)) if b >= r => best,
            _ => Some((r, w)),
        })
}

fn code_property(schema: Option<&Value>) -> Option<&str> {
    let props = schema?.get("properties")?.as_object()?;
    props
        .keys()
        .map(String::as_str)
        .find(|k| CODE_PROPERTIES.contains(&k.to_ascii_lowercase().as_str()))
}

fn description_verb(description: Option<&str>) -> Option<(Risk, String)> {
    let first = description?
        .split(|c: char| !c.is_alphanumeric())
        .find(|w| !w.is_empty())?
        .to_lowercase();
    if in_list(&first, FINANCIAL_VERBS) {
        return Some((Risk::Financial, first));
    }
    verb_class(&first).map(|r| (r, first))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn class(name: &str) -> Risk {
        classify(&ToolFacts::named(name)).risk
    }

    #[test]
    fn tricky_names() {
        assert_eq!(class("get_or_create_user"), Risk::Write);
        assert_eq!(class("drop_table"), Risk::Destructive);
        assert_eq!(class("refund_payment"), Risk::Financial);
        assert_eq!(class("run_query"), Risk::Execute);
        assert_eq!(class("list_invoices"), Risk::Read);
        assert_eq!(class("list_refunds"), Risk::Read);
        assert_eq!(class("create_refund"), Risk::Financial);
        assert_eq!(class("get_charge"), Risk::Read);
        assert_eq!(class("createPaymentLink"), Risk::Financial);
        assert_eq!(class("cancel_subscription"), Risk::Financial);
        assert_eq!(class("deleteFile"), Risk::Destructive);
        assert_eq!(class("frobnicate"), Risk::Write);
        assert_eq!(class("get_pull_request_comments"), Risk::Read);
        assert_eq!(class("add_issue_comment"), Risk::Write);
        assert_eq!(class("get_build_status"), Risk::Read);
        assert_eq!(class("list_commits"), Risk::Read);
        assert_eq!(class("list_flows_with_triggers"), Risk::Read);
    }

    #[test]
    fn annotations_decide_between_mild_classes_only() {
        let mut facts = ToolFacts::named("add");
        facts.annotations.read_only = Some(true);
        assert_eq!(classify(&facts).risk, Risk::Read);
        facts.name = "delete_everything";
        assert_eq!(classify(&facts).risk, Risk::Destructive);
        let mut writes = ToolFacts::named("write_file");
        writes.annotations.destructive = Some(true);
        assert_eq!(classify(&writes).risk, Risk::Destructive);
        let mut search = ToolFacts::named("simulate-research-query");
        search.annotations.read_only = Some(false);
        assert_eq!(classify(&search).risk, Risk::Write);
    }

    #[test]
    fn schema_and_description_are_used_when_the_name_says_nothing() {
        let schema = json!({"type": "object", "properties": {"command": {"type": "string"}}});
        let facts = ToolFacts {
            name: "terminal",
            schema: Some(&schema),
            ..ToolFacts::default()
        };
        assert_eq!(classify(&facts).risk, Risk::Execute);
        let facts = ToolFacts {
            name: "namespace_file_action",
            description: Some("Deletes a file in the namespace"),
            ..ToolFacts::default()
        };
        let c = classify(&facts);
        assert_eq!(c.risk, Risk::Destructive);
        assert!(c.why.contains("deletes"), "{}", c.why);
    }

    #[test]
    fn names_round_trip() {
        for r in Risk::ALL {
            assert_eq!(Risk::from_name(r.name()), Some(r));
        }
        assert_eq!(Risk::from_name("Read"), None);
    }
}
