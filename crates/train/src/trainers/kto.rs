//! KTO (Ethayarajh et al. 2024) on the shared runner (algorithms.md "KTO").
//!
//! Before training: the examples are built ([`super::prefs`]; a CauGym item gives its worked
//! solution as desirable and the starting policy's own wrong sample, else a corrupted solution,
//! as undesirable: 1:1), each gets its fixed mismatched KL completion (the next example's with a
//! different prompt, as TRL builds its KL dataset once), and with
//! `kto.precompute_ref_log_probs` the reference log-probs of both are computed once with
//! adapters disabled. A step is one optimiser update over `micro_batch_size x
//! gradient_accumulation_steps` examples; a micro-batch runs its `B` example rows and `B`
//! mismatched rows in one forward, and its reference point z0 is the clamped mean of the
//! mismatched log-ratios (TRL computes it per micro-batch too).

use std::path::Path;

use candle_core::{DType, Tensor};
use caugym_model::Batch;
use caugym_reward::CausalReward;
use rand_chacha::ChaCha8Rng;

use super::collate::Row;
use super::examples::Example;
use super::order::EpochOrder;
use super::policy::Policy;
use super::prefs::{
    KtoExample, PairedBatch, answer_check, encode_row, kto_examples, mine_wrong, mismatched,
    paired_batch, reference_logps, source_metrics,
};
use super::prompts::PromptStyle;
use crate::Result;
use crate::config::{KtoConfig, TrainConfig};
use crate::losses::{KtoBatch, KtoParams, kto};
use crate::metrics::{Metrics, Reduce};
use crate::params::NamedVar;
use crate::runner::{Method, Round, Update, derive_seed};

/// Mean summed log-prob of the micro-batch's desirable completions under the policy.
pub const LOGPS_DESIRABLE: &str = "logps/desirable";
/// Mean summed log-prob of its undesirable completions.
pub const LOGPS_UNDESIRABLE: &str = "logps/undesirable";

/// One KTO micro-batch: `B` example rows then their `B` mismatched rows.
pub struct KtoMicro {
    batch: Batch,
    mask: Tensor,
    reference: Tensor,
    ref_mismatched: Tensor,
    desirable: Tensor,
    /// Examples in the whole update (the loss's normaliser).
    update_examples: usize,
    index: u64,
}

/// The KTO method.
pub struct Kto {
    policy: Policy,
    examples: Vec<KtoExample>,
    /// Per example: its own row and its mismatched row (its prompt, another's completion).
    rows: Vec<(Row, Row)>,
    /// `[own, mismatched]` reference sums per example, when precomputed.
    reference: Option<Vec<[f32; 2]>>,
    order: EpochOrder,
    micro_batch_size: usize,
    accumulation: usize,
    params: KtoParams,
    seed: u64,
    step: u64,
    data_metrics: Metrics,
}

