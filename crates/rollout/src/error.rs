//! The rollout crate's error type.

/// Everything that can go wrong while sampling.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A sampling parameter is out of range.
    #[error("sampling parameter `{field}`: {reason}")]
    Param {
        /// The parameter's name, as in the config file.
        field: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// A row of logits cannot be sampled from (NaN, +inf, or nothing finite).
    #[error("cannot sample from logits: {0}")]
    BadLogits(String),
    /// A request the engine cannot serve (e.g. an empty prompt).
    #[error("rollout input: {0}")]
    Input(String),
    /// The model failed (forward pass, cache).
    #[error(transparent)]
    Model(#[from] caugym_model::Error),
    /// Tokenising or detokenising failed.
    #[error(transparent)]
    Tokenizer(#[from] caugym_model::tokenizer::TokenizerError),
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
