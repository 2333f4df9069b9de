//! Trains a small byte-level BPE tokenizer shaped like Qwen2's and writes it as a complete
//! Hugging Face tokenizer directory, so tiny checkpoints (`caugym init-model`) load through the
//! same [`crate::tokenizer::Tokenizer::from_dir`] path as a 14B one.
//!
//! Shape, as in Qwen2's tokenizer.json: NFC normalisation; the Qwen2 split regex, then byte-level
//! mapping (every byte is a base token, so any text round-trips, even characters the corpus never
//! had); a byte-level decoder. The special tokens `<|endoftext|>`, `<|im_start|>`, `<|im_end|>`
//! and the added tokens `<think>`, `</think>` follow the learned vocabulary, in that order, as in
//! Qwen (where `<think>` is an ordinary added token, kept by `skip_special_tokens`).
//!
//! Training is deterministic for a fixed corpus: the trainer's merge order breaks count ties by
//! pair id, and ids come from the sorted byte alphabet.

use std::path::Path;

use serde_json::{Value, json};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::normalizers::unicode::NFC;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, Model, SplitDelimiterBehavior};

use crate::tokenizer::{Result, TokenizerError};

/// Qwen2's pre-tokenisation regex (contractions, letter runs, single digits, punctuation runs,
/// newlines, spaces), from its tokenizer.json.
pub const QWEN2_SPLIT_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

pub const ENDOFTEXT: &str = "<|endoftext|>";
pub const IM_START: &str = "<|im_start|>";
pub const IM_END: &str = "<|im_end|>";
pub const THINK_START: &str = "<think>";
pub const THINK_END: &str = "</think>";

/// The chat template written into tokenizer_config.json: Qwen2.5-Instruct's ChatML turns with a
/// default system prompt and `<|im_start|>assistant\n` as generation prompt.
pub const CHAT_TEMPLATE: &str = include_str!("chat_template.jinja");

/// Number of tokens added after the learned vocabulary.
const ADDED_TOKENS: usize = 5;
/// The byte alphabet every byte-level vocabulary starts with.
const BYTE_ALPHABET: usize = 256;

/// Training settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BpeConfig {
    /// Target vocabulary size, the 5 added tokens included; at least 256 + 5. A corpus with too
    /// few distinct pairs yields fewer merges and so a smaller vocabulary.
    pub vocab_size: usize,
    /// Pairs seen fewer times than this are never merged.
    pub min_frequency: u64,
    /// `model_max_length` of tokenizer_config.json.
    pub model_max_length: usize,
}

impl Default for BpeConfig {
    fn default() -> Self {
        Self {
            vocab_size: 1024,
            min_frequency: 2,
            model_max_length: 32768,
        }
    }
}

/// Ids of the added tokens in a trained tokenizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialIds {
    pub endoftext: u32,
    pub im_start: u32,
    pub im_end: u32,
    pub think_start: u32,
    pub think_end: u32,
}

/// A trained tokenizer, ready to be saved as an HF tokenizer directory.
#[derive(Debug, Clone)]
pub struct TrainedBpe {
    tokenizer: tokenizers::Tokenizer,
    special_ids: SpecialIds,
    model_max_length: usize,
}

/// Trains on `corpus` (one document per item).
pub fn train_bpe<I>(corpus: I, config: &BpeConfig) -> Result<TrainedBpe>
where
    I: IntoIterator,
    I::IntoIter: Send,
    I::Item: AsRef<str> + Send,
{
    let minimum = BYTE_ALPHABET + ADDED_TOKENS;
    if config.vocab_size < minimum {
        return Err(TokenizerError::Training(format!(
            "vocab_size {} is below {minimum} (256 bytes + {ADDED_TOKENS} added tokens)",
            config.vocab_size
        )));
    }
    let mut tokenizer = untrained_tokenizer()?;
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(config.vocab_size - ADDED_TOKENS)
        .min_frequency(config.min_frequency)
        .show_progress(false)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
        .into();
    let mut documents = 0usize;
    let corpus = corpus.into_iter().inspect(|_| documents += 1);
    tokenizer
        .train(&mut trainer, corpus)
        .map_err(|source| TokenizerError::Tokenizers {
            what: "training BPE".into(),
            source,
        })?;
    if documents == 0 {
        return Err(TokenizerError::Training("the corpus is empty".into()));
    }
    let special = [ENDOFTEXT, IM_START, IM_END].map(|t| AddedToken::from(t, true));
    tokenizer
        .add_special_tokens(special)
        .map_err(|source| TokenizerError::Tokenizers {
            what: "adding special tokens".into(),
            source,
        })?;
    let added = [THINK_START, THINK_END].map(|t| AddedToken::from(t, false).normalized(false));
    tokenizer
        .add_tokens(added)
        .map_err(|source| TokenizerError::Tokenizers {
            what: "adding think tokens".into(),
            source,
        })?;
    let id = |token: &str| {
        tokenizer.token_to_id(token).ok_or_else(|| {
            TokenizerError::Training(format!("added token {token} has no id after training"))
        })
    };
    let special_ids = SpecialIds {
        endoftext: id(ENDOFTEXT)?,
        im_start: id(IM_START)?,
        im_end: id(IM_END)?,
        think_start: id(THINK_START)?,
        think_end: id(THINK_END)?,
    };
    Ok(TrainedBpe {
        tokenizer,
        special_ids,
        model_max_length: config.model_max_length,
    })
}

