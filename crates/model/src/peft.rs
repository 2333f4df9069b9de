//! The HuggingFace PEFT adapter format (what vLLM, PEFT and mistral.rs load): export, import,
//! and merging an adapter into the base weights to save a plain HF checkpoint.
//!
//! Layout: `adapter_model.safetensors` (metadata `{"format": "pt"}`) with keys
//! `base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight` / `.lora_B.weight`, and
//! `adapter_config.json` with the fields of docs/algorithms.md.

use crate::adapters::{AdapterWeights, peft_key};
use crate::linear::Param;
use crate::loader::{
    SafetensorsWeights, WeightSource, save_checkpoint, write_dir_atomically, write_json,
    write_safetensors,
};
use crate::lora::{LoraConfig, TargetModule, TargetModules};
use crate::qwen2::Qwen2;
use crate::{Error, Result};
use candle_core::Tensor;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// adapter_config.json as PEFT writes it (only the fields caugym sets; unknown fields of a
/// PEFT-written file are ignored on import, except the unsupported features checked there).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeftConfig {
    pub peft_type: String,
    #[serde(default = "default_task_type")]
    pub task_type: String,
    pub r: usize,
    pub lora_alpha: f64,
    #[serde(default)]
    pub lora_dropout: f64,
    pub target_modules: TargetModules,
    #[serde(default = "default_bias")]
    pub bias: String,
    #[serde(default)]
    pub use_rslora: bool,
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
    #[serde(default = "default_inference_mode")]
    pub inference_mode: bool,
    /// Written only when the adapter covers a subset of layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers_to_transform: Option<Vec<usize>>,
    /// PEFT features caugym does not implement; import rejects them when set.
    #[serde(default, skip_serializing)]
    pub use_dora: bool,
    #[serde(default, skip_serializing)]
    pub fan_in_fan_out: bool,
    #[serde(default, skip_serializing)]
    pub rank_pattern: serde_json::Map<String, serde_json::Value>,
    #[serde(default, skip_serializing)]
    pub alpha_pattern: serde_json::Map<String, serde_json::Value>,
}

fn default_task_type() -> String {
    "CAUSAL_LM".into()
}
fn default_bias() -> String {
    "none".into()
}
fn default_inference_mode() -> bool {
    true
}

impl PeftConfig {
    /// The PEFT config of an adapter (target modules written as an explicit list).
    pub fn from_lora(cfg: &LoraConfig, base_model: Option<&str>) -> Self {
        Self {
            peft_type: "LORA".into(),
            task_type: default_task_type(),
            r: cfg.r,
            lora_alpha: cfg.alpha,
            lora_dropout: cfg.dropout,
            target_modules: TargetModules::List(cfg.target_modules.resolve()),
            bias: default_bias(),
            use_rslora: cfg.use_rslora,
            base_model_name_or_path: base_model.map(str::to_string),
            inference_mode: true,
            layers_to_transform: cfg.layers_to_transform.clone(),
            use_dora: false,
            fan_in_fan_out: false,
            rank_pattern: Default::default(),
            alpha_pattern: Default::default(),
        }
    }

    /// The LoRA config, rejecting what caugym cannot reproduce exactly.
    pub fn to_lora(&self) -> Result<LoraConfig> {
        let unsupported = [
            ("peft_type", self.peft_type != "LORA"),
            ("bias", self.bias != "none"),
            ("use_dora", self.use_dora),
            ("fan_in_fan_out", self.fan_in_fan_out),
            ("rank_pattern", !self.rank_pattern.is_empty()),
            ("alpha_pattern", !self.alpha_pattern.is_empty()),
        ];
        if let Some((field, _)) = unsupported.iter().find(|(_, bad)| *bad) {
            return Err(Error::config(
                *field,
                "unsupported in a PEFT adapter (caugym loads plain LoRA only)",
            ));
        }
        Ok(LoraConfig {
            r: self.r,
            alpha: self.lora_alpha,
            dropout: self.lora_dropout,
            use_rslora: self.use_rslora,
            target_modules: self.target_modules.clone(),
            layers_to_transform: self.layers_to_transform.clone(),
        })
    }
}

