//! Fused CPU ops of the training forward, each a `CustomOp` with its own backward.
//!
//! Built from candle primitives, RMSNorm, rope, the masked softmax and SiLU·up each take several
//! single-threaded passes forward and more backward (every primitive's backward allocates a
//! zero gradient and adds into it, broadcasts are summed back, `narrow` is padded back with
//! zeros, and candle also differentiates the constant operands: the rope tables and the mask).
//! That made the backward of a training step cost ~3× its forward. Each op here is one pass
//! over its rows forward and one backward, split over the cores with rayon, and differentiates
//! only the operands that are tracked.
//!
//! The ops run on CPU tensors in f32 or f64 (f64: the finite-difference tests). Other devices and
//! dtypes take the composed forms in [`crate::qwen2`], which are also the reference the tests
//! hold these ops to ([`fused_available`] decides).

use candle_core::backend::BackendStorage;
use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Device, Layout, Shape, Storage, Tensor,
};
use candle_core::{WithDType, bail};
use rayon::prelude::*;

/// Elements per rayon task for element-wise work: small enough to split a [1024, 2048]
/// activation over the cores, large enough that scheduling costs nothing.
const ELEMS_PER_TASK: usize = 1 << 14;

/// Whether `x`'s device and dtype have the fused ops (CPU, f32 or f64).
pub(crate) fn fused_available(x: &Tensor) -> bool {
    FUSED_CPU_OPS.load(std::sync::atomic::Ordering::Relaxed)
        && x.device().is_cpu()
        && matches!(x.dtype(), DType::F32 | DType::F64)
}

static FUSED_CPU_OPS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Switches the fused CPU training ops of this module on (the default) or off for the whole
/// process. Off, the CPU runs the composed candle ops every other device runs: what memory
/// estimates for GPUs count op by op, and a second implementation to compare against.
pub fn set_fused_cpu_ops(enabled: bool) {
    FUSED_CPU_OPS.store(enabled, std::sync::atomic::Ordering::Relaxed);
}

/// The float arithmetic the kernels need beyond `WithDType`.
trait Real: WithDType {
    fn exp(self) -> Self;
    fn maximum(self, other: Self) -> Self;
    const NEG_INF: Self;
}

impl Real for f32 {
    fn exp(self) -> Self {
        f32::exp(self)
    }
    fn maximum(self, other: Self) -> Self {
        f32::max(self, other)
    }
    const NEG_INF: Self = f32::NEG_INFINITY;
}

impl Real for f64 {
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn maximum(self, other: Self) -> Self {
        f64::max(self, other)
    }
    const NEG_INF: Self = f64::NEG_INFINITY;
}

/// The contiguous elements of a CPU storage under `layout`.
fn slice<'a, T: WithDType>(
    s: &'a CpuStorage,
    l: &Layout,
    op: &str,
) -> candle_core::Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&s.as_slice::<T>()?[a..b]),
        None => bail!("{op}: input must be contiguous"),
    }
}

/// Runs `f` on the elements of `t` (made contiguous first) without copying them out.
fn with_host<T: WithDType, R>(
    t: &Tensor,
    op: &str,
    f: impl FnOnce(&[T]) -> candle_core::Result<R>,
) -> candle_core::Result<R> {
    let t = t.contiguous()?;
    let (s, l) = t.storage_and_layout();
    match &*s {
        Storage::Cpu(c) => f(slice(c, l, op)?),
        _ => bail!("{op}: CPU tensors only"),
    }
}

/// Dispatches a generic kernel on the dtype of a CPU storage.
macro_rules! by_dtype {
    ($s:expr, $op:expr, $f:ident ( $($arg:expr),* )) => {
        match $s.dtype() {
            DType::F32 => $f::<f32>($($arg),*),
            DType::F64 => $f::<f64>($($arg),*),
            dt => bail!("{}: f32 or f64 only, got {dt:?}", $op),
        }
    };
}

/// A zeroed buffer of `n` elements, the zeros written by all cores. `vec![0.0; n]` fills on
/// the calling thread while the other cores wait, and the kernels below overwrite every element
/// anyway: that fill was ~2 % of a 100M model's training step (BENCHMARKS.md).
fn zeroed<T: Real>(n: usize) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(n);
    v.spare_capacity_mut()[..n]
        .par_chunks_mut(ELEMS_PER_TASK)
        .for_each(|c| {
            for x in c {
                x.write(T::zero());
            }
        });
    // SAFETY: the first `n` elements were all initialised above.
    unsafe { v.set_len(n) };
    v
}

