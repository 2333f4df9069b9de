//! Gradients: every trainable Var gets a non-zero gradient through the real training path
//! (f32, chunked log-probs), and central finite differences agree with backward for LoRA A and
//! B of every target module of a 2-layer model and for every weight under full fine-tuning.
//!
//! The finite-difference checks run the model in f64 (adapters are f64 on an f64 base) with
//! the composed log-softmax loss, so eps = 1e-5 gives truncation and rounding errors ~1e-10;
//! the tolerance 1e-6 · (1 + |g|) leaves four orders of margin while a wrong or missing term
//! (a cut graph, a mask off by one, a scale off by alpha/r) shows up at 1e-3 or more.

mod common;

use candle_core::{DType, Device, Tensor, Var};
use caugym_model::logprobs::{reference_token_logprobs, target_mask};
use caugym_model::{
    AdapterMode, Batch, LogprobOptions, LoraConfig, PadSide, Qwen2, TargetModules, TrainMode,
    sequence_logprobs,
};
use common::*;

fn lora_cfg() -> LoraConfig {
    LoraConfig {
        use_rslora: false,
        ..LoraConfig::new(4, 8.0, TargetModules::AllLinear)
    }
}

fn test_batch(vocab: usize) -> Batch {
    batch(&rows(&[6, 4, 5], vocab, 21), PadSide::Left)
}

/// Σ w_bt · logp_bt over real targets, with fixed random weights w (f64 composed path).
fn loss_f64(m: &Qwen2, b: &Batch, adapter: AdapterMode) -> Tensor {
    let (bs, t) = b.dims();
    let hidden = m.forward_hidden(b, adapter).unwrap();
    let h = hidden
        .narrow(1, 0, t - 1)
        .unwrap()
        .reshape((bs * (t - 1), hidden.dim(2).unwrap()))
        .unwrap();
    let targets = b
        .input_ids
        .narrow(1, 1, t - 1)
        .unwrap()
        .flatten_all()
        .unwrap();
    let lp = reference_token_logprobs(&h, m.lm_head_weight(), &targets, &LogprobOptions::default())
        .unwrap();
    let lp = lp.logprobs.reshape((bs, t - 1)).unwrap();
    let w = uniform(&[bs, t - 1], 1.0, 5).to_dtype(DType::F64).unwrap() + 1.5;
    let mask = target_mask(b).unwrap().to_dtype(DType::F64).unwrap();
    (lp * (w.unwrap() * mask).unwrap())
        .unwrap()
        .sum_all()
        .unwrap()
}

fn scalar(t: &Tensor) -> f64 {
    t.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
}

/// Checks 3 entries of each Var (the two largest gradients and one fixed) by central differences.
fn finite_differences(m: &Qwen2, vars: &[(String, Var)], b: &Batch, adapter: AdapterMode) {
    let grads = loss_f64(m, b, adapter).backward().unwrap();
    let eps = 1e-5;
    for (name, var) in vars {
        let g = grads
            .get(var)
            .unwrap_or_else(|| panic!("{name}: no gradient"));
        let g: Vec<f64> = g.flatten_all().unwrap().to_vec1().unwrap();
        let orig: Vec<f64> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let mut idx: Vec<usize> = (0..g.len()).collect();
        idx.sort_by(|&a, &b| g[b].abs().total_cmp(&g[a].abs()));
        let picks = [idx[0], idx[1], (g.len() * 7 / 13) % g.len()];
        for &i in &picks {
            let eval = |delta: f64| {
                let mut v = orig.clone();
                v[i] += delta;
                var.set(&Tensor::from_vec(v, var.shape(), &Device::Cpu).unwrap())
                    .unwrap();
                scalar(&loss_f64(m, b, adapter))
            };
            let fd = (eval(eps) - eval(-eps)) / (2.0 * eps);
            var.set(&Tensor::from_vec(orig.clone(), var.shape(), &Device::Cpu).unwrap())
                .unwrap();
            let tol = 1e-6 * (1.0 + g[i].abs());
            assert!(
                (fd - g[i]).abs() < tol,
                "{name}[{i}]: finite difference {fd} vs backward {}",
                g[i]
            );
        }
        assert!(g[idx[0]].abs() > 1e-4, "{name}: gradient is ~0");
    }
}

