//! `[data]`: where prompts (and, for SFT, target completions) come from, and how a prompt is
//! presented to the model.

use std::path::PathBuf;

use caugym_data::pools::NamePool;
use caugym_data::{GenConfig, Layout, Variant};
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
    /// Variable names: `real` (everyday phrases), `nonsense` (random 4-letter words) or `mixed`
    /// (either, per item). Default `mixed`, as the benchmark.
    #[serde(default = "default_names")]
    pub names: NamePool,
    /// Text layout: `cau-gym` (the CauGym sets: `(A=0)` tags, run-together edge sentences) or
    /// `calm` (the `base` set's CaLM style). Default `cau-gym`.
    #[serde(default = "default_layout")]
    pub layout: Layout,
}

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
fn default_names() -> NamePool {
    NamePool::Mixed
}
fn default_layout() -> Layout {
    Layout::CauGym
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
            names: default_names(),
            layout: default_layout(),
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
        let variant = self.variant()?;
        if variant == Variant::Deconfounding && hi < 3 {
            return fail(
                "data.generate.nodes",
                "deconfounding items need graphs of at least 3 nodes; raise the maximum",
            );
        }
        Ok(())
    }

    /// The variant, parsed.
    pub fn variant(&self) -> Result<Variant> {
        self.variant.parse().map_err(|_| {
            let names: Vec<&str> = Variant::ALL.iter().map(|v| v.name()).collect();
            crate::Error::setting(
                "data.generate.variant",
                format!(
                    "unknown variant `{}`; expected one of {}",
                    self.variant,
                    names.join(", ")
                ),
            )
        })
    }

    /// The data crate's generator settings.
    pub fn gen_config(&self) -> Result<GenConfig> {
        Ok(GenConfig {
            tasks: self.tasks.clone(),
            count: self.count,
            nodes: (self.nodes[0], self.nodes[1]),
            variant: self.variant()?,
            seed: self.seed,
            layout: self.layout,
            names: self.names,
            instruction: self.instruction,
            step_by_step: self.step_by_step,
        })
    }
}
