//! PPO's KL-in-reward: token rewards penalised by the sampled KL to the reference, with a fixed
//! or adaptive coefficient (Ziegler et al. 2019, "Fine-Tuning Language Models from Human
//! Preferences", §2.2; algorithms.md "PPO").

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::metrics::{self, Metrics};
use crate::shape::{dims1, dims2, in_range, mask_like, positive, same};
use crate::{Error, Result};

/// Token rewards `r_t = -beta (old_t - ref_t) m_t`, plus the outcome score at each row's last
/// masked token.
///
/// Shapes: scores `[B]`, old_logp, ref_logp, mask `[B, T]` -> rewards `[B, T]` (detached, in
/// old_logp's dtype; 0 outside the mask; a row with an empty mask gets nothing).
/// Metrics: `rollout/kl` (mean over rows of `Σ_t m (old - ref)`, the quantity an
/// [`AdaptiveKl`] controller tracks) and `rollout/kl_coef` (beta).
pub fn kl_penalised_rewards(
    scores: &Tensor,
    old_logp: &Tensor,
    ref_logp: &Tensor,
    mask: &Tensor,
    beta: f64,
) -> Result<(Tensor, Metrics)> {
    let (b, t) = dims2("old_logp", old_logp)?;
    same("ref_logp", ref_logp, old_logp)?;
    let nb = dims1("scores", scores)?;
    if nb != b {
        return Err(Error::Shape {
            what: "scores",
            expected: format!("[{b}] (one per row)"),
            got: vec![nb],
        });
    }
    in_range("kl_coef", beta, 0.0, f64::MAX)?;
    let old = old_logp.detach();
    let dtype = old.dtype();
    let m = mask_like(mask, &old)?;
    let kl = ((old - ref_logp.detach().to_dtype(dtype)?)? * &m)?;

    // Last masked position: argmax over t of (t + 1) m_t (0 for an empty row, then masked out).
    let pos = Tensor::arange(1u32, t as u32 + 1, m.device())?
        .to_dtype(dtype)?
        .unsqueeze(0)?
        .broadcast_as((b, t))?;
    let last = (pos * &m)?.argmax_keepdim(1)?; // [B, 1] u32
    let cols = Tensor::arange(0u32, t as u32, m.device())?
        .unsqueeze(0)?
        .broadcast_as((b, t))?;
    let at_last = (cols.broadcast_eq(&last)?.to_dtype(dtype)? * &m)?;
    let score = scores.detach().to_dtype(dtype)?.unsqueeze(1)?;
    let rewards = (kl.affine(-beta, 0.0)? + at_last.broadcast_mul(&score)?)?;

    let seq_kl = kl.sum(1)?.mean_all()?;
    let mut out = metrics::from_scalars(&[(metrics::ROLLOUT_KL, &seq_kl)])?;
    out.insert(metrics::ROLLOUT_KL_COEF, beta);
    Ok((rewards, out))
}

/// Adaptive KL coefficient (Ziegler et al. 2019, §2.2): with `e = clip(KL / target - 1, -0.2, 0.2)`,
/// `beta <- beta (1 + e n_steps / horizon)` after each batch of `n_steps` samples.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveKl {
    /// The current coefficient.
    pub coef: f64,
    /// The KL per sequence to hold (`target` in TRL, 6.0 there).
    pub target: f64,
    /// Samples over which the error is corrected (`horizon`, 10000 in TRL).
    pub horizon: f64,
}

impl AdaptiveKl {
    /// A controller starting at `init`.
    pub fn new(init: f64, target: f64, horizon: f64) -> Result<Self> {
        in_range("kl_coef", init, 0.0, f64::MAX)?;
        positive("kl_target", target)?;
        positive("kl_horizon", horizon)?;
        Ok(Self {
            coef: init,
            target,
            horizon,
        })
    }

    /// Updates the coefficient from the measured KL of a batch of `n_steps` samples.
    pub fn update(&mut self, current_kl: f64, n_steps: usize) -> Result<()> {
        if !current_kl.is_finite() {
            return Err(Error::NonFinite {
                what: "KL",
                param: "rollout/kl".to_string(),
            });
        }
        let error = (current_kl / self.target - 1.0).clamp(-0.2, 0.2);
        self.coef *= 1.0 + error * n_steps as f64 / self.horizon;
        Ok(())
    }
}

/// The KL-in-reward coefficient: fixed (verl 0.001, TRL 0.05) or adaptive.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KlCoef {
    /// A constant beta.
    Fixed(f64),
    /// Ziegler et al.'s proportional controller.
    Adaptive(AdaptiveKl),
}

impl KlCoef {
    /// The coefficient to use for the next batch.
    pub fn value(&self) -> f64 {
        match self {
            KlCoef::Fixed(b) => *b,
            KlCoef::Adaptive(c) => c.coef,
        }
    }

    /// Feeds the measured KL of a batch; a fixed coefficient ignores it.
    pub fn update(&mut self, current_kl: f64, n_steps: usize) -> Result<()> {
        match self {
            KlCoef::Fixed(_) => Ok(()),
            KlCoef::Adaptive(c) => c.update(current_kl, n_steps),
        }
    }
}
