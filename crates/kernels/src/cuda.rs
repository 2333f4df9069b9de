//! CUDA side of the selective log-prob: candle CustomOps whose `cuda_fwd` launches the kernels of
//! `kernels/selective_logprob.cu`, compiled to PTX by build.rs and loaded once per device with
//! `get_or_load_custom_func` (candle's custom-ops pattern).
//!
//! The ops are applied with `apply_op*_no_bwd`: gradients are owned by the caller's CustomOp (the model
//! crate's `token_logprobs`), which calls the backward op itself.

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::{
    CudaSlice, CudaView, DeviceRepr, LaunchConfig, PushKernelArg,
};
use candle_core::cuda_backend::{CudaStorageSlice, WrapErr};
use candle_core::{
    CpuStorage, CudaDevice, CudaStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor,
};

use crate::{Poison, Result, SelectiveLogprob};

/// PTX of kernels/selective_logprob.cu for the build's CUDA_COMPUTE_CAP.
const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/selective_logprob.ptx"));
/// Key of the loaded module in the device's custom-module cache.
const MODULE: &str = "caugym_selective_logprob";
/// Threads per row: 512 (16 warps) lets four rows share an SM at full occupancy (32 registers/thread),
/// keeping 2,048 16-byte loads in flight per SM, enough to cover HBM latency.
const MAX_BLOCK: u32 = 512;

fn err(op: &str, msg: impl std::fmt::Display) -> candle_core::Error {
    candle_core::Error::Msg(format!("{op}: {msg}"))
}

/// Threads per block for rows of `v` elements of which `lanes` fit a 16-byte vector: no more warps than
/// there are vectors, at least one warp (the block reductions need whole warps).
fn block_dim(v: usize, lanes: usize) -> u32 {
    let vectors = v.div_ceil(lanes) as u32;
    vectors.next_multiple_of(32).clamp(32, MAX_BLOCK)
}

fn row_launch(n: usize, v: usize, lanes: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (n as u32, 1, 1),
        block_dim: (block_dim(v, lanes), 1, 1),
        shared_mem_bytes: 0,
    }
}

fn contiguous<'a, T>(
    s: &'a CudaSlice<T>,
    l: &Layout,
    op: &str,
    what: &str,
) -> candle_core::Result<CudaView<'a, T>> {
    let (a, b) = l
        .contiguous_offsets()
        .ok_or_else(|| err(op, format!("{what} must be contiguous")))?;
    Ok(s.slice(a..b))
}

fn u32_view<'a>(
    s: &'a CudaStorage,
    l: &Layout,
    op: &str,
    what: &str,
) -> candle_core::Result<CudaView<'a, u32>> {
    match &s.slice {
        CudaStorageSlice::U32(x) => contiguous(x, l, op, what),
        _ => Err(err(op, format!("{what} must be u32, got {:?}", s.dtype()))),
    }
}

