//! A tiny random Qwen2 with a BPE tokenizer trained on the tests' own text, written as an HF
//! checkpoint directory (what `caugym init-model` writes), and small datasets.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use caugym_model::Qwen2Config;
use caugym_model::bpe_train::{BpeConfig, train_bpe};
use caugym_model::init::write_random_checkpoint;

/// Writes a tiny model (hidden 128, 4 layers) whose tokenizer is trained on `corpus`.
pub fn tiny_model(dir: &Path, corpus: &[String], vocab: usize, seed: u64) -> PathBuf {
    let bpe = train_bpe(
        corpus.to_vec(),
        &BpeConfig {
            vocab_size: vocab,
            ..BpeConfig::default()
        },
    )
    .unwrap();
    let mut cfg = Qwen2Config::tiny(bpe.vocab_size());
    let ids = bpe.special_ids();
    cfg.eos_token_id = Some(ids.im_end);
    cfg.bos_token_id = Some(ids.endoftext);
    write_random_checkpoint(&cfg, seed, dir, |d| Ok(bpe.save(d)?)).unwrap();
    dir.to_path_buf()
}

/// `n` prompt/completion pairs: "add a b" -> the sum, in words of digits.
pub fn sums(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            let (a, b) = (i % 7, (i * 3) % 5);
            (format!("add {a} and {b}:"), format!(" {}", a + b))
        })
        .collect()
}

/// Writes pairs as a prompt/completion JSONL file.
pub fn write_pairs(path: &Path, pairs: &[(String, String)]) {
    let text: String = pairs
        .iter()
        .map(|(p, c)| serde_json::json!({"prompt": p, "completion": c}).to_string() + "\n")
        .collect();
    std::fs::write(path, text).unwrap();
}

/// The corpus for the tokenizer: the pairs' text.
pub fn corpus(pairs: &[(String, String)]) -> Vec<String> {
    pairs.iter().map(|(p, c)| format!("{p}{c}")).collect()
}
