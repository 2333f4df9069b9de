//! f64 reference of the selective log-prob, and random test problems, shared by the CPU and CUDA tests,
//! the `gpu_check` binary and the CPU benchmark.
//!
//! The reference is the textbook two-pass form in f64 (max, then Σ exp(z − max)), independent of the
//! tiled/online f32 code under test; the inputs are f32 values (bf16 logits are widened exactly), so any
//! difference is the op's own rounding.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// One row's forward results in f64.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowRef {
    pub logprob: f64,
    pub lse: f64,
    pub entropy: f64,
}

/// Forward reference for `logits` laid out `[targets.len(), v]` row-major.
pub fn forward(logits: &[f32], v: usize, targets: &[u32]) -> Vec<RowRef> {
    logits
        .chunks(v)
        .zip(targets)
        .map(|(row, &y)| {
            let m = row
                .iter()
                .fold(f64::NEG_INFINITY, |m, &z| m.max(f64::from(z)));
            let s: f64 = row.iter().map(|&z| (f64::from(z) - m).exp()).sum();
            let lse = m + s.ln();
            let sum_pz: f64 = row
                .iter()
                .map(|&z| {
                    let p = (f64::from(z) - lse).exp();
                    if p > 0.0 { p * f64::from(z) } else { 0.0 }
                })
                .sum();
            RowRef {
                logprob: row
                    .get(y as usize)
                    .map_or(f64::NAN, |&z| f64::from(z) - lse),
                lse,
                entropy: lse - sum_pz,
            }
        })
        .collect()
}

/// Backward reference: `dz = g (onehot(y) − p) − g_H p (log p + H)` for each row, `[n, v]` row-major.
pub fn backward(
    logits: &[f32],
    v: usize,
    targets: &[u32],
    grad_logprobs: &[f32],
    grad_entropy: Option<&[f32]>,
) -> Vec<f64> {
    let fwd = forward(logits, v, targets);
    let mut out = Vec::with_capacity(logits.len());
    for (r, row) in logits.chunks(v).enumerate() {
        let RowRef { lse, entropy, .. } = fwd[r];
        let g = f64::from(grad_logprobs[r]);
        let g_h = grad_entropy.map_or(0.0, |gh| f64::from(gh[r]));
        let y = targets[r] as usize;
        for (j, &z) in row.iter().enumerate() {
            let log_p = f64::from(z) - lse;
            let p = log_p.exp();
            let entropy_term = if p > 0.0 { -p * (log_p + entropy) } else { 0.0 };
            let onehot = if j == y { 1.0 } else { 0.0 };
            out.push(g * (onehot - p) + g_h * entropy_term);
        }
    }
    out
}

/// A seed that differs between runs (and between calls in one run): tests use fresh inputs every time
/// and print the seed, so a failure can be replayed with [`Rng::new`].
pub fn fresh_seed() -> u64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos
        ^ CALLS
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// SplitMix64: small, seedable, good enough for test data (not for sampling).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// A random selective log-prob problem shaped like an LLM's output: logits `N(0, 2²)` plus a few peaked
/// tokens per row (+8..+16, as after training), targets half on a peak and half anywhere, gradients
/// `N(0, 1)`. Never zeros: a kernel that ignores an input cannot pass.
#[derive(Debug, Clone)]
pub struct Problem {
    pub n: usize,
    pub v: usize,
    pub logits: Vec<f32>,
    pub targets: Vec<u32>,
    pub grad_logprobs: Vec<f32>,
    pub grad_entropy: Vec<f32>,
}

impl Problem {
    pub fn random(rng: &mut Rng, n: usize, v: usize) -> Self {
        let mut logits: Vec<f32> = (0..n * v).map(|_| (2.0 * rng.normal()) as f32).collect();
        let mut targets = Vec::with_capacity(n);
        for row in logits.chunks_mut(v) {
            let peaks = 1 + rng.below(3);
            let mut last_peak = 0;
            for _ in 0..peaks {
                last_peak = rng.below(v);
                row[last_peak] += (8.0 + 8.0 * rng.uniform()) as f32;
            }
            let y = if rng.uniform() < 0.5 {
                last_peak
            } else {
                rng.below(v)
            };
            targets.push(y as u32);
        }
        let grad_logprobs = (0..n).map(|_| rng.normal() as f32).collect();
        let grad_entropy = (0..n).map(|_| rng.normal() as f32).collect();
        Self {
            n,
            v,
            logits,
            targets,
            grad_logprobs,
            grad_entropy,
        }
    }

    /// Rounds the logits to bf16 in place, so that the f64 reference sees exactly what a bf16 op sees.
    pub fn round_logits_to_bf16(&mut self) {
        for z in &mut self.logits {
            *z = half::bf16::from_f32(*z).to_f32();
        }
    }
}

/// Largest `|got − want| / (atol + rtol·|want|)` over paired values; `≤ 1` passes. NaN in `got` (a
/// poisoned element never written) gives infinity.
pub fn max_scaled_error(got: &[f32], want: &[f64], atol: f64, rtol: f64) -> f64 {
    got.iter()
        .zip(want)
        .map(|(&g, &w)| {
            let err = (f64::from(g) - w).abs() / (atol + rtol * w.abs());
            if err.is_nan() { f64::INFINITY } else { err }
        })
        .fold(0.0, f64::max)
}
