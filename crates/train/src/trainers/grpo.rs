//! GRPO (Shao et al. 2024): G sampled completions per prompt, rule rewards, group-relative
//! advantages, optional KL to the base (adapters disabled), μ clipped-surrogate passes over
//! the step's completions (algorithms.md "GRPO").
//!
//! Per step: draw `grpo.prompts_per_step` prompts (epoch order), sample
//! `rollout.num_generations` completions each with the current policy, score them with the
//! reward crate, compute advantages, optionally drop zero-std groups and mask truncated
//! completions, then lay the completions out as optimiser updates of
//! `optim.micro_batch_size x optim.gradient_accumulation_steps`, the same layout for each of
//! the μ passes. Old log-probs are recomputed by the trainer before the first update when
//! μ > 1 (with μ = 1 they equal the current ones, detached: ratio 1, TRL's shortcut); reference
//! log-probs are computed with adapters disabled when β > 0.

use std::path::Path;

use candle_core::{DType, Tensor};
use caugym_model::Batch;
use caugym_reward::{CausalReward, RewardOutcome};
use caugym_rollout::{GenerationConfig, Rollout};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::collate::{LossOn, Row, pad};
use super::examples::Example;
use super::order::EpochOrder;
use super::policy::Policy;
use super::rollouts::{
    PromptItem, gold_prompts, loss_metrics, rollout_metrics, sample, samples, score,
};
use crate::Result;
use crate::advantages::{AdvScale, grpo as group_advantages};
use crate::agg::{AggNorm, LossAgg};
use crate::config::{GrpoConfig, TrainConfig};
use crate::losses::{ClipRange, KlEstimator, PolicyBatch, kl_loss, policy_clip};
use crate::metrics::{self, Metrics};
use crate::params::NamedVar;
use crate::runner::{Method, Round, Sample, Update, derive_seed};

/// Advantage epsilon of the std division (TRL's 1e-4; algorithms.md).
pub const ADVANTAGE_EPS: f64 = 1e-4;

/// One GRPO micro-batch (shared by the μ passes, so cheap to clone: tensors are shared).
#[derive(Clone)]
pub struct GrpoMicro {
    batch: Batch,
    mask: Tensor,
    advantages: Tensor,
    old_logp: Option<Tensor>,
    ref_logp: Option<Tensor>,
    norm: AggNorm,
    index: u64,
}

/// The loss settings of the method, fixed for the run.
struct LossSettings {
    clip: ClipRange,
    agg: LossAgg,
    beta: f64,
    kl: KlEstimator,
    scale: AdvScale,
    temperature: f64,
    num_iterations: usize,
    mask_truncated: bool,
    filter_zero_std: bool,
}

/// The GRPO method.
pub struct Grpo {
    policy: Policy,
    prompts: Vec<PromptItem>,
    order: EpochOrder,
    prompts_per_step: usize,
    sampling: GenerationConfig,
    reward: CausalReward,
    loss: LossSettings,
    micro_batch_size: usize,
    update_size: usize,
    seed: u64,
    step: u64,
    last_samples: Vec<Sample>,
}

impl Grpo {
    /// Encodes the prompts and parses their golds; every example needs an `answer`.
    pub fn new(
        cfg: &TrainConfig,
        g: &GrpoConfig,
        policy: Policy,
        train: &[Example],
    ) -> Result<Self> {
        let prompts = gold_prompts(&cfg.data, &policy.tokenizer, train, "GRPO")?;
        Ok(Self {
            order: EpochOrder::new(cfg.seed, prompts.len()),
            prompts,
            policy,
            prompts_per_step: g.prompts_per_step,
            sampling: cfg.rollout.clone(),
            reward: CausalReward::new(cfg.reward.clone())?,
            loss: LossSettings {
                clip: g.clip_range(),
                agg: g.loss_agg_mode,
                beta: g.beta,
                kl: g.kl_estimator,
                scale: g.scale_rewards,
                temperature: cfg.rollout.temperature,
                num_iterations: g.num_iterations,
                mask_truncated: g.mask_truncated_completions,
                filter_zero_std: g.filter_zero_std_groups,
            },
            micro_batch_size: cfg.optim.micro_batch_size,
            update_size: cfg.optim.update_batch_size(),
            seed: cfg.seed,
            step: 0,
            last_samples: Vec::new(),
        })
    }

