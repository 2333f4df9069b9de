//! Kahneman-Tversky optimisation on unpaired desirable / undesirable examples
//! (Ethayarajh et al. 2024, eq. 8; algorithms.md "KTO").

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

use super::{check_batch_total, log_sigmoid};
use crate::metrics::{self, Metrics};
use crate::shape::{dims1, positive, same};
use crate::{Error, Result};

/// Sequence log-probability SUMS of a KTO micro-batch, each `[B]`.
#[derive(Clone, Copy, Debug)]
pub struct KtoBatch<'a> {
    /// `logp(y_i | x_i)` under the policy.
    pub policy: &'a Tensor,
    /// `ref(y_i | x_i)`.
    pub reference: &'a Tensor,
    /// `logp(y'_i | x_i)` of a MISMATCHED completion (the next example's completion with this
    /// prompt) under the policy.
    pub policy_mismatched: &'a Tensor,
    /// `ref(y'_i | x_i)`.
    pub ref_mismatched: &'a Tensor,
    /// 1 (any non-zero) for desirable examples, 0 for undesirable ones.
    pub desirable: &'a Tensor,
}

/// KTO hyper-parameters (defaults: beta 0.1, lambda_D = lambda_U = 1.0).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct KtoParams {
    /// Temperature of the value function.
    pub beta: f64,
    /// Weight of desirable examples (lambda_D).
    pub lambda_d: f64,
    /// Weight of undesirable examples (lambda_U).
    pub lambda_u: f64,
}

impl Default for KtoParams {
    fn default() -> Self {
        Self {
            beta: 0.1,
            lambda_d: 1.0,
            lambda_u: 1.0,
        }
    }
}

/// The KTO loss of a micro-batch.
///
/// `r = logp - ref`; reference point `z0 = max(0, mean_i [logp(y'_i) - ref(y'_i)])` with the
/// gradient stopped; desirable `L = 1 - s(beta (r - z0))`, undesirable
/// `L = 1 - s(beta (z0 - r))`; `loss = Σ_i lambda_{D|U} L_i / batch_examples`, where
/// `batch_examples` counts the examples of the whole accumulated batch.
///
/// A batch of one has no mismatched completion and is an error.
/// Metrics: `loss/kto`, `kto/kl` (z0), `rewards/desirable` and `rewards/undesirable`
/// (mean `beta r` over each kind, present only when the micro-batch has that kind).
pub fn kto(
    batch: &KtoBatch,
    params: &KtoParams,
    batch_examples: usize,
) -> Result<(Tensor, Metrics)> {
    let b = dims1("policy", batch.policy)?;
    for (what, t) in [
        ("reference", batch.reference),
        ("policy_mismatched", batch.policy_mismatched),
        ("ref_mismatched", batch.ref_mismatched),
        ("desirable", batch.desirable),
    ] {
        same(what, t, batch.policy)?;
    }
    if b < 2 {
        return Err(Error::Input {
            what: "policy",
            reason:
                "KTO needs a micro-batch of at least 2 to pair prompts with mismatched completions"
                    .to_string(),
        });
    }
    positive("beta", params.beta)?;
    positive("lambda_d", params.lambda_d)?;
    positive("lambda_u", params.lambda_u)?;
    check_batch_total("batch_examples", b, batch_examples)?;

    let dtype = batch.policy.dtype();
    let kl_terms = (batch.policy_mismatched.detach().to_dtype(dtype)?
        - batch.ref_mismatched.detach().to_dtype(dtype)?)?;
    let z0 = kl_terms.mean_all()?.maximum(0.0)?;
    let r = (batch.policy - batch.reference.detach().to_dtype(dtype)?)?;
    let x = r.broadcast_sub(&z0)?.affine(params.beta, 0.0)?;
    // 1 - s(x) = s(-x) = exp(ln s(-x)); 1 - s(-x) = s(x) = exp(ln s(x)).
    let loss_d = log_sigmoid(&x.neg()?)?.exp()?;
    let loss_u = log_sigmoid(&x)?.exp()?;
    let d = batch.desirable.detach().ne(0.0)?.to_dtype(dtype)?;
    let u = d.affine(-1.0, 1.0)?;
    let weighted = ((loss_d * d.affine(params.lambda_d, 0.0)?)?
        + (loss_u * u.affine(params.lambda_u, 0.0)?)?)?;
    let total = weighted
        .sum_all()?
        .affine(1.0 / batch_examples as f64, 0.0)?;

    let scalars = metrics::read_scalars(&[&total, &z0])?;
    let mut m = Metrics::new();
    m.insert(metrics::LOSS_KTO, scalars[0]);
    m.insert(metrics::KTO_KL, scalars[1]);
    let rewards = r.detach().to_dtype(DType::F64)?.to_vec1::<f64>()?;
    let is_d = d.to_dtype(DType::F64)?.to_vec1::<f64>()?;
    for (key, want) in [
        (metrics::REWARDS_DESIRABLE, 1.0),
        (metrics::REWARDS_UNDESIRABLE, 0.0),
    ] {
        let picked: Vec<f64> = rewards
            .iter()
            .zip(&is_d)
            .filter(|(_, k)| **k == want)
            .map(|(r, _)| params.beta * r)
            .collect();
        if !picked.is_empty() {
            m.insert(key, picked.iter().sum::<f64>() / picked.len() as f64);
        }
    }
    Ok((total, m))
}
