//! DPO (Rafailov et al. 2023) and its IPO / hinge variants on the shared runner
//! (algorithms.md "DPO").
//!
//! Before training: the pairs are built ([`super::prefs`]; CauGym items get the starting
//! policy's own wrong sample or a corrupted solution as rejected) and, with
//! `dpo.precompute_ref_log_probs`, the reference log-probs of every pair are computed once with
//! adapters disabled. A step is one optimiser update over `micro_batch_size x
//! gradient_accumulation_steps` pairs in epoch order; each micro-batch runs chosen and rejected
//! rows in one forward (TRL's concatenated forward), the reference on the fly (adapters
//! disabled, before the update) unless precomputed.

use std::path::Path;

use candle_core::Tensor;
use caugym_model::Batch;
use rand_chacha::ChaCha8Rng;

use super::collate::Row;
use super::examples::Example;
use super::order::EpochOrder;
use super::policy::Policy;
use super::prefs::{
    PairedBatch, PrefPair, answer_check, dpo_pairs, encode_row, mine_wrong, paired_batch,
    reference_logps, source_metrics,
};
use super::prompts::PromptStyle;
use crate::Result;
use crate::config::{DpoConfig, TrainConfig};
use crate::losses::{DpoBatch, DpoLoss, dpo};
use crate::metrics::Metrics;
use crate::params::NamedVar;
use crate::runner::{Method, Round, Update, derive_seed};
use caugym_reward::CausalReward;

/// One DPO micro-batch: `B` chosen rows then their `B` rejected rows.
pub struct DpoMicro {
    batch: Batch,
    mask: Tensor,
    ref_chosen: Tensor,
    ref_rejected: Tensor,
    lengths: (Tensor, Tensor),
    /// Pairs in the whole update (the loss's normaliser).
    update_pairs: usize,
    index: u64,
}

/// The DPO method.
pub struct Dpo {
    policy: Policy,
    pairs: Vec<PrefPair>,
    rows: Vec<(Row, Row)>,
    /// `[chosen, rejected]` reference sums per pair, when precomputed.
    reference: Option<Vec<[f32; 2]>>,
    order: EpochOrder,
    micro_batch_size: usize,
    accumulation: usize,
    loss: DpoLoss,
    beta: f64,
    seed: u64,
    step: u64,
    data_metrics: Metrics,
}

impl Dpo {
    /// Builds the pairs of `train` (mining the policy's own wrong samples first), tokenises
    /// them and, when configured, precomputes the reference.
    pub fn new(
        cfg: &TrainConfig,
        d: &DpoConfig,
        mut policy: Policy,
        train: &[Example],
    ) -> Result<Self> {
        let style = PromptStyle::of(&cfg.data);
        let reward = CausalReward::new(cfg.reward.clone())?;
        let own = mine_wrong(
            &mut policy,
            train,
            &style,
            &cfg.rollout,
            d.rejected_samples,
            &reward,
            cfg.seed,
        )?;
        let pairs = dpo_pairs(train, &own, &answer_check(&cfg.reward)?, d.completion)?;
        if pairs.is_empty() {
            return Err(crate::Error::setting("data", "no training pairs"));
        }
        let rows = pairs
            .iter()
            .map(|p| {
                let row = |c: &str| {
                    encode_row(
                        &policy,
                        &style,
                        &p.prompt,
                        c,
                        d.max_length,
                        "dpo.max_length",
                        &p.id,
                    )
                };
                Ok((row(&p.chosen)?, row(&p.rejected)?))
            })
            .collect::<Result<Vec<_>>>()?;
        let micro_batch_size = cfg.optim.micro_batch_size;
        let reference = if d.precompute_ref_log_probs {
            let flat: Vec<Row> = rows
                .iter()
                .flat_map(|(c, r)| [c.clone(), r.clone()])
                .collect();
            let sums = reference_logps(&policy, &flat, 2 * micro_batch_size)?;
            Some(sums.chunks(2).map(|s| [s[0], s[1]]).collect())
        } else {
            None
        };
        Ok(Self {
            order: EpochOrder::new(cfg.seed, rows.len()),
            data_metrics: source_metrics(pairs.iter().map(|p| &p.source)),
            pairs,
            rows,
            reference,
            policy,
            micro_batch_size,
            accumulation: cfg.optim.gradient_accumulation_steps,
            loss: d.loss(),
            beta: d.beta,
            seed: cfg.seed,
            step: 0,
        })
    }

    /// The trained policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The training pairs.
    pub fn pairs(&self) -> &[PrefPair] {
        &self.pairs
    }

    /// The micro-batch of pairs `picks`.
    fn micro(&self, picks: &[usize], update_pairs: usize, index: u64) -> Result<DpoMicro> {
        let b = picks.len();
        let dev = self.policy.device();
        let PairedBatch {
            rows,
            batch,
            mask,
            reference,
        } = paired_batch(&self.policy, &self.rows, self.reference.as_deref(), picks)?;
        let lens: Vec<f32> = rows.iter().map(|r| r.completion.len() as f32).collect();
        let lens = Tensor::from_vec(lens, 2 * b, dev)?;
        Ok(DpoMicro {
            ref_chosen: reference.narrow(0, 0, b)?,
            ref_rejected: reference.narrow(0, b, b)?,
            lengths: (lens.narrow(0, 0, b)?, lens.narrow(0, b, b)?),
            batch,
            mask,
            update_pairs,
            index,
        })
    }
}

impl Method for Dpo {
    type Micro = DpoMicro;

    fn params(&self) -> Result<Vec<NamedVar>> {
        self.policy.params()
    }

    fn next_round(&mut self, step: u64, _rng: &mut ChaCha8Rng) -> Result<Round<DpoMicro>> {
        self.step = step;
        let per_update = self.micro_batch_size * self.accumulation;
        let picks = self.order.for_step(step, per_update);
        let micro_batches = picks
            .chunks(self.micro_batch_size)
            .enumerate()
            .map(|(i, chunk)| self.micro(chunk, per_update, i as u64))
            .collect::<Result<Vec<_>>>()?;
        let tokens = micro_batches
            .iter()
            .map(|m| m.mask.sum_all()?.to_scalar::<f32>())
            .sum::<candle_core::Result<f32>>()? as usize;
        Ok(Round {
            updates: vec![Update {
                micro_batches,
                tokens,
            }],
            metrics: self.data_metrics.clone(),
        })
    }

    fn micro_loss(&mut self, m: &DpoMicro) -> Result<(Tensor, Metrics)> {
        self.policy
            .model
            .set_dropout_seed(derive_seed(self.seed, self.step, m.index));
        let logps = self
            .policy
            .sequence_logps(&m.batch, &m.mask, self.policy.active())?;
        let b = m.ref_chosen.dim(0)?;
        let (chosen, rejected) = (logps.narrow(0, 0, b)?, logps.narrow(0, b, b)?);
        let batch = DpoBatch {
            policy_chosen: &chosen,
            policy_rejected: &rejected,
            ref_chosen: &m.ref_chosen,
            ref_rejected: &m.ref_rejected,
            lengths: Some((&m.lengths.0, &m.lengths.1)),
        };
        dpo(&batch, self.loss, self.beta, m.update_pairs)
    }

    fn export(&self, dir: &Path) -> Result<()> {
        self.policy.export(dir)
    }
}
