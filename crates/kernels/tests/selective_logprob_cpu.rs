//! CPU selective log-prob kernels against an f64 reference on random logits (odd sizes, several
//! vocabulary tiles, bf16 and f32 inputs).

use candle_core::{DType, Device, Tensor};
use caugym_kernels::{VOCAB_TILE, selective_logprob, selective_logprob_backward};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct Case {
    z: Vec<f64>,
    y: Vec<u32>,
    n: usize,
    v: usize,
}

fn case(n: usize, v: usize, seed: u64) -> Case {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Spread of +-6 so softmax is far from uniform and the running max changes between tiles.
    let z = (0..n * v).map(|_| rng.random_range(-6.0..6.0)).collect();
    let y = (0..n).map(|_| rng.random_range(0..v as u32)).collect();
    Case { z, y, n, v }
}

/// f64 reference: (logp, lse, entropy) per row.
fn reference(c: &Case) -> Vec<(f64, f64, f64)> {
    (0..c.n)
        .map(|i| {
            let row = &c.z[i * c.v..(i + 1) * c.v];
            let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = m + row.iter().map(|z| (z - m).exp()).sum::<f64>().ln();
            let h = -row.iter().map(|z| (z - lse).exp() * (z - lse)).sum::<f64>();
            (row[c.y[i] as usize] - lse, lse, h)
        })
        .collect()
}

/// f64 reference gradient of sum_i g_i logp_i + e_i H_i w.r.t. z.
fn reference_grad(c: &Case, g: &[f64], e: &[f64]) -> Vec<f64> {
    let fw = reference(c);
    let mut out = vec![0.0; c.n * c.v];
    for i in 0..c.n {
        let (_, lse, h) = fw[i];
        for j in 0..c.v {
            let logp = c.z[i * c.v + j] - lse;
            let p = logp.exp();
            let onehot = if j == c.y[i] as usize { 1.0 } else { 0.0 };
            out[i * c.v + j] = g[i] * (onehot - p) - e[i] * p * (logp + h);
        }
    }
    out
}

fn tensors(c: &Case, dtype: DType) -> (Tensor, Tensor) {
    let z32: Vec<f32> = c.z.iter().map(|&x| x as f32).collect();
    let logits = Tensor::from_vec(z32, (c.n, c.v), &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap();
    let y = Tensor::from_vec(c.y.clone(), c.n, &Device::Cpu).unwrap();
    (logits, y)
}

fn max_abs_diff(a: &[f32], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn forward_matches_f64_reference_f32() {
    // 3 tiles plus a remainder, and a vocabulary smaller than one tile.
    for (n, v, seed) in [(7, 3 * VOCAB_TILE + 333, 1), (13, 517, 2), (1, 1, 3)] {
        let c = case(n, v, seed);
        let (logits, y) = tensors(&c, DType::F32);
        let out = selective_logprob(&logits, &y, true).unwrap();
        let r = reference(&c);
        let lp: Vec<f32> = out.logprobs.to_vec1().unwrap();
        let lse: Vec<f32> = out.lse.to_vec1().unwrap();
        let h: Vec<f32> = out.entropy.unwrap().to_vec1().unwrap();
        // f32 accumulation over <= 6.5k terms of magnitude <= e^12: relative error ~1e-6.
        let tol = 2e-4;
        assert!(max_abs_diff(&lp, &r.iter().map(|x| x.0).collect::<Vec<_>>()) < tol);
        assert!(max_abs_diff(&lse, &r.iter().map(|x| x.1).collect::<Vec<_>>()) < tol);
        let dh = max_abs_diff(&h, &r.iter().map(|x| x.2).collect::<Vec<_>>());
        assert!(dh < tol, "entropy off by {dh} (n={n}, v={v})");
        let no_h = selective_logprob(&logits, &y, false).unwrap();
        assert!(no_h.entropy.is_none());
        let lp2: Vec<f32> = no_h.logprobs.to_vec1().unwrap();
        let same = lp.iter().zip(&lp2).all(|(a, b)| (a - b).abs() < 1e-5);
        assert!(same, "with/without entropy disagree: {lp:?} vs {lp2:?}");
    }
}

#[test]
fn forward_bf16_matches_reference_on_rounded_inputs() {
    let mut c = case(5, VOCAB_TILE + 77, 4);
    // Reference on the bf16-rounded logits so only the accumulation is compared.
    c.z =
        c.z.iter()
            .map(|&x| half::bf16::from_f64(x).to_f64())
            .collect();
    let (logits, y) = tensors(&c, DType::BF16);
    let out = selective_logprob(&logits, &y, true).unwrap();
    let r = reference(&c);
    let lp: Vec<f32> = out.logprobs.to_vec1().unwrap();
    assert!(max_abs_diff(&lp, &r.iter().map(|x| x.0).collect::<Vec<_>>()) < 2e-4);
}

#[test]
fn backward_matches_f64_reference() {
    let c = case(9, VOCAB_TILE + 501, 5);
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let g: Vec<f64> = (0..c.n).map(|_| rng.random_range(-2.0..2.0)).collect();
    let e: Vec<f64> = (0..c.n).map(|_| rng.random_range(-2.0..2.0)).collect();
    let (logits, y) = tensors(&c, DType::F32);
    let fw = selective_logprob(&logits, &y, false).unwrap();
    let gt = Tensor::from_vec(
        g.iter().map(|&x| x as f32).collect::<Vec<_>>(),
        c.n,
        &Device::Cpu,
    )
    .unwrap();
    let et = Tensor::from_vec(
        e.iter().map(|&x| x as f32).collect::<Vec<_>>(),
        c.n,
        &Device::Cpu,
    )
    .unwrap();
    // With the entropy term.
    let dz = selective_logprob_backward(&logits, &y, &fw.lse, &gt, Some(&et)).unwrap();
    let dz: Vec<f32> = dz.flatten_all().unwrap().to_vec1().unwrap();
    assert!(max_abs_diff(&dz, &reference_grad(&c, &g, &e)) < 1e-5);
    // Without it.
    let dz = selective_logprob_backward(&logits, &y, &fw.lse, &gt, None).unwrap();
    let dz: Vec<f32> = dz.flatten_all().unwrap().to_vec1().unwrap();
    assert!(max_abs_diff(&dz, &reference_grad(&c, &g, &vec![0.0; c.n])) < 1e-5);
    // bf16 logits give bf16 gradients close to the f32 ones (bf16 has 8 bits of mantissa).
    let (l16, _) = tensors(&c, DType::BF16);
    let fw16 = selective_logprob(&l16, &y, false).unwrap();
    let dz16 = selective_logprob_backward(&l16, &y, &fw16.lse, &gt, None).unwrap();
    assert_eq!(dz16.dtype(), DType::BF16);
}

#[test]
fn rejects_bad_inputs_naming_the_op() {
    let c = case(3, 10, 7);
    let (logits, _) = tensors(&c, DType::F32);
    let bad = Tensor::new(&[0u32, 10, 1], &Device::Cpu).unwrap();
    let err = selective_logprob(&logits, &bad, false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("selective_logprob") && err.contains("10"),
        "{err}"
    );
    let short = Tensor::new(&[0u32, 1], &Device::Cpu).unwrap();
    let err = selective_logprob(&logits, &short, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("targets"), "{err}");
}
