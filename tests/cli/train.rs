//! End-to-end tests of `caugym train` and `caugym eval` on a tiny `init-model` checkpoint: what a
//! run writes, exact `--resume`, GRPO from an SFT adapter, config errors that name the key and
//! where it came from, and an evaluation whose accuracy is recomputed from the saved responses
//! by `caugym score` and by the scoring rule written out here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_caugym");

/// Runs the binary; (success, stdout, stderr).
fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).output().expect("run caugym");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the binary and requires success; its stdout.
fn ok(args: &[&str]) -> String {
    let (success, stdout, stderr) = run(args);
    assert!(success, "caugym {args:?} failed:\n{stderr}");
    stdout
}

/// Runs the binary and requires failure; its stderr.
fn fails(args: &[&str]) -> String {
    let (success, _, stderr) = run(args);
    assert!(!success, "caugym {args:?} should have failed");
    stderr
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A tiny random checkpoint (4 layers, hidden 128) whose 1024-token BPE tokenizer is trained on
/// `corpus`, the test's data, so that its prompts are a few hundred tokens, not a thousand.
fn tiny_model(dir: &Path, corpus: &Path) -> PathBuf {
    let model = dir.join("model");
    ok(&[
        "init-model",
        "--size",
        "tiny",
        "--seed",
        "5",
        "--vocab",
        "1024",
        "--corpus",
        s(corpus),
        "--out",
        s(&model),
    ]);
    model
}

/// `n` generated 2-3 node ATE/PN items (JSONL with problem, answer, solution).
fn generated(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("items.jsonl");
    ok(&[
        "gen",
        "--tasks",
        "ATE,PN",
        "--count",
        &n.to_string(),
        "--nodes",
        "2-3",
        "--seed",
        "1",
        "--output",
        s(&path),
    ]);
    path
}

fn metrics(run_dir: &Path) -> Vec<BTreeMap<String, Value>> {
    std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The metrics without the wall-clock ones.
fn timeless(mut lines: Vec<BTreeMap<String, Value>>) -> Vec<BTreeMap<String, Value>> {
    for l in &mut lines {
        l.retain(|k, _| !k.starts_with("perf/"));
    }
    lines
}

/// A short LoRA SFT run on the answer lines of `data`.
fn sft_config(model: &Path, data: &Path, out: &Path, steps: u64) -> String {
    format!(
        r#"method = "sft"
seed = 7

[model]
path = "{}"

[lora]
r = 4
lora_alpha = 8
lora_dropout = 0.1

[data]
path = "{}"
held_out = 2

[sft]
completion = "answer"
max_length = 1024

[optim]
learning_rate = 0.01
lr_scheduler_type = "constant"
micro_batch_size = 2
gradient_accumulation_steps = 2
max_steps = {steps}

[logging]
save_steps = 1
save_total_limit = 2
progress_bar = false

[output]
output_dir = "{}"
"#,
        model.display(),
        data.display(),
        out.display()
    )
}

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

#[test]
fn sft_writes_checkpoints_the_final_adapter_and_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let data = generated(tmp.path(), 10);
    let model = tiny_model(tmp.path(), &data);
    let out = tmp.path().join("sft");
    let cfg = write(
        &tmp.path().join("sft.toml"),
        &sft_config(&model, &data, &out, 3),
    );
    ok(&["train", "--config", s(&cfg)]);

    // save_steps = 1 with save_total_limit = 2 keeps the newest two checkpoints.
    let mut dirs: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("checkpoint-"))
        .collect();
    dirs.sort();
    assert_eq!(dirs, ["checkpoint-2", "checkpoint-3"]);
    for f in ["adapter_model.safetensors", "adapter_config.json"] {
        assert!(out.join("final").join(f).is_file(), "final/{f} missing");
    }
    let adapter: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("final/adapter_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(adapter["r"], 4);
    assert_eq!(adapter["peft_type"], "LORA");
    assert_eq!(adapter["base_model_name_or_path"], s(&model));

    // The last two of the 10 items are held out, written for `caugym eval`.
    let read = |p: &Path| -> Vec<Value> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (held, items) = (read(&out.join("held_out.jsonl")), read(&data));
    assert_eq!(held.len(), 2);
    for (h, item) in held.iter().zip(&items[8..]) {
        assert_eq!(h["problem"], item["problem"]);
        assert_eq!(h["answer"], item["answer"]);
    }

    let lines = metrics(&out);
    assert_eq!(lines.len(), 3);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["step"], i as u64 + 1);
        for key in [
            "loss/sft",
            "optim/lr",
            "optim/grad_norm",
            "optim/updates",
            "perf/step_s",
            "perf/train_tokens_per_s",
        ] {
            assert!(l.contains_key(key), "{key} missing from {l:?}");
        }
        assert_eq!(l["optim/lr"].as_f64(), Some(0.01));
        assert_eq!(l["optim/updates"].as_f64(), Some(1.0));
        // A masked NLL over a 512-token vocabulary: positive and at most ~ln 512 at the start.
        let loss = l["loss/sft"].as_f64().unwrap();
        assert!(loss > 0.0 && loss < 8.0, "{loss}");
    }
    // lr 0.01 on the same kind of short answer lines: the loss falls.
    let loss = |i: usize| lines[i]["loss/sft"].as_f64().unwrap();
    assert!(loss(2) < loss(0), "{} -> {}", loss(0), loss(2));
    // The resolved config is saved with the run and parses as a config again.
    let saved = out.join("config.toml");
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(text.contains("max_steps = 3"), "{text}");

    // A second run into the same directory is refused rather than mixed with the first.
    let err = fails(&["train", "--config", s(&cfg)]);
    assert!(err.contains("already holds a run"), "{err}");
}

