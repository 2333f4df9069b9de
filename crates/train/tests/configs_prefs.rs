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
            // The generator can make the CPU ablation's items (272 small ones: milliseconds).
            let split = caugym_train::trainers::examples::load(&cfg.data).unwrap();
            assert_eq!((split.train.len(), split.held_out.len()), (256, 16));
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