/// A BPE with Qwen2's normaliser, pre-tokeniser, post-processor and decoder, and no vocabulary.
fn untrained_tokenizer() -> Result<tokenizers::Tokenizer> {
    let split = Split::new(
        SplitPattern::Regex(QWEN2_SPLIT_PATTERN.into()),
        SplitDelimiterBehavior::Isolated,
        false,
    )
    .map_err(|source| TokenizerError::Tokenizers {
        what: "compiling the Qwen2 split regex".into(),
        source,
    })?;
    let byte_level = ByteLevel::new(false, false, false);
    let mut tokenizer = tokenizers::Tokenizer::new(BPE::default());
    tokenizer
        .with_normalizer(Some(NFC))
        .map_err(|source| TokenizerError::Tokenizers {
            what: "setting the NFC normalizer".into(),
            source,
        })?;
    tokenizer
        .with_pre_tokenizer(Some(Sequence::new(vec![split.into(), byte_level.into()])))
        .with_post_processor(Some(byte_level))
        .with_decoder(Some(ByteLevelDecoder::new(false, false, false)));
    Ok(tokenizer)
}

impl TrainedBpe {
    /// Ids of the added tokens.
    pub fn special_ids(&self) -> SpecialIds {
        self.special_ids
    }

    /// Vocabulary size, added tokens included (what a model's embedding needs at least).
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// The trained `tokenizers` tokenizer.
    pub fn tokenizer(&self) -> &tokenizers::Tokenizer {
        &self.tokenizer
    }

    /// tokenizer.json's text.
    pub fn tokenizer_json(&self) -> Result<String> {
        self.tokenizer
            .to_string(true)
            .map_err(|source| TokenizerError::Tokenizers {
                what: "serializing tokenizer.json".into(),
                source,
            })
    }

    /// tokenizer_config.json, in the layout of Qwen2.5-Instruct's: eos `<|im_end|>` (the end
    /// of an assistant turn), pad `<|endoftext|>`, no bos, and [`CHAT_TEMPLATE`].
    pub fn tokenizer_config(&self) -> Value {
        let ids = self.special_ids;
        let entry = |content: &str, special: bool| {
            json!({
                "content": content, "lstrip": false, "normalized": false,
                "rstrip": false, "single_word": false, "special": special,
            })
        };
        let decoder: serde_json::Map<String, Value> = [
            (ids.endoftext, entry(ENDOFTEXT, true)),
            (ids.im_start, entry(IM_START, true)),
            (ids.im_end, entry(IM_END, true)),
            (ids.think_start, entry(THINK_START, false)),
            (ids.think_end, entry(THINK_END, false)),
        ]
        .into_iter()
        .map(|(id, v)| (id.to_string(), v))
        .collect();
        json!({
            "add_bos_token": false,
            "add_prefix_space": false,
            "added_tokens_decoder": decoder,
            "additional_special_tokens": [IM_START, IM_END],
            "bos_token": null,
            "chat_template": CHAT_TEMPLATE,
            "clean_up_tokenization_spaces": false,
            "eos_token": IM_END,
            "errors": "replace",
            "model_max_length": self.model_max_length,
            "pad_token": ENDOFTEXT,
            "split_special_tokens": false,
            "tokenizer_class": "Qwen2Tokenizer",
            "unk_token": null,
        })
    }

    /// special_tokens_map.json.
    pub fn special_tokens_map(&self) -> Value {
        let token = |content: &str| {
            json!({
                "content": content, "lstrip": false, "normalized": false,
                "rstrip": false, "single_word": false,
            })
        };
        json!({
            "additional_special_tokens": [IM_START, IM_END],
            "eos_token": token(IM_END),
            "pad_token": token(ENDOFTEXT),
        })
    }

    /// Writes tokenizer.json, tokenizer_config.json, special_tokens_map.json, and the
    /// vocab.json/merges.txt pair that transformers' slow Qwen2Tokenizer reads. Creates `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| TokenizerError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(io(&path))
        };
        write("tokenizer.json", self.tokenizer_json()?)?;
        write("tokenizer_config.json", pretty(&self.tokenizer_config()))?;
        write(
            "special_tokens_map.json",
            pretty(&self.special_tokens_map()),
        )?;
        self.tokenizer
            .get_model()
            .save(dir, None)
            .map_err(|source| TokenizerError::Tokenizers {
                what: format!("writing vocab.json and merges.txt to {}", dir.display()),
                source,
            })?;
        Ok(())
    }
}

fn pretty(value: &Value) -> String {
    // Serializing a `serde_json::Value` cannot fail.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}
