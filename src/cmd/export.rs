//! `caugym export`: a run's adapter in the PEFT layout, or merged into its base as a full
//! HuggingFace checkpoint (with the base's tokenizer files).
//!
//! Two forms: `caugym export RUN_DIR [--checkpoint STEP]` takes the run's `final/` (or
//! `checkpoint-STEP/`) and reads the base model from the config saved with it;
//! `caugym export --model BASE --adapter DIR` names both directly.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use candle_core::{DType, Device};
use caugym_model::loader::{load_model, load_model_dir, resolve_model_dir, save_checkpoint};
use caugym_model::peft::{export_peft, import_peft, save_merged};
use caugym_train::runner::run_weights;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["peft", "merged"])))]
#[command(group(clap::ArgGroup::new("source").required(true).args(["run", "model"])))]
pub struct ExportArgs {
    /// A run directory (a config's `output.output_dir`): its `final/` weights are exported.
    #[arg(value_name = "RUN_DIR", conflicts_with_all = ["model", "adapter"])]
    pub run: Option<PathBuf>,
    /// Export the run's `checkpoint-STEP/` instead of `final/`.
    #[arg(long, value_name = "STEP", requires = "run")]
    pub checkpoint: Option<u64>,
    /// Base checkpoint: a directory or a cached hub repo id (with --adapter, instead of RUN_DIR).
    #[arg(long, requires = "adapter")]
    pub model: Option<String>,
    /// PEFT adapter directory (adapter_config.json + adapter_model.safetensors).
    #[arg(long, requires = "model")]
    pub adapter: Option<PathBuf>,
    /// Write the adapter in the PEFT layout here.
    #[arg(long)]
    pub peft: Option<PathBuf>,
    /// Write the merged full checkpoint here.
    #[arg(long)]
    pub merged: Option<PathBuf>,
}

pub fn run(args: ExportArgs) -> Result<()> {
    let (base, adapter) = match (&args.run, &args.model, &args.adapter) {
        (Some(run), _, _) => {
            let w = run_weights(run, args.checkpoint)?;
            eprintln!("exporting {} (base {})", w.dir.display(), w.base_model());
            if !w.is_adapter() {
                return export_full(&w.dir, &args);
            }
            (w.base_model().to_string(), w.dir)
        }
        (None, Some(model), Some(adapter)) => (model.clone(), adapter.clone()),
        _ => bail!("give a RUN_DIR, or both --model and --adapter"),
    };
    export_adapter(&base, &adapter, &args)
}

/// Imports `adapter` over `base` and writes what was asked for.
fn export_adapter(base: &str, adapter: &Path, args: &ExportArgs) -> Result<()> {
    let dir = resolve_model_dir(base)?;
    // Merging happens in f32 whatever the checkpoint's dtype.
    let mut model =
        load_model(base, DType::F32, &Device::Cpu).with_context(|| format!("loading {base}"))?;
    import_peft(&mut model, "adapter", adapter)
        .with_context(|| format!("importing adapter {}", adapter.display()))?;
    if let Some(out) = &args.peft {
        export_peft(&model, "adapter", out, Some(base))?;
        eprintln!("wrote PEFT adapter {}", out.display());
    }
    if let Some(out) = &args.merged {
        save_merged(&model, "adapter", out, Some(&dir))?;
        eprintln!("wrote merged checkpoint {}", out.display());
    }
    Ok(())
}

/// A full fine-tuning run's weights are already a checkpoint: `--merged` re-saves them (with
/// their tokenizer files); there is no adapter for `--peft`.
fn export_full(weights: &Path, args: &ExportArgs) -> Result<()> {
    if args.peft.is_some() {
        bail!(
            "{} holds full weights (model.train_mode = \"full\"), not a LoRA adapter; use --merged",
            weights.display()
        );
    }
    if let Some(out) = &args.merged {
        let model = load_model_dir(weights, DType::F32, &Device::Cpu)
            .with_context(|| format!("loading {}", weights.display()))?;
        save_checkpoint(&model, out, Some(weights))?;
        eprintln!("wrote checkpoint {}", out.display());
    }
    Ok(())
}
