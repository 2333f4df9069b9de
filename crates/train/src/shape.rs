//! Argument checks shared by the math modules: they turn a wrong shape into [`Error::Shape`]
//! naming the argument, before candle fails deeper with a less specific message.

use candle_core::{DType, Tensor};

use crate::{Error, Result};

/// `t` must be `[B, T]`; returns `(B, T)`.
pub(crate) fn dims2(what: &'static str, t: &Tensor) -> Result<(usize, usize)> {
    match t.dims() {
        &[b, n] => Ok((b, n)),
        got => Err(Error::Shape {
            what,
            expected: "rank 2 [B, T]".to_string(),
            got: got.to_vec(),
        }),
    }
}

/// `t` must be `[B]`; returns `B`.
pub(crate) fn dims1(what: &'static str, t: &Tensor) -> Result<usize> {
    match t.dims() {
        &[b] => Ok(b),
        got => Err(Error::Shape {
            what,
            expected: "rank 1 [B]".to_string(),
            got: got.to_vec(),
        }),
    }
}

/// `t` must have exactly the dims of `reference`.
pub(crate) fn same(what: &'static str, t: &Tensor, reference: &Tensor) -> Result<()> {
    if t.dims() == reference.dims() {
        Ok(())
    } else {
        Err(Error::Shape {
            what,
            expected: format!("{:?}", reference.dims()),
            got: t.dims().to_vec(),
        })
    }
}

/// A mask as a detached 0/1 tensor of `dtype`, checked to match `values`.
pub(crate) fn mask_like(mask: &Tensor, values: &Tensor) -> Result<Tensor> {
    same("mask", mask, values)?;
    Ok(mask.detach().to_dtype(values.dtype())?)
}

/// Checks that a float hyper-parameter is finite and within `[lo, hi]`.
pub(crate) fn in_range(key: &'static str, v: f64, lo: f64, hi: f64) -> Result<()> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(())
    } else {
        Err(Error::Config {
            key,
            reason: format!("{v} is outside [{lo}, {hi}]"),
        })
    }
}

/// Checks that a float hyper-parameter is finite and strictly positive.
pub(crate) fn positive(key: &'static str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Error::Config {
            key,
            reason: format!("{v} must be finite and > 0"),
        })
    }
}

/// The float dtype a computation runs in: the values' own dtype if it is a float type.
pub(crate) fn float_dtype(what: &'static str, t: &Tensor) -> Result<DType> {
    if t.dtype().is_float() {
        Ok(t.dtype())
    } else {
        Err(Error::Input {
            what,
            reason: format!("expected a float tensor, got {:?}", t.dtype()),
        })
    }
}
