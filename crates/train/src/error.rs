//! The crate's error type.

/// Everything that can go wrong in the loss library and the optimiser pieces.
///
/// Variants carry the data needed to act on them (which tensor, which parameter,
/// which hyper-parameter), never a pre-formatted sentence only.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor argument has the wrong shape (or rank) for the call.
    #[error("shape of `{what}`: expected {expected}, got {got:?}")]
    Shape {
        /// The argument, e.g. `old_logp`.
        what: &'static str,
        /// The expected shape, in words, e.g. `[B, T] = [4, 7]` or `rank 1`.
        expected: String,
        /// The dims that were passed.
        got: Vec<usize>,
    },

    /// A hyper-parameter is outside its valid range.
    #[error("invalid `{key}`: {reason}")]
    Config {
        /// The parameter name as the TOML configs spell it, e.g. `eps_low`.
        key: &'static str,
        /// Why it is invalid and what is accepted.
        reason: String,
    },

    /// The data itself cannot be used for this computation (e.g. a KTO batch of one).
    #[error("invalid input `{what}`: {reason}")]
    Input {
        /// The argument or quantity at fault.
        what: &'static str,
        /// Why it cannot be used.
        reason: String,
    },

    /// A trainable parameter received no gradient from `backward()` (graph cut or unused).
    #[error(
        "trainable parameter `{param}` has no gradient (graph cut by an op without backward, or the parameter is unused)"
    )]
    MissingGradient {
        /// The parameter's name.
        param: String,
    },

    /// A loss or gradient contains NaN or infinity.
    #[error("non-finite {what} in `{param}`")]
    NonFinite {
        /// `loss`, `gradient` or `gradient norm`.
        what: &'static str,
        /// The parameter (or loss) name.
        param: String,
    },

    /// Optimiser state that does not match the parameters it is loaded into.
    #[error("optimiser state entry `{entry}`: {reason}")]
    State {
        /// The state key, e.g. `lm_head.lora_A.exp_avg`.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A configuration value (from a TOML file or a `--set` override) that cannot be used.
    /// `key` is the full dotted key, e.g. `grpo.num_generations`; `reason` says what is allowed.
    #[error("{origin}`{key}`: {reason}")]
    Setting {
        /// The full dotted key.
        key: String,
        /// Why the value is rejected and how to fix it.
        reason: String,
        /// Where it came from, e.g. `configs/demo.toml line 12: ` (empty when unknown).
        origin: String,
    },

    /// A file that cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },

    /// A file whose content cannot be parsed (TOML syntax, a JSONL line, a checkpoint's JSON).
    #[error("{}: {reason}", path.display())]
    Parse {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong, with the line where known.
        reason: String,
    },

    /// A checkpoint that cannot be written, found or resumed from.
    #[error("checkpoint {}: {reason}", path.display())]
    Checkpoint {
        /// The checkpoint (or run) directory.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A failure inside one training step; the last good checkpoint is kept.
    #[error("step {step}: {source}")]
    Step {
        /// The 1-based step that failed.
        step: u64,
        /// What went wrong.
        source: Box<Error>,
    },

    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    /// An error from the model crate (loading, adapters, forward).
    #[error(transparent)]
    Model(#[from] caugym_model::Error),

    /// An error from the tokenizer.
    #[error(transparent)]
    Tokenizer(#[from] caugym_model::tokenizer::TokenizerError),

    /// An error from the reward crate.
    #[error(transparent)]
    Reward(#[from] caugym_reward::Error),

    /// An error from the data crate.
    #[error(transparent)]
    Data(#[from] caugym_data::Error),
}

impl Error {
    /// A [`Error::Setting`] without a location.
    pub fn setting(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Setting {
            key: key.into(),
            reason: reason.into(),
            origin: String::new(),
        }
    }

    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// The crate's result alias.
pub type Result<T> = std::result::Result<T, Error>;
