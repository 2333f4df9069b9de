//! Batched, seeded sampling of groups of completions per prompt.
//!
//! - [`sampling`]: next-token selection from one row of logits (greedy, temperature, top-k,
//!   top-p, min-p) with the token's log-prob;
//! - [`config`]: [`GenerationConfig`], the `[rollout]` table of a training config;
//! - [`engine`]: [`generate`], G completions per prompt on the model's KV cache;
//! - [`output`]: [`Completion`], [`FinishReason`], [`Rollout`], [`RolloutStats`].

pub mod config;
pub mod engine;
mod error;
pub mod output;
pub mod sampling;

pub use config::GenerationConfig;
pub use engine::{generate, row_seed};
pub use error::{Error, Result};
pub use output::{Completion, FinishReason, Rollout, RolloutStats};
pub use sampling::{Sampled, SamplingParams, Scratch};
