//! The shared training loop on a toy bigram model: exact resume, NaN stops, accumulation
//! equivalence, checkpoint atomicity and retention, metrics lines, the reduction seam.

mod toy;

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::backprop::GradStore;
use caugym_train::runner::checkpoint::{self, OPTIMIZER_FILE, PARAMS_FILE, STATE_FILE};
use caugym_train::runner::{
    GradReducer, METRICS_FILE, RunOptions, SAMPLES_FILE, SingleProcess, run,
};
use caugym_train::{Error, NamedVar, Result};
use serde_json::Value;
use toy::{Toy, settings};

const FRESH: RunOptions = RunOptions { resume: false };
const RESUME: RunOptions = RunOptions { resume: true };

fn read_lines(path: &Path) -> Vec<BTreeMap<String, Value>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Metrics lines without the wall-clock `perf/*` entries (the only ones allowed to differ).
fn deterministic_lines(dir: &Path) -> Vec<BTreeMap<String, Value>> {
    let mut lines = read_lines(&dir.join(METRICS_FILE));
    for l in &mut lines {
        l.retain(|k, _| !k.starts_with("perf/"));
    }
    lines
}

fn tensor_file(path: &Path) -> BTreeMap<String, Vec<f32>> {
    candle_core::safetensors::load(path, &candle_core::Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(k, t)| {
            let v = t
                .to_dtype(candle_core::DType::F32)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            (k, v)
        })
        .collect()
}

#[test]
fn resume_continues_exactly_like_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (tmp.path().join("a"), tmp.path().join("b"));
    let mut sa = settings(&a_dir, 8, 2, 2);
    sa.logging.save_steps = 2;
    sa.logging.sample_steps = 3;
    let mut a = Toy::new(1, &sa.optim, 2);
    run(&mut a, &sa, &mut SingleProcess, FRESH).unwrap();

    // B crashes in step 6: steps 1-5 are logged, checkpoint-4 is the newest.
    let mut sb = sa.clone();
    sb.output.output_dir = b_dir.clone();
    let mut b = Toy::new(1, &sb.optim, 2);
    b.faults.error_at_step = Some(6);
    let err = run(&mut b, &sb, &mut SingleProcess, FRESH).unwrap_err();
    assert!(matches!(err, Error::Step { step: 6, .. }), "{err}");
    assert_eq!(read_lines(&b_dir.join(METRICS_FILE)).len(), 5);

    // A new process: fresh weights (another init seed, to prove they are restored), resumed.
    let mut b2 = Toy::new(99, &sb.optim, 2);
    let summary = run(&mut b2, &sb, &mut SingleProcess, RESUME).unwrap();
    assert_eq!((summary.resumed_from, summary.last_step), (4, 8));

    let (la, lb) = (deterministic_lines(&a_dir), deterministic_lines(&b_dir));
    assert_eq!(la.len(), 8);
    assert_eq!(la, lb, "every metrics line must be identical");
    assert_eq!(
        a.weights(),
        b2.weights(),
        "final weights must be bit-identical"
    );
    assert_eq!(
        tensor_file(&a_dir.join("checkpoint-8").join(OPTIMIZER_FILE)),
        tensor_file(&b_dir.join("checkpoint-8").join(OPTIMIZER_FILE)),
    );
    assert_eq!(
        std::fs::read_to_string(a_dir.join(SAMPLES_FILE)).unwrap(),
        std::fs::read_to_string(b_dir.join(SAMPLES_FILE)).unwrap(),
    );
    // The run learnt something: the loss fell.
    let loss = |l: &BTreeMap<String, Value>| l["loss/sft"].as_f64().unwrap();
    assert!(
        loss(&la[7]) < loss(&la[0]) - 0.1,
        "{} -> {}",
        loss(&la[0]),
        loss(&la[7])
    );
}

