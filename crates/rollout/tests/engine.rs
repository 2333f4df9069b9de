//! The batched engine against a second method: a plain full forward over the growing sequence.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use candle_core::{D, DType, Device};
use caugym_model::bpe_train::{BpeConfig, train_bpe};
use caugym_model::init::write_random_checkpoint;
use caugym_model::loader::load_model_dir;
use caugym_model::tokenizer::Tokenizer;
use caugym_model::{AdapterMode, Batch, PadSide, Qwen2, Qwen2Config};
use caugym_rollout::{FinishReason, GenerationConfig, generate};

const CORPUS: &[&str] = &[
    "Imagine a self-contained, hypothetical world with only the following conditions.",
    "Smoking has a direct effect on tar deposit. Tar deposit has a direct effect on cancer.",
    "For those with smoking being high, the probability of cancer being high is 0.7512.",
    "Consider the average treatment effect (ATE) of smoking on cancer.",
    "If smoking is changed to be low, will cancer be more likely to be high?",
    "Provide the calculation result to four decimal places in JSON format, like {\"PROB\": \"0.1234\"}:",
];

/// A tiny random checkpoint with a BPE tokenizer, written once per test binary.
fn fixture() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("caugym-rollout-{}", std::process::id()));
        let corpus: Vec<String> = (0..20)
            .flat_map(|_| CORPUS.iter().map(|s| s.to_string()))
            .collect();
        let bpe = train_bpe(
            &corpus,
            &BpeConfig {
                vocab_size: 320,
                ..BpeConfig::default()
            },
        )
        .unwrap();
        let cfg = Qwen2Config {
            hidden_size: 64,
            intermediate_size: 128,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            ..Qwen2Config::tiny(bpe.vocab_size())
        };
        write_random_checkpoint(&cfg, 7, &dir, |tmp| {
            bpe.save(tmp).unwrap();
            Ok(())
        })
        .unwrap();
        dir
    })
}

fn load() -> (Qwen2, Tokenizer) {
    let model = load_model_dir(fixture(), DType::F32, &Device::Cpu).unwrap();
    let tokenizer = Tokenizer::from_dir(fixture()).unwrap();
    (model, tokenizer)
}

fn prompts(tok: &Tokenizer) -> Vec<Vec<u32>> {
    [
        "Smoking has a direct effect",
        "For those with",
        "Consider the average treatment effect (ATE) of",
    ]
    .iter()
    .map(|p| tok.encode(p, false).unwrap())
    .collect()
}

/// Log-softmax of the last position's logits of `ids`, by a full forward without cache.
fn next_logprobs(model: &Qwen2, ids: &[u32], temperature: f64) -> Vec<f32> {
    let batch = Batch::from_rows(&[ids.to_vec()], 0, PadSide::Right, &Device::Cpu).unwrap();
    let logits = model.forward_logits(&batch, AdapterMode::Disabled).unwrap();
    let last = logits.get(0).unwrap().get(ids.len() - 1).unwrap();
    let scaled = (last / temperature).unwrap();
    candle_nn::ops::log_softmax(&scaled, D::Minus1)
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best as u32
}

#[test]
fn greedy_batch_equals_full_forward_decoding() {
    let (model, tok) = load();
    let cfg = GenerationConfig {
        temperature: 0.0,
        max_new_tokens: 12,
        ..GenerationConfig::default()
    };
    let ps = prompts(&tok);
    let out = generate(&model, &tok, &ps, &cfg, 0, AdapterMode::Disabled).unwrap();
    assert_eq!(out.completions.len(), ps.len());
    for c in &out.completions {
        // Second method: argmax of a full forward over prompt + tokens so far, step by step.
        let mut ids = ps[c.prompt_index].clone();
        for (step, (&token, &lp)) in c.token_ids.iter().zip(&c.logprobs).enumerate() {
            let reference = next_logprobs(&model, &ids, 1.0);
            assert_eq!(
                token,
                argmax(&reference),
                "prompt {} step {step}",
                c.prompt_index
            );
            // Cache vs full forward in f32: agree to 1e-4.
            assert!(
                (lp - reference[token as usize]).abs() < 1e-4,
                "{lp} vs {}",
                reference[token as usize]
            );
            ids.push(token);
        }
        if !tok.is_eos(*c.token_ids.last().unwrap()) {
            assert_eq!(c.finish, FinishReason::Length);
            assert_eq!(c.len(), 12);
        }
    }
    assert!(out.stats.generated_tokens > 0 && out.stats.tokens_per_s() > 0.0);
}

