//! Advantage estimators, computed without gradient (verl `core_algos.compute_*_advantage`):
//! GRPO's group-relative outcome advantages and PPO's GAE.

mod gae;
mod grpo;

pub use gae::gae;
pub use grpo::{AdvScale, contiguous_groups, grpo};

use candle_core::Tensor;

use crate::Result;

/// PPO advantage whitening over the batch: `(A - mean) / sqrt(var + 1e-8)` with the unbiased
/// masked variance (algorithms.md "PPO"; TRL and verl whiten with the mean shifted out).
///
/// Shapes: advantages, mask `[B, T]` -> `[B, T]`, 0 outside the mask. Detached.
pub fn whiten(advantages: &Tensor, mask: &Tensor) -> Result<Tensor> {
    crate::masked::whiten(&advantages.detach(), mask, true)
}
