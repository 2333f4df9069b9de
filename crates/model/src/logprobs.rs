//! Log-probabilities of given target tokens, chunked over positions so that the full
//! `[N, V]` f32 log-softmax never exists, in the forward or the backward.
//!
//! [`token_logprobs`] is the one entry point trainers use. It is a `CustomOp2` over
//! `(hidden, head)`: the forward walks chunks of `chunk_size` rows, forms their logits and calls
//! [`caugym_kernels::selective_logprob`]; the backward recomputes each chunk's logits, gets
//! `d logits` from [`caugym_kernels::selective_logprob_backward`] and contracts it with the head
//! and the hidden states at once. The autograd graph keeps only the `[N, 3]` result (and, when
//! all rows fit one chunk, that chunk's logits until the backward: [`LogprobOptions::keep_logits`]).
//! [`reference_token_logprobs`] is the naive differentiable twin (`log_softmax` then gather).

use crate::batch::Batch;
use crate::linear::AdapterMode;
use crate::qwen2::Qwen2;
use crate::{Error, Result};
use candle_core::{CpuStorage, CustomOp2, D, DType, Layout, Shape, Storage, Tensor};
use std::sync::Mutex;

/// Options of [`token_logprobs`].
#[derive(Debug, Clone, PartialEq)]
pub struct LogprobOptions {
    /// Logits are divided by this (match the sampler's temperature). Must be > 0.
    pub temperature: f64,
    /// Rows per chunk: peak extra memory is ~3 · chunk_size · V values.
    pub chunk_size: usize,
    /// Also return the entropy of each row's distribution.
    pub with_entropy: bool,
    /// When all rows fit one chunk, keep that chunk's logits from the forward for the backward
    /// instead of recomputing them: one `[N, H]·[H, V]` matmul less per step (about 7 % of a
    /// 100M model's training step) for `chunk_size · V` values held until the backward runs.
    /// The backward needs them and a `d logits` of the same size at once either way, so the peak
    /// is unchanged; set it off where the time between forward and backward is memory-bound.
    pub keep_logits: bool,
}

impl Default for LogprobOptions {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            chunk_size: 1024,
            with_entropy: false,
            keep_logits: true,
        }
    }
}

/// Per-token log-probs (and entropies), f32.
#[derive(Debug, Clone)]
pub struct TokenLogprobs {
    pub logprobs: Tensor,
    pub entropy: Option<Tensor>,
}

/// Column layout of the op's `[N, 3]` output.
const COL_LOGP: usize = 0;
const COL_LSE: usize = 1;
const COL_ENTROPY: usize = 2;

fn check(hidden: &Tensor, head: &Tensor, targets: &Tensor, opts: &LogprobOptions) -> Result<usize> {
    let (n, h) = hidden.dims2().map_err(|_| {
        Error::input(
            "hidden",
            format!("expected [N, H], got {:?}", hidden.dims()),
        )
    })?;
    let (_, hh) = head
        .dims2()
        .map_err(|_| Error::input("head", format!("expected [V, H], got {:?}", head.dims())))?;
    if hh != h {
        return Err(Error::Shape {
            name: "head".into(),
            expected: vec![head.dim(0)?, h],
            got: head.dims().to_vec(),
        });
    }
    if targets.dims() != [n] || targets.dtype() != DType::U32 {
        return Err(Error::input(
            "targets",
            format!(
                "expected [{n}] u32, got {:?} {:?}",
                targets.dims(),
                targets.dtype()
            ),
        ));
    }
    if !(opts.temperature > 0.0 && opts.temperature.is_finite()) {
        return Err(Error::config(
            "temperature",
            format!("must be > 0, got {}", opts.temperature),
        ));
    }
    if opts.chunk_size == 0 {
        return Err(Error::config("chunk_size", "must be positive"));
    }
    // The kernels answer an id outside the vocabulary with NaN (they must not branch per row on
    // the GPU); here it is a caller's error, named before any NaN reaches a loss.
    let vocab = head.dim(0)?;
    if n > 0 {
        let max = targets.max(0)?.to_scalar::<u32>()?;
        if max as usize >= vocab {
            return Err(Error::input(
                "targets",
                format!("token id {max} is outside the vocabulary of {vocab}"),
            ));
        }
    }
    Ok(n)
}

/// Chunks `(start, len)` covering `0..n`.
fn chunks(n: usize, size: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n).step_by(size).map(move |s| (s, size.min(n - s)))
}

/// The differentiable chunked op. The forward result is computed before the op is applied
/// (from detached inputs) and handed over as storage; `bwd` recomputes chunk by chunk.
struct ChunkedLogprob {
    targets: Tensor,
    opts: LogprobOptions,
    result: Tensor,
    /// The single chunk's logits when [`LogprobOptions::keep_logits`] applies; the backward takes
    /// them (freeing them as soon as it is done, although the graph lives on).
    kept_logits: Mutex<Option<Tensor>>,
}