#[test]
fn sampled_logprobs_match_a_full_forward_at_the_sampling_temperature() {
    let (model, tok) = load();
    let cfg = GenerationConfig {
        temperature: 0.7,
        num_generations: 3,
        max_new_tokens: 8,
        ..GenerationConfig::default()
    };
    let ps = prompts(&tok);
    let out = generate(&model, &tok, &ps, &cfg, 42, AdapterMode::Disabled).unwrap();
    assert_eq!(out.completions.len(), 9);
    for (i, c) in out.completions.iter().enumerate() {
        // Prompt-major layout: the G samples of a prompt are contiguous.
        assert_eq!((c.prompt_index, c.sample_index), (i / 3, i % 3));
        let mut ids = ps[c.prompt_index].clone();
        for (&token, &lp) in c.token_ids.iter().zip(&c.logprobs) {
            let reference = next_logprobs(&model, &ids, 0.7);
            assert!((lp - reference[token as usize]).abs() < 1e-4);
            ids.push(token);
        }
    }
    // Samples of one prompt differ (a random model is near-uniform over ~320 tokens).
    assert_ne!(out.completions[0].token_ids, out.completions[1].token_ids);
}

#[test]
fn completions_depend_on_the_seed_not_on_the_batch_layout() {
    let (model, tok) = load();
    let ps = prompts(&tok);
    let base = GenerationConfig {
        num_generations: 2,
        max_new_tokens: 6,
        top_p: 0.9,
        ..GenerationConfig::default()
    };
    let run = |cfg: &GenerationConfig, seed| {
        generate(&model, &tok, &ps, cfg, seed, AdapterMode::Disabled).unwrap()
    };
    let together = run(&base, 5);
    let one_by_one = run(
        &GenerationConfig {
            max_batch_rows: 1,
            ..base.clone()
        },
        5,
    );
    let tokens = |r: &caugym_rollout::Rollout| {
        r.completions
            .iter()
            .map(|c| c.token_ids.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(tokens(&together), tokens(&one_by_one));
    for (a, b) in together.completions.iter().zip(&one_by_one.completions) {
        for (x, y) in a.logprobs.iter().zip(&b.logprobs) {
            assert!((x - y).abs() < 1e-4);
        }
    }
    assert_eq!(tokens(&together), tokens(&run(&base, 5)));
    assert_ne!(tokens(&together), tokens(&run(&base, 6)));
}

#[test]
fn stop_strings_cut_the_text_and_eos_ends_the_row() {
    let (model, tok) = load();
    let ps = prompts(&tok);
    let greedy = GenerationConfig {
        temperature: 0.0,
        max_new_tokens: 16,
        ..GenerationConfig::default()
    };
    let free = generate(&model, &tok, &ps[..1], &greedy, 0, AdapterMode::Disabled).unwrap();
    let full = &free.completions[0];
    assert!(full.text.chars().count() >= 4, "text {:?}", full.text);
    // A stop string taken from the middle of the free-running text.
    let chars: Vec<char> = full.text.chars().collect();
    let stop: String = chars[2..4].iter().collect();
    let cut = GenerationConfig {
        stop: vec![stop.clone()],
        ..greedy.clone()
    };
    let stopped = &generate(&model, &tok, &ps[..1], &cut, 0, AdapterMode::Disabled)
        .unwrap()
        .completions[0];
    let at = full.text.find(&stop).unwrap();
    assert_eq!(stopped.text, full.text[..at]);
    assert_eq!(stopped.finish, FinishReason::Stop(stop));
    // Its tokens are a prefix of the free run ending with the token that completed the stop.
    assert_eq!(stopped.token_ids[..], full.token_ids[..stopped.len()]);
    let decoded = tok.decode(&stopped.token_ids, true).unwrap();
    assert!(decoded.len() >= at + 2 && decoded.starts_with(&stopped.text));

    // EOS: declare the token at the latest position k whose token did not occur before it an
    // end-of-sequence token (k = 0 always qualifies; a later k tests more of the loop).
    let k = (0..full.len())
        .rev()
        .find(|&k| !full.token_ids[..k].contains(&full.token_ids[k]))
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("caugym-rollout-eos-{}", std::process::id()));
    copy_dir(fixture(), &dir);
    let eos = full.token_ids[k];
    std::fs::write(
        dir.join("generation_config.json"),
        format!("{{\"eos_token_id\": [{eos}]}}"),
    )
    .unwrap();
    let tok_eos = Tokenizer::from_dir(&dir).unwrap();
    assert!(tok_eos.is_eos(eos));
    let ended = &generate(
        &model,
        &tok_eos,
        &ps[..1],
        &greedy,
        0,
        AdapterMode::Disabled,
    )
    .unwrap()
    .completions[0];
    assert_eq!(ended.finish, FinishReason::Eos);
    assert_eq!(ended.token_ids[..], full.token_ids[..=k]);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_requests_are_errors() {
    let (model, tok) = load();
    let cfg = GenerationConfig::default();
    assert!(generate(&model, &tok, &[vec![]], &cfg, 0, AdapterMode::Disabled).is_err());
    let zero = GenerationConfig {
        num_generations: 0,
        ..GenerationConfig::default()
    };
    let err = generate(&model, &tok, &[vec![1]], &zero, 0, AdapterMode::Disabled).unwrap_err();
    assert!(err.to_string().contains("num_generations"));
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dst.join(entry.file_name())).unwrap();
    }
}
