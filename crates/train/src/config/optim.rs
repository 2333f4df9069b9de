//! `[optim]`: AdamW, the learning-rate schedule, clipping, batch layout and run length
//! (TRL `TrainingArguments` names where they exist).

use serde::{Deserialize, Serialize};

use super::check::{fail, non_negative, positive, positive_count, within};
use crate::Result;
use crate::optim::AdamWConfig;
use crate::schedule::{LrDecay, LrSchedule};

/// The `[optim]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    /// Peak learning rate after warmup. Default 1e-5, > 0. Typical: LoRA 1e-4 (SFT),
    /// 1e-5..3e-5 (GRPO); full fine-tuning 2e-5 (SFT), 1e-6 (GRPO) (algorithms.md).
    #[serde(default = "default_learning_rate")]
    pub learning_rate: f64,
    /// Decoupled AdamW weight decay. Default 0.0 (LoRA); 0.01 is usual for full fine-tuning.
    /// >= 0.
    #[serde(default = "default_weight_decay")]
    pub weight_decay: f64,
    /// AdamW first-moment decay. Default 0.9, in [0, 1).
    #[serde(default = "default_adam_beta1")]
    pub adam_beta1: f64,
    /// AdamW second-moment decay. Default 0.999, in [0, 1).
    #[serde(default = "default_adam_beta2")]
    pub adam_beta2: f64,
    /// AdamW denominator epsilon. Default 1e-8, in (0, 1].
    #[serde(default = "default_adam_epsilon")]
    pub adam_epsilon: f64,
    /// Global L2 gradient-norm clip applied to the accumulated gradient of each optimiser
    /// update (PyTorch `clip_grad_norm_`). Default 1.0, > 0.
    #[serde(default = "default_max_grad_norm")]
    pub max_grad_norm: f64,
    /// What follows the warmup: `cosine` (to `min_lr_ratio` x peak at `max_steps`) or
    /// `constant`. Default `cosine`.
    #[serde(default = "default_lr_scheduler_type")]
    pub lr_scheduler_type: LrDecay,
    /// Steps of linear warmup from 0 to the peak. Default 0, <= max_steps.
    #[serde(default)]
    pub warmup_steps: u64,
    /// Floor of the cosine as a fraction of the peak. Default 0.0, in [0, 1].
    #[serde(default)]
    pub min_lr_ratio: f64,
    /// Sequences per forward/backward pass (TRL `per_device_train_batch_size`, verl
    /// `ppo_micro_batch_size_per_gpu`): bounds memory, not the result. Default 4, >= 1.
    #[serde(default = "default_micro_batch_size")]
    pub micro_batch_size: usize,
    /// Micro-batches accumulated into one optimiser update; one update sees
    /// `micro_batch_size * gradient_accumulation_steps` sequences (SFT examples, GRPO
    /// completions), with the loss normalised over all of them. Default 1, >= 1.
    #[serde(default = "default_gradient_accumulation_steps")]
    pub gradient_accumulation_steps: usize,
    /// Training steps of the run (SFT: optimiser updates; GRPO: rollout batches, each followed
    /// by its optimiser updates, as verl counts). The schedule ends here. Default 100, >= 1.
    #[serde(default = "default_max_steps")]
    pub max_steps: u64,
}

fn default_learning_rate() -> f64 {
    1e-5
}
fn default_weight_decay() -> f64 {
    0.0
}
fn default_adam_beta1() -> f64 {
    0.9
}
fn default_adam_beta2() -> f64 {
    0.999
}
fn default_adam_epsilon() -> f64 {
    1e-8
}
fn default_max_grad_norm() -> f64 {
    1.0
}
fn default_lr_scheduler_type() -> LrDecay {
    LrDecay::Cosine
}
fn default_micro_batch_size() -> usize {
    4
}
fn default_gradient_accumulation_steps() -> usize {
    1
}
fn default_max_steps() -> u64 {
    100
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            learning_rate: default_learning_rate(),
            weight_decay: default_weight_decay(),
            adam_beta1: default_adam_beta1(),
            adam_beta2: default_adam_beta2(),
            adam_epsilon: default_adam_epsilon(),
            max_grad_norm: default_max_grad_norm(),
            lr_scheduler_type: default_lr_scheduler_type(),
            warmup_steps: 0,
            min_lr_ratio: 0.0,
            micro_batch_size: default_micro_batch_size(),
            gradient_accumulation_steps: default_gradient_accumulation_steps(),
            max_steps: default_max_steps(),
        }
    }
}

impl OptimConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        positive("optim.learning_rate", self.learning_rate)?;
        non_negative("optim.weight_decay", self.weight_decay)?;
        within("optim.adam_beta1", self.adam_beta1, 0.0, 1.0 - f64::EPSILON)?;
        within("optim.adam_beta2", self.adam_beta2, 0.0, 1.0 - f64::EPSILON)?;
        if !(self.adam_epsilon > 0.0 && self.adam_epsilon <= 1.0) {
            return fail(
                "optim.adam_epsilon",
                format!("{} is outside (0, 1]", self.adam_epsilon),
            );
        }
        positive("optim.max_grad_norm", self.max_grad_norm)?;
        within("optim.min_lr_ratio", self.min_lr_ratio, 0.0, 1.0)?;
        positive_count("optim.micro_batch_size", self.micro_batch_size)?;
        positive_count(
            "optim.gradient_accumulation_steps",
            self.gradient_accumulation_steps,
        )?;
        if self.max_steps == 0 {
            return fail("optim.max_steps", "must be at least 1");
        }
        if self.warmup_steps > self.max_steps {
            return fail(
                "optim.warmup_steps",
                format!(
                    "{} exceeds optim.max_steps ({}); lower it",
                    self.warmup_steps, self.max_steps
                ),
            );
        }
        Ok(())
    }

    /// Sequences per optimiser update.
    pub fn update_batch_size(&self) -> usize {
        self.micro_batch_size * self.gradient_accumulation_steps
    }

    /// The AdamW hyper-parameters.
    pub fn adamw(&self) -> AdamWConfig {
        AdamWConfig {
            beta1: self.adam_beta1,
            beta2: self.adam_beta2,
            eps: self.adam_epsilon,
            weight_decay: self.weight_decay,
            allow_missing: false,
        }
    }

    /// The learning-rate schedule over `max_steps`.
    pub fn schedule(&self) -> Result<LrSchedule> {
        LrSchedule::new(
            self.learning_rate,
            self.warmup_steps,
            self.max_steps,
            self.lr_scheduler_type,
            self.min_lr_ratio,
        )
    }
}
