//! The model flags every inference command shares (`--model`, `--adapter`, `--device`,
//! `--dtype`) and the one loading path behind them.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use candle_core::{DType, Device};
use caugym_model::Qwen2;
use caugym_model::loader::{load_model, resolve_model_dir};
use caugym_model::peft::import_peft;
use caugym_model::tokenizer::Tokenizer;

/// Name under which `--adapter` is attached to the model.
pub const ADAPTER: &str = "adapter";

/// Where the model comes from and where it runs.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// Checkpoint: a HuggingFace directory or a cached hub repo id (with its tokenizer files).
    #[arg(long)]
    pub model: String,
    /// PEFT adapter directory applied on top of the model.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// `cpu`, `cuda` or `cuda:N` (CUDA needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Weights dtype: f32, bf16 or f16. Default: f32 on CPU, bf16 on CUDA.
    #[arg(long)]
    pub dtype: Option<String>,
}

/// A loaded model with its tokenizer; `adapter` says whether `--adapter` was attached.
pub struct Loaded {
    pub model: Qwen2,
    pub tokenizer: Tokenizer,
    pub adapter: bool,
}

impl Loaded {
    /// The adapter mode every forward of the command uses.
    pub fn mode(&self) -> caugym_model::AdapterMode<'static> {
        if self.adapter {
            caugym_model::AdapterMode::Active(ADAPTER)
        } else {
            caugym_model::AdapterMode::Disabled
        }
    }
}

/// Parses `--device`.
pub fn parse_device(spec: &str) -> Result<Device> {
    match spec {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Ok(Device::new_cuda(0)?),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) => Ok(Device::new_cuda(n)?),
            _ => bail!("--device: expected cpu, cuda or cuda:N, got {other:?}"),
        },
    }
}

/// Parses `--dtype` (defaulting by device).
pub fn parse_dtype(spec: Option<&str>, device: &Device) -> Result<DType> {
    Ok(match spec {
        None if device.is_cuda() => DType::BF16,
        None => DType::F32,
        Some("f32") => DType::F32,
        Some("bf16") => DType::BF16,
        Some("f16") => DType::F16,
        Some(other) => bail!("--dtype: expected f32, bf16 or f16, got {other:?}"),
    })
}

/// Loads the model, its tokenizer and the optional adapter.
pub fn load(args: &ModelArgs) -> Result<Loaded> {
    let device = parse_device(&args.device)?;
    let dtype = parse_dtype(args.dtype.as_deref(), &device)?;
    let dir = resolve_model_dir(&args.model)?;
    let tokenizer = Tokenizer::from_dir(&dir)
        .with_context(|| format!("loading the tokenizer of {}", dir.display()))?;
    let mut model = load_model(&args.model, dtype, &device)
        .with_context(|| format!("loading {}", args.model))?;
    if let Some(adapter) = &args.adapter {
        import_peft(&mut model, ADAPTER, adapter)
            .with_context(|| format!("importing adapter {}", adapter.display()))?;
    }
    Ok(Loaded {
        model,
        tokenizer,
        adapter: args.adapter.is_some(),
    })
}
