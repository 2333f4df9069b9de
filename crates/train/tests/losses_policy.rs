//! The clipped surrogate, the KL estimators and the clipped value loss against hand-computed
//! numbers (derived in comments), against a scalar-loop reference on seeded random inputs of
//! three sizes, and gradients against central finite differences.

mod common;

use candle_core::Tensor;
use caugym_train::losses::{
    ClipRange, KlEstimator, PolicyBatch, ValueBatch, explained_variance, kl, kl_loss, policy_clip,
    value_clip,
};
use caugym_train::metrics::*;
use caugym_train::{AggNorm, Error, LossAgg};
use common::*;

// ---------------------------------------------------------------- clipped surrogate

struct Tokens {
    lp: Vec<f64>,
    old: Vec<f64>,
    adv: Vec<f64>,
    m: Vec<f64>,
    b: usize,
    t: usize,
}

fn surrogate(
    x: &Tokens,
    lp: &Tensor,
    clip: &ClipRange,
    mode: LossAgg,
    n: &AggNorm,
) -> (Tensor, Metrics) {
    let (old, adv, m) = (
        t2(&x.old, x.b, x.t),
        t2(&x.adv, x.b, x.t),
        t2(&x.m, x.b, x.t),
    );
    let batch = PolicyBatch {
        logp: lp,
        old_logp: &old,
        advantages: &adv,
        mask: &m,
    };
    policy_clip(&batch, clip, mode, n).unwrap()
}

/// Per-token surrogate by its definition: (loss, clipped, low, high, dual).
fn surrogate_token(lp: f64, old: f64, a: f64, c: &ClipRange) -> (f64, bool, bool, bool, bool) {
    let rho = (lp - old).clamp(-20.0, 20.0).exp();
    let pg1 = -a * rho;
    let pg2 = -a * rho.clamp(1.0 - c.eps_low, 1.0 + c.eps_high);
    let mut l = pg1.max(pg2);
    let low = rho < 1.0 - c.eps_low && a < 0.0;
    let high = rho > 1.0 + c.eps_high && a > 0.0;
    let mut dual = false;
    if let Some(k) = c.dual_clip
        && a < 0.0
        && l > -a * k
    {
        l = -a * k;
        dual = true;
    }
    (l, pg2 > pg1, low, high, dual)
}

#[test]
fn policy_clip_hand_computed() {
    // eps 0.2, one row of 5 tokens, token-mean over 5:
    // 1: rho 1.5, A +1: max(-1.5, -1.2) = -1.2 (clipped high, no gradient)
    // 2: rho 0.5, A -1: max(0.5, 0.8) = 0.8 (clipped low); dual bound 3 not reached
    // 3: rho 1,   A +1: -1 (gradient -A rho / 5 = -0.2)
    // 4: rho 5,   A -1: max(5, 1.2) = 5; dual clip c = 3: min(5, 3) = 3 (no gradient)
    // 5: log-ratio 25 clamped to 20, A 0.5: max(-0.5 e^20, -0.6) = -0.6 (clipped high)
    // with dual: (-1.2 + 0.8 - 1 + 3 - 0.6) / 5 = 0.2; without: (... + 5 ...) / 5 = 0.6,
    // and token 4 then has gradient -A rho / 5 = 1.
    // clip_frac 3/5 (low 1/5, high 2/5), dual_clip_frac 1/5,
    // ppo_kl = -(ln 1.5 + ln 0.5 + 0 + ln 5 + 20) / 5 = -4.26435117.
    let x = Tokens {
        lp: vec![1.5f64.ln(), 0.5f64.ln(), 0.0, 5f64.ln(), 25.0],
        old: vec![0.0; 5],
        adv: vec![1.0, -1.0, 1.0, -1.0, 0.5],
        m: vec![1.0; 5],
        b: 1,
        t: 5,
    };
    let n = AggNorm::new(5, 1, 5);
    for (dual, want, grad4) in [(Some(3.0), 0.2, 0.0), (None, 0.6, 1.0)] {
        let clip = ClipRange {
            dual_clip: dual,
            ..ClipRange::symmetric(0.2)
        };
        let lp = var2(&x.lp, 1, 5);
        let (loss, m) = surrogate(&x, lp.as_tensor(), &clip, LossAgg::TokenMean, &n);
        assert_close1(scalar(&loss), want, 1e-12, "loss");
        let g = flat(loss.backward().unwrap().get(lp.as_tensor()).unwrap());
        assert_close(&g, &[0.0, 0.0, -0.2, grad4, 0.0], 1e-12, "grad");
        assert_close1(m.value(ACTOR_CLIP_FRAC).unwrap(), 0.6, 1e-12, "clip");
        assert_close1(m.value(ACTOR_CLIP_FRAC_LOW).unwrap(), 0.2, 1e-12, "low");
        assert_close1(m.value(ACTOR_CLIP_FRAC_HIGH).unwrap(), 0.4, 1e-12, "high");
        let dual_frac = if dual.is_some() { 0.2 } else { 0.0 };
        assert_close1(
            m.value(ACTOR_DUAL_CLIP_FRAC).unwrap(),
            dual_frac,
            1e-12,
            "dual",
        );
        assert_close1(
            m.value(ACTOR_PPO_KL).unwrap(),
            -4.264_351_167_996_464,
            1e-12,
            "ppo_kl",
        );
        assert_close1(m.value(LOSS_POLICY).unwrap(), want, 1e-12, "loss metric");
    }
}

