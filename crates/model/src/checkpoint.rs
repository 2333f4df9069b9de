//! Activation checkpointing per decoder layer (candle has none: candle-notes.md, issue #1423).
//!
//! Without it, the graph of a training forward keeps every intermediate of every layer alive
//! until the backward (for a 14B model at 8 × 2,048 tokens: tens of GB per layer group). With it,
//! a layer runs once *without* a graph (same ops and numerics as the training path, weights
//! detached) and only its input is kept; the backward recomputes the layer with a graph and
//! back-propagates through that recomputation alone, so at most one layer's activations live at
//! a time.
//!
//! candle's backward hands a custom op the gradients of its tensor operands only, and a layer's
//! trainable `Var`s (LoRA A/B, or every weight under full fine-tuning) are not operands. They
//! reach the ordinary `GradStore` through *taps*: a chain of tiny ops `s = tap(…tap(0, v₁)…, vₙ)`
//! over the layer's Vars whose scalar output `s` is the checkpoint op's second operand. The
//! backward visits the checkpoint op before its operands, so when it reaches the taps the
//! recomputation has already left each Var's gradient in a stash shared with them, and each tap
//! returns its Var's gradient as if the Var fed it directly. `loss.backward()` therefore returns
//! the same gradients for the same Vars with or without checkpointing; callers (the trainers'
//! accumulation, clipping and AdamW) need no special case.
//!
//! Dropout: the layer's first run draws its LoRA dropout masks from the model RNG as an
//! unchecked layer would; the RNG state before the layer is kept, and the recomputation replays
//! it on a copy, so it draws the same masks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Storage, Tensor, TensorId, Var};
use rand_chacha::ChaCha8Rng;

use crate::Result;
use crate::linear::Ctx;
use crate::qwen2::{DecoderLayer, RopeTables, Shared};

/// Gradients of a layer's Vars, left by the recomputation for the taps to return.
type Stash = Arc<Mutex<HashMap<TensorId, Tensor>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Rows `(start, len)` of each group of at most `group` rows (`0`: one group of all `b`).
fn row_groups(b: usize, group: usize) -> Vec<(usize, usize)> {
    let group = if group == 0 { b.max(1) } else { group };
    (0..b)
        .step_by(group)
        .map(|s| (s, group.min(b - s)))
        .collect()
}

/// Runs `layer` on `x` under `sh` with checkpointing: the same output as
/// `layer.forward(x, sh, None)`, with a graph that holds `x` instead of the layer's activations.
///
/// `rows_per_group` (0: all) splits the batch for the graph-free run and the recomputation:
/// rows are independent inside a decoder layer, so the gradients are the same, and the peak
/// is one group's activations (the `[rows, heads, T, T]` attention tensors dominate at long
/// T). LoRA dropout masks are then drawn group by group — the same in the first run and the
/// recomputation, but not the masks an unsplit forward would draw.
pub(crate) fn forward(
    layer: &DecoderLayer,
    x: &Tensor,
    sh: &Shared,
    rows_per_group: usize,
) -> Result<Tensor> {
    let vars = layer.trainable_vars(&sh.ctx);
    if vars.is_empty() && !x.track_op() {
        // Nothing upstream or inside needs a gradient: no graph would be recorded anyway.
        return layer.forward(x, sh, None);
    }
    let mut groups = Vec::new();
    let mut outputs = Vec::new();
    for (start, len) in row_groups(x.dim(0)?, rows_per_group) {
        let dropout = sh.ctx.dropout.map(|m| lock(m).clone());
        let detached = Shared {
            ctx: Ctx {
                detached: true,
                ..sh.ctx
            },
            ..sh.rows(start, len)?
        };
        outputs.push(layer.forward(&x.narrow(0, start, len)?.detach(), &detached, None)?);
        groups.push(Group {
            start,
            len,
            dropout,
        });
    }
    let output = if outputs.len() == 1 {
        outputs.remove(0)
    } else {
        Tensor::cat(&outputs, 0)?
    };
    drop(outputs);
    let stash = Stash::default();
    let mut taps = Tensor::zeros((), DType::F32, x.device())?;
    for v in &vars {
        taps = taps.apply_op2(v.as_tensor(), Tap(stash.clone()))?;
    }
    let op = Checkpoint {
        replay: Replay {
            layer: layer.clone(),
            rope: sh.rope.clone(),
            bias: sh.bias.clone(),
            adapter: sh.ctx.adapter.map(str::to_string),
            groups,
        },
        output: Mutex::new(Some(output)),
        vars,
        stash,
    };
    Ok(x.apply_op2(&taps, op)?)
}

/// Rows run together, and the dropout RNG as it was before their first run.
struct Group {
    start: usize,
    len: usize,
    dropout: Option<ChaCha8Rng>,
}

/// What the recomputation needs of the forward, owned (a backward outlives the forward's
/// borrows).
struct Replay {
    layer: DecoderLayer,
    rope: RopeTables,
    bias: Tensor,
    adapter: Option<String>,
    groups: Vec<Group>,
}

