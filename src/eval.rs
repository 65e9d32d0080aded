//! The reference evaluator: the meaning of a policy, small and obviously right.
//!
//! Every other stage (the verifier's witnesses, policy.json, the decision table, the proxy) is
//! tested against [`evaluate`]. It favours clarity over speed: it looks at every rule. Limits
//! are reported, not counted.
//!
//! The decision: among the rules whose targets and condition match the call, the effect with
//! the highest precedence wins (hide > deny > approve > allow); the first such rule in source
//! order decides. No match: the policy's default. A call that would be forwarded (allow,
//! approve) is subject to the limits of every matching allow and approve rule.
//!
//! `tool.risk` reads the call's risk class as the policy sees it: [`evaluate`] first applies
//! the policy's `risk … is …` overrides ([`with_risk`]); [`holds`] alone reads the call's own
//! class (or classifies the tool's name and annotations).

use crate::call::Call;
use crate::ir::{Cond, Effect, Literal, Operand, PathSeg, Policy, Pred, RiskOverrides, Rule, Test};
use crate::num::Num;
use serde_json::Value;
use std::borrow::Cow;

/// Which rule decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decider {
    Default,
    Rule(usize),
}

/// A limit that applies: rule index and limit index within that rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LimitRef {
    pub rule: usize,
    pub limit: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub effect: Effect,
    pub decider: Decider,
    /// Limits that apply when the call is forwarded, in rule order.
    pub limits: Vec<LimitRef>,
}

impl Decision {
    /// The deciding rule's id, or `default`.
    pub fn rule_id<'p>(&self, policy: &'p Policy) -> &'p str {
        match self.decider {
            Decider::Default => "default",
            Decider::Rule(i) => policy.rules.get(i).map_or("default", |r| r.id.as_str()),
        }
    }

    /// The reason shown to the caller, if the deciding rule (or default) has one.
    pub fn reason<'p>(&self, policy: &'p Policy) -> Option<&'p str> {
        match self.decider {
            Decider::Default => policy.default.reason.as_deref(),
            Decider::Rule(i) => policy.rules.get(i).and_then(|r| r.reason.as_deref()),
        }
    }

    /// The JSON form `warden eval` prints.
    pub fn to_json(&self, policy: &Policy) -> Value {
        let limits = self
            .limits
            .iter()
            .filter_map(|l| {
                let rule = policy.rules.get(l.rule)?;
                let limit = rule.limits.get(l.limit)?;
                Some(limit_json(
                    &rule.id,
                    &limit.counter,
                    limit.max,
                    limit.window,
                    limit.scope,
                ))
            })
            .collect();
        decision_json(
            self.effect,
            self.rule_id(policy),
            self.reason(policy),
            limits,
        )
    }
}

/// `{"decision", "rule", "reason", "limits"}`: the one JSON form of a decision, whichever
/// engine made it.
pub fn decision_json(
    effect: Effect,
    rule: &str,
    reason: Option<&str>,
    limits: Vec<Value>,
) -> Value {
    serde_json::json!({
        "decision": effect.keyword(),
        "rule": rule,
        "reason": reason,
        "limits": limits,
    })
}

/// One applicable limit in [`decision_json`].
pub fn limit_json(
    rule: &str,
    counter: &str,
    max: u64,
    window: crate::ir::Window,
    scope: crate::ir::Scope,
) -> Value {
    serde_json::json!({
        "rule": rule,
        "counter": counter,
        "max": max,
        "window": window.name(),
        "scope": scope.name(),
    })
}

/// Decides one call.
pub fn evaluate(policy: &Policy, call: &Call) -> Decision {
    evaluate_among(policy, policy.rules.iter(), call)
}