fn random_tokens(r: &mut rand_chacha::ChaCha8Rng, b: usize, t: usize, per_seq_adv: bool) -> Tokens {
    let lp = uniform(r, b * t, -4.0, -0.05);
    let old = lp
        .iter()
        .zip(uniform(r, b * t, -0.5, 0.5))
        .map(|(l, d)| l + d)
        .collect();
    let adv = if per_seq_adv {
        let a = uniform(r, b, -2.0, 2.0);
        (0..b * t).map(|i| a[i / t]).collect()
    } else {
        uniform(r, b * t, -2.0, 2.0)
    };
    Tokens {
        lp,
        old,
        adv,
        m: random_mask(r, b, t, true),
        b,
        t,
    }
}

#[test]
fn policy_clip_matches_scalar_loop() {
    // Token advantages and per-sequence ones (passed as [B] and broadcast), every aggregation
    // mode, with and without dual clip, asymmetric eps (DAPO). Tolerance 1e-12.
    let mut r = rng(14);
    for (b, t) in SIZES {
        for per_seq in [false, true] {
            let x = random_tokens(&mut r, b, t, per_seq);
            let n = AggNorm::new(x.m.iter().sum::<f64>() as usize + 2, b + 1, t + 4);
            for dual in [None, Some(3.0)] {
                let clip = ClipRange {
                    eps_low: 0.2,
                    eps_high: 0.28,
                    dual_clip: dual,
                };
                let per_tok: Vec<_> = (0..b * t)
                    .map(|i| surrogate_token(x.lp[i], x.old[i], x.adv[i], &clip))
                    .collect();
                let losses: Vec<f64> = per_tok.iter().map(|p| p.0).collect();
                let frac = |k: fn(&(f64, bool, bool, bool, bool)) -> bool| {
                    let ind: Vec<f64> = per_tok.iter().map(|p| f64::from(k(p))).collect();
                    agg_ref(&ind, &x.m, b, t, LossAgg::TokenMean, &n)
                };
                for mode in MODES {
                    let lp = t2(&x.lp, b, t);
                    let (loss, m) = if per_seq {
                        let a: Vec<f64> = (0..b).map(|row| x.adv[row * t]).collect();
                        let (old, adv, mask) = (t2(&x.old, b, t), t1(&a), t2(&x.m, b, t));
                        let batch = PolicyBatch {
                            logp: &lp,
                            old_logp: &old,
                            advantages: &adv,
                            mask: &mask,
                        };
                        policy_clip(&batch, &clip, mode, &n).unwrap()
                    } else {
                        surrogate(&x, &lp, &clip, mode, &n)
                    };
                    let what = format!("{mode:?} {b}x{t} dual={dual:?} per_seq={per_seq}");
                    assert_close1(
                        scalar(&loss),
                        agg_ref(&losses, &x.m, b, t, mode, &n),
                        1e-12,
                        &what,
                    );
                    assert_close1(
                        m.value(ACTOR_CLIP_FRAC).unwrap(),
                        frac(|p| p.1),
                        1e-12,
                        "clip",
                    );
                    assert_close1(
                        m.value(ACTOR_CLIP_FRAC_LOW).unwrap(),
                        frac(|p| p.2),
                        1e-12,
                        "low",
                    );
                    assert_close1(
                        m.value(ACTOR_CLIP_FRAC_HIGH).unwrap(),
                        frac(|p| p.3),
                        1e-12,
                        "high",
                    );
                    assert_close1(
                        m.value(ACTOR_DUAL_CLIP_FRAC).unwrap(),
                        frac(|p| p.4),
                        1e-12,
                        "dual",
                    );
                }
            }
        }
    }
}