#[test]
fn a_resumed_run_writes_the_same_metrics_and_weights_as_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let data = generated(tmp.path(), 12);
    let model = tiny_model(tmp.path(), &data);
    let (full, parts) = (tmp.path().join("full"), tmp.path().join("parts"));
    let full_cfg = write(
        &tmp.path().join("full.toml"),
        &sft_config(&model, &data, &full, 4),
    );
    ok(&["train", "--config", s(&full_cfg)]);

    // Stopped after 2 of 4 steps, then continued with --resume to step 4.
    let parts_cfg = write(
        &tmp.path().join("parts.toml"),
        &sft_config(&model, &data, &parts, 4),
    );
    ok(&[
        "train",
        "--config",
        s(&parts_cfg),
        "--set",
        "optim.max_steps=2",
    ]);
    assert_eq!(metrics(&parts).len(), 2);
    let stderr = run(&["train", "--config", s(&parts_cfg), "--resume"]).2;
    assert!(stderr.contains("resumed from step 2"), "{stderr}");

    assert_eq!(timeless(metrics(&full)), timeless(metrics(&parts)));
    let weights = |dir: &Path| std::fs::read(dir.join("final/adapter_model.safetensors")).unwrap();
    assert_eq!(weights(&full), weights(&parts));

    // A resume that would change the results is refused, naming the key.
    let err = fails(&[
        "train",
        "--config",
        s(&parts_cfg),
        "--resume",
        "--set",
        "optim.learning_rate=0.02",
    ]);
    assert!(err.contains("`optim.learning_rate` differs"), "{err}");
}

