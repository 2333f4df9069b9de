//! PPO with a learned critic and the KL penalty in the reward (Ziegler et al. 2019; Ouyang et
//! al. 2022; algorithms.md "PPO"), the policy and the critic being two LoRA adapters on one
//! frozen base ([`super::critic`]).
//!
//! Per step: draw `ppo.prompts_per_step` prompts (epoch order), sample
//! `rollout.num_generations` completions each with the current policy and score them with the
//! reward crate. The completions are shuffled once and cut into micro-batches of
//! `optim.micro_batch_size`; for each, before any update, the trainer computes the old
//! log-probs (policy adapter), the reference log-probs (adapters disabled) and the old values
//! (critic adapter). On the whole batch it then forms the token rewards
//! `-β (old - ref)` plus the score at each completion's last token, runs GAE (γ, λ), whitens
//! the advantages and updates an adaptive β. The micro-batches are grouped into mini-batches
//! (optimiser updates) of `optim.micro_batch_size x optim.gradient_accumulation_steps`, and
//! `ppo.ppo_epochs` passes apply them, the mini-batch order reshuffled each pass after the
//! first. Each micro-batch loss is `policy_clip + vf_coef * value_clip`; one AdamW (and one
//! global-norm clip) covers policy and critic, as TRL's policy-and-value wrapper.
//!
//! A micro-batch keeps its composition in every pass, so its LoRA-dropout masks (seeded by its
//! index) are the ones its old log-probs and old values were computed with: the ratio is
//! exactly 1 and the value clip inactive at the first update (GRPO does the same).

use std::path::Path;

use candle_core::{DType, Tensor};
use caugym_model::{AdapterMode, Batch};
use caugym_reward::{CausalReward, RewardOutcome};
use caugym_rollout::{GenerationConfig, Rollout};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::collate::{LossOn, Row, pad};
use super::critic::Critic;
use super::examples::Example;
use super::order::EpochOrder;
use super::policy::{ADAPTER, Policy};
use super::rollouts::{
    PromptItem, gold_prompts, loss_metrics, rollout_metrics, sample, samples, score,
};
use crate::advantages::{gae, whiten};
use crate::agg::{AggNorm, LossAgg};
use crate::config::{PpoConfig, TrainConfig};
use crate::losses::{
    ClipRange, PolicyBatch, ValueBatch, explained_variance, policy_clip, value_clip,
};
use crate::metrics::{self, Metrics};
use crate::params::NamedVar;
use crate::ppo::{KlCoef, kl_penalised_rewards};
use crate::runner::{Method, Round, Sample, Update, derive_seed};
use crate::{Error, Result};

/// Stream tags of [`derive_seed`] for the LoRA-dropout masks of micro-batch `i`:
/// `POLICY_STREAM | i` (old log-probs and policy loss) and `CRITIC_STREAM | i` (old values and
/// value loss).
const POLICY_STREAM: u64 = 1 << 32;
const CRITIC_STREAM: u64 = 2 << 32;

/// One PPO micro-batch (shared by the epochs, so cheap to clone: tensors are shared).
#[derive(Clone)]
pub struct PpoMicro {
    batch: Batch,
    /// `[b, w - 1]` completion mask, and the per-token tensors below on the same grid.
    mask: Tensor,
    advantages: Tensor,
    returns: Tensor,
    old_logp: Tensor,
    old_values: Tensor,
    norm: AggNorm,
    index: u64,
}

/// The loss settings of the method, fixed for the run.
struct LossSettings {
    clip: ClipRange,
    cliprange_value: f64,
    vf_coef: f64,
    agg: LossAgg,
    gamma: f64,
    lam: f64,
    whiten: bool,
    temperature: f64,
    epochs: usize,
}

/// The PPO method.
pub struct Ppo {
    policy: Policy,
    critic: Critic,
    prompts: Vec<PromptItem>,
    order: EpochOrder,
    prompts_per_step: usize,
    sampling: GenerationConfig,
    reward: CausalReward,
    loss: LossSettings,
    kl: KlCoef,
    micro_batch_size: usize,
    update_size: usize,
    seed: u64,
    step: u64,
    last_samples: Vec<Sample>,
}

/// What the rollout-time passes produce for the whole step, on one `[N, T - 1]` grid in
/// shuffled order, plus each micro-batch's rows and width.
struct Prepared {
    mask: Tensor,
    old_logp: Tensor,
    ref_logp: Tensor,
    values: Tensor,
    /// Per micro-batch: (its batch, first row, rows, its width `w` in tokens).
    micro: Vec<(Batch, usize, usize, usize)>,
}