#[test]
fn policy_clip_gradient_matches_finite_differences() {
    let mut r = rng(15);
    let x = random_tokens(&mut r, 3, 5, false);
    let n = AggNorm::from_mask(&t2(&x.m, 3, 5)).unwrap();
    for mode in MODES {
        for dual in [None, Some(2.0)] {
            let clip = ClipRange {
                eps_low: 0.2,
                eps_high: 0.28,
                dual_clip: dual,
            };
            let f = |lp: &Tensor| surrogate(&x, lp, &clip, mode, &n).0;
            check_grad(
                &x.lp,
                &[3, 5],
                f,
                FD_H,
                FD_TOL,
                &format!("{mode:?} {dual:?}"),
            );
        }
    }
}

#[test]
fn policy_clip_rejects_bad_config_and_shapes() {
    let x = random_tokens(&mut rng(16), 2, 3, false);
    let n = AggNorm::new(6, 2, 3);
    let (lp, old, m) = (t2(&x.lp, 2, 3), t2(&x.old, 2, 3), t2(&x.m, 2, 3));
    let adv = t1(&[1.0, 2.0, 3.0]);
    let batch = PolicyBatch {
        logp: &lp,
        old_logp: &old,
        advantages: &adv,
        mask: &m,
    };
    let res = policy_clip(&batch, &ClipRange::default(), LossAgg::TokenMean, &n);
    assert!(matches!(
        res,
        Err(Error::Shape {
            what: "advantages",
            ..
        })
    ));
    let adv = t1(&[1.0, 2.0]);
    let batch = PolicyBatch {
        advantages: &adv,
        ..batch
    };
    let dual = ClipRange {
        dual_clip: Some(1.0),
        ..ClipRange::default()
    };
    assert!(matches!(
        policy_clip(&batch, &dual, LossAgg::TokenMean, &n),
        Err(Error::Config {
            key: "dual_clip",
            ..
        })
    ));
    let low = ClipRange {
        eps_low: 1.0,
        ..ClipRange::default()
    };
    assert!(policy_clip(&batch, &low, LossAgg::TokenMean, &n).is_err());
}

// ---------------------------------------------------------------- KL estimators

#[test]
fn kl_estimators_hand_computed() {
    // Token 1: logp -1, ref -1.5 (ref - logp = -0.5): k1 0.5, k2 0.125, k3 e^-0.5 + 0.5 - 1 = 0.10653066.
    // Token 2: logp -2, ref -1 (ref - logp = 1): k1 -1, k2 0.5, k3 e - 1 - 1 = 0.71828183.
    let lp = t2(&[-1.0, -2.0], 1, 2);
    let rf = t2(&[-1.5, -1.0], 1, 2);
    let want = [
        (KlEstimator::K1, [0.5, -1.0]),
        (KlEstimator::K2, [0.125, 0.5]),
        (
            KlEstimator::K3,
            [0.106_530_659_712_633_42, 0.718_281_828_459_045_1],
        ),
    ];
    for (est, w) in want {
        assert_close(
            &flat(&kl(&lp, &rf, est).unwrap()),
            &w,
            1e-12,
            &format!("{est:?}"),
        );
    }
    // kl_loss: token-mean of k3 over the 2 tokens = 0.41240624, logged as actor/kl.
    let m = t2(&[1.0, 1.0], 1, 2);
    let (loss, metrics) = kl_loss(
        &lp,
        &rf,
        &m,
        KlEstimator::K3,
        LossAgg::TokenMean,
        &AggNorm::new(2, 1, 2),
    )
    .unwrap();
    assert_close1(scalar(&loss), 0.412_406_244_085_839_3, 1e-12, "kl_loss");
    assert_close1(
        metrics.value(ACTOR_KL).unwrap(),
        0.412_406_244_085_839_3,
        1e-12,
        "actor/kl",
    );
}