/// Fills `buf` with all-ones bits (NaN as f32 and as bf16): test runs only, see [`Poison`].
fn poison<T: DeviceRepr>(
    dev: &CudaDevice,
    buf: &mut CudaSlice<T>,
    len: usize,
) -> candle_core::Result<()> {
    let (name, words) = match std::mem::size_of::<T>() {
        4 => ("poison_u32", len),
        2 => ("poison_u16", len),
        size => {
            return Err(err(
                "poison",
                format!("no poison kernel for {size}-byte elements"),
            ));
        }
    };
    let func = dev.get_or_load_custom_func(name, MODULE, PTX)?;
    let cfg = LaunchConfig {
        grid_dim: (words.div_ceil(256).clamp(1, 65_535) as u32, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    };
    let mut b = func.builder();
    b.arg(buf);
    b.arg(&words);
    // SAFETY: the kernel writes `words` elements of `buf`, which holds `len` of them.
    unsafe { b.launch(cfg) }.w()?;
    Ok(())
}

/// Forward op on (logits `[n, V]`, targets `[n]`) → `[k, n]` f32: log-probs, lse, and entropy if k = 3.
struct Forward {
    with_entropy: bool,
    poison: Poison,
}

impl Forward {
    const NAME: &'static str = "selective_logprob";

    fn launch<T: DeviceRepr>(
        &self,
        dev: &CudaDevice,
        kernel: &str,
        logits: &CudaView<'_, T>,
        targets: &CudaView<'_, u32>,
        n: usize,
        v: usize,
    ) -> candle_core::Result<CudaSlice<f32>> {
        let rows = if self.with_entropy { 3 } else { 2 };
        // SAFETY: every element is written by the kernel below (or by `poison` first, in tests).
        let mut out = unsafe { dev.alloc::<f32>(rows * n)? };
        if self.poison == Poison::Yes {
            poison(dev, &mut out, rows * n)?;
        }
        let func = dev.get_or_load_custom_func(kernel, MODULE, PTX)?;
        let mut b = func.builder();
        let (n32, v32, ent) = (n as u32, v as u32, i32::from(self.with_entropy));
        b.arg(logits);
        b.arg(targets);
        b.arg(&mut out);
        b.arg(&n32);
        b.arg(&v32);
        b.arg(&ent);
        let lanes = 16 / std::mem::size_of::<T>();
        // SAFETY: grid = n rows, each reading its V logits and target and writing out[i·n + row].
        unsafe { b.launch(row_launch(n, v, lanes)) }.w()?;
        Ok(out)
    }
}

impl CustomOp2 for Forward {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        Err(err(
            Self::NAME,
            "the CUDA op was applied to CPU tensors (the CPU twin is dispatched before)",
        ))
    }

    fn cuda_fwd(
        &self,
        s1: &CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CudaStorage, Shape)> {
        let dev = s1.device();
        let (n, v) = l1.shape().dims2()?;
        let targets = u32_view(s2, l2, Self::NAME, "targets")?;
        let out = match &s1.slice {
            CudaStorageSlice::F32(x) => {
                let x = contiguous(x, l1, Self::NAME, "logits")?;
                self.launch(dev, "selective_logprob_fwd_f32", &x, &targets, n, v)?
            }
            CudaStorageSlice::BF16(x) => {
                let x = contiguous(x, l1, Self::NAME, "logits")?;
                self.launch(dev, "selective_logprob_fwd_bf16", &x, &targets, n, v)?
            }
            _ => {
                return Err(err(
                    Self::NAME,
                    format!("logits must be f32 or bf16, got {:?}", s1.dtype()),
                ));
            }
        };
        let rows = if self.with_entropy { 3 } else { 2 };
        Ok((
            CudaStorage::wrap_cuda_slice(out, dev.clone()),
            Shape::from((rows, n)),
        ))
    }
}

/// Backward op on (logits `[n, V]`, targets `[n]`, packed `[k, n]` f32 = lse, g, and g_H if k = 3)
/// → d logits `[n, V]` in the logits' dtype.
struct Backward {
    poison: Poison,
}

impl Backward {
    const NAME: &'static str = "selective_logprob_backward";

    #[allow(clippy::too_many_arguments)] // one call site; the arguments are the kernel's own
    fn launch<T: DeviceRepr>(
        &self,
        dev: &CudaDevice,
        kernel: &str,
        logits: &CudaView<'_, T>,
        targets: &CudaView<'_, u32>,
        packed: &CudaView<'_, f32>,
        with_entropy: bool,
        n: usize,
        v: usize,
    ) -> candle_core::Result<CudaSlice<T>> {
        // SAFETY: every element is written by the kernel below (or by `poison` first, in tests).
        let mut grad = unsafe { dev.alloc::<T>(n * v)? };
        if self.poison == Poison::Yes {
            poison(dev, &mut grad, n * v)?;
        }
        let func = dev.get_or_load_custom_func(kernel, MODULE, PTX)?;
        let mut b = func.builder();
        let (n32, v32, ent) = (n as u32, v as u32, i32::from(with_entropy));
        b.arg(logits);
        b.arg(targets);
        b.arg(packed);
        b.arg(&mut grad);
        b.arg(&n32);
        b.arg(&v32);
        b.arg(&ent);
        let lanes = 16 / std::mem::size_of::<T>();
        // SAFETY: grid = n rows, each reading its V logits, target and packed values and writing its V
        // gradients.
        unsafe { b.launch(row_launch(n, v, lanes)) }.w()?;
        Ok(grad)
    }
}

