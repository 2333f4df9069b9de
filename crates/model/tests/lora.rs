//! LoRA semantics: B = 0 equals the base bit for bit; `Disabled` equals the base with a
//! non-zero B; adapters switch by name; the scale is alpha/r (alpha/sqrt(r) with rsLoRA); the
//! init is PEFT's; merged weights equal the adapter forward (1e-4, f32); PEFT export then import
//! round-trips bit-exactly and the config has exactly PEFT's fields.

mod common;

use candle_core::{DType, Tensor};
use caugym_model::peft::{export_peft, import_peft, merge_adapter, save_merged};
use caugym_model::{
    AdapterMode, Error, LoraConfig, PadSide, TargetModule, TargetModules, TrainMode,
};
use common::*;

fn cfg_q_v() -> LoraConfig {
    LoraConfig::new(
        4,
        16.0,
        TargetModules::List(vec![
            TargetModule::QProj,
            TargetModule::VProj,
            TargetModule::DownProj,
        ]),
    )
}

fn equal(a: &Tensor, b: &Tensor) -> bool {
    a.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        == b.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

fn set_random_b(m: &caugym_model::Qwen2, name: &str, seed: u64) {
    for (i, (k, v)) in m.adapter_vars(name).unwrap().into_iter().enumerate() {
        if k.contains("lora_B") {
            v.set(&uniform(v.dims(), 0.4, seed + i as u64)).unwrap();
        }
    }
}

#[test]
fn zero_b_equals_base_and_disabled_equals_base() {
    let cfg = tiny_cfg(true);
    let mut m = model(&cfg, &random_weights(&cfg, 51), DType::F32);
    let b = batch(&rows(&[6, 4], cfg.vocab_size, 2), PadSide::Left);
    let base = m.forward_hidden(&b, AdapterMode::Disabled).unwrap();
    m.add_adapter("policy", &cfg_q_v(), 1).unwrap();
    let fresh = m.forward_hidden(&b, AdapterMode::Active("policy")).unwrap();
    assert!(
        equal(&fresh, &base),
        "B = 0 must leave the base output unchanged exactly"
    );
    set_random_b(&m, "policy", 10);
    let adapted = m.forward_hidden(&b, AdapterMode::Active("policy")).unwrap();
    assert!(
        max_diff(&adapted, &base) > 1e-2,
        "a non-zero B must change the output"
    );
    let disabled = m.forward_hidden(&b, AdapterMode::Disabled).unwrap();
    assert!(equal(&disabled, &base));
    // A second adapter is independent; switching by name.
    m.add_adapter(
        "critic",
        &LoraConfig::new(2, 2.0, TargetModules::AllLinear),
        2,
    )
    .unwrap();
    assert!(equal(
        &m.forward_hidden(&b, AdapterMode::Active("critic")).unwrap(),
        &base
    ));
    assert!(equal(
        &m.forward_hidden(&b, AdapterMode::Active("policy")).unwrap(),
        &adapted
    ));
    assert_eq!(m.adapter_names(), ["critic", "policy"]);
    assert!(matches!(
        m.add_adapter("policy", &cfg_q_v(), 1),
        Err(Error::DuplicateAdapter { .. })
    ));
    assert!(matches!(
        m.forward_hidden(&b, AdapterMode::Active("nope")),
        Err(Error::UnknownAdapter { .. })
    ));
    m.remove_adapter("critic").unwrap();
    assert_eq!(m.adapter_names(), ["policy"]);
    assert!(m.forward_hidden(&b, AdapterMode::Active("critic")).is_err());
}

#[test]
fn peft_init_scale_and_layer_selection() {
    let cfg = tiny_cfg(true);
    let mut m = model(&cfg, &random_weights(&cfg, 52), DType::F32);
    let mut lc = cfg_q_v();
    lc.layers_to_transform = Some(vec![1]);
    m.add_adapter("a", &lc, 3).unwrap();
    let vars = m.trainable_vars(&TrainMode::Lora("a".into())).unwrap();
    let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names[0],
        "base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight"
    );
    assert_eq!(names.len(), 6);
    for (n, v) in &vars {
        assert_eq!(v.dtype(), DType::F32);
        let x = v
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        if n.contains("lora_B") {
            assert!(x.iter().all(|&e| e == 0.0));
        } else {
            // U(-1/sqrt(in), 1/sqrt(in)): bounded, and spread over most of the interval.
            let bound = 1.0 / (v.dim(1).unwrap() as f32).sqrt();
            let max = x.iter().fold(0f32, |a, &e| a.max(e.abs()));
            assert!(
                max <= bound && max > 0.8 * bound,
                "{n}: max {max} bound {bound}"
            );
        }
    }
    // Same seed, same init.
    let mut m2 = model(&cfg, &random_weights(&cfg, 52), DType::F32);
    m2.add_adapter("a", &lc, 3).unwrap();
    assert!(equal(
        vars[0].1.as_tensor(),
        m2.adapter_vars("a").unwrap()[0].1.as_tensor()
    ));
    assert_eq!(lc.scale(), 4.0);
    let rs = LoraConfig {
        use_rslora: true,
        ..cfg_q_v()
    };
    assert_eq!(rs.scale(), 8.0);
    let mut bad = cfg_q_v();
    bad.layers_to_transform = Some(vec![5]);
    assert!(
        m.add_adapter("bad", &bad, 0)
            .unwrap_err()
            .to_string()
            .contains("layers_to_transform")
    );
}

