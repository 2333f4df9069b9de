//! Learning-rate schedule: linear warmup, then cosine decay to a floor or constant
//! (algorithms.md "Optimiser and schedule"; Loshchilov & Hutter 2017 for the cosine).

use serde::{Deserialize, Serialize};

use crate::shape::{in_range, positive};
use crate::{Error, Result};

/// What follows the warmup (config key `lr_scheduler`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LrDecay {
    /// Half-cosine from the peak to `min_lr_ratio * peak` at `total_steps`.
    Cosine,
    /// Stay at the peak.
    Constant,
}

/// A schedule: a pure function from the optimiser step to the learning rate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    /// Peak learning rate.
    pub peak_lr: f64,
    /// Warmup steps (0 for none).
    pub warmup_steps: u64,
    /// Total optimiser steps of the run (end of the cosine).
    pub total_steps: u64,
    /// The decay after warmup.
    pub decay: LrDecay,
    /// Floor of the cosine as a fraction of the peak, in `[0, 1]`.
    pub min_lr_ratio: f64,
}

impl LrSchedule {
    /// A validated schedule.
    pub fn new(
        peak_lr: f64,
        warmup_steps: u64,
        total_steps: u64,
        decay: LrDecay,
        min_lr_ratio: f64,
    ) -> Result<Self> {
        positive("lr", peak_lr)?;
        in_range("min_lr_ratio", min_lr_ratio, 0.0, 1.0)?;
        if total_steps == 0 || warmup_steps > total_steps {
            return Err(Error::Config {
                key: "warmup_steps",
                reason: format!(
                    "need 0 <= warmup_steps ({warmup_steps}) <= total_steps ({total_steps}) and total_steps > 0"
                ),
            });
        }
        Ok(Self {
            peak_lr,
            warmup_steps,
            total_steps,
            decay,
            min_lr_ratio,
        })
    }

    /// Learning rate of the update with 0-based index `step`.
    ///
    /// Warmup (`step < W`): `peak (step + 1) / W`, so the first update is not wasted and the
    /// last warmup step reaches the peak. Then with `p = min(1, (step - W) / max(1, N - W))`:
    /// cosine `peak (r + (1 - r) (1 + cos(pi p)) / 2)` (`r` = `min_lr_ratio`), constant `peak`.
    pub fn lr(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.peak_lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        match self.decay {
            LrDecay::Constant => self.peak_lr,
            LrDecay::Cosine => {
                let span = (self.total_steps - self.warmup_steps).max(1) as f64;
                let p = ((step - self.warmup_steps) as f64 / span).min(1.0);
                let r = self.min_lr_ratio;
                self.peak_lr * (r + (1.0 - r) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos()))
            }
        }
    }
}
