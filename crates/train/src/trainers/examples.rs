//! Training examples from the `[data]` table: CauGym items generated on the fly, or records of a
//! JSONL / JSON-array file; the last `held_out` are kept apart for evaluation.

use std::path::Path;

use caugym_data::{Generator, read_items};
use caugym_scm::Task;
use serde::Serialize;
use serde_json::Value;

use crate::config::{DataConfig, GenerateConfig, SftTarget};
use crate::{Error, Result};

/// One example, whatever its source. Equality compares the record's fields, not the
/// structured `problem` (a cache of the prompt that files do not carry).
#[derive(Clone, Debug, Serialize)]
pub struct Example {
    /// Unique id (the record's `id`/`idx`, else `line-N`).
    pub id: String,
    /// The task, when known.
    #[serde(rename = "task", skip_serializing_if = "Option::is_none")]
    pub task: Option<Task>,
    /// The prompt text (before any chat template).
    #[serde(rename = "problem")]
    pub prompt: String,
    /// The gold answer (`{"ANSWER": …, "PROB": …}` or `LACK_CONDITION`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// A worked solution, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub solution: Option<String>,
    /// An explicit SFT target (a record's `completion`), used as it is; with `label`, a KTO
    /// example.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion: Option<String>,
    /// A preferred completion (a DPO record's `chosen`; always given with `rejected`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chosen: Option<String>,
    /// A dispreferred completion (a DPO record's `rejected`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
    /// A KTO record's `label`: whether `completion` is desirable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<bool>,
    /// The structured problem of a generated item (not serialised): corrupted solutions are
    /// derived from it, so their variable letters and words match the worked solution's.
    #[serde(skip)]
    pub problem: Option<Box<caugym_data::Problem>>,
}

impl PartialEq for Example {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.task == other.task
            && self.prompt == other.prompt
            && self.answer == other.answer
            && self.solution == other.solution
            && self.completion == other.completion
            && self.chosen == other.chosen
            && self.rejected == other.rejected
            && self.label == other.label
    }
}

impl Example {
    /// The SFT target: the record's own completion, else the worked solution or the answer
    /// line as `target` asks. `None` when the example has none of them.
    pub fn sft_target(&self, target: SftTarget) -> Option<String> {
        if let Some(c) = &self.completion {
            return Some(c.clone());
        }
        let answer_line = self.answer.as_ref().map(|a| format!("Answer: {a}"));
        match target {
            SftTarget::Solution => self.solution.clone().or(answer_line),
            SftTarget::Answer => answer_line,
        }
    }
}

/// The training examples and the held-out ones.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// For training.
    pub train: Vec<Example>,
    /// The last `data.held_out` items.
    pub held_out: Vec<Example>,
}

/// Loads (or generates) the examples of `cfg` and splits off the held-out ones.
pub fn load(cfg: &DataConfig) -> Result<Split> {
    let mut all = match (&cfg.path, &cfg.generate) {
        (Some(path), _) => read_file(path)?,
        (None, Some(g)) => generate(g)?,
        (None, None) => return Err(Error::setting("data.path", "no training data")),
    };
    if cfg.held_out >= all.len() {
        return Err(Error::setting(
            "data.held_out",
            format!(
                "{} leaves no training examples out of {}",
                cfg.held_out,
                all.len()
            ),
        ));
    }
    let held_out = all.split_off(all.len() - cfg.held_out);
    Ok(Split {
        train: all,
        held_out,
    })
}

/// Generates `g.count` CauGym items.
pub fn generate(g: &GenerateConfig) -> Result<Vec<Example>> {
    let config = g.gen_config()?;
    let mut generator = Generator::new(config).map_err(|e| data_error("data.generate", e))?;
    (0..g.count)
        .map(|i| {
            let item = generator
                .item(i)
                .map_err(|e| data_error("data.generate", e))?;
            Ok(Example {
                id: item.id,
                task: Some(item.task),
                prompt: item.problem,
                answer: Some(item.answer),
                solution: Some(item.solution),
                completion: None,
                chosen: None,
                rejected: None,
                label: None,
                problem: Some(Box::new(item.structured)),
            })
        })
        .collect()
}

