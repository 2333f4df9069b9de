//! masked::{sum, mean, var, whiten} and agg::aggregate against scalar loops, hand-computed
//! values, and the accumulation invariant (micro-batch 1 x 4 == 4 x 1).

mod common;

use candle_core::Tensor;
use caugym_train::accum::GradAccumulator;
use caugym_train::losses::{ClipRange, PolicyBatch, policy_clip};
use caugym_train::{AggNorm, Error, LossAgg, NamedVar, agg, masked};
use common::*;

fn masked_items(v: &[f64], m: &[f64]) -> Vec<f64> {
    v.iter()
        .zip(m)
        .filter(|(_, m)| **m != 0.0)
        .map(|(v, _)| *v)
        .collect()
}

#[test]
fn masked_reductions_match_scalar_loops() {
    // Reference: the plain formula over the list of masked elements. Tolerance 1e-12 (f64).
    let mut r = rng(1);
    for (b, t) in SIZES {
        let v = uniform(&mut r, b * t, -3.0, 3.0);
        let mut m = random_mask(&mut r, b, t, true);
        m[0] = 1.0; // at least... one element
        if b * t > 1 {
            m[1] = 1.0; // ...and two, for the unbiased variance
        }
        let items = masked_items(&v, &m);
        let n = items.len() as f64;
        let mean: f64 = items.iter().sum::<f64>() / n;
        let ss: f64 = items.iter().map(|x| (x - mean).powi(2)).sum();
        let (vt, mt) = (t2(&v, b, t), t2(&m, b, t));
        assert_close1(
            scalar(&masked::sum(&vt, &mt).unwrap()),
            mean * n,
            1e-12,
            "sum",
        );
        assert_close1(
            scalar(&masked::mean(&vt, &mt).unwrap()),
            mean,
            1e-12,
            "mean",
        );
        assert_close1(
            scalar(&masked::var(&vt, &mt, false).unwrap()),
            ss / n,
            1e-12,
            "var",
        );
        if items.len() < 2 {
            continue;
        }
        let var_u = ss / (n - 1.0);
        assert_close1(
            scalar(&masked::var(&vt, &mt, true).unwrap()),
            var_u,
            1e-12,
            "var_u",
        );
        let want: Vec<f64> = v
            .iter()
            .zip(&m)
            .map(|(x, k)| k * (x - mean) / (var_u + 1e-8).sqrt())
            .collect();
        assert_close(
            &flat(&masked::whiten(&vt, &mt, true).unwrap()),
            &want,
            1e-10,
            "whiten",
        );
        let want: Vec<f64> = want.iter().zip(&m).map(|(w, k)| w + k * mean).collect();
        assert_close(
            &flat(&masked::whiten(&vt, &mt, false).unwrap()),
            &want,
            1e-10,
            "whiten+mean",
        );
    }
}

#[test]
fn masked_hand_computed_and_errors() {
    // values [[1, 2, 3], [4, 5, 6]], mask [[1, 1, 0], [0, 1, 0]] -> items 1, 2, 5:
    // sum 8, mean 8/3, biased var ((5/3)² + (2/3)² + (7/3)²)/3 = (25 + 4 + 49)/27 = 78/27,
    // unbiased 78/18.
    let v = t2(&[1., 2., 3., 4., 5., 6.], 2, 3);
    let m = t2(&[1., 1., 0., 0., 1., 0.], 2, 3);
    assert_close1(scalar(&masked::sum(&v, &m).unwrap()), 8.0, 1e-15, "sum");
    assert_close1(
        scalar(&masked::mean(&v, &m).unwrap()),
        8.0 / 3.0,
        1e-15,
        "mean",
    );
    assert_close1(
        scalar(&masked::var(&v, &m, false).unwrap()),
        78.0 / 27.0,
        1e-14,
        "var",
    );
    assert_close1(
        scalar(&masked::var(&v, &m, true).unwrap()),
        78.0 / 18.0,
        1e-14,
        "var_u",
    );
    // An all-zero mask: mean 0, variance refused; one element: unbiased variance refused.
    let zero = t2(&[0.; 6], 2, 3);
    assert_eq!(scalar(&masked::mean(&v, &zero).unwrap()), 0.0);
    assert!(matches!(
        masked::var(&v, &zero, false),
        Err(Error::Input { .. })
    ));
    let one = t2(&[0., 0., 1., 0., 0., 0.], 2, 3);
    assert!(matches!(
        masked::var(&v, &one, true),
        Err(Error::Input { .. })
    ));
    // Shape mismatch names the mask.
    let bad = t2(&[1.; 4], 2, 2);
    assert!(matches!(
        masked::sum(&v, &bad),
        Err(Error::Shape { what: "mask", .. })
    ));
}

#[test]
fn aggregate_matches_scalar_loops() {
    // Tolerance 1e-12 (f64). The normaliser is deliberately larger than the batch (a global
    // batch of which this is one micro-batch).
    let mut r = rng(2);
    for (b, t) in SIZES {
        let l = uniform(&mut r, b * t, -2.0, 2.0);
        let m = random_mask(&mut r, b, t, true);
        let local = AggNorm::from_mask(&t2(&m, b, t)).unwrap();
        assert_eq!(local.total_tokens as f64, m.iter().sum::<f64>());
        let norm = AggNorm::new(local.total_tokens + 5, b + 2, t + 3);
        for mode in MODES {
            let got = agg::aggregate(&t2(&l, b, t), &t2(&m, b, t), mode, &norm).unwrap();
            let want = agg_ref(&l, &m, b, t, mode, &norm);
            assert_close1(scalar(&got), want, 1e-12, &format!("{mode:?} {b}x{t}"));
        }
    }
}

