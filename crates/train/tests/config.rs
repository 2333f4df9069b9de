//! The run configuration: parsing, defaults, `--set` overrides, and every validation rule
//! reported under its full key with where the value came from.

use caugym_train::Error;
use caugym_train::config::{MethodConfig, MethodKind, TrainModeName, parse};
use caugym_train::losses::KlEstimator;

const BASE: &str = r#"
method = "grpo"
seed = 3

[model]
path = "models/tiny"

[data.generate]
tasks = ["ATE", "NIE"]
count = 50

[rollout]
num_generations = 4

[output]
output_dir = "runs/x"

[grpo]
prompts_per_step = 2
"#;

fn set(overrides: &[&str]) -> caugym_train::Result<caugym_train::config::TrainConfig> {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    parse(BASE, "base.toml", &o)
}

/// The key and origin of a setting error.
fn key_of(r: caugym_train::Result<caugym_train::config::TrainConfig>) -> (String, String) {
    match r {
        Err(Error::Setting { key, origin, .. }) => (key, origin),
        Err(other) => panic!("expected a setting error, got {other}"),
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn base_config_parses_with_documented_defaults() {
    let cfg = set(&[]).unwrap();
    assert_eq!(cfg.method, MethodKind::Grpo);
    assert_eq!(cfg.seed, 3);
    assert_eq!(cfg.model.train_mode, TrainModeName::Lora);
    assert_eq!(cfg.model.device, "cpu");
    assert_eq!(cfg.optim.learning_rate, 1e-5);
    assert_eq!(cfg.optim.max_grad_norm, 1.0);
    assert_eq!(cfg.rollout.temperature, 1.0);
    assert_eq!(cfg.reward.format_weight, 0.1);
    let MethodConfig::Grpo(g) = cfg.method_config() else {
        panic!("grpo expected")
    };
    assert_eq!((cfg.rollout.num_generations, g.prompts_per_step), (4, 2));
    assert_eq!(
        (g.beta, g.epsilon, g.kl_estimator),
        (0.0, 0.2, KlEstimator::K3)
    );
    assert_eq!(
        g.clip_range().eps_high,
        0.2,
        "epsilon_high defaults to epsilon"
    );
    assert!(cfg.sft.is_none());
}

#[test]
fn the_method_table_is_filled_and_round_trips_through_toml() {
    let cfg = parse(
        &BASE
            .replace("method = \"grpo\"", "method = \"sft\"")
            .replace("[grpo]\nprompts_per_step = 2\n", ""),
        "sft.toml",
        &[],
    )
    .unwrap();
    assert!(matches!(cfg.method_config(), MethodConfig::Sft(s) if s.max_length == 1024));
    let text = cfg.to_toml().unwrap();
    assert_eq!(parse(&text, "saved", &[]).unwrap(), cfg);
    let grpo = set(&["grpo.epsilon_high=0.28", "grpo.clip_ratio_c=3.0"]).unwrap();
    assert_eq!(parse(&grpo.to_toml().unwrap(), "saved", &[]).unwrap(), grpo);
}

#[test]
fn overrides_take_toml_values_or_bare_strings() {
    let cfg = set(&[
        "grpo.beta=0.04",
        "optim.max_steps=7",
        "model.path=runs/sft/final",
        "model.dtype=bf16",
        "data.generate.tasks=[\"PN\"]",
        "rollout.stop=[\"</answer>\"]",
        "grpo.mask_truncated_completions=true",
        "logging.save_steps = 5",
    ])
    .unwrap();
    let MethodConfig::Grpo(g) = cfg.method_config() else {
        panic!()
    };
    assert_eq!(g.beta, 0.04);
    assert!(g.mask_truncated_completions);
    assert_eq!(cfg.optim.max_steps, 7);
    assert_eq!(cfg.model.path, "runs/sft/final");
    assert_eq!(cfg.model.dtype.dtype(), candle_core::DType::BF16);
    assert_eq!(
        cfg.data.generate.as_ref().unwrap().tasks,
        [caugym_scm::Task::Pn]
    );
    assert_eq!(cfg.rollout.stop, ["</answer>"]);
    assert_eq!(cfg.logging.save_steps, 5);
    // The last of two overrides of one key wins.
    assert_eq!(
        set(&["grpo.beta=0.1", "grpo.beta=0.2"])
            .unwrap()
            .grpo
            .unwrap()
            .beta,
        0.2
    );
}

#[test]
fn unknown_keys_are_named_with_their_origin() {
    let (key, origin) = key_of(set(&["grpo.betta=0.1"]));
    assert_eq!(
        (key.as_str(), origin.as_str()),
        ("grpo.betta", "--set grpo.betta: ")
    );
    let (key, _) = key_of(set(&["grpoo.beta=0.1"]));
    assert_eq!(key, "grpoo");
    let text = BASE.replace("count = 50", "count = 50\ncuont = 3");
    let (key, origin) = key_of(parse(&text, "f.toml", &[]));
    assert_eq!(
        (key.as_str(), origin.as_str()),
        ("data.generate.cuont", "f.toml line 11: ")
    );
    let err = parse(&text, "f.toml", &[]).unwrap_err().to_string();
    assert!(
        err.contains("expected one of") && err.contains("`count`"),
        "{err}"
    );
}

#[test]
fn wrong_types_and_missing_keys_are_named() {
    let (key, origin) = key_of(set(&["grpo.beta=\"high\""]));
    assert_eq!(
        (key.as_str(), origin.as_str()),
        ("grpo.beta", "--set grpo.beta: ")
    );
    let (key, _) = key_of(set(&["grpo.loss_agg_mode=\"mean\""]));
    assert_eq!(key, "grpo.loss_agg_mode");
    let (key, _) = key_of(set(&["data.generate.tasks=[\"ATE\", \"XYZ\"]"]));
    assert_eq!(key, "data.generate.tasks[1]");
    let (key, _) = key_of(set(&["method=rlhf"]));
    assert_eq!(key, "method");
    let (key, origin) = key_of(parse(
        &BASE.replace("path = \"models/tiny\"", ""),
        "f.toml",
        &[],
    ));
    assert_eq!(
        (key.as_str(), origin.as_str()),
        ("model.path", "f.toml line 5: ")
    );
    let (key, _) = key_of(parse(&BASE.replace("method = \"grpo\"", ""), "f.toml", &[]));
    assert_eq!(key, "method");
}

#[test]
fn syntax_errors_name_the_file_and_line() {
    let err = parse(&BASE.replace("[output]", "[output"), "bad.toml", &[]).unwrap_err();
    assert!(matches!(err, Error::Parse { .. }));
    let text = err.to_string();
    assert!(
        text.starts_with("bad.toml: ") && text.contains("line 15"),
        "{text}"
    );
    let err = set(&["grpo.beta"]).unwrap_err().to_string();
    assert!(err.contains("key=value"), "{err}");
}

/// Every validation rule: the override that breaks it and the key the error must name.
#[test]
fn every_validation_rule_names_its_key() {
    let cases: &[(&[&str], &str)] = &[
        (&["model.path=\" \""], "model.path"),
        (&["model.device=gpu"], "model.device"),
        (&["model.device=cuda:x"], "model.device"),
        (&["model.kernels=fused"], "model.kernels"),
        (
            &["model.train_mode=full", "model.init_adapter=runs/a"],
            "model.init_adapter",
        ),
        (&["data.path=x.jsonl"], "data.path"),
        (
            &["data.prompt_format=raw", "data.system_prompt=hi"],
            "data.system_prompt",
        ),
        (&["data.held_out=50"], "data.held_out"),
        (&["data.generate.tasks=[]"], "data.generate.tasks"),
        (&["data.generate.count=0"], "data.generate.count"),
        (&["data.generate.nodes=[1, 3]"], "data.generate.nodes"),
        (&["data.generate.nodes=[5, 3]"], "data.generate.nodes"),
        (&["data.generate.nodes=[2, 11]"], "data.generate.nodes"),
        (&["data.generate.variant=hard"], "data.generate.variant"),
        (&["rollout.max_new_tokens=0"], "rollout.max_new_tokens"),
        (
            &["rollout.max_prompt_length=0"],
            "rollout.max_prompt_length",
        ),
        (&["rollout.temperature=-1.0"], "rollout.temperature"),
        (&["rollout.temperature=0.0"], "rollout.temperature"),
        (&["rollout.top_p=0.0"], "rollout.top_p"),
        (&["rollout.top_p=1.5"], "rollout.top_p"),
        (&["rollout.min_p=1.0"], "rollout.min_p"),
        (&["reward.tolerance=0.0"], "reward.tolerance"),
        (&["reward.format_weight=-1.0"], "reward.format_weight"),
        (&["optim.learning_rate=0.0"], "optim.learning_rate"),
        (&["optim.weight_decay=-0.1"], "optim.weight_decay"),
        (&["optim.adam_beta1=1.0"], "optim.adam_beta1"),
        (&["optim.adam_beta2=-0.1"], "optim.adam_beta2"),
        (&["optim.adam_epsilon=0.0"], "optim.adam_epsilon"),
        (&["optim.max_grad_norm=0.0"], "optim.max_grad_norm"),
        (&["optim.min_lr_ratio=2.0"], "optim.min_lr_ratio"),
        (&["optim.micro_batch_size=0"], "optim.micro_batch_size"),
        (
            &["optim.gradient_accumulation_steps=0"],
            "optim.gradient_accumulation_steps",
        ),
        (&["optim.max_steps=0"], "optim.max_steps"),
        (
            &["optim.max_steps=3", "optim.warmup_steps=4"],
            "optim.warmup_steps",
        ),
        (&["logging.logging_steps=0"], "logging.logging_steps"),
        (&["logging.num_samples=0"], "logging.num_samples"),
        (&["output.output_dir=\"\""], "output.output_dir"),
        (&["rollout.num_generations=1"], "rollout.num_generations"),
        (&["grpo.prompts_per_step=0"], "grpo.prompts_per_step"),
        (&["grpo.num_iterations=0"], "grpo.num_iterations"),
        (&["grpo.beta=-0.1"], "grpo.beta"),
        (&["grpo.epsilon=1.0"], "grpo.epsilon"),
        (&["grpo.epsilon_high=-0.2"], "grpo.epsilon_high"),
        (&["grpo.clip_ratio_c=1.0"], "grpo.clip_ratio_c"),
        // 2 prompts x 4 = 8 completions do not split into updates of 3 x 1.
        (&["optim.micro_batch_size=3"], "grpo.prompts_per_step"),
        (&["grpo.beta=0.1", "model.train_mode=full"], "grpo.beta"),
        (&["sft.max_length=10"], "sft"),
    ];
    for (overrides, want) in cases {
        let (key, origin) = key_of(set(overrides));
        assert_eq!(&key, want, "for {overrides:?}");
        assert!(
            origin.starts_with("--set ") || origin.starts_with("base.toml"),
            "{origin}"
        );
    }
    // The SFT table's own rule.
    let sft = BASE
        .replace("method = \"grpo\"", "method = \"sft\"")
        .replace("[grpo]\nprompts_per_step = 2\n", "");
    let (key, _) = key_of(parse(&sft, "s.toml", &["sft.max_length=1".to_string()]));
    assert_eq!(key, "sft.max_length");
    let (key, _) = key_of(parse(&sft, "s.toml", &["grpo.beta=0.1".to_string()]));
    assert_eq!(key, "grpo");
}

#[test]
fn messages_say_what_is_allowed() {
    let msg = |o: &[&str]| set(o).unwrap_err().to_string();
    assert!(msg(&["rollout.num_generations=1"]).contains("at least 2"));
    assert!(msg(&["model.device=gpu"]).contains("\"cuda:N\""));
    assert!(msg(&["data.generate.variant=hard"]).contains("deconfounding"));
    assert!(msg(&["optim.micro_batch_size=3"]).contains("micro_batch_size"));
    assert!(msg(&["grpo.scale_rewards=group"]).contains("`std`"));
}

/// BASE as a PPO config: one completion per prompt, 4 prompts in updates of 2 x 2.
fn ppo_text() -> String {
    BASE.replace("method = \"grpo\"", "method = \"ppo\"")
        .replace("num_generations = 4", "num_generations = 1")
        .replace(
            "[grpo]\nprompts_per_step = 2\n",
            "[ppo]\nprompts_per_step = 4\n",
        )
        + "\n[optim]\nmicro_batch_size = 2\ngradient_accumulation_steps = 2\n"
}

fn ppo(overrides: &[&str]) -> caugym_train::Result<caugym_train::config::TrainConfig> {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    parse(&ppo_text(), "ppo.toml", &o)
}

#[test]
fn ppo_table_has_trl_defaults_and_names_every_bad_key() {
    use caugym_train::ppo::KlCoef;
    let cfg = ppo(&[]).unwrap();
    let MethodConfig::Ppo(p) = cfg.method_config() else {
        panic!("ppo expected")
    };
    // TRL PPOConfig: num_ppo_epochs 4, gamma 1, lam 0.95, cliprange 0.2, cliprange_value 0.2,
    // vf_coef 0.1, kl_coef 0.05; whitening on.
    assert_eq!(p.prompts_per_step, 4);
    assert_eq!((p.ppo_epochs, p.gamma, p.lam), (4, 1.0, 0.95));
    assert_eq!((p.cliprange, p.cliprange_value, p.vf_coef), (0.2, 0.2, 0.1));
    assert_eq!(p.kl_controller().unwrap(), KlCoef::Fixed(0.05));
    assert!(p.whiten_advantages && !p.adap_kl_ctrl);
    assert_eq!(parse(&cfg.to_toml().unwrap(), "saved", &[]).unwrap(), cfg);
    let adaptive = ppo(&["ppo.adap_kl_ctrl=true", "ppo.target=2.0"]).unwrap();
    let MethodConfig::Ppo(p) = adaptive.method_config() else {
        panic!("ppo expected")
    };
    assert!(matches!(p.kl_controller().unwrap(),
        KlCoef::Adaptive(a) if a.coef == 0.05 && a.target == 2.0 && a.horizon == 10000.0));

    let cases: &[(&[&str], &str)] = &[
        (&["ppo.prompts_per_step=0"], "ppo.prompts_per_step"),
        (&["ppo.ppo_epochs=0"], "ppo.ppo_epochs"),
        (&["ppo.gamma=1.5"], "ppo.gamma"),
        (&["ppo.lam=-0.1"], "ppo.lam"),
        (&["ppo.cliprange=1.0"], "ppo.cliprange"),
        (&["ppo.cliprange_value=0.0"], "ppo.cliprange_value"),
        (&["ppo.vf_coef=-1.0"], "ppo.vf_coef"),
        (&["ppo.kl_coef=-0.1"], "ppo.kl_coef"),
        (&["ppo.target=0.0"], "ppo.target"),
        (&["ppo.horizon=0.0"], "ppo.horizon"),
        (&["ppo.whiten=true"], "ppo.whiten"),
        // 4 prompts x 1 completion do not split into updates of 3 x 2.
        (&["optim.micro_batch_size=3"], "ppo.prompts_per_step"),
        // The critic is a second adapter on the frozen base.
        (&["model.train_mode=full"], "model.train_mode"),
        (&["grpo.beta=0.1"], "grpo"),
    ];
    for (overrides, want) in cases {
        let (key, origin) = key_of(ppo(overrides));
        assert_eq!(&key, want, "for {overrides:?}");
        assert!(
            origin.starts_with("--set ") || origin.starts_with("ppo.toml"),
            "{origin}"
        );
    }
    // A [ppo] table in a GRPO config is named.
    assert_eq!(key_of(set(&["ppo.gamma=0.9"])).0, "ppo");
}

#[test]
fn shipped_ppo_configs_validate() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for (file, device) in [
        ("configs/ablation/cpu/ppo.toml", "cpu"),
        ("configs/study/ppo-r1-distill-14b.toml", "cuda"),
    ] {
        let cfg = caugym_train::config::load(&root.join(file), &[])
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(cfg.method, MethodKind::Ppo, "{file}");
        assert_eq!(cfg.model.device, device, "{file}");
        assert!(
            matches!(cfg.method_config(), MethodConfig::Ppo(_)),
            "{file}"
        );
    }
    let cpu = caugym_train::config::load(&root.join("configs/ablation/cpu/ppo.toml"), &[]).unwrap();
    assert_eq!(cpu.model.path, "runs/demo/sft/final");
    assert_eq!(cpu.model.init_adapter, None);
}

/// The CPU ablation compares methods, so its five arms must differ in nothing else that shapes
/// what they learn from: the same base, adapter shape, items, prompt format and reward.
#[test]
fn cpu_ablation_arms_share_base_data_and_reward() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/ablation/cpu");
    let mut arms: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    arms.sort();
    let cfgs: Vec<_> = arms
        .iter()
        .map(|p| caugym_train::config::load(p, &[]).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let mut methods: Vec<_> = cfgs.iter().map(|c| c.method.name()).collect();
    methods.sort();
    assert_eq!(methods, ["dpo", "grpo", "kto", "ppo", "sft"]);
    let first = &cfgs[0];
    for (path, c) in arms.iter().zip(&cfgs) {
        let file = path.display();
        assert_eq!(c.model, first.model, "{file}");
        assert_eq!(c.lora, first.lora, "{file}");
        assert_eq!(c.data, first.data, "{file}");
        assert_eq!(c.reward, first.reward, "{file}");
        assert_eq!(c.seed, first.seed, "{file}");
        assert!(
            c.output.output_dir.ends_with(c.method.name()),
            "{file}: output {}",
            c.output.output_dir.display()
        );
    }
    assert_eq!(first.model.path, "runs/demo/sft/final");
}