#[test]
fn nan_loss_stops_the_run_and_keeps_the_last_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut s = settings(&dir, 6, 2, 2);
    s.logging.save_steps = 2;
    let mut m = Toy::new(1, &s.optim, 1);
    m.faults.nan_loss_at_step = Some(3);
    let err = run(&mut m, &s, &mut SingleProcess, FRESH).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("step 3")
            && text.contains("non-finite loss")
            && text.contains("micro-batch 0"),
        "{text}"
    );
    assert_last_good_checkpoint(&dir, &s, 2);
}

#[test]
fn nan_gradient_stops_the_run_naming_the_parameter() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut s = settings(&dir, 6, 2, 2);
    s.logging.save_steps = 2;
    let mut m = Toy::new(1, &s.optim, 1);
    m.faults.nan_grad_at_step = Some(3);
    let before = m.weights();
    let err = run(&mut m, &s, &mut SingleProcess, FRESH).unwrap_err();
    match &err {
        Error::Step { step: 3, source } => match source.as_ref() {
            Error::NonFinite { what, param } => {
                assert_eq!((*what, param.as_str()), ("gradient", "toy.w"));
            }
            other => panic!("expected a non-finite gradient, got {other}"),
        },
        other => panic!("expected a step error, got {other}"),
    }
    assert!(err.to_string().contains("step 3"));
    assert_ne!(m.weights(), before);
    assert_last_good_checkpoint(&dir, &s, 2);
}

/// checkpoint-`step` is the only one, complete, and holds exactly the weights of a clean run
/// after `step` steps; no temporary directory is left; the log stops at `step`.
fn assert_last_good_checkpoint(dir: &Path, s: &caugym_train::runner::RunSettings, step: u64) {
    let list = checkpoint::list(dir).unwrap();
    assert_eq!(list.iter().map(|(k, _)| *k).collect::<Vec<_>>(), [step]);
    let ck = &list[0].1;
    for f in [STATE_FILE, PARAMS_FILE, OPTIMIZER_FILE, "toy.safetensors"] {
        assert!(ck.join(f).is_file(), "{f} missing");
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty());
    assert_eq!(read_lines(&dir.join(METRICS_FILE)).len(), step as usize);
    // A clean run to `step` gives the same tensors.
    let tmp = tempfile::tempdir().unwrap();
    let mut clean_s = s.clone();
    clean_s.output.output_dir = tmp.path().to_path_buf();
    clean_s.optim.max_steps = s.optim.max_steps; // same schedule
    let mut clean = Toy::new(1, &clean_s.optim, 1);
    clean.faults.error_at_step = Some(step + 1);
    let _ = run(&mut clean, &clean_s, &mut SingleProcess, FRESH);
    let saved = tensor_file(&ck.join(PARAMS_FILE));
    let (w, b) = clean.weights();
    assert_eq!(saved["toy.w"], w);
    assert_eq!(saved["toy.b"], b);
    let state = checkpoint::read_state(ck).unwrap();
    assert_eq!(
        (state.step, state.rng.next_step, state.rng.seed),
        (step, step + 1, 11)
    );
}

#[test]
fn accumulation_equals_a_single_large_micro_batch() {
    // micro-batch 1 x accumulation 4 versus 4 x 1: the same sequences per update (drawn from the
    // same step generator), the loss normalised over the whole update, so the loss and gradient
    // norm agree (to float summation order) and so do the weights.
    let tmp = tempfile::tempdir().unwrap();
    let (d1, d2) = (tmp.path().join("1x4"), tmp.path().join("4x1"));
    let s1 = settings(&d1, 4, 1, 4);
    let s2 = settings(&d2, 4, 4, 1);
    let mut m1 = Toy::new(3, &s1.optim, 1);
    let mut m2 = Toy::new(3, &s2.optim, 1);
    run(&mut m1, &s1, &mut SingleProcess, FRESH).unwrap();
    run(&mut m2, &s2, &mut SingleProcess, FRESH).unwrap();
    let (l1, l2) = (deterministic_lines(&d1), deterministic_lines(&d2));
    for (a, b) in l1.iter().zip(&l2) {
        for key in ["loss/sft", "optim/grad_norm", "optim/lr"] {
            let (x, y) = (a[key].as_f64().unwrap(), b[key].as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-5 * x.abs().max(1.0),
                "{key}: {x} vs {y}"
            );
        }
    }
    let ((w1, b1), (w2, b2)) = (m1.weights(), m2.weights());
    for (x, y) in w1.iter().chain(&b1).zip(w2.iter().chain(&b2)) {
        assert!((x - y).abs() < 1e-5, "{x} vs {y}");
    }
}