/// [`evaluate`] considering only `rules` (in source order): the same decision whenever every
/// rule of the policy that matches the call is among them, as when they are all the rules that
/// can match its tool (the verifier's index).
pub fn evaluate_among<'p>(
    policy: &Policy,
    rules: impl Iterator<Item = &'p Rule> + Clone,
    call: &Call,
) -> Decision {
    // Work the class out only for a policy that looks at it (classifying allocates).
    let looks_at_risk = rules.clone().any(|r| r.condition.mentions(&Operand::Risk));
    let call = &*if looks_at_risk {
        with_risk(&policy.risk, call)
    } else {
        Cow::Borrowed(call)
    };
    let matching: Vec<&Rule> = rules.filter(|r| rule_matches(r, call)).collect();
    let Some(winner) = matching
        .iter()
        .map(|r| r.effect)
        .max_by_key(|e| e.precedence())
    else {
        return Decision {
            effect: policy.default.effect,
            decider: Decider::Default,
            limits: Vec::new(),
        };
    };
    let decider = matching
        .iter()
        .find(|r| r.effect == winner)
        .map_or(Decider::Default, |r| Decider::Rule(r.index));
    let limits = if winner.forwards() {
        matching
            .iter()
            .filter(|r| r.effect.forwards())
            .flat_map(|r| {
                (0..r.limits.len()).map(|limit| LimitRef {
                    rule: r.index,
                    limit,
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    Decision {
        effect: winner,
        decider,
        limits,
    }
}

/// The call with its risk class set as the policy sees it ([`RiskOverrides::risk_of`]).
pub fn with_risk<'c>(overrides: &RiskOverrides, call: &'c Call) -> Cow<'c, Call> {
    let risk = overrides.risk_of(&call.tool, call.risk, call.annotations);
    if call.risk == Some(risk) {
        Cow::Borrowed(call)
    } else {
        Cow::Owned(Call {
            risk: Some(risk),
            ..call.clone()
        })
    }
}

/// Whether a rule's targets and condition match the call. `tool.risk` reads the call's class
/// as given: apply the policy's overrides first ([`with_risk`]).
pub fn rule_matches(rule: &Rule, call: &Call) -> bool {
    rule.targets
        .iter()
        .any(|t| t.matches(call.server.as_deref(), &call.tool))
        && holds(&rule.condition, call)
}

/// Whether a condition holds for a call.
pub fn holds(cond: &Cond, call: &Call) -> bool {
    match cond {
        Cond::True => true,
        Cond::False => false,
        Cond::And(cs) => cs.iter().all(|c| holds(c, call)),
        Cond::Or(cs) => cs.iter().any(|c| holds(c, call)),
        Cond::Not(c) => !holds(c, call),
        Cond::Test(t) => match resolve(&t.operand, call) {
            Some(v) => pred_holds(&t.pred, &v),
            None => false,
        },
    }
}

/// Whether a condition holds when the call's arguments are unknown (as when filtering
/// `tools/list`): `Some(b)` when the answer does not depend on arguments, `None` when it does.
/// Identity and annotations are taken from `call`.
pub fn holds_without_arguments(cond: &Cond, call: &Call) -> Option<bool> {
    kleene(cond, &|t| match t.operand {
        Operand::Arg(_) => None,
        _ => Some(resolve(&t.operand, call).is_some_and(|v| pred_holds(&t.pred, &v))),
    })
}

/// A condition under Kleene's three-valued logic, given what is known of each test (`None`:
/// unknown): `Some(b)` when the known tests decide it whatever the unknown ones are.
pub fn kleene(cond: &Cond, test: &impl Fn(&Test) -> Option<bool>) -> Option<bool> {
    let all = |cs: &[Cond], absorbing: bool| {
        let mut unknown = false;
        for c in cs {
            match kleene(c, test) {
                Some(b) if b == absorbing => return Some(absorbing),
                Some(_) => {}
                None => unknown = true,
            }
        }
        if unknown { None } else { Some(!absorbing) }
    };
    match cond {
        Cond::True => Some(true),
        Cond::False => Some(false),
        Cond::And(cs) => all(cs, false),
        Cond::Or(cs) => all(cs, true),
        Cond::Not(c) => kleene(c, test).map(|b| !b),
        Cond::Test(t) => test(t),
    }
}

/// The operand's value in this call, or `None` when absent.
pub fn resolve<'c>(operand: &Operand, call: &'c Call) -> Option<Cow<'c, Value>> {
    let ident = |v: &Option<String>| v.as_ref().map(|s| Cow::Owned(Value::String(s.clone())));
    match operand {
        Operand::Grant => ident(&call.grant),
        Operand::Agent => ident(&call.agent),
        Operand::Session => ident(&call.session),
        Operand::Annotation(a) => Some(Cow::Owned(Value::Bool(call.annotations.get(*a)))),
        Operand::Risk => {
            let risk = RiskOverrides::default().risk_of(&call.tool, call.risk, call.annotations);
            Some(Cow::Owned(Value::String(risk.name().to_owned())))
        }
        Operand::Arg(path) => {
            let mut v = call.arguments.as_ref()?;
            for seg in path {
                v = match (seg, v) {
                    (PathSeg::Key(k), Value::Object(m)) => m.get(k)?,
                    (PathSeg::Index(i), Value::Array(a)) => a.get(*i)?,
                    _ => return None,
                };
            }
            Some(Cow::Borrowed(v))
        }
    }
}

/// Whether a predicate holds for a present value.
pub fn pred_holds(pred: &Pred, v: &Value) -> bool {
    match pred {
        Pred::Exists => true,
        Pred::Eq(lit) => lit_eq(v, lit),
        Pred::Ne(lit) => same_type(v, lit) && !lit_eq(v, lit),
        Pred::Cmp(op, n) => number(v).is_some_and(|x| op.holds(x.cmp(n))),
        Pred::In(list) => list.iter().any(|l| lit_eq(v, l)),
        Pred::NotIn(list) => {
            list.iter().any(|l| same_type(v, l)) && !list.iter().any(|l| lit_eq(v, l))
        }
        Pred::Glob(g) => v.as_str().is_some_and(|s| g.is_match(s)),
        Pred::Regex(r) => v.as_str().is_some_and(|s| r.compiled.is_match(s)),
        Pred::StartsWith(p) => v.as_str().is_some_and(|s| s.starts_with(p.as_str())),
        Pred::EndsWith(p) => v.as_str().is_some_and(|s| s.ends_with(p.as_str())),
        Pred::Contains(lit) => match (v, lit) {
            (Value::String(s), Literal::Str(sub)) => s.contains(sub.as_str()),
            (Value::Array(items), _) => items.iter().any(|item| lit_eq(item, lit)),
            _ => false,
        },
    }
}

fn number(v: &Value) -> Option<Num> {
    match v {
        Value::Number(n) => Num::from_json(n),
        _ => None,
    }
}

/// JSON value equals literal: same type and same value (numbers exactly).
pub fn lit_eq(v: &Value, lit: &Literal) -> bool {
    match (v, lit) {
        (Value::Null, Literal::Null) => true,
        (Value::Bool(a), Literal::Bool(b)) => a == b,
        (Value::Number(_), Literal::Num(n)) => number(v).is_some_and(|x| &x == n),
        (Value::String(a), Literal::Str(b)) => a == b,
        _ => false,
    }
}

fn same_type(v: &Value, lit: &Literal) -> bool {
    crate::ir::JsonType::of(v) == lit.json_type()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Workspace;
    use crate::risk::Risk;
    use std::path::Path;

    fn policy(text: &str) -> Policy {
        let mut ws = Workspace::default();
        ws.add_source(Path::new("t.warden"), text.to_string());
        assert!(!ws.has_errors(), "{:?}", ws.diagnostics);
        ws.files.remove(0).policy.unwrap()
    }

    fn decide(p: &Policy, tool: &str, risk: Option<Risk>) -> (Effect, String) {
        let call = Call {
            risk,
            ..Call::new(tool)
        };
        let d = evaluate(p, &call);
        (d.effect, d.rule_id(p).to_string())
    }

    #[test]
    fn a_calls_class_is_the_override_else_its_own_else_its_names() {
        let p = policy(
            r#"policy p {
  default allow
  risk purge_cache is read
  risk refund_*, "odd name" is financial
  risk refund_tip is write
  deny risk destructive
  approve risk financial
}"#,
        );
        // The name decides when nothing else does.
        assert_eq!(decide(&p, "drop_table", None).0, Effect::Deny);
        assert_eq!(decide(&p, "list_tables", None).0, Effect::Allow);
        // The call's own class beats the name.
        assert_eq!(
            decide(&p, "list_tables", Some(Risk::Destructive)).0,
            Effect::Deny
        );
        assert_eq!(decide(&p, "drop_table", Some(Risk::Read)).0, Effect::Allow);
        // The policy's override beats both; an exact name beats a glob.
        assert_eq!(
            decide(&p, "purge_cache", Some(Risk::Destructive)).0,
            Effect::Allow
        );
        assert_eq!(
            decide(&p, "refund_all", Some(Risk::Read)),
            (Effect::Approve, "approve-risk-financial".to_string())
        );
        assert_eq!(decide(&p, "odd name", None).0, Effect::Approve);
        assert_eq!(
            decide(&p, "refund_tip", Some(Risk::Financial)).0,
            Effect::Allow
        );
    }

    #[test]
    fn risk_conditions_compare_class_names() {
        let p = policy(
            r#"policy p {
  default deny
  allow a when tool.risk != "destructive" and tool.risk not in ["financial", "execute"]
  allow b when tool.risk == "execute" or tool.risk in ["financial"]
}"#,
        );
        let allowed = |tool: &str, r: Risk| decide(&p, tool, Some(r)).0 == Effect::Allow;
        for r in Risk::ALL {
            assert_eq!(
                allowed("a", r),
                matches!(r, Risk::Read | Risk::Write),
                "{r}"
            );
            assert_eq!(
                allowed("b", r),
                matches!(r, Risk::Execute | Risk::Financial),
                "{r}"
            );
        }
    }

    #[test]
    fn with_risk_copies_the_call_only_when_the_class_changes() {
        let none = RiskOverrides::default();
        let call = Call {
            risk: Some(Risk::Write),
            ..Call::new("x")
        };
        assert!(matches!(with_risk(&none, &call), Cow::Borrowed(_)));
        let named = Call::new("delete_x");
        assert_eq!(with_risk(&none, &named).risk, Some(Risk::Destructive));
    }
}
