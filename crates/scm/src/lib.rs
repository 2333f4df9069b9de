//! Binary structural causal models and the CauGym estimands.
//!
//! Pure Rust, no tensors: everything is exact enumeration over at most [`MAX_NODES`] = 12 binary
//! nodes named `A, B, …` in topological letter order (every edge goes from an earlier to a later
//! letter, as in every CauGym problem).
//!
//! - [`Dag`]: parents, ancestors, descendants, directed paths, [mediators](Dag::mediators),
//!   [d-separation](Dag::d_separated), the [back-door criterion](Dag::is_backdoor_set) and the
//!   [smallest back-door sets](Dag::smallest_backdoor_sets) for one or several [`BackdoorQuery`]s.
//! - [`Scm`]: the DAG plus one CPT per node; [`Scm::joint`] gives the exact [`Joint`]
//!   (2^n probabilities) with masked-sum [`Joint::prob`] and [`Joint::cond`] over [`Event`]s;
//!   [`Scm::intervene`] and [`Scm::prob_do`] apply do() by truncated factorisation.
//! - [`Worlds`]: exact counterfactuals of the functional form V_i = 1[U_i < p_i(pa_i)] in K
//!   worlds sharing the noise (a twin network; [`Setting::Copy`] expresses nested
//!   counterfactuals such as Y_{x, M_{x'}}).
//! - The seven estimands of a [`Query`], two independent ways: [`identified`] applies CauGym's
//!   identification formulas to observational probabilities (and returns the adjustment set,
//!   mediators and every stated [`Term`] in an [`Estimate`]); [`from_model`] reads the true value
//!   off the model with do() and the multi-world evaluator. The tests check that they agree.
//!
//! Conventions: a full state is a `u16` with bit i = value of node i (the index into
//! [`Joint::probs`]); `cpts[i][k]` is P(V_i = 1) with bit j of k the value of the j-th parent in
//! increasing order. Anything that takes caller data returns [`Result`] with the crate's
//! [`Error`] (joint queries too, since an event may name a node outside the model); nothing
//! panics on bad input. Single-node graph accessors ([`Dag::parents`], [`Dag::ancestors`], …)
//! instead treat an unknown node as having no relatives.
//!
//! ```
//! use caugym_scm::{from_model, identified, Dag, Event, Query, Scm, Task};
//!
//! // A confounds B → C: A → B, A → C, B → C.
//! let dag = Dag::new(3, &[(0, 1), (0, 2), (1, 2)])?;
//! assert_eq!(dag.smallest_backdoor_sets(&[caugym_scm::BackdoorQuery::new(&[1], 2)?])?, vec![vec![0]]);
//! // cpts[i][k] = P(V_i = 1 | parents = bits of k, first parent = bit 0).
//! let scm = Scm::new(dag, vec![vec![0.4], vec![0.3, 0.8], vec![0.1, 0.5, 0.6, 0.9]])?;
//!
//! // P(C=1 | do(B=1)) = Σ_a P(C=1 | B=1, a) P(a) = 0.6·0.6 + 0.9·0.4 = 0.72.
//! let c1 = Event::new(&[(2, true)])?;
//! let p = scm.prob_do(c1, &[(1, true)], Event::ANY)?.unwrap_or(f64::NAN);
//! assert!((p - 0.72).abs() < 1e-12);
//!
//! // ATE of B on C at x = 1, y = 1: adjust for {A}; 0.72 − 0.26 = 0.46 either way.
//! let query = Query::new(Task::Ate, 1, 2, true, true);
//! let estimate = identified(&scm, &query)?;
//! assert_eq!(estimate.adjustment, vec![0]);
//! assert!((estimate.value - 0.46).abs() < 1e-12);
//! assert!((from_model(&scm, &query)? - 0.46).abs() < 1e-12);
//! # Ok::<(), caugym_scm::Error>(())
//! ```

mod dag;
mod error;
mod event;
mod identify;
mod joint;
mod nodeset;
mod query;
mod scm;
mod separation;
mod task;
mod truth;
mod worlds;

pub use dag::Dag;
pub use error::{Error, Result};
pub use event::{Assignment, Event};
pub use identify::{adjustment_queries, identified, identified_with};
pub use joint::Joint;
pub use nodeset::{NodeSet, Nodes, node_letter};
pub use query::{Bound, Bounds, Estimate, Query, Term, Trivial};
pub use scm::Scm;
pub use separation::BackdoorQuery;
pub use task::{Task, UnknownTask};
pub use truth::from_model;
pub use worlds::{MAX_WORLDS, Setting, World, Worlds};

/// The most nodes a graph may have (node 11 is `L`).
pub const MAX_NODES: usize = 12;
