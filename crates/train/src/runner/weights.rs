//! A finished (or running) run's weights, as `caugym export` and `caugym ablate` find them:
//! `final/` or `checkpoint-{step}/`, with the configuration the run trained under (for the base
//! model path and whether the weights are an adapter or a full model).

use std::path::{Path, PathBuf};

use super::checkpoint::{self, checkpoint_dir};
use super::{CONFIG_FILE, FINAL_DIR};
use crate::config::{self, TrainConfig, TrainModeName};
use crate::{Error, Result};

/// One set of weights of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunWeights {
    /// `final/` or `checkpoint-{step}/`.
    pub dir: PathBuf,
    /// The step of a checkpoint; `None` for `final/`.
    pub step: Option<u64>,
    /// The configuration the weights were trained under.
    pub config: TrainConfig,
}

impl RunWeights {
    /// Whether `dir` holds a PEFT adapter over `config.model.path` (LoRA) rather than a full
    /// checkpoint.
    pub fn is_adapter(&self) -> bool {
        self.config.model.train_mode == TrainModeName::Lora
    }

    /// The base checkpoint the adapter applies to (`model.path`).
    pub fn base_model(&self) -> &str {
        &self.config.model.path
    }
}

/// Finds `run_dir/final` (`step = None`) or `run_dir/checkpoint-{step}` and reads its config:
/// `final/config.toml`, a checkpoint's `trainer_state.json`, or else the run's `config.toml`.
pub fn run_weights(run_dir: &Path, step: Option<u64>) -> Result<RunWeights> {
    if !run_dir.is_dir() {
        return Err(Error::Checkpoint {
            path: run_dir.to_path_buf(),
            reason: "not a directory (expected a run's output_dir)".to_string(),
        });
    }
    let (dir, text, origin) = match step {
        None => {
            let dir = run_dir.join(FINAL_DIR);
            if !dir.is_dir() {
                return Err(Error::Checkpoint {
                    path: dir,
                    reason: format!(
                        "the run has no final weights (not finished?); {}",
                        available(run_dir)?
                    ),
                });
            }
            let path = [dir.join(CONFIG_FILE), run_dir.join(CONFIG_FILE)]
                .into_iter()
                .find(|p| p.is_file())
                .unwrap_or_else(|| run_dir.join(CONFIG_FILE));
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            (dir, text, path)
        }
        Some(s) => {
            let dir = checkpoint_dir(run_dir, s);
            if !dir.join(checkpoint::STATE_FILE).is_file() {
                return Err(Error::Checkpoint {
                    path: dir,
                    reason: format!("no such checkpoint; {}", available(run_dir)?),
                });
            }
            let state = checkpoint::read_state(&dir)?;
            (dir.clone(), state.config, dir.join(checkpoint::STATE_FILE))
        }
    };
    let config = config::parse(&text, &origin.display().to_string(), &[])?;
    Ok(RunWeights { dir, step, config })
}

/// "checkpoints: 10, 20" or "no checkpoints", for error messages.
fn available(run_dir: &Path) -> Result<String> {
    let steps: Vec<String> = checkpoint::list(run_dir)?
        .into_iter()
        .map(|(s, _)| s.to_string())
        .collect();
    Ok(if steps.is_empty() {
        "the run has no checkpoints".to_string()
    } else {
        format!("its checkpoints are at steps {}", steps.join(", "))
    })
}