#[test]
fn metrics_lines_carry_the_schedule_and_the_optimiser_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut s = settings(&dir, 6, 2, 1);
    s.logging.logging_steps = 2;
    let mut m = Toy::new(1, &s.optim, 3);
    let summary = run(&mut m, &s, &mut SingleProcess, FRESH).unwrap();
    let lines = read_lines(&dir.join(METRICS_FILE));
    let steps: Vec<u64> = lines.iter().map(|l| l["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, [2, 4, 6]);
    // Peak 0.1, warmup 2, then cosine to 0.01 over the 4 remaining steps: step k (1-based)
    // uses lr(k-1); lr(1) = 0.1 (warmup ends at the peak); lr(i) for i >= 2 is
    // 0.1 (0.1 + 0.9 (1 + cos(pi p)) / 2) with p = (i - 2) / 4: p = 1/4 for step 4
    // (0.0868198...), 3/4 for step 6 (0.0231802...).
    let lr: Vec<f64> = lines
        .iter()
        .map(|l| l["optim/lr"].as_f64().unwrap())
        .collect();
    let pi = std::f64::consts::PI;
    let want = [
        0.1,
        0.1 * (0.1 + 0.45 * (1.0 + (0.25 * pi).cos())),
        0.1 * (0.1 + 0.45 * (1.0 + (0.75 * pi).cos())),
    ];
    for (x, y) in lr.iter().zip(want) {
        assert!((x - y).abs() < 1e-12, "{lr:?}");
    }
    for l in &lines {
        for key in [
            "loss/sft",
            "optim/grad_norm",
            "optim/updates",
            "rollout/reward_mean",
            "perf/step_s",
            "perf/train_tokens_per_s",
        ] {
            assert!(l.contains_key(key), "{key} missing from {l:?}");
        }
        assert_eq!(l["optim/updates"].as_f64(), Some(3.0));
    }
    // The round's own metric passes through unchanged: step / 10.
    assert_eq!(lines[1]["rollout/reward_mean"].as_f64(), Some(0.4));
    assert_eq!(summary.last_metrics.get("optim/updates"), Some(3.0));
    assert!(summary.final_dir.join("toy.safetensors").is_file());
    assert!(summary.final_dir.join("config.toml").is_file());
}

#[test]
fn checkpoints_keep_the_newest_k_and_a_failed_write_leaves_no_trace() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut s = settings(&dir, 5, 2, 1);
    s.logging.save_steps = 1;
    s.logging.save_total_limit = 2;
    let mut m = Toy::new(1, &s.optim, 1);
    run(&mut m, &s, &mut SingleProcess, FRESH).unwrap();
    let steps: Vec<u64> = checkpoint::list(&dir)
        .unwrap()
        .iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(steps, [4, 5]);

    // The export of checkpoint-3 fails: the run stops, checkpoint-2 is intact, nothing else.
    let dir2 = tmp.path().join("run2");
    let mut s2 = s.clone();
    s2.output.output_dir = dir2.clone();
    s2.logging.save_total_limit = 0;
    let mut m2 = Toy::new(1, &s2.optim, 1);
    m2.faults.export_fails_at_step = Some(3);
    let err = run(&mut m2, &s2, &mut SingleProcess, FRESH).unwrap_err();
    assert!(err.to_string().contains("injected export failure"), "{err}");
    let steps: Vec<u64> = checkpoint::list(&dir2)
        .unwrap()
        .iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(steps, [1, 2]);
    let names: Vec<String> = std::fs::read_dir(&dir2)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with(".tmp") || n == "checkpoint-3"),
        "{names:?}"
    );
    // And that run resumes from checkpoint-2 to the same end as the uninterrupted one.
    let mut m3 = Toy::new(5, &s2.optim, 1);
    run(&mut m3, &s2, &mut SingleProcess, RESUME).unwrap();
    assert_eq!(m3.weights(), m.weights());
}

