//! Loading HF checkpoint directories: sharded = single file; missing tensor, wrong shape and
//! wrong architecture are errors naming them; bf16 loads and runs; saving is loadable; a hub
//! repo id that is not cached is an error naming the repo and the cache.

mod common;

use candle_core::{DType, Device, Tensor};
use caugym_model::loader::{load_model, load_model_dir, save_checkpoint};
use caugym_model::{AdapterMode, Error, PadSide};
use common::*;
use std::collections::HashMap;
use std::path::Path;

fn write_st(tensors: &HashMap<String, Tensor>, path: &Path) {
    candle_core::safetensors::save(tensors, path).unwrap();
}

fn write_dir(dir: &Path, cfg: &caugym_model::Qwen2Config, w: &HashMap<String, Tensor>) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.json"), serde_json::to_string(cfg).unwrap()).unwrap();
    write_st(w, &dir.join("model.safetensors"));
}

#[test]
fn sharded_checkpoint_loads_like_single_file() {
    let cfg = tiny_cfg(false);
    let w = random_weights(&cfg, 61);
    let tmp = tempfile::tempdir().unwrap();
    let single = tmp.path().join("single");
    write_dir(&single, &cfg, &w);

    let sharded = tmp.path().join("sharded");
    std::fs::create_dir_all(&sharded).unwrap();
    std::fs::write(
        sharded.join("config.json"),
        serde_json::to_string(&cfg).unwrap(),
    )
    .unwrap();
    let mut names: Vec<&String> = w.keys().collect();
    names.sort();
    let (a, b) = names.split_at(names.len() / 2);
    let mut map = serde_json::Map::new();
    for (part, file) in [
        (a, "model-00001-of-00002.safetensors"),
        (b, "model-00002-of-00002.safetensors"),
    ] {
        let shard: HashMap<String, Tensor> =
            part.iter().map(|n| ((*n).clone(), w[*n].clone())).collect();
        write_st(&shard, &sharded.join(file));
        for n in part {
            map.insert((*n).clone(), serde_json::json!(file));
        }
    }
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": map});
    std::fs::write(
        sharded.join("model.safetensors.index.json"),
        index.to_string(),
    )
    .unwrap();

    let m1 = load_model_dir(&single, DType::F32, &Device::Cpu).unwrap();
    let m2 = load_model(sharded.to_str().unwrap(), DType::F32, &Device::Cpu).unwrap();
    let b = batch(&rows(&[5, 3], cfg.vocab_size, 1), PadSide::Left);
    let x1 = m1.forward_logits(&b, AdapterMode::Disabled).unwrap();
    let x2 = m2.forward_logits(&b, AdapterMode::Disabled).unwrap();
    assert_eq!(max_diff(&x1, &x2), 0.0);
}

#[test]
fn missing_or_misshapen_tensor_is_named() {
    let cfg = tiny_cfg(true);
    let tmp = tempfile::tempdir().unwrap();
    let mut w = random_weights(&cfg, 62);
    w.remove("model.layers.1.mlp.up_proj.weight");
    write_dir(tmp.path(), &cfg, &w);
    let err = load_model_dir(tmp.path(), DType::F32, &Device::Cpu).unwrap_err();
    assert!(
        matches!(&err, Error::MissingTensor { name } if name == "model.layers.1.mlp.up_proj.weight"),
        "{err}"
    );

    let mut w = random_weights(&cfg, 62);
    w.insert(
        "model.layers.0.self_attn.k_proj.bias".into(),
        Tensor::zeros(5, DType::F32, &Device::Cpu).unwrap(),
    );
    write_dir(tmp.path(), &cfg, &w);
    let err = load_model_dir(tmp.path(), DType::F32, &Device::Cpu).unwrap_err();
    match &err {
        Error::Shape {
            name,
            expected,
            got,
        } => {
            assert_eq!(name, "model.layers.0.self_attn.k_proj.bias");
            assert_eq!(expected, &[16]);
            assert_eq!(got, &[5]);
        }
        other => panic!("expected a shape error, got {other}"),
    }
    // An untied config needs lm_head.weight.
    let mut untied = cfg.clone();
    untied.tie_word_embeddings = false;
    write_dir(tmp.path(), &untied, &random_weights(&cfg, 62));
    let err = load_model_dir(tmp.path(), DType::F32, &Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("lm_head.weight"), "{err}");
}

