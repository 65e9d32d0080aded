//! One z3 solver session: the domain constraints asserted once, then many queries with
//! push/pop, each answered with a model's points, an unsat core, or why it is unknown.

use super::{F, Point, Request};
use std::cell::Cell;
use z3::ast::Bool;
use z3::{Params, SatResult};

/// A solver's answer.
pub enum Answer {
    /// A model, read for each request asked about.
    Sat(Vec<Point>),
    /// Unsatisfiable; the indexes of the assumptions in the core.
    Unsat(Vec<usize>),
    Unknown(String),
}

/// One solver holding the domain constraints, reused with push/pop for many queries.
pub struct Session {
    solver: z3::Solver,
    queries: Cell<u64>,
}

impl Session {
    pub fn new(timeout_ms: u32, domain: &[F]) -> Session {
        // Bounded integers and booleans only: the linear-integer-arithmetic solver suffices.
        let solver = z3::Solver::new_for_logic("QF_LIA").unwrap_or_default();
        let mut params = Params::new();
        params.set_u32("timeout", timeout_ms.max(1));
        solver.set_params(&params);
        for f in domain {
            solver.assert(&f.0);
        }
        Session {
            solver,
            queries: Cell::new(0),
        }
    }

    pub fn queries(&self) -> u64 {
        self.queries.get()
    }

    /// Is `goals ∧ assumptions` satisfiable? On SAT, reads a point per request in `read`.
    pub fn check(&self, goals: &[F], assumptions: &[F], read: &[&Request<'_>]) -> Answer {
        self.queries.set(self.queries.get() + 1);
        self.solver.push();
        for g in goals {
            self.solver.assert(&g.0);
        }
        let literals: Vec<Bool> = (0..assumptions.len())
            .map(|k| Bool::new_const(format!("assume{k}")))
            .collect();
        for (lit, f) in literals.iter().zip(assumptions) {
            self.solver.assert(lit.implies(&f.0));
        }
        let result = if literals.is_empty() {
            self.solver.check()
        } else {
            self.solver.check_assumptions(&literals)
        };
        let answer = match result {
            SatResult::Sat => match self.solver.get_model() {
                Some(m) => Answer::Sat(read.iter().map(|r| r.point(&m)).collect()),
                None => Answer::Unknown("the solver gave no model".into()),
            },
            SatResult::Unsat => {
                let core = self.solver.get_unsat_core();
                Answer::Unsat(
                    (literals.iter().enumerate())
                        .filter(|(_, l)| core.iter().any(|c| c == *l))
                        .map(|(k, _)| k)
                        .collect(),
                )
            }
            SatResult::Unknown => Answer::Unknown(
                self.solver
                    .get_reason_unknown()
                    .unwrap_or_else(|| "unknown".into()),
            ),
        };
        self.solver.pop(1);
        answer
    }
}
