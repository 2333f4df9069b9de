//! `caugym ablate`: train several configs in turn, evaluate every run on the same sets with the
//! same sampling settings, and write one comparison (`ablation.md`, `ablation.json`), plus the
//! runs' curves overlaid (`plots/`).
//!
//! Method-agnostic: each config goes through `caugym_train::config::load` and
//! `caugym_train::trainers::train`, so every method the library trains can be ablated. A config
//! that cannot be read, a run that fails (or panics) and an evaluation that fails become rows
//! marked `failed`; the others continue. `--prepare` trains a shared first stage (e.g. the SFT
//! warm start that the ablation configs name as `model.init_adapter`) unless its `final/`
//! already exists; its failure stops the ablation, since every run depends on it.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use caugym_train::config::{self, TrainConfig, TrainModeName};
use caugym_train::eval::EvalSet;
use caugym_train::runner::{FINAL_DIR, RunOptions, run_weights};
use caugym_train::trainers::train;

use super::eval::{EvalSetArgs, evaluate_sets, write};
use super::model_args::{self, ModelArgs};
use crate::ablation::{Outcome, Row, markdown, to_json};
use crate::plot::{PlotOptions, plot_runs};

/// Train and compare configs on the same evaluation sets.
#[derive(Debug, clap::Args)]
pub struct AblateArgs {
    /// Run configs (TOML), trained in the order given; each row is named by its file stem.
    #[arg(required = true, value_name = "CONFIG")]
    pub configs: Vec<PathBuf>,
    /// Override a value in every config, e.g. `--set optim.max_steps=2`; repeat for several.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// A config trained first (not evaluated), e.g. the SFT warm start the configs name as
    /// `model.init_adapter`; skipped when its `final/` exists.
    #[arg(long, value_name = "CONFIG")]
    pub prepare: Option<PathBuf>,
    /// Retrain the --prepare config even when its `final/` exists.
    #[arg(long, requires = "prepare")]
    pub force_prepare: bool,
    /// Also evaluate the starting point (the first config's `model.path` with its
    /// `model.init_adapter`, if any) as a row named `base`.
    #[arg(long)]
    pub base: bool,
    #[command(flatten)]
    pub eval: EvalSetArgs,
    /// Output directory: `ablation.md`, `ablation.json`, `<row>/<set>.responses.jsonl`,
    /// `plots/`.
    #[arg(long, default_value = "ablation")]
    pub out: PathBuf,
}

/// A config that trained.
struct Trained {
    name: String,
    cfg: TrainConfig,
    train_s: f64,
}

pub fn run(args: AblateArgs) -> Result<()> {
    let t0 = Instant::now();
    let sets = args.eval.resolve()?;
    let set_names: Vec<String> = sets.iter().map(|s| s.name.clone()).collect();
    if let Some(prepare) = &args.prepare {
        prepare_stage(prepare, args.force_prepare)?;
    }
    let names = row_names(&args.configs);
    let mut rows: Vec<Row> = Vec::new();
    let mut trained: Vec<Trained> = Vec::new();
    let mut first_cfg: Option<TrainConfig> = None;
    for (path, name) in args.configs.iter().zip(&names) {
        match config::load(path, &args.set) {
            Err(e) => rows.push(failed(name, None, "config", &anyhow!(e))),
            Ok(cfg) => {
                first_cfg.get_or_insert_with(|| cfg.clone());
                eprintln!("== {name}: training ({}) ==", cfg.method.name());
                let t = Instant::now();
                match train_caught(&cfg) {
                    Ok(()) => trained.push(Trained {
                        name: name.clone(),
                        cfg,
                        train_s: t.elapsed().as_secs_f64(),
                    }),
                    Err(e) => {
                        eprintln!("== {name}: failed: {e:#}");
                        let mut row = failed(name, Some(&cfg), "train", &e);
                        row.train_s = Some(t.elapsed().as_secs_f64());
                        rows.push(row);
                    }
                }
            }
        }
    }
    let settings = args.eval.settings();
    let mut evaluated: Vec<Row> = Vec::new();
    if let (true, Some(cfg)) = (args.base, &first_cfg) {
        eprintln!("== base: evaluating ==");
        let model = ModelArgs {
            model: cfg.model.path.clone(),
            adapter: cfg.model.init_adapter.clone(),
            device: cfg.model.device.clone(),
            dtype: Some(dtype_name(cfg)),
        };
        let t = Instant::now();
        let outcome = evaluate(&model, &sets, &settings, &args.out.join("base"));
        evaluated.push(Row {
            name: "base".into(),
            method: None,
            run_dir: None,
            train_s: None,
            eval_s: Some(t.elapsed().as_secs_f64()),
            outcome,
        });
    }
    for run in &trained {
        eprintln!("== {}: evaluating ==", run.name);
        let t = Instant::now();
        let outcome = match eval_model(&run.cfg) {
            Ok(model) => evaluate(&model, &sets, &settings, &args.out.join(&run.name)),
            Err(e) => failed_outcome("eval", &e),
        };
        evaluated.push(Row {
            name: run.name.clone(),
            method: Some(run.cfg.method.name().to_string()),
            run_dir: Some(run.cfg.output.output_dir.display().to_string()),
            train_s: Some(run.train_s),
            eval_s: Some(t.elapsed().as_secs_f64()),
            outcome,
        });
    }
    // Rows in config order (base first), failures where their config stood.
    evaluated.append(&mut rows);
    let order = |r: &Row| {
        (r.name != "base")
            .then(|| names.iter().position(|n| *n == r.name))
            .flatten()
            .map_or(0, |i| i + 1)
    };
    evaluated.sort_by_key(order);
    let rows = evaluated;
    let settings_line = settings_text(&args.eval);
    let md = markdown(&rows, &set_names, &settings_line);
    let mut json_settings = args.eval.to_json();
    if let Some(o) = json_settings.as_object_mut() {
        o.insert("sets".into(), set_names.clone().into());
        o.insert("overrides".into(), args.set.clone().into());
        o.insert("total_s".into(), t0.elapsed().as_secs_f64().into());
    }
    let json = to_json(&rows, &set_names, json_settings);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    write(
        &args.out.join("ablation.json"),
        &serde_json::to_string_pretty(&json)?,
    )?;
    write(&args.out.join("ablation.md"), &md)?;
    plot_trained(&trained, &args.out.join("plots"));
    print!("{md}");
    eprintln!(
        "wrote {} and ablation.json ({:.0} s in all)",
        args.out.join("ablation.md").display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Trains `path` unless its `final/` exists (or `force`); any failure is fatal.
fn prepare_stage(path: &Path, force: bool) -> Result<()> {
    let cfg = config::load(path, &[])?;
    let done = cfg.output.output_dir.join(FINAL_DIR);
    if done.is_dir() && !force {
        eprintln!("== prepare: reusing {} ==", done.display());
        return Ok(());
    }
    eprintln!("== prepare: training {} ==", path.display());
    let mut cfg = cfg;
    // A half-finished earlier attempt must not block the stage.
    cfg.output.overwrite_output_dir = true;
    train_caught(&cfg).with_context(|| format!("preparing with {}", path.display()))
}

/// Trains, turning a panic inside the trainer into an error so the other runs go on.
fn train_caught(cfg: &TrainConfig) -> Result<()> {
    match catch_unwind(AssertUnwindSafe(|| train(cfg, RunOptions::default()))) {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(anyhow!(e)),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(anyhow!("panicked: {msg}"))
        }
    }
}

/// The model flags of a trained run's final weights: base plus adapter, or the full model.
fn eval_model(cfg: &TrainConfig) -> Result<ModelArgs> {
    let w = run_weights(&cfg.output.output_dir, None)?;
    let (model, adapter) = match cfg.model.train_mode {
        TrainModeName::Lora => (w.base_model().to_string(), Some(w.dir.clone())),
        TrainModeName::Full => (w.dir.display().to_string(), None),
    };
    Ok(ModelArgs {
        model,
        adapter,
        device: cfg.model.device.clone(),
        dtype: Some(dtype_name(cfg)),
    })
}

fn dtype_name(cfg: &TrainConfig) -> String {
    serde_json::to_value(cfg.model.dtype)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "f32".to_string())
}

