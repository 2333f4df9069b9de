//! Supervised fine-tuning: worked solutions (or any prompt/completion pairs) as targets, the
//! completion tokens' NLL normalised over the whole update (algorithms.md "SFT").

use std::path::Path;

use candle_core::Tensor;
use caugym_model::Batch;
use caugym_reward::CausalReward;
use caugym_rollout::GenerationConfig;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::collate::{LossOn, Row, pad, truncate};
use super::examples::Example;
use super::order::EpochOrder;
use super::policy::Policy;
use super::prompts::{PromptStyle, completion_tokens};
use super::rollouts::{PromptItem, sample, samples, score};
use crate::agg::AggNorm;
use crate::config::{SftConfig, TrainConfig};
use crate::losses::sft_nll;
use crate::metrics::Metrics;
use crate::params::NamedVar;
use crate::runner::{Method, Round, Sample, Update, derive_seed};
use crate::{Error, Result};

/// One SFT micro-batch.
pub struct SftMicro {
    batch: Batch,
    mask: Tensor,
    norm: AggNorm,
    /// Its index in the step (seeds LoRA dropout).
    index: u64,
}

/// The SFT method.
pub struct Sft {
    policy: Policy,
    rows: Vec<Row>,
    order: EpochOrder,
    micro_batch_size: usize,
    accumulation: usize,
    loss_on: LossOn,
    seed: u64,
    step: u64,
    /// Prompts the example completions are drawn from (held-out ones when there are any).
    sample_pool: Vec<PromptItem>,
    sampling: GenerationConfig,
    reward: CausalReward,
}

impl Sft {
    /// Tokenises the training examples (prompt through `data.prompt_format`, target per
    /// `sft.completion`, cut to `sft.max_length`); example completions are sampled from the
    /// prompts of `pool`.
    pub fn new(
        cfg: &TrainConfig,
        sft: &SftConfig,
        policy: Policy,
        train: &[Example],
        pool: &[Example],
    ) -> Result<Self> {
        let style = PromptStyle::of(&cfg.data);
        let mut rows = Vec::with_capacity(train.len());
        for ex in train {
            let target = ex.sft_target(sft.completion).ok_or_else(|| {
                Error::setting(
                    "data",
                    format!(
                        "example `{}` has no completion, solution or answer to train on",
                        ex.id
                    ),
                )
            })?;
            let mut row = Row {
                prompt: style.encode(&policy.tokenizer, &ex.prompt)?,
                completion: completion_tokens(&policy.tokenizer, &target)?,
            };
            truncate(&mut row, sft.max_length);
            if row.completion.is_empty() && sft.completion_only_loss {
                return Err(Error::setting(
                    "sft.max_length",
                    format!(
                        "example `{}`'s prompt alone has {} tokens, so nothing of its completion \
                         is left; raise sft.max_length",
                        ex.id,
                        row.prompt.len()
                    ),
                ));
            }
            rows.push(row);
        }
        if rows.is_empty() {
            return Err(Error::setting("data", "no training examples"));
        }
        let sample_pool = pool
            .iter()
            .take(256)
            .map(|ex| PromptItem::new(ex, &style, &policy.tokenizer))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            order: EpochOrder::new(cfg.seed, rows.len()),
            rows,
            policy,
            micro_batch_size: cfg.optim.micro_batch_size,
            accumulation: cfg.optim.gradient_accumulation_steps,
            loss_on: if sft.completion_only_loss {
                LossOn::Completion
            } else {
                LossOn::All
            },
            seed: cfg.seed,
            step: 0,
            sample_pool,
            sampling: GenerationConfig {
                num_generations: 1,
                ..cfg.rollout.clone()
            },
            reward: CausalReward::new(cfg.reward.clone())?,
        })
    }

    /// The trained policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

impl Method for Sft {
    type Micro = SftMicro;

    fn params(&self) -> Result<Vec<NamedVar>> {
        self.policy.params()
    }

    fn next_round(&mut self, step: u64, _rng: &mut ChaCha8Rng) -> Result<Round<SftMicro>> {
        self.step = step;
        let per_update = self.micro_batch_size * self.accumulation;
        let picks = self.order.for_step(step, per_update);
        let mut parts = Vec::with_capacity(self.accumulation);
        for chunk in picks.chunks(self.micro_batch_size) {
            let rows: Vec<Row> = chunk.iter().map(|&i| self.rows[i].clone()).collect();
            let padded = pad(&rows, self.policy.tokenizer.pad_token_id(), self.loss_on)?;
            parts.push(self.policy.batch(&padded)?);
        }
        let norm = AggNorm::from_masks(parts.iter().map(|(_, m)| m))?;
        let micro_batches = parts
            .into_iter()
            .enumerate()
            .map(|(i, (batch, mask))| SftMicro {
                batch,
                mask,
                norm,
                index: i as u64,
            })
            .collect();
        Ok(Round {
            updates: vec![Update {
                micro_batches,
                tokens: norm.total_tokens,
            }],
            metrics: Metrics::new(),
        })
    }

    fn micro_loss(&mut self, m: &SftMicro) -> Result<(Tensor, Metrics)> {
        self.policy
            .model
            .set_dropout_seed(derive_seed(self.seed, self.step, m.index));
        let adapter = self.policy.active();
        let logp = self.policy.logprobs(&m.batch, adapter, 1.0, false)?;
        sft_nll(&logp.logprobs, &m.mask, &m.norm)
    }

    fn export(&self, dir: &Path) -> Result<()> {
        self.policy.export(dir)
    }

    /// Completions of `n` prompts drawn from the pool, scored when they have a gold answer.
    fn samples(&mut self, n: usize, rng: &mut ChaCha8Rng) -> Result<Vec<Sample>> {
        if self.sample_pool.is_empty() {
            return Ok(Vec::new());
        }
        let picks: Vec<usize> = (0..n)
            .map(|_| rng.random_range(0..self.sample_pool.len()))
            .collect();
        let pool = std::mem::take(&mut self.sample_pool);
        let items: Vec<&PromptItem> = picks.iter().map(|&i| &pool[i]).collect();
        let result = sample(&mut self.policy, &items, &self.sampling, rng.random());
        let out = result.and_then(|rollout| {
            let outcomes = if items.iter().all(|i| i.target.is_some()) {
                score(&self.reward, &rollout, &items)?
            } else {
                Vec::new()
            };
            Ok(samples(&rollout, &outcomes, &items, n))
        });
        self.sample_pool = pool;
        out
    }
}
