//! `tool.risk` over a symbolic request: the call's own class is a slot (one of the five class
//! names), and a policy's `risk … is …` overrides decide the class of the tool classes they
//! match ([`Request::under`]). docs/verifier.md has the encoding.

use super::{F, Request, int};
use crate::eval::pred_holds;
use crate::ir::{Literal, Operand, Pred, RiskOverrides};
use crate::risk::Risk;

impl<'s> Request<'s> {
    /// The same request as seen by a policy with these `risk … is …` overrides: `tool.risk` is
    /// the override for an overridden tool, else the call's own class.
    ///
    /// Its slot domains also set an overridden tool's own class to the override, unless a
    /// catalog gives it (the own class of such a tool decides nothing here, and witnesses then
    /// show the class that counts);
    /// `diff`, which compares two sets of overrides on one call, takes its domains from the
    /// shared request instead.
    pub fn under(&self, overrides: &RiskOverrides) -> Request<'s> {
        let mut r = Request {
            overrides: self.space.overrides(overrides),
            ..self.clone()
        };
        // A catalog tool's own class is already pinned to its definition's: pinning it to the
        // override as well would make the tool impossible when the two differ.
        let pinned: Vec<Option<Risk>> = r
            .overrides
            .iter()
            .enumerate()
            .map(|(c, o)| o.filter(|_| matches!(self.space.risks.get(c), Some(None))))
            .collect();
        r.pin_own_risk(&pinned);
        r
    }

    /// Adds to the risk slot's domain: a call to tool class `c` has own class `classes[c]`
    /// where that is known.
    pub(super) fn pin_own_risk(&mut self, classes: &[Option<Risk>]) {
        let Some(i) = self.space.slot(&Operand::Risk) else {
            return;
        };
        for (class, risk) in classes.iter().enumerate() {
            if let Some(risk) = risk {
                let value = self.lit_eq(i, &Literal::Str(risk.name().to_owned()));
                let f = F(self.tool.eq(int(class))).implies(&value);
                if let Some(d) = self.slot_domains.get_mut(i) {
                    d.push(f);
                }
            }
        }
    }

    /// `tool.risk` satisfies `pred`: by override for the tool classes the policy overrides,
    /// by the call's own class (slot `i`) for the others.
    pub(super) fn risk_test(&self, i: usize, pred: &Pred) -> F {
        let holds = |r: Risk| pred_holds(pred, &serde_json::Value::String(r.name().to_owned()));
        let own: Vec<F> = Risk::ALL
            .into_iter()
            .filter(|r| holds(*r))
            .map(|r| self.lit_eq(i, &Literal::Str(r.name().to_owned())))
            .collect();
        let overridden: Vec<usize> = (0..self.overrides.len())
            .filter(|&c| matches!(self.overrides.get(c), Some(Some(_))))
            .collect();
        let fixed: Vec<usize> = overridden
            .iter()
            .copied()
            .filter(|&c| matches!(self.overrides.get(c), Some(Some(r)) if holds(*r)))
            .collect();
        F::or(&[
            self.tool_is(&fixed),
            F::and(&[self.tool_is(&overridden).not(), F::or(&own)]),
        ])
    }
}
