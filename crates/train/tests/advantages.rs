//! GRPO group advantages, GAE, whitening, PPO's KL-penalised rewards and the adaptive KL
//! coefficient: hand-computed values and scalar-loop references.

mod common;

use caugym_train::Error;
use caugym_train::advantages::{self, AdvScale};
use caugym_train::metrics::{
    ROLLOUT_KL, ROLLOUT_REWARD_MEAN, ROLLOUT_REWARD_STD, ROLLOUT_ZERO_STD_FRAC,
};
use caugym_train::ppo::{AdaptiveKl, KlCoef, kl_penalised_rewards};
use common::*;
use rand::Rng;

#[test]
fn grpo_hand_computed() {
    // Groups: {1, 0, 0, 1}, {0.5, 0.5}, {2}.
    // Group 0: mean 0.5, unbiased std sqrt((4 * 0.25) / 3) = 0.57735027;
    //   A = +-0.5 / (0.57735027 + 1e-6) = +-0.86602390.
    // Group 1: equal rewards -> A = 0. Group 2: one member -> A = 0.
    // Batch: mean 5/7 = 0.71428571, unbiased std 0.69863813; zero-std groups 2 of 3.
    let r = t1(&[1.0, 0.0, 0.0, 1.0, 0.5, 0.5, 2.0]);
    let ids = [0, 0, 0, 0, 1, 1, 2];
    let (a, m) = advantages::grpo(&r, &ids, AdvScale::Std, 1e-6).unwrap();
    let k = 0.866_023_903_787_036_8;
    assert_close(&flat(&a), &[k, -k, -k, k, 0.0, 0.0, 0.0], 1e-12, "std");
    assert_close1(
        m.value(ROLLOUT_REWARD_MEAN).unwrap(),
        5.0 / 7.0,
        1e-12,
        "mean",
    );
    assert_close1(
        m.value(ROLLOUT_REWARD_STD).unwrap(),
        0.698_638_131_005_771_8,
        1e-12,
        "std",
    );
    assert_close1(
        m.value(ROLLOUT_ZERO_STD_FRAC).unwrap(),
        2.0 / 3.0,
        1e-15,
        "zero",
    );
    // Dr. GRPO: r - mean only.
    let (a, _) = advantages::grpo(&r, &ids, AdvScale::None, 1e-6).unwrap();
    assert_close(
        &flat(&a),
        &[0.5, -0.5, -0.5, 0.5, 0.0, 0.0, 0.0],
        1e-15,
        "none",
    );
}

#[test]
fn grpo_matches_scalar_loop_with_interleaved_groups() {
    // Reference: per group, mean and unbiased std by loops; ids are shuffled (not contiguous).
    // Tolerance 1e-10 (f64, eps 1e-4 as TRL).
    let mut r = rng(4);
    for (groups, g) in [(1, 1), (3, 4), (16, 8)] {
        let n = groups * g;
        let mut ids = advantages::contiguous_groups(n, g).unwrap();
        for i in (1..n).rev() {
            ids.swap(i, r.random_range(0..=i));
        }
        let rewards: Vec<f64> = (0..n)
            .map(|_| f64::from(r.random_range(0..3u8)) / 2.0)
            .collect();
        for scale in [AdvScale::Std, AdvScale::None] {
            let mut want = vec![0.0; n];
            for gid in 0..groups {
                let members: Vec<usize> = (0..n).filter(|i| ids[*i] == gid).collect();
                let k = members.len() as f64;
                let mean = members.iter().map(|i| rewards[*i]).sum::<f64>() / k;
                let var = members
                    .iter()
                    .map(|i| (rewards[*i] - mean).powi(2))
                    .sum::<f64>()
                    / (k - 1.0).max(1.0);
                for i in &members {
                    let c = rewards[*i] - mean;
                    want[*i] = match scale {
                        AdvScale::Std => c / (var.sqrt() + 1e-4),
                        AdvScale::None => c,
                    };
                }
            }
            let (a, _) = advantages::grpo(&t1(&rewards), &ids, scale, 1e-4).unwrap();
            assert_close(&flat(&a), &want, 1e-10, &format!("{scale:?} n={n}"));
        }
    }
}

