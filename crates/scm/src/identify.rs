//! (a) The estimands by CauGym's identification formulas, evaluated on observational
//! probabilities of the joint distribution (causal-tasks.md, "The seven tasks").
//!
//! Nothing here looks at the structural equations: the model is used only through its joint
//! distribution and its graph, exactly as a solver of a benchmark item would.

use crate::{
    Assignment, BackdoorQuery, Bound, Bounds, Dag, Error, Estimate, Joint, NodeSet, Query, Result,
    Scm, Task, Term, Trivial,
};

/// Identification with the adjustment set that [`Dag::smallest_backdoor_sets`] lists first.
pub fn identified(scm: &Scm, query: &Query) -> Result<Estimate> {
    identified_with(scm.dag(), &scm.joint(), query, None)
}

/// Identification on a precomputed joint, with an explicit adjustment set or (`None`) the first
/// minimum one. An explicit set must satisfy every back-door query the task needs
/// ([`adjustment_queries`]), else [`Error::InvalidAdjustment`].
///
/// Trivial-case rules come first and give 0 with no terms: ATE and ETT when X is not an ancestor
/// of Y, CDE and NDE without an edge X→Y, NIE without a mediator. PN and PS are never trivial;
/// when X is not an ancestor of Y their interventional term P(v | do(u)) is the marginal P(v)
/// (Y is then unaffected by do(X); do-calculus rule 3) and no adjustment set is used.
///
/// In a fully observed DAG every non-trivial query has a back-door set ((pa(X) ∪ pa(M)) \ (X ∪ M)
/// contains only non-descendants of X and satisfies all the queries), so
/// [`Error::NoAdjustmentSet`] is a guard rather than an expected outcome; a zero-probability
/// conditioning event or PN/PS denominator is [`Error::ZeroProbability`].
pub fn identified_with(
    dag: &Dag,
    joint: &Joint,
    query: &Query,
    adjustment: Option<&[usize]>,
) -> Result<Estimate> {
    query.check(dag)?;
    if joint.n() != dag.n() {
        return Err(Error::JointSize {
            joint: joint.n(),
            dag: dag.n(),
        });
    }
    let (x, y) = (query.treatment, query.outcome);
    let mediators = match query.task {
        Task::Cde | Task::Nde | Task::Nie => dag.mediators(x, y),
        Task::Ate | Task::Ett | Task::Pn | Task::Ps => Vec::new(),
    };
    let trivial = trivial_rule(dag, query);
    let pn_ps_without_path = matches!(query.task, Task::Pn | Task::Ps) && !dag.is_ancestor(x, y);
    let adjustment = if trivial.is_some() || pn_ps_without_path {
        Vec::new()
    } else {
        choose_adjustment(dag, query, adjustment)?
    };
    let mut estimate = Estimate {
        value: 0.0,
        bounds: None,
        trivial,
        adjustment,
        mediators,
        terms: Vec::new(),
    };
    if trivial.is_some() {
        return Ok(estimate);
    }
    let mut calc = Calc {
        joint,
        terms: Vec::new(),
        record: true,
    };
    let (z, m) = (&estimate.adjustment, &estimate.mediators);
    match query.task {
        Task::Ate => estimate.value = ate(&mut calc, query, z)?,
        Task::Cde => estimate.value = cde(&mut calc, query, z)?,
        Task::Ett => estimate.value = ett(&mut calc, query, z)?,
        Task::Nde if m.is_empty() => estimate.value = ate(&mut calc, query, z)?,
        Task::Nde => estimate.value = nde(&mut calc, query, z, m)?,
        Task::Nie => estimate.value = nie(&mut calc, query, z, m)?,
        Task::Pn | Task::Ps => {
            let bounds = pn_ps_bounds(&mut calc, query, z, pn_ps_without_path)?;
            estimate.value = match query.bound {
                Bound::Lower => bounds.lower,
                Bound::Upper => bounds.upper,
            };
            estimate.bounds = Some(bounds);
        }
    }
    estimate.terms = calc.terms;
    Ok(estimate)
}

