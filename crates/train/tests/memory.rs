//! The memory arithmetic: parameter counts against real models (every tensor of a random
//! checkpoint, every Var of an adapter), the per-layer activation, KV-cache and log-prob terms
//! against hand-computed numbers on a 1-layer toy architecture, and the 14B case (DeepSeek-R1-
//! Distill-Qwen-14B: 14.77 B parameters as published; GRPO with LoRA r = 64 at 8 × 2,048 tokens
//! fits 80 GB only with checkpointing, one sequence recomputed at a time).

use caugym_model::{LoraConfig, Qwen2, Qwen2Config, TargetModule, TargetModules};
use caugym_train::config;
use caugym_train::memory::{
    GIB, LogprobPath, Trained, Workload, base_params, estimate, kv_cache_bytes,
    layer_activation_elems, logprob_bytes, lora_params,
};
use std::path::PathBuf;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// hidden 4, ffn 6, 2 heads over 1 KV head (head_dim 2), vocabulary 10, one layer.
fn toy(tied: bool) -> Qwen2Config {
    Qwen2Config {
        vocab_size: 10,
        hidden_size: 4,
        intermediate_size: 6,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        num_key_value_heads: 1,
        tie_word_embeddings: tied,
        ..Qwen2Config::tiny(10)
    }
}

