//! `caugym score`: the CauGym benchmark's own scoring rule over a dataset and a file of model
//! responses, per task and overall.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use caugym_data::{read_items, read_responses};
use caugym_reward::{ScoreItem, score_benchmark};

/// Score model responses against a dataset's gold answers by the benchmark's published rule.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Dataset: the benchmark's JSON-array layout or JSONL (fields `problem` and `answer`; `id`,
    /// `idx` or the 0-based position identifies an item).
    #[arg(long)]
    pub dataset: PathBuf,
    /// Responses JSONL: per line an item `id` and its completions (`responses`: array, or
    /// `response` / `text`: one string); several lines of one id accumulate.
    #[arg(long)]
    pub responses: PathBuf,
    /// Print one JSON object (overall and per-task accuracy and counts) instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let items: Vec<ScoreItem> = read_items(&args.dataset)?
        .into_iter()
        .map(|item| ScoreItem {
            id: item.id,
            task: item.task,
            gold: item.answer,
        })
        .collect();
    let responses = read_responses(&args.responses)?;
    let report = score_benchmark(&items, &responses)
        .with_context(|| format!("scoring {}", args.dataset.display()))?;
    let text = if args.json {
        serde_json::to_string(&report).context("serialising the report")? + "\n"
    } else {
        format!(
            "{} scored against {}\n\n{}",
            args.responses.display(),
            args.dataset.display(),
            report.to_markdown()
        )
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing the report to stdout")
}