/// The back-door queries whose common solutions are the admissible adjustment sets: X→Y for
/// ATE, ETT, PN, PS; do(X, M)→Y for CDE; X→Y, X→M_i for each mediator, and do(X, M)→Y at once
/// for NDE and NIE (just X→Y without mediators), M being every mediator of X→Y.
pub fn adjustment_queries(dag: &Dag, query: &Query) -> Result<Vec<BackdoorQuery>> {
    let (x, y) = (query.treatment, query.outcome);
    dag.check_node(x)?;
    dag.check_node(y)?;
    let mediators = dag.mediator_set(x, y);
    let x_set = NodeSet::from_nodes(&[x])?;
    let x_to_y = BackdoorQuery::from_set(x_set, y)?;
    let joint_to_y = BackdoorQuery::from_set(x_set.union(mediators), y)?;
    Ok(match query.task {
        Task::Ate | Task::Ett | Task::Pn | Task::Ps => vec![x_to_y],
        Task::Cde => vec![joint_to_y],
        Task::Nde | Task::Nie => {
            let mut queries = vec![x_to_y];
            for m in mediators {
                queries.push(BackdoorQuery::from_set(x_set, m)?);
            }
            if !mediators.is_empty() {
                queries.push(joint_to_y);
            }
            queries
        }
    })
}

/// The trivial-case rule that applies to the query, if any.
fn trivial_rule(dag: &Dag, query: &Query) -> Option<Trivial> {
    let (x, y) = (query.treatment, query.outcome);
    match query.task {
        Task::Ate | Task::Ett if !dag.is_ancestor(x, y) => Some(Trivial::NotAncestor),
        Task::Cde | Task::Nde if !dag.has_edge(x, y) => Some(Trivial::NoDirectEdge),
        Task::Nie if dag.mediator_set(x, y).is_empty() => Some(Trivial::NoMediator),
        _ => None,
    }
}

fn choose_adjustment(dag: &Dag, query: &Query, explicit: Option<&[usize]>) -> Result<Vec<usize>> {
    let queries = adjustment_queries(dag, query)?;
    match explicit {
        Some(z) => {
            let set = NodeSet::from_nodes(z)?;
            for q in &queries {
                if !dag.is_backdoor_set_for(q, set)? {
                    return Err(Error::InvalidAdjustment {
                        task: query.task,
                        set: z.to_vec(),
                    });
                }
            }
            Ok(set.to_vec())
        }
        None => dag
            .smallest_backdoor_sets(&queries)?
            .into_iter()
            .next()
            .ok_or(Error::NoAdjustmentSet {
                task: query.task,
                treatment: query.treatment,
                outcome: query.outcome,
            }),
    }
}

/// Reads conditional probabilities off the joint and records each distinct one once.
struct Calc<'j> {
    joint: &'j Joint,
    terms: Vec<Term>,
    record: bool,
}

type Pairs = Vec<(usize, bool)>;

impl Calc<'_> {
    /// P(target | given parts in order); a zero-probability condition is an error.
    fn p(&mut self, target: &[(usize, bool)], given: &[&[(usize, bool)]]) -> Result<f64> {
        let target = Assignment::new(target)?;
        let given = Assignment::from_parts(given)?;
        let value =
            self.joint
                .cond(target.event(), given.event())?
                .ok_or(Error::ZeroProbability {
                    event: given.event(),
                })?;
        let seen =
            |t: &Term| t.target.event() == target.event() && t.given.event() == given.event();
        if self.record && !self.terms.iter().any(seen) {
            self.terms.push(Term {
                target,
                given,
                value,
            });
        }
        Ok(value)
    }

    /// P(z), or 1 for the empty adjustment (not recorded).
    fn marginal(&mut self, z: &[(usize, bool)]) -> Result<f64> {
        if z.is_empty() {
            Ok(1.0)
        } else {
            self.p(z, &[])
        }
    }
}

