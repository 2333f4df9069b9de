//! The crate's error type: one enum with structured variants, so callers can match on the
//! tensor, field or path at fault.

use std::path::PathBuf;

/// Errors of the model crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor the architecture needs is absent from the checkpoint or adapter.
    #[error("missing tensor `{name}`")]
    MissingTensor { name: String },
    /// A tensor (or input) has the wrong shape.
    #[error("tensor `{name}` has shape {got:?}, expected {expected:?}")]
    Shape {
        name: String,
        expected: Vec<usize>,
        got: Vec<usize>,
    },
    /// A configuration field is invalid or unsupported.
    #[error("config field `{field}`: {reason}")]
    Config { field: String, reason: String },
    /// An adapter name that the model does not hold.
    #[error("unknown adapter `{name}` (the model has: {known:?})")]
    UnknownAdapter { name: String, known: Vec<String> },
    /// An adapter name that is already taken.
    #[error("adapter `{name}` already exists")]
    DuplicateAdapter { name: String },
    /// Bad input data (batch layout, token ids, options).
    #[error("invalid {what}: {reason}")]
    Input { what: String, reason: String },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A JSON file could not be parsed or written.
    #[error("{}: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A safetensors file could not be parsed or written.
    #[error("{}: {reason}", path.display())]
    Safetensors { path: PathBuf, reason: String },
    /// A hub repo id is neither cached locally nor downloadable.
    #[error(
        "model `{repo}` is not in the HuggingFace cache ({}) and could not be fetched: {reason}",
        cache.display()
    )]
    HubUnavailable {
        repo: String,
        cache: PathBuf,
        reason: String,
    },
    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// An error from tokenizer loading, chat templates or BPE training.
    #[error(transparent)]
    Tokenizer(#[from] crate::tokenizer::TokenizerError),
    /// An error from the fused kernels.
    #[error(transparent)]
    Kernel(#[from] caugym_kernels::Error),
}

/// Result alias of the model crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn input(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Input {
            what: what.into(),
            reason: reason.into(),
        }
    }
    pub(crate) fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