#[test]
fn wrong_architecture_is_rejected_naming_the_field() {
    let cfg = tiny_cfg(true);
    let tmp = tempfile::tempdir().unwrap();
    write_dir(tmp.path(), &cfg, &random_weights(&cfg, 63));
    let mut json: serde_json::Value = serde_json::to_value(&cfg).unwrap();
    json["architectures"] = serde_json::json!(["LlamaForCausalLM"]);
    std::fs::write(tmp.path().join("config.json"), json.to_string()).unwrap();
    let err = load_model_dir(tmp.path(), DType::F32, &Device::Cpu).unwrap_err();
    assert!(
        matches!(&err, Error::Config { field, .. } if field == "architectures"),
        "{err}"
    );
    assert!(err.to_string().contains("LlamaForCausalLM"));
}

#[test]
fn hf_config_defaults_and_real_fields_parse() {
    // A trimmed Qwen2.5-style config.json: unknown fields ignored, defaults filled in.
    let text = r#"{"architectures": ["Qwen2ForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100,
        "attention_dropout": 0.0, "initializer_range": 0.02, "sliding_window": 4096, "use_sliding_window": false,
        "tie_word_embeddings": true, "torch_dtype": "bfloat16"}"#;
    let cfg = caugym_model::Qwen2Config::from_json_str(text).unwrap();
    cfg.validate().unwrap();
    assert_eq!(cfg.rope_theta, 10000.0);
    assert_eq!(cfg.rms_norm_eps, 1e-6);
    assert_eq!(cfg.max_position_embeddings, 32768);
    assert_eq!(cfg.head_dim(), 16);
    assert_eq!(cfg.kv_groups(), 2);
}

#[test]
fn bf16_load_runs_and_tracks_f32() {
    let cfg = tiny_cfg(true);
    let tmp = tempfile::tempdir().unwrap();
    write_dir(tmp.path(), &cfg, &random_weights(&cfg, 64));
    let m32 = load_model_dir(tmp.path(), DType::F32, &Device::Cpu).unwrap();
    let m16 = load_model_dir(tmp.path(), DType::BF16, &Device::Cpu).unwrap();
    assert_eq!(m16.lm_head_weight().dtype(), DType::BF16);
    let b = batch(&rows(&[6, 4], cfg.vocab_size, 2), PadSide::Left);
    let x32 = m32.forward_logits(&b, AdapterMode::Disabled).unwrap();
    let x16 = m16.forward_logits(&b, AdapterMode::Disabled).unwrap();
    assert_eq!(x16.dtype(), DType::BF16);
    // bf16 keeps 8 mantissa bits: logits of magnitude ~5 agree to a few tenths.
    let d = max_diff(&x16, &x32);
    assert!(d < 0.5 && d > 0.0, "bf16 logits off by {d}");
    let lp = caugym_model::sequence_logprobs(&m16, &b, AdapterMode::Disabled, &Default::default())
        .unwrap();
    assert_eq!(lp.logprobs.dtype(), DType::F32);
}

#[test]
fn save_checkpoint_round_trips_and_keeps_tokenizer_files() {
    let cfg = tiny_cfg(false);
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write_dir(&src, &cfg, &random_weights(&cfg, 65));
    std::fs::write(src.join("tokenizer.json"), "{}").unwrap();
    let m = load_model_dir(&src, DType::F32, &Device::Cpu).unwrap();
    let out = tmp.path().join("out");
    save_checkpoint(&m, &out, Some(&src)).unwrap();
    save_checkpoint(&m, &out, Some(&src)).unwrap(); // overwriting an existing checkpoint works
    assert!(out.join("tokenizer.json").is_file());
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        2,
        "temporary directories left behind: {leftovers:?}"
    );
    let m2 = load_model_dir(&out, DType::F32, &Device::Cpu).unwrap();
    let b = batch(&rows(&[4], cfg.vocab_size, 2), PadSide::Left);
    let d = max_diff(
        &m.forward_logits(&b, AdapterMode::Disabled).unwrap(),
        &m2.forward_logits(&b, AdapterMode::Disabled).unwrap(),
    );
    assert_eq!(d, 0.0);
}

#[test]
fn uncached_hub_repo_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    // SAFETY: set before any other thread of this test binary reads HF_HOME.
    unsafe { std::env::set_var("HF_HOME", tmp.path()) };
    let err = load_model("Qwen/Qwen2.5-0.5B-Instruct", DType::F32, &Device::Cpu).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::HubUnavailable { .. }), "{text}");
    assert!(
        text.contains("Qwen/Qwen2.5-0.5B-Instruct")
            && text.contains(&tmp.path().display().to_string()),
        "{text}"
    );
}
