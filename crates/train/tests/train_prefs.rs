//! DPO and KTO end to end on a tiny random Qwen2 and real CauGym items: the chosen-minus-rejected
//! margin rises (DPO), desirable log-probs rise and undesirable ones fall (KTO), the first step's
//! loss is the hand-derived value at policy = reference, precomputed and on-the-fly references
//! give the same loss, the metrics lines carry TRL's keys, and a resumed run writes the same
//! lines and weights.

mod tiny;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use caugym_model::AdapterMode;
use caugym_train::config::{GenerateConfig, MethodConfig, TrainConfig, parse};
use caugym_train::runner::{METRICS_FILE, RunOptions, RunSettings, SingleProcess, run};
use caugym_train::trainers::collate::{LossOn, Row, pad};
use caugym_train::trainers::corrupt::corrupt_problem;
use caugym_train::trainers::dpo::Dpo;
use caugym_train::trainers::examples::{self, generate};
use caugym_train::trainers::kto::Kto;
use caugym_train::trainers::policy::Policy;
use caugym_train::trainers::prompts::{PromptStyle, completion_tokens};
use serde_json::Value;

const ITEMS: &str =
    "tasks = [\"ATE\", \"NIE\"]\ncount = 8\nnodes = [3, 4]\nseed = 4\ninstruction = false";

/// A tiny model whose tokenizer knows the items' prompts, solutions and corrupted solutions.
fn model(tmp: &Path) -> PathBuf {
    let g: GenerateConfig = toml::from_str(ITEMS).unwrap();
    let mut corpus = Vec::new();
    for (i, ex) in generate(&g).unwrap().iter().enumerate() {
        corpus.push(ex.prompt.clone());
        corpus.push(format!("Answer: {}", ex.answer.clone().unwrap()));
        let problem = ex.problem.as_ref().unwrap();
        let c = corrupt_problem(problem, i, caugym_data::Convention::CauGym).unwrap();
        corpus.push(format!("Answer: {}", c.answer));
    }
    tiny::tiny_model(&tmp.join("model"), &corpus, 1500, 2)
}

fn config(method: &str, model: &Path, out: &Path, extra: &[&str]) -> TrainConfig {
    let table = match method {
        "dpo" => "[dpo]\nbeta = 0.1\nrejected_samples = 0\ncompletion = \"answer\"\n",
        _ => "[kto]\nbeta = 0.1\nundesirable_samples = 2\ncompletion = \"answer\"\n",
    };
    let text = format!(
        r#"
method = "{method}"
seed = 9
[model]
path = "{}"
[lora]
r = 4
lora_alpha = 8
lora_dropout = 0.0
[data]
prompt_format = "raw"
[data.generate]
{ITEMS}
[rollout]
max_new_tokens = 12
{table}
[optim]
learning_rate = 0.01
micro_batch_size = 4
max_steps = 6
lr_scheduler_type = "constant"
[logging]
progress_bar = false
save_steps = 3
[output]
output_dir = "{}"
"#,
        model.display(),
        out.display()
    );
    let o: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    parse(&text, "prefs.toml", &o).unwrap()
}