#[test]
fn kl_estimators_match_scalar_loop_and_gradient() {
    let mut r = rng(17);
    for (b, t) in SIZES {
        let lp = uniform(&mut r, b * t, -6.0, 0.0);
        let rf = uniform(&mut r, b * t, -6.0, 0.0);
        for est in [KlEstimator::K1, KlEstimator::K2, KlEstimator::K3] {
            let want: Vec<f64> = lp
                .iter()
                .zip(&rf)
                .map(|(l, q)| match est {
                    KlEstimator::K1 => l - q,
                    KlEstimator::K2 => 0.5 * (l - q).powi(2),
                    KlEstimator::K3 => (q - l).exp() - (q - l) - 1.0,
                })
                .collect();
            let got = kl(&t2(&lp, b, t), &t2(&rf, b, t), est).unwrap();
            assert_close(&flat(&got), &want, 1e-12, &format!("{est:?}"));
        }
    }
    // d k3 / d logp = 1 - exp(ref - logp), checked by finite differences.
    let lp = uniform(&mut r, 6, -3.0, 0.0);
    let rf = t2(&uniform(&mut r, 6, -3.0, 0.0), 2, 3);
    let f = |x: &Tensor| kl(x, &rf, KlEstimator::K3).unwrap().sum_all().unwrap();
    check_grad(&lp, &[2, 3], f, FD_H, FD_TOL, "k3");
}

// ---------------------------------------------------------------- value loss

struct Values {
    v: Vec<f64>,
    old: Vec<f64>,
    ret: Vec<f64>,
    m: Vec<f64>,
    b: usize,
    t: usize,
}

fn value_t(x: &Values, v: &Tensor, clip: f64, mode: LossAgg, n: &AggNorm) -> (Tensor, Metrics) {
    let (old, ret, m) = (
        t2(&x.old, x.b, x.t),
        t2(&x.ret, x.b, x.t),
        t2(&x.m, x.b, x.t),
    );
    let batch = ValueBatch {
        values: v,
        old_values: &old,
        returns: &ret,
        mask: &m,
    };
    value_clip(&batch, clip, mode, n).unwrap()
}

#[test]
fn value_clip_hand_computed() {
    // c = 0.2, token-mean over 4 masked tokens; (V, V_old, R):
    // 1: (1.0, 0.5, 2.0): clip(V) = 0.7; (V-R)² = 1, (0.7-2)² = 1.69 -> 0.845, clipped (grad 0,
    //    V is outside the clip range)
    // 2: (0.6, 0.5, 0.0): clip(V) = V -> 0.5 * 0.36 = 0.18; grad (V - R) / 4 = 0.15
    // 3: (0.0, 0.5, 0.1): clip(V) = 0.3; 0.01 vs 0.04 -> 0.02, clipped (grad 0)
    // 4: (2.0, 0.0, 3.0): clip(V) = 0.2; 1 vs 7.84 -> 3.92, clipped (grad 0)
    // 5: masked out.
    // loss (0.845 + 0.18 + 0.02 + 3.92) / 4 = 1.24125; vf_clip_frac 3/4; vpred_mean 0.9;
    // explained variance: Var(R) = 1.626875, Var(R - V) = 0.451875 -> 1 - 0.27775644 = 0.72224357.
    let x = Values {
        v: vec![1.0, 0.6, 0.0, 2.0, 9.0],
        old: vec![0.5, 0.5, 0.5, 0.0, 0.0],
        ret: vec![2.0, 0.0, 0.1, 3.0, 0.0],
        m: vec![1.0, 1.0, 1.0, 1.0, 0.0],
        b: 1,
        t: 5,
    };
    let v = var2(&x.v, 1, 5);
    let (loss, m) = value_t(
        &x,
        v.as_tensor(),
        0.2,
        LossAgg::TokenMean,
        &AggNorm::new(4, 1, 5),
    );
    assert_close1(scalar(&loss), 1.24125, 1e-12, "loss");
    let g = flat(loss.backward().unwrap().get(v.as_tensor()).unwrap());
    assert_close(&g, &[0.0, 0.15, 0.0, 0.0, 0.0], 1e-12, "grad");
    assert_close1(
        m.value(CRITIC_VALUE_LOSS).unwrap(),
        1.24125,
        1e-12,
        "metric",
    );
    assert_close1(
        m.value(CRITIC_VF_CLIP_FRAC).unwrap(),
        0.75,
        1e-12,
        "clip frac",
    );
    assert_close1(m.value(CRITIC_VPRED_MEAN).unwrap(), 0.9, 1e-12, "vpred");
    assert_close1(
        m.value(CRITIC_EXPLAINED_VARIANCE).unwrap(),
        0.722_243_565_117_172_5,
        1e-12,
        "ev",
    );
}

