//! CPU twin of the fused selective log-prob: the same math as `kernels/selective_logprob.cu`, in f32, on
//! the tensors' own buffers (no copy of the logits), rows split over the available cores.
//!
//! Merge note: the model branch writes a CPU twin with the same two signatures; keep whichever the lead
//! picks, the tests in `tests/cpu_selective_logprob.rs` hold either to the f64 reference.
//!
//! Each row is walked in tiles of [`TILE`] logits: the tile's max raises the running max once (rescaling
//! the running sums), then the tile's exponentials are added (see [`Online`] for why the sums are f64).

use candle_core::{CpuStorage, Device, Storage, Tensor};
use half::bf16;

use crate::{Error, Poison, Result, SelectiveLogprob};

/// Logits per tile: 8 KiB of f32, so a tile stays in L1 between its max pass and its sum pass.
const TILE: usize = 2048;
/// Below this many logits one thread does the work: spawning costs more than it saves.
const MIN_PARALLEL_ELEMS: usize = 1 << 16;

/// Element types of the logits.
trait Elem: Copy + Send + Sync {
    const NAN: Self;
    const ZERO: Self;
    fn to_f32(self) -> f32;
    fn from_f32(x: f32) -> Self;
}

impl Elem for f32 {
    const NAN: Self = f32::NAN;
    const ZERO: Self = 0.0;
    fn to_f32(self) -> f32 {
        self
    }
    fn from_f32(x: f32) -> Self {
        x
    }
}

impl Elem for bf16 {
    const NAN: Self = bf16::NAN;
    const ZERO: Self = bf16::ZERO;
    fn to_f32(self) -> f32 {
        bf16::to_f32(self)
    }
    fn from_f32(x: f32) -> Self {
        bf16::from_f32(x)
    }
}

/// Per-row state of the online log-sum-exp: running max `m`, `s = Σ exp(z − m)`, `t = Σ exp(z − m)·z`.
///
/// The exponentials are f32 (the cost of the op) but the sums are f64: adding a 2,048-term tile of small
/// terms to an f32 sum near 1 rounds each term, and on peaked rows (a few logits far above the rest, as an
/// LLM's are) the bias reaches 1e-5 in lse and 3e-4 in entropy. In f64 it is below f32 resolution, for
/// the price of a widening add per logit.
struct Online {
    m: f32,
    s: f64,
    t: f64,
}

impl Online {
    fn new() -> Self {
        Self {
            m: f32::NEG_INFINITY,
            s: 0.0,
            t: 0.0,
        }
    }

    fn add_tile(&mut self, z: &[f32], entropy: bool) {
        let tile_max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if tile_max > self.m {
            let scale = f64::from(self.m - tile_max).exp();
            self.s *= scale;
            self.t *= scale;
            self.m = tile_max;
        }
        if self.m == f32::NEG_INFINITY {
            return; // every logit so far is -inf: they add nothing
        }
        let m = self.m;
        if entropy {
            for &z in z {
                let e = (z - m).exp();
                self.s += f64::from(e);
                // e > 0 keeps 0·(−inf) out of t: a masked logit contributes p·z = 0.
                if e > 0.0 {
                    self.t += f64::from(e) * f64::from(z);
                }
            }
        } else {
            self.s += z.iter().map(|&z| f64::from((z - m).exp())).sum::<f64>();
        }
    }

    fn lse(&self) -> f32 {
        (f64::from(self.m) + self.s.ln()) as f32
    }

    fn entropy(&self) -> f32 {
        (f64::from(self.m) + self.s.ln() - self.t / self.s) as f32
    }
}