fn lines(dir: &Path) -> Vec<BTreeMap<String, Value>> {
    std::fs::read_to_string(dir.join(METRICS_FILE))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn at(l: &[BTreeMap<String, Value>], step: usize, key: &str) -> f64 {
    l[step - 1][key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing at step {step}"))
}

/// Summed completion log-probs of `(prompt, completion)` under the policy and the base.
fn logps(policy: &Policy, prompt: &str, completion: &str) -> (f32, f32) {
    let style = PromptStyle::of(&caugym_train::config::DataConfig {
        prompt_format: caugym_train::config::PromptFormat::Raw,
        ..caugym_train::config::DataConfig::generated(GenerateConfig::default())
    });
    let row = Row {
        prompt: style.encode(&policy.tokenizer, prompt).unwrap(),
        completion: completion_tokens(&policy.tokenizer, completion).unwrap(),
    };
    let padded = pad(&[row], policy.tokenizer.pad_token_id(), LossOn::Completion).unwrap();
    let (batch, mask) = policy.batch(&padded).unwrap();
    let mut out = [0f32; 2];
    for (k, adapter) in [policy.active(), AdapterMode::Disabled]
        .into_iter()
        .enumerate()
    {
        let s = policy.sequence_logps(&batch, &mask, adapter).unwrap();
        out[k] = s.to_vec1::<f32>().unwrap()[0];
    }
    (out[0], out[1])
}

fn strip(mut v: Vec<BTreeMap<String, Value>>) -> Vec<BTreeMap<String, Value>> {
    for l in &mut v {
        l.retain(|k, _| !k.starts_with("perf/"));
    }
    v
}

fn tensors(path: &Path) -> BTreeMap<String, Vec<f32>> {
    candle_core::safetensors::load(path, &candle_core::Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(k, t)| (k, t.flatten_all().unwrap().to_vec1().unwrap()))
        .collect()
}

/// Keeps a copy of the finished run `dir`, rolls `dir` back to its checkpoint at step 3 and
/// resumes it: the lines and weights must match the copy's.
fn resumes_exactly(cfg: &TrainConfig, dir: &Path, copy: &Path) {
    let status = std::process::Command::new("cp")
        .args([
            "-r",
            &dir.display().to_string(),
            &copy.display().to_string(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_dir_all(dir.join("checkpoint-6")).unwrap();
    std::fs::remove_dir_all(dir.join("final")).unwrap();
    let summary = caugym_train::trainers::train(cfg, RunOptions { resume: true }).unwrap();
    assert_eq!(summary.resumed_from, 3);
    assert_eq!(strip(lines(copy)), strip(lines(dir)));
    let adapter = "final/adapter_model.safetensors";
    assert_eq!(tensors(&copy.join(adapter)), tensors(&dir.join(adapter)));
}

/// The first step's loss of a one-step run warm-started from `adapter`.
fn first_loss(model: &Path, method: &str, adapter: &Path, out: &Path, precompute: bool) -> f64 {
    let cfg = config(
        method,
        model,
        out,
        &[
            &format!("model.init_adapter=\"{}\"", adapter.display()),
            "optim.max_steps=1",
            "logging.save_steps=0",
            &format!("{method}.precompute_ref_log_probs={precompute}"),
        ],
    );
    caugym_train::trainers::train(&cfg, RunOptions::default()).unwrap();
    at(&lines(out), 1, &format!("loss/{method}"))
}

#[test]
fn dpo_raises_the_margin_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model(tmp.path());
    let out = tmp.path().join("dpo");
    let cfg = config("dpo", &model, &out, &[]);
    let MethodConfig::Dpo(d) = cfg.method_config() else {
        panic!()
    };
    let split = examples::load(&cfg.data).unwrap();
    let policy = Policy::load(&cfg).unwrap();
    let mut method = Dpo::new(&cfg, d, policy, &split.train).unwrap();
    let settings = RunSettings::from_config(&cfg).unwrap();
    run(
        &mut method,
        &settings,
        &mut SingleProcess,
        RunOptions::default(),
    )
    .unwrap();

    let l = lines(&out);
    assert_eq!(l.len(), 6);
    for line in &l {
        for key in [
            "loss/dpo",
            "rewards/chosen",
            "rewards/rejected",
            "rewards/margins",
            "rewards/accuracies",
            "logps/chosen",
            "logps/rejected",
            "optim/grad_norm",
        ] {
            assert!(line.contains_key(key), "{key} missing from {line:?}");
        }
    }
    // No own samples mined: every rejected is a corrupted answer.
    let corrupted: f64 = ["sign_flip", "arithmetic", "conclusion"]
        .iter()
        .filter_map(|k| l[0].get(&format!("data/rejected_{k}")))
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!((corrupted - 1.0).abs() < 1e-12, "{corrupted}");
    // Step 1: the adapter's B is zero, policy = reference, h = 0: loss ln 2, margin 0, no pair
    // ranked right yet.
    assert!((at(&l, 1, "loss/dpo") - 2f64.ln()).abs() < 1e-6);
    assert_eq!(at(&l, 1, "rewards/margins"), 0.0);
    assert_eq!(at(&l, 1, "rewards/accuracies"), 0.0);
    let tail = |k: &str| (4..=6).map(|s| at(&l, s, k)).sum::<f64>() / 3.0;
    // Corrupted answers differ from the gold in a few digits only: after 6 steps most pairs,
    // not all, are ranked right.
    let acc = tail("rewards/accuracies");
    assert!(acc > 0.5, "{acc}");
    assert!(tail("rewards/margins") > 0.0);
    assert!(tail("loss/dpo") < 2f64.ln(), "{}", tail("loss/dpo"));

    // Independently of the logged metrics: on every training pair, the policy's
    // chosen-minus-rejected log-prob margin now exceeds the base's (the policy at the start).
    let (mut before, mut after) = (0f64, 0f64);
    for p in method.pairs() {
        let (pc, rc) = logps(method.policy(), &p.prompt, &p.chosen);
        let (pr, rr) = logps(method.policy(), &p.prompt, &p.rejected);
        after += f64::from(pc - pr);
        before += f64::from(rc - rr);
    }
    assert!(after > before, "margin {before} -> {after}");

    resumes_exactly(&cfg, &out, &tmp.path().join("dpo-resumed"));

    // Warm-started from the trained adapter (policy != reference at step 1), the reference
    // computed once up front and per batch give the same first loss, which is no longer ln 2.
    let adapter = out.join("final");
    let a = first_loss(&model, "dpo", &adapter, &tmp.path().join("pre"), true);
    let b = first_loss(&model, "dpo", &adapter, &tmp.path().join("fly"), false);
    assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    assert!((a - 2f64.ln()).abs() > 1e-3, "{a}");
}

#[test]
fn kto_raises_desirable_lowers_undesirable_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model(tmp.path());
    let out = tmp.path().join("kto");
    let cfg = config("kto", &model, &out, &[]);
    let MethodConfig::Kto(k) = cfg.method_config() else {
        panic!()
    };
    let split = examples::load(&cfg.data).unwrap();
    let policy = Policy::load(&cfg).unwrap();
    let mut method = Kto::new(&cfg, k, policy, &split.train).unwrap();
    let settings = RunSettings::from_config(&cfg).unwrap();
    run(
        &mut method,
        &settings,
        &mut SingleProcess,
        RunOptions::default(),
    )
    .unwrap();

    let l = lines(&out);
    assert_eq!(l.len(), 6);
    for line in &l {
        for key in [
            "loss/kto",
            "kto/kl",
            "optim/grad_norm",
            "data/desirable_frac",
        ] {
            assert!(line.contains_key(key), "{key} missing from {line:?}");
        }
        assert_eq!(line["data/desirable_frac"].as_f64(), Some(0.5), "1:1");
        assert!(line["kto/kl"].as_f64().unwrap() >= 0.0);
    }
    // The random model's own samples are all wrong, so every undesirable is one of them.
    assert_eq!(at(&l, 1, "data/rejected_sampled"), 1.0);
    // Step 1: policy = reference, r = 0, z0 = 0: every example's loss is 1 - s(0) = 0.5.
    assert!((at(&l, 1, "loss/kto") - 0.5).abs() < 1e-6);
    for key in [
        "rewards/desirable",
        "rewards/undesirable",
        "logps/desirable",
        "logps/undesirable",
    ] {
        assert!(l.iter().any(|x| x.contains_key(key)), "{key} never logged");
    }

    // Independently: desirable completions gained log-probability over the base, undesirable
    // ones lost it.
    let (mut up, mut down, mut n_d, mut n_u) = (0f64, 0f64, 0, 0);
    for e in method.examples() {
        let (p, r) = logps(method.policy(), &e.prompt, &e.completion);
        if e.desirable {
            up += f64::from(p - r);
            n_d += 1;
        } else {
            down += f64::from(p - r);
            n_u += 1;
        }
    }
    assert_eq!(n_d, n_u);
    assert!(up / n_d as f64 > 0.1, "desirable {}", up / n_d as f64);
    assert!(
        down / (n_u as f64) < -0.1,
        "undesirable {}",
        down / n_u as f64
    );

    resumes_exactly(&cfg, &out, &tmp.path().join("kto-resumed"));

    let adapter = out.join("final");
    let a = first_loss(&model, "kto", &adapter, &tmp.path().join("pre"), true);
    let b = first_loss(&model, "kto", &adapter, &tmp.path().join("fly"), false);
    assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    assert!((a - 0.5).abs() > 1e-3, "{a}");
}