#[test]
fn aggregate_hand_computed() {
    // loss [[1, 2, 3], [4, 5, 6]], mask [[1, 1, 1], [1, 0, 0]]; global batch = this batch.
    // token-mean: (1 + 2 + 3 + 4) / 4 = 2.5
    // seq-mean-token-mean: ((1 + 2 + 3) / 3 + 4 / 1) / 2 = (2 + 4) / 2 = 3
    // seq-mean-token-sum-norm with max_len 5: 10 / (2 * 5) = 1
    let l = t2(&[1., 2., 3., 4., 5., 6.], 2, 3);
    let m = t2(&[1., 1., 1., 1., 0., 0.], 2, 3);
    let n = AggNorm::from_mask(&m).unwrap();
    assert_eq!(n, AggNorm::new(4, 2, 3));
    let n = n.with_max_len(5);
    let got: Vec<f64> = MODES
        .iter()
        .map(|mode| scalar(&agg::aggregate(&l, &m, *mode, &n).unwrap()))
        .collect();
    assert_close(&got, &[2.5, 3.0, 1.0], 1e-15, "modes");
    // A zero normaliser is an error, not a NaN.
    let empty = AggNorm::new(0, 2, 3);
    assert!(agg::aggregate(&l, &m, LossAgg::TokenMean, &empty).is_err());
    assert_eq!(
        serde_json::to_string(&LossAgg::SeqMeanTokenSumNorm).unwrap(),
        "\"seq-mean-token-sum-norm\""
    );
}

/// The clipped surrogate over `logp = var`, with fixed old log-probs and advantages.
fn surrogate(
    logp: &Tensor,
    old: &Tensor,
    adv: &Tensor,
    mask: &Tensor,
    mode: LossAgg,
    norm: &AggNorm,
) -> Tensor {
    let batch = PolicyBatch {
        logp,
        old_logp: old,
        advantages: adv,
        mask,
    };
    policy_clip(&batch, &ClipRange::symmetric(0.2), mode, norm)
        .unwrap()
        .0
}

#[test]
fn accumulation_1x4_equals_4x1_in_loss_and_gradient() {
    // Four rows of different lengths. The 4 x 1 run gives each micro-batch only its own row,
    // trimmed to its own length (its own padded width), and the global AggNorm; summing the
    // micro-batch losses and accumulating gradients must reproduce the 1 x 4 loss and gradient.
    // Tolerance 1e-12 (f64).
    let (b, t) = (4, 6);
    let lens = [6, 2, 4, 1];
    let mut r = rng(3);
    let logp0 = uniform(&mut r, b * t, -3.0, -0.1);
    let old: Vec<f64> = logp0.iter().map(|x| x + r_offset(&mut r)).collect();
    let adv = uniform(&mut r, b, -1.0, 1.0);
    let mut m = vec![0.0; b * t];
    for (row, len) in lens.iter().enumerate() {
        m[row * t..row * t + len].fill(1.0);
    }
    let (old_t, adv_t, m_t) = (t2(&old, b, t), t1(&adv), t2(&m, b, t));
    let micro_masks: Vec<Tensor> = (0..b)
        .map(|row| {
            m_t.narrow(0, row, 1)
                .unwrap()
                .narrow(1, 0, lens[row])
                .unwrap()
        })
        .collect();
    let norm = AggNorm::from_masks(&micro_masks).unwrap();
    assert_eq!(norm, AggNorm::new(13, 4, 6));
    for mode in MODES {
        let var = var2(&logp0, b, t);
        let params = [NamedVar::new("logp", var.clone())];
        let full = surrogate(var.as_tensor(), &old_t, &adv_t, &m_t, mode, &norm);
        let full_grad = flat(full.backward().unwrap().get(var.as_tensor()).unwrap());

        let mut acc = GradAccumulator::new();
        let mut total = 0.0;
        for (row, mask) in micro_masks.iter().enumerate() {
            let len = lens[row];
            let slice = |x: &Tensor| x.narrow(0, row, 1).unwrap().narrow(1, 0, len).unwrap();
            let lp = slice(var.as_tensor());
            let adv_row = adv_t.narrow(0, row, 1).unwrap();
            let loss = surrogate(&lp, &slice(&old_t), &adv_row, mask, mode, &norm);
            total += scalar(&loss);
            acc.add(&params, &loss.backward().unwrap()).unwrap();
        }
        assert_eq!(acc.micro_batches(), 4);
        assert_close1(total, scalar(&full), 1e-12, &format!("{mode:?} loss"));
        let acc_grad = flat(acc.grads().get(var.as_tensor()).unwrap());
        assert_close(&acc_grad, &full_grad, 1e-12, &format!("{mode:?} grad"));
        assert!(
            full_grad.iter().any(|g| g.abs() > 1e-3),
            "gradient must not vanish"
        );
    }
}

fn r_offset(r: &mut rand_chacha::ChaCha8Rng) -> f64 {
    // old - logp in (-0.4, 0.4): some ratios fall outside [0.8, 1.2] and get clipped.
    uniform(r, 1, -0.4, 0.4)[0]
}
