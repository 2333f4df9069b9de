//! `Qwen2Config`: the architecture as HuggingFace's config.json spells it, with named defaults
//! (the values transformers' `Qwen2Config` uses when a field is absent) and validation.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The only architecture this crate implements.
pub const QWEN2_ARCHITECTURE: &str = "Qwen2ForCausalLM";

/// Qwen2 hyper-parameters, read from and written to HF config.json (field names are HF's).
/// Unknown fields of a real config.json are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Qwen2Config {
    /// Must be exactly `["Qwen2ForCausalLM"]`.
    #[serde(default = "default_architectures")]
    pub architectures: Vec<String>,
    #[serde(default = "default_model_type")]
    pub model_type: String,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    #[serde(default = "default_max_position_embeddings")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    #[serde(default = "default_rms_norm_eps")]
    pub rms_norm_eps: f64,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Only `silu` is supported (every Qwen2 checkpoint uses it).
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    /// Sliding-window attention is not implemented; `true` is rejected.
    #[serde(default)]
    pub use_sliding_window: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bos_token_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eos_token_id: Option<u32>,
    /// Informational (HF writes the checkpoint's dtype here); loading picks its own dtype.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch_dtype: Option<String>,
}

fn default_architectures() -> Vec<String> {
    vec![QWEN2_ARCHITECTURE.to_string()]
}
fn default_model_type() -> String {
    "qwen2".to_string()
}
fn default_max_position_embeddings() -> usize {
    32768
}
fn default_rope_theta() -> f64 {
    10000.0
}
fn default_rms_norm_eps() -> f64 {
    1e-6
}
fn default_hidden_act() -> String {
    "silu".to_string()
}

impl Qwen2Config {
    /// Parses and validates a config.json text.
    pub fn from_json_str(text: &str) -> std::result::Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Reads and validates `path` (a config.json).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let cfg = Self::from_json_str(&text).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks what the model code relies on; errors name the offending field.
    pub fn validate(&self) -> Result<()> {
        if self.architectures.len() != 1 || self.architectures[0] != QWEN2_ARCHITECTURE {
            return Err(Error::config(
                "architectures",
                format!(
                    "expected [\"{QWEN2_ARCHITECTURE}\"], got {:?}",
                    self.architectures
                ),
            ));
        }
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("max_position_embeddings", self.max_position_embeddings),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(Error::config(field, "must be positive"));
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(Error::config(
                "num_attention_heads",
                format!(
                    "{} does not divide hidden_size {}",
                    self.num_attention_heads, self.hidden_size
                ),
            ));
        }
        if !self
            .num_attention_heads
            .is_multiple_of(self.num_key_value_heads)
        {
            return Err(Error::config(
                "num_key_value_heads",
                format!(
                    "{} does not divide num_attention_heads {}",
                    self.num_key_value_heads, self.num_attention_heads
                ),
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return Err(Error::config(
                "hidden_size",
                "head dimension must be even for rotary embeddings",
            ));
        }
        if self.hidden_act != "silu" {
            return Err(Error::config(
                "hidden_act",
                format!("only \"silu\" is supported, got {:?}", self.hidden_act),
            ));
        }
        if self.use_sliding_window {
            return Err(Error::config(
                "use_sliding_window",
                "sliding-window attention is not implemented",
            ));
        }
        if !(self.rms_norm_eps > 0.0 && self.rope_theta > 0.0) {
            return Err(Error::config(
                "rms_norm_eps",
                "rms_norm_eps and rope_theta must be positive",
            ));
        }
        Ok(())
    }

    /// Per-head dimension.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Query heads per key/value head (grouped-query attention).
    pub fn kv_groups(&self) -> usize {
        self.num_attention_heads / self.num_key_value_heads
    }

    fn preset(
        vocab_size: usize,
        hidden: usize,
        layers: usize,
        heads: (usize, usize),
        ffn: usize,
    ) -> Self {
        Self {
            architectures: default_architectures(),
            model_type: default_model_type(),
            vocab_size,
            hidden_size: hidden,
            intermediate_size: ffn,
            num_hidden_layers: layers,
            num_attention_heads: heads.0,
            num_key_value_heads: heads.1,
            max_position_embeddings: 4096,
            rope_theta: 1_000_000.0,
            rms_norm_eps: 1e-6,
            tie_word_embeddings: true,
            hidden_act: default_hidden_act(),
            use_sliding_window: false,
            bos_token_id: None,
            eos_token_id: None,
            torch_dtype: Some("float32".to_string()),
        }
    }

    /// The tests' and the CPU demo's model: hidden 128, 4 layers, 4 heads over 2 KV heads,
    /// tied head. About 0.8 M parameters plus the embeddings; a 2-core CPU trains it in minutes.
    pub fn tiny(vocab_size: usize) -> Self {
        Self::preset(vocab_size, 128, 4, (4, 2), 384)
    }

    /// The benchmark model (~125 M parameters): hidden 768, 12 layers, 12 heads over 4 KV heads,
    /// intermediate 2048, vocabulary 32,000, untied head.
    pub fn small_100m() -> Self {
        Self {
            tie_word_embeddings: false,
            ..Self::preset(32_000, 768, 12, (12, 4), 2048)
        }
    }
}
