//! Checkpoints: `checkpoint-{step}/` holding the user-facing weights (the method's export: a
//! PEFT adapter or a full model), the raw trainable tensors, the optimiser state and the trainer
//! state. Each is filled in a hidden temporary directory and renamed into place, so a crash never
//! leaves a half-written checkpoint and never damages an earlier one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use super::rng::RngState;
use crate::optim::{AdamW, AdamWState};
use crate::params::NamedVar;
use crate::{Error, Result};

/// The trainer state file of a checkpoint.
pub const STATE_FILE: &str = "trainer_state.json";
/// The trainable tensors by parameter name (what `--resume` restores).
pub const PARAMS_FILE: &str = "trainable.safetensors";
/// The AdamW moments, master weights and step counts.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// Prefix of checkpoint directory names.
pub const CHECKPOINT_PREFIX: &str = "checkpoint-";
/// Prefix of directories being written (ignored, and removed at start-up).
const TMP_PREFIX: &str = ".tmp-";

/// What `trainer_state.json` records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Steps completed.
    pub step: u64,
    /// Optimiser updates applied so far.
    pub optimizer_steps: u64,
    /// The random state at the next step.
    pub rng: RngState,
    /// The method (`sft`, `grpo`).
    pub method: String,
    /// The method's own state (e.g. an adaptive KL coefficient); `null` when it has none.
    pub method_state: serde_json::Value,
    /// The run's configuration, as TOML.
    pub config: String,
}

/// `run_dir/checkpoint-{step}`.
pub fn checkpoint_dir(run_dir: &Path, step: u64) -> PathBuf {
    run_dir.join(format!("{CHECKPOINT_PREFIX}{step}"))
}

/// Fills a sibling temporary directory with `fill`, then renames it to `dir` (replacing an
/// existing `dir`). On error the temporary directory is removed and `dir` is untouched.
pub fn write_dir_atomically(dir: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dir".to_string());
    let tmp = parent.join(format!("{TMP_PREFIX}{name}"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    if let Err(e) = fill(&tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| Error::io(dir, e))
}

/// Removes leftovers of writes that a crash interrupted.
pub fn remove_stale_tmp(run_dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(run_dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            let p = entry.path();
            std::fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
        }
    }
    Ok(())
}

/// Writes `checkpoint-{state.step}` atomically: `export` fills the user-facing files, then the
/// trainable tensors, the optimiser state and `trainer_state.json` are added.
pub fn save(
    run_dir: &Path,
    params: &[NamedVar],
    optimizer: &AdamW,
    state: &TrainerState,
    export: impl FnOnce(&Path) -> Result<()>,
) -> Result<PathBuf> {
    let dir = checkpoint_dir(run_dir, state.step);
    write_dir_atomically(&dir, |tmp| {
        export(tmp)?;
        let tensors: HashMap<String, Tensor> = params
            .iter()
            .map(|p| (p.name.clone(), p.var.as_tensor().detach()))
            .collect();
        let path = tmp.join(PARAMS_FILE);
        candle_core::safetensors::save(&tensors, &path)?;
        let path = tmp.join(OPTIMIZER_FILE);
        candle_core::safetensors::save(&optimizer.state()?.to_tensor_map()?, &path)?;
        let json = serde_json::to_string_pretty(state).map_err(|e| Error::Checkpoint {
            path: tmp.to_path_buf(),
            reason: e.to_string(),
        })?;
        let path = tmp.join(STATE_FILE);
        std::fs::write(&path, json).map_err(|e| Error::io(&path, e))
    })?;
    Ok(dir)
}

/// The checkpoints of a run, oldest first, as `(step, dir)`; only complete ones (with a
/// trainer state) count.
pub fn list(run_dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let Ok(entries) = std::fs::read_dir(run_dir) else {
        return Ok(Vec::new());
    };
    let mut out: Vec<(u64, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let step = name.strip_prefix(CHECKPOINT_PREFIX)?.parse().ok()?;
            let path = e.path();
            path.join(STATE_FILE).is_file().then_some((step, path))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Deletes all but the newest `keep` checkpoints (0 keeps all).
pub fn prune(run_dir: &Path, keep: usize) -> Result<()> {
    if keep == 0 {
        return Ok(());
    }
    let all = list(run_dir)?;
    let excess = all.len().saturating_sub(keep);
    for (_, dir) in &all[..excess] {
        std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    Ok(())
}

/// Reads a checkpoint's trainer state.
pub fn read_state(dir: &Path) -> Result<TrainerState> {
    let path = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Parse {
        path,
        reason: e.to_string(),
    })
}

/// Restores the trainable tensors and the optimiser state of a checkpoint; nothing changes unless
/// both files match the parameters (names and shapes).
pub fn restore(dir: &Path, params: &[NamedVar], optimizer: &mut AdamW) -> Result<()> {
    let device = params
        .first()
        .map(|p| p.var.device().clone())
        .unwrap_or(candle_core::Device::Cpu);
    let path = dir.join(PARAMS_FILE);
    let mut saved =
        candle_core::safetensors::load(&path, &device).map_err(|e| Error::Checkpoint {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    let mut values = Vec::with_capacity(params.len());
    for p in params {
        let bad = |reason: String| Error::Checkpoint {
            path: path.clone(),
            reason,
        };
        let t = saved
            .remove(&p.name)
            .ok_or_else(|| bad(format!("no tensor for parameter `{}`", p.name)))?;
        if t.dims() != p.var.dims() {
            return Err(bad(format!(
                "`{}` has shape {:?}, the parameter {:?}",
                p.name,
                t.dims(),
                p.var.dims()
            )));
        }
        values.push(t.to_dtype(p.var.dtype())?);
    }
    if let Some(extra) = saved.keys().next() {
        return Err(Error::Checkpoint {
            path,
            reason: format!("`{extra}` is not a trainable parameter of this run"),
        });
    }
    let opt_path = dir.join(OPTIMIZER_FILE);
    let map =
        candle_core::safetensors::load(&opt_path, &device).map_err(|e| Error::Checkpoint {
            path: opt_path.clone(),
            reason: e.to_string(),
        })?;
    let state = AdamWState::from_tensor_map(map)?;
    // `load_state` checks everything before changing anything; the tensors are set after it
    // (a low-precision Var saved as itself equals the rounding of its restored master copy).
    optimizer.load_state(&state)?;
    for (p, v) in params.iter().zip(values) {
        p.var.set(&v)?;
    }
    Ok(())
}
