//! Per-token KL estimators to the reference policy (Schulman 2020, "Approximating KL
//! Divergence"; algorithms.md "GRPO").

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::agg::{AggNorm, LossAgg, aggregate};
use crate::metrics::{self, Metrics};
use crate::shape::{float_dtype, same};

/// Bound on `ref - logp` before `exp` in k3 (as verl's `low_var_kl`).
const LOG_RATIO_BOUND: f64 = 20.0;

/// Estimator of `KL(pi || ref)` from tokens sampled from `pi` (config key `kl_estimator`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KlEstimator {
    /// `logp - ref`: unbiased, high variance, can be negative.
    K1,
    /// `(logp - ref)² / 2`: biased, low variance, non-negative.
    K2,
    /// `exp(ref - logp) - (ref - logp) - 1`: unbiased, low variance, non-negative (GRPO).
    K3,
}

/// Per-token KL estimate, `[B, T]` from `logp`, `ref_logp` `[B, T]` (reference detached).
///
/// For k3 the log-ratio `ref - logp` is clamped to `[-20, 20]` before `exp`.
pub fn kl(logp: &Tensor, ref_logp: &Tensor, estimator: KlEstimator) -> Result<Tensor> {
    let dtype = float_dtype("logp", logp)?;
    same("ref_logp", ref_logp, logp)?;
    let diff = (logp - ref_logp.detach().to_dtype(dtype)?)?; // logp - ref
    let out = match estimator {
        KlEstimator::K1 => diff,
        KlEstimator::K2 => diff.sqr()?.affine(0.5, 0.0)?,
        KlEstimator::K3 => {
            let d = diff.neg()?.clamp(-LOG_RATIO_BOUND, LOG_RATIO_BOUND)?; // ref - logp
            ((d.exp()? - d)? - 1.0)?
        }
    };
    Ok(out)
}

/// The KL-to-reference loss term `agg(KL_t)` (to be added as `beta * term`), with metric
/// `actor/kl` (the aggregated value, this micro-batch's contribution).
///
/// Shapes: logp, ref_logp, mask `[B, T]` -> scalar.
pub fn kl_loss(
    logp: &Tensor,
    ref_logp: &Tensor,
    mask: &Tensor,
    estimator: KlEstimator,
    agg: LossAgg,
    norm: &AggNorm,
) -> Result<(Tensor, Metrics)> {
    let per_token = kl(logp, ref_logp, estimator)?;
    let loss = aggregate(&per_token, mask, agg, norm)?;
    let m = metrics::from_scalars(&[(metrics::ACTOR_KL, &loss)])?;
    Ok((loss, m))
}
