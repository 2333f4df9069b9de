//! The shared training loop. A method (SFT, GRPO; later DPO, KTO, PPO) plugs in through
//! [`Method`]: it prepares each step's work — rollouts, rewards, reference and old log-probs —
//! as a list of optimiser updates, each a list of micro-batches, and computes one micro-batch's
//! loss. The runner owns everything else: the AdamW optimiser, the learning-rate schedule,
//! gradient accumulation, the [`GradReducer`] seam, global-norm clipping, non-finite checks,
//! checkpoints and `--resume`, `metrics.jsonl`, `samples.jsonl` and the progress bar.
//!
//! Steps are 1-based. A step is one call of [`Method::next_round`] followed by its updates
//! (SFT: one update; GRPO: μ passes over the rollout batch, verl's "global step"). The learning
//! rate is constant within a step and follows the schedule across steps. Every random draw of
//! step `k` comes from [`rng::step_rng`]`(seed, k)`, so a checkpoint at a step boundary holds the
//! complete state and a resumed run writes the same metrics as an uninterrupted one.

pub mod checkpoint;
pub mod log;
mod progress;
pub mod reducer;
pub mod rng;
mod update;
pub mod weights;

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Tensor;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

pub use checkpoint::TrainerState;
pub use progress::headline;
pub use reducer::{GradReducer, SingleProcess};
pub use rng::{RngState, derive_seed, step_rng};
pub use weights::{RunWeights, run_weights};

use crate::config::{LoggingConfig, OptimConfig, OutputConfig, TrainConfig};
use crate::metrics::{self, Metrics};
use crate::optim::AdamW;
use crate::params::NamedVar;
use crate::{Error, Result};
use log::{JsonlLog, metrics_line};
use progress::Progress;
use update::{UpdateCtx, apply, as_means};

/// `metrics.jsonl`: one line per logged step.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// `samples.jsonl`: example completions.
pub const SAMPLES_FILE: &str = "samples.jsonl";
/// `config.toml`: the run's resolved configuration.
pub const CONFIG_FILE: &str = "config.toml";
/// `final/`: the exported weights at the end of the run.
pub const FINAL_DIR: &str = "final";

/// A post-training method as the runner drives it.
pub trait Method {
    /// One micro-batch of prepared work (tensors and whatever its loss needs, including the
    /// normaliser of its whole update).
    type Micro;

    /// The trainable parameters, with names stable across runs (checkpoints key on them).
    fn params(&self) -> Result<Vec<NamedVar>>;

    /// Prepares step `step`: draws data with `rng`, samples and scores completions, computes
    /// reference and old log-probs, and lays the work out as optimiser updates. `metrics` of
    /// the round (reward, lengths, rollout throughput) are logged with the step's.
    fn next_round(&mut self, step: u64, rng: &mut ChaCha8Rng) -> Result<Round<Self::Micro>>;

    /// The loss of one micro-batch (with its graph) and its metrics. The losses of an update's
    /// micro-batches must add up to the update's loss (normalise by whole-update counts).
    fn micro_loss(&mut self, micro: &Self::Micro) -> Result<(Tensor, Metrics)>;

    /// Writes the user-facing weights into `dir` (a PEFT adapter, or a full model).
    fn export(&self, dir: &Path) -> Result<()>;

    /// Up to `n` example completions of the current policy, drawn with `rng` (the step's
    /// generator, after the step's updates). Default: none.
    fn samples(&mut self, _n: usize, _rng: &mut ChaCha8Rng) -> Result<Vec<Sample>> {
        Ok(Vec::new())
    }

