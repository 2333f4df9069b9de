//! `[ppo]`: Proximal Policy Optimisation with a learned critic and the KL penalty folded into
//! the reward (Ziegler et al. 2019; Ouyang et al. 2022); names follow TRL's `PPOConfig` (its
//! older `adap_kl_ctrl` / `target` / `horizon` for the adaptive controller), or verl where TRL
//! has none.

use serde::{Deserialize, Serialize};

use super::check::{non_negative, positive, positive_count, within};
use crate::Result;
use crate::agg::LossAgg;
use crate::losses::ClipRange;
use crate::ppo::{AdaptiveKl, KlCoef};

/// The `[ppo]` table (algorithms.md "PPO").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PpoConfig {
    /// Prompts per step (verl `data.train_batch_size`); a step samples
    /// `prompts_per_step * rollout.num_generations` completions (PPO usually samples one per
    /// prompt). They must split into whole mini-batches (optimiser updates) of
    /// `optim.micro_batch_size * optim.gradient_accumulation_steps` (verl
    /// `ppo_mini_batch_size`). Default 8, >= 1.
    #[serde(default = "default_prompts_per_step")]
    pub prompts_per_step: usize,
    /// Passes over each step's completions, one optimiser update per mini-batch (TRL
    /// `num_ppo_epochs`, verl `ppo_epochs`). Default 4 (TRL), >= 1.
    #[serde(default = "default_ppo_epochs")]
    pub ppo_epochs: usize,
    /// Discount γ of GAE. Default 1.0 (TRL, verl), in [0, 1].
    #[serde(default = "default_gamma")]
    pub gamma: f64,
    /// λ of GAE. Default 0.95 (TRL; verl 1.0), in [0, 1].
    #[serde(default = "default_lam")]
    pub lam: f64,
    /// Ratio clip ε of the surrogate: `clip(ρ, 1 - ε, 1 + ε)`. Default 0.2 (TRL), in [0, 1).
    #[serde(default = "default_cliprange")]
    pub cliprange: f64,
    /// Value clip c_v: `clip(V, V_old - c_v, V_old + c_v)`. Default 0.2 (TRL; verl 0.5), > 0.
    #[serde(default = "default_cliprange_value")]
    pub cliprange_value: f64,
    /// Weight of the value loss in `policy + vf_coef * value`. Default 0.1 (TRL), >= 0.
    #[serde(default = "default_vf_coef")]
    pub vf_coef: f64,
    /// KL-in-reward coefficient β (the start value when `adap_kl_ctrl`): every completion token
    /// gets `-β (log π_old - log π_ref)`, the reference being the base with adapters disabled.
    /// Default 0.05 (TRL; verl 0.001), >= 0.
    #[serde(default = "default_kl_coef")]
    pub kl_coef: f64,
    /// Adapt β toward `target` with Ziegler et al.'s proportional controller (TRL
    /// `adap_kl_ctrl`, verl `kl_ctrl.type = "adaptive"`); the current β is checkpointed.
    /// Default false.
    #[serde(default)]
    pub adap_kl_ctrl: bool,
    /// KL per sequence (`Σ_t log π_old - log π_ref`, averaged over the batch) the adaptive
    /// controller holds. Default 6.0 (TRL), > 0.
    #[serde(default = "default_target")]
    pub target: f64,
    /// Samples over which the controller corrects its error. Default 10000 (TRL, verl), > 0.
    #[serde(default = "default_horizon")]
    pub horizon: f64,
    /// Whiten the advantages over the step's batch ((A - mean) / sqrt(var + 1e-8)), as TRL
    /// and verl do. Default true.
    #[serde(default = "default_whiten_advantages")]
    pub whiten_advantages: bool,
    /// How per-token policy and value losses become the batch loss: `token-mean` (verl
    /// default), `seq-mean-token-mean` or `seq-mean-token-sum-norm` (normalised by
    /// `rollout.max_new_tokens`). Default `token-mean`. verl `loss_agg_mode`.
    #[serde(default = "default_loss_agg_mode")]
    pub loss_agg_mode: LossAgg,
}

fn default_prompts_per_step() -> usize {
    8
}
fn default_ppo_epochs() -> usize {
    4
}
fn default_gamma() -> f64 {
    1.0
}
fn default_lam() -> f64 {
    0.95
}
fn default_cliprange() -> f64 {
    0.2
}
fn default_cliprange_value() -> f64 {
    0.2
}
fn default_vf_coef() -> f64 {
    0.1
}
fn default_kl_coef() -> f64 {
    0.05
}
fn default_target() -> f64 {
    6.0
}
fn default_horizon() -> f64 {
    10000.0
}
fn default_whiten_advantages() -> bool {
    true
}
fn default_loss_agg_mode() -> LossAgg {
    LossAgg::TokenMean
}

impl Default for PpoConfig {
    fn default() -> Self {
        Self {
            prompts_per_step: default_prompts_per_step(),
            ppo_epochs: default_ppo_epochs(),
            gamma: default_gamma(),
            lam: default_lam(),
            cliprange: default_cliprange(),
            cliprange_value: default_cliprange_value(),
            vf_coef: default_vf_coef(),
            kl_coef: default_kl_coef(),
            adap_kl_ctrl: false,
            target: default_target(),
            horizon: default_horizon(),
            whiten_advantages: default_whiten_advantages(),
            loss_agg_mode: default_loss_agg_mode(),
        }
    }
}

impl PpoConfig {
    /// Checks the table on its own; the rules that involve `[optim]`, `[rollout]` and
    /// `[model]` are in [`super::TrainConfig::validate`].
    pub(crate) fn validate(&self) -> Result<()> {
        positive_count("ppo.prompts_per_step", self.prompts_per_step)?;
        positive_count("ppo.ppo_epochs", self.ppo_epochs)?;
        within("ppo.gamma", self.gamma, 0.0, 1.0)?;
        within("ppo.lam", self.lam, 0.0, 1.0)?;
        within("ppo.cliprange", self.cliprange, 0.0, 1.0 - f64::EPSILON)?;
        positive("ppo.cliprange_value", self.cliprange_value)?;
        non_negative("ppo.vf_coef", self.vf_coef)?;
        non_negative("ppo.kl_coef", self.kl_coef)?;
        positive("ppo.target", self.target)?;
        positive("ppo.horizon", self.horizon)?;
        Ok(())
    }

    /// The ratio clip of the surrogate (symmetric, no dual clip).
    pub fn clip_range(&self) -> ClipRange {
        ClipRange::symmetric(self.cliprange)
    }

    /// The KL-in-reward coefficient at the start of the run.
    pub fn kl_controller(&self) -> Result<KlCoef> {
        Ok(if self.adap_kl_ctrl {
            KlCoef::Adaptive(AdaptiveKl::new(self.kl_coef, self.target, self.horizon)?)
        } else {
            KlCoef::Fixed(self.kl_coef)
        })
    }
}