fn to_tensor<T: WithDType>(v: Vec<T>, shape: &Shape) -> candle_core::Result<Tensor> {
    Tensor::from_vec(v, shape, &Device::Cpu)
}

// ---------------------------------------------------------------------------------------------
// RMSNorm

/// `y = x / sqrt(mean(x²) + eps) · w` over the last dimension.
struct RmsNormOp {
    eps: f64,
}

fn rms_fwd<T: Real>(x: &[T], w: &[T], eps: f64) -> Vec<T> {
    let h = w.len();
    let mut y = zeroed(x.len());
    y.par_chunks_mut(h)
        .zip(x.par_chunks(h))
        .with_min_len(rows_per_task(h))
        .for_each(|(y, x)| {
            let inv = inv_rms(x, eps);
            for ((y, &x), &w) in y.iter_mut().zip(x).zip(w) {
                *y = x * inv * w;
            }
        });
    y
}

/// `1 / sqrt(mean(x²) + eps)`, accumulated in f64.
fn inv_rms<T: Real>(x: &[T], eps: f64) -> T {
    let ss: f64 = x.iter().map(|&v| v.to_f64() * v.to_f64()).sum();
    T::from_f64(1.0 / (ss / x.len() as f64 + eps).sqrt())
}

fn rows_per_task(row_len: usize) -> usize {
    (ELEMS_PER_TASK / row_len.max(1)).max(1)
}

/// With `x̂ = x·r`, `r = 1/rms(x)`: `dx = r·(g·w − x̂·mean(g·w·x̂))`, `dw = Σ_rows g·x̂`.
fn rms_bwd<T: Real>(x: &[T], w: &[T], g: &[T], eps: f64, need_w: bool) -> (Vec<T>, Option<Vec<T>>) {
    let h = w.len();
    let rows = rows_per_task(h);
    let mut dx = zeroed(x.len());
    let dw = dx
        .par_chunks_mut(h * rows)
        .zip(x.par_chunks(h * rows))
        .zip(g.par_chunks(h * rows))
        .map(|((dx, x), g)| {
            let mut dw = if need_w { vec![0f64; h] } else { Vec::new() };
            for ((dx, x), g) in dx.chunks_mut(h).zip(x.chunks(h)).zip(g.chunks(h)) {
                let r = inv_rms(x, eps);
                let mut c = 0f64;
                for ((&x, &g), &w) in x.iter().zip(g).zip(w) {
                    c += (g * w * x * r).to_f64();
                }
                let c = T::from_f64(c / h as f64);
                for (((dx, &x), &g), &w) in dx.iter_mut().zip(x).zip(g).zip(w) {
                    *dx = r * (g * w - x * r * c);
                }
                if need_w {
                    for ((dw, &x), &g) in dw.iter_mut().zip(x).zip(g) {
                        *dw += (g * x * r).to_f64();
                    }
                }
            }
            dw
        })
        .reduce(Vec::new, |a, b| {
            if a.is_empty() {
                return b;
            }
            a.iter().zip(&b).map(|(a, b)| a + b).collect()
        });
    let dw = need_w.then(|| {
        if dw.is_empty() {
            vec![T::zero(); h]
        } else {
            dw.into_iter().map(T::from_f64).collect()
        }
    });
    (dx, dw)
}

