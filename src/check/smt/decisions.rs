//! What a policy decides about one symbolic request, as formulas: hide, deny, approve, allow
//! (first match by effect precedence, then the default).

use super::{F, Request};
use crate::ir::{Effect, Policy};

/// The formulas "the policy decides this effect" over one request, restricted to the rules
/// given (the others are known not to match, e.g. because they name other tools).
pub struct Decisions {
    pub hide: F,
    pub deny: F,
    pub approve: F,
    pub allow: F,
}

impl Decisions {
    pub fn new(policy: &Policy, rules: &[usize], req: &Request<'_>) -> Decisions {
        let any = |e: Effect| {
            F::or(
                &rules
                    .iter()
                    .filter_map(|&i| policy.rules.get(i))
                    .filter(|r| r.effect == e)
                    .map(|r| req.rule(r))
                    .collect::<Vec<_>>(),
            )
        };
        let (h, d, a, l) = (
            any(Effect::Hide),
            any(Effect::Deny),
            any(Effect::Approve),
            any(Effect::Allow),
        );
        let none = F::and(&[h.not(), d.not(), a.not(), l.not()]);
        let default_deny = policy.default.effect != Effect::Allow;
        let by_default = |yes: bool| if yes { none.clone() } else { F::ff() };
        Decisions {
            hide: h.clone(),
            deny: F::and(&[h.not(), F::or(&[d.clone(), by_default(default_deny)])]),
            approve: F::and(&[h.not(), d.not(), a.clone()]),
            allow: F::and(&[
                h.not(),
                d.not(),
                a.not(),
                F::or(&[l, by_default(!default_deny)]),
            ]),
        }
    }

    pub fn is(&self, e: Effect) -> F {
        match e {
            Effect::Hide => self.hide.clone(),
            Effect::Deny => self.deny.clone(),
            Effect::Approve => self.approve.clone(),
            Effect::Allow => self.allow.clone(),
        }
    }

    /// Decided allow or approve: the call goes through (eventually).
    pub fn forwards(&self) -> F {
        F::or(&[self.allow.clone(), self.approve.clone()])
    }
}
