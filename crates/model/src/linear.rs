//! Parameters (frozen tensor or trainable `Var`), the matmul op used by every projection, and
//! the linear layer that carries named LoRA adapters.
//!
//! candle's `Tensor::matmul` backward computes the gradient of *both* operands, so a frozen
//! weight would get a full `[out, in]` gradient on every step (for a 14B base in LoRA mode that
//! is a second copy of the model). [`LinearOp`] is a `CustomOp2` whose backward only computes
//! the gradients of operands that are tracked.

use crate::lora::LoraAdapter;
use crate::{Error, Result};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor, Var};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A weight: a frozen tensor in the base dtype, or a trainable `Var` (full fine-tuning).
#[derive(Debug, Clone)]
pub enum Param {
    Frozen(Tensor),
    Trainable(Var),
}

impl Param {
    /// The tensor for the training path (tracked when trainable).
    pub fn tensor(&self) -> &Tensor {
        match self {
            Param::Frozen(t) => t,
            Param::Trainable(v) => v.as_tensor(),
        }
    }

    /// The tensor as `ctx` wants it: detached on the no-grad path, so decoding with trainable
    /// weights never builds a graph.
    pub(crate) fn value(&self, ctx: &Ctx) -> Tensor {
        if ctx.untracked() {
            self.tensor().detach()
        } else {
            self.tensor().clone()
        }
    }

    /// Turns a frozen weight into a `Var` (a copy; f32 for full fine-tuning on CPU).
    pub fn make_trainable(&mut self) -> Result<()> {
        if let Param::Frozen(t) = self {
            *self = Param::Trainable(Var::from_tensor(t)?);
        }
        Ok(())
    }

    /// The `Var`, when trainable.
    pub fn var(&self) -> Option<&Var> {
        match self {
            Param::Frozen(_) => None,
            Param::Trainable(v) => Some(v),
        }
    }
}

/// Which adapter a forward uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterMode<'a> {
    /// The named adapter is added wherever it exists.
    Active(&'a str),
    /// No adapter: exactly the base model (the KL / DPO / KTO reference).
    Disabled,
}

/// Per-forward settings threaded through the layers.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub adapter: Option<&'a str>,
    /// Dropout RNG, present only while training.
    pub dropout: Option<&'a Mutex<ChaCha8Rng>>,
    /// Inference path: detached weights and fast no-backward ops are allowed.
    pub no_grad: bool,
    /// The training path's ops (same numerics) on detached weights: the first, graph-free run
    /// of a checkpointed layer ([`crate::checkpoint`]), whose backward recomputes it tracked.
    pub detached: bool,
}

impl Ctx<'_> {
    /// Whether weights are read detached (no graph is recorded through them).
    pub fn untracked(&self) -> bool {
        self.no_grad || self.detached
    }
}

/// `x [.., in] · wᵀ` with `w [out, in]`; backward only for tracked operands.
pub(crate) struct LinearOp;

impl LinearOp {
    fn fwd<S: BackendStorage>(
        s1: &S,
        l1: &Layout,
        s2: &S,
        l2: &Layout,
    ) -> candle_core::Result<(S, Shape)> {
        let dims = l1.dims();
        let k = *dims
            .last()
            .ok_or_else(|| candle_core::Error::Msg("linear: scalar input".into()))?;
        let (out, k2) = l2.shape().dims2()?;
        if k != k2 {
            candle_core::bail!("linear: input width {k} but weight is [{out}, {k2}]");
        }
        if !l1.is_contiguous() {
            candle_core::bail!("linear: input must be contiguous");
        }
        let m = l1.shape().elem_count() / k.max(1);
        let lhs = Layout::contiguous_with_offset((m, k), l1.start_offset());
        let st = l2.stride();
        let rhs = Layout::new(Shape::from((k, out)), vec![st[1], st[0]], l2.start_offset());
        let res = s1.matmul(s2, (1, m, out, k), &lhs, &rhs)?;
        let mut out_dims = dims.to_vec();
        if let Some(last) = out_dims.last_mut() {
            *last = out;
        }
        Ok((res, Shape::from(out_dims)))
    }
}