impl Replay {
    /// The layer on `x` (the rows of `g`) with a graph, drawing the first run's dropout masks.
    fn forward(&self, x: &Tensor, g: &Group) -> Result<Tensor> {
        let rng = g.dropout.clone().map(Mutex::new);
        let all = Shared {
            ctx: Ctx {
                adapter: self.adapter.as_deref(),
                dropout: rng.as_ref(),
                no_grad: false,
                detached: false,
            },
            rope: self.rope.clone(),
            bias: self.bias.clone(),
        };
        let sh = Shared {
            ctx: all.ctx,
            ..all.rows(g.start, g.len)?
        };
        self.layer.forward(x, &sh, None)
    }
}

/// `(x, taps) ↦ layer(x)`: the forward hands out the output computed without a graph; the
/// backward recomputes the layer and returns the gradient of `x`, stashing the Vars' gradients.
struct Checkpoint {
    replay: Replay,
    /// The graph-free output, taken by the (single) forward.
    output: Mutex<Option<Tensor>>,
    vars: Vec<Var>,
    stash: Stash,
}

impl Checkpoint {
    fn take_output(&self) -> candle_core::Result<Tensor> {
        lock(&self.output)
            .take()
            .ok_or_else(|| candle_core::Error::Msg("checkpoint: forward applied twice".into()))
    }
}

/// A copy of `t`'s storage as a fresh contiguous buffer of its shape.
fn copy_storage(t: &Tensor) -> candle_core::Result<(Storage, Shape)> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    if layout.start_offset() != 0 {
        candle_core::bail!("checkpoint: the layer output is a view");
    }
    let copy = match &*storage {
        Storage::Cpu(s) => Storage::Cpu(s.try_clone(layout)?),
        #[cfg(feature = "cuda")]
        Storage::Cuda(s) => Storage::Cuda(s.try_clone(layout)?),
        #[allow(unreachable_patterns)]
        _ => candle_core::bail!("checkpoint: unsupported device"),
    };
    Ok((copy, layout.shape().clone()))
}

impl CustomOp2 for Checkpoint {
    fn name(&self) -> &'static str {
        "caugym-checkpoint"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        match copy_storage(&self.take_output()?)? {
            (Storage::Cpu(s), shape) => Ok((s, shape)),
            _ => candle_core::bail!("checkpoint: the layer ran on another device"),
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
        match copy_storage(&self.take_output()?)? {
            (Storage::Cuda(s), shape) => Ok((s, shape)),
            _ => candle_core::bail!("checkpoint: the layer ran on another device"),
        }
    }

    fn bwd(
        &self,
        x: &Tensor,
        taps: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let to_candle = |e: crate::Error| candle_core::Error::Msg(format!("checkpoint: {e}"));
        let mut gx_parts = Vec::new();
        for g in &self.replay.groups {
            let input = Var::from_tensor(&x.narrow(0, g.start, g.len)?.detach())?;
            let y = self
                .replay
                .forward(input.as_tensor(), g)
                .map_err(to_candle)?;
            // d(Σ y·g)/dθ = gᵀ ∂y/∂θ: a vector-Jacobian product through the recomputed layer.
            let seed = grad.narrow(0, g.start, g.len)?.detach();
            let grads = (y * seed)?.sum_all()?.backward()?;
            let mut stash = lock(&self.stash);
            for v in &self.vars {
                if let Some(gv) = grads.get(v.as_tensor()) {
                    let id = v.as_tensor().id();
                    let sum = match stash.remove(&id) {
                        Some(acc) => (acc + gv)?,
                        None => gv.clone(),
                    };
                    stash.insert(id, sum);
                }
            }
            if x.track_op() {
                gx_parts.push(grads.get(input.as_tensor()).cloned().ok_or_else(|| {
                    candle_core::Error::Msg("checkpoint: no gradient for the layer input".into())
                })?);
            }
        }
        let gx = match gx_parts.len() {
            0 => None,
            1 => gx_parts.pop(),
            _ => Some(Tensor::cat(&gx_parts, 0)?),
        };
        // The taps only carry the Vars' gradients; their own value is a constant 0.
        let gt = taps.track_op().then(|| taps.zeros_like()).transpose()?;
        Ok((gx, gt))
    }
}

/// `(acc, v) ↦ acc` (a scalar): its backward passes the chain's gradient on and returns the
/// gradient of `v` the recomputation stashed.
struct Tap(Stash);

impl Tap {
    fn fwd<S: BackendStorage>(s: &S, l: &Layout) -> candle_core::Result<(S, Shape)> {
        Ok((s.try_clone(l)?, l.shape().clone()))
    }
}

impl CustomOp2 for Tap {
    fn name(&self) -> &'static str {
        "caugym-checkpoint-tap"
    }

    fn cpu_fwd(
        &self,
        s: &CpuStorage,
        l: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        Self::fwd(s, l)
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &Layout,
        _: &candle_core::CudaStorage,
        _: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        Self::fwd(s, l)
    }

    fn bwd(
        &self,
        acc: &Tensor,
        v: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let gv = lock(&self.0).remove(&v.id());
        Ok((acc.track_op().then(|| grad.clone()), gv))
    }
}