fn chunk_logits(h: &Tensor, head: &Tensor, temperature: f64) -> Result<Tensor> {
    let z = crate::linear::matmul2(h, &head.t()?)?;
    Ok(if temperature == 1.0 {
        z
    } else {
        z.affine(1.0 / temperature, 0.0)?
    })
}

/// `[N, 3]` f32: (log-prob, log-sum-exp, entropy or 0) per row, no graph; with the logits when
/// there is a single chunk and `opts.keep_logits` asks for them.
fn forward_rows(
    hidden: &Tensor,
    head: &Tensor,
    targets: &Tensor,
    opts: &LogprobOptions,
) -> Result<(Tensor, Option<Tensor>)> {
    let n = hidden.dim(0)?;
    let keep = opts.keep_logits && n <= opts.chunk_size;
    let mut cols = Vec::new();
    let mut kept = None;
    for (s, len) in chunks(n, opts.chunk_size) {
        let z = chunk_logits(&hidden.narrow(0, s, len)?, head, opts.temperature)?;
        let r =
            caugym_kernels::selective_logprob(&z, &targets.narrow(0, s, len)?, opts.with_entropy)?;
        let h = match r.entropy {
            Some(h) => h,
            None => Tensor::zeros(len, DType::F32, hidden.device())?,
        };
        cols.push(Tensor::stack(&[r.logprobs, r.lse, h], 1)?);
        if keep {
            kept = Some(z);
        }
    }
    Ok((Tensor::cat(&cols, 0)?.contiguous()?, kept))
}

impl ChunkedLogprob {
    fn backward(
        &self,
        hidden: &Tensor,
        head: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (need_h, need_w) = (hidden.track_op(), head.track_op());
        let (hidden, head) = (hidden.detach(), head.detach());
        let grad = grad.to_dtype(DType::F32)?;
        let inv_t = 1.0 / self.opts.temperature;
        let mut dh = Vec::new();
        let mut dw: Option<Tensor> = None;
        let mut kept = self
            .kept_logits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        for (s, len) in chunks(hidden.dim(0)?, self.opts.chunk_size) {
            let h = hidden.narrow(0, s, len)?;
            let z = match kept.take() {
                Some(z) => z,
                None => chunk_logits(&h, &head, self.opts.temperature)?,
            };
            let g = grad.narrow(0, s, len)?;
            let ge = if self.opts.with_entropy {
                Some(g.narrow(1, COL_ENTROPY, 1)?.squeeze(1)?)
            } else {
                None
            };
            let dz = caugym_kernels::selective_logprob_backward(
                &z,
                &self.targets.narrow(0, s, len)?,
                &res.narrow(0, s, len)?.narrow(1, COL_LSE, 1)?.squeeze(1)?,
                &g.narrow(1, COL_LOGP, 1)?.squeeze(1)?,
                ge.as_ref(),
            )?;
            let dz = if inv_t == 1.0 {
                dz
            } else {
                dz.affine(inv_t, 0.0)?
            };
            if need_h {
                dh.push(crate::linear::matmul2(&dz, &head)?);
            }
            if need_w {
                let part = crate::linear::matmul2(&dz.t()?, &h)?;
                dw = Some(match dw {
                    None => part,
                    Some(acc) => (acc + part)?,
                });
            }
        }
        let dh = if need_h {
            Some(Tensor::cat(&dh, 0)?)
        } else {
            None
        };
        Ok((dh, dw))
    }
}

impl CustomOp2 for ChunkedLogprob {
    fn name(&self) -> &'static str {
        "caugym-token-logprobs"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        match &*self.result.storage_and_layout().0 {
            Storage::Cpu(s) => Ok((s.clone(), self.result.shape().clone())),
            _ => candle_core::bail!("caugym-token-logprobs: result is not on the CPU"),
        }
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        _: &candle_core::CudaStorage,
        _: &Layout,
        _: &candle_core::CudaStorage,
        _: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        use candle_core::backend::BackendStorage;
        match &*self.result.storage_and_layout().0 {
            Storage::Cuda(s) => Ok((
                s.try_clone(self.result.layout())?,
                self.result.shape().clone(),
            )),
            _ => candle_core::bail!("caugym-token-logprobs: result is not on the GPU"),
        }
    }

    fn bwd(
        &self,
        hidden: &Tensor,
        head: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        self.backward(hidden, head, res, grad)
            .map_err(|e| candle_core::Error::Msg(format!("caugym-token-logprobs backward: {e}")))
    }
}

