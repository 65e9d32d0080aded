//! Partial evaluation of a policy for one known grant: every test on `grant` becomes `true` or
//! `false`. PolicyLayer attaches a policy to one grant, so a policy that says who may do what
//! compiles to one policy.json per grant.

use super::{Cond, Operand, Policy};
use crate::eval::pred_holds;
use serde_json::Value;

impl Policy {
    /// This policy as decided for calls made with `grant`: the same decisions for those calls,
    /// with no condition left on `grant`.
    pub fn for_grant(&self, grant: &str) -> Policy {
        let mut out = self.clone();
        let value = Value::String(grant.to_string());
        for rule in &mut out.rules {
            rule.condition = fold(&rule.condition, &value);
        }
        for assertion in &mut out.assertions {
            assertion.condition = fold(&assertion.condition, &value);
        }
        out
    }
}

fn fold(c: &Cond, grant: &Value) -> Cond {
    match c {
        Cond::Test(t) if t.operand == Operand::Grant => {
            if pred_holds(&t.pred, grant) {
                Cond::True
            } else {
                Cond::False
            }
        }
        Cond::And(cs) => Cond::And(cs.iter().map(|c| fold(c, grant)).collect()).simplified(),
        Cond::Or(cs) => Cond::Or(cs.iter().map(|c| fold(c, grant)).collect()).simplified(),
        Cond::Not(inner) => match fold(inner, grant) {
            Cond::True => Cond::False,
            Cond::False => Cond::True,
            other => Cond::Not(Box::new(other)),
        },
        other => other.clone(),
    }
}

impl Cond {
    /// Removes `true`/`false` constants from `and`/`or` (one level), keeping the meaning.
    pub fn simplified(self) -> Cond {
        match self {
            Cond::And(cs) => {
                if cs.contains(&Cond::False) {
                    return Cond::False;
                }
                let mut rest: Vec<Cond> = cs.into_iter().filter(|c| *c != Cond::True).collect();
                match rest.len() {
                    0 => Cond::True,
                    1 => rest.pop().unwrap_or(Cond::True),
                    _ => Cond::And(rest),
                }
            }
            Cond::Or(cs) => {
                if cs.contains(&Cond::True) {
                    return Cond::True;
                }
                let mut rest: Vec<Cond> = cs.into_iter().filter(|c| *c != Cond::False).collect();
                match rest.len() {
                    0 => Cond::False,
                    1 => rest.pop().unwrap_or(Cond::False),
                    _ => Cond::Or(rest),
                }
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::call::Call;
    use crate::eval::evaluate;
    use crate::pipeline::Workspace;
    use std::path::Path;

    #[test]
    fn specialised_policies_decide_like_the_original_for_that_grant() {
        let mut ws = Workspace::default();
        ws.add_source(
            Path::new("p.warden"),
            "policy p {\n  allow run when grant in [\"ci\", \"ops\"] or args.force\n  deny run when args.env == \"prod\" and not (grant == \"ops\")\n}\n".into(),
        );
        let policy = ws.files.pop().and_then(|f| f.policy).unwrap();
        for grant in ["ci", "ops", "eve"] {
            let special = policy.for_grant(grant);
            for args in [
                r#"{"env":"prod"}"#,
                r#"{"env":"dev"}"#,
                r#"{"force":true}"#,
                "{}",
            ] {
                let mut call = Call::new("run");
                call.grant = Some(grant.into());
                call.arguments = Some(serde_json::from_str(args).unwrap());
                assert_eq!(
                    evaluate(&policy, &call),
                    evaluate(&special, &call),
                    "{grant} {args}"
                );
            }
            let mut text = String::new();
            for r in &special.rules {
                text.push_str(&r.condition.to_string());
            }
            assert!(!text.contains("grant"), "{text}");
        }
    }
}
