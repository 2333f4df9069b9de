//! Choosing an item's structure: a random DAG and a (treatment, outcome) pair of the requested
//! class — trivial (no causal path / edge / mediator), identified without adjustment, or
//! identified with a one-node back-door set.

use caugym_scm::{Dag, Query as ScmQuery, Task, adjustment_queries};
use rand::Rng;
use rand::seq::IndexedRandom;

use crate::error::{Error, Result};

/// The structural class of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// The estimand is 0 by the graph (never for PN/PS).
    Trivial,
    /// Identified with the empty adjustment set.
    Unadjusted,
    /// Identified with a one-node adjustment set (and no smaller one).
    Adjusted,
}

/// The chosen graph and pair.
#[derive(Debug, Clone)]
pub struct Structure {
    /// The graph.
    pub dag: Dag,
    /// X.
    pub treatment: usize,
    /// Y.
    pub outcome: usize,
    /// NDE/NIE: the mediators (at most one); CDE: every mediator, held fixed.
    pub mediators: Vec<usize>,
    /// The adjustment set (empty, or one node drawn among the minimum sets).
    pub adjustment: Vec<usize>,
}

/// A pair's class, the mediators kept, and every minimum adjustment set.
type Classified = (Class, Vec<usize>, Vec<Vec<usize>>);

/// The class of `(x, y)` for `task` in `dag`, its mediators and all minimum adjustment sets, or
/// `None` when the pair is outside the benchmark's shapes (PN/PS without a causal path, NDE/NIE
/// with several mediators, adjustment sets of two or more nodes).
fn classify(dag: &Dag, task: Task, x: usize, y: usize) -> Result<Option<Classified>> {
    let mediators = dag.mediators(x, y);
    let trivial = match task {
        Task::Ate | Task::Ett => !dag.is_ancestor(x, y),
        // A CDE question names the mediators it holds fixed: the benchmark always has some.
        Task::Cde if mediators.is_empty() => return Ok(None),
        Task::Cde if !dag.has_edge(x, y) => {
            return Ok(Some((Class::Trivial, mediators, Vec::new())));
        }
        Task::Cde | Task::Nde => !dag.has_edge(x, y),
        Task::Nie => mediators.is_empty(),
        Task::Pn | Task::Ps => {
            if !dag.is_ancestor(x, y) {
                return Ok(None);
            }
            false
        }
    };
    if trivial {
        return Ok(Some((Class::Trivial, Vec::new(), Vec::new())));
    }
    let kept = match task {
        Task::Nde | Task::Nie if mediators.len() > 1 => return Ok(None),
        Task::Cde | Task::Nde | Task::Nie => mediators,
        _ => Vec::new(),
    };
    let queries = adjustment_queries(dag, &ScmQuery::new(task, x, y, true, true))?;
    let sets = dag.smallest_backdoor_sets(&queries)?;
    let class = match sets.first().map(Vec::len) {
        Some(0) => Class::Unadjusted,
        Some(1) => Class::Adjusted,
        _ => return Ok(None),
    };
    Ok(Some((class, kept, sets)))
}

/// Draws graphs with `nodes` in `[min, max]` and pairs until one of class `want` appears.
pub fn choose<R: Rng + ?Sized>(
    rng: &mut R,
    task: Task,
    want: Class,
    (min, max): (usize, usize),
) -> Result<Structure> {
    const GRAPHS: usize = 2000;
    const PAIRS: usize = 24;
    for _ in 0..GRAPHS {
        let n = rng.random_range(min..=max);
        if n < 2 || (want == Class::Adjusted && n < 3) {
            continue;
        }
        let edge_prob = rng.random_range(0.25..0.6);
        let dag = Dag::random(rng, n, edge_prob)?;
        // Every variable must appear in an edge sentence, or the text would never name it.
        if (0..n).any(|i| dag.parents(i).is_empty() && dag.children(i).is_empty()) {
            continue;
        }
        for _ in 0..PAIRS {
            let (mut x, mut y) = (rng.random_range(0..n), rng.random_range(0..n - 1));
            if y >= x {
                y += 1;
            }
            // Non-trivial items need X before Y in the topological letter order.
            if want != Class::Trivial && x > y {
                std::mem::swap(&mut x, &mut y);
            }
            // Without a parent, X has no back-door path to confound it: cheap to rule out.
            if want == Class::Adjusted && dag.parents(x).is_empty() {
                continue;
            }
            let Some((class, mediators, sets)) = classify(&dag, task, x, y)? else {
                continue;
            };
            if class != want {
                continue;
            }
            let adjustment = sets.choose(rng).cloned().unwrap_or_default();
            return Ok(Structure {
                dag,
                treatment: x,
                outcome: y,
                mediators,
                adjustment,
            });
        }
    }
    Err(Error::Generate(format!(
        "no {task} item of class {want:?} with {min}-{max} nodes after {GRAPHS} graphs"
    )))
}
