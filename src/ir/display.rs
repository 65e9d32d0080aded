//! A compact, stable text form of the IR, for snapshots and `warden check --emit ir`-style
//! debugging. One line per rule, conditions in prefix-free infix with explicit parentheses.

use super::*;
use std::fmt::{self, Display, Formatter, Write as _};

impl Display for Policy {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(f, "policy {}", self.name)?;
        write!(f, "  default {}", self.default.effect.keyword())?;
        if let Some(r) = &self.default.reason {
            write!(f, " reason {r:?}")?;
        }
        writeln!(f)?;
        for r in &self.rules {
            writeln!(f, "  {r}")?;
        }
        for o in &self.risk.list {
            writeln!(f, "  risk {} is {}", o.tool.as_str(), o.risk.name())?;
        }
        for (name, c) in &self.counters {
            writeln!(
                f,
                "  counter {name} per {} per {}",
                c.window.name(),
                c.scope.name()
            )?;
        }
        for a in &self.assertions {
            writeln!(
                f,
                "  assert {} {} [{}] when {}",
                if a.always { "always" } else { "never" },
                a.effect.keyword(),
                list(&a.targets),
                a.condition
            )?;
        }
        for t in &self.tests {
            writeln!(f, "  test {:?}: {} cases", t.name, t.cases.len())?;
        }
        Ok(())
    }
}

impl Display for Rule {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{} {} {} [{}]",
            self.index,
            self.id,
            self.effect.keyword(),
            list(&self.targets)
        )?;
        if self.condition != Cond::True {
            write!(f, " when {}", self.condition)?;
        }
        for l in &self.limits {
            write!(
                f,
                " limit {} per {} per {} as {}",
                l.max,
                l.window.name(),
                l.scope.name(),
                l.counter
            )?;
        }
        if let Some(r) = &self.reason {
            write!(f, " reason {r:?}")?;
        }
        Ok(())
    }
}

fn list(targets: &[Target]) -> String {
    targets
        .iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Display for Target {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if let Some(s) = &self.server {
            write!(f, "{s}::")?;
        }
        write!(f, "{}", self.tool)
    }
}

impl Display for NamePattern {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            NamePattern::Exact(s) => write!(f, "{s}"),
            NamePattern::Glob(g) => write!(f, "glob({})", g.as_str()),
        }
    }
}

impl Display for Cond {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Cond::True => write!(f, "true"),
            Cond::False => write!(f, "false"),
            Cond::And(cs) => join(f, cs, " and "),
            Cond::Or(cs) => join(f, cs, " or "),
            Cond::Not(c) => write!(f, "not ({c})"),
            Cond::Test(t) => write!(f, "{t}"),
        }
    }
}

fn join(f: &mut Formatter<'_>, cs: &[Cond], sep: &str) -> fmt::Result {
    f.write_char('(')?;
    for (i, c) in cs.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write!(f, "{c}")?;
    }
    f.write_char(')')
}

impl Display for Test {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.operand, self.pred)
    }
}

impl Display for Operand {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Arg(path) => write!(f, "{}", path_text(path)),
            Operand::Grant => write!(f, "grant"),
            Operand::Agent => write!(f, "agent"),
            Operand::Session => write!(f, "session"),
            Operand::Annotation(a) => write!(f, "tool.{}", a.name()),
            Operand::Risk => write!(f, "tool.risk"),
        }
    }
}

impl Display for Pred {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let lits = |ls: &[Literal]| {
            ls.iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Pred::Exists => write!(f, "exists"),
            Pred::Eq(l) => write!(f, "== {l}"),
            Pred::Ne(l) => write!(f, "!= {l}"),
            Pred::Cmp(op, n) => {
                let s = match op {
                    CmpOp::Lt => "<",
                    CmpOp::Le => "<=",
                    CmpOp::Gt => ">",
                    CmpOp::Ge => ">=",
                };
                write!(f, "{s} {n}")
            }
            Pred::In(ls) => write!(f, "in [{}]", lits(ls)),
            Pred::NotIn(ls) => write!(f, "not in [{}]", lits(ls)),
            Pred::Glob(g) => write!(f, "glob {:?}", g.as_str()),
            Pred::Regex(r) => write!(f, "regex /{}/", r.source),
            Pred::StartsWith(s) => write!(f, "startswith {s:?}"),
            Pred::EndsWith(s) => write!(f, "endswith {s:?}"),
            Pred::Contains(l) => write!(f, "contains {l}"),
        }
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => write!(f, "null"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Num(n) => write!(f, "{n}"),
            Literal::Str(s) => write!(f, "{}", serde_json::Value::String(s.clone())),
        }
    }
}
