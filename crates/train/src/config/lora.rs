//! `[lora]`: the adapter trained when `model.train_mode = "lora"`, with PEFT's key names
//! (defaults of TRL's `ModelConfig`).

use caugym_model::{LoraConfig, TargetModules};
use serde::{Deserialize, Serialize};

use super::check::{fail, positive_count};
use crate::Result;

/// The `[lora]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraSection {
    /// Rank of A (r x in) and B (out x r). Default 16 (TRL `lora_r`), >= 1.
    #[serde(default = "default_r")]
    pub r: usize,
    /// Scale numerator: the update is (lora_alpha / r) B A x. Default 32 (TRL), > 0.
    #[serde(default = "default_lora_alpha")]
    pub lora_alpha: f64,
    /// Dropout on the adapter's input while training. Default 0.05 (TRL), in [0, 1).
    #[serde(default = "default_lora_dropout")]
    pub lora_dropout: f64,
    /// Scale by lora_alpha / sqrt(r) instead (rsLoRA, Kalajdzievski 2023). Default false.
    #[serde(default)]
    pub use_rslora: bool,
    /// Adapted projections: a list of `q_proj`, `k_proj`, `v_proj`, `o_proj`, `gate_proj`,
    /// `up_proj`, `down_proj`, or `"all-linear"`. Default `"all-linear"`.
    #[serde(default = "default_target_modules")]
    pub target_modules: TargetModules,
    /// Decoder layers to adapt (0-based); absent adapts every layer. Default: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers_to_transform: Option<Vec<usize>>,
}

fn default_r() -> usize {
    16
}
fn default_lora_alpha() -> f64 {
    32.0
}
fn default_lora_dropout() -> f64 {
    0.05
}
fn default_target_modules() -> TargetModules {
    TargetModules::AllLinear
}

impl Default for LoraSection {
    fn default() -> Self {
        Self {
            r: default_r(),
            lora_alpha: default_lora_alpha(),
            lora_dropout: default_lora_dropout(),
            use_rslora: false,
            target_modules: default_target_modules(),
            layers_to_transform: None,
        }
    }
}

impl LoraSection {
    pub(crate) fn validate(&self) -> Result<()> {
        positive_count("lora.r", self.r)?;
        if !(self.lora_alpha.is_finite() && self.lora_alpha > 0.0) {
            return fail(
                "lora.lora_alpha",
                format!("{} must be > 0", self.lora_alpha),
            );
        }
        if !(0.0..1.0).contains(&self.lora_dropout) {
            return fail(
                "lora.lora_dropout",
                format!("{} is outside [0, 1)", self.lora_dropout),
            );
        }
        if self.target_modules.resolve().is_empty() {
            return fail(
                "lora.target_modules",
                "selects no module; list some of q_proj, k_proj, v_proj, o_proj, gate_proj, \
                 up_proj, down_proj, or use \"all-linear\"",
            );
        }
        Ok(())
    }

    /// The model crate's adapter config (layer indices are checked against the model there).
    pub fn lora_config(&self) -> LoraConfig {
        LoraConfig {
            r: self.r,
            alpha: self.lora_alpha,
            dropout: self.lora_dropout,
            use_rslora: self.use_rslora,
            target_modules: self.target_modules.clone(),
            layers_to_transform: self.layers_to_transform.clone(),
        }
    }
}