#[test]
fn grpo_rejects_bad_inputs() {
    let r = t1(&[1.0, 0.0, 1.0]);
    assert!(matches!(
        advantages::grpo(&r, &[0, 0], AdvScale::Std, 1e-6),
        Err(Error::Shape {
            what: "group_ids",
            ..
        })
    ));
    assert!(matches!(
        advantages::contiguous_groups(7, 4),
        Err(Error::Config { .. })
    ));
}

/// GAE by the textbook recursion over each row's list of masked positions.
fn gae_reference(
    r: &[f64],
    v: &[f64],
    m: &[f64],
    b: usize,
    t: usize,
    g: f64,
    l: f64,
) -> (Vec<f64>, Vec<f64>) {
    let mut adv = vec![0.0; b * t];
    let mut ret = vec![0.0; b * t];
    for row in 0..b {
        let idx: Vec<usize> = (0..t)
            .filter(|c| m[row * t + c] != 0.0)
            .map(|c| row * t + c)
            .collect();
        let mut next_a = 0.0;
        for (k, &i) in idx.iter().enumerate().rev() {
            let next_v = idx.get(k + 1).map_or(0.0, |j| v[*j]);
            let delta = r[i] + g * next_v - v[i];
            next_a = delta + g * l * next_a;
            adv[i] = next_a;
            ret[i] = next_a + v[i];
        }
    }
    (adv, ret)
}

#[test]
fn gae_hand_computed() {
    // Row 0: r [0, 0, 1], V [0.5, 0.6, 0.7], gamma 1, lambda 0.5:
    //   t2: delta = 1 - 0.7 = 0.3, A = 0.3; t1: delta = 0.7 - 0.6 = 0.1, A = 0.1 + 0.5*0.3 = 0.25;
    //   t0: delta = 0.6 - 0.5 = 0.1, A = 0.1 + 0.5*0.25 = 0.225; R = A + V = [0.725, 0.85, 1.0].
    let (a, r) = advantages::gae(
        &t2(&[0., 0., 1.], 1, 3),
        &t2(&[0.5, 0.6, 0.7], 1, 3),
        &t2(&[1., 1., 1.], 1, 3),
        1.0,
        0.5,
    )
    .unwrap();
    assert_close(&flat(&a), &[0.225, 0.25, 0.3], 1e-12, "adv");
    assert_close(&flat(&r), &[0.725, 0.85, 1.0], 1e-12, "ret");
    // Row with a hole and padding: mask [1, 0, 1, 0], r [0, 9, 1, 9], V [0.5, 9, 0.7, 9],
    // gamma 0.9, lambda 1: t2: delta = 1 - 0.7 = 0.3, A = 0.3; t1 skipped (carries V 0.7, A 0.3);
    // t0: delta = 0.9*0.7 - 0.5 = 0.13, A = 0.13 + 0.9*0.3 = 0.4. R = [0.9, 0, 1.0, 0].
    let (a, r) = advantages::gae(
        &t2(&[0., 9., 1., 9.], 1, 4),
        &t2(&[0.5, 9., 0.7, 9.], 1, 4),
        &t2(&[1., 0., 1., 0.], 1, 4),
        0.9,
        1.0,
    )
    .unwrap();
    assert_close(&flat(&a), &[0.4, 0.0, 0.3, 0.0], 1e-12, "adv hole");
    assert_close(&flat(&r), &[0.9, 0.0, 1.0, 0.0], 1e-12, "ret hole");
}

#[test]
fn gae_matches_scalar_loop() {
    // Random rewards/values/masks with holes at three sizes; tolerance 1e-10 (f64).
    let mut rg = rng(5);
    for (b, t) in SIZES {
        let r = uniform(&mut rg, b * t, -1.0, 1.0);
        let v = uniform(&mut rg, b * t, -1.0, 1.0);
        let m = random_mask(&mut rg, b, t, true);
        for (g, l) in [(1.0, 0.95), (0.99, 1.0), (0.9, 0.0)] {
            let (a, ret) =
                advantages::gae(&t2(&r, b, t), &t2(&v, b, t), &t2(&m, b, t), g, l).unwrap();
            let (wa, wr) = gae_reference(&r, &v, &m, b, t, g, l);
            assert_close(&flat(&a), &wa, 1e-10, "adv");
            assert_close(&flat(&ret), &wr, 1e-10, "ret");
        }
    }
}