impl Ppo {
    /// Encodes the prompts (every example needs an `answer`) and adds the critic to the
    /// policy's model (LoRA only; the config check enforces it).
    pub fn new(
        cfg: &TrainConfig,
        p: &PpoConfig,
        mut policy: Policy,
        train: &[Example],
    ) -> Result<Self> {
        if !matches!(policy.mode, caugym_model::TrainMode::Lora(_)) {
            return Err(Error::setting(
                "model.train_mode",
                "PPO needs \"lora\": the critic is a second adapter on the frozen base",
            ));
        }
        let prompts = gold_prompts(&cfg.data, &policy.tokenizer, train, "PPO")?;
        let critic = Critic::new(&mut policy.model, ADAPTER)?;
        Ok(Self {
            order: EpochOrder::new(cfg.seed, prompts.len()),
            prompts,
            policy,
            critic,
            prompts_per_step: p.prompts_per_step,
            sampling: cfg.rollout.clone(),
            reward: CausalReward::new(cfg.reward.clone())?,
            loss: LossSettings {
                clip: p.clip_range(),
                cliprange_value: p.cliprange_value,
                vf_coef: p.vf_coef,
                agg: p.loss_agg_mode,
                gamma: p.gamma,
                lam: p.lam,
                whiten: p.whiten_advantages,
                temperature: cfg.rollout.temperature,
                epochs: p.ppo_epochs,
            },
            kl: p.kl_controller()?,
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

    /// The critic.
    pub fn critic(&self) -> &Critic {
        &self.critic
    }

    /// The KL-in-reward coefficient the next step will use.
    pub fn kl_coef(&self) -> f64 {
        self.kl.value()
    }

    fn dropout_seed(&self, stream: u64, index: u64) -> u64 {
        derive_seed(self.seed, self.step, stream | index)
    }

    /// Pads the completions in `perm` order and runs the rollout-time forwards per
    /// micro-batch: old log-probs, reference log-probs and old values, each padded back to the
    /// step's grid.
    fn prepare(
        &mut self,
        rollout: &Rollout,
        items: &[&PromptItem],
        perm: &[usize],
    ) -> Result<Prepared> {
        let rows: Vec<Row> = perm
            .iter()
            .map(|&i| {
                let c = &rollout.completions[i];
                Row {
                    prompt: items[c.prompt_index].ids.clone(),
                    completion: c.token_ids.clone(),
                }
            })
            .collect();
        let padded = pad(
            &rows,
            self.policy.tokenizer.pad_token_id(),
            LossOn::Completion,
        )?;
        let (all, mask) = self.policy.batch(&padded)?;
        let grid = padded.len - 1;
        let t = self.loss.temperature;
        let (mut old, mut reference, mut values, mut micro) = (vec![], vec![], vec![], vec![]);
        for (k, chunk) in rows.chunks(self.micro_batch_size).enumerate() {
            let start = k * self.micro_batch_size;
            let width = chunk
                .iter()
                .map(|r| r.prompt.len() + r.completion.len())
                .max()
                .unwrap_or(2)
                .max(2);
            let batch = Batch::new(
                all.input_ids
                    .narrow(0, start, chunk.len())?
                    .narrow(1, 0, width)?,
                all.attention_mask
                    .narrow(0, start, chunk.len())?
                    .narrow(1, 0, width)?,
            )?;
            let to_grid = |x: Tensor| -> Result<Tensor> {
                Ok(x.detach()
                    .to_dtype(DType::F32)?
                    .pad_with_zeros(1, 0, grid + 1 - width)?)
            };
            let k = k as u64;
            let seed = self.dropout_seed(POLICY_STREAM, k);
            self.policy.model.set_dropout_seed(seed);
            let active = self.policy.active();
            old.push(to_grid(
                self.policy.logprobs(&batch, active, t, false)?.logprobs,
            )?);
            let disabled = AdapterMode::Disabled;
            reference.push(to_grid(
                self.policy.logprobs(&batch, disabled, t, false)?.logprobs,
            )?);
            let seed = self.dropout_seed(CRITIC_STREAM, k);
            self.policy.model.set_dropout_seed(seed);
            values.push(to_grid(self.critic.values(&self.policy.model, &batch)?)?);
            micro.push((batch, start, chunk.len(), width));
        }
        Ok(Prepared {
            mask,
            old_logp: Tensor::cat(&old, 0)?,
            ref_logp: Tensor::cat(&reference, 0)?,
            values: Tensor::cat(&values, 0)?,
            micro,
        })
    }

    /// Samples, scores and lays out the step on the prompts `picks`.
    fn round_on(
        &mut self,
        prompts: &[PromptItem],
        picks: &[usize],
        step: u64,
        rng: &mut ChaCha8Rng,
    ) -> Result<Round<PpoMicro>> {
        let items: Vec<&PromptItem> = picks.iter().map(|&i| &prompts[i]).collect();
        let rollout = sample(
            &mut self.policy,
            &items,
            &self.sampling,
            derive_seed(self.seed, step, 0),
        )?;
        let outcomes = score(&self.reward, &rollout, &items)?;
        let mut m = rollout_metrics(&rollout, &outcomes);
        m.merge(&reward_stats(&outcomes));
        self.last_samples = samples(&rollout, &outcomes, &items, usize::MAX);

        let mut perm: Vec<usize> = (0..outcomes.len()).collect();
        perm.shuffle(rng);
        let p = self.prepare(&rollout, &items, &perm)?;
        let scores: Vec<f32> = perm.iter().map(|&i| outcomes[i].score as f32).collect();
        let scores = Tensor::from_vec(scores, perm.len(), self.policy.device())?;
        let beta = self.kl.value();
        let (rewards, kl_m) =
            kl_penalised_rewards(&scores, &p.old_logp, &p.ref_logp, &p.mask, beta)?;
        let (raw_adv, returns) = gae(&rewards, &p.values, &p.mask, self.loss.gamma, self.loss.lam)?;
        m.merge(&kl_m);
        m.merge(&critic_stats(&raw_adv, &returns, &p.values, &p.mask)?);
        let adv = if self.loss.whiten {
            whiten(&raw_adv, &p.mask)?
        } else {
            raw_adv
        };
        let seq_kl = kl_m.value(metrics::ROLLOUT_KL).unwrap_or(0.0);
        self.kl.update(seq_kl, perm.len())?;

        let updates = self.updates(p, &adv, &returns, rng)?;
        Ok(Round {
            updates,
            metrics: m,
        })
    }

    /// Cuts the step's grid into the prepared micro-batches, groups them into mini-batches and
    /// repeats those for the epochs (reshuffled after the first).
    fn updates(
        &self,
        p: Prepared,
        adv: &Tensor,
        returns: &Tensor,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<Update<PpoMicro>>> {
        let per_update = self.update_size / self.micro_batch_size;
        let mut layout = Vec::new();
        let mut parts = Vec::new();
        for (batch, start, rows, width) in p.micro {
            let cut = |x: &Tensor| -> Result<Tensor> {
                Ok(x.narrow(0, start, rows)?.narrow(1, 0, width - 1)?)
            };
            parts.push((
                batch,
                cut(&p.mask)?,
                cut(adv)?,
                cut(returns)?,
                cut(&p.old_logp)?,
                cut(&p.values)?,
            ));
            if parts.len() == per_update {
                layout.push(self.update(std::mem::take(&mut parts), layout.len() * per_update)?);
            }
        }
        if !parts.is_empty() {
            layout.push(self.update(parts, layout.len() * per_update)?);
        }
        let mut out = Vec::with_capacity(layout.len() * self.loss.epochs);
        for epoch in 0..self.loss.epochs {
            let mut order: Vec<usize> = (0..layout.len()).collect();
            if epoch > 0 {
                order.shuffle(rng);
            }
            out.extend(order.into_iter().map(|i| Update {
                micro_batches: layout[i].micro_batches.clone(),
                tokens: layout[i].tokens,
            }));
        }
        Ok(out)
    }

    /// One mini-batch from its micro-batches' tensors; `first` is the index of its first
    /// micro-batch.
    #[allow(clippy::type_complexity)]
    fn update(
        &self,
        parts: Vec<(Batch, Tensor, Tensor, Tensor, Tensor, Tensor)>,
        first: usize,
    ) -> Result<Update<PpoMicro>> {
        let max_len = self.sampling.max_new_tokens;
        let norm = AggNorm::from_masks(parts.iter().map(|p| &p.1))?.with_max_len(max_len);
        let micro_batches = parts
            .into_iter()
            .enumerate()
            .map(
                |(i, (batch, mask, advantages, returns, old_logp, old_values))| PpoMicro {
                    batch,
                    mask,
                    advantages,
                    returns,
                    old_logp,
                    old_values,
                    norm,
                    index: (first + i) as u64,
                },
            )
            .collect();
        Ok(Update {
            micro_batches,
            tokens: norm.total_tokens,
        })
    }
}

/// Mean and unbiased std of the outcome scores.
fn reward_stats(outcomes: &[RewardOutcome]) -> Metrics {
    let n = outcomes.len();
    let mean = outcomes.iter().map(|o| o.score).sum::<f64>() / n.max(1) as f64;
    let ss = outcomes
        .iter()
        .map(|o| (o.score - mean).powi(2))
        .sum::<f64>();
    let std = if n > 1 {
        (ss / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    let mut m = Metrics::new();
    m.insert(metrics::ROLLOUT_REWARD_MEAN, mean);
    m.insert(metrics::ROLLOUT_REWARD_STD, std);
    m
}

/// Token statistics of the step's returns, raw advantages and rollout-time values, and the
/// batch-level explained variance of those values.
fn critic_stats(adv: &Tensor, returns: &Tensor, values: &Tensor, mask: &Tensor) -> Result<Metrics> {
    let mean = |x: &Tensor| -> Result<f64> {
        Ok(crate::masked::mean(x, mask)?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?)
    };
    let var = crate::masked::var(adv, mask, true)?
        .to_dtype(DType::F64)?
        .to_scalar::<f64>()?;
    let mut m = Metrics::new();
    m.insert(metrics::CRITIC_RETURNS_MEAN, mean(returns)?);
    m.insert(metrics::CRITIC_ADVANTAGES_MEAN, mean(adv)?);
    m.insert(metrics::CRITIC_ADVANTAGES_STD, var.max(0.0).sqrt());
    m.insert(metrics::CRITIC_VALUES_MEAN, mean(values)?);
    if let Some(ev) = explained_variance(values, returns, mask)? {
        m.insert(metrics::CRITIC_VF_EXPLAINED_VAR, ev);
    }
    Ok(m)
}

impl Method for Ppo {
    type Micro = PpoMicro;

    fn params(&self) -> Result<Vec<NamedVar>> {
        let mut out = self.policy.params()?;
        out.extend(self.critic.params(&self.policy.model)?);
        Ok(out)
    }

    fn next_round(&mut self, step: u64, rng: &mut ChaCha8Rng) -> Result<Round<PpoMicro>> {
        self.step = step;
        let picks = self.order.for_step(step, self.prompts_per_step);
        let prompts = std::mem::take(&mut self.prompts);
        let result = self.round_on(&prompts, &picks, step, rng);
        self.prompts = prompts;
        result
    }

    fn micro_loss(&mut self, m: &PpoMicro) -> Result<(Tensor, Metrics)> {
        let s = &self.loss;
        let seed = self.dropout_seed(POLICY_STREAM, m.index);
        self.policy.model.set_dropout_seed(seed);
        let out = self
            .policy
            .logprobs(&m.batch, self.policy.active(), s.temperature, true)?;
        let batch = PolicyBatch {
            logp: &out.logprobs,
            old_logp: &m.old_logp,
            advantages: &m.advantages,
            mask: &m.mask,
        };
        let (policy_loss, mut metrics) = policy_clip(&batch, &s.clip, s.agg, &m.norm)?;

        let seed = self.dropout_seed(CRITIC_STREAM, m.index);
        self.policy.model.set_dropout_seed(seed);
        let values = self.critic.values(&self.policy.model, &m.batch)?;
        let batch = ValueBatch {
            values: &values,
            old_values: &m.old_values,
            returns: &m.returns,
            mask: &m.mask,
        };
        let (value_loss, vm) = value_clip(&batch, s.cliprange_value, s.agg, &m.norm)?;
        metrics.merge(&vm);
        let loss = (policy_loss + (value_loss * s.vf_coef)?)?;
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

    /// The KL-in-reward coefficient (the adaptive controller's current β).
    fn state(&self) -> serde_json::Value {
        serde_json::to_value(self.kl).unwrap_or(serde_json::Value::Null)
    }

    fn load_state(&mut self, state: &serde_json::Value) -> Result<()> {
        let kl: KlCoef = serde_json::from_value(state.clone()).map_err(|e| Error::Input {
            what: "method_state",
            reason: format!("the checkpoint's PPO state is not a KL coefficient: {e}"),
        })?;
        if std::mem::discriminant(&kl) != std::mem::discriminant(&self.kl) {
            return Err(Error::Input {
                what: "method_state",
                reason: "the checkpoint's KL controller (fixed/adaptive) differs from the config's"
                    .to_string(),
            });
        }
        self.kl = kl;
        Ok(())
    }
}
