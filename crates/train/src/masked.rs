//! Masked reductions over `[B, T]` values and 0/1 masks (verl `torch_functional.masked_*`).
//!
//! The mask is detached and cast to the values' dtype; it must have the values' shape.
//! The naive equivalent of each function is the same formula over the list of
//! masked elements; `tests/masked_agg.rs` checks them against such scalar loops.

use candle_core::Tensor;

use crate::shape::{float_dtype, mask_like};
use crate::{Error, Result};

/// Masked sum `Σ v m`, a scalar tensor.
pub fn sum(values: &Tensor, mask: &Tensor) -> Result<Tensor> {
    float_dtype("values", values)?;
    let m = mask_like(mask, values)?;
    Ok((values * m)?.sum_all()?)
}

/// Masked mean `Σ v m / Σ m`, a scalar tensor; an all-zero mask gives 0.
pub fn mean(values: &Tensor, mask: &Tensor) -> Result<Tensor> {
    float_dtype("values", values)?;
    let m = mask_like(mask, values)?;
    let count = m.sum_all()?.maximum(1.0)?;
    Ok((values * m)?.sum_all()?.div(&count)?)
}

/// Masked variance `Σ m (v - mean)² / n` (or `/ (n - 1)` when `unbiased`), a scalar tensor.
///
/// Reads the mask count to host (one sync) to reject masks with too few elements:
/// fewer than 2 masked entries for the unbiased form, none for the biased one.
pub fn var(values: &Tensor, mask: &Tensor, unbiased: bool) -> Result<Tensor> {
    float_dtype("values", values)?;
    let m = mask_like(mask, values)?;
    let n = m
        .sum_all()?
        .to_dtype(candle_core::DType::F64)?
        .to_scalar::<f64>()?;
    let min = if unbiased { 2.0 } else { 1.0 };
    if n < min {
        return Err(Error::Input {
            what: "mask",
            reason: format!("variance needs at least {min} masked elements, got {n}"),
        });
    }
    let mu = (values * &m)?.sum_all()?.affine(1.0 / n, 0.0)?;
    let centered = values.broadcast_sub(&mu)?;
    let ss = (centered.sqr()? * &m)?.sum_all()?;
    let denom = if unbiased { n - 1.0 } else { n };
    Ok(ss.affine(1.0 / denom, 0.0)?)
}

/// Whitening `(v - mean) / sqrt(var + 1e-8)` with the unbiased masked variance
/// (verl `masked_whiten`, TRL `whiten`); with `shift_mean = false` the mean is added back.
///
/// Shapes: values, mask `[B, T]` (any equal shapes) -> same shape, 0 outside the mask.
pub fn whiten(values: &Tensor, mask: &Tensor, shift_mean: bool) -> Result<Tensor> {
    let m = mask_like(mask, values)?;
    let mu = mean(values, &m)?;
    let v = var(values, &m, true)?;
    let inv_std = (v + 1e-8)?.sqrt()?.recip()?;
    let mut w = values.broadcast_sub(&mu)?.broadcast_mul(&inv_std)?;
    if !shift_mean {
        w = w.broadcast_add(&mu)?;
    }
    Ok((w * m)?)
}
