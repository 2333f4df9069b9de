//! Global-norm gradient clipping and non-finite detection over the trainable parameters.

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor};

use crate::params::NamedVar;
use crate::shape::positive;
use crate::{Error, Result};

/// The present gradients of `params`, in order, as (index, gradient).
fn present<'a>(params: &'a [NamedVar], grads: &'a GradStore) -> Vec<(usize, &'a Tensor)> {
    params
        .iter()
        .enumerate()
        .filter_map(|(i, p)| grads.get(p.var.as_tensor()).map(|g| (i, g)))
        .collect()
}

/// Global L2 norm `sqrt(Σ_p ||g_p||²)` over the gradients of `params` that are present, computed
/// in f32 per parameter and read to host once.
///
/// A non-finite gradient is an [`Error::NonFinite`] naming the first parameter holding one.
pub fn global_grad_norm(params: &[NamedVar], grads: &GradStore) -> Result<f64> {
    let present = present(params, grads);
    if present.is_empty() {
        return Ok(0.0);
    }
    let sq = present
        .iter()
        .map(|(_, g)| g.to_dtype(DType::F32)?.sqr()?.sum_all()?.reshape(1))
        .collect::<candle_core::Result<Vec<_>>>()?;
    let sq = Tensor::cat(&sq, 0)?.to_vec1::<f32>()?;
    let total: f64 = sq.iter().map(|x| f64::from(*x)).sum();
    if !total.is_finite() {
        check_finite_grads(params, grads)?;
        // Finite elements whose squares overflow f32: still unusable, report it as such.
        return Err(Error::NonFinite {
            what: "gradient norm",
            param: "<all parameters>".to_string(),
        });
    }
    Ok(total.sqrt())
}

/// Scales all gradients by `max_norm / (norm + 1e-6)` when the global norm exceeds `max_norm`
/// (PyTorch `clip_grad_norm_`), and returns the norm BEFORE clipping (to log).
pub fn clip_grad_norm(params: &[NamedVar], grads: &mut GradStore, max_norm: f64) -> Result<f64> {
    positive("max_grad_norm", max_norm)?;
    let norm = global_grad_norm(params, grads)?;
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        for p in params {
            if let Some(g) = grads.remove(p.var.as_tensor()) {
                grads.insert(p.var.as_tensor(), g.affine(coef, 0.0)?);
            }
        }
    }
    Ok(norm)
}

/// Errors with the name of the first parameter whose gradient holds a NaN or an infinity.
pub fn check_finite_grads(params: &[NamedVar], grads: &GradStore) -> Result<()> {
    let present = present(params, grads);
    if present.is_empty() {
        return Ok(());
    }
    // 0 x is 0 for every finite x and NaN for NaN and +-inf (IEEE 754).
    let bad = present
        .iter()
        .map(|(_, g)| {
            g.affine(0.0, 0.0)?
                .ne(0.0)?
                .to_dtype(DType::F32)?
                .sum_all()?
                .reshape(1)
        })
        .collect::<candle_core::Result<Vec<_>>>()?;
    let bad = Tensor::cat(&bad, 0)?.to_vec1::<f32>()?;
    match bad.iter().position(|n| *n > 0.0) {
        Some(k) => Err(Error::NonFinite {
            what: "gradient",
            param: params[present[k].0].name.clone(),
        }),
        None => Ok(()),
    }
}

/// Reads a one-element loss to host and errors if it is NaN or infinite; returns its value.
pub fn check_finite_loss(loss: &Tensor) -> Result<f64> {
    let v = loss
        .detach()
        .flatten_all()?
        .to_dtype(DType::F64)?
        .to_vec1::<f64>()?;
    match v.as_slice() {
        [x] if x.is_finite() => Ok(*x),
        [_] => Err(Error::NonFinite {
            what: "loss",
            param: "loss".to_string(),
        }),
        _ => Err(Error::Shape {
            what: "loss",
            expected: "one element".to_string(),
            got: loss.dims().to_vec(),
        }),
    }
}