#[test]
fn explained_variance_hand_computed() {
    // Masked tokens (V, R): (1, 2), (2, 2), (3, 1); the rest is masked out and must not count.
    // Var(R) of 2, 2, 1: mean 5/3, ((1/3)² + (1/3)² + (2/3)²) / 3 = 2/9.
    // R - V = 1, 0, -2: mean -1/3, ((4/3)² + (1/3)² + (5/3)²) / 3 = 14/9.
    // EV = 1 - (14/9) / (2/9) = -6 (worse than predicting the mean return).
    let m = t2(&[1.0, 1.0, 0.0, 1.0, 0.0, 0.0], 2, 3);
    let r = t2(&[2.0, 2.0, 0.0, 1.0, 5.0, 5.0], 2, 3);
    let v = t2(&[1.0, 2.0, 0.0, 3.0, 9.0, 9.0], 2, 3);
    let ev = explained_variance(&v, &r, &m).unwrap().unwrap();
    assert_close1(ev, -6.0, 1e-12, "hand example");
    // A perfect critic explains everything; predicting the mean return (5/3) explains nothing;
    // f32 values against f64 returns are compared in f64.
    assert_close1(
        explained_variance(&r, &r, &m).unwrap().unwrap(),
        1.0,
        1e-12,
        "perfect",
    );
    let mean = Tensor::full(5.0f32 / 3.0, (2, 3), &candle_core::Device::Cpu).unwrap();
    let ev = explained_variance(&mean, &r, &m).unwrap().unwrap();
    assert_close1(ev, 0.0, 1e-6, "mean predictor");
    // Constant returns: undefined.
    let flat_r = t2(&[1.0; 6], 2, 3);
    assert_eq!(explained_variance(&v, &flat_r, &m).unwrap(), None);
}

#[test]
fn value_clip_matches_scalar_loop_and_finite_differences() {
    let mut r = rng(18);
    for (b, t) in SIZES {
        let v = uniform(&mut r, b * t, -1.0, 1.0);
        let x = Values {
            old: v
                .iter()
                .zip(uniform(&mut r, b * t, -0.5, 0.5))
                .map(|(a, d)| a + d)
                .collect(),
            ret: uniform(&mut r, b * t, -1.0, 1.0),
            m: random_mask(&mut r, b, t, true),
            v,
            b,
            t,
        };
        let n = AggNorm::new(x.m.iter().sum::<f64>() as usize, b, t);
        let per_tok: Vec<f64> = (0..b * t)
            .map(|i| {
                let vc = x.v[i].clamp(x.old[i] - 0.2, x.old[i] + 0.2);
                0.5 * (x.v[i] - x.ret[i]).powi(2).max((vc - x.ret[i]).powi(2))
            })
            .collect();
        for mode in MODES {
            let (loss, _) = value_t(&x, &t2(&x.v, b, t), 0.2, mode, &n);
            assert_close1(
                scalar(&loss),
                agg_ref(&per_tok, &x.m, b, t, mode, &n),
                1e-12,
                &format!("{mode:?}"),
            );
        }
        if b == 3 {
            for mode in MODES {
                let f = |v: &Tensor| value_t(&x, v, 0.2, mode, &n).0;
                check_grad(&x.v, &[b, t], f, FD_H, FD_TOL, &format!("value {mode:?}"));
            }
        }
    }
}