    /// State the method carries across steps (e.g. an adaptive KL coefficient), for
    /// checkpoints. Default: none.
    fn state(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Restores [`Method::state`] on resume.
    fn load_state(&mut self, _state: &serde_json::Value) -> Result<()> {
        Ok(())
    }
}

/// One step's prepared work.
#[derive(Debug)]
pub struct Round<M> {
    /// Optimiser updates, applied in order.
    pub updates: Vec<Update<M>>,
    /// Metrics of the preparation (rewards, lengths, rollout tokens/s).
    pub metrics: Metrics,
}

/// One optimiser update: its micro-batches' gradients are summed, reduced, clipped and applied.
#[derive(Debug)]
pub struct Update<M> {
    /// The micro-batches.
    pub micro_batches: Vec<M>,
    /// Tokens the update trains on (for `perf/train_tokens_per_s`).
    pub tokens: usize,
}

/// An example completion for `samples.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sample {
    /// The prompt text.
    pub prompt: String,
    /// The completion text.
    pub completion: String,
    /// The gold answer, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gold: Option<String>,
    /// The reward, when scored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reward: Option<f64>,
    /// The reward's outcome label (`correct`, `wrong_value`, ...), when scored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// What the runner needs from the configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSettings {
    /// The run's seed.
    pub seed: u64,
    /// The method's config name.
    pub method: String,
    /// `[optim]`.
    pub optim: OptimConfig,
    /// `[logging]`.
    pub logging: LoggingConfig,
    /// `[output]`.
    pub output: OutputConfig,
    /// The whole configuration as TOML, recorded in checkpoints and compared on resume.
    pub config_toml: String,
}

impl RunSettings {
    /// The settings of a validated config.
    pub fn from_config(cfg: &TrainConfig) -> Result<Self> {
        Ok(Self {
            seed: cfg.seed,
            method: cfg.method.name().to_string(),
            optim: cfg.optim.clone(),
            logging: cfg.logging.clone(),
            output: cfg.output.clone(),
            config_toml: cfg.to_toml()?,
        })
    }

    fn run_dir(&self) -> &Path {
        &self.output.output_dir
    }
}

/// How the run starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Continue from the newest checkpoint in the output directory.
    pub resume: bool,
}

/// What a finished run reports.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    /// The step the run started after (0 for a fresh run).
    pub resumed_from: u64,
    /// The last step completed.
    pub last_step: u64,
    /// Metrics of the last step run in this invocation (empty if none ran).
    pub last_metrics: Metrics,
    /// The exported weights.
    pub final_dir: PathBuf,
}

/// Trains `method` to `settings.optim.max_steps`.
///
/// Errors inside a step are [`Error::Step`] naming it; they leave the run directory as the last
/// checkpoint and the log lines before the step left it (nothing is written for a failed step).
pub fn run<M: Method>(
    method: &mut M,
    settings: &RunSettings,
    reducer: &mut dyn GradReducer,
    options: RunOptions,
) -> Result<RunSummary> {
    let params = method.params()?;
    let mut optimizer = AdamW::new(params.clone(), settings.optim.adamw())?;
    let schedule = settings.optim.schedule()?;
    let start = prepare(method, settings, &params, &mut optimizer, options)?;
    let run_dir = settings.run_dir();
    let keep = (start > 0).then_some(start);
    let mut metrics_log = JsonlLog::open(&run_dir.join(METRICS_FILE), keep)?;
    let mut samples_log = JsonlLog::open(&run_dir.join(SAMPLES_FILE), keep)?;
    let (max_steps, logging) = (settings.optim.max_steps, &settings.logging);
    let progress = Progress::new(logging.progress_bar, start, max_steps, &settings.method);
    let mut last = Metrics::new();
    for step in start + 1..=max_steps {
        let lr = schedule.lr(step - 1);
        let mut ctx = UpdateCtx {
            params: &params,
            optimizer: &mut optimizer,
            reducer: &mut *reducer,
            max_grad_norm: settings.optim.max_grad_norm,
        };
        let in_step = |e: Error| Error::Step {
            step,
            source: Box::new(e),
        };
        let (m, mut rng) = run_step(method, &mut ctx, settings.seed, step, lr).map_err(in_step)?;
        if step % logging.logging_steps == 0 || step == max_steps {
            metrics_log.write_line(&metrics_line(step, m.iter()))?;
        }
        if logging.sample_steps > 0 && step % logging.sample_steps == 0 {
            let samples = method
                .samples(logging.num_samples, &mut rng)
                .map_err(in_step)?;
            write_samples(&mut samples_log, step, &samples)?;
        }
        if logging.save_steps > 0 && step % logging.save_steps == 0 {
            save_checkpoint(method, settings, &params, &optimizer, step)?;
        }
        progress.step(&m);
        last = m;
    }
    progress.finish();
    let final_dir = run_dir.join(FINAL_DIR);
    checkpoint::write_dir_atomically(&final_dir, |dir| {
        method.export(dir)?;
        let path = dir.join(CONFIG_FILE);
        std::fs::write(&path, &settings.config_toml).map_err(|e| Error::io(&path, e))
    })?;
    Ok(RunSummary {
        resumed_from: start,
        last_step: max_steps.max(start),
        last_metrics: last,
        final_dir,
    })
}

