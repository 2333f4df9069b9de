//! The clipped surrogate policy loss shared by PPO and GRPO.

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

use crate::agg::{AggNorm, LossAgg, aggregate};
use crate::metrics::{self, Metrics};
use crate::shape::{dims2, float_dtype, in_range, mask_like, same};
use crate::{Error, Result};

/// Bound on `|logp - old_logp|` before `exp` (algorithms.md "GRPO"; verl).
const LOG_RATIO_BOUND: f64 = 20.0;

/// Per-token inputs of the surrogate.
#[derive(Clone, Copy, Debug)]
pub struct PolicyBatch<'a> {
    /// `[B, T]` log-prob of the sampled tokens under the current policy (with gradient).
    pub logp: &'a Tensor,
    /// `[B, T]` log-prob under the policy that sampled the batch (detached here).
    pub old_logp: &'a Tensor,
    /// `[B, T]` per-token advantages (PPO) or `[B]` per-sequence advantages broadcast over
    /// the row (GRPO). Detached here.
    pub advantages: &'a Tensor,
    /// `[B, T]` 1 on completion tokens that count.
    pub mask: &'a Tensor,
}

/// Ratio clip range and optional dual clip (config keys `clip_ratio_low`, `clip_ratio_high`,
/// `clip_ratio_c`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClipRange {
    /// Lower clip `1 - eps_low`, in `[0, 1)`; 0.2 by default.
    pub eps_low: f64,
    /// Upper clip `1 + eps_high`, `>= 0`; 0.2 by default, 0.28 in DAPO (clip-higher).
    pub eps_high: f64,
    /// Dual-clip constant `c > 1` (Ye et al. 2020, verl `clip_ratio_c` 3.0), or none.
    pub dual_clip: Option<f64>,
}

impl Default for ClipRange {
    fn default() -> Self {
        Self::symmetric(0.2)
    }
}

impl ClipRange {
    /// `[1 - eps, 1 + eps]` without dual clip.
    pub fn symmetric(eps: f64) -> Self {
        Self {
            eps_low: eps,
            eps_high: eps,
            dual_clip: None,
        }
    }

    fn validate(&self) -> Result<()> {
        in_range("eps_low", self.eps_low, 0.0, 1.0 - f64::EPSILON)?;
        in_range("eps_high", self.eps_high, 0.0, f64::MAX)?;
        match self.dual_clip {
            Some(c) if !(c.is_finite() && c > 1.0) => Err(Error::Config {
                key: "dual_clip",
                reason: format!("the dual-clip constant must be finite and > 1, got {c}"),
            }),
            _ => Ok(()),
        }
    }
}

/// PPO's clipped surrogate (Schulman et al. 2017, eq. 7) with asymmetric clipping
/// (DAPO, Yu et al. 2025) and optional dual clip (Ye et al. 2020), aggregated by `agg`.
///
/// Per token, with `rho = exp(clamp(logp - old, -20, 20))`:
/// `L = max(-A rho, -A clip(rho, 1 - eps_low, 1 + eps_high))`; with dual clip `c`, for `A < 0`
/// `L = min(L, -A c)` (algorithms.md "GRPO").
///
/// Metrics, each a fraction of the global batch's masked tokens (`norm.total_tokens`):
/// `loss/policy`, `actor/clip_frac` (= low + high), `actor/clip_frac_low` (`A < 0`,
/// `rho < 1 - eps_low`), `actor/clip_frac_high` (`A > 0`, `rho > 1 + eps_high`),
/// `actor/dual_clip_frac`, `actor/ppo_kl` (token mean of `old - logp`).
pub fn policy_clip(
    batch: &PolicyBatch,
    clip: &ClipRange,
    agg: LossAgg,
    norm: &AggNorm,
) -> Result<(Tensor, Metrics)> {
    let (b, t) = dims2("logp", batch.logp)?;
    let dtype = float_dtype("logp", batch.logp)?;
    same("old_logp", batch.old_logp, batch.logp)?;
    let m = mask_like(batch.mask, batch.logp)?;
    clip.validate()?;
    let adv = broadcast_advantages(batch.advantages, b, t)?.to_dtype(dtype)?;
    let old = batch.old_logp.detach().to_dtype(dtype)?;

    let log_ratio = (batch.logp - old)?.clamp(-LOG_RATIO_BOUND, LOG_RATIO_BOUND)?;
    let ratio = log_ratio.exp()?;
    let neg_adv = adv.neg()?;
    let pg_unclipped = (&neg_adv * &ratio)?;
    let clipped_ratio = ratio.clamp(1.0 - clip.eps_low, 1.0 + clip.eps_high)?;
    let pg_clipped = (&neg_adv * clipped_ratio)?;
    let is_clipped = pg_clipped.gt(&pg_unclipped)?;
    let mut per_token = is_clipped.where_cond(&pg_clipped, &pg_unclipped)?;
    let mut dual_active = per_token.zeros_like()?;
    if let Some(c) = clip.dual_clip {
        let bound = neg_adv.affine(c, 0.0)?;
        let active = (per_token.gt(&bound)?.to_dtype(dtype)? * adv.lt(0.0)?.to_dtype(dtype)?)?;
        per_token = active.ne(0.0)?.where_cond(&bound, &per_token)?;
        dual_active = active;
    }
    let loss = aggregate(&per_token, &m, agg, norm)?;

    let ratio = ratio.detach();
    let low = (ratio.lt(1.0 - clip.eps_low)?.to_dtype(dtype)? * adv.lt(0.0)?.to_dtype(dtype)?)?;
    let high = (ratio.gt(1.0 + clip.eps_high)?.to_dtype(dtype)? * adv.gt(0.0)?.to_dtype(dtype)?)?;
    let frac = |x: &Tensor| token_frac(x, &m, norm);
    let metrics = metrics::from_scalars(&[
        (metrics::LOSS_POLICY, &loss),
        (
            metrics::ACTOR_CLIP_FRAC,
            &frac(&is_clipped.to_dtype(dtype)?)?,
        ),
        (metrics::ACTOR_CLIP_FRAC_LOW, &frac(&low)?),
        (metrics::ACTOR_CLIP_FRAC_HIGH, &frac(&high)?),
        (metrics::ACTOR_DUAL_CLIP_FRAC, &frac(&dual_active)?),
        (metrics::ACTOR_PPO_KL, &frac(&log_ratio.detach().neg()?)?),
    ])?;
    Ok((loss, metrics))
}

/// `[B]` per-sequence advantages become `[B, T]`; `[B, T]` ones are checked. Detached.
pub(crate) fn broadcast_advantages(adv: &Tensor, b: usize, t: usize) -> Result<Tensor> {
    let adv = adv.detach();
    match adv.dims() {
        &[ab] if ab == b => Ok(adv.unsqueeze(1)?.broadcast_as((b, t))?.contiguous()?),
        &[ab, at] if ab == b && at == t => Ok(adv),
        got => Err(Error::Shape {
            what: "advantages",
            expected: format!("[{b}] or [{b}, {t}]"),
            got: got.to_vec(),
        }),
    }
}

/// `Σ x m / max(N_tokens, 1)` over the global batch's token count (a metric, so an empty
/// batch reads 0 rather than failing).
pub(crate) fn token_frac(x: &Tensor, m: &Tensor, norm: &AggNorm) -> Result<Tensor> {
    let n = norm.total_tokens.max(1) as f64;
    Ok((x.detach() * m)?
        .to_dtype(DType::F64)?
        .sum_all()?
        .affine(1.0 / n, 0.0)?)
}
