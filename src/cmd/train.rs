//! `caugym train`: one run from a TOML config (the method is named in the file).

use std::path::PathBuf;

use anyhow::{Context, Result};
use caugym_train::config;
use caugym_train::runner::{RunOptions, headline};
use caugym_train::trainers::train;

/// Train a model: SFT or GRPO, as the config's `method` says.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// The run configuration (TOML; see configs/).
    #[arg(long)]
    pub config: PathBuf,
    /// Override a config value, e.g. `--set grpo.beta=0.04`; repeat for several.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Continue from the newest checkpoint in `output.output_dir`.
    #[arg(long)]
    pub resume: bool,
}

pub fn run(args: TrainArgs) -> Result<()> {
    let cfg = config::load(&args.config, &args.set)?;
    eprintln!(
        "caugym train: method {}, model {} ({:?}, {:?} on {}), log-probs {:?}, seed {}, output {}",
        cfg.method.name(),
        cfg.model.path,
        cfg.model.train_mode,
        cfg.model.dtype,
        cfg.model.device,
        cfg.model.kernels,
        cfg.seed,
        cfg.output.output_dir.display()
    );
    let options = RunOptions {
        resume: args.resume,
    };
    let summary =
        train(&cfg, options).with_context(|| format!("training with {}", args.config.display()))?;
    if summary.resumed_from > 0 {
        eprintln!("resumed from step {}", summary.resumed_from);
    }
    eprintln!(
        "done: step {} ({}); weights in {}",
        summary.last_step,
        headline(&summary.last_metrics),
        summary.final_dir.display()
    );
    Ok(())
}
