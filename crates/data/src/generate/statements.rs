//! The probability sentences of a generated item: the needed ones in the benchmark's fixed order,
//! their printed values from the joint distribution, and the redundant variant's extras.

use caugym_scm::{Event, Joint, Task};
use rand::Rng;

use crate::answer::round4;
use crate::error::{Error, Result};
use crate::problem::{Bound, Lit, Statement};

/// A probability to state: P(event | given), literals in printed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The event (one literal, two for a joint).
    pub event: Vec<Lit>,
    /// The conditions, in printed order.
    pub given: Vec<Lit>,
}

fn spec(event: &[Lit], given: &[Lit]) -> Spec {
    Spec {
        event: event.to_vec(),
        given: given.to_vec(),
    }
}

/// What the needed statements depend on.
pub struct Needs<'a> {
    /// The estimand.
    pub task: Task,
    /// X = x (the question's value; PN/PS: the observed value).
    pub x: Lit,
    /// Y = y.
    pub y: Lit,
    /// The adjustment node, if any.
    pub z: Option<usize>,
    /// NDE/NIE: the mediator, if any.
    pub m: Option<usize>,
    /// CDE: the mediators at their held values, in question order.
    pub held: &'a [Lit],
    /// PN/PS: the bound.
    pub bound: Option<Bound>,
}

/// The needed statements in the benchmark's order (causal-tasks.md; conditions ordered as the
/// benchmark orders them: treatment then adjuster, CDE treatment-mediators-adjuster, ETT's
/// counterfactual term adjuster first, NDE/NIE outcome terms mediator first). Only P(M=0|…) is
/// stated for mediators, only P(Z=0) for NDE/NIE; PN/PS upper bounds state P(X=0,Y=0) before
/// P(X=1,Y=1).
pub fn needed(n: &Needs) -> Vec<Spec> {
    let zs: Vec<Option<Lit>> = match n.z {
        Some(z) => vec![Some(Lit::new(z, 0)), Some(Lit::new(z, 1))],
        None => vec![None],
    };
    match n.task {
        Task::Ate => controlled(n.x, n.y, &[], &zs),
        Task::Cde => controlled(n.x, n.y, n.held, &zs),
        Task::Ett => treated(n.x, n.y, &zs),
        Task::Nde | Task::Nie => natural(n, &zs),
        Task::Pn | Task::Ps => bounds(n.x, n.y, n.bound.unwrap_or(Bound::Lower), &zs),
    }
}

/// `base` followed by the adjustment literal, if any.
fn with(base: &[Lit], z: Option<Lit>) -> Vec<Lit> {
    base.iter().copied().chain(z).collect()
}

/// ATE and CDE: per z, P(y|x,m,z), P(y|x',m,z), P(z).
fn controlled(x: Lit, y: Lit, held: &[Lit], zs: &[Option<Lit>]) -> Vec<Spec> {
    let mut out = Vec::new();
    for &z in zs {
        for first in [x, x.flip()] {
            let mut given = vec![first];
            given.extend(held);
            out.push(spec(&[y], &with(&given, z)));
        }
        out.extend(z.map(|z| spec(&[z], &[])));
    }
    out
}

/// ETT: P(y|x), then per z P(y|z,x') (adjuster first) and P(z|x).
fn treated(x: Lit, y: Lit, zs: &[Option<Lit>]) -> Vec<Spec> {
    let mut out = vec![spec(&[y], &[x])];
    for &z in zs {
        match z {
            Some(z) => {
                out.push(spec(&[y], &[z, x.flip()]));
                out.push(spec(&[z], &[x]));
            }
            None => out.push(spec(&[y], &[x.flip()])),
        }
    }
    out
}

/// NDE/NIE: P(Z=0), then per z the outcome terms (mediator first) and P(M=0|…).
fn natural(n: &Needs, zs: &[Option<Lit>]) -> Vec<Spec> {
    let (x, y) = (n.x, n.y);
    let xp = x.flip();
    let mut out: Vec<Spec> =
        n.z.map(|z| spec(&[Lit::new(z, 0)], &[]))
            .into_iter()
            .collect();
    for &z in zs {
        match n.m {
            None => {
                out.push(spec(&[y], &with(&[x], z)));
                out.push(spec(&[y], &with(&[xp], z)));
            }
            Some(m) if n.task == Task::Nde => {
                for mv in [0, 1] {
                    let ml = Lit::new(m, mv);
                    out.push(spec(&[y], &with(&[ml, x], z)));
                    out.push(spec(&[y], &with(&[ml, xp], z)));
                    if mv == 0 {
                        out.push(spec(&[ml], &with(&[xp], z)));
                    }
                }
            }
            Some(m) => {
                let m0 = Lit::new(m, 0);
                out.push(spec(&[y], &with(&[m0, xp], z)));
                out.push(spec(&[m0], &with(&[x], z)));
                out.push(spec(&[m0], &with(&[xp], z)));
                out.push(spec(&[y], &with(&[m0.flip(), xp], z)));
            }
        }
    }
    out
}