impl CustomOp3 for Backward {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        Err(err(
            Self::NAME,
            "the CUDA op was applied to CPU tensors (the CPU twin is dispatched before)",
        ))
    }

    fn cuda_fwd(
        &self,
        s1: &CudaStorage,
        l1: &Layout,
        s2: &CudaStorage,
        l2: &Layout,
        s3: &CudaStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CudaStorage, Shape)> {
        let dev = s1.device();
        let (n, v) = l1.shape().dims2()?;
        let targets = u32_view(s2, l2, Self::NAME, "targets")?;
        let (k, _) = l3.shape().dims2()?;
        let packed = match &s3.slice {
            CudaStorageSlice::F32(x) => contiguous(x, l3, Self::NAME, "packed lse/gradients")?,
            _ => {
                return Err(err(
                    Self::NAME,
                    format!("packed lse/gradients must be f32, got {:?}", s3.dtype()),
                ));
            }
        };
        let with_entropy = k == 3;
        let storage = match &s1.slice {
            CudaStorageSlice::F32(x) => {
                let x = contiguous(x, l1, Self::NAME, "logits")?;
                let g = self.launch(
                    dev,
                    "selective_logprob_bwd_f32",
                    &x,
                    &targets,
                    &packed,
                    with_entropy,
                    n,
                    v,
                )?;
                CudaStorage::wrap_cuda_slice(g, dev.clone())
            }
            CudaStorageSlice::BF16(x) => {
                let x = contiguous(x, l1, Self::NAME, "logits")?;
                let g = self.launch(
                    dev,
                    "selective_logprob_bwd_bf16",
                    &x,
                    &targets,
                    &packed,
                    with_entropy,
                    n,
                    v,
                )?;
                CudaStorage::wrap_cuda_slice(g, dev.clone())
            }
            _ => {
                return Err(err(
                    Self::NAME,
                    format!("logits must be f32 or bf16, got {:?}", s1.dtype()),
                ));
            }
        };
        Ok((storage, Shape::from((n, v))))
    }
}

pub(crate) fn selective_logprob(
    logits: &Tensor,
    targets: &Tensor,
    with_entropy: bool,
    poison: Poison,
) -> Result<SelectiveLogprob> {
    let n = targets.dim(0)?;
    if n == 0 {
        // A zero-sized grid is a launch error; an empty batch has empty results.
        let empty = Tensor::zeros(0, candle_core::DType::F32, logits.device())?;
        return Ok(SelectiveLogprob {
            logprobs: empty.clone(),
            lse: empty.clone(),
            entropy: with_entropy.then_some(empty),
        });
    }
    let out = logits.apply_op2_no_bwd(
        targets,
        &Forward {
            with_entropy,
            poison,
        },
    )?;
    Ok(SelectiveLogprob {
        logprobs: out.get(0)?,
        lse: out.get(1)?,
        entropy: if with_entropy {
            Some(out.get(2)?)
        } else {
            None
        },
    })
}

pub(crate) fn selective_logprob_backward(
    logits: &Tensor,
    targets: &Tensor,
    lse: &Tensor,
    grad_logprobs: &Tensor,
    grad_entropy: Option<&Tensor>,
    poison: Poison,
) -> Result<Tensor> {
    if targets.dim(0)? == 0 {
        return Ok(logits.zeros_like()?);
    }
    // One [k, n] f32 input instead of k: a CustomOp takes at most three tensors, and these are tiny.
    let packed = match grad_entropy {
        Some(g_h) => Tensor::stack(&[lse, grad_logprobs, g_h], 0)?,
        None => Tensor::stack(&[lse, grad_logprobs], 0)?,
    };
    Ok(logits.apply_op3_no_bwd(targets, &packed, &Backward { poison })?)
}