    /// The trained policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Group-relative advantages `[N]` (f32) and their metrics.
    fn advantages(&self, outcomes: &[RewardOutcome]) -> Result<(Tensor, Metrics)> {
        let g = self.sampling.num_generations;
        let rewards: Vec<f64> = outcomes.iter().map(|o| o.score).collect();
        let ids: Vec<usize> = (0..rewards.len()).map(|i| i / g).collect();
        let r = Tensor::from_vec(rewards, ids.len(), &candle_core::Device::Cpu)?;
        let (adv, m) = group_advantages(&r, &ids, self.loss.scale, ADVANTAGE_EPS)?;
        Ok((adv.to_dtype(DType::F32)?, m))
    }

    /// Indices of the completions to train on: all, or those of groups whose rewards differ.
    fn kept(&self, outcomes: &[RewardOutcome]) -> Vec<usize> {
        let g = self.sampling.num_generations;
        (0..outcomes.len())
            .filter(|&i| {
                if !self.loss.filter_zero_std {
                    return true;
                }
                let group = &outcomes[(i / g) * g..(i / g + 1) * g];
                group.iter().any(|o| o.score != group[0].score)
            })
            .collect()
    }

    /// Optimiser updates over the kept completions (shuffled once; same layout every pass).
    fn updates(
        &mut self,
        rollout: &Rollout,
        items: &[&PromptItem],
        advantages: &[f32],
        mut kept: Vec<usize>,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<Update<GrpoMicro>>> {
        kept.shuffle(rng);
        let mut layout = Vec::new();
        let mut index = 0u64;
        for chunk in kept.chunks(self.update_size) {
            let mut parts = Vec::new();
            for micro in chunk.chunks(self.micro_batch_size) {
                parts.push(self.micro_tensors(rollout, items, advantages, micro)?);
            }
            let max_len = self.sampling.max_new_tokens;
            let norm = AggNorm::from_masks(parts.iter().map(|p| &p.1))?.with_max_len(max_len);
            let mut micro_batches = Vec::with_capacity(parts.len());
            for (batch, mask, adv) in parts {
                micro_batches.push(self.prepare(batch, mask, adv, norm, index)?);
                index += 1;
            }
            layout.push(Update {
                micro_batches,
                tokens: norm.total_tokens,
            });
        }
        let mut updates = Vec::with_capacity(layout.len() * self.loss.num_iterations);
        for _ in 1..self.loss.num_iterations {
            updates.extend(layout.iter().map(|u| Update {
                micro_batches: u.micro_batches.clone(),
                tokens: u.tokens,
            }));
        }
        updates.extend(layout);
        Ok(updates)
    }

    /// Padded rows, completion mask (truncated completions masked when configured) and
    /// advantages of the completions `idx`.
    fn micro_tensors(
        &self,
        rollout: &Rollout,
        items: &[&PromptItem],
        advantages: &[f32],
        idx: &[usize],
    ) -> Result<(Batch, Tensor, Tensor)> {
        let rows: Vec<Row> = idx
            .iter()
            .map(|&i| {
                let c = &rollout.completions[i];
                Row {
                    prompt: items[c.prompt_index].ids.clone(),
                    completion: c.token_ids.clone(),
                }
            })
            .collect();
        let mut padded = pad(
            &rows,
            self.policy.tokenizer.pad_token_id(),
            LossOn::Completion,
        )?;
        if self.loss.mask_truncated {
            let width = padded.len - 1;
            for (r, &i) in idx.iter().enumerate() {
                if rollout.completions[i].is_truncated() {
                    padded.completion_mask[r * width..(r + 1) * width].fill(0.0);
                }
            }
        }
        let (batch, mask) = self.policy.batch(&padded)?;
        let adv: Vec<f32> = idx.iter().map(|&i| advantages[i]).collect();
        let adv = Tensor::from_vec(adv, idx.len(), self.policy.device())?;
        Ok((batch, mask, adv))
    }

    /// The LoRA-dropout seed of micro-batch `index` of the current step: the old log-probs and
    /// every pass's loss forward of that micro-batch draw the same masks.
    fn dropout_seed(&self, index: u64) -> u64 {
        derive_seed(self.seed, self.step, 1 << 32 | index)
    }

    /// Adds old (μ > 1) and reference (β > 0) log-probs, computed before any update.
    fn prepare(
        &mut self,
        batch: Batch,
        mask: Tensor,
        advantages: Tensor,
        norm: AggNorm,
        index: u64,
    ) -> Result<GrpoMicro> {
        let t = self.loss.temperature;
        self.policy.model.set_dropout_seed(self.dropout_seed(index));
        let old_logp = if self.loss.num_iterations > 1 {
            let out = self
                .policy
                .logprobs(&batch, self.policy.active(), t, false)?;
            Some(out.logprobs.detach())
        } else {
            None
        };
        let ref_logp = if self.loss.beta > 0.0 {
            let adapter = caugym_model::AdapterMode::Disabled;
            Some(
                self.policy
                    .logprobs(&batch, adapter, t, false)?
                    .logprobs
                    .detach(),
            )
        } else {
            None
        };
        Ok(GrpoMicro {
            batch,
            mask,
            advantages,
            old_logp,
            ref_logp,
            norm,
            index,
        })
    }
}

impl Method for Grpo {
    type Micro = GrpoMicro;