fn evaluate(
    model: &ModelArgs,
    sets: &[EvalSet],
    settings: &caugym_train::eval::EvalSettings,
    out: &Path,
) -> Outcome {
    let result =
        model_args::load(model).and_then(|loaded| evaluate_sets(&loaded, sets, settings, out));
    match result {
        Ok(results) => Outcome::Done(results.into_iter().map(|r| (r.name, r.report)).collect()),
        Err(e) => failed_outcome("eval", &e),
    }
}

fn failed_outcome(stage: &'static str, e: &anyhow::Error) -> Outcome {
    Outcome::Failed {
        stage,
        reason: format!("{e:#}"),
    }
}

fn failed(name: &str, cfg: Option<&TrainConfig>, stage: &'static str, e: &anyhow::Error) -> Row {
    Row {
        name: name.to_string(),
        method: cfg.map(|c| c.method.name().to_string()),
        run_dir: cfg.map(|c| c.output.output_dir.display().to_string()),
        train_s: None,
        eval_s: None,
        outcome: failed_outcome(stage, e),
    }
}

/// File stems, with `-2`, `-3`, ... added to repeats (`a/sft.toml`, `b/sft.toml`).
fn row_names(configs: &[PathBuf]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    configs
        .iter()
        .map(|p| {
            let stem = p.file_stem().map_or_else(
                || p.display().to_string(),
                |s| s.to_string_lossy().into_owned(),
            );
            let mut name = stem.clone();
            let mut k = 2;
            while !seen.insert(name.clone()) || name == "base" {
                name = format!("{stem}-{k}");
                k += 1;
            }
            name
        })
        .collect()
}

fn settings_text(e: &EvalSetArgs) -> String {
    let limit = e
        .limit
        .map_or_else(String::new, |n| format!(", first {n} items per set"));
    format!(
        "Every row sampled with n = {}, temperature {}, top-p {}, at most {} new tokens, seed {}{limit}.",
        e.n, e.temperature, e.top_p, e.max_new_tokens, e.seed
    )
}

/// Overlaid curves of every trained run; a plotting problem is reported, not fatal.
fn plot_trained(trained: &[Trained], out: &Path) {
    let dirs: Vec<PathBuf> = trained
        .iter()
        .map(|t| t.cfg.output.output_dir.clone())
        .collect();
    if dirs.is_empty() {
        return;
    }
    match plot_runs(&dirs, out, &PlotOptions::default()) {
        Ok(p) => eprintln!("plotted {} figure(s) into {}", p.files.len(), out.display()),
        Err(e) => eprintln!("note: plotting failed: {e:#}"),
    }
}
