//! `[dpo]`: direct preference optimisation on chosen / rejected pairs (TRL `DPOConfig` names).

use serde::{Deserialize, Serialize};

use super::check::{fail, positive, positive_count, within};
use super::sft::SftTarget;
use crate::Result;
use crate::losses::DpoLoss;

/// The `[dpo]` table (algorithms.md "DPO").
///
/// Pairs come from `[data]`: records with `prompt`/`chosen`/`rejected` are used as they are; a
/// CauGym item (a `problem` with its worked `solution` and `answer`) becomes chosen = the worked
/// solution, rejected = a wrong completion the starting policy samples itself
/// (`rejected_samples` per prompt, scored by the reward crate), else a corrupted solution whose
/// final answer is wrong.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpoConfig {
    /// Temperature β of the implicit reward `β (logp - ref)`; IPO's τ. Default 0.1 (TRL), > 0.
    #[serde(default = "default_beta")]
    pub beta: f64,
    /// `sigmoid` (DPO, Rafailov et al. 2023), `ipo` (Azar et al. 2023) or `hinge` (SLiC).
    /// Default `sigmoid` (TRL `loss_type`).
    #[serde(default = "default_loss_type")]
    pub loss_type: DpoLossType,
    /// Assumed probability ε that a preference label is flipped (conservative DPO / robust label
    /// smoothing); `sigmoid` only. Default 0.0 (TRL), in [0, 0.5).
    #[serde(default)]
    pub label_smoothing: f64,
    /// Longest prompt + completion in tokens; longer sequences lose the end of their completion.
    /// Default 1024 (TRL), >= 2.
    #[serde(default = "default_max_length")]
    pub max_length: usize,
    /// What a CauGym item's chosen (desirable) and corrupted rejected completions are:
    /// `solution`, the worked solution ending in `Answer: {json}`; or `answer`, that final line
    /// alone (for a policy trained on bare answers, as `sft.completion = "answer"`). Records'
    /// own completions are used as they are. Default `solution`.
    #[serde(default = "default_completion")]
    pub completion: SftTarget,
    /// Compute the reference log-probs (the base model, adapters disabled) of every pair once
    /// before training instead of in every step: one extra pass over the data up front, none
    /// during training. The loss is the same either way. Default false (TRL).
    #[serde(default)]
    pub precompute_ref_log_probs: bool,
    /// Completions sampled per CauGym prompt with the starting policy (`[rollout]` settings,
    /// its `num_generations` replaced by this) before training; the first wrong one becomes the
    /// rejected completion. 0 always uses a corrupted worked solution. Default 4, <= 64.
    #[serde(default = "default_rejected_samples")]
    pub rejected_samples: usize,
}

/// TRL's `loss_type` names of the DPO family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DpoLossType {
    /// `-log σ(β h)`, with label smoothing.
    Sigmoid,
    /// `(h / len - 1/(2β))²`.
    Ipo,
    /// `relu(1 - β h)`.
    Hinge,
}

fn default_completion() -> SftTarget {
    SftTarget::Solution
}
fn default_beta() -> f64 {
    0.1
}
fn default_loss_type() -> DpoLossType {
    DpoLossType::Sigmoid
}
pub(super) fn default_max_length() -> usize {
    1024
}
pub(super) fn default_rejected_samples() -> usize {
    4
}

/// The most own samples per prompt a preference run mines (a guard against typos such as 400).
pub(super) const MAX_MINED_SAMPLES: usize = 64;

impl Default for DpoConfig {
    fn default() -> Self {
        Self {
            beta: default_beta(),
            loss_type: default_loss_type(),
            label_smoothing: 0.0,
            max_length: default_max_length(),
            precompute_ref_log_probs: false,
            completion: default_completion(),
            rejected_samples: default_rejected_samples(),
        }
    }
}

impl DpoConfig {
    /// Checks the table on its own; the rules involving other tables are in
    /// [`super::TrainConfig::validate`].
    pub(crate) fn validate(&self) -> Result<()> {
        positive("dpo.beta", self.beta)?;
        within(
            "dpo.label_smoothing",
            self.label_smoothing,
            0.0,
            0.5 - f64::EPSILON,
        )?;
        if self.label_smoothing > 0.0 && self.loss_type != DpoLossType::Sigmoid {
            return fail(
                "dpo.label_smoothing",
                "label smoothing applies to loss_type = \"sigmoid\" only; set it to 0.0",
            );
        }
        positive_count("dpo.max_length", self.max_length.saturating_sub(1))
            .map_err(|_| crate::Error::setting("dpo.max_length", "must be at least 2"))?;
        if self.rejected_samples > MAX_MINED_SAMPLES {
            return fail(
                "dpo.rejected_samples",
                format!(
                    "{} is more than {MAX_MINED_SAMPLES}; 4 finds a wrong sample of most prompts",
                    self.rejected_samples
                ),
            );
        }
        Ok(())
    }

    /// The loss library's loss of this table.
    pub fn loss(&self) -> DpoLoss {
        match self.loss_type {
            DpoLossType::Sigmoid => DpoLoss::Sigmoid {
                label_smoothing: self.label_smoothing,
            },
            DpoLossType::Ipo => DpoLoss::Ipo,
            DpoLossType::Hinge => DpoLoss::Hinge,
        }
    }
}
