//! Shared test helpers: seeded inputs, scalar-loop plumbing, closeness and finite differences.
#![allow(dead_code)]

use candle_core::{DType, Device, Tensor, Var};
use caugym_train::{AggNorm, LossAgg};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The `[B, T]` sizes every tensor function is checked at (verl's three-size style).
pub const SIZES: [(usize, usize); 3] = [(1, 1), (3, 7), (16, 33)];

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

pub fn uniform(rng: &mut ChaCha8Rng, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

/// A right-padded `[B, T]` mask: each row gets a random length in `1..=T`, and when `holes`
/// some positions inside the row are masked out too (multi-turn style).
pub fn random_mask(rng: &mut ChaCha8Rng, b: usize, t: usize, holes: bool) -> Vec<f64> {
    let mut m = vec![0.0; b * t];
    for row in 0..b {
        let len = rng.random_range(1..=t);
        for col in 0..len {
            let hole = holes && col > 0 && col + 1 < len && rng.random_bool(0.2);
            m[row * t + col] = if hole { 0.0 } else { 1.0 };
        }
    }
    m
}

pub fn t1(v: &[f64]) -> Tensor {
    Tensor::from_slice(v, v.len(), &Device::Cpu).unwrap()
}

pub fn t2(v: &[f64], b: usize, t: usize) -> Tensor {
    Tensor::from_slice(v, (b, t), &Device::Cpu).unwrap()
}

pub fn var2(v: &[f64], b: usize, t: usize) -> Var {
    Var::from_tensor(&t2(v, b, t)).unwrap()
}

pub fn flat(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

pub fn scalar(t: &Tensor) -> f64 {
    let v = flat(t);
    assert_eq!(v.len(), 1, "expected a scalar, got {:?}", t.dims());
    v[0]
}

/// `|a - b| <= tol * max(1, |b|)` elementwise.
pub fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let scale = w.abs().max(1.0);
        assert!(
            (g - w).abs() <= tol * scale,
            "{what}[{i}]: got {g}, want {w} (tol {tol})\n got  {got:?}\n want {want:?}"
        );
    }
}

pub fn assert_close1(got: f64, want: f64, tol: f64, what: &str) {
    assert_close(&[got], &[want], tol, what);
}

/// Checks `backward()` of `f` at `x0` (an f64 tensor of `shape`) against central differences
/// `(f(x + h e_i) - f(x - h e_i)) / 2h`, within `tol` (absolute, scaled by max(1, |grad|)).
pub fn check_grad(
    x0: &[f64],
    shape: &[usize],
    f: impl Fn(&Tensor) -> Tensor,
    h: f64,
    tol: f64,
    what: &str,
) {
    let x = Var::from_tensor(&Tensor::from_slice(x0, shape, &Device::Cpu).unwrap()).unwrap();
    let loss = f(x.as_tensor());
    let grads = loss.backward().unwrap();
    let analytic = flat(grads.get(x.as_tensor()).expect("no gradient"));
    let mut numeric = Vec::with_capacity(x0.len());
    for i in 0..x0.len() {
        let mut plus = x0.to_vec();
        plus[i] += h;
        let mut minus = x0.to_vec();
        minus[i] -= h;
        let fp = scalar(&f(&Tensor::from_slice(&plus, shape, &Device::Cpu).unwrap()));
        let fm = scalar(&f(&Tensor::from_slice(&minus, shape, &Device::Cpu).unwrap()));
        numeric.push((fp - fm) / (2.0 * h));
    }
    assert_close(&analytic, &numeric, tol, what);
}

pub const MODES: [LossAgg; 3] = [
    LossAgg::TokenMean,
    LossAgg::SeqMeanTokenMean,
    LossAgg::SeqMeanTokenSumNorm,
];
/// Finite-difference step and tolerance (f64 central differences: error ~ h² f''' + eps/h).
pub const FD_H: f64 = 1e-5;
pub const FD_TOL: f64 = 1e-7;

pub fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Scalar aggregation of per-token values (the formulas of agg.rs, as loops).
pub fn agg_ref(l: &[f64], m: &[f64], b: usize, t: usize, mode: LossAgg, n: &AggNorm) -> f64 {
    let mut total = 0.0;
    for row in 0..b {
        let (mut s, mut c) = (0.0, 0.0);
        for col in 0..t {
            s += l[row * t + col] * m[row * t + col];
            c += m[row * t + col];
        }
        total += match mode {
            LossAgg::SeqMeanTokenMean if c > 0.0 => s / c,
            LossAgg::SeqMeanTokenMean => 0.0,
            _ => s,
        };
    }
    match mode {
        LossAgg::TokenMean => total / n.total_tokens as f64,
        LossAgg::SeqMeanTokenMean => total / n.num_sequences as f64,
        LossAgg::SeqMeanTokenSumNorm => total / (n.num_sequences * n.max_len) as f64,
    }
}
