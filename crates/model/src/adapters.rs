//! Adapter management on a [`Qwen2`]: add (PEFT init), insert (imported), remove, list; full
//! fine-tuning; the trainable `Var`s under stable names; the HF-named weights for saving.

use crate::linear::Param;
use crate::lora::{LoraAdapter, LoraConfig, TargetModule};
use crate::qwen2::Qwen2;
use crate::{Error, Result};
use candle_core::{Tensor, Var};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// What a trainer optimises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrainMode {
    /// The A and B matrices of the named adapter; the base stays frozen.
    Lora(String),
    /// Every weight of the model (call [`Qwen2::enable_full_finetune`] first).
    Full,
}

/// PEFT's key for the A or B matrix of `module` in `layer` (`which` is `"lora_A"`/`"lora_B"`).
pub fn peft_key(layer: usize, module: TargetModule, which: &str) -> String {
    format!("base_model.model.{}.{which}.weight", module.hf_path(layer))
}

/// Adapter matrices keyed by (layer, module): `(A [r, in], B [out, r])`.
pub type AdapterWeights = BTreeMap<(usize, TargetModule), (Tensor, Tensor)>;

impl Qwen2 {
    /// The (layer, module) pairs an adapter with `cfg` covers.
    pub fn adapter_sites(&self, cfg: &LoraConfig) -> Vec<(usize, TargetModule)> {
        let modules = cfg.target_modules.resolve();
        (0..self.layers.len())
            .filter(|&l| cfg.applies_to_layer(l))
            .flat_map(|l| modules.iter().map(move |&m| (l, m)))
            .collect()
    }

    fn check_new_adapter(&self, name: &str, cfg: &LoraConfig) -> Result<()> {
        if self.adapters.contains_key(name) {
            return Err(Error::DuplicateAdapter {
                name: name.to_string(),
            });
        }
        cfg.validate(self.layers.len())
    }

    /// Adds a freshly initialised adapter (A Kaiming-uniform from `seed`, B = 0).
    pub fn add_adapter(&mut self, name: &str, cfg: &LoraConfig, seed: u64) -> Result<()> {
        self.check_new_adapter(name, cfg)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let device = self.device().clone();
        let dtype = LoraAdapter::dtype_for(self.dtype());
        for (l, m) in self.adapter_sites(cfg) {
            let lin = self.layers[l].linear_mut(m);
            let (inp, out) = lin.dims();
            let adapter = LoraAdapter::init(cfg, inp, out, &mut rng, (dtype, &device))?;
            lin.adapters.insert(name.to_string(), adapter);
        }
        self.adapters.insert(name.to_string(), cfg.clone());
        Ok(())
    }

    /// Adds an adapter from given matrices (an imported PEFT adapter); every site of `cfg`
    /// must be present in `weights` with the right shapes.
    pub fn insert_adapter(
        &mut self,
        name: &str,
        cfg: &LoraConfig,
        mut weights: AdapterWeights,
    ) -> Result<()> {
        self.check_new_adapter(name, cfg)?;
        let device = self.device().clone();
        let mut built = Vec::new();
        for (l, m) in self.adapter_sites(cfg) {
            let (a, b) = weights
                .remove(&(l, m))
                .ok_or_else(|| Error::MissingTensor {
                    name: peft_key(l, m, "lora_A"),
                })?;
            let dims = self.layers[l].linear(m).dims();
            let prefix = format!("base_model.model.{}", m.hf_path(l));
            let dtype = LoraAdapter::dtype_for(self.dtype());
            let (a, b) = (a.to_device(&device)?, b.to_device(&device)?);
            let adapter = LoraAdapter::from_tensors(cfg, a, b, dims, &prefix, dtype)?;
            built.push((l, m, adapter));
        }
        if let Some(((l, m), _)) = weights.into_iter().next() {
            return Err(Error::config(
                "target_modules",
                format!(
                    "adapter has weights for {} that the config does not target",
                    m.hf_path(l)
                ),
            ));
        }
        for (l, m, adapter) in built {
            self.layers[l]
                .linear_mut(m)
                .adapters
                .insert(name.to_string(), adapter);
        }
        self.adapters.insert(name.to_string(), cfg.clone());
        Ok(())
    }

