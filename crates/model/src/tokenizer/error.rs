//! The error type shared by the tokenizer, chat-template and BPE-training modules.
//!
//! Every variant that comes from a file names that file, and every variant about a config value
//! names the JSON field, so a broken checkpoint directory can be fixed from the message alone.

use std::path::PathBuf;

/// Errors of [`crate::tokenizer`], [`crate::chat`] and [`crate::bpe_train`].
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A JSON file is not valid JSON (or not an object at the top level).
    #[error("{}: invalid JSON: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    /// The `tokenizers` crate rejected a file or an operation (`what` says which).
    #[error("{what}: {source}")]
    Tokenizers {
        what: String,
        #[source]
        source: tokenizers::Error,
    },

    /// A required field is missing from a config file.
    #[error("{}: missing field `{field}`", file.display())]
    MissingField { file: PathBuf, field: String },

    /// A config field has the wrong JSON type or an unusable value.
    #[error("{}: field `{field}`: {reason}", file.display())]
    InvalidField {
        file: PathBuf,
        field: String,
        reason: String,
    },

    /// A config field names a token string that is not in the tokenizer's vocabulary.
    #[error("{}: field `{field}` names token {token:?}, which is not in the vocabulary", file.display())]
    UnknownToken {
        file: PathBuf,
        field: String,
        token: String,
    },

    /// A config field gives a token id that the tokenizer does not have.
    #[error("{}: field `{field}` gives token id {id}, which is not in the vocabulary (size {vocab_size})", file.display())]
    UnknownTokenId {
        file: PathBuf,
        field: String,
        id: u32,
        vocab_size: usize,
    },

    /// tokenizer_config.json's `added_tokens_decoder` disagrees with tokenizer.json.
    #[error("{}: added_tokens_decoder maps id {id} to {content:?}, but tokenizer.json gives that token id {found:?}", file.display())]
    AddedTokenMismatch {
        file: PathBuf,
        id: u32,
        content: String,
        found: Option<u32>,
    },

    /// No end-of-sequence token is configured anywhere; generation could never stop.
    #[error(
        "no end-of-sequence token in {}: expected `eos_token` in tokenizer_config.json or \
         special_tokens_map.json, or `eos_token_id` in generation_config.json or config.json",
        dir.display()
    )]
    NoEosToken { dir: PathBuf },

    /// The tokenizer has no chat template (neither chat_template.jinja nor the config field).
    #[error("{}: missing field `chat_template` (and no chat_template.jinja file)", file.display())]
    NoChatTemplate { file: PathBuf },

    /// A chat template failed to compile or render; `origin` says where the template came from.
    /// A template's own `raise_exception(msg)` ends up here with `msg` in the source error.
    #[error("chat template {origin}: {source}")]
    Template {
        origin: String,
        #[source]
        source: minijinja::Error,
    },

    /// BPE training was asked for something impossible (e.g. a vocabulary too small).
    #[error("BPE training: {0}")]
    Training(String),
}

/// Result alias of the tokenizer modules.
pub type Result<T> = std::result::Result<T, TokenizerError>;
