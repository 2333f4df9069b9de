//! "Does it learn": every method trains a tabular softmax policy (a logits Var per prompt and
//! position, over a 4-token vocabulary) with the crate's own pieces (losses, advantages,
//! aggregation, accumulation, clipping, AdamW, schedule), from fixed seeds, and must move the
//! policy the right way by a clear margin. Each method is run a second time with the sign of its
//! signal flipped and must then move the other way, so these tests can fail.

mod common;

use candle_core::{D, DType, Device, Tensor, Var};
use caugym_train::accum::GradAccumulator;
use caugym_train::advantages::{self, AdvScale};
use caugym_train::clip::{check_finite_loss, clip_grad_norm};
use caugym_train::losses::{
    ClipRange, DpoBatch, DpoLoss, KlEstimator, KtoBatch, KtoParams, PolicyBatch, ValueBatch, dpo,
    kl_loss, kto, policy_clip, sft_nll, value_clip,
};
use caugym_train::metrics::{CRITIC_VALUE_LOSS, REWARDS_MARGINS};
use caugym_train::optim::{AdamW, AdamWConfig};
use caugym_train::ppo::kl_penalised_rewards;
use caugym_train::schedule::{LrDecay, LrSchedule};
use caugym_train::{AggNorm, LossAgg, NamedVar};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Prompts, completion length and vocabulary of the toy policy.
const P: usize = 2;
const L: usize = 3;
const V: usize = 4;

type Seq = [u32; L];

/// pi(y | x) = prod_t softmax(logits[x, t])[y_t]; the reference is the initial policy.
struct Toy {
    logits: Var,
    reference: Tensor,
}

impl Toy {
    fn new(seed: u64) -> Self {
        let mut rng = common::rng(seed);
        let init: Vec<f32> = (0..P * L * V)
            .map(|_| rng.random_range(-0.1..0.1))
            .collect();
        let t = Tensor::from_vec(init, (P, L, V), &Device::Cpu).unwrap();
        Self {
            logits: Var::from_tensor(&t).unwrap(),
            reference: t,
        }
    }

    fn params(&self) -> Vec<NamedVar> {
        vec![NamedVar::new("policy.logits", self.logits.clone())]
    }

    /// `[B, L]` log-probs of `seqs` after `prompts` under `logits` (differentiable).
    fn token_logps(logits: &Tensor, prompts: &[usize], seqs: &[Seq]) -> Tensor {
        let max = logits.max_keepdim(D::Minus1).unwrap().detach();
        let shifted = logits.broadcast_sub(&max).unwrap();
        let lse = shifted
            .exp()
            .unwrap()
            .sum_keepdim(D::Minus1)
            .unwrap()
            .log()
            .unwrap();
        let logp = shifted.broadcast_sub(&lse).unwrap();
        let idx: Vec<u32> = prompts.iter().map(|p| *p as u32).collect();
        let rows = logp
            .index_select(&Tensor::new(idx.as_slice(), &Device::Cpu).unwrap(), 0)
            .unwrap();
        let ids: Vec<u32> = seqs.iter().flatten().copied().collect();
        let ids = Tensor::from_vec(ids, (seqs.len(), L, 1), &Device::Cpu).unwrap();
        rows.gather(&ids, 2).unwrap().squeeze(2).unwrap()
    }

    fn policy(&self, prompts: &[usize], seqs: &[Seq]) -> Tensor {
        Self::token_logps(self.logits.as_tensor(), prompts, seqs)
    }

    fn reference(&self, prompts: &[usize], seqs: &[Seq]) -> Tensor {
        Self::token_logps(&self.reference, prompts, seqs)
    }