#[test]
fn parameter_counts_match_real_models() {
    for tied in [false, true] {
        let cfg = Qwen2Config {
            tie_word_embeddings: tied,
            ..Qwen2Config::tiny(97)
        };
        let w = caugym_model::init::random_weights(&cfg, 0).unwrap();
        let real: usize = w.values().map(|t| t.elem_count()).sum();
        assert_eq!(base_params(&cfg), real as u64, "tied {tied}");
        let mut model =
            Qwen2::new(&cfg, &w, candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
        let targets = TargetModules::List(vec![TargetModule::VProj, TargetModule::DownProj]);
        let lora = LoraConfig {
            layers_to_transform: Some(vec![0, 2]),
            ..LoraConfig::new(8, 16.0, targets)
        };
        model.add_adapter("a", &lora, 0).unwrap();
        let vars: usize = model
            .adapter_vars("a")
            .unwrap()
            .iter()
            .map(|(_, v)| v.elem_count())
            .sum();
        let modules = [TargetModule::VProj, TargetModule::DownProj];
        assert_eq!(lora_params(&cfg, 8, &modules, 2), vars as u64);
    }
    // By hand for the toy: per layer q 4·4+4, k 4·2+2, v 4·2+2, o 4·4, gate/up/down 3·24, norms
    // 8 = 136; embeddings and head 2·40; final norm 4.
    assert_eq!(base_params(&toy(false)), 136 + 80 + 4);
    assert_eq!(base_params(&toy(true)), 136 + 40 + 4);
    // r = 2 on all seven: 2·(8 + 6 + 6 + 8 + 10 + 10 + 10).
    assert_eq!(lora_params(&toy(false), 2, &TargetModule::ALL, 1), 116);
}

#[test]
fn per_layer_terms_match_hand_counts() {
    let cfg = toy(false);
    // f32 base, no LoRA, T = 3, per token (see layer_activation_elems' op list):
    //   norms 2·(x², x·inv, ·w = 12 f32 + 4 base) ; q (+bias) 8, k 4, v 4 ; head copies 8 ;
    //   rope 4.5·(4 + 2) = 27 ; q·scale 4 ; scores/+bias/−max/exp/÷ 5·2·3 + 2·2 = 34 ;
    //   probs·v + merge 8 ; o 4 ; residual 4 ; gate, silu, up, ·, down, residual 6+6+6+6+4+4.
    // base = 4+8+4+4+8+27+4+34+8+4+4+4+32 = 145; f32-wide = 2·12 = 24.
    assert_eq!(layer_activation_elems(&cfg, 3, true, None), (145, 24));
    // bf16 base: each norm also keeps x→f32 (4, wide) and the →bf16 cast (4, base).
    assert_eq!(layer_activation_elems(&cfg, 3, false, None), (153, 32));
    // f32 base, LoRA r = 2 on all, no dropout: per projection A x (2) and B(A x), ·scale (2·out)
    // wide, the sum (out) base; outs 4+2+2+4+6+6+4 = 28: wide + 14 + 56, base + 28.
    let lora = Some((2, &TargetModule::ALL[..], false));
    assert_eq!(layer_activation_elems(&cfg, 3, true, lora), (173, 94));
    // Dropout adds its mask and product on each input: 2·(4·6 + 6) = 60.
    let lora = Some((2, &TargetModule::ALL[..], true));
    assert_eq!(layer_activation_elems(&cfg, 3, true, lora), (173, 154));
    // KV cache: 2 (k, v) · 1 layer · 1 head · 2 dims · 3 rows · 5 tokens · 2 bytes.
    assert_eq!(kv_cache_bytes(&cfg, 3, 5, 2), 120);
    // Log-probs over 10 targets, V = 10: chunks of 4 keep 3·4·10 f32 + the [10, 3] result;
    // composed in bf16: logits 100·2 and ten f32 copies 10·100·4.
    assert_eq!(
        logprob_bytes(&cfg, 10, 2, LogprobPath::Chunked { chunk: 4 }),
        480 + 120
    );
    assert_eq!(logprob_bytes(&cfg, 10, 2, LogprobPath::Composed), 4200);
}

#[test]
fn grpo_14b_lora_fits_80gb_only_with_checkpointing() {
    let cfg = config::load(&repo("configs/grpo-r1-distill-14b.toml"), &[]).unwrap();
    let arch =
        Qwen2Config::from_file(&repo("configs/arch/deepseek-r1-distill-qwen-14b.json")).unwrap();
    // Published size of Qwen2.5-14B / R1-Distill-Qwen-14B: 14.77 B parameters.
    let p = base_params(&arch) as f64;
    assert!((14.76e9..14.78e9).contains(&p), "{p}");
    let w = Workload::from_config(&cfg, &arch, 512);
    assert_eq!((w.rows, w.seq_len, w.base_bytes), (8, 2048, 2));
    assert!(w.checkpointing);
    assert_eq!(w.checkpoint_rows, 1);
    assert_eq!(w.logprobs, LogprobPath::Chunked { chunk: 1024 });
    match &w.trained {
        Trained::Lora {
            r, modules, layers, ..
        } => {
            assert_eq!((*r, modules.len(), *layers), (64, 7, 48));
        }
        other => panic!("{other:?}"),
    }
    let capacity = 79.6 * GIB;
    let with = estimate(&arch, &w);
    eprintln!("with checkpointing:\n{}", with.table(79.6));
    assert!((with.peak() as f64) < capacity, "{}", with.table(79.6));
    let without = estimate(
        &arch,
        &Workload {
            checkpointing: false,
            ..w.clone()
        },
    );
    eprintln!("without checkpointing:\n{}", without.table(79.6));
    assert!((without.training_peak() as f64) > 4.0 * capacity);
    // Recomputing all 8 sequences of a layer at once does not fit: its attention tensors
    // [8, 40, 2048, 2048] are 12.5 GiB per copy.
    let whole = estimate(
        &arch,
        &Workload {
            checkpoint_rows: 0,
            ..w.clone()
        },
    );
    assert!(
        (whole.training_peak() as f64) > capacity,
        "{}",
        whole.table(79.6)
    );
    // The composed log-softmax alone needs ~100 GB at 16k tokens x 152k vocabulary.
    let composed = estimate(
        &arch,
        &Workload {
            logprobs: LogprobPath::Composed,
            ..w.clone()
        },
    );
    assert!(composed.training_peak() > with.training_peak() + (90.0 * GIB) as u64);
}
