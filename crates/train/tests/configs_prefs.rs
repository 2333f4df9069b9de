//! The shipped DPO and KTO configs (CPU ablation, GPU study) parse and validate, with the
//! settings their comments promise.

use std::path::Path;

use caugym_train::config::{DpoLossType, MethodConfig, MethodKind, SftTarget, TrainConfig, load};

fn shipped(rel: &str) -> TrainConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../configs")
        .join(rel);
    load(&path, &[]).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_preference_configs_parse_with_their_settings() {
    for (rel, kind) in [
        ("ablation/cpu/dpo.toml", MethodKind::Dpo),
        ("ablation/cpu/kto.toml", MethodKind::Kto),
        ("study/dpo-r1-distill-14b.toml", MethodKind::Dpo),
        ("study/kto-r1-distill-14b.toml", MethodKind::Kto),
    ] {
        let cfg = shipped(rel);
        assert_eq!(cfg.method, kind, "{rel}");
        let study = rel.starts_with("study/");
        if study {
            assert_eq!(cfg.model.path, "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B");
            assert_eq!((cfg.model.device.as_str(), cfg.lora.r), ("cuda", 64));
            assert_eq!(cfg.data.generate.as_ref().unwrap().count, 3514);
        } else {
            // The demo's SFT checkpoint is the base; the reference is the SFT policy.
            assert_eq!(cfg.model.path, "runs/demo/sft/final");
            assert_eq!(cfg.model.device, "cpu");
            // The generator can make the CPU ablation's items (256 small ones: milliseconds).
            let split = caugym_train::trainers::examples::load(&cfg.data).unwrap();
            assert_eq!((split.train.len(), split.held_out.len()), (256, 0));
        }
        match cfg.method_config() {
            MethodConfig::Dpo(d) => {
                assert_eq!((d.beta, d.loss_type), (0.1, DpoLossType::Sigmoid));
                assert!(d.precompute_ref_log_probs && d.rejected_samples == 4);
                let form = if study {
                    SftTarget::Solution
                } else {
                    SftTarget::Answer
                };
                assert_eq!(d.completion, form);
            }
            MethodConfig::Kto(k) => {
                assert_eq!(
                    (k.beta, k.desirable_weight, k.undesirable_weight),
                    (0.1, 1.0, 1.0)
                );
                assert!(k.precompute_ref_log_probs && k.undesirable_samples == 4);
                assert!(cfg.optim.micro_batch_size >= 2);
            }
            other => panic!("{rel}: {other:?}"),
        }
    }
}

const BASE: &str = r#"
method = "dpo"
[model]
path = "models/tiny"
[data.generate]
count = 10
[output]
output_dir = "runs/x"
"#;

fn key_of(method: &str, overrides: &[&str]) -> String {
    let text = BASE.replace("method = \"dpo\"", &format!("method = \"{method}\""));
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    match caugym_train::config::parse(&text, "p.toml", &o) {
        Err(caugym_train::Error::Setting { key, .. }) => key,
        Err(other) => panic!("expected a setting error, got {other}"),
        Ok(_) => panic!("{overrides:?} should be rejected"),
    }
}

#[test]
fn dpo_and_kto_tables_have_trl_defaults_and_name_their_bad_keys() {
    let text = BASE.to_string();
    let cfg = caugym_train::config::parse(&text, "p.toml", &[]).unwrap();
    let MethodConfig::Dpo(d) = cfg.method_config() else {
        panic!()
    };
    assert_eq!(
        (d.beta, d.loss_type, d.label_smoothing, d.max_length),
        (0.1, DpoLossType::Sigmoid, 0.0, 1024)
    );
    assert!(!d.precompute_ref_log_probs);
    let kto =
        caugym_train::config::parse(&text.replace("\"dpo\"", "\"kto\""), "k.toml", &[]).unwrap();
    let MethodConfig::Kto(k) = kto.method_config() else {
        panic!()
    };
    assert_eq!(
        (k.beta, k.desirable_weight, k.undesirable_weight),
        (0.1, 1.0, 1.0)
    );
    for (method, overrides, want) in [
        ("dpo", &["dpo.beta=0.0"][..], "dpo.beta"),
        ("dpo", &["dpo.label_smoothing=0.5"], "dpo.label_smoothing"),
        (
            "dpo",
            &["dpo.loss_type=ipo", "dpo.label_smoothing=0.1"],
            "dpo.label_smoothing",
        ),
        ("dpo", &["dpo.loss_type=robust"], "dpo.loss_type"),
        ("dpo", &["dpo.max_length=1"], "dpo.max_length"),
        ("dpo", &["dpo.rejected_samples=65"], "dpo.rejected_samples"),
        ("dpo", &["dpo.gamma=1.0"], "dpo.gamma"),
        ("dpo", &["model.train_mode=full"], "model.train_mode"),
        (
            "dpo",
            &["rollout.temperature=0.0", "dpo.rejected_samples=2"],
            "dpo.rejected_samples",
        ),
        ("dpo", &["kto.beta=0.1"], "kto"),
        ("kto", &["kto.beta=-1.0"], "kto.beta"),
        ("kto", &["kto.desirable_weight=0.0"], "kto.desirable_weight"),
        (
            "kto",
            &["kto.undesirable_weight=0.0"],
            "kto.undesirable_weight",
        ),
        (
            "kto",
            &["kto.undesirable_samples=100"],
            "kto.undesirable_samples",
        ),
        (
            "kto",
            &["optim.micro_batch_size=1"],
            "optim.micro_batch_size",
        ),
        ("kto", &["dpo.beta=0.1"], "dpo"),
    ] {
        assert_eq!(key_of(method, overrides), want, "{overrides:?}");
    }
}
