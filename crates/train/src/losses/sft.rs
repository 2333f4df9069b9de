//! Supervised fine-tuning: prompt-masked negative log-likelihood.

use candle_core::Tensor;

use crate::Result;
use crate::agg::{AggNorm, LossAgg, aggregate};
use crate::metrics::{self, Metrics};
use crate::shape::float_dtype;

/// Masked NLL normalised by the masked tokens of the whole accumulated batch
/// (algorithms.md "SFT"): `loss = Σ_bt m_bt (-logp_bt) / norm.total_tokens`.
///
/// Shapes: logp (log-prob of each target token), mask (1 on completion tokens; prompt and
/// padding 0) `[B, T]` -> scalar. Metric: `loss/sft` (this micro-batch's contribution; the
/// contributions of a step sum to the batch NLL per token).
pub fn sft_nll(logp: &Tensor, mask: &Tensor, norm: &AggNorm) -> Result<(Tensor, Metrics)> {
    float_dtype("logp", logp)?;
    let loss = aggregate(&logp.neg()?, mask, LossAgg::TokenMean, norm)?;
    let m = metrics::from_scalars(&[(metrics::LOSS_SFT, &loss)])?;
    Ok((loss, m))
}
