//! The losses of every method, as pure functions over tensors returning `(loss, metrics)`.
//!
//! Each loss documents its input shapes, its formula and where the formula comes from
//! (algorithms.md and the paper). Losses normalised over the accumulated batch take that
//! batch's size explicitly ([`crate::agg::AggNorm`] or a pair/example count), so summing the
//! micro-batch losses of a step gives the loss of the whole batch.

mod dpo;
mod kl;
mod kto;
mod policy;
mod sft;
mod value;

pub use dpo::{DpoBatch, DpoLoss, dpo};
pub use kl::{KlEstimator, kl, kl_loss};
pub use kto::{KtoBatch, KtoParams, kto};
pub use policy::{ClipRange, PolicyBatch, policy_clip};
pub use sft::sft_nll;
pub use value::{ValueBatch, explained_variance, value_clip};

use candle_core::Tensor;

use crate::{Error, Result};

/// `softplus(x) = ln(1 + e^x)`, overflow-free, with the exact derivative `sigmoid(x)` everywhere.
///
/// Written as `max(x, 0) + ln(1 + e^{-|x|})` with `|x| = max(x, -x)`: candle splits the gradient
/// of a `maximum` tie evenly, which gives `1/2` at `x = 0`, while `abs`/`relu` would give a wrong
/// one-sided derivative there (and `x = 0` is exactly where DPO starts, policy = reference).
pub(crate) fn softplus(x: &Tensor) -> Result<Tensor> {
    let pos = x.maximum(0.0)?;
    let abs = x.maximum(&x.neg()?)?;
    let tail = (abs.neg()?.exp()? + 1.0)?.log()?;
    Ok((pos + tail)?)
}

/// `ln sigmoid(x) = -softplus(-x)`.
pub(crate) fn log_sigmoid(x: &Tensor) -> Result<Tensor> {
    Ok(softplus(&x.neg()?)?.neg()?)
}

/// Per-sequence normaliser check: the accumulated batch cannot be smaller than the micro-batch.
pub(crate) fn check_batch_total(key: &'static str, local: usize, total: usize) -> Result<()> {
    if local == 0 {
        return Err(Error::Input {
            what: key,
            reason: "empty micro-batch".to_string(),
        });
    }
    if total < local {
        return Err(Error::Input {
            what: key,
            reason: format!(
                "the accumulated batch has {total} items but this micro-batch {local}: pass the whole batch's count"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    #[test]
    fn softplus_value_and_gradient_at_zero_and_extremes() {
        // softplus(0) = ln 2, softplus'(0) = sigmoid(0) = 0.5;
        // softplus(100) = 100 (+ e^-100), derivative 1; softplus(-100) = e^-100 ~ 0, derivative ~ 0.
        let x = Var::new(&[0.0f64, 100.0, -100.0], &Device::Cpu).unwrap();
        let y = softplus(x.as_tensor()).unwrap();
        let v = y.to_vec1::<f64>().unwrap();
        assert!((v[0] - 2f64.ln()).abs() < 1e-15);
        assert!((v[1] - 100.0).abs() < 1e-12);
        assert!(v[2].abs() < 1e-40);
        let g = y.sum_all().unwrap().backward().unwrap();
        let g = g.get(x.as_tensor()).unwrap().to_vec1::<f64>().unwrap();
        assert!((g[0] - 0.5).abs() < 1e-15, "{g:?}");
        assert!((g[1] - 1.0).abs() < 1e-12);
        assert!(g[2].abs() < 1e-40);
    }
}
