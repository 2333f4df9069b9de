//! Shared helpers of the model tests: tiny random models and comparisons.
#![allow(dead_code)]

use candle_core::{DType, Device, Tensor};
use caugym_model::loader::WeightSource;
use caugym_model::{Batch, PadSide, Qwen2, Qwen2Config};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

/// hidden 32, 2 layers, 4 heads over 2 KV heads (GQA), vocabulary 61.
pub fn tiny_cfg(tied: bool) -> Qwen2Config {
    Qwen2Config {
        vocab_size: 61,
        hidden_size: 32,
        intermediate_size: 48,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        max_position_embeddings: 128,
        rope_theta: 10000.0,
        tie_word_embeddings: tied,
        ..Qwen2Config::tiny(61)
    }
}

/// Random weights with a spread large enough that every weight matters: N(0, 0.3²) matrices,
/// biases N(0, 0.1²), norm weights 1 + N(0, 0.1²).
pub fn random_weights(cfg: &Qwen2Config, seed: u64) -> HashMap<String, Tensor> {
    let base = caugym_model::init::random_weights(cfg, seed).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    // Sorted, so the noise drawn for each tensor does not depend on HashMap order.
    let mut base: Vec<(String, Tensor)> = base.into_iter().collect();
    base.sort_by(|a, b| a.0.cmp(&b.0));
    base.into_iter()
        .map(|(name, t)| {
            let n = t.elem_count();
            let noise: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
            let noise = Tensor::from_vec(noise, t.shape(), &Device::Cpu).unwrap();
            let t = if name.ends_with("norm.weight") {
                (noise * 0.15).unwrap() + 1.0
            } else if name.ends_with(".bias") {
                noise * 0.15
            } else {
                // U(-0.5, 0.5) has std ~0.29.
                noise * 0.5
            }
            .unwrap();
            (name, t)
        })
        .collect()
}

pub fn model(cfg: &Qwen2Config, w: &HashMap<String, Tensor>, dtype: DType) -> Qwen2 {
    Qwen2::new(cfg, w as &dyn WeightSource, dtype, &Device::Cpu).unwrap()
}

/// Random token rows of the given lengths.
pub fn rows(lens: &[usize], vocab: usize, seed: u64) -> Vec<Vec<u32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    lens.iter()
        .map(|&n| (0..n).map(|_| rng.random_range(0..vocab as u32)).collect())
        .collect()
}

pub fn batch(rows: &[Vec<u32>], side: PadSide) -> Batch {
    Batch::from_rows(rows, 0, side, &Device::Cpu).unwrap()
}

/// Largest |a − b| over all elements (as f64).
pub fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    (a.to_dtype(DType::F64).unwrap() - b.to_dtype(DType::F64).unwrap())
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

/// Largest |x| over all elements (as f64): the scale of a relative tolerance.
pub fn max_abs(t: &Tensor) -> f64 {
    t.to_dtype(DType::F64)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

/// Random tensor U(-s, s) of `shape`, f32.
pub fn uniform(shape: &[usize], s: f32, seed: u64) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(-s..s)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}
