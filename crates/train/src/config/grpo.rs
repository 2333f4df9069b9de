//! `[grpo]`: Group Relative Policy Optimisation (Shao et al. 2024) with the DAPO / Dr. GRPO
//! switches; names follow TRL's `GRPOConfig`, or verl where TRL has none.

use serde::{Deserialize, Serialize};

use super::check::{fail, non_negative, positive_count, within};
use crate::Result;
use crate::advantages::AdvScale;
use crate::agg::LossAgg;
use crate::losses::{ClipRange, KlEstimator};

/// The `[grpo]` table (algorithms.md "GRPO").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpoConfig {
    /// Prompts per step (verl `data.train_batch_size`); a step samples
    /// `prompts_per_step * rollout.num_generations` completions (G per prompt, compared within
    /// their group). Default 8, >= 1. The completions must split into whole optimiser updates of
    /// `optim.micro_batch_size * optim.gradient_accumulation_steps`.
    #[serde(default = "default_prompts_per_step")]
    pub prompts_per_step: usize,
    /// μ: optimisation passes over each step's completions (TRL `num_iterations`, verl
    /// `ppo_epochs`). With 1 the ratio is exactly 1 and clipping never acts. Default 1, >= 1.
    #[serde(default = "default_num_iterations")]
    pub num_iterations: usize,
    /// KL-to-reference coefficient β; the reference is the base with adapters disabled, so
    /// β > 0 needs `model.train_mode = "lora"`. Default 0.0 (TRL; verl uses 0.001), >= 0.
    #[serde(default)]
    pub beta: f64,
    /// KL estimator of the β term: `k1`, `k2` or `k3` (verl `low_var_kl`). Default `k3`.
    #[serde(default = "default_kl_estimator")]
    pub kl_estimator: KlEstimator,
    /// Lower clip of the ratio, 1 - ε. Default 0.2, in [0, 1). TRL `epsilon`, verl
    /// `clip_ratio_low`.
    #[serde(default = "default_epsilon")]
    pub epsilon: f64,
    /// Upper clip 1 + ε_high; absent means ε (symmetric). DAPO's clip-higher uses 0.28.
    /// TRL `epsilon_high`, verl `clip_ratio_high`. >= 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon_high: Option<f64>,
    /// Dual-clip constant c > 1 bounding the loss of negative-advantage tokens at -A c
    /// (Ye et al. 2020); absent disables it. verl `clip_ratio_c` (3.0 there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_ratio_c: Option<f64>,
    /// `std`: divide group-centred rewards by the group's std (GRPO); `none`: do not
    /// (Dr. GRPO). Default `std`. TRL `scale_rewards`, verl `norm_adv_by_std_in_grpo`.
    #[serde(default = "default_scale_rewards")]
    pub scale_rewards: AdvScale,
    /// How per-token losses become the batch loss: `token-mean` (DAPO, verl default),
    /// `seq-mean-token-mean` (original GRPO) or `seq-mean-token-sum-norm` (Dr. GRPO, normalised
    /// by `rollout.max_new_tokens`). Default `token-mean`. verl `loss_agg_mode`.
    #[serde(default = "default_loss_agg_mode")]
    pub loss_agg_mode: LossAgg,
    /// Exclude completions cut at `rollout.max_new_tokens` from the loss (they still count in
    /// their group's advantages). Default false (TRL `mask_truncated_completions`, DAPO).
    #[serde(default)]
    pub mask_truncated_completions: bool,
    /// Drop groups whose rewards are all equal (zero advantage, no signal) before the updates;
    /// a step where every group is dropped makes no update. Default false (DAPO dynamic sampling,
    /// without its resampling; verl `filter_groups`).
    #[serde(default)]
    pub filter_zero_std_groups: bool,
}

fn default_prompts_per_step() -> usize {
    8
}
fn default_num_iterations() -> usize {
    1
}
fn default_kl_estimator() -> KlEstimator {
    KlEstimator::K3
}
fn default_epsilon() -> f64 {
    0.2
}
fn default_scale_rewards() -> AdvScale {
    AdvScale::Std
}
fn default_loss_agg_mode() -> LossAgg {
    LossAgg::TokenMean
}

impl Default for GrpoConfig {
    fn default() -> Self {
        Self {
            prompts_per_step: default_prompts_per_step(),
            num_iterations: default_num_iterations(),
            beta: 0.0,
            kl_estimator: default_kl_estimator(),
            epsilon: default_epsilon(),
            epsilon_high: None,
            clip_ratio_c: None,
            scale_rewards: default_scale_rewards(),
            loss_agg_mode: default_loss_agg_mode(),
            mask_truncated_completions: false,
            filter_zero_std_groups: false,
        }
    }
}

impl GrpoConfig {
    /// Checks the table on its own; the batch-layout rule that involves `[optim]` is in
    /// [`super::TrainConfig::validate`].
    pub(crate) fn validate(&self) -> Result<()> {
        positive_count("grpo.prompts_per_step", self.prompts_per_step)?;
        positive_count("grpo.num_iterations", self.num_iterations)?;
        non_negative("grpo.beta", self.beta)?;
        within("grpo.epsilon", self.epsilon, 0.0, 1.0 - f64::EPSILON)?;
        if let Some(e) = self.epsilon_high {
            non_negative("grpo.epsilon_high", e)?;
        }
        if let Some(c) = self.clip_ratio_c
            && !(c.is_finite() && c > 1.0)
        {
            return fail(
                "grpo.clip_ratio_c",
                format!("{c} must be > 1 (verl uses 3.0); remove the key to disable dual clip"),
            );
        }
        Ok(())
    }

    /// The ratio clip of the surrogate.
    pub fn clip_range(&self) -> ClipRange {
        ClipRange {
            eps_low: self.epsilon,
            eps_high: self.epsilon_high.unwrap_or(self.epsilon),
            dual_clip: self.clip_ratio_c,
        }
    }
}