impl CustomOp2 for RmsNormOp {
    fn name(&self) -> &'static str {
        "caugym-rms-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        fn go<T: Real>(
            s1: &CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
            eps: f64,
        ) -> candle_core::Result<CpuStorage> {
            let (x, w) = (
                slice::<T>(s1, l1, "rms_norm")?,
                slice::<T>(s2, l2, "rms_norm")?,
            );
            if l1.dims().last() != Some(&w.len()) {
                bail!("rms_norm: x {:?} but weight [{}]", l1.dims(), w.len());
            }
            Ok(T::to_cpu_storage_owned(rms_fwd(x, w, eps)))
        }
        let st = by_dtype!(s1, "rms_norm", go(s1, l1, s2, l2, self.eps))?;
        Ok((st, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        fn go<T: Real>(
            x: &Tensor,
            w: &Tensor,
            grad: &Tensor,
            eps: f64,
        ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
            let need_w = w.track_op();
            let (dx, dw) = with_host::<T, _>(x, "rms_norm", |xs| {
                with_host::<T, _>(w, "rms_norm", |ws| {
                    with_host::<T, _>(grad, "rms_norm", |gs| Ok(rms_bwd(xs, ws, gs, eps, need_w)))
                })
            })?;
            let dx = to_tensor(dx, x.shape())?;
            let dw = dw.map(|d| to_tensor(d, w.shape())).transpose()?;
            Ok((Some(dx), dw))
        }
        by_dtype!(x, "rms_norm", go(x, w, grad, self.eps))
    }
}

/// Fused RMSNorm over the last dimension of `x` with weight `w [H]` (same dtype).
pub(crate) fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    x.contiguous()?
        .apply_op2(&w.contiguous()?, RmsNormOp { eps })
}

// ---------------------------------------------------------------------------------------------
// Linear with bias

/// `x · wᵀ + b`: the bias is added to the matmul's output in place and its gradient is the
/// column sum of the output gradient. Composed (`linear` then `broadcast_add`), candle records
/// two more nodes per projection, whose backward zero-fills and adds two `[.., out]` gradients
/// and sums the broadcast back with a strided reduction: ~0.3 s of a 100M model's training step
/// for the q/k/v biases (a `perf` profile, BENCHMARKS.md).
struct LinearBiasOp;

impl CustomOp3 for LinearBiasOp {
    fn name(&self) -> &'static str {
        "caugym-linear-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        fn go<T: Real>(y: &mut [T], b: &[T]) {
            y.par_chunks_mut(rows_per_task(b.len()) * b.len())
                .for_each(|rows| {
                    for row in rows.chunks_mut(b.len()) {
                        for (y, &b) in row.iter_mut().zip(b) {
                            *y += b;
                        }
                    }
                });
        }
        let (y, shape) = crate::linear::LinearOp::cpu(s1, l1, s2, l2)?;
        let out = shape.dims().last().copied().unwrap_or(1);
        if l3.dims() != [out] {
            bail!("linear: bias is {:?} for {out} outputs", l3.dims());
        }
        let y = match y {
            CpuStorage::F32(mut y) => {
                go(&mut y, slice::<f32>(s3, l3, "linear bias")?);
                CpuStorage::F32(y)
            }
            CpuStorage::F64(mut y) => {
                go(&mut y, slice::<f64>(s3, l3, "linear bias")?);
                CpuStorage::F64(y)
            }
            y => bail!("linear bias: f32 or f64 only, got {:?}", y.dtype()),
        };
        Ok((y, shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        fn column_sum<T: Real>(g: &Tensor, out: usize) -> candle_core::Result<Tensor> {
            let sums = with_host::<T, _>(g, "linear bias", |g| {
                // Rows split over the cores, each task's partial sums added at the end.
                let partial: Vec<Vec<T>> = g
                    .par_chunks(rows_per_task(out) * out)
                    .map(|rows| {
                        let mut acc = vec![T::zero(); out];
                        for row in rows.chunks(out) {
                            for (a, &v) in acc.iter_mut().zip(row) {
                                *a += v;
                            }
                        }
                        acc
                    })
                    .collect();
                let mut sums = vec![T::zero(); out];
                for p in partial {
                    for (s, v) in sums.iter_mut().zip(p) {
                        *s += v;
                    }
                }
                Ok(sums)
            })?;
            to_tensor(sums, &Shape::from(out))
        }
        let (gx, gw) = crate::linear::LinearOp.bwd(x, w, res, grad)?;
        let gb = if b.track_op() {
            let out = b.elem_count();
            Some(by_dtype!(grad, "linear bias", column_sum(grad, out))?)
        } else {
            None
        };
        Ok((gx, gw, gb))
    }
}

/// `x · wᵀ + b` for `x [.., in]`, `w [out, in]`, `b [out]`, differentiable in all three.
pub(crate) fn linear_bias(x: &Tensor, w: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?
        .apply_op3(&w.contiguous()?, &b.contiguous()?, LinearBiasOp)
}

