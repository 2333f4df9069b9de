//! SFT, DPO and KTO losses against hand-computed numbers (derived in comments), against a
//! scalar-loop reference on seeded random inputs of three sizes, and (DPO, KTO) gradients
//! against central finite differences.

mod common;

use candle_core::Tensor;
use caugym_train::losses::{DpoBatch, DpoLoss, KtoBatch, KtoParams, dpo, kto, sft_nll};
use caugym_train::metrics::*;
use caugym_train::{AggNorm, Error, LossAgg};
use common::*;

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
