//! One optimiser update: forward/backward over the micro-batches, accumulation, the reduction
//! seam, the non-finite checks, clipping and the AdamW step — in that order, so a bad value is
//! caught before any weight changes.

use crate::accum::GradAccumulator;
use crate::clip::{check_finite_grads, check_finite_loss, clip_grad_norm};
use crate::metrics::{self, Metrics};
use crate::optim::AdamW;
use crate::params::NamedVar;
use crate::{Error, Result};

use super::reducer::GradReducer;
use super::{Method, Update};

/// What an update works on besides the method.
pub(crate) struct UpdateCtx<'a> {
    pub params: &'a [NamedVar],
    pub optimizer: &'a mut AdamW,
    pub reducer: &'a mut dyn GradReducer,
    pub max_grad_norm: f64,
}

/// Applies one optimiser update with learning rate `lr`; returns the micro-batches' merged
/// metrics plus `optim/grad_norm` (before clipping). `index` numbers the update in its step,
/// for error messages.
pub(crate) fn apply<M: Method>(
    method: &mut M,
    ctx: &mut UpdateCtx<'_>,
    update: &Update<M::Micro>,
    index: usize,
    lr: f64,
) -> Result<Metrics> {
    let mut acc = GradAccumulator::new();
    let mut merged = Metrics::new();
    for (i, micro) in update.micro_batches.iter().enumerate() {
        let (loss, m) = method.micro_loss(micro)?;
        check_finite_loss(&loss).map_err(|e| match e {
            Error::NonFinite { what, .. } => Error::NonFinite {
                what,
                param: format!("loss of micro-batch {i} of update {index}"),
            },
            other => other,
        })?;
        let grads = loss.backward()?;
        acc.add(ctx.params, &grads)?;
        merged.merge(&m);
    }
    let mut grads = acc.into_grads();
    ctx.reducer.reduce(ctx.params, &mut grads)?;
    check_finite_grads(ctx.params, &grads)?;
    let norm = clip_grad_norm(ctx.params, &mut grads, ctx.max_grad_norm)?;
    ctx.optimizer.step(&grads, lr)?;
    merged.insert(metrics::OPTIM_GRAD_NORM, norm);
    Ok(merged)
}

/// The same metrics, each to be averaged when merged (over a step's updates: a loss summed over
/// one update's micro-batches is one value per update, and a step reports the mean).
pub(crate) fn as_means(m: &Metrics) -> Metrics {
    let mut out = Metrics::new();
    for (name, v) in m.iter() {
        out.insert_named(name, metrics::Reduce::Mean, v);
    }
    out
}
