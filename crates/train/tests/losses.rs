//! Every loss and KL estimator against hand-computed numbers (derived in comments), against a
//! scalar-loop reference on seeded random inputs of three sizes, and (for the surrogate, DPO,
//! KTO and value losses) gradients against central finite differences.

mod common;

use candle_core::Tensor;
use caugym_train::losses::{
    ClipRange, DpoBatch, DpoLoss, KlEstimator, KtoBatch, KtoParams, PolicyBatch, ValueBatch, dpo,
    kl, kl_loss, kto, policy_clip, sft_nll, value_clip,
};
use caugym_train::metrics::*;
use caugym_train::{AggNorm, Error, LossAgg};
use common::*;

const MODES: [LossAgg; 3] = [
    LossAgg::TokenMean,
    LossAgg::SeqMeanTokenMean,
    LossAgg::SeqMeanTokenSumNorm,
];
/// Finite-difference step and tolerance (f64 central differences: error ~ h² f''' + eps/h).
const FD_H: f64 = 1e-5;
const FD_TOL: f64 = 1e-7;

fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Scalar aggregation of per-token values (the formulas of agg.rs, as loops).
fn agg_ref(l: &[f64], m: &[f64], b: usize, t: usize, mode: LossAgg, n: &AggNorm) -> f64 {
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

// ---------------------------------------------------------------- SFT

#[test]
fn sft_hand_computed_and_gradient() {
    // logp [[-1, -2, -3], [-0.5, -4, 0]], mask [[0, 1, 1], [1, 1, 0]] (prompt token and padding
    // masked): NLL sum 2 + 3 + 0.5 + 4 = 9.5. Over this batch's 4 tokens: 2.375; as one
    // micro-batch of a 10-token accumulated batch: 0.95. d loss / d logp = -m / 10.
    let lp = var2(&[-1., -2., -3., -0.5, -4., 0.], 2, 3);
    let m = t2(&[0., 1., 1., 1., 1., 0.], 2, 3);
    let (loss, metrics) = sft_nll(lp.as_tensor(), &m, &AggNorm::new(4, 2, 3)).unwrap();
    assert_close1(scalar(&loss), 2.375, 1e-15, "local");
    assert_close1(metrics.value(LOSS_SFT).unwrap(), 2.375, 1e-15, "metric");
    let (loss, _) = sft_nll(lp.as_tensor(), &m, &AggNorm::new(10, 4, 3)).unwrap();
    assert_close1(scalar(&loss), 0.95, 1e-15, "global");
    let g = flat(loss.backward().unwrap().get(lp.as_tensor()).unwrap());
    assert_close(&g, &[0., -0.1, -0.1, -0.1, -0.1, 0.], 1e-15, "grad");
}

#[test]
fn sft_matches_scalar_loop() {
    let mut r = rng(10);
    for (b, t) in SIZES {
        let lp = uniform(&mut r, b * t, -5.0, 0.0);
        let m = random_mask(&mut r, b, t, true);
        let n = AggNorm::new(m.iter().sum::<f64>() as usize + 3, b, t);
        let neg: Vec<f64> = lp.iter().map(|x| -x).collect();
        let want = agg_ref(&neg, &m, b, t, LossAgg::TokenMean, &n);
        let (got, _) = sft_nll(&t2(&lp, b, t), &t2(&m, b, t), &n).unwrap();
        assert_close1(scalar(&got), want, 1e-12, "sft");
    }
}

// ---------------------------------------------------------------- DPO

struct Pairs {
    pw: Vec<f64>,
    pl: Vec<f64>,
    rw: Vec<f64>,
    rl: Vec<f64>,
    lw: Vec<f64>,
    ll: Vec<f64>,
}

fn dpo_t(
    p: &Pairs,
    pw: &Tensor,
    pl: &Tensor,
    kind: DpoLoss,
    beta: f64,
    total: usize,
) -> (Tensor, Metrics) {
    let (rw, rl, lw, ll) = (t1(&p.rw), t1(&p.rl), t1(&p.lw), t1(&p.ll));
    let batch = DpoBatch {
        policy_chosen: pw,
        policy_rejected: pl,
        ref_chosen: &rw,
        ref_rejected: &rl,
        lengths: Some((&lw, &ll)),
    };
    dpo(&batch, kind, beta, total).unwrap()
}

fn dpo_ref(p: &Pairs, kind: DpoLoss, beta: f64, total: usize) -> f64 {
    let mut s = 0.0;
    for i in 0..p.pw.len() {
        let (cw, cl) = (p.pw[i] - p.rw[i], p.pl[i] - p.rl[i]);
        s += match kind {
            DpoLoss::Sigmoid { label_smoothing: e } => {
                let z = beta * (cw - cl);
                (1.0 - e) * softplus(-z) + e * softplus(z)
            }
            DpoLoss::Ipo => (cw / p.lw[i] - cl / p.ll[i] - 1.0 / (2.0 * beta)).powi(2),
            DpoLoss::Hinge => (1.0 - beta * (cw - cl)).max(0.0),
        };
    }
    s / total as f64
}

const DPO_KINDS: [DpoLoss; 4] = [
    DpoLoss::Sigmoid {
        label_smoothing: 0.0,
    },
    DpoLoss::Sigmoid {
        label_smoothing: 0.1,
    },
    DpoLoss::Ipo,
    DpoLoss::Hinge,
];

#[test]
fn dpo_hand_computed() {
    // beta 0.1. Pair 1: logp (w, l) = (-10, -12), ref (-11, -11) -> h = 1 - (-1) = 2, beta h = 0.2.
    // Pair 2: logp (-5, -4), ref (-5, -5) -> h = 0 - 1 = -1, beta h = -0.1.
    // sigmoid: -ln s(0.2) = ln(1 + e^-0.2) = 0.59813887, -ln s(-0.1) = ln(1 + e^0.1) = 0.74439666;
    //   mean 0.67126776. Label smoothing 0.1: l = softplus(-z) + 0.1 z (since softplus(z) -
    //   softplus(-z) = z): (0.59813887 + 0.02 + 0.74439666 - 0.01) / 2 = 0.67626776.
    // IPO, lengths (w, l) = (2, 4) and (1, 2), 1/(2 beta) = 5: h1 = 1/2 + 1/4 = 0.75 ->
    //   (0.75 - 5)² = 18.0625; h2 = 0 - 1/2 -> (-5.5)² = 30.25; mean 24.15625.
    // hinge: relu(1 - 0.2) = 0.8, relu(1 + 0.1) = 1.1; mean 0.95.
    let p = Pairs {
        pw: vec![-10.0, -5.0],
        pl: vec![-12.0, -4.0],
        rw: vec![-11.0, -5.0],
        rl: vec![-11.0, -5.0],
        lw: vec![2.0, 1.0],
        ll: vec![4.0, 2.0],
    };
    let want = [
        0.671_267_764_727_581_3,
        0.676_267_764_727_581_3,
        24.15625,
        0.95,
    ];
    for (kind, w) in DPO_KINDS.iter().zip(want) {
        let (loss, m) = dpo_t(&p, &t1(&p.pw), &t1(&p.pl), *kind, 0.1, 2);
        assert_close1(scalar(&loss), w, 1e-12, &format!("{kind:?}"));
        // rewards: chosen 0.1 * mean(1, 0) = 0.05, rejected 0.1 * mean(-1, 1) = 0,
        // margins mean(0.2, -0.1) = 0.05, accuracy 1/2; logps mean(-10, -5), mean(-12, -4).
        assert_close1(m.value(REWARDS_CHOSEN).unwrap(), 0.05, 1e-12, "chosen");
        assert_close1(m.value(REWARDS_REJECTED).unwrap(), 0.0, 1e-12, "rejected");
        assert_close1(m.value(REWARDS_MARGINS).unwrap(), 0.05, 1e-12, "margins");
        assert_close1(m.value(REWARDS_ACCURACIES).unwrap(), 0.5, 1e-12, "acc");
        assert_close1(m.value(LOGPS_CHOSEN).unwrap(), -7.5, 1e-12, "logps/chosen");
        assert_close1(
            m.value(LOGPS_REJECTED).unwrap(),
            -8.0,
            1e-12,
            "logps/rejected",
        );
        assert_close1(m.value(LOSS_DPO).unwrap(), w, 1e-12, "loss metric");
    }
}

fn random_pairs(r: &mut rand_chacha::ChaCha8Rng, b: usize, equal: bool) -> Pairs {
    let pw = uniform(r, b, -20.0, -1.0);
    let pl = uniform(r, b, -20.0, -1.0);
    let (rw, rl) = if equal {
        (pw.clone(), pl.clone())
    } else {
        (uniform(r, b, -20.0, -1.0), uniform(r, b, -20.0, -1.0))
    };
    Pairs {
        pw,
        pl,
        rw,
        rl,
        lw: uniform(r, b, 1.0, 30.0).iter().map(|x| x.round()).collect(),
        ll: uniform(r, b, 1.0, 30.0).iter().map(|x| x.round()).collect(),
    }
}

#[test]
fn dpo_matches_scalar_loop() {
    let mut r = rng(11);
    for b in [1, 3, 16] {
        let p = random_pairs(&mut r, b, false);
        for kind in DPO_KINDS {
            let (got, _) = dpo_t(&p, &t1(&p.pw), &t1(&p.pl), kind, 0.2, b + 1);
            assert_close1(
                scalar(&got),
                dpo_ref(&p, kind, 0.2, b + 1),
                1e-12,
                &format!("{kind:?} b={b}"),
            );
        }
    }
}

#[test]
fn dpo_gradient_matches_finite_differences() {
    // x = [policy_chosen; policy_rejected] as [2, B]; at random points, and at policy = ref
    // (h = 0, where training starts and where a one-sided derivative would be wrong).
    let mut r = rng(12);
    for equal in [false, true] {
        let p = random_pairs(&mut r, 3, equal);
        let x0: Vec<f64> = p.pw.iter().chain(&p.pl).copied().collect();
        for kind in DPO_KINDS {
            let f = |x: &Tensor| {
                let pw = x.narrow(0, 0, 1).unwrap().squeeze(0).unwrap();
                let pl = x.narrow(0, 1, 1).unwrap().squeeze(0).unwrap();
                dpo_t(&p, &pw, &pl, kind, 0.5, 3).0
            };
            check_grad(
                &x0,
                &[2, 3],
                f,
                FD_H,
                FD_TOL,
                &format!("{kind:?} equal={equal}"),
            );
        }
    }
}

#[test]
fn dpo_rejects_bad_inputs() {
    let x = t1(&[-1.0, -2.0]);
    let no_len = DpoBatch {
        policy_chosen: &x,
        policy_rejected: &x,
        ref_chosen: &x,
        ref_rejected: &x,
        lengths: None,
    };
    assert!(matches!(
        dpo(&no_len, DpoLoss::Ipo, 0.1, 2),
        Err(Error::Input {
            what: "lengths",
            ..
        })
    ));
    assert!(matches!(
        dpo(&no_len, DpoLoss::Hinge, 0.1, 1),
        Err(Error::Input { .. })
    ));
    let smooth = DpoLoss::Sigmoid {
        label_smoothing: 0.5,
    };
    assert!(matches!(
        dpo(&no_len, smooth, 0.1, 2),
        Err(Error::Config {
            key: "label_smoothing",
            ..
        })
    ));
    assert!(matches!(
        dpo(&no_len, DpoLoss::Hinge, 0.0, 2),
        Err(Error::Config { key: "beta", .. })
    ));
    let short = t1(&[-1.0]);
    let bad = DpoBatch {
        ref_rejected: &short,
        ..no_len
    };
    assert!(matches!(
        dpo(&bad, DpoLoss::Hinge, 0.1, 2),
        Err(Error::Shape {
            what: "ref_rejected",
            ..
        })
    ));
}

// ---------------------------------------------------------------- KTO

struct Kto {
    p: Vec<f64>,
    r: Vec<f64>,
    pm: Vec<f64>,
    rm: Vec<f64>,
    d: Vec<f64>,
}

fn kto_t(
    k: &Kto,
    p: &Tensor,
    params: &KtoParams,
    total: usize,
) -> caugym_train::Result<(Tensor, Metrics)> {
    let (r, pm, rm, d) = (t1(&k.r), t1(&k.pm), t1(&k.rm), t1(&k.d));
    let batch = KtoBatch {
        policy: p,
        reference: &r,
        policy_mismatched: &pm,
        ref_mismatched: &rm,
        desirable: &d,
    };
    kto(&batch, params, total)
}

fn kto_ref(k: &Kto, params: &KtoParams, total: usize) -> f64 {
    let n = k.p.len() as f64;
    let z0 = (k.pm.iter().zip(&k.rm).map(|(a, b)| a - b).sum::<f64>() / n).max(0.0);
    let mut s = 0.0;
    for i in 0..k.p.len() {
        let r = k.p[i] - k.r[i];
        s += if k.d[i] != 0.0 {
            params.lambda_d * (1.0 - sigmoid(params.beta * (r - z0)))
        } else {
            params.lambda_u * (1.0 - sigmoid(params.beta * (z0 - r)))
        };
    }
    s / total as f64
}

#[test]
fn kto_hand_computed() {
    // beta 1, lambda_D 1, lambda_U 2. r = logp - ref = [-3+4, -5+5, -2+1] = [1, 0, -1];
    // mismatched logp - ref = [-6+7, -7+7.5, -3+3.3] = [1, 0.5, 0.3] -> z0 = max(0, 0.6) = 0.6.
    // desirable 1: 1 - s(1 - 0.6) = s(-0.4) = 0.40131234; desirable 2: 1 - s(-0.6) = 0.64565631;
    // undesirable 3: 1 - s(0.6 + 1) = s(-1.6) = 0.16798161, weighted x2.
    // loss = (0.40131234 + 0.64565631 + 0.33596323) / 3 = 0.46097729.
    // rewards/desirable = mean(1, 0) = 0.5; rewards/undesirable = -1; kto/kl = 0.6.
    let k = Kto {
        p: vec![-3.0, -5.0, -2.0],
        r: vec![-4.0, -5.0, -1.0],
        pm: vec![-6.0, -7.0, -3.0],
        rm: vec![-7.0, -7.5, -3.3],
        d: vec![1.0, 1.0, 0.0],
    };
    let params = KtoParams {
        beta: 1.0,
        lambda_d: 1.0,
        lambda_u: 2.0,
    };
    let (loss, m) = kto_t(&k, &t1(&k.p), &params, 3).unwrap();
    assert_close1(scalar(&loss), 0.460_977_291_948_498_2, 1e-12, "loss");
    assert_close1(m.value(KTO_KL).unwrap(), 0.6, 1e-12, "z0");
    assert_close1(m.value(REWARDS_DESIRABLE).unwrap(), 0.5, 1e-12, "desirable");
    assert_close1(
        m.value(REWARDS_UNDESIRABLE).unwrap(),
        -1.0,
        1e-12,
        "undesirable",
    );
    // A negative mismatched KL estimate is clamped: z0 = max(0, -0.5) = 0.
    let neg = Kto {
        rm: vec![-5.5, -6.5, -2.5],
        ..k
    };
    let (_, m) = kto_t(&neg, &t1(&neg.p), &params, 3).unwrap();
    assert_eq!(m.value(KTO_KL), Some(0.0));
}

fn random_kto(r: &mut rand_chacha::ChaCha8Rng, b: usize) -> Kto {
    Kto {
        p: uniform(r, b, -20.0, -1.0),
        r: uniform(r, b, -20.0, -1.0),
        pm: uniform(r, b, -20.0, -1.0),
        rm: uniform(r, b, -20.0, -1.0),
        d: uniform(r, b, 0.0, 1.0)
            .iter()
            .map(|x| f64::from(*x > 0.5))
            .collect(),
    }
}

#[test]
fn kto_matches_scalar_loop_and_finite_differences() {
    let mut r = rng(13);
    let params = KtoParams {
        beta: 0.3,
        lambda_d: 1.0,
        lambda_u: 1.5,
    };
    for b in [2, 3, 16] {
        let k = random_kto(&mut r, b);
        let (got, _) = kto_t(&k, &t1(&k.p), &params, b + 2).unwrap();
        assert_close1(
            scalar(&got),
            kto_ref(&k, &params, b + 2),
            1e-12,
            &format!("b={b}"),
        );
    }
    // The reference point is detached: the gradient flows through r only.
    let k = random_kto(&mut r, 4);
    let f = |x: &Tensor| kto_t(&k, x, &params, 4).unwrap().0;
    check_grad(&k.p, &[4], f, FD_H, FD_TOL, "kto");
}

#[test]
fn kto_batch_of_one_is_an_error() {
    let k = Kto {
        p: vec![-1.0],
        r: vec![-1.0],
        pm: vec![-1.0],
        rm: vec![-1.0],
        d: vec![1.0],
    };
    let res = kto_t(&k, &t1(&k.p), &KtoParams::default(), 1);
    assert!(matches!(res, Err(Error::Input { what: "policy", .. })));
}

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
