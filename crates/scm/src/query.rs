//! What is asked (a [`Query`]) and what identification answers (an [`Estimate`]).

use crate::{Assignment, Dag, Error, Event, Result, Task};

/// Which Tian–Pearl bound a PN/PS question asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Bound {
    /// `max{0, …}`.
    #[default]
    Lower,
    /// `min{1, …}`.
    Upper,
}

/// One CauGym question about the effect of `treatment` (X) on `outcome` (Y).
///
/// Value conventions (x = `x_val`, x' = 1 − x, y = `y_val`, y' = 1 − y), as in causal-tasks.md:
/// - ATE, CDE, ETT, NDE, NIE: x and y are the values the question names ("if X is changed to be
///   x, will Y be more likely to be y?"; ETT: "for those with X being x").
/// - PN = P(Y_{x'} = y' | X = x, Y = y) and PS = P(Y_x = y | X = x', Y = y'): x and y are Pearl's
///   "cause and effect present" values. The benchmark always asks x = y = 1: PN "given X was 1
///   and Y was 1, would Y have been 0 had X been 0", PS "given X was 0 and Y was 0, would Y have
///   been 1 had X been 1".
/// - CDE also holds every mediator fixed: `mediator_values` must assign exactly
///   [`Dag::mediators`]`(treatment, outcome)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Query {
    /// The estimand.
    pub task: Task,
    /// X.
    pub treatment: usize,
    /// Y.
    pub outcome: usize,
    /// x.
    pub x_val: bool,
    /// y.
    pub y_val: bool,
    /// CDE only: the values the mediators are held at.
    pub mediator_values: Event,
    /// PN/PS only: which bound is the answer.
    pub bound: Bound,
}

impl Query {
    /// A query with no mediator values and the lower bound; add those with the `with_` methods.
    pub fn new(task: Task, treatment: usize, outcome: usize, x_val: bool, y_val: bool) -> Query {
        Query {
            task,
            treatment,
            outcome,
            x_val,
            y_val,
            mediator_values: Event::ANY,
            bound: Bound::Lower,
        }
    }

    /// Sets CDE's mediator values.
    pub fn with_mediator_values(self, mediator_values: Event) -> Query {
        Query {
            mediator_values,
            ..self
        }
    }

    /// Sets the PN/PS bound.
    pub fn with_bound(self, bound: Bound) -> Query {
        Query { bound, ..self }
    }

    /// Checks nodes against the graph, X ≠ Y, and CDE's mediator values.
    pub(crate) fn check(&self, dag: &Dag) -> Result<()> {
        dag.check_node(self.treatment)?;
        dag.check_node(self.outcome)?;
        if self.treatment == self.outcome {
            return Err(Error::TreatmentIsOutcome { node: self.outcome });
        }
        let mediators = dag.mediator_set(self.treatment, self.outcome);
        if self.task == Task::Cde && self.mediator_values.nodes() != mediators {
            return Err(Error::MediatorValues {
                expected: mediators.to_vec(),
                got: self.mediator_values.nodes().to_vec(),
            });
        }
        Ok(())
    }
}

/// Why an estimand is 0 by CauGym's trivial-case rules, without any numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trivial {
    /// ATE, ETT: X is not an ancestor of Y.
    NotAncestor,
    /// CDE, NDE: there is no edge X → Y.
    NoDirectEdge,
    /// NIE: no node lies inside a directed X → … → Y path.
    NoMediator,
}

/// The two Tian–Pearl bounds of PN or PS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    /// The lower bound, `max{0, …}`.
    pub lower: f64,
    /// The upper bound, `min{1, …}`.
    pub upper: f64,
}

/// One observational probability a formula reads: P(target | given).
///
/// Both sides keep the order the benchmark states them in (see [`Estimate::terms`]); an empty
/// `given` is a marginal or joint probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Term {
    /// What the probability is of (one node, or X and Y for PN/PS's joint terms).
    pub target: Assignment,
    /// The condition, in stated order.
    pub given: Assignment,
    /// Its value from the joint distribution.
    pub value: f64,
}

/// The result of identification: the number, and the pieces a worked solution states.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// The answer: the effect, or for PN/PS the bound the query asks for.
    pub value: f64,
    /// PN/PS: both bounds; `None` for the five effects.
    pub bounds: Option<Bounds>,
    /// Set when a trivial-case rule gave 0 (then `terms` is empty).
    pub trivial: Option<Trivial>,
    /// The back-door adjustment set Z used, increasing.
    pub adjustment: Vec<usize>,
    /// The mediators M of X → Y (de(X) ∩ an(Y)), increasing; empty for ATE, ETT, PN, PS.
    pub mediators: Vec<usize>,
    /// Every distinct observational quantity the formula reads, complements included (P(M=1|…)
    /// beside P(M=0|…), P(Z=1) beside P(Z=0)), in the order the benchmark states them. With z
    /// and m running over Z's and M's values in increasing binary order:
    /// - ATE, NDE without mediator: per z: P(y|x,z), P(y|x',z), P(z);
    /// - CDE: per z: P(y|x,m,z), P(y|x',m,z), P(z);
    /// - ETT: P(y|x), then per z: P(y|z,x'), P(z|x);
    /// - NDE: per z: P(z), then per m: P(y|m,x,z), P(y|m,x',z), P(m|x',z);
    /// - NIE: per z: P(z), then per m: P(y|m,x',z), P(m|x,z), P(m|x',z);
    /// - PN/PS: the do-terms P(v|u,z), P(z) of the interventional probability the bound needs,
    ///   then P(y) or P(y') (lower bound) or P(x',y') (upper bound), then the last of P(x,y) and
    ///   P(x',y') (for PN the denominator P(x,y); for PS's lower bound its denominator P(x',y')).
    ///
    /// Without Z the P(z) terms are absent. The benchmark leaves out the complements (only
    /// P(M=0|…) is printed, and NDE/NIE print P(Z=0) only); dropping them is the printer's job.
    pub terms: Vec<Term>,
}
