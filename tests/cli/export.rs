//! End to end: `caugym export RUN_DIR` takes a real run's `final/` or `checkpoint-STEP/`, finds
//! the base model in the run's saved config, and writes the PEFT layout of algorithms.md (and a
//! merged checkpoint) that reproduces the run's adapter.

use candle_core::{DType, Device, Tensor};
use caugym_model::loader::load_model_dir;
use caugym_model::peft::import_peft;
use caugym_model::{AdapterMode, Batch, PadSide, Qwen2};
use std::path::Path;

use crate::tiny_run::{caugym, caugym_ok, sft_config, tiny_model};

fn logits(m: &Qwen2, adapter: AdapterMode) -> Tensor {
    let b = Batch::from_rows(&[vec![5, 9, 11, 3, 40, 7]], 0, PadSide::Left, &Device::Cpu).unwrap();
    m.forward_logits(&b, adapter).unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// The base model with the adapter of `dir` attached as `a`.
fn with_adapter(model: &Path, dir: &Path) -> Qwen2 {
    let mut m = load_model_dir(model, DType::F32, &Device::Cpu).unwrap();
    import_peft(&mut m, "a", dir).unwrap();
    m
}

#[test]
fn export_a_runs_final_and_checkpoint_adapters() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(&tmp.path().join("model"));
    let run = tmp.path().join("run");
    let config = tmp.path().join("sft.toml");
    std::fs::write(&config, sft_config(&model, &run, 2)).unwrap();
    caugym_ok(&["train", "--config", config.to_str().unwrap()]);

    let peft = tmp.path().join("peft");
    let merged = tmp.path().join("merged");
    let r = run.to_str().unwrap();
    caugym_ok(&["export", r, "--peft", peft.to_str().unwrap()]);
    caugym_ok(&["export", r, "--merged", merged.to_str().unwrap()]);

    // The PEFT layout of algorithms.md: tensor names and config keys.
    let tensors =
        candle_core::safetensors::load(peft.join("adapter_model.safetensors"), &Device::Cpu)
            .unwrap();
    for name in [
        "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
        "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight",
        "base_model.model.model.layers.3.mlp.down_proj.lora_B.weight",
    ] {
        assert!(
            tensors.contains_key(name),
            "{name} missing: {:?}",
            tensors.keys()
        );
    }
    assert_eq!(
        tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"].dims()[0],
        4
    );
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(peft.join("adapter_config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["peft_type"], "LORA");
    assert_eq!(cfg["task_type"], "CAUSAL_LM");
    assert_eq!(cfg["r"], 4);
    assert_eq!(cfg["lora_alpha"].as_f64(), Some(8.0));
    assert_eq!(cfg["bias"], "none");
    assert_eq!(cfg["inference_mode"], true);
    assert_eq!(cfg["use_rslora"], false);
    assert_eq!(cfg["base_model_name_or_path"], model.to_str().unwrap());
    let targets: Vec<&str> = cfg["target_modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        targets.contains(&"q_proj") && targets.contains(&"down_proj"),
        "{targets:?}"
    );

    // Re-imported, the export gives the run's own adapter's outputs; the adapter is trained
    // (outputs differ from the base), so the comparison is not trivially base vs base.
    let run_model = with_adapter(&model, &run.join("final"));
    let want = logits(&run_model, AdapterMode::Active("a"));
    let base = logits(&run_model, AdapterMode::Disabled);
    assert!(
        max_diff(&want, &base) > 1e-3,
        "the run did not move its adapter"
    );
    let exported = with_adapter(&model, &peft);
    assert_eq!(
        max_diff(&want, &logits(&exported, AdapterMode::Active("a"))),
        0.0
    );
    // Merged: a plain checkpoint (with the tokenizer) that computes base + adapter.
    assert!(merged.join("tokenizer.json").is_file());
    let mm = load_model_dir(&merged, DType::F32, &Device::Cpu).unwrap();
    let d = max_diff(&want, &logits(&mm, AdapterMode::Disabled));
    assert!(d < 1e-4, "merged differs by {d}");

    // --checkpoint 1 exports the step-1 adapter, which differs from the final (step 2) one.
    let ck = tmp.path().join("ck1");
    caugym_ok(&[
        "export",
        r,
        "--checkpoint",
        "1",
        "--peft",
        ck.to_str().unwrap(),
    ]);
    let step1 = logits(&with_adapter(&model, &ck), AdapterMode::Active("a"));
    let own = logits(
        &with_adapter(&model, &run.join("checkpoint-1")),
        AdapterMode::Active("a"),
    );
    assert_eq!(max_diff(&step1, &own), 0.0);
    assert!(max_diff(&step1, &want) > 1e-5);
    // A missing checkpoint names the ones there are.
    let o = caugym(&[
        "export",
        r,
        "--checkpoint",
        "7",
        "--peft",
        ck.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("checkpoint-7") && err.contains("steps 1, 2"),
        "{err}"
    );
}
