//! `caugym eval`: sample n completions per item of CauGym sets and score them by the
//! benchmark's rule; writes the responses and a JSON report, prints the task x set table.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use caugym_data::write_responses;
use caugym_reward::{Report, task_set_table};
use caugym_rollout::GenerationConfig;
use caugym_train::config::PromptFormat;
use caugym_train::eval::{EvalSettings, SetResult, evaluate_set, resolve_set};
use caugym_train::trainers::prompts::PromptStyle;
use serde_json::json;

use super::model_args::{self, ModelArgs};

/// Evaluate a model (and adapter) on CauGym sets.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Comma-separated sets: names in --data-dir (base, rephrased, omitted, deconfounding,
    /// redundant, insufficient) or paths to JSON / JSONL files (e.g. a run's held_out.jsonl).
    #[arg(long, value_delimiter = ',', required = true)]
    pub sets: Vec<String>,
    /// Where named sets live.
    #[arg(long, default_value = "../shared/data/caugym-eval")]
    pub data_dir: PathBuf,
    /// Samples per item.
    #[arg(long, default_value_t = 5)]
    pub n: usize,
    /// Sampling temperature (0 is greedy).
    #[arg(long, default_value_t = 0.6)]
    pub temperature: f64,
    /// Nucleus sampling mass.
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f64,
    /// Most tokens per completion.
    #[arg(long, default_value_t = 512)]
    pub max_new_tokens: usize,
    /// Rows (item x sample) decoded together.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Evaluate only the first N items of each set.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Seed of the per-completion generators.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Feed prompts as raw text instead of through the chat template.
    #[arg(long)]
    pub raw: bool,
    /// A system turn for the chat template.
    #[arg(long)]
    pub system: Option<String>,
    /// Output directory: `<set>.responses.jsonl`, `report.json`, `report.md`.
    #[arg(long, default_value = "eval-results")]
    pub out: PathBuf,
    /// Print one JSON object (settings and per-set reports) instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: EvalArgs) -> Result<()> {
    let loaded = model_args::load(&args.model)?;
    let settings = settings(&args);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut results = Vec::new();
    for spec in &args.sets {
        let set = resolve_set(spec, &args.data_dir)?;
        let r = evaluate_set(
            &loaded.model,
            &loaded.tokenizer,
            loaded.mode(),
            &set,
            &settings,
        )
        .with_context(|| format!("evaluating {}", set.path.display()))?;
        write_responses(
            &args.out.join(format!("{}.responses.jsonl", r.name)),
            &r.responses,
        )?;
        results.push(r);
    }
    let table = table(&results);
    let report = report_json(&args, &results)?;
    write(
        &args.out.join("report.json"),
        &serde_json::to_string_pretty(&report)?,
    )?;
    write(&args.out.join("report.md"), &table)?;
    if args.json {
        println!("{report}");
    } else {
        print!("{table}");
    }
    Ok(())
}

fn settings(args: &EvalArgs) -> EvalSettings {
    EvalSettings {
        sampling: GenerationConfig {
            num_generations: args.n,
            max_new_tokens: args.max_new_tokens,
            temperature: args.temperature,
            top_p: args.top_p,
            max_batch_rows: args.batch_size,
            ..GenerationConfig::default()
        },
        seed: args.seed,
        style: PromptStyle {
            format: if args.raw {
                PromptFormat::Raw
            } else {
                PromptFormat::Chat
            },
            system: args.system.clone(),
        },
        limit: args.limit,
    }
}

/// Settings and one report per set, in the order given.
fn report_json(args: &EvalArgs, results: &[SetResult]) -> Result<serde_json::Value> {
    let mut sets = serde_json::Map::new();
    for r in results {
        sets.insert(r.name.clone(), serde_json::to_value(&r.report)?);
    }
    Ok(json!({
        "model": args.model.model,
        "adapter": args.model.adapter,
        "n": args.n,
        "temperature": args.temperature,
        "top_p": args.top_p,
        "max_new_tokens": args.max_new_tokens,
        "seed": args.seed,
        "limit": args.limit,
        "sets": sets,
    }))
}

fn table(results: &[SetResult]) -> String {
    let rows: Vec<(&str, &Report)> = results
        .iter()
        .map(|r| (r.name.as_str(), &r.report))
        .collect();
    task_set_table(&rows)
}

/// Writes `text` to a temporary file beside `path`, then renames it: a report is whole or absent.
fn write(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}
