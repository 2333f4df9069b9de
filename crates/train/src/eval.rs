//! Evaluation on CauGym sets: n sampled completions per item, scored by the benchmark's own
//! rule (the reward crate's `score_benchmark`), per task and overall.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use caugym_data::ResponseLine;
use caugym_model::tokenizer::Tokenizer;
use caugym_model::{AdapterMode, Qwen2};
use caugym_reward::{Report, ScoreItem, score_benchmark};
use caugym_rollout::{GenerationConfig, generate};

use crate::trainers::examples::{Example, read_file};
use crate::trainers::prompts::PromptStyle;
use crate::trainers::rollouts::rollout_error;
use crate::{Error, Result};

/// The official instruction appended to every prompt of the `insufficient` set, read from the
/// data directory when present.
pub const INSUFFICIENT_INSTRUCTION: &str = "insufficient_instruction.txt";

/// A set to evaluate.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalSet {
    /// Its name in tables (`base`, or a file's stem).
    pub name: String,
    /// The file it was read from.
    pub path: PathBuf,
    /// The items.
    pub items: Vec<Example>,
    /// Text appended to every prompt (the insufficient set's instruction).
    pub suffix: Option<String>,
}

/// Resolves `spec`: an existing file (JSON array or JSONL), or a set name looked up as
/// `<data_dir>/<spec>.json`. The `insufficient` set gets the official instruction appended.
pub fn resolve_set(spec: &str, data_dir: &Path) -> Result<EvalSet> {
    let as_path = Path::new(spec);
    let (name, path) = if as_path.is_file() {
        let stem = as_path
            .file_stem()
            .map_or_else(|| spec.to_string(), |s| s.to_string_lossy().into_owned());
        (stem, as_path.to_path_buf())
    } else {
        let path = data_dir.join(format!("{spec}.json"));
        if !path.is_file() {
            return Err(Error::setting(
                "--sets",
                format!(
                    "`{spec}` is neither a file nor a set in {} (known: {})",
                    data_dir.display(),
                    known_sets(data_dir).join(", ")
                ),
            ));
        }
        (spec.to_string(), path)
    };
    let instruction = data_dir.join(INSUFFICIENT_INSTRUCTION);
    let suffix = if name == "insufficient" && instruction.is_file() {
        let text = std::fs::read_to_string(&instruction).map_err(|e| Error::io(&instruction, e))?;
        Some(text.trim().to_string())
    } else {
        None
    };
    Ok(EvalSet {
        items: read_file(&path)?,
        name,
        path,
        suffix,
    })
}

fn known_sets(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_suffix(".json").map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

/// How completions are sampled.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalSettings {
    /// Sampling; `num_generations` is the samples per item (the paper: 5 at temperature 0.6,
    /// top-p 0.95).
    pub sampling: GenerationConfig,
    /// Seed of the per-completion generators.
    pub seed: u64,
    /// Chat template or raw prompts.
    pub style: PromptStyle,
    /// Evaluate only the first N items of each set.
    pub limit: Option<usize>,
}

/// A set's result: the report and the responses per item.
#[derive(Clone, Debug, PartialEq)]
pub struct SetResult {
    /// The set's name.
    pub name: String,
    /// Accuracy per task and overall.
    pub report: Report,
    /// The sampled responses, one line per item, in item order.
    pub responses: Vec<ResponseLine>,
}

/// Samples and scores one set.
pub fn evaluate_set(
    model: &Qwen2,
    tokenizer: &Tokenizer,
    adapter: AdapterMode,
    set: &EvalSet,
    settings: &EvalSettings,
) -> Result<SetResult> {
    let items = match settings.limit {
        Some(n) => &set.items[..n.min(set.items.len())],
        None => &set.items[..],
    };
    let prompts = items
        .iter()
        .map(|it| {
            let text = match &set.suffix {
                Some(s) => format!("{}\n{s}", it.prompt),
                None => it.prompt.clone(),
            };
            settings.style.encode(tokenizer, &text)
        })
        .collect::<Result<Vec<_>>>()?;
    let rollout = generate(
        model,
        tokenizer,
        &prompts,
        &settings.sampling,
        settings.seed,
        adapter,
    )
    .map_err(rollout_error)?;
    let mut by_item: Vec<Vec<String>> = vec![Vec::new(); items.len()];
    for c in rollout.completions {
        by_item[c.prompt_index].push(c.text);
    }
    let responses: Vec<ResponseLine> = items
        .iter()
        .zip(by_item)
        .map(|(it, r)| ResponseLine {
            id: it.id.clone(),
            responses: r,
        })
        .collect();
    let report = score(items, &responses)?;
    Ok(SetResult {
        name: set.name.clone(),
        report,
        responses,
    })
}

/// The benchmark's score of `responses` on `items`.
pub fn score(items: &[Example], responses: &[ResponseLine]) -> Result<Report> {
    let score_items = items
        .iter()
        .map(|it| {
            let gold = it.answer.clone().ok_or_else(|| {
                Error::setting("--sets", format!("item `{}` has no `answer`", it.id))
            })?;
            Ok(ScoreItem {
                id: it.id.clone(),
                task: it.task,
                gold,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let map: HashMap<String, Vec<String>> = responses
        .iter()
        .map(|r| (r.id.clone(), r.responses.clone()))
        .collect();
    Ok(score_benchmark(&score_items, &map)?)
}