// ---------------------------------------------------------------------------------------------
// SiLU(gate) · up

struct SiluMulOp;

fn sigmoid<T: Real>(x: T) -> T {
    T::one() / (T::one() + (T::zero() - x).exp())
}

impl CustomOp2 for SiluMulOp {
    fn name(&self) -> &'static str {
        "caugym-silu-mul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        fn go<T: Real>(
            s1: &CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
        ) -> candle_core::Result<CpuStorage> {
            let (g, u) = (
                slice::<T>(s1, l1, "silu_mul")?,
                slice::<T>(s2, l2, "silu_mul")?,
            );
            let mut y = zeroed(g.len());
            y.par_chunks_mut(ELEMS_PER_TASK)
                .zip(
                    g.par_chunks(ELEMS_PER_TASK)
                        .zip(u.par_chunks(ELEMS_PER_TASK)),
                )
                .for_each(|(y, (g, u))| {
                    for ((y, &g), &u) in y.iter_mut().zip(g).zip(u) {
                        *y = g * sigmoid(g) * u;
                    }
                });
            Ok(T::to_cpu_storage_owned(y))
        }
        if l1.shape() != l2.shape() {
            bail!("silu_mul: gate {:?} but up {:?}", l1.dims(), l2.dims());
        }
        let st = by_dtype!(s1, "silu_mul", go(s1, l1, s2, l2))?;
        Ok((st, l1.shape().clone()))
    }

    /// `d gate = g·up·σ(x)(1 + x(1 − σ(x)))`, `d up = g·silu(x)`.
    fn bwd(
        &self,
        gate: &Tensor,
        up: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        fn go<T: Real>(
            gate: &Tensor,
            up: &Tensor,
            grad: &Tensor,
        ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
            let (dg, du) = with_host::<T, _>(gate, "silu_mul", |x| {
                with_host::<T, _>(up, "silu_mul", |u| {
                    with_host::<T, _>(grad, "silu_mul", |g| {
                        let mut dg = zeroed(x.len());
                        let mut du = zeroed(x.len());
                        let n = ELEMS_PER_TASK;
                        dg.par_chunks_mut(n)
                            .zip(du.par_chunks_mut(n))
                            .zip(x.par_chunks(n).zip(u.par_chunks(n)).zip(g.par_chunks(n)))
                            .for_each(|((dg, du), ((x, u), g))| {
                                for i in 0..dg.len() {
                                    let s = sigmoid(x[i]);
                                    let silu = x[i] * s;
                                    dg[i] = g[i] * u[i] * s * (T::one() + x[i] - silu);
                                    du[i] = g[i] * silu;
                                }
                            });
                        Ok((dg, du))
                    })
                })
            })?;
            let dg = gate
                .track_op()
                .then(|| to_tensor(dg, gate.shape()))
                .transpose()?;
            let du = up
                .track_op()
                .then(|| to_tensor(du, up.shape()))
                .transpose()?;
            Ok((dg, du))
        }
        by_dtype!(gate, "silu_mul", go(gate, up, grad))
    }
}

/// `silu(gate) · up`, element-wise (same shapes).
pub(crate) fn silu_mul(gate: &Tensor, up: &Tensor) -> candle_core::Result<Tensor> {
    gate.contiguous()?.apply_op2(&up.contiguous()?, SiluMulOp)
}

// ---------------------------------------------------------------------------------------------
// Split heads (+ rope, + scale)

/// `[B, T, n·d] → [B, n, T, d]`, each head row rotated (non-interleaved halves, as HF Qwen2)
/// when tables are given and multiplied by `scale`. The transpose a head split needs anyway
/// is where the rotation happens, so rope costs no pass of its own.
struct SplitHeadsOp {
    heads: usize,
    head_dim: usize,
    scale: f64,
    /// `[B, T, d/2]` cos and sin, same dtype as the input.
    tables: Option<(Tensor, Tensor)>,
}

