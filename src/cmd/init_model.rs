//! `caugym init-model`: a seeded random Qwen2 checkpoint with a BPE tokenizer trained on
//! generated causal text, in the HuggingFace layout.

use anyhow::{Context, Result};
use caugym_model::bpe_train::{BpeConfig, train_bpe};
use caugym_model::init::{ModelSize, write_random_checkpoint};
use caugym_model::init_corpus::causal_corpus;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct InitModelArgs {
    /// Model size: `tiny` (tests, CPU demo) or `100m` (benchmarks).
    #[arg(long, default_value = "tiny")]
    pub size: String,
    /// Output directory (replaced atomically if it exists).
    #[arg(long)]
    pub out: PathBuf,
    /// Seed of the weights and of the generated corpus.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Tokenizer vocabulary size (learned merges + 256 bytes + 5 added tokens); default 512
    /// for tiny and 4096 for 100m (the 100m model keeps 32,000 embedding rows regardless).
    #[arg(long)]
    pub vocab: Option<usize>,
    /// Train the tokenizer on this text file (one document per line) instead of the built-in
    /// generated causal corpus.
    #[arg(long)]
    pub corpus: Option<PathBuf>,
}

pub fn run(args: InitModelArgs) -> Result<()> {
    let size = ModelSize::parse(&args.size)?;
    let corpus = match &args.corpus {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading corpus {}", path.display()))?
            .lines()
            .map(str::to_string)
            .collect(),
        None => causal_corpus(args.seed, 4000),
    };
    let vocab = args.vocab.unwrap_or(match size {
        ModelSize::Tiny => 512,
        ModelSize::Small100m => 4096,
    });
    let bpe = train_bpe(
        corpus,
        &BpeConfig {
            vocab_size: vocab,
            ..Default::default()
        },
    )
    .context("training the tokenizer")?;
    let mut cfg = size.config(bpe.vocab_size());
    let ids = bpe.special_ids();
    cfg.eos_token_id = Some(ids.im_end);
    cfg.bos_token_id = Some(ids.endoftext);
    write_random_checkpoint(&cfg, args.seed, &args.out, |dir| Ok(bpe.save(dir)?))
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "wrote {} ({} size, vocab {}, tokenizer {} tokens, seed {})",
        args.out.display(),
        args.size,
        cfg.vocab_size,
        bpe.vocab_size(),
        args.seed
    );
    Ok(())
}
