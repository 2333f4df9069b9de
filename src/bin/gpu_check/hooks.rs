//! Hooks for the timings that need the model and rollout crates, which land after the kernels: the lead
//! wires them here, and `gpu_check` prints their rows in the same table.
//!
//! The shape is DeepSeek-R1-Distill-Qwen-14B's (config.json): hidden 5,120, 48 layers, 40 query heads and
//! 8 key/value heads of 128, MLP 13,824, vocabulary 152,064; bf16 weights ≈ 29.5 GB. On an H100 (80 GB)
//! random bf16 weights of the full shape fit for generation; a training step with LoRA fits with
//! recomputation; if not, the hook shrinks `layers` and says so in its row.

use candle_core::Device;

use crate::table::{Status, Table};

/// The 14B shape the hooks build random weights for.
#[allow(dead_code)] // read by the hooks once they are wired
pub struct Shape14B {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub intermediate: usize,
    pub vocab: usize,
}

#[allow(dead_code)]
pub const SHAPE_14B: Shape14B = Shape14B {
    hidden: 5120,
    layers: 48,
    heads: 40,
    kv_heads: 8,
    head_dim: 128,
    intermediate: 13_824,
    vocab: 152_064,
};

/// HOOK(lead): one GRPO micro-batch forward+backward on random weights of [`SHAPE_14B`] (LoRA on, fused
/// log-probs), e.g. 8 sequences × 1,024 tokens: report ms per step, tokens/s and peak GPU memory.
/// Wire with `caugym_model` once it has a random-weight constructor.
pub fn train_step(_device: &Device, table: &mut Table) {
    table.push(
        "14B train step",
        "forward+backward",
        "not wired yet: needs caugym_model (see src/bin/gpu_check/hooks.rs)",
        Status::Skip,
    );
}

/// HOOK(lead): batched generation on random weights of [`SHAPE_14B`], e.g. 64 prompts × 256 new tokens
/// with the rollout crate's KV cache: report tokens/s and ms per decode step.
pub fn generation(_device: &Device, table: &mut Table) {
    table.push(
        "14B generation",
        "batched decode",
        "not wired yet: needs caugym_rollout (see src/bin/gpu_check/hooks.rs)",
        Status::Skip,
    );
}