    fn params(&self) -> Result<Vec<NamedVar>> {
        self.policy.params()
    }

    fn next_round(&mut self, step: u64, rng: &mut ChaCha8Rng) -> Result<Round<GrpoMicro>> {
        self.step = step;
        let picks = self.order.for_step(step, self.prompts_per_step);
        let prompts = std::mem::take(&mut self.prompts);
        let result = self.round_on(&prompts, &picks, step, rng);
        self.prompts = prompts;
        result
    }

    fn micro_loss(&mut self, m: &GrpoMicro) -> Result<(Tensor, Metrics)> {
        let seed = self.dropout_seed(m.index);
        self.policy.model.set_dropout_seed(seed);
        let s = &self.loss;
        let out = self
            .policy
            .logprobs(&m.batch, self.policy.active(), s.temperature, true)?;
        let logp = &out.logprobs;
        let current = logp.detach();
        let old = m.old_logp.as_ref().unwrap_or(&current);
        let batch = PolicyBatch {
            logp,
            old_logp: old,
            advantages: &m.advantages,
            mask: &m.mask,
        };
        let (mut loss, mut metrics) = policy_clip(&batch, &s.clip, s.agg, &m.norm)?;
        if let Some(r) = &m.ref_logp {
            let (kl, km) = kl_loss(logp, r, &m.mask, s.kl, s.agg, &m.norm)?;
            loss = (loss + (kl * s.beta)?)?;
            metrics.merge(&km);
        }
        loss_metrics(
            &mut metrics,
            &loss,
            out.entropy.as_ref(),
            &m.mask,
            m.norm.total_tokens,
        )?;
        Ok((loss, metrics))
    }

    fn export(&self, dir: &Path) -> Result<()> {
        self.policy.export(dir)
    }

    fn samples(&mut self, n: usize, _rng: &mut ChaCha8Rng) -> Result<Vec<Sample>> {
        Ok(self.last_samples.iter().take(n).cloned().collect())
    }
}

impl Grpo {
    /// Samples, scores and lays out the step on the prompts `picks`.
    fn round_on(
        &mut self,
        prompts: &[PromptItem],
        picks: &[usize],
        step: u64,
        rng: &mut ChaCha8Rng,
    ) -> Result<Round<GrpoMicro>> {
        let items: Vec<&PromptItem> = picks.iter().map(|&i| &prompts[i]).collect();
        let seed = derive_seed(self.seed, step, 0);
        let rollout = sample(&mut self.policy, &items, &self.sampling, seed)?;
        let outcomes = score(&self.reward, &rollout, &items)?;
        let (adv, mut m) = self.advantages(&outcomes)?;
        m.merge(&rollout_metrics(&rollout, &outcomes));
        let kept = self.kept(&outcomes);
        let kept_frac = kept.len() as f64 / outcomes.len().max(1) as f64;
        m.insert(metrics::ROLLOUT_KEPT_FRAC, kept_frac);
        self.last_samples = samples(&rollout, &outcomes, &items, usize::MAX);
        let adv: Vec<f32> = adv.to_vec1()?;
        let updates = self.updates(&rollout, &items, &adv, kept, rng)?;
        Ok(Round {
            updates,
            metrics: m,
        })
    }
}
