//! caugym-model: a trainable Qwen2 on candle.
//!
//! - [`config`]: `Qwen2Config` from HF config.json, with presets.
//! - [`qwen2`]: the architecture; a differentiable training forward over padded batches.
//! - [`checkpoint`]: activation checkpointing per decoder layer (recompute in the backward).
//! - [`lora`], [`linear`], [`adapters`]: LoRA layers, several named adapters on one frozen base,
//!   `AdapterMode::Disabled` as the reference model, full fine-tuning.
//! - [`logprobs`]: chunked per-token log-probs (the fused-kernel entry point) and helpers.
//! - [`kv_cache`]: batched incremental decoding on a preallocated cache.
//! - [`loader`], [`peft`], [`init`]: HF checkpoints, the PEFT adapter format, random checkpoints.
//! - [`tokenizer`], [`chat`], [`bpe_train`]: HF tokenizers, Jinja chat templates, BPE training.
//! - [`threads`]: process settings for CPU training (candle's threads, the allocator).

pub mod adapters;
pub mod batch;
pub mod blas;
pub mod bpe_train;
pub mod chat;
pub mod checkpoint;
pub mod config;
mod error;
mod fused;
pub mod init;
pub mod init_corpus;
pub mod kv_cache;
pub mod linear;
pub mod loader;
pub mod logprobs;
pub mod lora;
pub mod peft;
pub mod qwen2;
pub mod threads;
pub mod tokenizer;

pub use adapters::TrainMode;
pub use batch::{Batch, PadSide};
pub use config::Qwen2Config;
pub use error::{Error, Result};
pub use fused::set_fused_cpu_ops;
pub use kv_cache::KvCache;
pub use linear::AdapterMode;
pub use logprobs::{LogprobOptions, TokenLogprobs, sequence_logprobs, token_logprobs};
pub use lora::{LoraConfig, TargetModule, TargetModules};
pub use qwen2::Qwen2;
