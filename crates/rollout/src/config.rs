//! What a rollout samples: the `[rollout]` table of a training config, and the `generate` and
//! `eval` commands' sampling flags.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sampling::SamplingParams;

/// Settings of one batched sampling call.
///
/// The sampling fields sit flat in the table (as TRL and verl name them) rather than in a nested
/// `SamplingParams`, because serde cannot combine `flatten` with `deny_unknown_fields` and a
/// misspelt key must be an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerationConfig {
    /// Completions sampled per prompt (GRPO's G, TRL `num_generations`, verl `rollout.n`).
    /// Default 1; at least 1.
    #[serde(default = "default_num_generations")]
    pub num_generations: usize,
    /// Most tokens generated per completion (TRL `max_completion_length`). Default 512.
    #[serde(default = "default_max_new_tokens")]
    pub max_new_tokens: usize,
    /// Softmax temperature; 0 means greedy. Default 1.0 (GRPO samples at 1.0).
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    /// Nucleus sampling mass in (0, 1]; 1 disables it. Default 1.0.
    #[serde(default = "default_top_p")]
    pub top_p: f64,
    /// Keep only the k most likely tokens; 0 disables it. Default 0.
    #[serde(default)]
    pub top_k: usize,
    /// Drop tokens below `min_p` × the top token's probability; 0 disables it. Default 0.
    #[serde(default)]
    pub min_p: f64,
    /// Strings that end a completion (not included in its text; the token that completes one
    /// is kept in the token ids). EOS tokens from the tokenizer's config always stop. Default none.
    #[serde(default)]
    pub stop: Vec<String>,
    /// Rows (prompt × sample) decoded together in one batch; bounds KV-cache memory.
    /// Default 64.
    #[serde(default = "default_max_batch_rows")]
    pub max_batch_rows: usize,
}

fn default_num_generations() -> usize {
    1
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
fn default_max_batch_rows() -> usize {
    64
}

impl Default for GenerationConfig {
    fn default() -> Self {
        Self {
            num_generations: default_num_generations(),
            max_new_tokens: default_max_new_tokens(),
            temperature: default_temperature(),
            top_p: default_top_p(),
            top_k: 0,
            min_p: 0.0,
            stop: Vec::new(),
            max_batch_rows: default_max_batch_rows(),
        }
    }
}

impl GenerationConfig {
    /// The next-token selection part.
    pub fn sampling(&self) -> SamplingParams {
        SamplingParams {
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: self.top_k,
            min_p: self.min_p,
        }
    }

    /// Checks every field, naming the offending one.
    pub fn validate(&self) -> Result<()> {
        self.sampling().validate()?;
        let positive = [
            ("num_generations", self.num_generations),
            ("max_new_tokens", self.max_new_tokens),
            ("max_batch_rows", self.max_batch_rows),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(Error::Param {
                    field,
                    reason: "must be at least 1".into(),
                });
            }
        }
        Ok(())
    }
}