/// Rotates one head row `x` into `y`: `y₁ = x₁c − x₂s`, `y₂ = x₂c + x₁s` (`sign = 1`), or by the
/// inverse rotation (`sign = −1`, the transpose, i.e. the backward), then scales.
fn rotate<T: Real>(y: &mut [T], x: &[T], cs: Option<(&[T], &[T])>, sign: T, scale: T) {
    let half = x.len() / 2;
    match cs {
        None => {
            for (y, &x) in y.iter_mut().zip(x) {
                *y = x * scale;
            }
        }
        Some((c, s)) => {
            let (y1, y2) = y.split_at_mut(half);
            let (x1, x2) = x.split_at(half);
            for i in 0..half {
                let (c, s) = (c[i] * scale, s[i] * sign * scale);
                y1[i] = x1[i] * c - x2[i] * s;
                y2[i] = x2[i] * c + x1[i] * s;
            }
        }
    }
}

impl SplitHeadsOp {
    fn dims(&self, dims: &[usize]) -> candle_core::Result<(usize, usize)> {
        match dims {
            &[b, t, w] if w == self.heads * self.head_dim => Ok((b, t)),
            _ => bail!(
                "split_heads: expected [B, T, {}·{}], got {dims:?}",
                self.heads,
                self.head_dim
            ),
        }
    }

    /// Runs `f(b, t, cos, sin)` with the tables' rows of `(b, t)` (empty when there are none).
    fn kernel<T: Real>(
        &self,
        x: &[T],
        (b, t): (usize, usize),
        forward: bool,
    ) -> candle_core::Result<Vec<T>> {
        let (n, d) = (self.heads, self.head_dim);
        let half = d / 2;
        let scale = T::from_f64(self.scale);
        let run = |c: &[T], s: &[T]| -> Vec<T> {
            let table = |bt: usize| -> Option<(&[T], &[T])> {
                (!c.is_empty()).then(|| {
                    (
                        &c[bt * half..(bt + 1) * half],
                        &s[bt * half..(bt + 1) * half],
                    )
                })
            };
            let mut y = zeroed(x.len());
            if forward {
                // Output rows are (b, h, t): read x[b, t, h·d..].
                y.par_chunks_mut(d)
                    .enumerate()
                    .with_min_len(rows_per_task(d))
                    .for_each(|(row, y)| {
                        let (bi, ti) = (row / (n * t), row % t);
                        let hi = (row / t) % n;
                        let bt = bi * t + ti;
                        let src = &x[(bt * n + hi) * d..(bt * n + hi + 1) * d];
                        rotate(y, src, table(bt), T::one(), scale);
                    });
            } else {
                // Output rows are (b, t): gather each head's gradient row from x[b, h, t, ..].
                y.par_chunks_mut(n * d)
                    .enumerate()
                    .with_min_len(rows_per_task(n * d))
                    .for_each(|(bt, y)| {
                        let (bi, ti) = (bt / t, bt % t);
                        for (hi, y) in y.chunks_mut(d).enumerate() {
                            let r = (bi * n + hi) * t + ti;
                            rotate(
                                y,
                                &x[r * d..(r + 1) * d],
                                table(bt),
                                T::zero() - T::one(),
                                scale,
                            );
                        }
                    });
            }
            y
        };
        match &self.tables {
            None => Ok(run(&[], &[])),
            Some((c, s)) => with_host::<T, _>(c, "split_heads", |c| {
                with_host::<T, _>(s, "split_heads", |s| {
                    if c.len() != b * t * half || s.len() != c.len() {
                        bail!("split_heads: rope tables do not match [{b}, {t}, {half}]");
                    }
                    Ok(run(c, s))
                })
            }),
        }
    }
}

impl CustomOp1 for SplitHeadsOp {
    fn name(&self) -> &'static str {
        "caugym-split-heads"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        fn go<T: Real>(
            op: &SplitHeadsOp,
            s: &CpuStorage,
            l: &Layout,
        ) -> candle_core::Result<CpuStorage> {
            let bt = op.dims(l.dims())?;
            let y = op.kernel(slice::<T>(s, l, "split_heads")?, bt, true)?;
            Ok(T::to_cpu_storage_owned(y))
        }
        let (b, t) = self.dims(l.dims())?;
        let st = by_dtype!(s, "split_heads", go(self, s, l))?;
        Ok((st, Shape::from((b, self.heads, t, self.head_dim))))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        fn go<T: Real>(
            op: &SplitHeadsOp,
            x: &Tensor,
            grad: &Tensor,
        ) -> candle_core::Result<Tensor> {
            let bt = op.dims(x.dims())?;
            let dx = with_host::<T, _>(grad, "split_heads", |g| op.kernel(g, bt, false))?;
            to_tensor(dx, x.shape())
        }
        Ok(Some(by_dtype!(x, "split_heads", go(self, x, grad))?))
    }
}

