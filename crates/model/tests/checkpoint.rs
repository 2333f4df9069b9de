//! Activation checkpointing: the loss and every trainable gradient are the same with and without
//! it (LoRA with dropout, and full fine-tuning), on a tiny 2-layer f32 model — and the graph it
//! keeps is much smaller, so the checkpointed path is really the one taken.
//!
//! Tolerance: the recomputation repeats the same f32 ops in the same order, so values agree to
//! rounding; 1e-5 · (1 + |g|) is the bound, far below what a missing term, a wrong
//! dropout mask or a gradient counted twice would change (≥ 1e-3 on these weights).

mod common;

use candle_core::{DType, Tensor, Var};
use caugym_model::{
    AdapterMode, Batch, LogprobOptions, LoraConfig, PadSide, Qwen2, TargetModules, TrainMode,
    sequence_logprobs,
};
use common::*;

/// Σ w · logp over real targets (fixed random weights w), through the chunked log-prob path.
fn loss(m: &Qwen2, b: &Batch, adapter: AdapterMode) -> Tensor {
    let lp = sequence_logprobs(m, b, adapter, &LogprobOptions::default()).unwrap();
    let w = (uniform(lp.logprobs.dims(), 1.0, 5) + 1.5).unwrap();
    (lp.logprobs * w).unwrap().sum_all().unwrap()
}

/// Loss, gradients of `vars` in order, and the number of graph nodes, with checkpointing `on`.
fn run(
    m: &mut Qwen2,
    vars: &[(String, Var)],
    b: &Batch,
    adapter: AdapterMode,
    on: bool,
) -> (f64, Vec<Tensor>, usize) {
    m.set_activation_checkpointing(on);
    m.set_dropout_seed(11);
    let l = loss(m, b, adapter);
    let nodes = l.sorted_nodes().len();
    let grads = l.backward().unwrap();
    let g = vars
        .iter()
        .map(|(name, v)| {
            grads
                .get(v.as_tensor())
                .unwrap_or_else(|| panic!("{name}: no gradient (checkpointing {on})"))
                .clone()
        })
        .collect();
    (l.to_scalar::<f32>().unwrap() as f64, g, nodes)
}

fn assert_same(m: &mut Qwen2, vars: &[(String, Var)], adapter: AdapterMode) {
    m.set_checkpoint_rows(0);
    let b = batch(&rows(&[9, 6, 8], 61, 3), PadSide::Left);
    let (l0, g0, n0) = run(m, vars, &b, adapter, false);
    let (l1, g1, n1) = run(m, vars, &b, adapter, true);
    assert!(
        (l0 - l1).abs() <= 1e-5 * (1.0 + l0.abs()),
        "loss {l0} vs {l1}"
    );
    for ((name, _), (a, c)) in vars.iter().zip(g0.iter().zip(&g1)) {
        let scale = max_abs(a);
        assert!(scale > 1e-6, "{name}: zero gradient");
        let d = max_diff(a, c);
        assert!(d <= 1e-5 * (1.0 + scale), "{name}: gradients differ by {d}");
    }
    // Each checkpointed layer keeps its input and one op (plus a tap per trainable weight)
    // instead of its intermediates; the CPU's fused ops already make those few, so the graph
    // shrinks without halving.
    assert!(n1 < n0, "checkpointed graph has {n1} nodes, plain {n0}");
}

#[test]
fn lora_gradients_equal_with_and_without_checkpointing() {
    let cfg = tiny_cfg(false);
    let mut m = model(&cfg, &random_weights(&cfg, 1), DType::F32);
    let lora = LoraConfig {
        dropout: 0.2,
        use_rslora: false,
        ..LoraConfig::new(4, 8.0, TargetModules::AllLinear)
    };
    m.add_adapter("a", &lora, 2).unwrap();
    let vars = m.trainable_vars(&TrainMode::Lora("a".into())).unwrap();
    // B starts at 0, which would leave A without a gradient: give it random values.
    for (i, (name, v)) in vars.iter().enumerate() {
        if name.contains("lora_B") {
            v.set(&uniform(v.dims(), 0.3, 100 + i as u64)).unwrap();
        }
    }
    m.set_training(true);
    assert_eq!(vars.len(), 2 * 7 * 2);
    assert_same(&mut m, &vars, AdapterMode::Active("a"));
}

#[test]
fn row_groups_give_the_same_gradients() {
    // Recomputing one row (then two) at a time: rows are independent inside a layer. Without
    // dropout (whose masks are drawn per group) the result is the unsplit gradient.
    let cfg = tiny_cfg(false);
    let mut m = model(&cfg, &random_weights(&cfg, 6), DType::F32);
    let lora = LoraConfig::new(4, 8.0, TargetModules::AllLinear);
    m.add_adapter("a", &lora, 3).unwrap();
    let vars = m.trainable_vars(&TrainMode::Lora("a".into())).unwrap();
    for (i, (name, v)) in vars.iter().enumerate() {
        if name.contains("lora_B") {
            v.set(&uniform(v.dims(), 0.3, 200 + i as u64)).unwrap();
        }
    }
    m.set_training(true);
    let b = batch(&rows(&[9, 6, 8], 61, 3), PadSide::Left);
    let adapter = AdapterMode::Active("a");
    let (l0, g0, _) = run(&mut m, &vars, &b, adapter, false);
    for group in [1, 2] {
        m.set_checkpoint_rows(group);
        let (l1, g1, _) = run(&mut m, &vars, &b, adapter, true);
        assert!(
            (l0 - l1).abs() <= 1e-5 * (1.0 + l0.abs()),
            "loss {l0} vs {l1}"
        );
        for ((name, _), (a, c)) in vars.iter().zip(g0.iter().zip(&g1)) {
            let scale = max_abs(a);
            let d = max_diff(a, c);
            assert!(
                d <= 1e-5 * (1.0 + scale),
                "{name}, groups of {group}: differ by {d}"
            );
        }
    }
}

#[test]
fn full_finetune_gradients_equal_with_and_without_checkpointing() {
    let cfg = tiny_cfg(true);
    let mut m = model(&cfg, &random_weights(&cfg, 4), DType::F32);
    m.enable_full_finetune().unwrap();
    m.set_training(true);
    let vars = m.trainable_vars(&TrainMode::Full).unwrap();
    assert_same(&mut m, &vars, AdapterMode::Disabled);
}

#[test]
fn checkpointing_leaves_inference_and_untracked_forwards_unchanged() {
    let cfg = tiny_cfg(false);
    let mut m = model(&cfg, &random_weights(&cfg, 5), DType::F32);
    let b = batch(&rows(&[7, 5], 61, 8), PadSide::Left);
    let plain = m.forward_hidden(&b, AdapterMode::Disabled).unwrap();
    m.set_activation_checkpointing(true);
    // A frozen base: nothing to recompute, no graph either way.
    let ckpt = m.forward_hidden(&b, AdapterMode::Disabled).unwrap();
    assert_eq!(max_diff(&plain, &ckpt), 0.0);
    assert!(!ckpt.track_op());
}
