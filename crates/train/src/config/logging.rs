//! `[logging]` and `[output]`: what the run writes and where (TRL `TrainingArguments` names).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::check::{fail, non_empty};
use crate::Result;

/// The `[logging]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    /// Write a metrics line to `metrics.jsonl` every N steps (the last step is always logged).
    /// Default 1, >= 1.
    #[serde(default = "default_logging_steps")]
    pub logging_steps: u64,
    /// Write a checkpoint every N steps; 0 writes only `final/`. Default 0.
    #[serde(default)]
    pub save_steps: u64,
    /// Keep the newest K `checkpoint-*` directories, deleting older ones; 0 keeps all.
    /// Default 2.
    #[serde(default = "default_save_total_limit")]
    pub save_total_limit: usize,
    /// Append example completions (prompt, completion, reward) to `samples.jsonl` every N
    /// steps; 0 never. Default 0.
    #[serde(default)]
    pub sample_steps: u64,
    /// How many example completions each time. Default 2, >= 1.
    #[serde(default = "default_num_samples")]
    pub num_samples: usize,
    /// Show a progress bar (steps, ETA, live reward or loss) on a terminal's stderr. Default true;
    /// never drawn when stderr is not a terminal.
    #[serde(default = "default_progress_bar")]
    pub progress_bar: bool,
}

fn default_logging_steps() -> u64 {
    1
}
fn default_save_total_limit() -> usize {
    2
}
fn default_num_samples() -> usize {
    2
}
fn default_progress_bar() -> bool {
    true
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            logging_steps: default_logging_steps(),
            save_steps: 0,
            save_total_limit: default_save_total_limit(),
            sample_steps: 0,
            num_samples: default_num_samples(),
            progress_bar: default_progress_bar(),
        }
    }
}

impl LoggingConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.logging_steps == 0 {
            return fail(
                "logging.logging_steps",
                "must be at least 1 (1 logs every step)",
            );
        }
        if self.num_samples == 0 {
            return fail(
                "logging.num_samples",
                "must be at least 1; set logging.sample_steps = 0 to sample nothing",
            );
        }
        Ok(())
    }
}

/// The `[output]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// The run directory: `metrics.jsonl`, `samples.jsonl`, `config.toml`, `checkpoint-{step}/`
    /// and `final/`. Relative paths are relative to the working directory. Required.
    pub output_dir: PathBuf,
    /// Start afresh even when `output_dir` already holds a run (its checkpoints and logs are
    /// deleted). Default false: such a directory is an error unless the run resumes.
    #[serde(default)]
    pub overwrite_output_dir: bool,
}

impl OutputConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        non_empty("output.output_dir", &self.output_dir.to_string_lossy())
    }
}