/// Writes adapter `name` of `model` in the PEFT layout to `dir` (atomically).
pub fn export_peft(model: &Qwen2, name: &str, dir: &Path, base_model: Option<&str>) -> Result<()> {
    let cfg = PeftConfig::from_lora(model.adapter_config(name)?, base_model);
    let tensors: Vec<(String, Tensor)> = model
        .adapter_vars(name)?
        .into_iter()
        .map(|(k, v)| (k, v.as_tensor().detach()))
        .collect();
    write_dir_atomically(dir, |tmp| {
        write_safetensors(&tensors, &tmp.join("adapter_model.safetensors"))?;
        write_json(&cfg, &tmp.join("adapter_config.json"))
    })
}

/// Reads a PEFT adapter directory: its LoRA config and its matrices.
pub fn read_peft(dir: &Path) -> Result<(LoraConfig, AdapterWeights)> {
    let path = dir.join("adapter_config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let peft: PeftConfig = serde_json::from_str(&text).map_err(|source| Error::Json {
        path: path.clone(),
        source,
    })?;
    let cfg = peft.to_lora()?;
    let st = SafetensorsWeights::open_files(&[dir.join("adapter_model.safetensors")])?;
    let device = candle_core::Device::Cpu;
    let mut weights = AdapterWeights::new();
    let mut used = 0;
    let layers = st
        .names()
        .iter()
        .filter_map(|n| n.strip_prefix("base_model.model.model.layers."))
        .filter_map(|n| n.split('.').next()?.parse::<usize>().ok())
        .max()
        .map_or(0, |m| m + 1);
    for l in (0..layers).filter(|&l| cfg.applies_to_layer(l)) {
        for m in cfg.target_modules.resolve() {
            let (ka, kb) = (peft_key(l, m, "lora_A"), peft_key(l, m, "lora_B"));
            if !st.names().contains(&ka) && !st.names().contains(&kb) {
                continue;
            }
            weights.insert((l, m), (st.tensor(&ka, &device)?, st.tensor(&kb, &device)?));
            used += 2;
        }
    }
    if used != st.names().len() {
        let known: Vec<String> = weights
            .keys()
            .flat_map(|&(l, m)| [peft_key(l, m, "lora_A"), peft_key(l, m, "lora_B")])
            .collect();
        let extra = st
            .names()
            .iter()
            .find(|n| !known.contains(n))
            .cloned()
            .unwrap_or_default();
        return Err(Error::config(
            "target_modules",
            format!("adapter tensor `{extra}` is not a LoRA matrix of a targeted module"),
        ));
    }
    Ok((cfg, weights))
}

/// Imports the PEFT adapter in `dir` into `model` as adapter `name`; returns its config.
pub fn import_peft(model: &mut Qwen2, name: &str, dir: &Path) -> Result<LoraConfig> {
    let (cfg, weights) = read_peft(dir)?;
    model.insert_adapter(name, &cfg, weights)?;
    Ok(cfg)
}

/// A copy of `model` without adapters whose weights are `W + scale · B A` of adapter `name`
/// (computed in f32, stored in the base dtype). Tensors not touched are shared.
pub fn merge_adapter(model: &Qwen2, name: &str) -> Result<Qwen2> {
    let cfg = model.adapter_config(name)?.clone();
    let mut merged = model.clone();
    for (l, m) in model.adapter_sites(&cfg) {
        let lin = merged.layers[l].linear_mut(m);
        let adapter = lin.adapters.get(name).ok_or_else(|| Error::MissingTensor {
            name: peft_key(l, m, "lora_A"),
        })?;
        let w = lin.weight.tensor();
        let delta = adapter.delta_weight()?;
        let new_w = (w.to_dtype(delta.dtype())? + delta)?.to_dtype(w.dtype())?;
        lin.weight = Param::Frozen(new_w);
    }
    for layer in &mut merged.layers {
        for m in TargetModule::ALL {
            layer.linear_mut(m).adapters.clear();
        }
    }
    merged.adapters.clear();
    Ok(merged)
}

/// Merges adapter `name` and saves the result as a full HF checkpoint in `dir` (with the
/// tokenizer files of `tokenizer_dir`).
pub fn save_merged(
    model: &Qwen2,
    name: &str,
    dir: &Path,
    tokenizer_dir: Option<&Path>,
) -> Result<()> {
    save_checkpoint(&merge_adapter(model, name)?, dir, tokenizer_dir)
}
