//! `[model]`: which checkpoint to train, in which precision, on which device, and how.

use std::path::PathBuf;

use candle_core::{DType, Device};
use serde::{Deserialize, Serialize};

use super::check::{fail, non_empty};
use crate::Result;

/// The `[model]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// A local checkpoint directory (HF layout: config.json, *.safetensors, tokenizer.json) or a
    /// hub id already in the local HF cache. Required; no default.
    pub path: String,
    /// Precision of the frozen base weights: `f32`, `bf16` or `f16`. Default `f32` (CPU). LoRA
    /// matrices, optimiser moments and master weights stay f32 whatever this is (algorithms.md
    /// "Optimiser"); use `bf16` on GPUs.
    #[serde(default = "default_dtype")]
    pub dtype: WeightDType,
    /// `cpu`, `cuda` (device 0) or `cuda:N`. Default `cpu`. CUDA needs a build with
    /// `--features cuda`.
    #[serde(default = "default_device")]
    pub device: String,
    /// `lora`: train a LoRA adapter (`[lora]`) over the frozen base; `full`: train every weight.
    /// Default `lora`.
    #[serde(default = "default_train_mode")]
    pub train_mode: TrainModeName,
    /// A PEFT adapter directory to start the adapter from (e.g. an SFT run's `final/`) instead of
    /// PEFT's initialisation (B = 0). Only with `train_mode = "lora"`; the adapter's own
    /// `adapter_config.json` then replaces `[lora]`. The KL reference stays the base without the
    /// adapter. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_adapter: Option<PathBuf>,
    /// The log-prob implementation: `reference` (differentiable candle ops, every device) or
    /// `fused` (the CUDA kernel; fails at start-up on CPU). Default `reference`.
    #[serde(default = "default_kernels")]
    pub kernels: KernelsPath,
    /// Recompute each decoder layer in the backward instead of keeping its activations
    /// (`caugym_model::checkpoint`): memory per layer drops to its input, for about one extra
    /// forward of compute; gradients are unchanged. Needed for long sequences on large models
    /// (`caugym memory` shows the difference). Default `false`.
    #[serde(default)]
    pub activation_checkpointing: bool,
    /// With `activation_checkpointing`, run and recompute each layer this many sequences at a
    /// time (0: the whole micro-batch). The recomputed layer's memory (dominated by the
    /// `[rows, heads, T, T]` attention tensors at long T) scales with it; gradients do not
    /// change, but LoRA dropout masks are drawn per group. Default 0.
    #[serde(default)]
    pub checkpoint_rows: usize,
}

/// Precision of the base weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeightDType {
    /// 32-bit float.
    F32,
    /// bfloat16.
    Bf16,
    /// IEEE half.
    F16,
}

impl WeightDType {
    /// The candle dtype.
    pub fn dtype(self) -> DType {
        match self {
            WeightDType::F32 => DType::F32,
            WeightDType::Bf16 => DType::BF16,
            WeightDType::F16 => DType::F16,
        }
    }
}

/// What the optimiser trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrainModeName {
    /// A LoRA adapter over the frozen base.
    Lora,
    /// Every weight.
    Full,
}

/// Which log-prob implementation the trainers call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KernelsPath {
    /// Differentiable candle ops (CPU and GPU).
    Reference,
    /// The fused CUDA kernel.
    Fused,
}

fn default_dtype() -> WeightDType {
    WeightDType::F32
}
fn default_device() -> String {
    "cpu".to_string()
}
fn default_train_mode() -> TrainModeName {
    TrainModeName::Lora
}
fn default_kernels() -> KernelsPath {
    KernelsPath::Reference
}

impl ModelConfig {
    /// A config for `path` with every other key at its default.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            dtype: default_dtype(),
            device: default_device(),
            train_mode: default_train_mode(),
            init_adapter: None,
            kernels: default_kernels(),
            activation_checkpointing: false,
            checkpoint_rows: 0,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        non_empty("model.path", &self.path)?;
        if let Err(reason) = parse_device(&self.device) {
            return fail("model.device", reason);
        }
        if self.init_adapter.is_some() && self.train_mode == TrainModeName::Full {
            return fail(
                "model.init_adapter",
                "a LoRA adapter cannot seed full fine-tuning; merge it into the base first \
                 or set model.train_mode = \"lora\"",
            );
        }
        if self.kernels == KernelsPath::Fused && !self.device.starts_with("cuda") {
            return fail(
                "model.kernels",
                "`fused` is the CUDA kernel; on the CPU set model.kernels = \"reference\"",
            );
        }
        Ok(())
    }

    /// The candle device (`cuda` fails here on a build without the `cuda` feature).
    pub fn device(&self) -> Result<Device> {
        let ordinal =
            parse_device(&self.device).map_err(|r| crate::Error::setting("model.device", r))?;
        match ordinal {
            None => Ok(Device::Cpu),
            Some(i) => Device::new_cuda(i).map_err(|e| {
                crate::Error::setting(
                    "model.device",
                    format!("cannot open `{}`: {e}", self.device),
                )
            }),
        }
    }
}

/// `cpu` -> None, `cuda` -> Some(0), `cuda:N` -> Some(N).
fn parse_device(s: &str) -> std::result::Result<Option<usize>, String> {
    let bad = || format!("`{s}` is not a device; use \"cpu\", \"cuda\" or \"cuda:N\"");
    match s {
        "cpu" => Ok(None),
        "cuda" => Ok(Some(0)),
        _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) => Ok(Some(n)),
            _ => Err(bad()),
        },
    }
}
