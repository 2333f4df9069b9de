//! `[data]`: where prompts (and, for SFT, target completions) come from, and how a prompt is
//! presented to the model.

use std::path::PathBuf;

use caugym_scm::Task;
use serde::{Deserialize, Serialize};

use super::check::{fail, positive_count};
use crate::Result;

/// The `[data]` table: exactly one of `path` and `[data.generate]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// A JSONL file (or a benchmark-style JSON array) of records. SFT reads `prompt` and
    /// `completion` (or CauGym's `problem` and `solution`); GRPO reads `prompt` (or `problem`),
    /// `answer`, and optionally `task`/`Type`. Errors name the file and line. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Generate CauGym items on the fly instead of reading a file. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<GenerateConfig>,
    /// Items kept out of training (the last N of the file or of the generated stream), written
    /// to `<output_dir>/held_out.jsonl` for `caugym eval`. Default 0.
    #[serde(default)]
    pub held_out: usize,
    /// `chat`: the prompt is one user turn through the tokenizer's chat template with the
    /// generation prompt; `raw`: the prompt text itself. Default `chat`.
    #[serde(default = "default_prompt_format")]
    pub prompt_format: PromptFormat,
    /// A system turn before the prompt (`chat` only). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
}

/// How prompt text becomes prompt tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PromptFormat {
    /// A user turn through the chat template, ending with the assistant header.
    Chat,
    /// The text as it is.
    Raw,
}

fn default_prompt_format() -> PromptFormat {
    PromptFormat::Chat
}

/// The `[data.generate]` table: CauGym items drawn by the data crate's generator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateConfig {
    /// Tasks, cycled item by item: any of `ATE`, `CDE`, `ETT`, `NDE`, `NIE`, `PN`, `PS`.
    /// Default all seven.
    #[serde(default = "default_tasks")]
    pub tasks: Vec<Task>,
    /// Items to generate (training items plus `data.held_out`). Default 1000, >= 1.
    #[serde(default = "default_count")]
    pub count: usize,
    /// Nodes per graph, inclusive `[min, max]` within 2..=10. Default `[2, 6]` (the range of
    /// the benchmark's `base` set); the study trained on 10-node graphs.
    #[serde(default = "default_nodes")]
    pub nodes: [usize; 2],
    /// The evaluation set the items look like: `base`, `deconfounding`, `redundant`,
    /// `insufficient`, `omitted` or `rephrased`. Default `base`.
    #[serde(default = "default_variant")]
    pub variant: String,
    /// Seed of the generator (independent of the run's `seed`). Default 0.
    #[serde(default)]
    pub seed: u64,
    /// Print the `Instruction:` line naming the estimand. Default true; the study removed it.
    #[serde(default = "default_instruction")]
    pub instruction: bool,
    /// Append `Let's think step by step.` to each prompt. Default false; the study appended it.
    #[serde(default)]
    pub step_by_step: bool,
}

/// The variant names the generator accepts.
pub const VARIANTS: [&str; 6] = [
    "base",
    "deconfounding",
    "redundant",
    "insufficient",
    "omitted",
    "rephrased",
];

fn default_tasks() -> Vec<Task> {
    Task::ALL.to_vec()
}
fn default_count() -> usize {
    1000
}
fn default_nodes() -> [usize; 2] {
    [2, 6]
}
fn default_variant() -> String {
    "base".to_string()
}
fn default_instruction() -> bool {
    true
}

impl Default for GenerateConfig {
    fn default() -> Self {
        Self {
            tasks: default_tasks(),
            count: default_count(),
            nodes: default_nodes(),
            variant: default_variant(),
            seed: 0,
            instruction: default_instruction(),
            step_by_step: false,
        }
    }
}

impl DataConfig {
    /// Generated items with every other key at its default.
    pub fn generated(generate: GenerateConfig) -> Self {
        Self {
            path: None,
            generate: Some(generate),
            held_out: 0,
            prompt_format: default_prompt_format(),
            system_prompt: None,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        match (&self.path, &self.generate) {
            (Some(_), Some(_)) => {
                return fail(
                    "data.path",
                    "give either data.path or a [data.generate] table, not both",
                );
            }
            (None, None) => {
                return fail(
                    "data.path",
                    "no training data: set data.path to a JSONL file or add a [data.generate] table",
                );
            }
            _ => {}
        }
        if self.system_prompt.is_some() && self.prompt_format == PromptFormat::Raw {
            return fail(
                "data.system_prompt",
                "a system turn needs data.prompt_format = \"chat\"",
            );
        }
        if let Some(g) = &self.generate {
            g.validate()?;
            if self.held_out >= g.count {
                return fail(
                    "data.held_out",
                    format!(
                        "{} leaves no training items out of data.generate.count = {}",
                        self.held_out, g.count
                    ),
                );
            }
        }
        Ok(())
    }
}

impl GenerateConfig {
    fn validate(&self) -> Result<()> {
        if self.tasks.is_empty() {
            return fail(
                "data.generate.tasks",
                "list at least one task (e.g. [\"ATE\"])",
            );
        }
        positive_count("data.generate.count", self.count)?;
        let [lo, hi] = self.nodes;
        if !(2 <= lo && lo <= hi && hi <= 10) {
            return fail(
                "data.generate.nodes",
                format!("[{lo}, {hi}] must satisfy 2 <= min <= max <= 10"),
            );
        }
        if !VARIANTS.contains(&self.variant.as_str()) {
            return fail(
                "data.generate.variant",
                format!(
                    "unknown variant `{}`; expected one of {}",
                    self.variant,
                    VARIANTS.join(", ")
                ),
            );
        }
        Ok(())
    }
}