#[test]
fn dropout_only_while_training() {
    let cfg = tiny_cfg(true);
    let mut m = model(&cfg, &random_weights(&cfg, 53), DType::F32);
    let mut lc = cfg_q_v();
    lc.dropout = 0.5;
    m.add_adapter("a", &lc, 3).unwrap();
    set_random_b(&m, "a", 4);
    let b = batch(&rows(&[5], cfg.vocab_size, 3), PadSide::Left);
    let eval1 = m.forward_hidden(&b, AdapterMode::Active("a")).unwrap();
    let eval2 = m.forward_hidden(&b, AdapterMode::Active("a")).unwrap();
    assert!(equal(&eval1, &eval2));
    m.set_training(true);
    m.set_dropout_seed(1);
    let t1 = m.forward_hidden(&b, AdapterMode::Active("a")).unwrap();
    assert!(max_diff(&t1, &eval1) > 1e-3);
    m.set_dropout_seed(1);
    assert!(
        equal(
            &m.forward_hidden(&b, AdapterMode::Active("a")).unwrap(),
            &t1
        ),
        "dropout is seeded"
    );
}

#[test]
fn merged_weights_equal_adapter_forward() {
    let cfg = tiny_cfg(false);
    let mut m = model(&cfg, &random_weights(&cfg, 54), DType::F32);
    m.add_adapter(
        "a",
        &LoraConfig {
            use_rslora: true,
            ..LoraConfig::new(3, 5.0, TargetModules::AllLinear)
        },
        3,
    )
    .unwrap();
    set_random_b(&m, "a", 7);
    let b = batch(&rows(&[6, 3], cfg.vocab_size, 4), PadSide::Left);
    let want = m.forward_logits(&b, AdapterMode::Active("a")).unwrap();
    let merged = merge_adapter(&m, "a").unwrap();
    assert!(merged.adapter_names().is_empty());
    let got = merged.forward_logits(&b, AdapterMode::Disabled).unwrap();
    let d = max_diff(&got, &want);
    assert!(d < 1e-4, "merged differs by {d}");
    assert!(max_diff(&got, &m.forward_logits(&b, AdapterMode::Disabled).unwrap()) > 1e-2);
    // Saved as a full HF checkpoint, it loads back to the same model.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("merged");
    save_merged(&m, "a", &out, None).unwrap();
    let loaded =
        caugym_model::loader::load_model_dir(&out, DType::F32, &candle_core::Device::Cpu).unwrap();
    assert!(equal(
        &loaded.forward_logits(&b, AdapterMode::Disabled).unwrap(),
        &got
    ));
}

#[test]
fn peft_export_import_round_trips_exactly() {
    let cfg = tiny_cfg(true);
    let mut m = model(&cfg, &random_weights(&cfg, 55), DType::F32);
    let lc = LoraConfig {
        dropout: 0.05,
        ..cfg_q_v()
    };
    m.add_adapter("policy", &lc, 9).unwrap();
    set_random_b(&m, "policy", 3);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("adapter");
    export_peft(&m, "policy", &out, Some("tiny-base")).unwrap();

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("adapter_config.json")).unwrap())
            .unwrap();
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "base_model_name_or_path",
            "bias",
            "inference_mode",
            "lora_alpha",
            "lora_dropout",
            "peft_type",
            "r",
            "target_modules",
            "task_type",
            "use_rslora"
        ]
    );
    assert_eq!(json["peft_type"], "LORA");
    assert_eq!(json["task_type"], "CAUSAL_LM");
    assert_eq!(json["bias"], "none");
    assert_eq!(
        json["target_modules"],
        serde_json::json!(["q_proj", "v_proj", "down_proj"])
    );
    assert_eq!(json["r"], 4);
    assert_eq!(json["lora_alpha"], 16.0);
    let st = candle_core::safetensors::load(
        out.join("adapter_model.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    assert_eq!(st.len(), 2 * 3 * 2);
    assert!(st.contains_key("base_model.model.model.layers.0.mlp.down_proj.lora_B.weight"));
    let raw = std::fs::read(out.join("adapter_model.safetensors")).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&raw).unwrap();
    assert_eq!(meta.metadata().as_ref().unwrap()["format"], "pt");

    let mut fresh = model(&cfg, &random_weights(&cfg, 55), DType::F32);
    let imported = import_peft(&mut fresh, "policy", &out).unwrap();
    assert_eq!(imported.r, lc.r);
    assert_eq!(imported.dropout, lc.dropout);
    let a = m.adapter_vars("policy").unwrap();
    let b = fresh.adapter_vars("policy").unwrap();
    assert_eq!(a.len(), b.len());
    for ((na, va), (nb, vb)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        assert!(
            equal(va.as_tensor(), vb.as_tensor()),
            "{na} changed in the round trip"
        );
    }
    let bt = batch(&rows(&[5], cfg.vocab_size, 1), PadSide::Left);
    let x = m
        .forward_hidden(&bt, AdapterMode::Active("policy"))
        .unwrap();
    // Same weights; gemm may pick another kernel for differently aligned buffers, so the
    // forward agrees to rounding rather than bit for bit.
    let d = max_diff(
        &x,
        &fresh
            .forward_hidden(&bt, AdapterMode::Active("policy"))
            .unwrap(),
    );
    assert!(d < 1e-6, "imported adapter forward differs by {d}");
}