/// Prepares the step's work and applies its updates; returns the step's metrics and its
/// generator (for the samples drawn after it).
fn run_step<M: Method>(
    method: &mut M,
    ctx: &mut UpdateCtx<'_>,
    seed: u64,
    step: u64,
    lr: f64,
) -> Result<(Metrics, ChaCha8Rng)> {
    let t0 = Instant::now();
    let mut rng = step_rng(seed, step);
    let round = method.next_round(step, &mut rng)?;
    let t_train = Instant::now();
    let mut per_update = Metrics::new();
    let mut tokens = 0usize;
    for (i, u) in round.updates.iter().enumerate() {
        per_update.merge(&as_means(&apply(method, ctx, u, i, lr)?));
        tokens += u.tokens;
    }
    let train_s = t_train.elapsed().as_secs_f64();
    let mut m = round.metrics;
    m.merge(&per_update);
    m.insert(metrics::OPTIM_LR, lr);
    m.insert(metrics::OPTIM_UPDATES, round.updates.len() as f64);
    if tokens > 0 && train_s > 0.0 {
        m.insert(metrics::PERF_TRAIN_TOKENS_PER_S, tokens as f64 / train_s);
    }
    m.insert(metrics::PERF_STEP_S, t0.elapsed().as_secs_f64());
    Ok((m, rng))
}

fn write_samples(log: &mut JsonlLog, step: u64, samples: &[Sample]) -> Result<()> {
    for s in samples {
        let mut v = serde_json::to_value(s).map_err(|e| Error::Parse {
            path: log.path().to_path_buf(),
            reason: e.to_string(),
        })?;
        if let serde_json::Value::Object(map) = &mut v {
            map.insert("step".into(), step.into());
        }
        log.write_line(&v.to_string())?;
    }
    Ok(())
}

fn save_checkpoint<M: Method>(
    method: &M,
    settings: &RunSettings,
    params: &[NamedVar],
    optimizer: &AdamW,
    step: u64,
) -> Result<()> {
    let state = TrainerState {
        step,
        optimizer_steps: optimizer.step_count(),
        rng: RngState {
            seed: settings.seed,
            next_step: step + 1,
        },
        method: settings.method.clone(),
        method_state: method.state(),
        config: settings.config_toml.clone(),
    };
    let run_dir = settings.run_dir();
    checkpoint::save(run_dir, params, optimizer, &state, |dir| method.export(dir))?;
    checkpoint::prune(run_dir, settings.logging.save_total_limit)
}

