//! Our training forward against candle-transformers' stock Qwen2 on the same random weights:
//! hidden states and logits within 1e-4 (f32; both compute the same math in a different op
//! order, so differences are rounding only, ~1e-6 here).

mod common;

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::qwen2 as stock;
use caugym_model::{AdapterMode, PadSide};
use common::*;

fn stock_config(cfg: &caugym_model::Qwen2Config) -> stock::Config {
    stock::Config {
        vocab_size: cfg.vocab_size,
        hidden_size: cfg.hidden_size,
        intermediate_size: cfg.intermediate_size,
        num_hidden_layers: cfg.num_hidden_layers,
        num_attention_heads: cfg.num_attention_heads,
        num_key_value_heads: cfg.num_key_value_heads,
        max_position_embeddings: cfg.max_position_embeddings,
        sliding_window: cfg.max_position_embeddings,
        max_window_layers: cfg.num_hidden_layers,
        tie_word_embeddings: cfg.tie_word_embeddings,
        rope_theta: cfg.rope_theta,
        rms_norm_eps: cfg.rms_norm_eps,
        use_sliding_window: false,
        hidden_act: candle_nn::Activation::Silu,
    }
}

fn parity(tied: bool) {
    let cfg = tiny_cfg(tied);
    let w = random_weights(&cfg, 11);
    let ours = model(&cfg, &w, DType::F32);
    let vb = VarBuilder::from_tensors(w.clone(), DType::F32, &Device::Cpu);
    let mut base = stock::Model::new(&stock_config(&cfg), vb.clone()).unwrap();
    let mut lm = stock::ModelForCausalLM::new(&stock_config(&cfg), vb).unwrap();

    let toks = rows(&[9, 9], cfg.vocab_size, 3);
    let b = batch(&toks, PadSide::Left);
    let hidden = ours.forward_hidden(&b, AdapterMode::Disabled).unwrap();
    let expected = base.forward(&b.input_ids, 0, None).unwrap();
    let dh = max_diff(&hidden, &expected);
    assert!(dh < 1e-4, "hidden states differ by {dh}");
    // The states are not trivially small: the comparison is meaningful.
    let scale = expected
        .abs()
        .unwrap()
        .max_keepdim(2)
        .unwrap()
        .mean_all()
        .unwrap();
    assert!(scale.to_scalar::<f32>().unwrap() > 0.5);

    // Logits at every position against the stock head applied to the stock hidden states,
    // and at the last position against the stock causal-LM forward itself.
    let logits = ours.logits(&hidden).unwrap();
    let head = if tied {
        &w["model.embed_tokens.weight"]
    } else {
        &w["lm_head.weight"]
    };
    let expected_logits = expected.broadcast_matmul(&head.t().unwrap()).unwrap();
    let dl = max_diff(&logits, &expected_logits);
    assert!(dl < 1e-4, "logits differ by {dl}");
    let last = lm.forward(&b.input_ids, 0).unwrap().squeeze(1).unwrap();
    let dl = max_diff(&logits.i((.., 8, ..)).unwrap(), &last);
    assert!(dl < 1e-4, "last-position logits differ by {dl}");
    assert_eq!(ours.lm_head_weight().dims(), head.dims());
    let same: Tensor = (ours.lm_head_weight() - head)
        .unwrap()
        .abs()
        .unwrap()
        .sum_all()
        .unwrap();
    assert_eq!(same.to_scalar::<f32>().unwrap(), 0.0);
}

#[test]
fn matches_stock_qwen2_tied_head() {
    parity(true);
}

#[test]
fn matches_stock_qwen2_untied_head() {
    parity(false);
}