pub(crate) fn selective_logprob(
    logits: &Tensor,
    targets: &Tensor,
    with_entropy: bool,
    poison: Poison,
) -> Result<SelectiveLogprob> {
    let (n, v) = logits.dims2()?;
    let init = if poison == Poison::Yes { f32::NAN } else { 0.0 };
    let mut logprobs = vec![init; n];
    let mut lse = vec![init; n];
    let mut entropy = vec![init; if with_entropy { n } else { 0 }];
    let (t_guard, t_layout) = targets.storage_and_layout();
    let targets = u32_slice(&t_guard, t_layout, "targets")?;
    let (z_guard, z_layout) = logits.storage_and_layout();
    let out = FwdOut {
        logprobs: &mut logprobs,
        lse: &mut lse,
        entropy: &mut entropy,
    };
    match logits_slice(&z_guard, z_layout)? {
        Logits::F32(z) => fwd_rows(z, v, targets, out),
        Logits::Bf16(z) => fwd_rows(z, v, targets, out),
    }
    let cpu = Device::Cpu;
    Ok(SelectiveLogprob {
        logprobs: Tensor::from_vec(logprobs, n, &cpu)?,
        lse: Tensor::from_vec(lse, n, &cpu)?,
        entropy: if with_entropy {
            Some(Tensor::from_vec(entropy, n, &cpu)?)
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
    let (n, v) = logits.dims2()?;
    let (t_guard, t_layout) = targets.storage_and_layout();
    let (l_guard, l_layout) = lse.storage_and_layout();
    let (g_guard, g_layout) = grad_logprobs.storage_and_layout();
    let gh_guard = grad_entropy.map(|g| g.storage_and_layout());
    let rows = BwdRows {
        targets: u32_slice(&t_guard, t_layout, "targets")?,
        lse: f32_slice(&l_guard, l_layout, "lse")?,
        g: f32_slice(&g_guard, g_layout, "grad_logprobs")?,
        g_h: match &gh_guard {
            Some((guard, layout)) => Some(f32_slice(guard, layout, "grad_entropy")?),
            None => None,
        },
    };
    let (z_guard, z_layout) = logits.storage_and_layout();
    let storage = match logits_slice(&z_guard, z_layout)? {
        Logits::F32(z) => CpuStorage::F32(bwd_rows(z, v, &rows, poison)),
        Logits::Bf16(z) => CpuStorage::BF16(bwd_rows(z, v, &rows, poison)),
    };
    let grad = match storage {
        CpuStorage::F32(d) => Tensor::from_vec(d, (n, v), &Device::Cpu)?,
        CpuStorage::BF16(d) => Tensor::from_vec(d, (n, v), &Device::Cpu)?,
        _ => unreachable_dtype()?,
    };
    Ok(grad)
}

fn unreachable_dtype() -> Result<Tensor> {
    Err(
        candle_core::Error::Msg("selective_logprob_backward: internal dtype mismatch".into())
            .into(),
    )
}

enum Logits<'a> {
    F32(&'a [f32]),
    Bf16(&'a [bf16]),
}

fn contiguous_range(
    layout: &candle_core::Layout,
    what: &'static str,
) -> Result<std::ops::Range<usize>> {
    layout
        .contiguous_offsets()
        .map(|(a, b)| a..b)
        .ok_or_else(|| {
            candle_core::Error::Msg(format!("selective_logprob: {what} must be contiguous")).into()
        })
}

fn logits_slice<'a>(storage: &'a Storage, layout: &candle_core::Layout) -> Result<Logits<'a>> {
    let range = contiguous_range(layout, "logits")?;
    match storage {
        Storage::Cpu(CpuStorage::F32(z)) => Ok(Logits::F32(&z[range])),
        Storage::Cpu(CpuStorage::BF16(z)) => Ok(Logits::Bf16(&z[range])),
        other => Err(Error::DType {
            op: "selective_logprob",
            what: "logits",
            expected: "f32 or bf16 on the CPU",
            got: other.dtype(),
        }),
    }
}

fn u32_slice<'a>(
    storage: &'a Storage,
    layout: &candle_core::Layout,
    what: &'static str,
) -> Result<&'a [u32]> {
    let range = contiguous_range(layout, what)?;
    match storage {
        Storage::Cpu(CpuStorage::U32(x)) => Ok(&x[range]),
        other => Err(Error::DType {
            op: "selective_logprob",
            what,
            expected: "u32 on the CPU",
            got: other.dtype(),
        }),
    }
}

fn f32_slice<'a>(
    storage: &'a Storage,
    layout: &candle_core::Layout,
    what: &'static str,
) -> Result<&'a [f32]> {
    let range = contiguous_range(layout, what)?;
    match storage {
        Storage::Cpu(CpuStorage::F32(x)) => Ok(&x[range]),
        other => Err(Error::DType {
            op: "selective_logprob_backward",
            what,
            expected: "f32 on the CPU",
            got: other.dtype(),
        }),
    }
}

/// Rows per thread so that every available core gets a contiguous block of rows.
fn rows_per_thread(n: usize, v: usize) -> usize {
    let threads = if n * v < MIN_PARALLEL_ELEMS {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |t| t.get())
    };
    n.div_ceil(threads).max(1)
}

struct FwdOut<'a> {
    logprobs: &'a mut [f32],
    lse: &'a mut [f32],
    entropy: &'a mut [f32],
}

