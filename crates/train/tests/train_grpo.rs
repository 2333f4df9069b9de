//! GRPO end to end on a tiny random Qwen2 warm-started by a short SFT run: every LoRA matrix
//! changes, the metrics lines carry the rollout, reward, KL, entropy, clipping, length and
//! throughput keys, and a resumed run writes the same lines.

mod tiny;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use caugym_train::config::parse;
use caugym_train::runner::{METRICS_FILE, RunOptions, SAMPLES_FILE};
use caugym_train::trainers::train;
use serde_json::Value;

/// Prompts "case k" whose gold is 0.5 for even k, 0.25 for odd k (`probs.jsonl`, for GRPO),
/// and an SFT file where every prompt appears with both answers, so the warm-started model
/// answers in form but picks the value by chance: rewards vary within groups.
fn write_data(dir: &Path) -> (PathBuf, PathBuf, Vec<String>) {
    let (mut grpo, mut sft, mut corpus) = (String::new(), String::new(), Vec::new());
    let answer = |p: &str| format!("{{\"PROB\": \"{p}\"}}");
    for k in 0..24 {
        let prompt = format!("case {k}, what is the probability?");
        let gold = answer(if k % 2 == 0 { "0.5000" } else { "0.2500" });
        grpo.push_str(&serde_json::json!({"prompt": prompt, "answer": gold}).to_string());
        grpo.push('\n');
        for p in ["0.5000", "0.2500"] {
            let line = serde_json::json!({"prompt": prompt, "answer": answer(p)});
            sft.push_str(&line.to_string());
            sft.push('\n');
            corpus.push(format!("{prompt} Answer: {}", answer(p)));
        }
    }
    let (g, s) = (dir.join("probs.jsonl"), dir.join("sft.jsonl"));
    std::fs::write(&g, grpo).unwrap();
    std::fs::write(&s, sft).unwrap();
    (g, s, corpus)
}