impl Kto {
    /// Builds the examples of `train` (mining the policy's own wrong samples first), their
    /// mismatched pairs and rows and, when configured, the reference.
    pub fn new(
        cfg: &TrainConfig,
        k: &KtoConfig,
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
            k.undesirable_samples,
            &reward,
            cfg.seed,
        )?;
        let examples = kto_examples(train, &own, &answer_check(&cfg.reward)?, k.completion)?;
        let prompts: Vec<&str> = examples.iter().map(|e| e.prompt.as_str()).collect();
        let other = mismatched(&prompts)?;
        let rows = examples
            .iter()
            .zip(&other)
            .map(|(e, &j)| {
                let row = |c: &str| {
                    encode_row(
                        &policy,
                        &style,
                        &e.prompt,
                        c,
                        k.max_length,
                        "kto.max_length",
                        &e.id,
                    )
                };
                Ok((row(&e.completion)?, row(&examples[j].completion)?))
            })
            .collect::<Result<Vec<_>>>()?;
        let micro_batch_size = cfg.optim.micro_batch_size;
        let reference = if k.precompute_ref_log_probs {
            let flat: Vec<Row> = rows
                .iter()
                .flat_map(|(a, b)| [a.clone(), b.clone()])
                .collect();
            let sums = reference_logps(&policy, &flat, 2 * micro_batch_size)?;
            Some(sums.chunks(2).map(|s| [s[0], s[1]]).collect())
        } else {
            None
        };
        let undesirable = examples.iter().filter(|e| !e.desirable);
        let mut data_metrics = source_metrics(undesirable.map(|e| &e.source));
        let d = examples.iter().filter(|e| e.desirable).count();
        data_metrics.insert_named(
            "data/desirable_frac",
            Reduce::Mean,
            d as f64 / examples.len() as f64,
        );
        Ok(Self {
            order: EpochOrder::new(cfg.seed, rows.len()),
            examples,
            rows,
            reference,
            policy,
            micro_batch_size,
            accumulation: cfg.optim.gradient_accumulation_steps,
            params: k.params(),
            seed: cfg.seed,
            step: 0,
            data_metrics,
        })
    }

    /// The trained policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The training examples.
    pub fn examples(&self) -> &[KtoExample] {
        &self.examples
    }

    fn micro(&self, picks: &[usize], update_examples: usize, index: u64) -> Result<KtoMicro> {
        let b = picks.len();
        let dev = self.policy.device();
        let PairedBatch {
            batch,
            mask,
            reference,
            ..
        } = paired_batch(&self.policy, &self.rows, self.reference.as_deref(), picks)?;
        let desirable: Vec<f32> = picks
            .iter()
            .map(|&i| f32::from(u8::from(self.examples[i].desirable)))
            .collect();
        Ok(KtoMicro {
            reference: reference.narrow(0, 0, b)?,
            ref_mismatched: reference.narrow(0, b, b)?,
            desirable: Tensor::from_vec(desirable, b, dev)?,
            batch,
            mask,
            update_examples,
            index,
        })
    }
}

impl Method for Kto {
    type Micro = KtoMicro;

    fn params(&self) -> Result<Vec<NamedVar>> {
        self.policy.params()
    }

    fn next_round(&mut self, step: u64, _rng: &mut ChaCha8Rng) -> Result<Round<KtoMicro>> {
        self.step = step;
        let per_update = self.micro_batch_size * self.accumulation;
        let picks = self.order.for_step(step, per_update);
        let micro_batches = picks
            .chunks(self.micro_batch_size)
            .enumerate()
            .map(|(i, chunk)| self.micro(chunk, per_update, i as u64))
            .collect::<Result<Vec<_>>>()?;
        // Tokens trained on: the examples' own rows (the mismatched rows only set z0).
        let mut tokens = 0usize;
        for m in &micro_batches {
            let b = m.desirable.dim(0)?;
            tokens += m.mask.narrow(0, 0, b)?.sum_all()?.to_scalar::<f32>()? as usize;
        }
        Ok(Round {
            updates: vec![Update {
                micro_batches,
                tokens,
            }],
            metrics: self.data_metrics.clone(),
        })
    }

    fn micro_loss(&mut self, m: &KtoMicro) -> Result<(Tensor, Metrics)> {
        self.policy
            .model
            .set_dropout_seed(derive_seed(self.seed, self.step, m.index));
        let logps = self
            .policy
            .sequence_logps(&m.batch, &m.mask, self.policy.active())?;
        let b = m.desirable.dim(0)?;
        let (own, other) = (logps.narrow(0, 0, b)?, logps.narrow(0, b, b)?);
        let batch = KtoBatch {
            policy: &own,
            reference: &m.reference,
            policy_mismatched: &other,
            ref_mismatched: &m.ref_mismatched,
            desirable: &m.desirable,
        };
        let (loss, mut metrics) = kto(&batch, &self.params, m.update_examples)?;
        let values = own.detach().to_dtype(DType::F64)?.to_vec1::<f64>()?;
        let kinds = m.desirable.to_vec1::<f32>()?;
        for (name, want) in [(LOGPS_DESIRABLE, 1.0f32), (LOGPS_UNDESIRABLE, 0.0)] {
            let picked: Vec<f64> = values
                .iter()
                .zip(&kinds)
                .filter(|(_, k)| **k == want)
                .map(|(v, _)| *v)
                .collect();
            if !picked.is_empty() {
                let mean = picked.iter().sum::<f64>() / picked.len() as f64;
                metrics.insert_named(name, Reduce::Mean, mean);
            }
        }
        Ok((loss, metrics))
    }

    fn export(&self, dir: &Path) -> Result<()> {
        self.policy.export(dir)
    }
}