#[test]
fn whiten_hand_computed() {
    // A = [1, 2, 3, (pad 100)]: mean 2, unbiased var 1 -> (A - 2) / sqrt(1 + 1e-8).
    let w =
        advantages::whiten(&t2(&[1., 2., 3., 100.], 1, 4), &t2(&[1., 1., 1., 0.], 1, 4)).unwrap();
    let s = 1.0 / (1.0f64 + 1e-8).sqrt();
    assert_close(&flat(&w), &[-s, 0.0, s, 0.0], 1e-12, "whiten");
}

#[test]
fn kl_penalised_rewards_hand_computed() {
    // beta 0.1; mask [[1,1,0],[1,1,1]]; old - ref = [[0.5, -1, *], [0, 1, -0.5]];
    // r = -0.1 (old - ref) m, plus the score at the last masked token:
    // row 0: [-0.05, 0.1 + 1, 0]; row 1: [0, -0.1, 0.05 - 2].
    // rollout/kl = mean(0.5 - 1, 0 + 1 - 0.5) = 0.
    let (r, m) = kl_penalised_rewards(
        &t1(&[1.0, -2.0]),
        &t2(&[-1., -2., -3., -1., -1., -1.], 2, 3),
        &t2(&[-1.5, -1., -3., -1., -2., -0.5], 2, 3),
        &t2(&[1., 1., 0., 1., 1., 1.], 2, 3),
        0.1,
    )
    .unwrap();
    assert_close(
        &flat(&r),
        &[-0.05, 1.1, 0.0, 0.0, -0.1, -1.95],
        1e-12,
        "rewards",
    );
    assert_close1(m.value(ROLLOUT_KL).unwrap(), 0.0, 1e-12, "kl");
}

#[test]
fn kl_penalised_rewards_match_scalar_loop() {
    let mut rg = rng(6);
    for (b, t) in SIZES {
        let scores = uniform(&mut rg, b, -1.0, 1.0);
        let old = uniform(&mut rg, b * t, -3.0, 0.0);
        let rf = uniform(&mut rg, b * t, -3.0, 0.0);
        let m = random_mask(&mut rg, b, t, true);
        let mut want = vec![0.0; b * t];
        for (row, score) in scores.iter().enumerate() {
            let mut last = None;
            for c in 0..t {
                let i = row * t + c;
                if m[i] != 0.0 {
                    want[i] = -0.05 * (old[i] - rf[i]);
                    last = Some(i);
                }
            }
            if let Some(i) = last {
                want[i] += score;
            }
        }
        let (r, _) = kl_penalised_rewards(
            &t1(&scores),
            &t2(&old, b, t),
            &t2(&rf, b, t),
            &t2(&m, b, t),
            0.05,
        )
        .unwrap();
        assert_close(&flat(&r), &want, 1e-12, &format!("{b}x{t}"));
    }
}

#[test]
fn adaptive_kl_hand_computed() {
    // Ziegler et al.: e = clip(KL / target - 1, -0.2, 0.2), beta *= 1 + e n / horizon.
    // KL 9, target 6 -> e = clip(0.5) = 0.2; n 256, horizon 10000 -> beta 0.2 * 1.00512 = 0.201024.
    // KL 5.4 -> e = -0.1; n 1000 -> beta 0.201024 * 0.99 = 0.19901376.
    let mut c = KlCoef::Adaptive(AdaptiveKl::new(0.2, 6.0, 10_000.0).unwrap());
    c.update(9.0, 256).unwrap();
    assert_close1(c.value(), 0.201024, 1e-15, "up");
    c.update(5.4, 1000).unwrap();
    assert_close1(c.value(), 0.199_013_76, 1e-15, "down");
    assert!(c.update(f64::NAN, 1).is_err());
    let mut fixed = KlCoef::Fixed(0.05);
    fixed.update(100.0, 1000).unwrap();
    assert_eq!(fixed.value(), 0.05);
    assert!(AdaptiveKl::new(0.1, 0.0, 1.0).is_err());
}
