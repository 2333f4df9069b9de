//! `caugym memory`: the device-memory breakdown of a run config (weights, optimiser state,
//! activations with or without checkpointing, log-prob peak, rollout KV cache), before any GPU
//! time is spent finding out.

use std::path::PathBuf;

use anyhow::{Context, Result};
use caugym_model::Qwen2Config;
use caugym_model::loader::resolve_model_dir;
use caugym_train::config;
use caugym_train::memory::{Workload, estimate};

/// Print the memory a run config needs, term by term, against a card's capacity.
#[derive(Debug, clap::Args)]
pub struct MemoryArgs {
    /// The run configuration (TOML).
    #[arg(long)]
    pub config: PathBuf,
    /// Override a config value, e.g. `--set optim.micro_batch_size=4`; repeat for several.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The architecture's config.json, when `model.path` is not on this machine
    /// (e.g. configs/arch/deepseek-r1-distill-qwen-14b.json).
    #[arg(long)]
    pub arch: Option<PathBuf>,
    /// Prompt tokens per GRPO row (sequences are this plus `rollout.max_new_tokens`).
    #[arg(long, default_value_t = 512)]
    pub prompt_tokens: usize,
    /// Device memory to compare against, GiB (an 80 GB H100 has 79.6 GiB; ~78 usable).
    #[arg(long, default_value_t = 79.6)]
    pub capacity_gib: f64,
}

pub fn run(args: MemoryArgs) -> Result<()> {
    let cfg = config::load(&args.config, &args.set)?;
    let arch_path = match &args.arch {
        Some(p) => p.clone(),
        None => resolve_model_dir(&cfg.model.path)
            .with_context(|| {
                format!(
                    "model.path `{}` is not on this machine; pass --arch CONFIG.json",
                    cfg.model.path
                )
            })?
            .join("config.json"),
    };
    let arch = Qwen2Config::from_file(&arch_path)
        .with_context(|| format!("reading the architecture from {}", arch_path.display()))?;
    let w = Workload::from_config(&cfg, &arch, args.prompt_tokens);
    println!(
        "{}: {} layers, hidden {}, vocab {}; {:?} base, {:?}; micro-batch {} x {} tokens; \
         checkpointing {}; log-probs {:?}; rollout {} rows x {} tokens",
        arch_path.display(),
        arch.num_hidden_layers,
        arch.hidden_size,
        arch.vocab_size,
        cfg.model.dtype,
        w.trained,
        w.rows,
        w.seq_len,
        w.checkpointing,
        w.logprobs,
        w.rollout_rows,
        w.rollout_len,
    );
    print!("{}", estimate(&arch, &w).table(args.capacity_gib));
    Ok(())
}