/// Every assignment of `nodes`, in increasing binary order with the first node most significant.
fn configs(nodes: &[usize]) -> impl Iterator<Item = Pairs> + '_ {
    let k = nodes.len();
    (0..1usize << k).map(move |bits| {
        nodes
            .iter()
            .enumerate()
            .map(|(j, &node)| (node, bits >> (k - 1 - j) & 1 == 1))
            .collect()
    })
}

/// ATE = Σ_z [P(y|x,z) − P(y|x',z)] P(z); also NDE without a mediator.
fn ate(c: &mut Calc, q: &Query, z: &[usize]) -> Result<f64> {
    let (x, y, xv, yv) = (q.treatment, q.outcome, q.x_val, q.y_val);
    let mut sum = 0.0;
    for zc in configs(z) {
        let a = c.p(&[(y, yv)], &[&[(x, xv)], &zc])?;
        let b = c.p(&[(y, yv)], &[&[(x, !xv)], &zc])?;
        sum += (a - b) * c.marginal(&zc)?;
    }
    Ok(sum)
}

/// CDE = Σ_z [P(y|x,m,z) − P(y|x',m,z)] P(z), m the question's mediator values.
fn cde(c: &mut Calc, q: &Query, z: &[usize]) -> Result<f64> {
    let (x, y, xv, yv) = (q.treatment, q.outcome, q.x_val, q.y_val);
    let m: Pairs = q.mediator_values.iter().collect();
    let mut sum = 0.0;
    for zc in configs(z) {
        let a = c.p(&[(y, yv)], &[&[(x, xv)], &m, &zc])?;
        let b = c.p(&[(y, yv)], &[&[(x, !xv)], &m, &zc])?;
        sum += (a - b) * c.marginal(&zc)?;
    }
    Ok(sum)
}

/// ETT = P(y|x) − Σ_z P(y|x',z) P(z|x): factual minus counterfactual, x the treated value.
fn ett(c: &mut Calc, q: &Query, z: &[usize]) -> Result<f64> {
    let (x, y, xv, yv) = (q.treatment, q.outcome, q.x_val, q.y_val);
    let factual = c.p(&[(y, yv)], &[&[(x, xv)]])?;
    let mut counterfactual = 0.0;
    for zc in configs(z) {
        let a = c.p(&[(y, yv)], &[&zc, &[(x, !xv)]])?;
        let pz = if zc.is_empty() {
            1.0
        } else {
            c.p(&zc, &[&[(x, xv)]])?
        };
        counterfactual += a * pz;
    }
    Ok(factual - counterfactual)
}

/// NDE = Σ_{m,z} [P(y|x,m,z) − P(y|x',m,z)] P(m|x',z) P(z).
fn nde(c: &mut Calc, q: &Query, z: &[usize], m: &[usize]) -> Result<f64> {
    let (x, y, xv, yv) = (q.treatment, q.outcome, q.x_val, q.y_val);
    let mut sum = 0.0;
    for zc in configs(z) {
        let pz = c.marginal(&zc)?;
        for mc in configs(m) {
            let a = c.p(&[(y, yv)], &[&mc, &[(x, xv)], &zc])?;
            let b = c.p(&[(y, yv)], &[&mc, &[(x, !xv)], &zc])?;
            let pm = c.p(&mc, &[&[(x, !xv)], &zc])?;
            sum += (a - b) * pm * pz;
        }
    }
    Ok(sum)
}

