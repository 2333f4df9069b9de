//! The trained model as the trainers see it: the Qwen2, its tokenizer, what is trainable, the
//! log-prob path, and how weights are exported.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use caugym_model::loader::{load_model_dir, resolve_model_dir, save_checkpoint};
use caugym_model::logprobs::reference_token_logprobs;
use caugym_model::peft::{export_peft, import_peft};
use caugym_model::tokenizer::Tokenizer;
use caugym_model::{AdapterMode, Batch, LogprobOptions, Qwen2, TokenLogprobs, TrainMode};

use super::collate::Padded;
use crate::config::{KernelsPath, TrainConfig, TrainModeName};
use crate::params::NamedVar;
use crate::{Error, Result};

/// The name of the trained LoRA adapter inside the model.
pub const ADAPTER: &str = "default";

/// The policy being trained.
pub struct Policy {
    /// The model (LoRA adapter added, or every weight trainable).
    pub model: Qwen2,
    /// Its tokenizer.
    pub tokenizer: Tokenizer,
    /// What the optimiser trains.
    pub mode: TrainMode,
    /// Which log-prob implementation runs.
    pub kernels: KernelsPath,
    /// The checkpoint directory it was loaded from (tokenizer files are copied from there).
    pub model_dir: PathBuf,
    /// `model.path` as given (recorded as the adapter's base model).
    pub base_model: String,
}

impl Policy {
    /// Loads `[model]`, then adds the `[lora]` adapter (seeded by the run seed), imports
    /// `model.init_adapter`, or makes every weight trainable.
    pub fn load(cfg: &TrainConfig) -> Result<Self> {
        let device = cfg.model.device()?;
        let dir = resolve_model_dir(&cfg.model.path)?;
        let mut model = load_model_dir(&dir, cfg.model.dtype.dtype(), &device)?;
        let tokenizer = Tokenizer::from_dir(&dir)?;
        let mode = match cfg.model.train_mode {
            TrainModeName::Lora => {
                match &cfg.model.init_adapter {
                    Some(adapter) => {
                        import_peft(&mut model, ADAPTER, adapter)?;
                    }
                    None => model.add_adapter(ADAPTER, &cfg.lora.lora_config(), cfg.seed)?,
                }
                TrainMode::Lora(ADAPTER.to_string())
            }
            TrainModeName::Full => {
                model.enable_full_finetune()?;
                TrainMode::Full
            }
        };
        model.set_training(true);
        model.set_activation_checkpointing(cfg.model.activation_checkpointing);
        model.set_checkpoint_rows(cfg.model.checkpoint_rows);
        Ok(Self {
            model,
            tokenizer,
            mode,
            kernels: cfg.model.kernels,
            model_dir: dir,
            base_model: cfg.model.path.clone(),
        })
    }

    /// The adapter argument of a forward through the trained weights.
    pub fn active(&self) -> AdapterMode<'static> {
        match self.mode {
            TrainMode::Lora(_) => AdapterMode::Active(ADAPTER),
            TrainMode::Full => AdapterMode::Disabled,
        }
    }

    /// The trainable parameters under their stable names (PEFT keys, or HF names).
    pub fn params(&self) -> Result<Vec<NamedVar>> {
        Ok(self
            .model
            .trainable_vars(&self.mode)?
            .into_iter()
            .map(|(n, v)| NamedVar::new(n, v))
            .collect())
    }

    /// Writes the PEFT adapter (LoRA) or a full checkpoint with the tokenizer (full) into `dir`,
    /// replacing it.
    pub fn export(&self, dir: &Path) -> Result<()> {
        match self.mode {
            TrainMode::Lora(_) => export_peft(&self.model, ADAPTER, dir, Some(&self.base_model))?,
            TrainMode::Full => save_checkpoint(&self.model, dir, Some(&self.model_dir))?,
        }
        Ok(())
    }

    /// The device of the model.
    pub fn device(&self) -> &Device {
        self.model.device()
    }

    /// A model batch from padded rows.
    pub fn batch(&self, p: &Padded) -> Result<(Batch, Tensor)> {
        let dev = self.device();
        let ids = Tensor::from_vec(p.input_ids.clone(), (p.rows, p.len), dev)?;
        let mask = Tensor::from_vec(p.attention_mask.clone(), (p.rows, p.len), dev)?;
        let completion = Tensor::from_vec(p.completion_mask.clone(), (p.rows, p.len - 1), dev)?;
        Ok((Batch::new(ids, mask)?, completion))
    }

    /// Summed log-probs `[B]` (f32) of each row's masked (completion) tokens under `adapter`:
    /// the sequence log-probability DPO and KTO compare (algorithms.md: sums, not means).
    pub fn sequence_logps(
        &self,
        batch: &Batch,
        mask: &Tensor,
        adapter: AdapterMode,
    ) -> Result<Tensor> {
        let out = self.logprobs(batch, adapter, 1.0, false)?;
        Ok((out.logprobs * mask)?.sum(1)?)
    }

    /// Next-token log-probs `[B, T - 1]` (and entropies) of `batch` under `adapter`, with
    /// logits divided by `temperature` (the sampler's, so ratios compare like with like).
    /// `reference` composes candle ops; `fused` calls the model crate's chunked op.
    pub fn logprobs(
        &self,
        batch: &Batch,
        adapter: AdapterMode,
        temperature: f64,
        with_entropy: bool,
    ) -> Result<TokenLogprobs> {
        let opts = LogprobOptions {
            temperature,
            with_entropy,
            ..LogprobOptions::default()
        };
        if self.kernels == KernelsPath::Fused {
            return Ok(caugym_model::sequence_logprobs(
                &self.model,
                batch,
                adapter,
                &opts,
            )?);
        }
        let (b, t) = batch.dims();
        if t < 2 {
            return Err(Error::Input {
                what: "batch",
                reason: "log-probs need at least 2 positions".to_string(),
            });
        }
        let hidden = self.model.forward_hidden(batch, adapter)?;
        let h = hidden
            .narrow(1, 0, t - 1)?
            .reshape((b * (t - 1), hidden.dim(2)?))?;
        let targets = batch.input_ids.narrow(1, 1, t - 1)?.flatten_all()?;
        let head = self.model.lm_head_weight();
        let out = reference_token_logprobs(&h, head, &targets, &opts)?;
        let shape =
            |x: Tensor| -> Result<Tensor> { Ok(x.to_dtype(DType::F32)?.reshape((b, t - 1))?) };
        Ok(TokenLogprobs {
            logprobs: shape(out.logprobs)?,
            entropy: out.entropy.map(shape).transpose()?,
        })
    }
}