/// Sets up the run directory; on resume restores the newest checkpoint. Returns the step to
/// continue after.
fn prepare<M: Method>(
    method: &mut M,
    settings: &RunSettings,
    params: &[NamedVar],
    optimizer: &mut AdamW,
    options: RunOptions,
) -> Result<u64> {
    let run_dir = settings.run_dir();
    std::fs::create_dir_all(run_dir).map_err(|e| Error::io(run_dir, e))?;
    checkpoint::remove_stale_tmp(run_dir)?;
    let start = if options.resume {
        resume(method, settings, params, optimizer)?
    } else {
        clear_previous_run(run_dir, settings.output.overwrite_output_dir)?;
        0
    };
    let path = run_dir.join(CONFIG_FILE);
    std::fs::write(&path, &settings.config_toml).map_err(|e| Error::io(&path, e))?;
    Ok(start)
}

fn resume<M: Method>(
    method: &mut M,
    settings: &RunSettings,
    params: &[NamedVar],
    optimizer: &mut AdamW,
) -> Result<u64> {
    let run_dir = settings.run_dir();
    let Some((_, dir)) = checkpoint::list(run_dir)?.pop() else {
        return Err(Error::Checkpoint {
            path: run_dir.to_path_buf(),
            reason: "no checkpoint to resume from (set logging.save_steps to write them)"
                .to_string(),
        });
    };
    let state = checkpoint::read_state(&dir)?;
    if let Some(key) = config_difference(&state.config, &settings.config_toml) {
        return Err(Error::Checkpoint {
            path: dir,
            reason: format!(
                "`{key}` differs from the checkpoint's config, so the run would not continue \
                 exactly; resume with the same config (only [logging] and optim.max_steps may \
                 change)"
            ),
        });
    }
    if state.step > settings.optim.max_steps {
        return Err(Error::Checkpoint {
            path: dir,
            reason: format!(
                "the checkpoint is at step {}, past optim.max_steps = {}; raise optim.max_steps \
                 to continue the run",
                state.step, settings.optim.max_steps
            ),
        });
    }
    checkpoint::restore(&dir, params, optimizer)?;
    method.load_state(&state.method_state)?;
    Ok(state.step)
}

/// Refuses to mix a new run with an old one's files unless `overwrite`, which removes them.
fn clear_previous_run(run_dir: &Path, overwrite: bool) -> Result<()> {
    let owned = |name: &str| {
        name == METRICS_FILE
            || name == SAMPLES_FILE
            || name == FINAL_DIR
            || name.starts_with(checkpoint::CHECKPOINT_PREFIX)
    };
    let entries = std::fs::read_dir(run_dir).map_err(|e| Error::io(run_dir, e))?;
    let found: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| owned(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    if !overwrite {
        return Err(Error::Checkpoint {
            path: run_dir.to_path_buf(),
            reason: "the output directory already holds a run; pass --resume to continue it, \
                     or set output.overwrite_output_dir = true to start afresh"
                .to_string(),
        });
    }
    for p in found {
        let removed = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        removed.map_err(|e| Error::io(&p, e))?;
    }
    Ok(())
}

/// The first dotted key whose value differs between two configs, ignoring `[logging]` and
/// `output.overwrite_output_dir` (they do not change results) and `optim.max_steps`: a run
/// stopped at step k (by `max_steps = k`, or killed) continues to the new end. The steps after
/// k then equal an uninterrupted run's when the learning rate does not depend on `max_steps`
/// (a constant schedule, warmup included); under a cosine the schedule is stretched to the new
/// end from step k + 1 on, as in a run extended on purpose.
fn config_difference(saved: &str, current: &str) -> Option<String> {
    let flat = |text: &str| {
        let mut out = std::collections::BTreeMap::new();
        if let Ok(table) = text.parse::<toml::Table>() {
            flatten("", &toml::Value::Table(table), &mut out);
        }
        out.retain(|k: &String, _| {
            !k.starts_with("logging.")
                && k != "output.overwrite_output_dir"
                && k != "optim.max_steps"
        });
        out
    };
    let (a, b) = (flat(saved), flat(current));
    a.keys()
        .chain(b.keys())
        .find(|k| a.get(*k) != b.get(*k))
        .cloned()
}

fn flatten(prefix: &str, v: &toml::Value, out: &mut std::collections::BTreeMap<String, String>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}