    /// Sequence log-prob sums `[B]`.
    fn seq_logp(&self, prompts: &[usize], seqs: &[Seq]) -> Vec<f32> {
        self.policy(prompts, seqs)
            .sum(1)
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    fn probs(&self) -> Vec<f32> {
        candle_nn::ops::softmax(self.logits.as_tensor(), D::Minus1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    fn sample(&self, rng: &mut ChaCha8Rng, prompt: usize) -> Seq {
        let probs = self.probs();
        let mut seq = [0u32; L];
        for (t, tok) in seq.iter_mut().enumerate() {
            let row = &probs[(prompt * L + t) * V..(prompt * L + t + 1) * V];
            let u: f32 = rng.random();
            let mut acc = 0.0;
            *tok = (V - 1) as u32;
            for (k, p) in row.iter().enumerate() {
                acc += p;
                if u < acc {
                    *tok = k as u32;
                    break;
                }
            }
        }
        seq
    }

    /// Mean over prompts and positions of pi(target token of the prompt).
    fn target_prob(&self, targets: [u32; P]) -> f64 {
        let probs = self.probs();
        let mut s = 0.0;
        for (p, tok) in targets.iter().enumerate() {
            for t in 0..L {
                s += f64::from(probs[(p * L + t) * V + *tok as usize]);
            }
        }
        s / (P * L) as f64
    }
}

/// The optimiser side of the shared loop: accumulate, check, clip at 1.0, AdamW, schedule.
struct Trainer {
    params: Vec<NamedVar>,
    opt: AdamW,
    schedule: LrSchedule,
    step: u64,
}

impl Trainer {
    fn new(params: Vec<NamedVar>, lr: f64) -> Self {
        let cfg = AdamWConfig {
            weight_decay: 0.0,
            ..AdamWConfig::default()
        };
        Self {
            opt: AdamW::new(params.clone(), cfg).unwrap(),
            params,
            schedule: LrSchedule::new(lr, 3, 1000, LrDecay::Constant, 0.0).unwrap(),
            step: 0,
        }
    }

    fn update(&mut self, micro_losses: &[Tensor]) {
        let mut acc = GradAccumulator::new();
        for loss in micro_losses {
            check_finite_loss(loss).unwrap();
            acc.add(&self.params, &loss.backward().unwrap()).unwrap();
        }
        let mut grads = acc.into_grads();
        clip_grad_norm(&self.params, &mut grads, 1.0).unwrap();
        self.opt.step(&grads, self.schedule.lr(self.step)).unwrap();
        self.step += 1;
    }
}

fn ones(b: usize) -> Tensor {
    Tensor::ones((b, L), DType::F32, &Device::Cpu).unwrap()
}

// ---------------------------------------------------------------- SFT

/// Trains on two (prompt, target) examples, one micro-batch each (accumulation 2), with the
/// first completion position masked as a prompt token; `sign = -1` ascends the NLL instead.
/// Returns (NLL per target token before, after, max change of the masked position's logits).
fn run_sft(sign: f64) -> (f64, f64, f64) {
    let toy = Toy::new(1);
    let mut tr = Trainer::new(toy.params(), 0.1);
    let examples: [(usize, Seq); 2] = [(0, [1, 2, 3]), (1, [0, 0, 2])];
    let mask = Tensor::new(&[[0f32, 1.0, 1.0]], &Device::Cpu).unwrap();
    let norm = AggNorm::from_masks([&mask, &mask]).unwrap();
    let nll = |toy: &Toy| {
        let lp = toy.policy(&[0, 1], &[examples[0].1, examples[1].1]);
        let m = Tensor::cat(&[&mask, &mask], 0).unwrap();
        f64::from(
            sft_nll(&lp, &m, &norm)
                .unwrap()
                .0
                .to_scalar::<f32>()
                .unwrap(),
        )
    };
    let before = nll(&toy);
    for _ in 0..60 {
        let losses: Vec<Tensor> = examples
            .iter()
            .map(|(p, y)| {
                let (loss, _) = sft_nll(&toy.policy(&[*p], &[*y]), &mask, &norm).unwrap();
                (loss * sign).unwrap()
            })
            .collect();
        tr.update(&losses);
    }
    let pos0 = |t: &Tensor| {
        t.narrow(1, 0, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    let moved = pos0(toy.logits.as_tensor())
        .iter()
        .zip(pos0(&toy.reference))
        .map(|(a, b)| f64::from((a - b).abs()))
        .fold(0.0, f64::max);
    (before, nll(&toy), moved)
}

#[test]
fn sft_fits_its_target_and_ignores_masked_tokens() {
    let (before, after, moved) = run_sft(1.0);
    assert!(before > 1.2, "initial NLL ~ ln 4 = 1.39, got {before}");
    assert!(after < 0.05, "NLL should fall near 0: {before} -> {after}");
    assert_eq!(moved, 0.0, "the masked prompt position must get no update");
    let (before, after, _) = run_sft(-1.0);
    assert!(
        after > before + 2.0,
        "ascending the NLL must raise it: {before} -> {after}"
    );
}

// ---------------------------------------------------------------- DPO

/// Returns (initial, final) implicit reward margin and (initial, final) log-prob gap
/// logp(chosen) - logp(rejected), always measured with the TRUE preferences; `flip` trains on
/// swapped pairs.
fn run_dpo(kind: DpoLoss, flip: bool) -> (f64, f64, f64, f64) {
    let toy = Toy::new(2);
    let mut tr = Trainer::new(toy.params(), 0.05);
    let prompts = [0, 1];
    let chosen: [Seq; 2] = [[2, 2, 2], [3, 1, 0]];
    let rejected: [Seq; 2] = [[1, 2, 0], [3, 3, 3]];
    let beta = 0.5;
    let lens = Tensor::new(&[L as f32, L as f32], &Device::Cpu).unwrap();
    let eval = |toy: &Toy| {
        let (w, l) = (
            toy.policy(&prompts, &chosen).sum(1).unwrap(),
            toy.policy(&prompts, &rejected).sum(1).unwrap(),
        );
        let (rw, rl) = (
            toy.reference(&prompts, &chosen).sum(1).unwrap(),
            toy.reference(&prompts, &rejected).sum(1).unwrap(),
        );
        let batch = DpoBatch {
            policy_chosen: &w,
            policy_rejected: &l,
            ref_chosen: &rw,
            ref_rejected: &rl,
            lengths: Some((&lens, &lens)),
        };
        let (_, m) = dpo(&batch, kind, beta, 2).unwrap();
        let gap: f64 = (&w - &l)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .map(|x| f64::from(*x))
            .sum::<f64>()
            / 2.0;
        (m.value(REWARDS_MARGINS).unwrap(), gap)
    };
    let (margin0, gap0) = eval(&toy);
    let (win, lose) = if flip {
        (&rejected, &chosen)
    } else {
        (&chosen, &rejected)
    };
    for _ in 0..40 {
        let (w, l) = (
            toy.policy(&prompts, win).sum(1).unwrap(),
            toy.policy(&prompts, lose).sum(1).unwrap(),
        );
        let (rw, rl) = (
            toy.reference(&prompts, win).sum(1).unwrap(),
            toy.reference(&prompts, lose).sum(1).unwrap(),
        );
        let batch = DpoBatch {
            policy_chosen: &w,
            policy_rejected: &l,
            ref_chosen: &rw,
            ref_rejected: &rl,
            lengths: Some((&lens, &lens)),
        };
        tr.update(&[dpo(&batch, kind, beta, 2).unwrap().0]);
    }
    let (margin1, gap1) = eval(&toy);
    (margin0, margin1, gap0, gap1)
}

#[test]
fn dpo_raises_chosen_over_rejected_for_every_variant() {
    for kind in [
        DpoLoss::Sigmoid {
            label_smoothing: 0.0,
        },
        DpoLoss::Sigmoid {
            label_smoothing: 0.1,
        },
        DpoLoss::Ipo,
        DpoLoss::Hinge,
    ] {
        let (m0, m1, g0, g1) = run_dpo(kind, false);
        assert!(
            m0.abs() < 1e-6,
            "policy starts at the reference: margin {m0}"
        );
        assert!(
            m1 > 0.9,
            "{kind:?}: the implicit reward margin must grow: {m0} -> {m1}"
        );
        assert!(
            g1 > g0 + 1.8,
            "{kind:?}: logp(chosen) - logp(rejected) must grow: {g0} -> {g1}"
        );
        let (_, m1, g0, g1) = run_dpo(kind, true);
        assert!(m1 < -0.9, "{kind:?} flipped: margin must fall, got {m1}");
        assert!(
            g1 < g0 - 1.8,
            "{kind:?} flipped: gap must fall: {g0} -> {g1}"
        );
    }
}

// ---------------------------------------------------------------- KTO

/// Returns, per example, (logp - ref) after training; `flip` inverts the desirable labels.
fn run_kto(flip: bool) -> Vec<f64> {
    let toy = Toy::new(3);
    let mut tr = Trainer::new(toy.params(), 0.05);
    let prompts = [0, 1, 0, 1];
    let seqs: [Seq; 4] = [[2, 2, 2], [1, 1, 1], [3, 0, 1], [0, 3, 2]];
    let desirable: Vec<f32> = [1.0, 0.0, 0.0, 1.0]
        .iter()
        .map(|d| if flip { 1.0 - d } else { *d })
        .collect();
    let desirable = Tensor::new(desirable.as_slice(), &Device::Cpu).unwrap();
    // Mismatched: example i's prompt with example (i + 1)'s completion.
    let mismatched: Vec<Seq> = (0..4).map(|i| seqs[(i + 1) % 4]).collect();
    let params = KtoParams {
        beta: 0.5,
        lambda_d: 1.0,
        lambda_u: 1.0,
    };
    for _ in 0..40 {
        let pol = toy.policy(&prompts, &seqs).sum(1).unwrap();
        let rf = toy.reference(&prompts, &seqs).sum(1).unwrap();
        let pm = toy.policy(&prompts, &mismatched).sum(1).unwrap();
        let rm = toy.reference(&prompts, &mismatched).sum(1).unwrap();
        let batch = KtoBatch {
            policy: &pol,
            reference: &rf,
            policy_mismatched: &pm,
            ref_mismatched: &rm,
            desirable: &desirable,
        };
        tr.update(&[kto(&batch, &params, 4).unwrap().0]);
    }
    let now = toy.seq_logp(&prompts, &seqs);
    let start: Vec<f32> = toy
        .reference(&prompts, &seqs)
        .sum(1)
        .unwrap()
        .to_vec1()
        .unwrap();
    now.iter()
        .zip(start)
        .map(|(a, b)| f64::from(a - b))
        .collect()
}

#[test]
fn kto_raises_desirable_and_lowers_undesirable() {
    // Examples 0 and 3 are desirable, 1 and 2 undesirable.
    let d = run_kto(false);
    assert!(
        d[0] > 1.0 && d[3] > 1.0,
        "desirable log-probs must rise: {d:?}"
    );
    assert!(
        d[1] < -1.0 && d[2] < -1.0,
        "undesirable log-probs must fall: {d:?}"
    );
    let d = run_kto(true);
    assert!(d[0] < -1.0 && d[3] < -1.0, "flipped labels: {d:?}");
    assert!(d[1] > 1.0 && d[2] > 1.0, "flipped labels: {d:?}");
}

// ---------------------------------------------------------------- GRPO and PPO

/// Prompt 0 is rewarded for token 2, prompt 1 for token 3: score = fraction of such tokens.
const TARGETS: [u32; P] = [2, 3];
const G: usize = 8;

fn score(prompt: usize, seq: &Seq) -> f32 {
    seq.iter().filter(|t| **t == TARGETS[prompt]).count() as f32 / L as f32
}

/// Samples G completions per prompt; returns (prompts, completions, scores * sign).
fn rollout(toy: &Toy, rng: &mut ChaCha8Rng, sign: f32) -> (Vec<usize>, Vec<Seq>, Vec<f32>) {
    let prompts: Vec<usize> = (0..P).flat_map(|p| std::iter::repeat_n(p, G)).collect();
    let seqs: Vec<Seq> = prompts.iter().map(|p| toy.sample(rng, *p)).collect();
    let scores = prompts
        .iter()
        .zip(&seqs)
        .map(|(p, s)| sign * score(*p, s))
        .collect();
    (prompts, seqs, scores)
}

/// GRPO: group advantages (std-scaled), two passes per batch of the clipped surrogate
/// (DAPO clip-higher) plus a k3 KL penalty, in two micro-batches of one group each.
fn run_grpo(sign: f32) -> f64 {
    let toy = Toy::new(4);
    let mut tr = Trainer::new(toy.params(), 0.05);
    let mut rng = common::rng(40);
    let clip = ClipRange {
        eps_low: 0.2,
        eps_high: 0.28,
        dual_clip: Some(3.0),
    };
    for _ in 0..30 {
        let (prompts, seqs, scores) = rollout(&toy, &mut rng, sign);
        let ids = advantages::contiguous_groups(prompts.len(), G).unwrap();
        let r = Tensor::new(scores.as_slice(), &Device::Cpu).unwrap();
        let (adv, _) = advantages::grpo(&r, &ids, AdvScale::Std, 1e-6).unwrap();
        let old = toy.policy(&prompts, &seqs).detach();
        let norm = AggNorm::new(prompts.len() * L, prompts.len(), L);
        for _pass in 0..2 {
            let micro: Vec<Tensor> = (0..P)
                .map(|k| {
                    let rows = k * G..(k + 1) * G;
                    let logp = toy.policy(&prompts[rows.clone()], &seqs[rows.clone()]);
                    let reference = toy.reference(&prompts[rows.clone()], &seqs[rows]);
                    let (old, adv, mask) = (
                        old.narrow(0, k * G, G).unwrap(),
                        adv.narrow(0, k * G, G).unwrap(),
                        ones(G),
                    );
                    let batch = PolicyBatch {
                        logp: &logp,
                        old_logp: &old,
                        advantages: &adv,
                        mask: &mask,
                    };
                    let (pg, _) = policy_clip(&batch, &clip, LossAgg::TokenMean, &norm).unwrap();
                    let (kl, _) = kl_loss(
                        &logp,
                        &reference,
                        &mask,
                        KlEstimator::K3,
                        LossAgg::TokenMean,
                        &norm,
                    )
                    .unwrap();
                    (pg + (kl * 0.01).unwrap()).unwrap()
                })
                .collect();
            tr.update(&micro);
        }
    }
    toy.target_prob(TARGETS)
}

#[test]
fn grpo_raises_the_probability_of_rewarded_completions() {
    let p = run_grpo(1.0);
    assert!(
        p > 0.8,
        "pi(rewarded token) must rise from 0.25 to > 0.8, got {p}"
    );
    let p = run_grpo(-1.0);
    assert!(
        p < 0.05,
        "with the reward negated it must fall below 0.05, got {p}"
    );
}

/// PPO: KL-penalised token rewards, GAE from a tabular critic (a value per prompt and
/// position), whitened advantages, two epochs of clipped surrogate + 0.5 clipped value loss.
/// Returns (final pi(rewarded token), first and last value loss).
fn run_ppo(sign: f32) -> (f64, f64, f64) {
    let toy = Toy::new(5);
    let critic = Var::zeros((P, L), DType::F32, &Device::Cpu).unwrap();
    let mut params = toy.params();
    params.push(NamedVar::new("critic.values", critic.clone()));
    let mut tr = Trainer::new(params, 0.05);
    let mut rng = common::rng(50);
    let (mut first_vloss, mut last_vloss) = (None, 0.0);
    for _ in 0..30 {
        let (prompts, seqs, scores) = rollout(&toy, &mut rng, sign);
        let b = prompts.len();
        let idx = Tensor::new(
            prompts
                .iter()
                .map(|p| *p as u32)
                .collect::<Vec<_>>()
                .as_slice(),
            &Device::Cpu,
        )
        .unwrap();
        let values = || critic.as_tensor().index_select(&idx, 0).unwrap();
        let old = toy.policy(&prompts, &seqs).detach();
        let reference = toy.reference(&prompts, &seqs);
        let old_values = values().detach();
        let mask = ones(b);
        let scores = Tensor::new(scores.as_slice(), &Device::Cpu).unwrap();
        let (rewards, _) = kl_penalised_rewards(&scores, &old, &reference, &mask, 0.01).unwrap();
        let (adv, returns) = advantages::gae(&rewards, &old_values, &mask, 1.0, 0.95).unwrap();
        let adv = advantages::whiten(&adv, &mask).unwrap();
        let norm = AggNorm::from_mask(&mask).unwrap();
        for _epoch in 0..2 {
            let logp = toy.policy(&prompts, &seqs);
            let batch = PolicyBatch {
                logp: &logp,
                old_logp: &old,
                advantages: &adv,
                mask: &mask,
            };
            let (pg, _) = policy_clip(
                &batch,
                &ClipRange::symmetric(0.2),
                LossAgg::TokenMean,
                &norm,
            )
            .unwrap();
            let v = values();
            let vb = ValueBatch {
                values: &v,
                old_values: &old_values,
                returns: &returns,
                mask: &mask,
            };
            let (vl, vm) = value_clip(&vb, 0.2, LossAgg::TokenMean, &norm).unwrap();
            last_vloss = vm.value(CRITIC_VALUE_LOSS).unwrap();
            first_vloss.get_or_insert(last_vloss);
            tr.update(&[(pg + (vl * 0.5).unwrap()).unwrap()]);
        }
    }
    (toy.target_prob(TARGETS), first_vloss.unwrap(), last_vloss)
}

#[test]
fn ppo_raises_the_probability_of_rewarded_completions() {
    let (p, v0, v1) = run_ppo(1.0);
    assert!(
        p > 0.8,
        "pi(rewarded token) must rise from 0.25 to > 0.8, got {p}"
    );
    assert!(
        v1 < 0.5 * v0,
        "the critic must learn: value loss {v0} -> {v1}"
    );
    let (p, _, _) = run_ppo(-1.0);
    assert!(
        p < 0.05,
        "with the score negated it must fall below 0.05, got {p}"
    );
}
