//! Direct preference optimisation and its IPO and hinge variants.

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

use super::{check_batch_total, log_sigmoid};
use crate::metrics::{self, Metrics};
use crate::shape::{dims1, in_range, positive, same};
use crate::{Error, Result};

/// The DPO loss family (config key `loss_type`, TOML `{ type = "sigmoid", label_smoothing = 0.0 }`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum DpoLoss {
    /// `-(1-eps) ln s(beta h) - eps ln s(-beta h)` (Rafailov et al. 2023, eq. 7; conservative
    /// DPO / robust label smoothing, Mitchell 2023). `label_smoothing` in `[0, 0.5)`.
    Sigmoid {
        /// Assumed probability that a preference label is flipped.
        label_smoothing: f64,
    },
    /// `(h / len - 1/(2 beta))²` (Azar et al. 2023, eq. 17; `beta` is the paper's tau) where each
    /// of the four log-probs is divided by its own completion length, as TRL does.
    Ipo,
    /// `relu(1 - beta h)` (SLiC, Zhao et al. 2023).
    Hinge,
}

/// Sequence log-probabilities of a batch of preference pairs, each `[B]`: SUMS over the
/// completion tokens (algorithms.md "DPO"), of the policy and of the frozen reference.
#[derive(Clone, Copy, Debug)]
pub struct DpoBatch<'a> {
    /// `Σ_t logp(y_w)` under the policy.
    pub policy_chosen: &'a Tensor,
    /// `Σ_t logp(y_l)` under the policy.
    pub policy_rejected: &'a Tensor,
    /// `Σ_t ref(y_w)`.
    pub ref_chosen: &'a Tensor,
    /// `Σ_t ref(y_l)`.
    pub ref_rejected: &'a Tensor,
    /// Completion lengths of `y_w` and `y_l` in tokens (`[B]` each); required by IPO only.
    pub lengths: Option<(&'a Tensor, &'a Tensor)>,
}

/// The DPO loss of a micro-batch of pairs.
///
/// `h = [logp(y_w) - ref(y_w)] - [logp(y_l) - ref(y_l)]`, per-pair loss per [`DpoLoss`],
/// `loss = Σ_pairs l / batch_pairs` where `batch_pairs` counts the pairs of the whole
/// accumulated batch (so micro-batch losses sum to the batch mean).
///
/// Metrics (TRL names): `loss/dpo`, `rewards/chosen` = mean `beta (logp - ref)(y_w)`,
/// `rewards/rejected`, `rewards/margins` (chosen - rejected), `rewards/accuracies`
/// (fraction with margin > 0), `logps/chosen`, `logps/rejected`; implicit rewards always use
/// the summed log-probs.
pub fn dpo(
    batch: &DpoBatch,
    loss: DpoLoss,
    beta: f64,
    batch_pairs: usize,
) -> Result<(Tensor, Metrics)> {
    let b = dims1("policy_chosen", batch.policy_chosen)?;
    same(
        "policy_rejected",
        batch.policy_rejected,
        batch.policy_chosen,
    )?;
    same("ref_chosen", batch.ref_chosen, batch.policy_chosen)?;
    same("ref_rejected", batch.ref_rejected, batch.policy_chosen)?;
    positive("beta", beta)?;
    check_batch_total("batch_pairs", b, batch_pairs)?;
    let dtype = batch.policy_chosen.dtype();
    let ref_w = batch.ref_chosen.detach().to_dtype(dtype)?;
    let ref_l = batch.ref_rejected.detach().to_dtype(dtype)?;
    let pol_l = batch.policy_rejected.to_dtype(dtype)?;
    let ratio_w = (batch.policy_chosen - &ref_w)?;
    let ratio_l = (&pol_l - &ref_l)?;

    let per_pair = match loss {
        DpoLoss::Sigmoid { label_smoothing } => {
            in_range("label_smoothing", label_smoothing, 0.0, 0.5 - f64::EPSILON)?;
            let z = (&ratio_w - &ratio_l)?.affine(beta, 0.0)?;
            let pos = log_sigmoid(&z)?.affine(-(1.0 - label_smoothing), 0.0)?;
            let neg = log_sigmoid(&z.neg()?)?.affine(-label_smoothing, 0.0)?;
            (pos + neg)?
        }
        DpoLoss::Ipo => {
            let (len_w, len_l) = batch.lengths.ok_or_else(|| Error::Input {
                what: "lengths",
                reason: "IPO needs the completion lengths of both completions".to_string(),
            })?;
            same("chosen lengths", len_w, batch.policy_chosen)?;
            same("rejected lengths", len_l, batch.policy_chosen)?;
            let len_w = len_w.detach().to_dtype(dtype)?.maximum(1.0)?;
            let len_l = len_l.detach().to_dtype(dtype)?.maximum(1.0)?;
            let h = ((&ratio_w / len_w)? - (&ratio_l / len_l)?)?;
            h.affine(1.0, -1.0 / (2.0 * beta))?.sqr()?
        }
        DpoLoss::Hinge => (&ratio_w - &ratio_l)?.affine(-beta, 1.0)?.relu()?,
    };
    let total = per_pair.sum_all()?.affine(1.0 / batch_pairs as f64, 0.0)?;

    let chosen = ratio_w.detach().affine(beta, 0.0)?;
    let rejected = ratio_l.detach().affine(beta, 0.0)?;
    let margin = (&chosen - &rejected)?;
    let acc = margin.gt(0.0)?.to_dtype(DType::F32)?.mean_all()?;
    let metrics = metrics::from_scalars(&[
        (metrics::LOSS_DPO, &total),
        (metrics::REWARDS_CHOSEN, &chosen.mean_all()?),
        (metrics::REWARDS_REJECTED, &rejected.mean_all()?),
        (metrics::REWARDS_MARGINS, &margin.mean_all()?),
        (metrics::REWARDS_ACCURACIES, &acc),
        (metrics::LOGPS_CHOSEN, &batch.policy_chosen.mean_all()?),
        (metrics::LOGPS_REJECTED, &pol_l.mean_all()?),
    ])?;
    Ok((total, metrics))
}