fn lines(dir: &Path) -> Vec<BTreeMap<String, Value>> {
    std::fs::read_to_string(dir.join(METRICS_FILE))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A tiny model fully fine-tuned to answer in the right form, half the time right; returns
/// its directory and the GRPO data.
fn warm_start(tmp: &Path) -> (PathBuf, PathBuf) {
    let (grpo_data, data, corpus) = write_data(tmp);
    let model = tiny::tiny_model(&tmp.join("model"), &corpus, 320, 2);
    let sft = format!(
        r#"
method = "sft"
seed = 1
[model]
path = "{}"
train_mode = "full"
[data]
path = "{}"
prompt_format = "raw"
[sft]
completion = "answer"
[optim]
learning_rate = 0.003
micro_batch_size = 8
max_steps = 40
lr_scheduler_type = "constant"
[logging]
progress_bar = false
[output]
output_dir = "{}"
"#,
        model.display(),
        data.display(),
        tmp.join("sft").display()
    );
    let cfg = parse(&sft, "sft.toml", &[]).unwrap();
    let summary = train(&cfg, RunOptions::default()).unwrap();
    (summary.final_dir, grpo_data)
}

fn grpo_config(model: &Path, data: &Path, out: &Path) -> String {
    format!(
        r#"
method = "grpo"
seed = 3
[model]
path = "{}"
[lora]
r = 4
lora_alpha = 8
lora_dropout = 0.1
[data]
path = "{}"
prompt_format = "raw"
[rollout]
num_generations = 4
max_new_tokens = 16
temperature = 1.0
[reward]
format_weight = 0.1
[grpo]
prompts_per_step = 4
num_iterations = 2
beta = 0.05
epsilon_high = 0.28
[optim]
learning_rate = 0.01
micro_batch_size = 4
gradient_accumulation_steps = 2
max_steps = 4
[logging]
progress_bar = false
sample_steps = 2
num_samples = 3
save_steps = 2
[output]
output_dir = "{}"
"#,
        model.display(),
        data.display(),
        out.display()
    )
}

fn tensors(path: &Path) -> BTreeMap<String, Vec<f32>> {
    candle_core::safetensors::load(path, &candle_core::Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(k, t)| (k, t.flatten_all().unwrap().to_vec1().unwrap()))
        .collect()
}

#[test]
fn grpo_trains_every_adapter_matrix_logs_its_metrics_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let (model, data) = warm_start(tmp.path());
    let out = tmp.path().join("grpo");
    let cfg = parse(&grpo_config(&model, &data, &out), "g.toml", &[]).unwrap();
    let before: BTreeMap<String, Vec<f32>> = caugym_train::trainers::policy::Policy::load(&cfg)
        .unwrap()
        .params()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.var.flatten_all().unwrap().to_vec1().unwrap(),
            )
        })
        .collect();
    let summary = train(&cfg, RunOptions::default()).unwrap();

    let l = lines(&out);
    assert_eq!(l.len(), 4);
    for line in &l {
        for key in [
            "rollout/reward_mean",
            "rollout/reward_std",
            "rollout/zero_std_frac",
            "rollout/kept_frac",
            "actor/kl",
            "actor/entropy",
            "actor/clip_frac",
            "actor/ppo_kl",
            "loss/policy",
            "loss/total",
            "response_length/mean",
            "response_length/truncated_frac",
            "reward/correct",
            "reward/correct_frac",
            "reward/wrong_value",
            "perf/rollout_tokens_per_s",
            "perf/train_tokens_per_s",
            "optim/lr",
            "optim/grad_norm",
        ] {
            assert!(line.contains_key(key), "{key} missing from {line:?}");
        }
        // 4 prompts x 4 completions = 16 in updates of 8, for 2 passes.
        assert_eq!(line["optim/updates"].as_f64(), Some(4.0));
        // The breakdown covers every completion.
        let labels: f64 = line
            .iter()
            .filter(|(k, _)| k.starts_with("reward/") && !k.ends_with("_frac"))
            .map(|(_, v)| v.as_f64().unwrap())
            .sum();
        assert!((labels - 1.0).abs() < 1e-9, "{labels}");
    }
    // k3 is non-negative; the adapter (B = 0 at start) moves the policy off the reference.
    assert!(l.iter().all(|x| x["actor/kl"].as_f64().unwrap() >= 0.0));
    assert!(l[3]["actor/kl"].as_f64().unwrap() > 0.0);
    // The warm-started model answers in form, right about half the time: rewards vary.
    let reward_std: f64 = l
        .iter()
        .map(|x| x["rollout/reward_std"].as_f64().unwrap())
        .sum();
    assert!(reward_std > 0.0);

    // Every LoRA matrix moved from its initialisation.
    let after = tensors(&summary.final_dir.join("adapter_model.safetensors"));
    assert_eq!(before.len(), after.len());
    for (name, v0) in &before {
        let moved = v0
            .iter()
            .zip(&after[name])
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(moved > 1e-7, "{name} did not change");
    }
    let samples = std::fs::read_to_string(out.join(SAMPLES_FILE)).unwrap();
    assert_eq!(samples.lines().count(), 2 * 3);
    assert!(samples.contains("\"gold\"") && samples.contains("\"outcome\""));

    // Resume from checkpoint-2 in a copy of the run: the same lines and weights.
    let out_b = tmp.path().join("grpo-b");
    let cfg_b = parse(&grpo_config(&model, &data, &out_b), "g.toml", &[]).unwrap();
    train(&cfg_b, RunOptions::default()).unwrap();
    std::fs::remove_dir_all(out_b.join("checkpoint-4")).unwrap();
    std::fs::remove_dir_all(out_b.join("final")).unwrap();
    train(&cfg_b, RunOptions { resume: true }).unwrap();
    let strip = |mut v: Vec<BTreeMap<String, Value>>| {
        for x in &mut v {
            x.retain(|k, _| !k.starts_with("perf/"));
        }
        v
    };
    assert_eq!(strip(lines(&out)), strip(lines(&out_b)));
    assert_eq!(
        after,
        tensors(&out_b.join("final/adapter_model.safetensors"))
    );
}