fn data_error(key: &str, e: caugym_data::Error) -> Error {
    Error::setting(key, e.to_string())
}

/// Reads a JSONL file (or a JSON array, through the data crate's reader). A record needs
/// `prompt` or `problem`; it may have `completion`, `solution`, `answer`, `task`/`Type` and
/// `id`/`idx`, and for preference methods `chosen` with `rejected` (DPO, TRL's explicit-prompt
/// preference format) or `label` with `completion` (KTO, TRL's unpaired format). Errors name the
/// file, the line and the field.
pub fn read_file(path: &Path) -> Result<Vec<Example>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    if text.trim_start().starts_with('[') {
        let items = read_items(path).map_err(|e| Error::Parse {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        return Ok(items
            .into_iter()
            .map(|it| Example {
                id: it.id,
                task: it.task,
                prompt: it.problem,
                answer: Some(it.answer),
                solution: it.solution,
                completion: None,
                chosen: None,
                rejected: None,
                label: None,
                problem: None,
            })
            .collect());
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| Error::Parse {
            path: path.to_path_buf(),
            reason: format!("line {}: {reason}", i + 1),
        };
        let value: Value = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        out.push(record(&value, i + 1).map_err(bad)?);
    }
    if out.is_empty() {
        return Err(Error::Parse {
            path: path.to_path_buf(),
            reason: "no records".to_string(),
        });
    }
    Ok(out)
}

/// One JSONL record; the error is the reason only (the caller adds file and line).
fn record(v: &Value, line: usize) -> std::result::Result<Example, String> {
    let obj = v.as_object().ok_or("not a JSON object")?;
    let text = |keys: &[&str]| -> std::result::Result<Option<String>, String> {
        for k in keys {
            match obj.get(*k) {
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) => return Ok(Some(s.clone())),
                Some(other) => return Err(format!("field `{k}` must be a string, got {other}")),
            }
        }
        Ok(None)
    };
    let prompt = text(&["prompt", "problem"])?.ok_or("missing field `prompt` (or `problem`)")?;
    let task = match text(&["task", "Type"])? {
        None => None,
        Some(t) => Some(
            t.parse::<Task>()
                .map_err(|_| format!("field `task`: unknown task `{t}`"))?,
        ),
    };
    let id = match obj.get("id").or_else(|| obj.get("idx")) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => format!("line-{line}"),
    };
    let completion = text(&["completion"])?;
    let (chosen, rejected) = match (text(&["chosen"])?, text(&["rejected"])?) {
        (Some(_), None) => {
            return Err("field `chosen` without `rejected`: a preference record needs both".into());
        }
        (None, Some(_)) => {
            return Err("field `rejected` without `chosen`: a preference record needs both".into());
        }
        pair => pair,
    };
    let label = match obj.get("label") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => {
            return Err(format!(
                "field `label` must be true (desirable) or false (undesirable), got {other}"
            ));
        }
    };
    if label.is_some() && completion.is_none() {
        return Err("field `label` without `completion`: a KTO record needs both".into());
    }
    Ok(Example {
        id,
        task,
        prompt,
        answer: text(&["answer"])?,
        solution: text(&["solution"])?,
        completion,
        chosen,
        rejected,
        label,
        problem: None,
    })
}

/// Writes examples as JSONL in the data crate's record shape (`id`, `task`, `problem`,
/// `answer`, `solution`), readable by `caugym eval`. Atomic (temporary file, then rename).
pub fn write_jsonl(path: &Path, examples: &[Example]) -> Result<()> {
    let mut text = String::new();
    for e in examples {
        let line = serde_json::to_string(e).map_err(|err| Error::Parse {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })?;
        text.push_str(&line);
        text.push('\n');
    }
    let tmp = path.with_extension("jsonl.tmp");
    std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