#[test]
fn grpo_continues_from_an_sft_adapter() {
    let tmp = tempfile::tempdir().unwrap();
    let data = generated(tmp.path(), 8);
    let model = tiny_model(tmp.path(), &data);
    let sft = tmp.path().join("sft");
    let sft_cfg = write(
        &tmp.path().join("sft.toml"),
        &sft_config(&model, &data, &sft, 2),
    );
    ok(&["train", "--config", s(&sft_cfg)]);

    let out = tmp.path().join("grpo");
    let cfg = write(
        &tmp.path().join("grpo.toml"),
        &format!(
            r#"method = "grpo"
seed = 3

[model]
path = "{}"
init_adapter = "{}"

[data]
path = "{}"

[rollout]
num_generations = 2
max_new_tokens = 12
temperature = 1.0

[grpo]
prompts_per_step = 2
beta = 0.01

[optim]
learning_rate = 0.001
micro_batch_size = 2
gradient_accumulation_steps = 2
max_steps = 2

[logging]
progress_bar = false
sample_steps = 1
num_samples = 2

[output]
output_dir = "{}"
"#,
            model.display(),
            sft.join("final").display(),
            data.display(),
            out.display()
        ),
    );
    ok(&["train", "--config", s(&cfg)]);

    let lines = metrics(&out);
    assert_eq!(lines.len(), 2);
    for l in &lines {
        for key in [
            "rollout/reward_mean",
            "rollout/reward_std",
            "rollout/zero_std_frac",
            "actor/kl",
            "actor/entropy",
            "loss/policy",
            "response_length/mean",
            "response_length/truncated_frac",
            "reward/correct_frac",
            "optim/grad_norm",
        ] {
            assert!(l.contains_key(key), "{key} missing from {l:?}");
        }
        // 2 prompts x 2 completions in one update of 2 x 2.
        assert_eq!(l["optim/updates"].as_f64(), Some(1.0));
        let len = l["response_length/mean"].as_f64().unwrap();
        assert!((1.0..=12.0).contains(&len), "{len}");
    }
    // Two example completions per step, each scored against its gold.
    let samples = std::fs::read_to_string(out.join("samples.jsonl")).unwrap();
    assert_eq!(samples.lines().count(), 4);
    for line in samples.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(v["reward"].is_number() && v["gold"].is_string(), "{v}");
    }
    // The adapter keeps the SFT adapter's shape (r = 4 from its adapter_config.json).
    let adapter: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("final/adapter_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(adapter["r"], 4);
}

#[test]
fn config_errors_name_the_key_the_file_and_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let base = sft_config(
        Path::new("no-model"),
        Path::new("no-data.jsonl"),
        &tmp.path().join("out"),
        2,
    );
    let line_of = |text: &str, needle: &str| {
        1 + text
            .lines()
            .position(|l| l.starts_with(needle))
            .expect("needle in config")
    };

    // An unknown key.
    let unknown = base.replace("max_length = 1024", "max_length = 1024\nmax_lenght = 64");
    let path = write(&tmp.path().join("unknown.toml"), &unknown);
    let err = fails(&["train", "--config", s(&path)]);
    let line = line_of(&unknown, "max_lenght");
    assert!(err.contains("`sft.max_lenght`"), "{err}");
    assert!(
        err.contains(&format!("unknown.toml line {line}")),
        "line {line}: {err}"
    );
    assert!(
        err.contains("max_length"),
        "should list the allowed keys: {err}"
    );

    // A value out of range.
    let bad = base.replace("learning_rate = 0.01", "learning_rate = -0.01");
    let path = write(&tmp.path().join("bad.toml"), &bad);
    let err = fails(&["train", "--config", s(&path)]);
    let line = line_of(&bad, "learning_rate");
    assert!(err.contains("`optim.learning_rate`"), "{err}");
    assert!(err.contains(&format!("bad.toml line {line}")), "{err}");
    assert!(err.contains("> 0"), "should say what is allowed: {err}");

    // A value of the wrong kind.
    let kind = base.replace("lora_dropout = 0.1", "lora_dropout = \"high\"");
    let path = write(&tmp.path().join("kind.toml"), &kind);
    let err = fails(&["train", "--config", s(&path)]);
    assert!(err.contains("`lora.lora_dropout`"), "{err}");
    assert!(
        err.contains(&format!(
            "kind.toml line {}",
            line_of(&kind, "lora_dropout")
        )),
        "{err}"
    );

    // Bad overrides are named as overrides.
    let good = write(&tmp.path().join("good.toml"), &base);
    let err = fails(&["train", "--config", s(&good), "--set", "optim.lr=0.1"]);
    assert!(err.contains("--set optim.lr"), "{err}");
    assert!(err.contains("`optim.lr`"), "{err}");
    let err = fails(&["train", "--config", s(&good), "--set", "optim.max_steps=0"]);
    assert!(
        err.contains("--set optim.max_steps") && err.contains("at least 1"),
        "{err}"
    );
    let err = fails(&["train", "--config", s(&good), "--set", "seed"]);
    assert!(err.contains("key=value"), "{err}");
}