/// Log-probs of `targets` under `softmax(hidden · headᵀ / temperature)`, chunked over rows.
///
/// `hidden`: `[N, H]`; `head`: `[V, H]` (same dtype); `targets`: `[N]` u32. Returns `[N]` f32
/// log-probs (and entropies), differentiable w.r.t. `hidden` and, when it is tracked, `head`.
/// Naive equivalent: [`reference_token_logprobs`].
pub fn token_logprobs(
    hidden: &Tensor,
    head: &Tensor,
    targets: &Tensor,
    opts: &LogprobOptions,
) -> Result<TokenLogprobs> {
    check(hidden, head, targets, opts)?;
    let hidden = hidden.contiguous()?;
    let (result, kept_logits) = forward_rows(&hidden.detach(), &head.detach(), targets, opts)?;
    // Nothing to keep when no gradient will be asked for (`apply_op2` records no graph then).
    let kept_logits = kept_logits.filter(|_| hidden.track_op() || head.track_op());
    let op = ChunkedLogprob {
        targets: targets.clone(),
        opts: opts.clone(),
        result,
        kept_logits: Mutex::new(kept_logits),
    };
    let out = hidden.apply_op2(head, op)?;
    let col = |c: usize| -> Result<Tensor> { Ok(out.narrow(1, c, 1)?.squeeze(1)?) };
    Ok(TokenLogprobs {
        logprobs: col(COL_LOGP)?,
        entropy: if opts.with_entropy {
            Some(col(COL_ENTROPY)?)
        } else {
            None
        },
    })
}

/// The composed reference: `log_softmax(hidden · headᵀ / T)` gathered at `targets`, entropy
/// `−Σ p log p`; differentiable through candle's own ops, memory ∝ N · V.
pub fn reference_token_logprobs(
    hidden: &Tensor,
    head: &Tensor,
    targets: &Tensor,
    opts: &LogprobOptions,
) -> Result<TokenLogprobs> {
    check(hidden, head, targets, opts)?;
    let z = chunk_logits(hidden, head, opts.temperature)?;
    // f32 at least (bf16 inputs are upcast); an f64 model stays f64 for finite differences.
    let z = if z.dtype() == DType::F64 {
        z
    } else {
        z.to_dtype(DType::F32)?
    };
    let logp = candle_nn::ops::log_softmax(&z, D::Minus1)?;
    let picked = logp.gather(&targets.unsqueeze(1)?, 1)?.squeeze(1)?;
    let entropy = if opts.with_entropy {
        Some((logp.exp()? * &logp)?.sum(D::Minus1)?.neg()?)
    } else {
        None
    };
    Ok(TokenLogprobs {
        logprobs: picked,
        entropy,
    })
}

/// Next-token log-probs of a batch: entry `[b, t]` is `log p(input_ids[b, t+1] | ..= t)`,
/// shape `[B, T − 1]` (entropies likewise). Positions whose target is padding hold finite
/// garbage: mask them with [`target_mask`].
pub fn sequence_logprobs(
    model: &Qwen2,
    batch: &Batch,
    adapter: AdapterMode,
    opts: &LogprobOptions,
) -> Result<TokenLogprobs> {
    let (b, t) = batch.dims();
    if t < 2 {
        return Err(Error::input(
            "batch",
            "sequence_logprobs needs at least 2 positions",
        ));
    }
    let hidden = model.forward_hidden(batch, adapter)?;
    let h = hidden
        .narrow(1, 0, t - 1)?
        .reshape((b * (t - 1), hidden.dim(2)?))?;
    let targets = batch.input_ids.narrow(1, 1, t - 1)?.flatten_all()?;
    let out = token_logprobs(&h, model.lm_head_weight(), &targets, opts)?;
    let shape = |x: Tensor| -> Result<Tensor> { Ok(x.reshape((b, t - 1))?) };
    Ok(TokenLogprobs {
        logprobs: shape(out.logprobs)?,
        entropy: out.entropy.map(shape).transpose()?,
    })
}

/// `[B, T − 1]` f32 mask of the targets of [`sequence_logprobs`]: 1 where the target token is
/// real (`attention_mask[:, 1:]`).
pub fn target_mask(batch: &Batch) -> Result<Tensor> {
    let (_, t) = batch.dims();
    Ok(batch
        .attention_mask
        .narrow(1, 1, t - 1)?
        .ne(0u32)?
        .to_dtype(DType::F32)?)
}

/// Σ x·mask over every element (a scalar); `x` and `mask` have the same shape.
pub fn masked_sum(x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    Ok((x * mask.to_dtype(x.dtype())?)?.sum_all()?)
}

/// Σ x·mask over the last dimension: per-sequence sums `[B]` (DPO and KTO use sums).
pub fn masked_row_sum(x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    Ok((x * mask.to_dtype(x.dtype())?)?.sum(D::Minus1)?)
}

/// Σ x·mask / Σ mask (a scalar); an all-zero mask is an error rather than a NaN.
pub fn masked_mean(x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let count = mask.to_dtype(DType::F32)?.sum_all()?.to_scalar::<f32>()?;
    if count == 0.0 {
        return Err(Error::input("mask", "masked_mean over an empty mask"));
    }
    Ok((masked_sum(x, mask)? / count as f64)?)
}
