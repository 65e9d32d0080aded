//! `risk … is …` overrides that another override shadows: an exact name wins over a glob, and
//! among globs the first one written wins, so a later glob that matches some of the same tool
//! names with a different class does not apply to them. Answered exactly, without a solver,
//! from the string classes of the override patterns ([`StringClasses`]): every class both
//! globs match has a shortest representative, the example tool name of the finding.

use super::strings::StringClasses;
use crate::call::Call;
use crate::diagnostic::{Diagnostic, code};
use crate::ir::{NamePattern, Policy};
use std::collections::BTreeSet;

/// One finding per pair (winning override, shadowed override) whose classes differ.
pub fn check(policy: &Policy, preferred: &[&str]) -> Vec<Diagnostic> {
    let list = &policy.risk.list;
    let globs: Vec<usize> = (0..list.len())
        .filter(|&i| matches!(list[i].tool, NamePattern::Glob(_)))
        .collect();
    if globs.len() < 2 {
        return Vec::new();
    }
    let exact: Vec<String> = list
        .iter()
        .filter_map(|o| match &o.tool {
            NamePattern::Exact(n) => Some(n.clone()),
            NamePattern::Glob(_) => None,
        })
        .collect();
    let patterns = globs
        .iter()
        .filter_map(|&i| match &list[i].tool {
            NamePattern::Glob(g) => Some(g.clone()),
            NamePattern::Exact(_) => None,
        })
        .collect();
    // Too many classes to enumerate: the verifier reports the policy as too complex.
    let Ok(classes) = StringClasses::build(exact.clone(), patterns, preferred) else {
        return Vec::new();
    };
    let named: BTreeSet<usize> = (0..exact.len())
        .flat_map(|i| classes.exact_classes(i))
        .collect();
    let matched: Vec<BTreeSet<usize>> = (0..globs.len())
        .map(|g| classes.glob_classes(g).into_iter().collect())
        .collect();
    let mut out = Vec::new();
    for (later, later_classes) in matched.iter().enumerate() {
        let shadowed = &list[globs[later]];
        // Per earlier override that wins some of this one's names: its first example.
        let mut winners: Vec<(usize, usize)> = Vec::new();
        for &class in later_classes.difference(&named) {
            let Some(winner) = (0..later).find(|&g| matched[g].contains(&class)) else {
                continue;
            };
            if list[globs[winner]].risk != shadowed.risk
                && !winners.iter().any(|&(w, _)| w == winner)
            {
                winners.push((winner, class));
            }
        }
        for (winner, class) in winners {
            let wins = &list[globs[winner]];
            let name = classes.rep(class);
            out.push(
                Diagnostic::new(
                    code::SHADOWED_RISK_OVERRIDE,
                    shadowed.span,
                    format!(
                        "`risk {} is {}` does not apply to `{name}`",
                        shadowed.tool.as_str(),
                        shadowed.risk.name()
                    ),
                )
                .label(format!(
                    "`{name}` is {} by an override written earlier",
                    wins.risk.name()
                ))
                .secondary(
                    wins.span,
                    format!("the first glob that matches wins: `{name}` is {} here", wins.risk.name()),
                )
                .witness(Call::new(name).to_json())
                .help(format!(
                    "name the tool exactly (`risk {name} is {}`), or write the overrides in the order you mean",
                    shadowed.risk.name()
                )),
            );
        }
    }
    out
}
