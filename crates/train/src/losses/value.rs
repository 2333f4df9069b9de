//! PPO's clipped value loss (verl `compute_value_loss`; algorithms.md "PPO").

use candle_core::{DType, Tensor};

use super::policy::token_frac;
use crate::Result;
use crate::agg::{AggNorm, LossAgg, aggregate};
use crate::metrics::{self, Metrics};
use crate::shape::{dims2, float_dtype, mask_like, positive, same};

/// Per-token inputs of the value loss, all `[B, T]`.
#[derive(Clone, Copy, Debug)]
pub struct ValueBatch<'a> {
    /// Current critic predictions `V` (with gradient).
    pub values: &'a Tensor,
    /// Predictions at rollout time `V_old` (detached here).
    pub old_values: &'a Tensor,
    /// GAE returns `R` (detached here).
    pub returns: &'a Tensor,
    /// 1 on tokens that count.
    pub mask: &'a Tensor,
}

/// `L_t = 0.5 max((V - R)², (clip(V, V_old - c, V_old + c) - R)²)`, aggregated by `agg`.
///
/// `clip` is `c_v` (config `cliprange_value`, 0.2..0.5). Metrics: `critic/value_loss`,
/// `critic/vf_clip_frac` (tokens where the clipped term is the larger), `critic/vpred_mean`,
/// and `critic/explained_variance = 1 - Var(R - V) / Var(R)` over this micro-batch's masked
/// tokens (left out when `Var(R) = 0`).
pub fn value_clip(
    batch: &ValueBatch,
    clip: f64,
    agg: LossAgg,
    norm: &AggNorm,
) -> Result<(Tensor, Metrics)> {
    dims2("values", batch.values)?;
    let dtype = float_dtype("values", batch.values)?;
    same("old_values", batch.old_values, batch.values)?;
    same("returns", batch.returns, batch.values)?;
    let m = mask_like(batch.mask, batch.values)?;
    positive("cliprange_value", clip)?;
    let v = batch.values;
    let old = batch.old_values.detach().to_dtype(dtype)?;
    let ret = batch.returns.detach().to_dtype(dtype)?;

    let v_clipped = v
        .maximum(&old.affine(1.0, -clip)?)?
        .minimum(&old.affine(1.0, clip)?)?;
    let loss_plain = (v - &ret)?.sqr()?;
    let loss_clipped = (v_clipped - &ret)?.sqr()?;
    let is_clipped = loss_clipped.gt(&loss_plain)?;
    let per_token = is_clipped
        .where_cond(&loss_clipped, &loss_plain)?
        .affine(0.5, 0.0)?;
    let loss = aggregate(&per_token, &m, agg, norm)?;

    let frac = |x: &Tensor| token_frac(x, &m, norm);
    let (var_ret, var_res) = explained_variance_parts(&v.detach(), &ret, &m)?;
    let scalars = metrics::read_scalars(&[
        &loss,
        &frac(&is_clipped.to_dtype(dtype)?)?,
        &frac(v)?,
        &var_ret,
        &var_res,
    ])?;
    let mut out = Metrics::new();
    out.insert(metrics::CRITIC_VALUE_LOSS, scalars[0]);
    out.insert(metrics::CRITIC_VF_CLIP_FRAC, scalars[1]);
    out.insert(metrics::CRITIC_VPRED_MEAN, scalars[2]);
    if scalars[3] > 0.0 {
        out.insert(
            metrics::CRITIC_EXPLAINED_VARIANCE,
            1.0 - scalars[4] / scalars[3],
        );
    }
    Ok((loss, out))
}

/// `1 - Var(R - V) / Var(R)` over the masked tokens of `[B, T]` values and returns (biased
/// variances, in f64): 1 for a perfect critic, 0 for one that predicts the mean return, negative
/// for one worse than that. `None` when the returns do not vary (the ratio is undefined).
pub fn explained_variance(values: &Tensor, returns: &Tensor, mask: &Tensor) -> Result<Option<f64>> {
    dims2("values", values)?;
    same("returns", returns, values)?;
    let m = mask_like(mask, values)?;
    let ret = returns.detach().to_dtype(values.dtype())?;
    let (var_ret, var_res) = explained_variance_parts(&values.detach(), &ret, &m)?;
    let v = metrics::read_scalars(&[&var_ret, &var_res])?;
    Ok((v[0] > 0.0).then(|| 1.0 - v[1] / v[0]))
}

/// Biased masked variances of `R` and of `R - V` (the `n` cancels in the ratio), in f64.
fn explained_variance_parts(v: &Tensor, ret: &Tensor, m: &Tensor) -> Result<(Tensor, Tensor)> {
    let m = m.to_dtype(DType::F64)?;
    let n = m.sum_all()?.maximum(1.0)?;
    let var = |x: &Tensor| -> Result<Tensor> {
        let x = x.to_dtype(DType::F64)?;
        let mu = (&x * &m)?.sum_all()?.div(&n)?;
        Ok((x.broadcast_sub(&mu)?.sqr()? * &m)?.sum_all()?.div(&n)?)
    };
    Ok((var(ret)?, var(&(ret - v)?)?))
}
