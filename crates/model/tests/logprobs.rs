//! `token_logprobs` (chunked custom op) against the composed reference `log_softmax` + gather:
//! forward values and gradients w.r.t. hidden and head, for chunk sizes that do and do not
//! divide N, with and without entropy and temperature. f32 throughout; the two paths sum in a
//! different order, so they agree to ~1e-6 (tolerance 2e-5 on values of magnitude ~5).

mod common;

use candle_core::{DType, Device, Tensor, Var};
use caugym_model::logprobs::{
    masked_mean, masked_row_sum, masked_sum, reference_token_logprobs, target_mask,
};
use caugym_model::{AdapterMode, LogprobOptions, PadSide, sequence_logprobs, token_logprobs};
use common::*;

const N: usize = 23;
const H: usize = 16;
const V: usize = 301;

fn inputs(seed: u64) -> (Var, Var, Tensor, Tensor) {
    let hidden = Var::from_tensor(&uniform(&[N, H], 1.0, seed)).unwrap();
    let head = Var::from_tensor(&uniform(&[V, H], 1.0, seed + 1)).unwrap();
    let targets: Vec<u32> = rows(&[N], V, seed + 2).remove(0);
    let targets = Tensor::from_vec(targets, N, &Device::Cpu).unwrap();
    // Random upstream weights so each row's gradient is scaled differently.
    let g = uniform(&[N], 1.0, seed + 3);
    (hidden, head, targets, g)
}

fn check(opts: &LogprobOptions) {
    let (hidden, head, targets, g) = inputs(opts.chunk_size as u64);
    let got = token_logprobs(&hidden, &head, &targets, opts).unwrap();
    let want = reference_token_logprobs(&hidden, &head, &targets, opts).unwrap();
    let d = max_diff(&got.logprobs, &want.logprobs);
    assert!(d < 2e-5, "logprobs differ by {d} ({opts:?})");
    let loss = |t: &caugym_model::TokenLogprobs| {
        let mut l = (&t.logprobs * &g).unwrap().sum_all().unwrap();
        if let (Some(h), true) = (&t.entropy, opts.with_entropy) {
            l = (l + (h * 0.7).unwrap().sum_all().unwrap()).unwrap();
        }
        l
    };
    if opts.with_entropy {
        let d = max_diff(
            got.entropy.as_ref().unwrap(),
            want.entropy.as_ref().unwrap(),
        );
        assert!(d < 2e-5, "entropy differs by {d}");
    } else {
        assert!(got.entropy.is_none());
    }
    let gg = loss(&got).backward().unwrap();
    let gw = loss(&want).backward().unwrap();
    for (name, var) in [("hidden", &hidden), ("head", &head)] {
        let a = gg
            .get(var)
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        let b = gw.get(var).unwrap();
        let d = max_diff(a, b);
        assert!(d < 2e-5, "d {name} differs by {d} ({opts:?})");
        assert!(
            b.abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                > 1e-2
        );
    }
}

#[test]
fn matches_reference_over_chunk_sizes() {
    // 23 rows: chunks of 23 and 64 are single-chunk, where the forward's logits are kept.
    for chunk_size in [1, 5, 7, 23, 64] {
        for keep_logits in [false, true] {
            check(&LogprobOptions {
                temperature: 1.0,
                chunk_size,
                with_entropy: false,
                keep_logits,
            });
        }
    }
}

#[test]
fn matches_reference_with_entropy_and_temperature() {
    for (chunk_size, temperature) in [(4, 0.7), (23, 1.0), (10, 1.3), (64, 0.8)] {
        for keep_logits in [false, true] {
            check(&LogprobOptions {
                temperature,
                chunk_size,
                with_entropy: true,
                keep_logits,
            });
        }
    }
}

#[test]
fn frozen_head_gets_no_gradient_but_hidden_does() {
    let (hidden, head, targets, _) = inputs(9);
    let frozen = head.as_tensor().detach();
    let out = token_logprobs(&hidden, &frozen, &targets, &LogprobOptions::default()).unwrap();
    let grads = out.logprobs.sum_all().unwrap().backward().unwrap();
    assert!(grads.get(&frozen).is_none());
    assert!(grads.get(&hidden).is_some());
}

#[test]
fn rejects_bad_options() {
    let (hidden, head, targets, _) = inputs(1);
    let bad = LogprobOptions {
        temperature: 0.0,
        ..Default::default()
    };
    let err = token_logprobs(&hidden, &head, &targets, &bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("temperature"), "{err}");
    let short = targets.narrow(0, 0, 3).unwrap();
    assert!(token_logprobs(&hidden, &head, &short, &LogprobOptions::default()).is_err());
}

#[test]
fn sequence_logprobs_are_shifted_next_token_logprobs() {
    let cfg = tiny_cfg(false);
    let m = model(&cfg, &random_weights(&cfg, 4), DType::F32);
    let toks = rows(&[7, 4], cfg.vocab_size, 8);
    let b = batch(&toks, PadSide::Right);
    let opts = LogprobOptions {
        chunk_size: 3,
        ..Default::default()
    };
    let lp = sequence_logprobs(&m, &b, AdapterMode::Disabled, &opts).unwrap();
    assert_eq!(lp.logprobs.dims(), [2, 6]);
    // Entry [b, t] is log_softmax(logits[b, t])[ids[b, t + 1]], computed here by hand.
    let logits = m.forward_logits(&b, AdapterMode::Disabled).unwrap();
    let logp = candle_nn::ops::log_softmax(&logits, 2).unwrap();
    let lv = logp.to_vec3::<f32>().unwrap();
    let got = lp.logprobs.to_vec2::<f32>().unwrap();
    for (r, row) in toks.iter().enumerate() {
        for t in 0..row.len() - 1 {
            let want = lv[r][t][row[t + 1] as usize];
            assert!(
                (got[r][t] - want).abs() < 1e-5,
                "row {r} pos {t}: {} vs {want}",
                got[r][t]
            );
        }
    }
    // Masked helpers over the real targets: row 1 has 3 real targets.
    let mask = target_mask(&b).unwrap();
    assert_eq!(mask.to_vec2::<f32>().unwrap()[1], [1., 1., 1., 0., 0., 0.]);
    let sums = masked_row_sum(&lp.logprobs, &mask)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let want0: f32 = got[0].iter().sum();
    let want1: f32 = got[1][..3].iter().sum();
    assert!((sums[0] - want0).abs() < 1e-4 && (sums[1] - want1).abs() < 1e-4);
    let total = masked_sum(&lp.logprobs, &mask)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let mean = masked_mean(&lp.logprobs, &mask)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!((total - want0 - want1).abs() < 1e-4);
    assert!((mean - (want0 + want1) / 9.0).abs() < 1e-5);
    assert!(masked_mean(&lp.logprobs, &mask.zeros_like().unwrap()).is_err());
}