/// `x [B, T, n·d] → [B, n, T, d]`, rotated by `rope` (`[B, T, d/2]` cos and sin) when given,
/// times `scale`.
pub(crate) fn split_heads(
    x: &Tensor,
    heads: usize,
    head_dim: usize,
    scale: f64,
    rope: Option<(&Tensor, &Tensor)>,
) -> candle_core::Result<Tensor> {
    let tables = rope
        .map(|(c, s)| -> candle_core::Result<_> { Ok((c.contiguous()?, s.contiguous()?)) })
        .transpose()?;
    x.contiguous()?.apply_op1(SplitHeadsOp {
        heads,
        head_dim,
        scale,
        tables,
    })
}

// ---------------------------------------------------------------------------------------------
// Masked softmax

/// Softmax over the last dimension of `scores [B, G, R, L]` after adding `bias [B, T, L]`
/// (0 or −inf) to each row, where row `r` of batch `b` is query `r mod T` (query heads of a
/// KV group are stacked along `R`). The backward reuses the probabilities.
struct MaskedSoftmaxOp {
    bias: Tensor,
    t: usize,
}

impl CustomOp1 for MaskedSoftmaxOp {
    fn name(&self) -> &'static str {
        "caugym-masked-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        fn go<T: Real>(
            op: &MaskedSoftmaxOp,
            s: &CpuStorage,
            l: &Layout,
        ) -> candle_core::Result<CpuStorage> {
            let x = slice::<T>(s, l, "masked_softmax")?;
            let dims = l.dims();
            let (b, len) = (dims[0], dims[dims.len() - 1]);
            let rows_per_b = x.len() / (b * len).max(1);
            let t = op.t;
            with_host::<T, _>(&op.bias, "masked_softmax", |bias| {
                if bias.len() != b * t * len || rows_per_b % t != 0 {
                    bail!("masked_softmax: bias does not match scores {dims:?} with T = {t}");
                }
                let mut y = zeroed(x.len());
                y.par_chunks_mut(len)
                    .zip(x.par_chunks(len))
                    .enumerate()
                    .with_min_len(rows_per_task(len))
                    .for_each(|(row, (y, x))| {
                        let bt = (row / rows_per_b) * t + row % t;
                        let bias = &bias[bt * len..(bt + 1) * len];
                        let mut m = T::NEG_INF;
                        for ((y, &x), &b) in y.iter_mut().zip(x).zip(bias) {
                            *y = x + b;
                            m = m.maximum(*y);
                        }
                        let mut sum = T::zero();
                        for y in y.iter_mut() {
                            *y = (*y - m).exp();
                            sum += *y;
                        }
                        let inv = T::one() / sum;
                        for y in y.iter_mut() {
                            *y *= inv;
                        }
                    });
                Ok(T::to_cpu_storage_owned(y))
            })
        }
        if l.dims().len() < 2 {
            bail!("masked_softmax: expected [B, .., L], got {:?}", l.dims());
        }
        let st = by_dtype!(s, "masked_softmax", go(self, s, l))?;
        Ok((st, l.shape().clone()))
    }

    /// `ds = p·(g − Σ g·p)` per row.
    fn bwd(&self, x: &Tensor, res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        fn go<T: Real>(x: &Tensor, res: &Tensor, grad: &Tensor) -> candle_core::Result<Tensor> {
            let len = x.dim(candle_core::D::Minus1)?;
            let ds = with_host::<T, _>(res, "masked_softmax", |p| {
                with_host::<T, _>(grad, "masked_softmax", |g| {
                    let mut ds = zeroed(p.len());
                    ds.par_chunks_mut(len)
                        .zip(p.par_chunks(len).zip(g.par_chunks(len)))
                        .with_min_len(rows_per_task(len))
                        .for_each(|(ds, (p, g))| {
                            let dot = p.iter().zip(g).fold(T::zero(), |a, (&p, &g)| a + p * g);
                            for ((ds, &p), &g) in ds.iter_mut().zip(p).zip(g) {
                                *ds = p * (g - dot);
                            }
                        });
                    Ok(ds)
                })
            })?;
            to_tensor(ds, x.shape())
        }
        Ok(Some(by_dtype!(x, "masked_softmax", go(x, res, grad))?))
    }
}