/// Gives every B a random value so A's gradient is non-zero (it is exactly 0 while B = 0).
fn randomise_b(vars: &[(String, Var)]) {
    for (i, (name, v)) in vars.iter().enumerate() {
        if name.contains("lora_B") {
            let t = uniform(v.dims(), 0.5, 100 + i as u64)
                .to_dtype(v.dtype())
                .unwrap();
            v.set(&t).unwrap();
        }
    }
}

#[test]
fn lora_finite_differences_every_target_module() {
    let cfg = tiny_cfg(false);
    let mut m = model(&cfg, &random_weights(&cfg, 31), DType::F64);
    m.add_adapter("policy", &lora_cfg(), 7).unwrap();
    let vars = m.trainable_vars(&TrainMode::Lora("policy".into())).unwrap();
    // 2 layers x 7 modules x (A, B).
    assert_eq!(vars.len(), 28);
    randomise_b(&vars);
    finite_differences(
        &m,
        &vars,
        &test_batch(cfg.vocab_size),
        AdapterMode::Active("policy"),
    );
}

#[test]
fn full_finetune_finite_differences_every_weight() {
    let cfg = tiny_cfg(true);
    let mut m = model(&cfg, &random_weights(&cfg, 32), DType::F64);
    m.enable_full_finetune().unwrap();
    let vars = m.trainable_vars(&TrainMode::Full).unwrap();
    // embed + 2 x (7 weights + 3 biases + 2 norms) + final norm; the tied head is the embedding.
    assert_eq!(vars.len(), 1 + 2 * 12 + 1);
    finite_differences(
        &m,
        &vars,
        &test_batch(cfg.vocab_size),
        AdapterMode::Disabled,
    );
}

fn assert_all_nonzero(m: &Qwen2, vars: &[(String, Var)], adapter: AdapterMode, only: &str) {
    let b = test_batch(m.config().vocab_size);
    let opts = LogprobOptions {
        chunk_size: 5,
        with_entropy: true,
        ..Default::default()
    };
    let lp = sequence_logprobs(m, &b, adapter, &opts).unwrap();
    let mask = target_mask(&b).unwrap();
    let loss = ((lp.logprobs + lp.entropy.unwrap()).unwrap() * mask)
        .unwrap()
        .sum_all()
        .unwrap();
    let grads = loss.backward().unwrap();
    for (name, v) in vars.iter().filter(|(n, _)| n.contains(only)) {
        let g = grads
            .get(v)
            .unwrap_or_else(|| panic!("{name}: no gradient (graph cut?)"));
        let norm = scalar(&g.sqr().unwrap().sum_all().unwrap());
        assert!(
            norm > 0.0 && norm.is_finite(),
            "{name}: gradient norm {norm}"
        );
    }
}

#[test]
fn every_trainable_var_gets_a_nonzero_gradient_f32() {
    let cfg = tiny_cfg(false);
    let w = random_weights(&cfg, 33);
    let mut m = model(&cfg, &w, DType::F32);
    let mut lcfg = lora_cfg();
    lcfg.dropout = 0.1;
    m.add_adapter("policy", &lcfg, 1).unwrap();
    m.set_training(true);
    let vars = m.trainable_vars(&TrainMode::Lora("policy".into())).unwrap();
    // At PEFT init (B = 0) only B receives gradient.
    assert_all_nonzero(&m, &vars, AdapterMode::Active("policy"), "lora_B");
    randomise_b(&vars);
    assert_all_nonzero(&m, &vars, AdapterMode::Active("policy"), "lora_");

    let mut full = model(&cfg, &w, DType::F32);
    full.enable_full_finetune().unwrap();
    let vars = full.trainable_vars(&TrainMode::Full).unwrap();
    assert_eq!(vars.len(), 1 + 2 * 12 + 1 + 1);
    assert!(vars.iter().any(|(n, _)| n == "lm_head.weight"));
    assert_all_nonzero(&full, &vars, AdapterMode::Disabled, "");
}

#[test]
fn full_mode_requires_enabling() {
    let cfg = tiny_cfg(true);
    let m = model(&cfg, &random_weights(&cfg, 1), DType::F32);
    assert!(m.trainable_vars(&TrainMode::Full).is_err());
    assert!(m.trainable_vars(&TrainMode::Lora("x".into())).is_err());
}
