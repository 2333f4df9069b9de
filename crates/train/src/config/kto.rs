//! `[kto]`: Kahneman-Tversky optimisation on unpaired desirable / undesirable completions (TRL
//! `KTOConfig` names).

use serde::{Deserialize, Serialize};

use super::check::{fail, positive, positive_count};
use super::dpo::{MAX_MINED_SAMPLES, default_max_length, default_rejected_samples};
use super::sft::SftTarget;
use crate::Result;
use crate::losses::KtoParams;

/// The `[kto]` table (algorithms.md "KTO").
///
/// Examples come from `[data]`: records with `prompt`/`completion`/`label` (true = desirable) are
/// used as they are, `prompt`/`chosen`/`rejected` records give one example of each kind; a
/// CauGym item gives its worked solution as desirable and a wrong completion (sampled by the
/// starting policy, else a corrupted solution) as undesirable: 1:1 by construction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KtoConfig {
    /// Temperature β of the value function. Default 0.1 (TRL), > 0.
    #[serde(default = "default_beta")]
    pub beta: f64,
    /// λ_D, the weight of desirable examples. Default 1.0 (TRL), > 0. With unbalanced data TRL
    /// advises `desirable_weight * n_D / (undesirable_weight * n_U)` in [1, 4/3].
    #[serde(default = "default_weight")]
    pub desirable_weight: f64,
    /// λ_U, the weight of undesirable examples. Default 1.0 (TRL), > 0.
    #[serde(default = "default_weight")]
    pub undesirable_weight: f64,
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
    /// Compute the reference log-probs (adapters disabled) of every example and of its
    /// mismatched KL completion once before training instead of in every step. Default false
    /// (TRL).
    #[serde(default)]
    pub precompute_ref_log_probs: bool,
    /// Completions sampled per CauGym prompt with the starting policy before training; the first
    /// wrong one becomes the undesirable example. 0 always uses a corrupted worked solution.
    /// Default 4, <= 64.
    #[serde(default = "default_rejected_samples")]
    pub undesirable_samples: usize,
}

fn default_completion() -> SftTarget {
    SftTarget::Solution
}
fn default_beta() -> f64 {
    0.1
}
fn default_weight() -> f64 {
    1.0
}

impl Default for KtoConfig {
    fn default() -> Self {
        Self {
            beta: default_beta(),
            desirable_weight: default_weight(),
            undesirable_weight: default_weight(),
            max_length: default_max_length(),
            precompute_ref_log_probs: false,
            completion: default_completion(),
            undesirable_samples: default_rejected_samples(),
        }
    }
}

impl KtoConfig {
    /// Checks the table on its own; the batch rule is in [`super::TrainConfig::validate`].
    pub(crate) fn validate(&self) -> Result<()> {
        positive("kto.beta", self.beta)?;
        positive("kto.desirable_weight", self.desirable_weight)?;
        positive("kto.undesirable_weight", self.undesirable_weight)?;
        positive_count("kto.max_length", self.max_length.saturating_sub(1))
            .map_err(|_| crate::Error::setting("kto.max_length", "must be at least 2"))?;
        if self.undesirable_samples > MAX_MINED_SAMPLES {
            return fail(
                "kto.undesirable_samples",
                format!(
                    "{} is more than {MAX_MINED_SAMPLES}; 4 finds a wrong sample of most prompts",
                    self.undesirable_samples
                ),
            );
        }
        Ok(())
    }

    /// The loss library's parameters.
    pub fn params(&self) -> KtoParams {
        KtoParams {
            beta: self.beta,
            lambda_d: self.desirable_weight,
            lambda_u: self.undesirable_weight,
        }
    }
}
