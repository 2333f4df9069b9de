//! Aggregation of a per-token loss into the scalar that is back-propagated
//! (verl `agg_loss`; modes from algorithms.md "GRPO / Aggregation").
//!
//! With gradient accumulation, the normaliser must be the one of the WHOLE accumulated batch,
//! not of the micro-batch: the caller computes an [`AggNorm`] over the global batch once and
//! passes it to every micro-batch, then sums the micro-batch losses (or gradients). This makes
//! micro-batch 1 x accumulation 4 produce exactly the gradient of 4 x 1 (tested in
//! `tests/masked_agg.rs`).

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

use crate::shape::{dims2, mask_like};
use crate::{Error, Result};

/// How a `[B, T]` per-token loss becomes a scalar (config key `loss_agg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossAgg {
    /// `Σ m L / N_tokens`: every token of the global batch weighs the same (verl default, DAPO).
    TokenMean,
    /// `(1 / N_seq) Σ_b (Σ_t m L / Σ_t m)`: every sequence weighs the same (original GRPO).
    SeqMeanTokenMean,
    /// `Σ m L / (N_seq · max_len)` with a constant `max_len` (Dr. GRPO, Liu et al. 2025).
    SeqMeanTokenSumNorm,
}

/// Normalisers of the whole accumulated batch (all micro-batches of one optimiser step).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AggNorm {
    /// Masked tokens in the global batch (`token-mean`).
    pub total_tokens: usize,
    /// Sequences (rows) in the global batch (`seq-mean-*`).
    pub num_sequences: usize,
    /// The length constant of `seq-mean-token-sum-norm`: the configured maximum completion
    /// length for Dr. GRPO (`from_mask` uses the padded width; override with [`Self::with_max_len`]).
    pub max_len: usize,
}

impl AggNorm {
    /// A normaliser from explicit counts.
    pub fn new(total_tokens: usize, num_sequences: usize, max_len: usize) -> Self {
        Self {
            total_tokens,
            num_sequences,
            max_len,
        }
    }

    /// Counts of one `[B, T]` mask (reads the token count to host).
    pub fn from_mask(mask: &Tensor) -> Result<Self> {
        let (b, t) = dims2("mask", mask)?;
        let tokens = mask
            .to_dtype(DType::F64)?
            .sum_all()?
            .to_scalar::<f64>()?
            .round();
        Ok(Self::new(tokens as usize, b, t))
    }

    /// Counts over the masks of all micro-batches of one step: tokens and rows add up,
    /// `max_len` is the largest padded width.
    pub fn from_masks<'a>(masks: impl IntoIterator<Item = &'a Tensor>) -> Result<Self> {
        let mut acc = Self::new(0, 0, 0);
        for m in masks {
            let n = Self::from_mask(m)?;
            acc.total_tokens += n.total_tokens;
            acc.num_sequences += n.num_sequences;
            acc.max_len = acc.max_len.max(n.max_len);
        }
        Ok(acc)
    }

    /// The same counts with `max_len` set to a constant (Dr. GRPO's generation budget).
    pub fn with_max_len(self, max_len: usize) -> Self {
        Self { max_len, ..self }
    }

    fn check(&self, agg: LossAgg, rows: usize) -> Result<()> {
        let zero = |what: &'static str| Error::Input {
            what,
            reason: "aggregation normaliser is 0 (empty global batch)".to_string(),
        };
        if rows > self.num_sequences && agg != LossAgg::TokenMean {
            return Err(Error::Input {
                what: "norm.num_sequences",
                reason: format!(
                    "micro-batch has {rows} rows but the global batch only {}: pass the whole batch's counts",
                    self.num_sequences
                ),
            });
        }
        match agg {
            LossAgg::TokenMean if self.total_tokens == 0 => Err(zero("norm.total_tokens")),
            LossAgg::SeqMeanTokenMean if self.num_sequences == 0 => Err(zero("norm.num_sequences")),
            LossAgg::SeqMeanTokenSumNorm if self.num_sequences == 0 || self.max_len == 0 => {
                Err(zero("norm.num_sequences * norm.max_len"))
            }
            _ => Ok(()),
        }
    }
}

/// Aggregates a per-token loss `[B, T]` under `mask [B, T]` into a scalar.
///
/// Formulas (algorithms.md; `N_tokens`, `N_seq`, `max_len` from `norm`):
/// - `token-mean`: `Σ_bt m L / N_tokens`
/// - `seq-mean-token-mean`: `Σ_b (Σ_t m L / max(Σ_t m, 1)) / N_seq` (an empty row adds 0)
/// - `seq-mean-token-sum-norm`: `Σ_bt m L / (N_seq · max_len)`
///
/// Summing the results of the micro-batches of a step gives the global-batch value.
pub fn aggregate(loss: &Tensor, mask: &Tensor, agg: LossAgg, norm: &AggNorm) -> Result<Tensor> {
    let (rows, _) = dims2("loss", loss)?;
    let m = mask_like(mask, loss)?;
    norm.check(agg, rows)?;
    let masked = (loss * &m)?;
    let out = match agg {
        LossAgg::TokenMean => masked
            .sum_all()?
            .affine(1.0 / norm.total_tokens as f64, 0.0)?,
        LossAgg::SeqMeanTokenMean => {
            let per_row = masked.sum(1)?;
            let len = m.sum(1)?.maximum(1.0)?;
            (per_row / len)?
                .sum_all()?
                .affine(1.0 / norm.num_sequences as f64, 0.0)?
        }
        LossAgg::SeqMeanTokenSumNorm => {
            let denom = (norm.num_sequences * norm.max_len) as f64;
            masked.sum_all()?.affine(1.0 / denom, 0.0)?
        }
    };
    Ok(out)
}