#[test]
fn run_directory_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let s = settings(&dir, 2, 2, 1);
    // Resume with nothing to resume from.
    let err = run(
        &mut Toy::new(1, &s.optim, 1),
        &s,
        &mut SingleProcess,
        RESUME,
    )
    .unwrap_err();
    assert!(err.to_string().contains("no checkpoint"), "{err}");
    run(&mut Toy::new(1, &s.optim, 1), &s, &mut SingleProcess, FRESH).unwrap();
    // A second fresh run in the same directory is refused, unless overwriting.
    let err = run(&mut Toy::new(1, &s.optim, 1), &s, &mut SingleProcess, FRESH).unwrap_err();
    assert!(err.to_string().contains("overwrite_output_dir"), "{err}");
    let mut s2 = s.clone();
    s2.output.overwrite_output_dir = true;
    run(
        &mut Toy::new(1, &s2.optim, 1),
        &s2,
        &mut SingleProcess,
        FRESH,
    )
    .unwrap();
    assert_eq!(read_lines(&dir.join(METRICS_FILE)).len(), 2);
    // Resuming under a different config is refused, naming the key.
    let mut s3 = settings(&dir, 2, 2, 1);
    s3.logging.save_steps = 1;
    run(
        &mut Toy::new(1, &s3.optim, 1),
        &s3,
        &mut SingleProcess,
        RunOptions { resume: false },
    )
    .unwrap_err();
    let mut s4 = s3.clone();
    s4.output.overwrite_output_dir = true;
    run(
        &mut Toy::new(1, &s4.optim, 1),
        &s4,
        &mut SingleProcess,
        FRESH,
    )
    .unwrap();
    let mut s5 = s4.clone();
    s5.config_toml = s5.config_toml.replace("seed = 11", "seed = 12");
    let err = run(
        &mut Toy::new(1, &s5.optim, 1),
        &s5,
        &mut SingleProcess,
        RESUME,
    )
    .unwrap_err();
    assert!(err.to_string().contains("`seed` differs"), "{err}");
}

/// Counts calls and checks it receives the whole update's accumulated gradient.
struct Spy {
    calls: usize,
    zero: bool,
}

impl GradReducer for Spy {
    fn world_size(&self) -> usize {
        1
    }
    fn reduce(&mut self, params: &[NamedVar], grads: &mut GradStore) -> Result<()> {
        self.calls += 1;
        assert_eq!(params.len(), 2);
        if self.zero {
            for p in params {
                let g = grads.remove(p.var.as_tensor()).unwrap();
                grads.insert(p.var.as_tensor(), g.zeros_like()?);
            }
        }
        Ok(())
    }
    fn reduce_counts(&mut self, _counts: &mut [f64]) -> Result<()> {
        Ok(())
    }
}

#[test]
fn the_reducer_is_called_once_per_update_before_the_optimiser() {
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(&tmp.path().join("a"), 3, 1, 2);
    let mut spy = Spy {
        calls: 0,
        zero: false,
    };
    run(&mut Toy::new(1, &s.optim, 4), &s, &mut spy, FRESH).unwrap();
    assert_eq!(
        spy.calls,
        3 * 4,
        "3 steps x 4 updates, not once per micro-batch"
    );

    // Gradients zeroed at the seam reach the optimiser as zeros: with no weight decay the
    // weights cannot move (AdamW's update is m / (sqrt(v) + eps) = 0).
    let s = settings(&tmp.path().join("b"), 3, 1, 2);
    let mut m = Toy::new(1, &s.optim, 1);
    let before = m.weights();
    let mut zero = Spy {
        calls: 0,
        zero: true,
    };
    run(&mut m, &s, &mut zero, FRESH).unwrap();
    assert_eq!(m.weights(), before);
}