impl CustomOp2 for LinearOp {
    fn name(&self) -> &'static str {
        "caugym-linear"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        Self::fwd(s1, l1, s2, l2)
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        Self::fwd(s1, l1, s2, l2)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (out, k) = w.dims2()?;
        let m = x.elem_count() / k.max(1);
        let g = grad.reshape((m, out))?;
        let gx = if x.track_op() {
            Some(g.matmul(&w.detach())?.reshape(x.shape())?)
        } else {
            None
        };
        let gw = if w.track_op() {
            Some(g.t()?.matmul(&x.detach().reshape((m, k))?)?)
        } else {
            None
        };
        Ok((gx, gw))
    }
}

/// `x · wᵀ` for `x [.., in]`, `w [out, in]`, differentiable in both. `apply_op2` records the
/// op only when an operand is tracked, so this is free of graph on the inference path.
pub fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    Ok(x.contiguous()?.apply_op2(w, LinearOp)?)
}

/// A projection with an optional bias and any number of named LoRA adapters.
#[derive(Debug, Clone)]
pub struct Linear {
    pub(crate) weight: Param,
    pub(crate) bias: Option<Param>,
    pub(crate) adapters: BTreeMap<String, LoraAdapter>,
}

impl Linear {
    pub(crate) fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self {
            weight: Param::Frozen(weight),
            bias: bias.map(Param::Frozen),
            adapters: BTreeMap::new(),
        }
    }

    /// `(in, out)`.
    pub fn dims(&self) -> (usize, usize) {
        let d = self.weight.tensor().dims();
        (d[1], d[0])
    }

    /// The base weight `[out, in]`.
    pub fn weight(&self) -> &Param {
        &self.weight
    }

    /// The base bias `[out]`, if any.
    pub fn bias(&self) -> Option<&Param> {
        self.bias.as_ref()
    }

    /// The adapter called `name`, if this layer has one.
    pub fn adapter(&self, name: &str) -> Option<&LoraAdapter> {
        self.adapters.get(name)
    }

    pub(crate) fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let x = x.contiguous()?;
        let mut y = linear(&x, &self.weight.value(ctx))?;
        if let Some(b) = &self.bias {
            y = y.broadcast_add(&b.value(ctx))?;
        }
        let Some(adapter) = ctx.adapter.and_then(|name| self.adapters.get(name)) else {
            return Ok(y);
        };
        let (a, b) = if ctx.untracked() {
            (
                adapter.a.as_tensor().detach(),
                adapter.b.as_tensor().detach(),
            )
        } else {
            (adapter.a.as_tensor().clone(), adapter.b.as_tensor().clone())
        };
        let mut xl = x.to_dtype(a.dtype())?;
        if let (Some(rng), true) = (ctx.dropout, adapter.dropout > 0.0) {
            xl = dropout(&xl, adapter.dropout, rng)?;
        }
        let delta = linear(&linear(&xl, &a)?, &b)?.affine(adapter.scale, 0.0)?;
        Ok((y + delta.to_dtype(x.dtype())?)?)
    }
}

/// Inverted dropout with a mask drawn from the model's seeded RNG.
fn dropout(x: &Tensor, p: f64, rng: &Mutex<ChaCha8Rng>) -> Result<Tensor> {
    let keep = 1.0 - p;
    let n = x.elem_count();
    let mask: Vec<f32> = {
        let mut rng = rng.lock().unwrap_or_else(|e| e.into_inner());
        (0..n)
            .map(|_| {
                if rng.random::<f64>() < keep {
                    (1.0 / keep) as f32
                } else {
                    0.0
                }
            })
            .collect()
    };
    let mask = Tensor::from_vec(mask, x.shape(), x.device())?;
    Ok((x * mask)?)
}

/// Checks a loaded tensor's shape, naming it in the error.
pub(crate) fn check_shape(name: &str, t: &Tensor, expected: &[usize]) -> Result<()> {
    if t.dims() != expected {
        return Err(Error::Shape {
            name: name.to_string(),
            expected: expected.to_vec(),
            got: t.dims().to_vec(),
        });
    }
    Ok(())
}
