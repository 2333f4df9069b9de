//! `caugym eval`: sample n completions per item of CauGym sets and score them by the
//! benchmark's rule; writes the responses and a JSON report, prints the task x set table.
//!
//! [`EvalSetArgs`] and [`evaluate_sets`] are shared with `caugym ablate`, which evaluates every
//! run of an ablation with the same sets and sampling settings.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use caugym_data::write_responses;
use caugym_reward::{Report, task_set_table};
use caugym_rollout::GenerationConfig;
use caugym_train::config::PromptFormat;
use caugym_train::eval::{EvalSet, EvalSettings, SetResult, evaluate_set, resolve_set};
use caugym_train::trainers::prompts::PromptStyle;
use serde_json::json;

use super::model_args::{self, Loaded, ModelArgs};

/// Evaluate a model (and adapter) on CauGym sets.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub eval: EvalSetArgs,
    /// Output directory: `<set>.responses.jsonl`, `report.json`, `report.md`.
    #[arg(long, default_value = "eval-results")]
    pub out: PathBuf,
    /// Print one JSON object (settings and per-set reports) instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Which sets, and how completions are sampled.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalSetArgs {
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
}

impl EvalSetArgs {
    /// The sampling settings.
    pub fn settings(&self) -> EvalSettings {
        EvalSettings {
            sampling: GenerationConfig {
                num_generations: self.n,
                max_new_tokens: self.max_new_tokens,
                temperature: self.temperature,
                top_p: self.top_p,
                max_batch_rows: self.batch_size,
                ..GenerationConfig::default()
            },
            seed: self.seed,
            style: PromptStyle {
                format: if self.raw {
                    PromptFormat::Raw
                } else {
                    PromptFormat::Chat
                },
                system: self.system.clone(),
            },
            limit: self.limit,
        }
    }

    /// Reads every set (failing on the first that cannot be read, before any sampling).
    pub fn resolve(&self) -> Result<Vec<EvalSet>> {
        self.sets
            .iter()
            .map(|spec| Ok(resolve_set(spec, &self.data_dir)?))
            .collect()
    }

    /// The settings as they are recorded in reports.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "n": self.n,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_new_tokens": self.max_new_tokens,
            "seed": self.seed,
            "limit": self.limit,
            "raw": self.raw,
            "system": self.system,
        })
    }
}

/// Samples and scores every set with `loaded`, writing `<out>/<set>.responses.jsonl` (what
/// `caugym score` reads) as each set finishes.
pub fn evaluate_sets(
    loaded: &Loaded,
    sets: &[EvalSet],
    settings: &EvalSettings,
    out: &Path,
) -> Result<Vec<SetResult>> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut results = Vec::new();
    for set in sets {
        let r = evaluate_set(
            &loaded.model,
            &loaded.tokenizer,
            loaded.mode(),
            set,
            settings,
        )
        .with_context(|| format!("evaluating {}", set.path.display()))?;
        write_responses(
            &out.join(format!("{}.responses.jsonl", r.name)),
            &r.responses,
        )?;
        results.push(r);
    }
    Ok(results)
}

pub fn run(args: EvalArgs) -> Result<()> {
    let sets = args.eval.resolve()?;
    let loaded = model_args::load(&args.model)?;
    let results = evaluate_sets(&loaded, &sets, &args.eval.settings(), &args.out)?;
    let rows: Vec<(&str, &Report)> = results
        .iter()
        .map(|r| (r.name.as_str(), &r.report))
        .collect();
    let table = task_set_table(&rows);
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

/// Settings and one report per set, in the order given.
fn report_json(args: &EvalArgs, results: &[SetResult]) -> Result<serde_json::Value> {
    let mut sets = serde_json::Map::new();
    for r in results {
        sets.insert(r.name.clone(), serde_json::to_value(&r.report)?);
    }
    let mut report = json!({
        "model": args.model.model,
        "adapter": args.model.adapter,
        "sets": sets,
    });
    if let (Some(obj), serde_json::Value::Object(settings)) =
        (report.as_object_mut(), args.eval.to_json())
    {
        obj.extend(settings);
    }
    Ok(report)
}

/// Writes `text` to a temporary sibling of `path`, then renames it into place.
pub fn write(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))
}
