//! `caugym export`: re-export an adapter in the PEFT layout, or merge it into its base and save
//! a full HuggingFace checkpoint (with the base's tokenizer files).

use anyhow::{Context, Result};
use candle_core::{DType, Device};
use caugym_model::loader::{load_model, resolve_model_dir};
use caugym_model::peft::{export_peft, import_peft, save_merged};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["peft", "merged"])))]
pub struct ExportArgs {
    /// Base checkpoint: a directory or a cached hub repo id.
    #[arg(long)]
    pub model: String,
    /// PEFT adapter directory (adapter_config.json + adapter_model.safetensors).
    #[arg(long)]
    pub adapter: PathBuf,
    /// Write the adapter in the PEFT layout here.
    #[arg(long)]
    pub peft: Option<PathBuf>,
    /// Write the merged full checkpoint here.
    #[arg(long)]
    pub merged: Option<PathBuf>,
}

pub fn run(args: ExportArgs) -> Result<()> {
    let dir = resolve_model_dir(&args.model)?;
    // Merging happens in f32 whatever the checkpoint's dtype.
    let mut model = load_model(&args.model, DType::F32, &Device::Cpu)
        .with_context(|| format!("loading {}", args.model))?;
    import_peft(&mut model, "adapter", &args.adapter)
        .with_context(|| format!("importing adapter {}", args.adapter.display()))?;
    if let Some(out) = &args.peft {
        export_peft(&model, "adapter", out, Some(&args.model))?;
        eprintln!("wrote PEFT adapter {}", out.display());
    }
    if let Some(out) = &args.merged {
        save_merged(&model, "adapter", out, Some(&dir))?;
        eprintln!("wrote merged checkpoint {}", out.display());
    }
    Ok(())
}
