//! End to end: the `caugym` binary writes a tiny random checkpoint, scores completions with
//! `logprobs` (checked against the library's own forward), and exports an adapter as PEFT and
//! as a merged checkpoint.

use candle_core::{DType, Device, IndexOp};
use caugym_model::loader::load_model_dir;
use caugym_model::tokenizer::Tokenizer;
use caugym_model::{AdapterMode, Batch, LoraConfig, PadSide, TargetModules};
use std::path::Path;
use std::process::Command;

fn caugym(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_caugym"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "caugym {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn init(dir: &Path, seed: &str) {
    caugym(&[
        "init-model",
        "--size",
        "tiny",
        "--out",
        dir.to_str().unwrap(),
        "--seed",
        seed,
    ]);
}

#[test]
fn init_model_is_seeded_and_loadable() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    init(&a, "3");
    init(&b, "3");
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        assert!(a.join(f).is_file(), "{f} missing");
    }
    assert_eq!(
        std::fs::read(a.join("model.safetensors")).unwrap(),
        std::fs::read(b.join("model.safetensors")).unwrap()
    );
    let m = load_model_dir(&a, DType::F32, &Device::Cpu).unwrap();
    let tok = Tokenizer::from_dir(&a).unwrap();
    assert_eq!(m.config().vocab_size, tok.vocab_size());
    assert!(tok.chat_template().is_ok());
}

#[test]
fn logprobs_match_the_library_forward() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    init(&dir, "1");
    let input = tmp.path().join("in.jsonl");
    let pairs = [
        ("Does rain cause wet grass?", " Answer: yes."),
        ("Is age a confounder?", " no"),
    ];
    let text: String = pairs
        .iter()
        .map(|(p, c)| serde_json::json!({"prompt": p, "completion": c}).to_string() + "\n")
        .collect();
    std::fs::write(&input, text).unwrap();
    let out = caugym(&[
        "logprobs",
        "--model",
        dir.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ]);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let m = load_model_dir(&dir, DType::F32, &Device::Cpu).unwrap();
    let tok = Tokenizer::from_dir(&dir).unwrap();
    for (line, (p, c)) in lines.iter().zip(pairs) {
        let pids: Vec<u32> = serde_json::from_value(line["prompt_ids"].clone()).unwrap();
        let cids: Vec<u32> = serde_json::from_value(line["completion_ids"].clone()).unwrap();
        let lps: Vec<f32> = serde_json::from_value(line["logprobs"].clone()).unwrap();
        assert_eq!(pids, tok.encode(p, false).unwrap());
        assert_eq!(cids, tok.encode(c, false).unwrap());
        assert_eq!(lps.len(), cids.len());
        // Independent check: log_softmax of the full logits of this sequence alone.
        let ids = [pids.clone(), cids.clone()].concat();
        let b =
            Batch::from_rows(std::slice::from_ref(&ids), 0, PadSide::Right, &Device::Cpu).unwrap();
        let logits = m
            .forward_logits(&b, AdapterMode::Disabled)
            .unwrap()
            .i(0)
            .unwrap();
        let logp = candle_nn::ops::log_softmax(&logits, 1)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        for (k, lp) in lps.iter().enumerate() {
            let pos = pids.len() - 1 + k;
            let want = logp[pos][ids[pos + 1] as usize];
            assert!((lp - want).abs() < 1e-4, "token {k}: {lp} vs {want}");
            assert!(*lp < 0.0);
        }
    }
}

#[test]
fn export_peft_and_merged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    init(&dir, "2");
    // An adapter with non-zero B, written through the library.
    let mut m = load_model_dir(&dir, DType::F32, &Device::Cpu).unwrap();
    m.add_adapter("a", &LoraConfig::new(4, 8.0, TargetModules::AllLinear), 1)
        .unwrap();
    for (k, v) in m.adapter_vars("a").unwrap() {
        if k.contains("lora_B") {
            v.set(
                &v.as_tensor()
                    .ones_like()
                    .unwrap()
                    .affine(0.01, 0.0)
                    .unwrap(),
            )
            .unwrap();
        }
    }
    let adapter = tmp.path().join("adapter");
    caugym_model::peft::export_peft(&m, "a", &adapter, None).unwrap();

    let (peft, merged) = (tmp.path().join("peft"), tmp.path().join("merged"));
    let (d, a) = (dir.to_str().unwrap(), adapter.to_str().unwrap());
    caugym(&[
        "export",
        "--model",
        d,
        "--adapter",
        a,
        "--peft",
        peft.to_str().unwrap(),
    ]);
    caugym(&[
        "export",
        "--model",
        d,
        "--adapter",
        a,
        "--merged",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(peft.join("adapter_model.safetensors")).unwrap(),
        std::fs::read(adapter.join("adapter_model.safetensors")).unwrap()
    );
    assert!(merged.join("tokenizer.json").is_file());
    let mm = load_model_dir(&merged, DType::F32, &Device::Cpu).unwrap();
    let b = Batch::from_rows(&[vec![5, 9, 11, 3]], 0, PadSide::Left, &Device::Cpu).unwrap();
    let want = m.forward_logits(&b, AdapterMode::Active("a")).unwrap();
    let got = mm.forward_logits(&b, AdapterMode::Disabled).unwrap();
    let diff = (want - got)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(diff < 1e-4, "merged checkpoint differs by {diff}");
    // Neither target is a usage error.
    let out = Command::new(env!("CARGO_BIN_EXE_caugym"))
        .args(["export", "--model", d, "--adapter", a])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