/// Softmax of `scores [B, .., R, L]` + `bias [B, T, L]` over `L`, row `r` using query `r mod T`.
pub(crate) fn masked_softmax(
    scores: &Tensor,
    bias: &Tensor,
    t: usize,
) -> candle_core::Result<Tensor> {
    scores.contiguous()?.apply_op1(MaskedSoftmaxOp {
        bias: bias.contiguous()?,
        t,
    })
}

#[cfg(test)]
mod tests {
    //! Each op against the composed candle form it replaces (forward and gradients, f64, to
    //! 1e-12 / 1e-10), against central finite differences (f64, h = 1e-5, to 1e-7), and in f32
    //! against its own f64 result (to 1e-5 relative to the largest value).
    use super::*;
    use candle_core::{D, Var};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    type R<T> = candle_core::Result<T>;

    fn randn(shape: &[usize], seed: u64) -> R<Tensor> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect();
        Tensor::from_vec(v, shape, &Device::Cpu)
    }

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> R<f64> {
        let d = (a.to_dtype(DType::F64)? - b.to_dtype(DType::F64)?)?.abs()?;
        d.flatten_all()?.max(0)?.to_scalar::<f64>()
    }

    fn max_abs(a: &Tensor) -> R<f64> {
        a.to_dtype(DType::F64)?
            .abs()?
            .flatten_all()?
            .max(0)?
            .to_scalar::<f64>()
    }

    /// `Σ f(inputs) · w` for a fixed random `w`: a scalar whose gradient is `w` pulled back.
    fn loss(y: &Tensor, seed: u64) -> R<Tensor> {
        let w = randn(y.dims(), seed)?.to_dtype(y.dtype())?;
        (y * w)?.sum_all()
    }

    /// Checks `fused` against `composed` (f64, both through autograd) and against finite
    /// differences of `fused`, on `inputs`, and `fused` in f32 against `fused` in f64.
    fn check(
        inputs: &[Tensor],
        fused: &dyn Fn(&[Tensor]) -> R<Tensor>,
        composed: &dyn Fn(&[Tensor]) -> R<Tensor>,
    ) -> R<()> {
        let vars: Vec<Var> = inputs.iter().map(Var::from_tensor).collect::<R<_>>()?;
        let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let (yf, yc) = (fused(&ts)?, composed(&ts)?);
        assert!(max_abs_diff(&yf, &yc)? < 1e-12, "forward differs");
        let (gf, gc) = (loss(&yf, 99)?.backward()?, loss(&yc, 99)?.backward()?);
        for (i, v) in vars.iter().enumerate() {
            let (a, b) = (
                gf.get(v).expect("fused grad"),
                gc.get(v).expect("composed grad"),
            );
            let d = max_abs_diff(a, b)?;
            assert!(
                d < 1e-10,
                "input {i}: fused and composed gradients differ by {d}"
            );
        }
        // Finite differences of the fused op at a few coordinates of each input.
        let h = 1e-5;
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for (i, x) in inputs.iter().enumerate() {
            let g = gf
                .get(&vars[i])
                .expect("grad")
                .flatten_all()?
                .to_vec1::<f64>()?;
            let base = x.flatten_all()?.to_vec1::<f64>()?;
            for _ in 0..6 {
                let j = rng.random_range(0..base.len());
                let at = |delta: f64| -> R<f64> {
                    let mut v = base.clone();
                    v[j] += delta;
                    let mut args = inputs.to_vec();
                    args[i] = Tensor::from_vec(v, x.shape(), &Device::Cpu)?;
                    loss(&fused(&args)?, 99)?.to_scalar::<f64>()
                };
                let fd = (at(h)? - at(-h)?) / (2.0 * h);
                assert!(
                    (fd - g[j]).abs() < 1e-7,
                    "input {i} [{j}]: finite difference {fd} but backward {}",
                    g[j]
                );
            }
        }
        // f32 against f64.
        let ins32: Vec<Tensor> = inputs
            .iter()
            .map(|t| t.to_dtype(DType::F32))
            .collect::<R<_>>()?;
        let y32 = fused(&ins32)?;
        let tol = 1e-5 * max_abs(&yf)?.max(1.0);
        assert!(max_abs_diff(&y32, &yf)? < tol, "f32 forward off");
        Ok(())
    }

    #[test]
    fn rms_norm_matches_composed_and_finite_differences() -> R<()> {
        let (x, w) = (randn(&[2, 3, 16], 1)?, randn(&[16], 2)?);
        let eps = 1e-6;
        check(&[x, w], &|a| rms_norm(&a[0], &a[1], eps), &|a| {
            let r = (a[0].sqr()?.mean_keepdim(D::Minus1)? + eps)?
                .sqrt()?
                .recip()?;
            a[0].broadcast_mul(&r)?.broadcast_mul(&a[1])
        })
    }

    #[test]
    fn silu_mul_matches_composed_and_finite_differences() -> R<()> {
        let g = (randn(&[3, 40], 3)? * 4.0)?;
        let u = randn(&[3, 40], 4)?;
        check(&[g, u], &|a| silu_mul(&a[0], &a[1]), &|a| {
            a[0].silu()? * &a[1]
        })
    }

    /// HF's rotate-half rope from primitives, on `[B, n, T, d]` with tables `[B, T, d/2]`.
    fn rope_composed(x: &Tensor, c: &Tensor, s: &Tensor) -> R<Tensor> {
        let full = |t: &Tensor| -> R<Tensor> { Tensor::cat(&[t, t], D::Minus1)?.unsqueeze(1) };
        let d = x.dim(D::Minus1)?;
        let (x1, x2) = (
            x.narrow(D::Minus1, 0, d / 2)?,
            x.narrow(D::Minus1, d / 2, d / 2)?,
        );
        let rot = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
        x.broadcast_mul(&full(c)?)? + rot.broadcast_mul(&full(s)?)?
    }

    #[test]
    fn split_heads_with_rope_matches_composed_and_finite_differences() -> R<()> {
        let (b, t, n, d) = (2, 5, 3, 8);
        let x = randn(&[b, t, n * d], 5)?;
        let ang = (randn(&[b, t, d / 2], 6)? * 3.0)?;
        let (c, s) = (ang.cos()?, ang.sin()?);
        let scale = 0.35;
        check(
            &[x],
            &|a| {
                let (c, s) = (c.to_dtype(a[0].dtype())?, s.to_dtype(a[0].dtype())?);
                split_heads(&a[0], n, d, scale, Some((&c, &s)))
            },
            &|a| {
                let h = a[0].reshape((b, t, n, d))?.transpose(1, 2)?.contiguous()?;
                rope_composed(&h, &c, &s)? * scale
            },
        )?;
        // Without tables it is the plain head split.
        check(
            &[randn(&[b, t, n * d], 8)?],
            &|a| split_heads(&a[0], n, d, 1.0, None),
            &|a| a[0].reshape((b, t, n, d))?.transpose(1, 2)?.contiguous(),
        )
    }

    #[test]
    fn masked_softmax_matches_composed_and_finite_differences() -> R<()> {
        // [B, G, g·T, L] scores, causal + one padded key in batch row 1.
        let (b, kv, g, t) = (2, 2, 2, 4);
        let mut bias = vec![0f64; b * t * t];
        for bi in 0..b {
            for i in 0..t {
                for j in 0..t {
                    if j > i || (bi == 1 && j == 0 && i != 0) {
                        bias[(bi * t + i) * t + j] = f64::NEG_INFINITY;
                    }
                }
            }
        }
        let bias = Tensor::from_vec(bias, (b, t, t), &Device::Cpu)?;
        let scores = (randn(&[b, kv, g * t, t], 9)? * 3.0)?;
        check(
            &[scores],
            &|a| masked_softmax(&a[0], &bias.to_dtype(a[0].dtype())?, t),
            &|a| {
                let s = a[0]
                    .reshape((b, kv, g, t, t))?
                    .broadcast_add(&bias.reshape((b, 1, 1, t, t))?)?;
                let m = s.max_keepdim(D::Minus1)?.detach();
                let e = s.broadcast_sub(&m)?.exp()?;
                e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?
                    .reshape((b, kv, g * t, t))
            },
        )
    }
}
