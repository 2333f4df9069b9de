//! The crate's error type: every failure names the op and what was wrong with which input.

use candle_core::{DType, DeviceLocation};

/// Errors of the fused kernels and their CPU twins.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An error from candle (allocation, kernel launch, device transfer).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    /// An input has the wrong rank or size.
    #[error("{op}: {what} has shape {got:?}, expected {expected}")]
    Shape {
        op: &'static str,
        what: &'static str,
        expected: String,
        got: Vec<usize>,
    },

    /// An input has a dtype the op does not take.
    #[error("{op}: {what} has dtype {got:?}, expected {expected}")]
    DType {
        op: &'static str,
        what: &'static str,
        expected: &'static str,
        got: DType,
    },

    /// Inputs of one call live on different devices.
    #[error("{op}: {what} is on {got:?} but the logits are on {expected:?}")]
    Device {
        op: &'static str,
        what: &'static str,
        expected: DeviceLocation,
        got: DeviceLocation,
    },

    /// The fused op was asked for on a device this build has no kernel for. Never replaced by a
    /// composed fallback: the caller chose the fused path and must learn it is not there.
    #[error("{op}: no kernel for {device:?} in this build{hint}")]
    NoKernel {
        op: &'static str,
        device: DeviceLocation,
        hint: &'static str,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
