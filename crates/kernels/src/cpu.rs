//! CPU twins of the selective log-prob kernels: loops over contiguous row slices with f32
//! accumulation, rows spread over rayon's pool.

use crate::{Error, Result, VOCAB_TILE};
use candle_core::{CpuStorage, DType, Storage, Tensor};
use half::bf16;
use rayon::prelude::*;

/// Per-row results of the forward pass.
pub(crate) struct Rows {
    pub logprobs: Vec<f32>,
    pub lse: Vec<f32>,
    pub entropy: Option<Vec<f32>>,
}

/// Upstream gradients and the saved log-sum-exp for the backward pass.
pub(crate) struct Grads<'a> {
    pub lse: &'a [f32],
    pub logprobs: &'a [f32],
    pub entropy: Option<&'a [f32]>,
}

/// Element types the kernels read; all arithmetic happens in f32.
trait Elem: Copy + Send + Sync + 'static {
    fn f32(self) -> f32;
    fn from_f32(x: f32) -> Self;
}
impl Elem for f32 {
    #[inline(always)]
    fn f32(self) -> f32 {
        self
    }
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        x
    }
}
impl Elem for bf16 {
    #[inline(always)]
    fn f32(self) -> f32 {
        self.to_f32()
    }
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        bf16::from_f32(x)
    }
}

pub(crate) fn check_targets(op: &'static str, targets: &[u32], vocab: usize) -> Result<()> {
    match targets.iter().position(|&t| t as usize >= vocab) {
        Some(row) => Err(Error::TargetOutOfRange {
            op,
            row,
            target: targets[row],
            vocab,
        }),
        None => Ok(()),
    }
}

/// Runs `f` on the contiguous data of a CPU tensor (already made contiguous by the caller).
fn with_slice<R>(
    t: &Tensor,
    f32_fn: impl FnOnce(&[f32]) -> R,
    bf16_fn: impl FnOnce(&[bf16]) -> R,
) -> Result<R> {
    let (storage, layout) = t.storage_and_layout();
    let (start, end) = layout.contiguous_offsets().ok_or_else(|| {
        candle_core::Error::Msg("selective_logprob: non-contiguous logits".into())
    })?;
    match &*storage {
        Storage::Cpu(CpuStorage::F32(v)) => Ok(f32_fn(&v[start..end])),
        Storage::Cpu(CpuStorage::BF16(v)) => Ok(bf16_fn(&v[start..end])),
        _ => Err(Error::DType {
            op: "selective_logprob",
            what: "logits",
            got: t.dtype(),
        }),
    }
}

/// Online log-sum-exp over vocabulary tiles: returns (lse, sum_v p_v z_v) for one row, the
/// second only when `with_entropy` (0 otherwise).
#[inline]
fn row_lse<E: Elem>(row: &[E], with_entropy: bool) -> (f32, f32) {
    let mut m = f32::NEG_INFINITY;
    let mut s = 0f32;
    let mut sz = 0f32;
    for tile in row.chunks(VOCAB_TILE) {
        let tm = tile.iter().fold(f32::NEG_INFINITY, |a, &z| a.max(z.f32()));
        if tm > m {
            // Rescale the running sums to the new maximum (exp(-inf) = 0 on the first tile).
            let scale = (m - tm).exp();
            s *= scale;
            sz *= scale;
            m = tm;
        }
        if with_entropy {
            for &z in tile {
                let z = z.f32();
                let e = (z - m).exp();
                s += e;
                sz += e * z;
            }
        } else {
            s += tile.iter().map(|&z| (z.f32() - m).exp()).sum::<f32>();
        }
    }
    (m + s.ln(), sz / s)
}

fn forward_typed<E: Elem>(data: &[E], targets: &[u32], v: usize, with_entropy: bool) -> Rows {
    let per_row: Vec<(f32, f32, f32)> = data
        .par_chunks(v)
        .zip(targets.par_iter())
        .map(|(row, &y)| {
            let (lse, mean_z) = row_lse(row, with_entropy);
            (row[y as usize].f32() - lse, lse, lse - mean_z)
        })
        .collect();
    Rows {
        logprobs: per_row.iter().map(|r| r.0).collect(),
        lse: per_row.iter().map(|r| r.1).collect(),
        entropy: with_entropy.then(|| per_row.iter().map(|r| r.2).collect()),
    }
}

pub(crate) fn forward(
    logits: &Tensor,
    targets: &[u32],
    v: usize,
    with_entropy: bool,
) -> Result<Rows> {
    with_slice(
        logits,
        |d| forward_typed(d, targets, v, with_entropy),
        |d| forward_typed(d, targets, v, with_entropy),
    )
}

fn backward_typed<E: Elem>(data: &[E], targets: &[u32], v: usize, g: &Grads) -> Vec<E> {
    let mut out = vec![E::from_f32(0.0); data.len()];
    out.par_chunks_mut(v)
        .zip(data.par_chunks(v))
        .enumerate()
        .for_each(|(i, (dz, row))| {
            let lse = g.lse[i];
            let gl = g.logprobs[i];
            match g.entropy {
                Some(ge) => {
                    let ge = ge[i];
                    // H = lse - sum p z, recomputed so the forward need not save it.
                    let mean_z: f32 = row
                        .iter()
                        .map(|&z| {
                            let z = z.f32();
                            (z - lse).exp() * z
                        })
                        .sum();
                    let h = lse - mean_z;
                    for (d, &z) in dz.iter_mut().zip(row) {
                        let logp = z.f32() - lse;
                        let p = logp.exp();
                        *d = E::from_f32(-gl * p - ge * p * (logp + h));
                    }
                }
                None => {
                    for (d, &z) in dz.iter_mut().zip(row) {
                        *d = E::from_f32(-gl * (z.f32() - lse).exp());
                    }
                }
            }
            let y = targets[i] as usize;
            dz[y] = E::from_f32(dz[y].f32() + gl);
        });
    out
}

pub(crate) fn backward(logits: &Tensor, targets: &[u32], v: usize, g: &Grads) -> Result<Tensor> {
    let shape = logits.shape().clone();
    let dev = logits.device().clone();
    let t = match logits.dtype() {
        DType::BF16 => with_slice(logits, |_| None, |d| Some(backward_typed(d, targets, v, g)))?
            .map(|out| Tensor::from_vec(out, shape.clone(), &dev)),
        _ => with_slice(logits, |d| Some(backward_typed(d, targets, v, g)), |_| None)?
            .map(|out| Tensor::from_vec(out, shape.clone(), &dev)),
    };
    match t {
        Some(t) => Ok(t?),
        None => Err(Error::DType {
            op: "selective_logprob_backward",
            what: "logits",
            got: logits.dtype(),
        }),
    }
}