#[test]
fn import_rejects_unsupported_and_mismatched_adapters() {
    let cfg = tiny_cfg(true);
    let mut m = model(&cfg, &random_weights(&cfg, 56), DType::F32);
    m.add_adapter("p", &cfg_q_v(), 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("adapter");
    export_peft(&m, "p", &out, None).unwrap();
    // A DoRA config is refused, naming the field.
    let path = out.join("adapter_config.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["use_dora"] = serde_json::json!(true);
    std::fs::write(&path, json.to_string()).unwrap();
    let err = import_peft(&mut m, "q", &out).unwrap_err().to_string();
    assert!(err.contains("use_dora"), "{err}");
    // A rank that disagrees with the tensors is a shape error naming the tensor.
    json["use_dora"] = serde_json::json!(false);
    json["r"] = serde_json::json!(8);
    std::fs::write(&path, json.to_string()).unwrap();
    let err = import_peft(&mut m, "q", &out).unwrap_err();
    assert!(
        matches!(&err, Error::Shape { name, .. } if name.contains("q_proj.lora_A")),
        "{err}"
    );
}

#[test]
fn copied_adapter_starts_equal_and_trains_independently() {
    // PPO's critic is a copy of the policy's adapter on the same frozen base: equal outputs at
    // first, then its own Vars (a change to one leaves the other's output bit for bit), and
    // gradients of a loss through one adapter reach only that adapter's matrices.
    let cfg = tiny_cfg(true);
    let mut m = model(&cfg, &random_weights(&cfg, 61), DType::F32);
    let b = batch(&rows(&[5, 3], cfg.vocab_size, 4), PadSide::Right);
    m.add_adapter("policy", &cfg_q_v(), 3).unwrap();
    set_random_b(&m, "policy", 20);
    m.copy_adapter("policy", "critic").unwrap();
    assert_eq!(m.adapter_config("critic").unwrap(), &cfg_q_v());
    let policy = m.forward_hidden(&b, AdapterMode::Active("policy")).unwrap();
    let critic = m.forward_hidden(&b, AdapterMode::Active("critic")).unwrap();
    assert!(equal(&policy, &critic));
    let base = m.forward_hidden(&b, AdapterMode::Disabled).unwrap();
    assert!(max_diff(&policy, &base) > 1e-2);

    // Gradients: through "critic" only critic matrices get one (A and B, B being non-zero).
    let loss = critic.sqr().unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    for (name, v) in m.adapter_vars("critic").unwrap() {
        let g = grads
            .get(v.as_tensor())
            .unwrap_or_else(|| panic!("{name}: no gradient"));
        let norm = g
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(norm > 0.0, "{name}: zero gradient");
    }
    for (name, v) in m.adapter_vars("policy").unwrap() {
        assert!(grads.get(v.as_tensor()).is_none(), "{name} got a gradient");
    }

    // Independent storage: changing the critic's B leaves the policy as it was.
    set_random_b(&m, "critic", 90);
    let critic2 = m.forward_hidden(&b, AdapterMode::Active("critic")).unwrap();
    assert!(max_diff(&critic2, &policy) > 1e-2);
    let policy2 = m.forward_hidden(&b, AdapterMode::Active("policy")).unwrap();
    assert!(equal(&policy2, &policy));
    assert!(matches!(
        m.copy_adapter("policy", "critic"),
        Err(Error::DuplicateAdapter { .. })
    ));
    assert!(matches!(
        m.copy_adapter("nope", "x"),
        Err(Error::UnknownAdapter { .. })
    ));
}