    /// Adds adapter `to` as a copy of adapter `from`: the same config and values in `Var`s of
    /// its own, so training one leaves the other unchanged while both share the frozen base.
    /// PPO's critic starts this way from the policy's adapter (verl initialises the critic from
    /// the actor's checkpoint).
    pub fn copy_adapter(&mut self, from: &str, to: &str) -> Result<()> {
        let cfg = self.adapter_config(from)?.clone();
        let mut weights = AdapterWeights::new();
        for (l, m) in self.adapter_sites(&cfg) {
            let a = self.layers[l]
                .linear(m)
                .adapter(from)
                .ok_or_else(|| Error::MissingTensor {
                    name: peft_key(l, m, "lora_A"),
                })?;
            // `copy` gives fresh storage: a `Var` built from the `Var` itself would alias it.
            let pair = (a.a.as_tensor().copy()?, a.b.as_tensor().copy()?);
            weights.insert((l, m), pair);
        }
        self.insert_adapter(to, &cfg, weights)
    }

    /// Removes the adapter `name` from every layer.
    pub fn remove_adapter(&mut self, name: &str) -> Result<()> {
        self.adapter_config(name)?;
        for layer in &mut self.layers {
            for m in TargetModule::ALL {
                layer.linear_mut(m).adapters.remove(name);
            }
        }
        self.adapters.remove(name);
        Ok(())
    }

    /// Names of the adapters, sorted.
    pub fn adapter_names(&self) -> Vec<String> {
        self.adapters.keys().cloned().collect()
    }

    /// The config of adapter `name`.
    pub fn adapter_config(&self, name: &str) -> Result<&LoraConfig> {
        self.adapters
            .get(name)
            .ok_or_else(|| Error::UnknownAdapter {
                name: name.to_string(),
                known: self.adapter_names(),
            })
    }

    /// The matrices of adapter `name` as `Var`s under PEFT key names, in layer/module order.
    pub fn adapter_vars(&self, name: &str) -> Result<Vec<(String, Var)>> {
        let cfg = self.adapter_config(name)?;
        let mut out = Vec::new();
        for (l, m) in self.adapter_sites(cfg) {
            let a = self.layers[l]
                .linear(m)
                .adapter(name)
                .ok_or_else(|| Error::MissingTensor {
                    name: peft_key(l, m, "lora_A"),
                })?;
            out.push((peft_key(l, m, "lora_A"), a.a.clone()));
            out.push((peft_key(l, m, "lora_B"), a.b.clone()));
        }
        Ok(out)
    }

    /// Makes every base weight a trainable `Var` (full fine-tuning; copies the weights once).
    pub fn enable_full_finetune(&mut self) -> Result<()> {
        self.embed_tokens.make_trainable()?;
        if let Some(h) = &mut self.lm_head {
            h.make_trainable()?;
        }
        self.norm.weight.make_trainable()?;
        for layer in &mut self.layers {
            layer.input_layernorm.weight.make_trainable()?;
            layer.post_attention_layernorm.weight.make_trainable()?;
            for m in TargetModule::ALL {
                let lin = layer.linear_mut(m);
                lin.weight.make_trainable()?;
                if let Some(b) = &mut lin.bias {
                    b.make_trainable()?;
                }
            }
        }
        self.full_finetune = true;
        Ok(())
    }

    /// Every base weight under its HF checkpoint name, in checkpoint order (the tied head is
    /// not repeated).
    pub fn named_params(&self) -> Vec<(String, &Param)> {
        let mut out = vec![("model.embed_tokens.weight".to_string(), &self.embed_tokens)];
        for (i, layer) in self.layers.iter().enumerate() {
            for m in TargetModule::ALL {
                let lin = layer.linear(m);
                out.push((format!("{}.weight", m.hf_path(i)), &lin.weight));
                if let Some(b) = &lin.bias {
                    out.push((format!("{}.bias", m.hf_path(i)), b));
                }
            }
            out.push((
                format!("model.layers.{i}.input_layernorm.weight"),
                &layer.input_layernorm.weight,
            ));
            out.push((
                format!("model.layers.{i}.post_attention_layernorm.weight"),
                &layer.post_attention_layernorm.weight,
            ));
        }
        out.push(("model.norm.weight".to_string(), &self.norm.weight));
        if let Some(h) = &self.lm_head {
            out.push(("lm_head.weight".to_string(), h));
        }
        out
    }

    /// The `Var`s a trainer optimises under stable names: PEFT keys for LoRA, HF names for
    /// full fine-tuning.
    pub fn trainable_vars(&self, mode: &TrainMode) -> Result<Vec<(String, Var)>> {
        match mode {
            TrainMode::Lora(name) => self.adapter_vars(name),
            TrainMode::Full => {
                if !self.full_finetune {
                    return Err(Error::config(
                        "train_mode",
                        "full fine-tuning needs Qwen2::enable_full_finetune first",
                    ));
                }
                Ok(self
                    .named_params()
                    .into_iter()
                    .filter_map(|(n, p)| p.var().map(|v| (n, v.clone())))
                    .collect())
            }
        }
    }
}
