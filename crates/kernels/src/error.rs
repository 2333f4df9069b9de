//! The crate's error type.

use candle_core::DType;

/// Errors of the kernels crate; each names the op that raised it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The op has no implementation for this device yet (CUDA arrives with a later issue).
    #[error("{op}: no implementation for device {device} (only CPU is implemented)")]
    UnsupportedDevice { op: &'static str, device: String },
    /// An input has the wrong shape.
    #[error("{op}: `{what}` has shape {got:?}, expected {expected}")]
    Shape {
        op: &'static str,
        what: &'static str,
        expected: String,
        got: Vec<usize>,
    },
    /// An input has an unsupported dtype.
    #[error("{op}: `{what}` has unsupported dtype {got:?}")]
    DType {
        op: &'static str,
        what: &'static str,
        got: DType,
    },
    /// A target token id is outside the vocabulary.
    #[error("{op}: target {target} at row {row} is outside the vocabulary of {vocab}")]
    TargetOutOfRange {
        op: &'static str,
        row: usize,
        target: u32,
        vocab: usize,
    },
    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// Result alias of the kernels crate.
pub type Result<T> = std::result::Result<T, Error>;
