//! What a rollout returns: completions with their tokens, log-probs and finish reasons, and
//! throughput for logging.

use serde::{Deserialize, Serialize};

/// Why a completion ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model emitted an end-of-sequence token (kept as the last token id).
    Eos,
    /// A stop string appeared (the string is cut from the text).
    Stop(String),
    /// `max_new_tokens` was reached: the completion is truncated.
    Length,
}

/// One sampled completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// Index of its prompt in the request.
    pub prompt_index: usize,
    /// Index within the prompt's group, `0..num_generations`.
    pub sample_index: usize,
    /// Generated token ids, including a final EOS token when it ended on one.
    pub token_ids: Vec<u32>,
    /// Log-prob of each generated token under `log_softmax(logits / T)` (T = 1 when greedy).
    pub logprobs: Vec<f32>,
    /// Decoded text without special tokens and without a matched stop string.
    pub text: String,
    /// Why it ended.
    pub finish: FinishReason,
}

impl Completion {
    /// Number of generated tokens.
    pub fn len(&self) -> usize {
        self.token_ids.len()
    }

    /// Whether no token was generated.
    pub fn is_empty(&self) -> bool {
        self.token_ids.is_empty()
    }

    /// Whether it hit `max_new_tokens` before ending by itself.
    pub fn is_truncated(&self) -> bool {
        self.finish == FinishReason::Length
    }
}

/// Counts and timing of one rollout.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RolloutStats {
    /// Prompts in the request.
    pub prompts: usize,
    /// Completions returned (prompts × num_generations).
    pub completions: usize,
    /// Prompt tokens over all rows (each row prefills its prompt).
    pub prompt_tokens: usize,
    /// Generated tokens over all completions.
    pub generated_tokens: usize,
    /// Wall-clock seconds, prefill included.
    pub seconds: f64,
}

impl RolloutStats {
    /// Generated tokens per wall-clock second.
    pub fn tokens_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.generated_tokens as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// The completions of a request, prompt-major (the G samples of a prompt are contiguous), and
/// its statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    /// `prompts × num_generations` completions.
    pub completions: Vec<Completion>,
    /// Throughput.
    pub stats: RolloutStats,
}

impl Rollout {
    /// The completions of prompt `p`.
    pub fn group(&self, p: usize) -> impl Iterator<Item = &Completion> {
        self.completions.iter().filter(move |c| c.prompt_index == p)
    }
}
