//! (b) The estimands read off the model itself: interventional distributions by do() on the
//! CPTs, counterfactuals by the multi-world evaluator on the functional form.
//!
//! Nothing here uses an adjustment set or an identification formula, so agreement with
//! [`identified`](crate::identified) is evidence for both.

use crate::{Error, Event, Query, Result, Scm, Setting, Task, World, Worlds};

/// The true value of the query's estimand in `scm`, with x, y, x', y' as in [`Query`]:
/// - ATE = P(Y=y | do(x)) − P(Y=y | do(x'));
/// - CDE = P(Y=y | do(x, m)) − P(Y=y | do(x', m)), m the query's mediator values;
/// - ETT = P(Y_x = y | X = x) − P(Y_{x'} = y | X = x);
/// - NDE = P(Y_{x, M_{x'}} = y) − P(Y_{x'} = y);
/// - NIE = P(Y_{x', M_x} = y) − P(Y_{x'} = y);
/// - PN = P(Y_{x'} = y' | X = x, Y = y) and PS = P(Y_x = y | X = x', Y = y'): the point value
///   in this functional SCM (comonotone noise), which the Tian–Pearl bounds must contain.
///
/// M is every mediator of X→Y; a nested world sets each of them to its value in the other world.
pub fn from_model(scm: &Scm, query: &Query) -> Result<f64> {
    query.check(scm.dag())?;
    let (x, xv, yv) = (query.treatment, query.x_val, query.y_val);
    let y_is = |v: bool| Event::raw_single(query.outcome, v);
    match query.task {
        Task::Ate => Ok(do_prob(scm, y_is(yv), &[(x, xv)])? - do_prob(scm, y_is(yv), &[(x, !xv)])?),
        Task::Cde => {
            let with_x = |v: bool| {
                let mut set = vec![(x, v)];
                set.extend(query.mediator_values.iter());
                set
            };
            Ok(do_prob(scm, y_is(yv), &with_x(xv))? - do_prob(scm, y_is(yv), &with_x(!xv))?)
        }
        Task::Ett => {
            let treated = Event::raw_single(x, xv);
            Ok(counterfactual(scm, treated, (x, xv), y_is(yv))?
                - counterfactual(scm, treated, (x, !xv), y_is(yv))?)
        }
        Task::Nde => Ok(nested(scm, query, xv, !xv)? - do_prob(scm, y_is(yv), &[(x, !xv)])?),
        Task::Nie => Ok(nested(scm, query, !xv, xv)? - do_prob(scm, y_is(yv), &[(x, !xv)])?),
        Task::Pn => {
            let factual = Event::raw_single(x, xv)
                .and(y_is(yv))
                .ok_or(Error::TreatmentIsOutcome { node: x })?;
            counterfactual(scm, factual, (x, !xv), y_is(!yv))
        }
        Task::Ps => {
            let factual = Event::raw_single(x, !xv)
                .and(y_is(!yv))
                .ok_or(Error::TreatmentIsOutcome { node: x })?;
            counterfactual(scm, factual, (x, xv), y_is(yv))
        }
    }
}

/// P(event | do(interventions)) from the truncated factorisation.
fn do_prob(scm: &Scm, event: Event, interventions: &[(usize, bool)]) -> Result<f64> {
    scm.prob_do(event, interventions, Event::ANY)?
        .ok_or(Error::ZeroProbability { event: Event::ANY })
}

/// P(event holds in the world do(X = x_cf) | factual holds in the actual world), `x` being X.
fn counterfactual(
    scm: &Scm,
    factual: Event,
    (x, x_cf): (usize, bool),
    event: Event,
) -> Result<f64> {
    let worlds = Worlds::new(scm, &[World::factual(), World::intervened(&[(x, x_cf)])?])?;
    worlds
        .cond(&[Event::ANY, event], &[factual])?
        .ok_or(Error::ZeroProbability { event: factual })
}

/// P(Y_{outer, M_{inner}} = y): world 0 sets X = inner; world 1 sets X = outer and copies every
/// mediator from world 0.
fn nested(scm: &Scm, query: &Query, outer: bool, inner: bool) -> Result<f64> {
    let x = query.treatment;
    let mut settings = vec![(x, Setting::Value(outer))];
    for m in scm.dag().mediator_set(x, query.outcome) {
        settings.push((m, Setting::Copy { world: 0, node: m }));
    }
    let worlds = Worlds::new(
        scm,
        &[World::intervened(&[(x, inner)])?, World::new(&settings)?],
    )?;
    worlds.prob(&[Event::ANY, Event::raw_single(query.outcome, query.y_val)])
}
