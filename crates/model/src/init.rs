//! Seeded random Qwen2 checkpoints in the HF layout (`caugym init-model`): tests, the CPU demo
//! and the benchmark load them through the same code a real checkpoint goes through.
//!
//! Initialisation follows HF's `Qwen2PreTrainedModel._init_weights`: linear and embedding
//! weights ~ N(0, 0.02²), biases 0, RMSNorm weights 1.

use crate::config::Qwen2Config;
use crate::loader::{write_dir_atomically, write_json, write_safetensors};
use crate::lora::TargetModule;
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::path::Path;

/// Standard deviation of HF's `initializer_range` default.
pub const INIT_STD: f64 = 0.02;

/// The named model sizes `caugym init-model --size` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelSize {
    /// [`Qwen2Config::tiny`].
    Tiny,
    /// [`Qwen2Config::small_100m`].
    Small100m,
}

impl ModelSize {
    /// Parses `tiny` or `100m`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "tiny" => Ok(Self::Tiny),
            "100m" => Ok(Self::Small100m),
            other => Err(Error::config(
                "size",
                format!("unknown size {other:?} (expected tiny or 100m)"),
            )),
        }
    }

    /// The architecture of this size for a vocabulary of `vocab_size` tokens (the 100m preset
    /// keeps at least its 32,000 rows).
    pub fn config(self, vocab_size: usize) -> Qwen2Config {
        match self {
            Self::Tiny => Qwen2Config::tiny(vocab_size),
            Self::Small100m => Qwen2Config {
                vocab_size: vocab_size.max(32_000),
                ..Qwen2Config::small_100m()
            },
        }
    }
}

/// Draws `n` samples of N(0, std²) (Box–Muller).
fn normal(rng: &mut ChaCha8Rng, n: usize, std: f64) -> Vec<f32> {
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = rng.random();
        let r = (-2.0 * u1.ln()).sqrt() * std;
        let a = 2.0 * std::f64::consts::PI * u2;
        out.push((r * a.cos()) as f32);
        out.push((r * a.sin()) as f32);
    }
    out.truncate(n);
    out
}

/// HF-named f32 CPU weights of a random Qwen2 with `cfg`, deterministic in `seed`.
pub fn random_weights(cfg: &Qwen2Config, seed: u64) -> Result<HashMap<String, Tensor>> {
    cfg.validate()?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dev = Device::Cpu;
    let (h, v, ffn, hd) = (
        cfg.hidden_size,
        cfg.vocab_size,
        cfg.intermediate_size,
        cfg.head_dim(),
    );
    let (q_out, kv_out) = (cfg.num_attention_heads * hd, cfg.num_key_value_heads * hd);
    let mut w = HashMap::new();
    let mut randn =
        |name: String, shape: (usize, usize), w: &mut HashMap<String, Tensor>| -> Result<()> {
            let data = normal(&mut rng, shape.0 * shape.1, INIT_STD);
            w.insert(name, Tensor::from_vec(data, shape, &dev)?);
            Ok(())
        };
    randn("model.embed_tokens.weight".into(), (v, h), &mut w)?;
    for i in 0..cfg.num_hidden_layers {
        for m in TargetModule::ALL {
            let shape = match m {
                TargetModule::QProj => (q_out, h),
                TargetModule::KProj | TargetModule::VProj => (kv_out, h),
                TargetModule::OProj => (h, q_out),
                TargetModule::GateProj | TargetModule::UpProj => (ffn, h),
                TargetModule::DownProj => (h, ffn),
            };
            randn(format!("{}.weight", m.hf_path(i)), shape, &mut w)?;
            if matches!(
                m,
                TargetModule::QProj | TargetModule::KProj | TargetModule::VProj
            ) {
                w.insert(
                    format!("{}.bias", m.hf_path(i)),
                    Tensor::zeros(shape.0, candle_core::DType::F32, &dev)?,
                );
            }
        }
        for n in ["input_layernorm", "post_attention_layernorm"] {
            w.insert(
                format!("model.layers.{i}.{n}.weight"),
                Tensor::ones(h, candle_core::DType::F32, &dev)?,
            );
        }
    }
    w.insert(
        "model.norm.weight".into(),
        Tensor::ones(h, candle_core::DType::F32, &dev)?,
    );
    if !cfg.tie_word_embeddings {
        randn("lm_head.weight".into(), (v, h), &mut w)?;
    }
    Ok(w)
}

/// Writes a random checkpoint (config.json + model.safetensors, f32) to `dir`, atomically;
/// `extra` may add files (the tokenizer) to the directory before it is moved into place.
pub fn write_random_checkpoint(
    cfg: &Qwen2Config,
    seed: u64,
    dir: &Path,
    extra: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let weights = random_weights(cfg, seed)?;
    let mut tensors: Vec<(String, Tensor)> = weights.into_iter().collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    write_dir_atomically(dir, |tmp| {
        write_json(cfg, &tmp.join("config.json"))?;
        write_safetensors(&tensors, &tmp.join("model.safetensors"))?;
        extra(tmp)
    })
}