/// NIE = Σ_{m,z} P(y|x',m,z) [P(m|x,z) − P(m|x',z)] P(z).
fn nie(c: &mut Calc, q: &Query, z: &[usize], m: &[usize]) -> Result<f64> {
    let (x, y, xv, yv) = (q.treatment, q.outcome, q.x_val, q.y_val);
    let mut sum = 0.0;
    for zc in configs(z) {
        let pz = c.marginal(&zc)?;
        for mc in configs(m) {
            let a = c.p(&[(y, yv)], &[&mc, &[(x, !xv)], &zc])?;
            let p1 = c.p(&mc, &[&[(x, xv)], &zc])?;
            let p0 = c.p(&mc, &[&[(x, !xv)], &zc])?;
            sum += a * (p1 - p0) * pz;
        }
    }
    Ok(sum)
}

/// P(Y = v | do(X = u)) = Σ_z P(v|u,z) P(z), or P(v) when X is not an ancestor of Y.
fn do_prob(
    c: &mut Calc,
    q: &Query,
    z: &[usize],
    (u, v): (bool, bool),
    no_path: bool,
) -> Result<f64> {
    let (x, y) = (q.treatment, q.outcome);
    if no_path {
        return c.p(&[(y, v)], &[]);
    }
    let mut sum = 0.0;
    for zc in configs(z) {
        let a = c.p(&[(y, v)], &[&[(x, u)], &zc])?;
        sum += a * c.marginal(&zc)?;
    }
    Ok(sum)
}

/// Tian–Pearl bounds. PN = P(Y_{x'} = y' | x, y) and PS = P(Y_x = y | x', y') are both
/// P(Y_{a'} = b' | a, b) for the factual (a, b) = (x, y) resp. (x', y'), bounded by
/// max{0, [P(b) − P(b | do(a'))] / P(a, b)} ≤ · ≤ min{1, [P(b' | do(a')) − P(a', b')] / P(a, b)}.
/// The asked bound is computed first so its terms are the ones recorded, in the benchmark's order.
fn pn_ps_bounds(c: &mut Calc, q: &Query, z: &[usize], no_path: bool) -> Result<Bounds> {
    let (x, y) = (q.treatment, q.outcome);
    let (a, b) = match q.task {
        Task::Ps => (!q.x_val, !q.y_val),
        _ => (q.x_val, q.y_val),
    };
    let mut bounds = Bounds {
        lower: 0.0,
        upper: 0.0,
    };
    let order = match q.bound {
        Bound::Lower => [Bound::Lower, Bound::Upper],
        Bound::Upper => [Bound::Upper, Bound::Lower],
    };
    for (k, bound) in order.into_iter().enumerate() {
        c.record = k == 0;
        match bound {
            Bound::Lower => {
                let interventional = do_prob(c, q, z, (!a, b), no_path)?;
                let marginal = c.p(&[(y, b)], &[])?;
                let denom = c.p(&[(x, a), (y, b)], &[])?;
                bounds.lower =
                    ((marginal - interventional) / positive(denom, x, a, y, b)?).max(0.0);
            }
            Bound::Upper => {
                let interventional = do_prob(c, q, z, (!a, !b), no_path)?;
                // Stated as P(x', y') then P(x, y) in Pearl's (x, y) for both tasks; the
                // denominator is the factual P(a, b): P(x, y) for PN, P(x', y') for PS.
                let p_neg = c.p(&[(x, !q.x_val), (y, !q.y_val)], &[])?;
                let p_pos = c.p(&[(x, q.x_val), (y, q.y_val)], &[])?;
                let (denom, other) = if q.task == Task::Ps {
                    (p_neg, p_pos)
                } else {
                    (p_pos, p_neg)
                };
                bounds.upper = ((interventional - other) / positive(denom, x, a, y, b)?).min(1.0);
            }
        }
    }
    Ok(bounds)
}

/// `denom` if positive, else the zero-probability error for P(X = a, Y = b).
fn positive(denom: f64, x: usize, a: bool, y: usize, b: bool) -> Result<f64> {
    if denom > 0.0 {
        Ok(denom)
    } else {
        Err(Error::ZeroProbability {
            event: Assignment::new(&[(x, a), (y, b)])?.event(),
        })
    }
}
