//! `caugym logprobs`: per-token log-probs of each completion given its prompt, as the trainer
//! computes them, so a rollout engine (vLLM, …) can be checked against it.
//!
//! Input JSONL: `{"prompt": "...", "completion": "..."}` (raw text, no chat template). Prompt and
//! completion are tokenised separately and concatenated, as the trainers do. Output JSONL, one
//! line per input in order: `{"prompt_ids", "completion_ids", "logprobs"}`.

use anyhow::{Context, Result, bail};
use caugym_model::tokenizer::Tokenizer;
use caugym_model::{Batch, LogprobOptions, PadSide, sequence_logprobs};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::PathBuf;

use super::model_args::{self, ModelArgs};

#[derive(Debug, clap::Args)]
pub struct LogprobsArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Input JSONL with `prompt` and `completion`.
    #[arg(long)]
    pub input: PathBuf,
    /// Output JSONL (default: stdout).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Logits are divided by this before the softmax (match the sampler).
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
}

#[derive(Deserialize)]
struct Example {
    prompt: String,
    completion: String,
}

#[derive(Serialize)]
struct Scored {
    prompt_ids: Vec<u32>,
    completion_ids: Vec<u32>,
    logprobs: Vec<f32>,
}

fn read_examples(args: &LogprobsArgs, tok: &Tokenizer) -> Result<Vec<(Vec<u32>, Vec<u32>)>> {
    let file = std::fs::File::open(&args.input)
        .with_context(|| format!("opening {}", args.input.display()))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", args.input.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let ex: Example = serde_json::from_str(&line)
            .with_context(|| format!("{} line {}", args.input.display(), i + 1))?;
        let p = tok.encode(&ex.prompt, false)?;
        let c = tok.encode(&ex.completion, false)?;
        if p.is_empty() {
            bail!(
                "{} line {}: empty prompt (the first completion token needs context)",
                args.input.display(),
                i + 1
            );
        }
        out.push((p, c));
    }
    Ok(out)
}

pub fn run(args: LogprobsArgs) -> Result<()> {
    let loaded = model_args::load(&args.model)?;
    let (model, tok, mode) = (&loaded.model, &loaded.tokenizer, loaded.mode());
    let opts = LogprobOptions {
        temperature: args.temperature,
        ..Default::default()
    };
    let examples = read_examples(&args, tok)?;
    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    for group in examples.chunks(args.batch_size.max(1)) {
        let rows: Vec<Vec<u32>> = group
            .iter()
            .map(|(p, c)| [p.as_slice(), c].concat())
            .collect();
        let batch = Batch::from_rows(&rows, tok.pad_token_id(), PadSide::Right, model.device())?;
        let lp = sequence_logprobs(model, &batch, mode, &opts)?
            .logprobs
            .to_vec2::<f32>()?;
        for ((p, c), row) in group.iter().zip(&lp) {
            // Target t + 1 is scored at position t: completion tokens sit at p.len() ..
            let logprobs = row[p.len() - 1..p.len() - 1 + c.len()].to_vec();
            let line = serde_json::to_string(&Scored {
                prompt_ids: p.clone(),
                completion_ids: c.clone(),
                logprobs,
            })?;
            writeln!(out, "{line}")?;
        }
    }
    out.flush()?;
    Ok(())
}
