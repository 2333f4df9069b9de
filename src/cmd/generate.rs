//! `caugym generate`: sample completions for prompts given on the command line or in a JSONL
//! file, through the same batched engine the GRPO trainer uses.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use caugym_model::chat::Message;
use caugym_rollout::{GenerationConfig, generate};
use serde::{Deserialize, Serialize};

use super::model_args::{self, ModelArgs};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["prompt", "input"])))]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// A prompt; repeat the flag for several.
    #[arg(long)]
    pub prompt: Vec<String>,
    /// JSONL input, one object per line with `prompt` (or a CauGym item's `problem`) and an
    /// optional `id`.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Feed prompts as raw text instead of rendering them with the tokenizer's chat template.
    #[arg(long)]
    pub raw: bool,
    /// System message for the chat template.
    #[arg(long)]
    pub system: Option<String>,
    /// Completions per prompt.
    #[arg(long, default_value_t = 1)]
    pub n: usize,
    /// Most tokens generated per completion.
    #[arg(long, default_value_t = 256)]
    pub max_new_tokens: usize,
    /// Softmax temperature; 0 is greedy.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Nucleus sampling mass (1 disables it).
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f64,
    /// Keep the k most likely tokens (0 disables it).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Drop tokens below min-p × the top token's probability (0 disables it).
    #[arg(long, default_value_t = 0.0)]
    pub min_p: f64,
    /// A stop string; repeat the flag for several.
    #[arg(long)]
    pub stop: Vec<String>,
    /// Seed of the per-completion RNGs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Rows (prompt × sample) decoded together.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Write JSONL here (one line per completion) instead of printing the texts.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// One input prompt.
#[derive(Debug, Deserialize)]
struct InputLine {
    id: Option<serde_json::Value>,
    prompt: Option<String>,
    problem: Option<String>,
}

/// One output line.
#[derive(Debug, Serialize)]
struct OutputLine<'a> {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a serde_json::Value>,
    sample: usize,
    text: &'a str,
    finish_reason: &'a caugym_rollout::FinishReason,
    completion_tokens: usize,
    token_ids: &'a [u32],
    logprobs: &'a [f32],
}

pub fn run(args: GenerateArgs) -> Result<()> {
    let loaded = model_args::load(&args.model)?;
    let (ids, texts) = match &args.input {
        Some(path) => read_input(path)?,
        None => (vec![None; args.prompt.len()], args.prompt.clone()),
    };
    let tok = &loaded.tokenizer;
    let prompts = texts
        .iter()
        .map(|text| encode_prompt(tok, text, args.raw, args.system.as_deref()))
        .collect::<Result<Vec<_>>>()?;
    let cfg = GenerationConfig {
        num_generations: args.n,
        max_new_tokens: args.max_new_tokens,
        temperature: args.temperature,
        top_p: args.top_p,
        top_k: args.top_k,
        min_p: args.min_p,
        stop: args.stop.clone(),
        max_batch_rows: args.batch_size,
    };
    let rollout = generate(&loaded.model, tok, &prompts, &cfg, args.seed, loaded.mode())?;
    match &args.output {
        Some(path) => write_jsonl(path, &rollout, &ids)?,
        None => {
            for c in &rollout.completions {
                println!(
                    "=== prompt {} sample {} ({:?}) ===",
                    c.prompt_index, c.sample_index, c.finish
                );
                println!("{}", c.text);
            }
        }
    }
    let s = rollout.stats;
    eprintln!(
        "{} completions, {} tokens in {:.2}s ({:.1} tokens/s)",
        s.completions,
        s.generated_tokens,
        s.seconds,
        s.tokens_per_s()
    );
    Ok(())
}

/// Renders a prompt through the chat template (with the generation prompt) unless `raw`.
pub fn encode_prompt(
    tok: &caugym_model::tokenizer::Tokenizer,
    text: &str,
    raw: bool,
    system: Option<&str>,
) -> Result<Vec<u32>> {
    if raw {
        return Ok(tok.encode(text, false)?);
    }
    let mut messages = Vec::with_capacity(2);
    if let Some(system) = system {
        messages.push(Message::system(system));
    }
    messages.push(Message::user(text));
    Ok(tok.encode_chat(&messages, true)?)
}

fn read_input(path: &Path) -> Result<(Vec<Option<serde_json::Value>>, Vec<String>)> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let (mut ids, mut texts) = (Vec::new(), Vec::new());
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{} line {}", path.display(), i + 1);
        let item: InputLine = serde_json::from_str(&line).with_context(at)?;
        let Some(text) = item.prompt.or(item.problem) else {
            bail!("{}: missing field `prompt` (or `problem`)", at());
        };
        ids.push(item.id);
        texts.push(text);
    }
    if texts.is_empty() {
        bail!("{}: no prompts", path.display());
    }
    Ok((ids, texts))
}

fn write_jsonl(
    path: &Path,
    rollout: &caugym_rollout::Rollout,
    ids: &[Option<serde_json::Value>],
) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for c in &rollout.completions {
        let line = OutputLine {
            index: c.prompt_index,
            id: ids[c.prompt_index].as_ref(),
            sample: c.sample_index,
            text: &c.text,
            finish_reason: &c.finish,
            completion_tokens: c.len(),
            token_ids: &c.token_ids,
            logprobs: &c.logprobs,
        };
        writeln!(out, "{}", serde_json::to_string(&line)?)?;
    }
    out.flush()?;
    Ok(())
}
