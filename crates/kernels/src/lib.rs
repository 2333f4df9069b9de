//! Fused kernels for caugym.
//!
//! The first (and for now only) op is the *selective log-prob*: the log-probability of one
//! target token per row of a logits matrix, computed with an online log-sum-exp so that no
//! `[n, V]` log-softmax is materialised, plus its backward. The model crate calls these two
//! functions once per chunk of positions inside its differentiable `token_logprobs` op; a later
//! issue adds CUDA kernels behind the same signatures. Until then a non-CPU device is an error
//! naming the op — never a silent fallback to another path.

mod cpu;
mod error;

pub use error::{Error, Result};

use candle_core::{DType, Device, Tensor};

/// Output of [`selective_logprob`]; every tensor is `[n]` f32.
#[derive(Debug, Clone)]
pub struct SelectiveLogprob {
    /// `z[i, y_i] - logsumexp(z[i, :])`.
    pub logprobs: Tensor,
    /// `logsumexp(z[i, :])`, kept so the backward can rebuild the softmax from the logits.
    pub lse: Tensor,
    /// Entropy `H_i = lse_i - sum_v p_iv z_iv`, when requested.
    pub entropy: Option<Tensor>,
}

/// Vocabulary tile width of the online log-sum-exp (fits L1 with f32).
pub const VOCAB_TILE: usize = 2048;

fn check_inputs(op: &'static str, logits: &Tensor, targets: &Tensor) -> Result<(usize, usize)> {
    if !matches!(logits.device(), Device::Cpu) {
        return Err(Error::UnsupportedDevice {
            op,
            device: format!("{:?}", logits.device().location()),
        });
    }
    let (n, v) = logits.dims2().map_err(|_| Error::Shape {
        op,
        what: "logits",
        expected: "[n, V]".into(),
        got: logits.dims().to_vec(),
    })?;
    if targets.dims() != [n] {
        return Err(Error::Shape {
            op,
            what: "targets",
            expected: format!("[{n}]"),
            got: targets.dims().to_vec(),
        });
    }
    if targets.dtype() != DType::U32 {
        return Err(Error::DType {
            op,
            what: "targets",
            got: targets.dtype(),
        });
    }
    if !matches!(logits.dtype(), DType::F32 | DType::BF16) {
        return Err(Error::DType {
            op,
            what: "logits",
            got: logits.dtype(),
        });
    }
    Ok((n, v))
}

/// Log-probability of `targets[i]` under `softmax(logits[i, :])` for every row, with the row's
/// log-sum-exp and optionally its entropy.
///
/// `logits`: `[n, V]` f32 or bf16; `targets`: `[n]` u32 (each `< V`). Accumulates in f32.
/// Naive equivalent: `log_softmax(logits).gather(targets)`.
pub fn selective_logprob(
    logits: &Tensor,
    targets: &Tensor,
    with_entropy: bool,
) -> Result<SelectiveLogprob> {
    const OP: &str = "selective_logprob";
    let (n, v) = check_inputs(OP, logits, targets)?;
    let tgt = targets.contiguous()?.to_vec1::<u32>()?;
    cpu::check_targets(OP, &tgt, v)?;
    let rows = cpu::forward(&logits.contiguous()?, &tgt, v, with_entropy)?;
    let dev = logits.device();
    let logprobs = Tensor::from_vec(rows.logprobs, n, dev)?;
    let lse = Tensor::from_vec(rows.lse, n, dev)?;
    let entropy = match rows.entropy {
        Some(h) => Some(Tensor::from_vec(h, n, dev)?),
        None => None,
    };
    Ok(SelectiveLogprob {
        logprobs,
        lse,
        entropy,
    })
}

/// Gradient of `sum_i g_i logp_i (+ sum_i e_i H_i)` with respect to the logits.
///
/// `d logp_i / d z_iv = [v == y_i] - p_iv` and `d H_i / d z_iv = -p_iv (log p_iv + H_i)`, with
/// `p = exp(z - lse)` rebuilt from the saved `lse` (so the forward keeps nothing of size V).
/// Returns `[n, V]` in the dtype of `logits`.
pub fn selective_logprob_backward(
    logits: &Tensor,
    targets: &Tensor,
    lse: &Tensor,
    grad_logprobs: &Tensor,
    grad_entropy: Option<&Tensor>,
) -> Result<Tensor> {
    const OP: &str = "selective_logprob_backward";
    let (n, v) = check_inputs(OP, logits, targets)?;
    let vec_n = |what: &'static str, t: &Tensor| -> Result<Vec<f32>> {
        if t.dims() != [n] {
            return Err(Error::Shape {
                op: OP,
                what,
                expected: format!("[{n}]"),
                got: t.dims().to_vec(),
            });
        }
        Ok(t.to_dtype(DType::F32)?.contiguous()?.to_vec1::<f32>()?)
    };
    let tgt = targets.contiguous()?.to_vec1::<u32>()?;
    cpu::check_targets(OP, &tgt, v)?;
    let lse = vec_n("lse", lse)?;
    let g = vec_n("grad_logprobs", grad_logprobs)?;
    let ge = match grad_entropy {
        Some(t) => Some(vec_n("grad_entropy", t)?),
        None => None,
    };
    let grads = cpu::Grads {
        lse: &lse,
        logprobs: &g,
        entropy: ge.as_deref(),
    };
    cpu::backward(&logits.contiguous()?, &tgt, v, &grads)
}
