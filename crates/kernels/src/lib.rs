//! caugym-kernels: fused kernels with CPU twins.
//!
//! The fused selective log-prob ([`selective_logprob`], [`selective_logprob_backward`]) computes, for each
//! row of logits, the log-probability of one target token without materialising the `[rows, V]`
//! log-softmax (shared/docs/algorithms.md, "Fused log-prob of the sampled token"). Its naive equivalent
//! is `log_softmax(logits).gather(targets)`. Each function dispatches on the device of the logits: the CPU
//! twin in `cpu`, the CUDA kernels of `kernels/selective_logprob.cu` under the `cuda` feature. A device
//! without a kernel is an [`Error::NoKernel`], never a silent composed fallback.
//!
//! [`reference`] holds the f64 reference both are tested against, [`check`] the test cases and tolerances.

pub mod check;
mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
mod error;
pub mod reference;

use candle_core::{DType, Device, Tensor};

pub use error::{Error, Result};

const FWD_OP: &str = "selective_logprob";
const BWD_OP: &str = "selective_logprob_backward";

/// Per-row results of [`selective_logprob`], each `[n]` f32 on the logits' device.
#[derive(Debug, Clone)]
pub struct SelectiveLogprob {
    /// `log softmax(z)[y]` for each row's target `y`.
    pub logprobs: Tensor,
    /// `log Σ_j exp z_j`; the backward recomputes the softmax from it.
    pub lse: Tensor,
    /// `H = -Σ p log p = lse - Σ p z`, when asked for.
    pub entropy: Option<Tensor>,
}

/// Whether outputs are pre-filled with NaN before the kernel writes them (tests only: an element a kernel
/// forgot to write then shows as NaN instead of as whatever the allocator handed back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Poison {
    No,
    Yes,
}

/// Log-probabilities of `targets` under `softmax(logits)`, with the log-sum-exp and optionally the entropy.
///
/// - `logits`: `[n, V]`, f32 or bf16 (any layout; non-contiguous inputs are copied first).
/// - `targets`: `[n]` u32 token ids, on the same device. An id `>= V` gives a NaN log-prob.
///
/// Returns `[n]` f32 tensors. Not tracked by autograd: the caller's CustomOp owns the graph and calls
/// [`selective_logprob_backward`] for the gradient.
pub fn selective_logprob(
    logits: &Tensor,
    targets: &Tensor,
    with_entropy: bool,
) -> Result<SelectiveLogprob> {
    forward(logits, targets, with_entropy, Poison::No)
}

/// Gradient of `Σ g·logp_y + Σ g_H·H` with respect to the logits:
/// `dz = g·(onehot(y) − softmax z) + g_H·(−p (log p + H))`, with `p = exp(z − lse)` recomputed from the
/// saved log-sum-exp. `lse`, `grad_logprobs` and `grad_entropy` are `[n]` f32. Returns `[n, V]` in the
/// dtype of `logits`.
pub fn selective_logprob_backward(
    logits: &Tensor,
    targets: &Tensor,
    lse: &Tensor,
    grad_logprobs: &Tensor,
    grad_entropy: Option<&Tensor>,
) -> Result<Tensor> {
    backward(
        logits,
        targets,
        lse,
        grad_logprobs,
        grad_entropy,
        Poison::No,
    )
}

/// Variants whose outputs are poisoned with NaN before the kernels run, so that tests catch any element a
/// kernel leaves unwritten. Same results as the public functions otherwise; slower by one fill.
#[doc(hidden)]
pub mod testing {
    use super::*;

    pub fn selective_logprob_poisoned(
        logits: &Tensor,
        targets: &Tensor,
        with_entropy: bool,
    ) -> Result<SelectiveLogprob> {
        forward(logits, targets, with_entropy, Poison::Yes)
    }

    pub fn selective_logprob_backward_poisoned(
        logits: &Tensor,
        targets: &Tensor,
        lse: &Tensor,
        grad_logprobs: &Tensor,
        grad_entropy: Option<&Tensor>,
    ) -> Result<Tensor> {
        backward(
            logits,
            targets,
            lse,
            grad_logprobs,
            grad_entropy,
            Poison::Yes,
        )
    }
}

