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
use candle_core::{CpuStorage, CustomOp2, Device, Layout, Shape, Storage, Tensor, Var, WithDType};
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

/// A storage-level matmul `(lhs, rhs, (batch, m, n, k), lhs layout, rhs layout)`.
type MatmulFn<'a, S> =
    &'a dyn Fn(&S, &S, (usize, usize, usize, usize), &Layout, &Layout) -> candle_core::Result<S>;

impl LinearOp {
    /// The forward on any backend, `mm` doing the `[m, k] · [k, out]` product.
    pub(crate) fn fwd<S: BackendStorage>(
        s1: &S,
        l1: &Layout,
        s2: &S,
        l2: &Layout,
        mm: MatmulFn<'_, S>,
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
        let res = mm(s1, s2, (1, m, out, k), &lhs, &rhs)?;
        let mut out_dims = dims.to_vec();
        if let Some(last) = out_dims.last_mut() {
            *last = out;
        }
        Ok((res, Shape::from(out_dims)))
    }

    /// The CPU forward ([`cpu_matmul`]).
    pub(crate) fn cpu(
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        Self::fwd(s1, l1, s2, l2, &cpu_matmul)
    }
}

/// `lhs [m, k] · rhs [k, n]` (any strides) into a new row-major `[m, n]` buffer.
///
/// candle's CPU matmul zero-fills its output before the gemm overwrites it; in a training step
/// those fills ran on one core while the other waited (~0.17 s of a 100M step). Here the gemm
/// writes into uninitialised capacity instead.
fn gemm_fresh<T: WithDType>(
    (m, n, k): (usize, usize, usize),
    lhs: &[T],
    ll: &Layout,
    rhs: &[T],
    rl: &Layout,
) -> candle_core::Result<Vec<T>> {
    let (ls, rs) = (ll.stride(), rl.stride());
    if ls.len() != 2 || rs.len() != 2 {
        candle_core::bail!("gemm: 2-D operands only");
    }
    // The furthest element each operand reads must exist (the gemm reads through raw pointers).
    let end = |l: &Layout, rows: usize, cols: usize, s: &[usize]| {
        l.start_offset() + (rows.max(1) - 1) * s[0] + (cols.max(1) - 1) * s[1]
    };
    if m * n == 0 {
        return Ok(Vec::new());
    }
    if k == 0 {
        return Ok(vec![T::zero(); m * n]);
    }
    if end(ll, m, k, ls) >= lhs.len() || end(rl, k, n, rs) >= rhs.len() {
        candle_core::bail!("gemm: operand layout outside its storage");
    }
    // rayon's pool size (what candle's `get_num_threads` returns, without its per-call env lookup).
    let threads = rayon::current_num_threads();
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    let mut dst: Vec<T> = Vec::with_capacity(m * n);
    // SAFETY: the operands' extents were checked above; `dst` has room for m·n elements, which
    // the gemm writes without reading (`read_dst = false`) before the length is set.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.as_ptr().add(ll.start_offset()),
            ls[1] as isize,
            ls[0] as isize,
            rhs.as_ptr().add(rl.start_offset()),
            rs[1] as isize,
            rs[0] as isize,
            T::zero(),
            T::one(),
            false,
            false,
            false,
            parallelism,
        );
        dst.set_len(m * n);
    }
    Ok(dst)
}

/// `lhs [m, k] · rhs [k, n]` into a new `[m, n]` buffer: the BLAS of [`crate::blas`] when one is
/// loaded and the layouts suit it, [`gemm_fresh`] otherwise.
fn host_matmul<T: WithDType + crate::blas::BlasFloat>(
    mnk: (usize, usize, usize),
    lhs: &[T],
    ll: &Layout,
    rhs: &[T],
    rl: &Layout,
) -> candle_core::Result<Vec<T>> {
    // Thin products (a decode step's single row, a LoRA rank) are faster in the gemm crate: OpenBLAS
    // decoded 35–40 % slower at batch 1 (BENCHMARKS.md).
    let (m, n, _) = mnk;
    let thin = m.min(n) < crate::blas::MIN_DIM;
    if let (false, Some(blas), [lr, lc], [rr, rc]) =
        (thin, crate::blas::get(), ll.stride(), rl.stride())
    {
        let (lhs_at, rhs_at) = (lhs.get(ll.start_offset()..), rhs.get(rl.start_offset()..));
        if let (Some(a), Some(b)) = (lhs_at, rhs_at)
            && let Some(v) = blas.matmul(mnk, a, (*lr, *lc), b, (*rr, *rc))
        {
            return Ok(v);
        }
    }
    gemm_fresh(mnk, lhs, ll, rhs, rl)
}

/// A storage-level CPU matmul: [`host_matmul`] for f32 and f64 (batch 1), candle's otherwise.
fn cpu_matmul(
    s1: &CpuStorage,
    s2: &CpuStorage,
    (b, m, n, k): (usize, usize, usize, usize),
    l1: &Layout,
    l2: &Layout,
) -> candle_core::Result<CpuStorage> {
    match (s1, s2) {
        (CpuStorage::F32(a), CpuStorage::F32(w)) if b == 1 => {
            Ok(CpuStorage::F32(host_matmul((m, n, k), a, l1, w, l2)?))
        }
        (CpuStorage::F64(a), CpuStorage::F64(w)) if b == 1 => {
            Ok(CpuStorage::F64(host_matmul((m, n, k), a, l1, w, l2)?))
        }
        _ => s1.matmul(s2, (b, m, n, k), l1, l2),
    }
}

/// `a [m, k] · b [k, n]` for 2-D tensors: [`cpu_matmul`] on the CPU, `Tensor::matmul` elsewhere
/// and whenever an operand is tracked (the result of [`cpu_matmul`] records no graph).
pub(crate) fn matmul2(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let ((m, k), (k2, n)) = (a.dims2()?, b.dims2()?);
    if !a.device().is_cpu()
        || !b.device().is_cpu()
        || k != k2
        || a.dtype() != b.dtype()
        || a.track_op()
        || b.track_op()
    {
        return a.matmul(b);
    }
    let (sa, la) = a.storage_and_layout();
    let (sb, lb) = b.storage_and_layout();
    let (Storage::Cpu(sa), Storage::Cpu(sb)) = (&*sa, &*sb) else {
        return a.matmul(b);
    };
    let out = cpu_matmul(sa, sb, (1, m, n, k), la, lb)?;
    let dev = Device::Cpu;
    match out {
        CpuStorage::F32(v) => Tensor::from_vec(v, (m, n), &dev),
        CpuStorage::F64(v) => Tensor::from_vec(v, (m, n), &dev),
        _ => a.matmul(b),
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
        Self::cpu(s1, l1, s2, l2)
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        Self::fwd(s1, l1, s2, l2, &|a, b, bmnk, la, lb| {
            a.matmul(b, bmnk, la, lb)
        })
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
            Some(matmul2(&g, &w.detach())?.reshape(x.shape())?)
        } else {
            None
        };
        let gw = if w.track_op() {
            Some(matmul2(&g.t()?, &x.detach().reshape((m, k))?)?)
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
        let w = self.weight.value(ctx);
        let y = match &self.bias {
            Some(b) if crate::fused::fused_available(&x) && b.tensor().dtype() == x.dtype() => {
                crate::fused::linear_bias(&x, &w, &b.value(ctx))?
            }
            Some(b) => linear(&x, &w)?.broadcast_add(&b.value(ctx))?,
            None => linear(&x, &w)?,
        };
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
