//! AST → IR: resolves names, decodes literals, checks types, assigns rule ids and counters.
//!
//! Lowering never stops at the first problem: it returns the IR it could build together with
//! every diagnostic it found (`(Option<Policy>, Vec<Diagnostic>)`). A policy with error
//! diagnostics must not be enforced; callers check [`Lowered::has_errors`].

mod cases;
mod cond;
mod limits;
mod literal;
mod risk;

pub use cond::{mentions_arguments, visit_tests};

pub use literal::MAX_MAGNITUDE;

use crate::ast;
use crate::diagnostic::{Diagnostic, Severity, code, did_you_mean};
use crate::ir::{self, Cond, DefaultRule, Effect, Policy, Target};
use crate::source::{FileId, Span};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The result of lowering one file.
#[derive(Debug)]
pub struct Lowered {
    pub policy: Option<Policy>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Lowered {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// Lowers a parsed file. A file must hold exactly one policy.
pub fn lower(file: FileId, ast: &ast::File) -> Lowered {
    let mut ctx = Ctx {
        diagnostics: Vec::new(),
    };
    let policy = match ast.policies.as_slice() {
        [] => {
            ctx.push(
                Diagnostic::new(
                    code::NO_POLICY,
                    Span::new(file, 0, 0),
                    "this file holds no policy",
                )
                .help("write `policy NAME { … }`"),
            );
            None
        }
        [first, rest @ ..] => {
            for extra in rest {
                ctx.push(
                    Diagnostic::new(
                        code::SEVERAL_POLICIES,
                        extra.name.span,
                        format!("a second policy `{}` in one file", extra.name.node),
                    )
                    .secondary(first.name.span, "the file's policy")
                    .help("put each policy in a file of its own"),
                );
            }
            Some(ctx.policy(file, first))
        }
    };
    crate::diagnostic::sort(&mut ctx.diagnostics);
    Lowered {
        policy,
        diagnostics: ctx.diagnostics,
    }
}

/// Collects diagnostics while lowering.
pub(crate) struct Ctx {
    diagnostics: Vec<Diagnostic>,
}

impl Ctx {
    pub(crate) fn push(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    fn policy(&mut self, file: FileId, p: &ast::Policy) -> Policy {
        let mut default: Option<(DefaultRule, Span)> = None;
        let mut rules = Vec::new();
        let mut asserts = Vec::new();
        let mut tests = Vec::new();
        let mut overrides = Vec::new();
        for item in &p.items {
            match item {
                ast::Item::Default(d) => {
                    let reason = d.because.as_ref().and_then(|b| self.string(b));
                    let lowered = DefaultRule {
                        effect: d.effect.node,
                        reason,
                        span: d.span,
                    };
                    if let Some((_, first)) = &default {
                        self.push(
                            Diagnostic::new(
                                code::DUPLICATE_DEFAULT,
                                d.span,
                                "the default is set twice",
                            )
                            .secondary(*first, "first set here")
                            .help("keep one `default`"),
                        );
                    } else {
                        default = Some((lowered, d.span));
                    }
                }
                ast::Item::Risk(o) => overrides.push(o),
                ast::Item::Rule(r) => rules.push(r),
                ast::Item::Assert(a) => asserts.push(a),
                ast::Item::Test(t) => tests.push(t),
            }
        }
        let ids = self.rule_ids(&rules);
        let mut lowered_rules: Vec<ir::Rule> = rules
            .iter()
            .zip(ids)
            .enumerate()
            .map(|(index, (r, (id, named)))| self.rule(index, id, named, r))
            .collect();
        let counters = self.assign_counters(&rules, &mut lowered_rules);
        let mut policy = Policy {
            name: p.name.node.clone(),
            file,
            span: p.span,
            default: default.map(|(d, _)| d).unwrap_or(DefaultRule {
                effect: Effect::Deny,
                reason: None,
                span: p.name.span,
            }),
            rules: lowered_rules,
            counters,
            assertions: Vec::new(),
            tests: Vec::new(),
            risk: self.risk_overrides(&overrides),
        };
        policy.assertions = asserts.iter().filter_map(|a| self.assertion(a)).collect();
        policy.tests = self.tests(&tests, &policy);
        self.argument_types(&policy);
        policy
    }

    /// Rule ids: the user's names (which must be unique), then generated ones that avoid them.
    fn rule_ids(&mut self, rules: &[&ast::Rule]) -> Vec<(String, bool)> {
        let mut taken: HashMap<String, Span> = HashMap::new();
        for r in rules {
            if let Some(name) = &r.name {
                if let Some(first) = taken.get(&name.node) {
                    self.push(
                        Diagnostic::new(
                            code::DUPLICATE_RULE_NAME,
                            name.span,
                            format!("a second rule named `{}`", name.node),
                        )
                        .secondary(*first, "first named here")
                        .help("rule names must be unique within a policy: rename one"),
                    );
                } else {
                    taken.insert(name.node.clone(), name.span);
                }
            }
        }
        let mut used: HashSet<String> = taken
            .keys()
            .cloned()
            .chain(["default".to_string()])
            .collect();
        rules
            .iter()
            .map(|r| match &r.name {
                Some(name) => (name.node.clone(), true),
                None => {
                    let first = r.targets.first().map_or(String::new(), |t| {
                        let risk = if t.risk { "risk-" } else { "" };
                        format!("{risk}{}", t.tool.text)
                    });
                    let base = format!("{}-{}", r.effect.node.keyword(), first);
                    (unique_id(&base, |id| !used.insert(id.to_string())), false)
                }
            })
            .collect()
    }

    fn rule(&mut self, index: usize, id: String, named: bool, r: &ast::Rule) -> ir::Rule {
        let effect = r.effect.node;
        let (targets, risk) = self.targets_and_risk(&r.targets);
        let mut condition = None;
        let mut reason = None;
        let mut seen: HashMap<&'static str, Span> = HashMap::new();
        for clause in &r.clauses {
            let kind = match clause {
                ast::Clause::When(..) => "when",
                ast::Clause::Because(..) => "because",
                ast::Clause::Limit(_) => continue,
            };
            if let Some(first) = seen.get(kind) {
                self.push(
                    Diagnostic::new(
                        code::DUPLICATE_CLAUSE,
                        clause.span(),
                        format!("a second `{kind}` in one rule"),
                    )
                    .secondary(*first, "first here")
                    .help(if kind == "when" {
                        "join the conditions with `and`"
                    } else {
                        "keep one reason"
                    }),
                );
                continue;
            }
            seen.insert(kind, clause.span());
            match clause {
                ast::Clause::When(e, _) => condition = Some(self.condition(e, effect)),
                ast::Clause::Because(s, span) => {
                    reason = self.string(s);
                    if effect == Effect::Allow {
                        self.push(
                            Diagnostic::new(code::REASON_ON_ALLOW, *span, "an `allow` rule's reason is never shown")
                                .help("reasons are reported for deny, approve and hide: delete it or make it a comment"),
                        );
                    }
                }
                ast::Clause::Limit(_) => {}
            }
        }
        let condition = risk::join(risk, condition.unwrap_or(Cond::True));
        if effect == Effect::Hide && cond::mentions_arguments(&condition) {
            self.push(
                Diagnostic::new(
                    code::HIDE_ON_ARGUMENTS,
                    r.head_span(),
                    "a `hide` rule cannot depend on arguments",
                )
                .help("`tools/list` has no arguments to look at: use `deny … when …` for argument rules"),
            );
        }
        ir::Rule {
            id,
            named,
            index,
            effect,
            targets,
            condition,
            reason,
            limits: Vec::new(),
            span: r.span,
            head: r.head_span(),
        }
    }

    pub(crate) fn targets(&mut self, targets: &[ast::Target]) -> Vec<Target> {
        let mut seen: HashMap<(Option<&str>, &str), Span> = HashMap::new();
        let mut out = Vec::new();
        for t in targets {
            let key = (
                t.server.as_ref().map(|s| s.text.as_str()),
                t.tool.text.as_str(),
            );
            if let Some(first) = seen.get(&key) {
                self.push(
                    Diagnostic::new(
                        code::DUPLICATE_TARGET,
                        t.span,
                        format!("`{}` is named twice", t.tool.text),
                    )
                    .secondary(*first, "first here")
                    .help("delete one"),
                );
                continue;
            }
            seen.insert(key, t.span);
            let server = match &t.server {
                Some(s) => match self.name_pattern(s) {
                    Some(p) => Some(p),
                    None => continue,
                },
                None => None,
            };
            if let Some(tool) = self.name_pattern(&t.tool) {
                out.push(Target {
                    server,
                    tool,
                    span: t.span,
                });
            }
        }
        out
    }
}

/// Suggests a correction among known words, as a help line.
pub(crate) fn suggest<'a>(word: &str, known: impl IntoIterator<Item = &'a str> + Clone) -> String {
    match did_you_mean(word, known.clone()) {
        Some(w) => format!("did you mean `{w}`?"),
        None => {
            let list: Vec<String> = known.into_iter().map(|k| format!("`{k}`")).collect();
            format!("expected one of {}", list.join(", "))
        }
    }
}

/// Counters by name, for `Ctx::assign_counters`.
pub(crate) type Counters = BTreeMap<String, ir::Counter>;

/// `base`, or `base-2`, `base-3`, … : the first that `taken` does not report as taken.
/// `taken` is asked once per candidate and may record the one it accepts.
pub fn unique_id(base: &str, mut taken: impl FnMut(&str) -> bool) -> String {
    let mut id = base.to_string();
    let mut n = 2;
    while taken(&id) {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}
