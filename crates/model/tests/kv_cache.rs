//! Incremental decoding equals the full forward at every step, and each row of a left-padded
//! batch equals that sequence alone (hidden states, logits, log-probs, decoding). f32; the
//! cached path uses candle's fused rms_norm / rope / softmax, so agreement is to rounding
//! (~1e-6); tolerance 1e-4.

mod common;

use candle_core::{DType, Device, IndexOp, Tensor};
use caugym_model::{
    AdapterMode, KvCache, LogprobOptions, LoraConfig, PadSide, TargetModules, sequence_logprobs,
};
use common::*;

const TOL: f64 = 1e-4;

#[test]
fn decoding_equals_full_forward_at_every_step() {
    let cfg = tiny_cfg(true);
    let mut m = model(&cfg, &random_weights(&cfg, 41), DType::F32);
    // With a non-trivial adapter active, to cover the LoRA branch on the cached path too.
    m.add_adapter("p", &LoraConfig::new(2, 4.0, TargetModules::AllLinear), 3)
        .unwrap();
    for (_, v) in m.adapter_vars("p").unwrap() {
        v.set(&uniform(v.dims(), 0.3, 9)).unwrap();
    }
    let mode = AdapterMode::Active("p");
    let seq = rows(&[12], cfg.vocab_size, 5).remove(0);
    let full = batch(std::slice::from_ref(&seq), PadSide::Left);
    let logits = m.forward_logits(&full, mode).unwrap().squeeze(0).unwrap();

    let mut cache = KvCache::new(&m, 1, 16).unwrap();
    let prompt = batch(&[seq[..4].to_vec()], PadSide::Left);
    let mut step = m.prefill(&prompt, &mut cache, mode).unwrap();
    for (t, &next) in seq.iter().enumerate().skip(4) {
        let d = max_diff(&step.squeeze(0).unwrap(), &logits.i(t - 1).unwrap());
        assert!(d < TOL, "step {t}: logits differ by {d}");
        let tok = Tensor::new(&[next], &Device::Cpu).unwrap();
        step = m.decode_step(&tok, &mut cache, mode).unwrap();
    }
    let d = max_diff(&step.squeeze(0).unwrap(), &logits.i(seq.len() - 1).unwrap());
    assert!(d < TOL, "last step: logits differ by {d}");
    assert_eq!(cache.lens(), [12]);
    assert_eq!(cache.used(), 12);
    // Capacity is enforced.
    let mut small = KvCache::new(&m, 1, 3).unwrap();
    assert!(m.prefill(&prompt, &mut small, mode).is_err());
}

#[test]
fn left_padded_batch_rows_equal_each_sequence_alone() {
    let cfg = tiny_cfg(false);
    let m = model(&cfg, &random_weights(&cfg, 42), DType::F32);
    let seqs = rows(&[7, 3, 5], cfg.vocab_size, 6);
    let b = batch(&seqs, PadSide::Left);
    let t = 7;
    let hidden = m.forward_hidden(&b, AdapterMode::Disabled).unwrap();
    let logits = m.logits(&hidden).unwrap();
    let opts = LogprobOptions::default();
    let lp = sequence_logprobs(&m, &b, AdapterMode::Disabled, &opts)
        .unwrap()
        .logprobs;
    for (r, s) in seqs.iter().enumerate() {
        let alone = batch(std::slice::from_ref(s), PadSide::Left);
        let h1 = m
            .forward_hidden(&alone, AdapterMode::Disabled)
            .unwrap()
            .squeeze(0)
            .unwrap();
        let pad = t - s.len();
        let hr = hidden.i(r).unwrap().narrow(0, pad, s.len()).unwrap();
        let d = max_diff(&hr, &h1);
        assert!(d < TOL, "row {r}: hidden differs by {d}");
        let lr = logits.i(r).unwrap().narrow(0, pad, s.len()).unwrap();
        let d = max_diff(&lr, &m.logits(&h1).unwrap());
        assert!(d < TOL, "row {r}: logits differ by {d}");
        let lp1 = sequence_logprobs(&m, &alone, AdapterMode::Disabled, &opts)
            .unwrap()
            .logprobs;
        let d = max_diff(
            &lp.i(r).unwrap().narrow(0, pad, s.len() - 1).unwrap(),
            &lp1.squeeze(0).unwrap(),
        );
        assert!(d < TOL, "row {r}: log-probs differ by {d}");
        assert!(
            hidden
                .i(r)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .all(|x| x.is_finite())
        );
    }
}

#[test]
fn batched_decoding_rows_equal_each_sequence_alone() {
    let cfg = tiny_cfg(true);
    let m = model(&cfg, &random_weights(&cfg, 43), DType::F32);
    let prompts = rows(&[5, 2, 4], cfg.vocab_size, 7);
    let conts = rows(&[4, 4, 4], cfg.vocab_size, 8);
    let mut cache = KvCache::new(&m, 3, 9).unwrap();
    let mut step = m
        .prefill(
            &batch(&prompts, PadSide::Left),
            &mut cache,
            AdapterMode::Disabled,
        )
        .unwrap();
    let mut batched = vec![step.clone()];
    for k in 0..4 {
        let toks: Vec<u32> = conts.iter().map(|c| c[k]).collect();
        step = m
            .decode_step(
                &Tensor::new(toks.as_slice(), &Device::Cpu).unwrap(),
                &mut cache,
                AdapterMode::Disabled,
            )
            .unwrap();
        batched.push(step.clone());
    }
    assert_eq!(cache.lens(), [9, 6, 8]);
    for (r, (p, c)) in prompts.iter().zip(&conts).enumerate() {
        let mut alone = KvCache::new(&m, 1, 9).unwrap();
        let mut s = m
            .prefill(
                &batch(std::slice::from_ref(p), PadSide::Left),
                &mut alone,
                AdapterMode::Disabled,
            )
            .unwrap();
        for (k, out) in batched.iter().enumerate() {
            let d = max_diff(&out.i(r).unwrap(), &s.squeeze(0).unwrap());
            assert!(d < TOL, "row {r} step {k}: logits differ by {d}");
            if k < 4 {
                s = m
                    .decode_step(
                        &Tensor::new(&[c[k]], &Device::Cpu).unwrap(),
                        &mut alone,
                        AdapterMode::Disabled,
                    )
                    .unwrap();
            }
        }
    }
    cache.reset();
    assert_eq!(cache.used(), 0);
}