/// PN/PS: the terms of P(y*|do(x')), then P(y) and P(x,y) (lower bound) or P(X=0,Y=0) and
/// P(X=1,Y=1) (upper bound).
fn bounds(x: Lit, y: Lit, bound: Bound, zs: &[Option<Lit>]) -> Vec<Spec> {
    let target = if bound == Bound::Lower { y } else { y.flip() };
    let mut out = Vec::new();
    for &z in zs {
        out.push(spec(&[target], &with(&[x.flip()], z)));
        out.extend(z.map(|z| spec(&[z], &[])));
    }
    let (x0, y0) = (Lit::new(x.node, 0), Lit::new(y.node, 0));
    match bound {
        Bound::Lower => {
            out.push(spec(&[y], &[]));
            out.push(spec(&[x, y], &[]));
        }
        Bound::Upper => {
            out.push(spec(&[x0, y0], &[]));
            out.push(spec(&[x0.flip(), y0.flip()], &[]));
        }
    }
    out
}

/// Conditioning events and PN/PS denominators below this are rejected (causal-tasks.md, Rule).
pub const MIN_EVENT: f64 = 0.05;

fn event(lits: &[Lit]) -> Result<Event> {
    let pairs: Vec<(usize, bool)> = lits.iter().map(|l| (l.node, l.value == 1)).collect();
    Ok(Event::new(&pairs)?)
}

/// P(given) of a spec (1 for an unconditional one).
pub fn given_prob(joint: &Joint, s: &Spec) -> Result<f64> {
    Ok(joint.prob(event(&s.given)?)?)
}

/// The printed statement of a spec: its value from the joint, rounded to 4 decimals. Fails when
/// the conditioning event has probability below [`MIN_EVENT`].
pub fn state(joint: &Joint, s: &Spec) -> Result<Statement> {
    let pg = given_prob(joint, s)?;
    if pg < MIN_EVENT {
        return Err(Error::Generate(format!(
            "conditioning event of probability {pg:.4} < {MIN_EVENT}"
        )));
    }
    let p = joint
        .cond(event(&s.event)?, event(&s.given)?)?
        .ok_or_else(|| Error::Generate("zero-probability condition".into()))?;
    Ok(Statement {
        event: s.event.clone(),
        given: s.given.clone(),
        prob: round4(p),
    })
}

/// A random true statement over `n` nodes (conditional, marginal or joint) that is none of
/// `avoid` (nor a complement of one).
pub fn random_spec<R: Rng + ?Sized>(rng: &mut R, n: usize, avoid: &[Spec]) -> Option<Spec> {
    if n < 2 {
        return None;
    }
    let lit = |rng: &mut R, node: usize| Lit::new(node, rng.random_range(0..=1));
    let mut nodes: Vec<usize> = (0..n).collect();
    for _ in 0..32 {
        // Shuffle the first few positions.
        for i in 0..n.min(4) {
            let j = rng.random_range(i..n);
            nodes.swap(i, j);
        }
        let candidate = match rng.random_range(0..4) {
            0 => spec(&[lit(rng, nodes[0])], &[]),
            1 if n >= 2 => spec(&[lit(rng, nodes[0]), lit(rng, nodes[1])], &[]),
            2 if n >= 3 => spec(
                &[lit(rng, nodes[0])],
                &[lit(rng, nodes[1]), lit(rng, nodes[2])],
            ),
            _ => spec(&[lit(rng, nodes[0])], &[lit(rng, nodes[1])]),
        };
        let same = |a: &Spec| {
            let mut g1 = a.given.clone();
            let mut g2 = candidate.given.clone();
            g1.sort();
            g2.sort();
            let nodes_of = |v: &[Lit]| {
                let mut k: Vec<usize> = v.iter().map(|l| l.node).collect();
                k.sort();
                k
            };
            g1 == g2 && nodes_of(&a.event) == nodes_of(&candidate.event)
        };
        if !avoid.iter().any(same) {
            return Some(candidate);
        }
    }
    None
}