#[test]
fn set_overrides_reach_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = generated(tmp.path(), 6);
    let model = tiny_model(tmp.path(), &data);
    let out = tmp.path().join("run");
    let cfg = write(
        &tmp.path().join("sft.toml"),
        &sft_config(&model, &data, &out, 3),
    );
    let elsewhere = tmp.path().join("elsewhere");
    ok(&[
        "train",
        "--config",
        s(&cfg),
        "--set",
        "optim.max_steps=1",
        "--set",
        "optim.learning_rate=0.003",
        "--set",
        &format!("output.output_dir={}", elsewhere.display()),
    ]);
    assert!(!out.exists());
    let lines = metrics(&elsewhere);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["optim/lr"].as_f64(), Some(0.003));
    let saved = std::fs::read_to_string(elsewhere.join("config.toml")).unwrap();
    assert!(saved.contains("learning_rate = 0.003"), "{saved}");
}

/// The benchmark's rule, written out independently of the reward crate: strip whitespace, read
/// every `{"PROB": "x"}`-style object, correct if any value is within 5e-4 of the gold's.
fn official_correct(response: &str, gold: &str) -> bool {
    let prob = |text: &str| -> Vec<f64> {
        let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        t.match_indices("\"PROB\":\"")
            .filter_map(|(i, m)| {
                let rest = &t[i + m.len()..];
                rest[..rest.find('"')?].parse().ok()
            })
            .collect()
    };
    let gold = prob(gold)[0];
    prob(response).iter().any(|p| (p - gold).abs() < 5e-4)
}