fn forward(
    logits: &Tensor,
    targets: &Tensor,
    with_entropy: bool,
    poison: Poison,
) -> Result<SelectiveLogprob> {
    let (n, _) = check_logits(FWD_OP, logits)?;
    check_row_vector(FWD_OP, "targets", targets, DType::U32, n, logits.device())?;
    let logits = logits.contiguous()?;
    let targets = targets.contiguous()?;
    match logits.device() {
        Device::Cpu => cpu::selective_logprob(&logits, &targets, with_entropy, poison),
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => cuda::selective_logprob(&logits, &targets, with_entropy, poison),
        device => Err(no_kernel(FWD_OP, device)),
    }
}

fn backward(
    logits: &Tensor,
    targets: &Tensor,
    lse: &Tensor,
    grad_logprobs: &Tensor,
    grad_entropy: Option<&Tensor>,
    poison: Poison,
) -> Result<Tensor> {
    let (n, _) = check_logits(BWD_OP, logits)?;
    let device = logits.device();
    check_row_vector(BWD_OP, "targets", targets, DType::U32, n, device)?;
    check_row_vector(BWD_OP, "lse", lse, DType::F32, n, device)?;
    check_row_vector(
        BWD_OP,
        "grad_logprobs",
        grad_logprobs,
        DType::F32,
        n,
        device,
    )?;
    if let Some(g) = grad_entropy {
        check_row_vector(BWD_OP, "grad_entropy", g, DType::F32, n, device)?;
    }
    // The per-row vectors are often strided views (columns of the caller's [n, 3] result).
    let logits = logits.contiguous()?;
    let targets = targets.contiguous()?;
    let lse = &lse.contiguous()?;
    let grad_logprobs = &grad_logprobs.contiguous()?;
    let grad_entropy = grad_entropy.map(Tensor::contiguous).transpose()?;
    let grad_entropy = grad_entropy.as_ref();
    match device {
        Device::Cpu => cpu::selective_logprob_backward(
            &logits,
            &targets,
            lse,
            grad_logprobs,
            grad_entropy,
            poison,
        ),
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => cuda::selective_logprob_backward(
            &logits,
            &targets,
            lse,
            grad_logprobs,
            grad_entropy,
            poison,
        ),
        device => Err(no_kernel(BWD_OP, device)),
    }
}

fn no_kernel(op: &'static str, device: &Device) -> Error {
    let hint = if device.is_cuda() {
        " (rebuild with `--features cuda`)"
    } else {
        ""
    };
    Error::NoKernel {
        op,
        device: device.location(),
        hint,
    }
}

/// `logits` must be `[n, V]` with `V >= 1`, f32 or bf16. Returns `(n, V)`.
fn check_logits(op: &'static str, logits: &Tensor) -> Result<(usize, usize)> {
    let shape_err = || Error::Shape {
        op,
        what: "logits",
        expected: "[rows, vocab] with vocab >= 1 and both below 2^31".into(),
        got: logits.dims().to_vec(),
    };
    let (n, v) = logits.dims2().map_err(|_| shape_err())?;
    // The kernels index rows and columns with 32-bit integers (grid size, u32 target ids).
    if v == 0 || v > i32::MAX as usize || n > i32::MAX as usize {
        return Err(shape_err());
    }
    match logits.dtype() {
        DType::F32 | DType::BF16 => Ok((n, v)),
        got => Err(Error::DType {
            op,
            what: "logits",
            expected: "f32 or bf16",
            got,
        }),
    }
}

fn check_row_vector(
    op: &'static str,
    what: &'static str,
    t: &Tensor,
    dtype: DType,
    n: usize,
    device: &Device,
) -> Result<()> {
    if t.dims() != [n] {
        return Err(Error::Shape {
            op,
            what,
            expected: format!("[{n}] (one per logits row)"),
            got: t.dims().to_vec(),
        });
    }
    if t.dtype() != dtype {
        return Err(Error::DType {
            op,
            what,
            expected: dtype.as_str(),
            got: t.dtype(),
        });
    }
    if !t.device().same_device(device) {
        return Err(Error::Device {
            op,
            what,
            expected: device.location(),
            got: t.device().location(),
        });
    }
    Ok(())
}
