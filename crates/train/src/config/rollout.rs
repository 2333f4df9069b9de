//! `[rollout]`: how completions are sampled (GRPO's groups, the example completions, and the
//! defaults of `caugym eval`). Names follow HF `generate` / vLLM `SamplingParams`.

use serde::{Deserialize, Serialize};

use super::check::{fail, positive_count, within};
use crate::Result;

/// The `[rollout]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutConfig {
    /// Most tokens sampled per completion; a completion stopped here is "truncated" (TRL
    /// `max_completion_length`). Default 512, >= 1.
    #[serde(default = "default_max_new_tokens")]
    pub max_new_tokens: usize,
    /// Softmax temperature; 0 is greedy. Default 1.0 (GRPO explores), in [0, 10]. The trainer's
    /// log-probs use the same temperature, so the policy ratio compares like with like.
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    /// Nucleus sampling mass; 1.0 disables it. Default 1.0, in (0, 1].
    #[serde(default = "default_top_p")]
    pub top_p: f64,
    /// Keep the K most likely tokens; 0 disables it. Default 0.
    #[serde(default)]
    pub top_k: usize,
    /// Drop tokens below `min_p` x the top token's probability; 0 disables it. Default 0.0, in
    /// [0, 1).
    #[serde(default)]
    pub min_p: f64,
    /// Strings that end a completion (kept in the text; the end-of-sequence tokens always stop).
    /// Default none.
    #[serde(default)]
    pub stop: Vec<String>,
    /// Prompts longer than this many tokens are cut from the left (the question is at the end).
    /// Default 2048, >= 1.
    #[serde(default = "default_max_prompt_length")]
    pub max_prompt_length: usize,
}

fn default_max_new_tokens() -> usize {
    512
}
fn default_temperature() -> f64 {
    1.0
}
fn default_top_p() -> f64 {
    1.0
}
fn default_max_prompt_length() -> usize {
    2048
}

impl Default for RolloutConfig {
    fn default() -> Self {
        Self {
            max_new_tokens: default_max_new_tokens(),
            temperature: default_temperature(),
            top_p: default_top_p(),
            top_k: 0,
            min_p: 0.0,
            stop: Vec::new(),
            max_prompt_length: default_max_prompt_length(),
        }
    }
}

impl RolloutConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        positive_count("rollout.max_new_tokens", self.max_new_tokens)?;
        positive_count("rollout.max_prompt_length", self.max_prompt_length)?;
        within("rollout.temperature", self.temperature, 0.0, 10.0)?;
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return fail(
                "rollout.top_p",
                format!(
                    "{} is outside (0, 1]; 1.0 disables nucleus sampling",
                    self.top_p
                ),
            );
        }
        if !(self.min_p >= 0.0 && self.min_p < 1.0) {
            return fail(
                "rollout.min_p",
                format!("{} is outside [0, 1); 0 disables it", self.min_p),
            );
        }
        if let Some(i) = self.stop.iter().position(String::is_empty) {
            return fail(
                format!("rollout.stop[{i}]").as_str(),
                "an empty stop string would end every completion at once; remove it",
            );
        }
        Ok(())
    }
}