#[test]
fn eval_saves_responses_and_reports_what_score_computes() {
    let tmp = tempfile::tempdir().unwrap();
    // Prompts whose gold is 0.5 (ATE) or 0.25 (PN) at random; the SFT data shows each prompt
    // with both answers, so the trained model answers in form and is right about half the time.
    let (mut train, mut test) = (String::new(), String::new());
    for k in 0..16 {
        let prompt = format!("case {k}: what is the effect?");
        let (task, gold) = if k % 2 == 0 {
            ("ATE", r#"{"ANSWER": "Yes", "PROB": "0.5000"}"#)
        } else {
            ("PN", r#"{"PROB": "0.2500"}"#)
        };
        let line = serde_json::json!({"id": format!("q{k}"), "task": task, "problem": prompt, "answer": gold});
        test.push_str(&format!("{line}\n"));
        for answer in [r#"{"PROB": "0.5000"}"#, r#"{"PROB": "0.2500"}"#] {
            let line = serde_json::json!({"problem": prompt, "answer": answer});
            train.push_str(&format!("{line}\n"));
        }
    }
    let train_path = write(&tmp.path().join("train.jsonl"), &train);
    let test_path = write(&tmp.path().join("probe.jsonl"), &test);
    let model = tiny_model(tmp.path(), &train_path);
    let sft = tmp.path().join("sft");
    let cfg = write(
        &tmp.path().join("sft.toml"),
        &sft_config(&model, &train_path, &sft, 40).replace("held_out = 2", "held_out = 0"),
    );
    // Every weight, as the demo's warm start does: a LoRA over random weights learns the
    // answer line too slowly for a test.
    ok(&[
        "train",
        "--config",
        s(&cfg),
        "--set",
        "logging.save_steps=0",
        "--set",
        "model.train_mode=full",
        "--set",
        "optim.learning_rate=0.003",
        "--set",
        "optim.micro_batch_size=8",
        "--set",
        "optim.gradient_accumulation_steps=1",
    ]);

    let out = tmp.path().join("eval");
    let limit = 6;
    let stdout = ok(&[
        "eval",
        "--model",
        s(&sft.join("final")),
        "--sets",
        s(&test_path),
        "--limit",
        &limit.to_string(),
        "--n",
        "2",
        "--temperature",
        "1.0",
        "--max-new-tokens",
        "24",
        "--seed",
        "4",
        "--out",
        s(&out),
        "--json",
    ]);
    let report: Value = serde_json::from_str(&stdout).expect("--json prints one JSON object");
    assert_eq!(report["n"], 2);
    assert_eq!(report["limit"], limit);
    let set = &report["sets"]["probe"];
    for f in ["probe.responses.jsonl", "report.json", "report.md"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(saved, report);
    let table = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(table.contains("ATE") && table.contains("PN"), "{table}");

    // The saved responses: `limit` items, n each, in item order.
    let responses: Vec<Value> = std::fs::read_to_string(out.join("probe.responses.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(responses.len(), limit);
    let items: Vec<Value> = test
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut correct = 0;
    for (r, item) in responses.iter().zip(&items) {
        assert_eq!(r["id"], item["id"]);
        let texts = r["responses"].as_array().unwrap();
        assert_eq!(texts.len(), 2);
        let gold = item["answer"].as_str().unwrap();
        correct += texts
            .iter()
            .filter(|t| official_correct(t.as_str().unwrap(), gold))
            .count();
    }

    // `caugym score` on the same items and the saved responses (read back from disk).
    let first: String = test.lines().take(limit).map(|l| format!("{l}\n")).collect();
    let dataset = write(&tmp.path().join("first.jsonl"), &first);
    let scored: Value = serde_json::from_str(&ok(&[
        "score",
        "--dataset",
        s(&dataset),
        "--responses",
        s(&out.join("probe.responses.jsonl")),
        "--json",
    ]))
    .unwrap();
    assert_eq!(scored, *set, "eval's report and score's disagree");
    let accuracy = set["overall"]["accuracy"].as_f64().unwrap();
    assert_eq!(accuracy, correct as f64 / (2 * limit) as f64);
    // The SFT model learned the form and one of the two values: neither 0 nor 1.
    assert!(accuracy > 0.0 && accuracy < 1.0, "accuracy {accuracy}");
}

/// Every `.toml` under `configs/`, recursively, sorted.
fn shipped_configs() -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "toml") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs"),
        &mut out,
    );
    out.sort();
    out
}

#[test]
fn every_shipped_config_parses_and_validates() {
    let configs = shipped_configs();
    // Paths under configs/ (several directories hold an `sft.toml`).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let names: Vec<String> = configs
        .iter()
        .map(|p| {
            p.strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    for expected in [
        "demo/sft.toml",
        "demo/grpo.toml",
        "grpo-r1-distill-14b.toml",
        "ablation/cpu/dpo.toml",
        "ablation/cpu/kto.toml",
        "ablation/cpu/ppo.toml",
        "study/ppo-r1-distill-14b.toml",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not in {names:?}"
        );
    }
    // Parsing validates every rule that needs no model or GPU (a CUDA device is only opened
    // when the run starts).
    let loaded: Vec<_> = configs
        .iter()
        .map(|p| {
            caugym_train::config::load(p, &[]).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        })
        .collect();
    let by_name = |n: &str| &loaded[names.iter().position(|x| x == n).unwrap()];

    // The demo: GRPO's base is the SFT run's exported checkpoint.
    let (sft, grpo) = (by_name("demo/sft.toml"), by_name("demo/grpo.toml"));
    assert_eq!(sft.method, caugym_train::config::MethodKind::Sft);
    assert_eq!(grpo.method, caugym_train::config::MethodKind::Grpo);
    assert_eq!(
        std::path::Path::new(&grpo.model.path),
        sft.output.output_dir.join("final")
    );
    assert_eq!(sft.model.device, "cpu");

    // The study's setting on a GPU node.
    let big = by_name("grpo-r1-distill-14b.toml");
    assert_eq!(big.model.path, "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B");
    assert_eq!(big.model.dtype, caugym_train::config::WeightDType::Bf16);
    assert_eq!(big.model.kernels, caugym_train::config::KernelsPath::Fused);
    assert!(big.model.device.starts_with("cuda"));
    assert_eq!(
        big.model.train_mode,
        caugym_train::config::TrainModeName::Lora
    );
    assert_eq!(big.lora.r, 64);
    assert_eq!(big.lora.target_modules.resolve().len(), 7);
    let caugym_train::config::MethodConfig::Grpo(g) = big.method_config() else {
        panic!("grpo expected")
    };
    assert_eq!(big.rollout.num_generations, 8);
    assert_eq!((g.beta, g.epsilon), (0.001, 0.2));
    let generate = big.data.generate.as_ref().unwrap();
    assert_eq!(generate.nodes, [10, 10]);
    assert!(!generate.instruction && generate.step_by_step);
}