fn fwd_rows<T: Elem>(z: &[T], v: usize, targets: &[u32], out: FwdOut<'_>) {
    let n = targets.len();
    let per = rows_per_thread(n, v);
    let with_entropy = !out.entropy.is_empty();
    // An empty entropy output still needs one (empty) chunk per row block for the zip below.
    let mut no_entropy: Vec<&mut [f32]> = Vec::new();
    let entropy_chunks: Box<dyn Iterator<Item = &mut [f32]>> = if with_entropy {
        Box::new(out.entropy.chunks_mut(per))
    } else {
        no_entropy.resize_with(n.div_ceil(per), Default::default);
        Box::new(no_entropy.into_iter())
    };
    std::thread::scope(|scope| {
        let blocks = out
            .logprobs
            .chunks_mut(per)
            .zip(out.lse.chunks_mut(per))
            .zip(entropy_chunks)
            .zip(targets.chunks(per))
            .zip(z.chunks(per * v));
        for ((((lp, lse), ent), ys), zs) in blocks {
            scope.spawn(move || {
                let mut buf = [0f32; TILE];
                for (r, (row, &y)) in zs.chunks(v).zip(ys).enumerate() {
                    let mut st = Online::new();
                    for tile in row.chunks(TILE) {
                        let zt = &mut buf[..tile.len()];
                        for (d, s) in zt.iter_mut().zip(tile) {
                            *d = s.to_f32();
                        }
                        st.add_tile(zt, with_entropy);
                    }
                    let l = st.lse();
                    lse[r] = l;
                    lp[r] = match row.get(y as usize) {
                        Some(zy) => zy.to_f32() - l,
                        None => f32::NAN, // out-of-range id: visible in the loss, like the kernel
                    };
                    if with_entropy {
                        ent[r] = st.entropy();
                    }
                }
            });
        }
    });
}

struct BwdRows<'a> {
    targets: &'a [u32],
    lse: &'a [f32],
    g: &'a [f32],
    g_h: Option<&'a [f32]>,
}

fn bwd_rows<T: Elem>(z: &[T], v: usize, rows: &BwdRows<'_>, poison: Poison) -> Vec<T> {
    let n = rows.targets.len();
    let mut out = vec![
        if poison == Poison::Yes {
            T::NAN
        } else {
            T::ZERO
        };
        n * v
    ];
    let per = rows_per_thread(n, v);
    std::thread::scope(|scope| {
        for (b, (dz, zs)) in out.chunks_mut(per * v).zip(z.chunks(per * v)).enumerate() {
            scope.spawn(move || {
                for (i, (drow, row)) in dz.chunks_mut(v).zip(zs.chunks(v)).enumerate() {
                    let r = b * per + i;
                    bwd_row(
                        row,
                        drow,
                        rows.targets[r],
                        rows.lse[r],
                        rows.g[r],
                        rows.g_h.map(|g| g[r]),
                    );
                }
            });
        }
    });
    out
}

/// `dz_j = −p_j (g + g_H (z_j − lse + H)) + g [j = y]`, `p_j = exp(z_j − lse)`.
///
/// With `H = lse − Σ p z`, `z_j − lse + H = z_j − Σ p z`, so the entropy term needs only `Σ p z`.
fn bwd_row<T: Elem>(row: &[T], out: &mut [T], y: u32, lse: f32, g: f32, g_h: Option<f32>) {
    let y = y as usize;
    if y >= row.len() {
        out.fill(T::NAN);
        return;
    }
    match g_h {
        None => write_row(row, out, y, g, |z| -(z - lse).exp() * g),
        Some(g_h) => {
            // Σ p z / Σ p rather than Σ p z: dividing by the computed Σ p (= 1 up to the rounding of the
            // saved lse) cancels that rounding, which z·δlse would otherwise amplify. Sums in f64 as in
            // the forward.
            let (sum_p, sum_pz) = row.iter().fold((0.0f64, 0.0f64), |(sp, spz), &z| {
                let z = z.to_f32();
                let p = (z - lse).exp();
                if p > 0.0 {
                    (sp + f64::from(p), spz + f64::from(p) * f64::from(z))
                } else {
                    (sp, spz)
                }
            });
            let mean_z = (sum_pz / sum_p) as f32;
            write_row(row, out, y, g, |z| {
                let p = (z - lse).exp();
                // p = 0 at z = −inf: the entropy term's limit is 0, not 0·inf.
                if p > 0.0 {
                    -p * (g + g_h * (z - mean_z))
                } else {
                    0.0
                }
            })
        }
    }
}

/// Writes `grad_at(z_j)` for every j, plus `g` at the target (added before rounding, so a bf16 gradient
/// is rounded once).
fn write_row<T: Elem>(row: &[T], out: &mut [T], y: usize, g: f32, grad_at: impl Fn(f32) -> f32) {
    for (d, &z) in out.iter_mut().zip(row) {
        *d = T::from_f32(grad_at(z.to_f32()));
    }
    out[y] = T::from_f32(grad_at(row[y].to_f32()) + g);
}
