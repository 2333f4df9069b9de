//! Generalised advantage estimation (Schulman et al. 2016, "High-Dimensional Continuous
//! Control Using Generalized Advantage Estimation"; algorithms.md "PPO").

use candle_core::Tensor;

use crate::Result;
use crate::shape::{dims2, in_range, mask_like, same};

/// GAE over token rewards, computed without gradient.
///
/// Backwards over `t`: `delta_t = r_t + gamma V_next - V_t`, `A_t = delta_t + gamma lambda A_next`,
/// `R_t = A_t + V_t`. `V_next` and `A_next` come from the next MASKED position of the row (0 past
/// its last one), so each row ends at its own length and masked positions inside a row
/// (e.g. tool output) are skipped, as in verl `compute_gae_advantage_return`.
///
/// Shapes: rewards, values, mask `[B, T]` -> (advantages `[B, T]`, returns `[B, T]`),
/// both 0 outside the mask, detached, in the values' dtype. Not whitened: see
/// [`super::whiten`].
pub fn gae(
    rewards: &Tensor,
    values: &Tensor,
    mask: &Tensor,
    gamma: f64,
    lambda: f64,
) -> Result<(Tensor, Tensor)> {
    let (b, t_len) = dims2("values", values)?;
    same("rewards", rewards, values)?;
    in_range("gamma", gamma, 0.0, 1.0)?;
    in_range("lambda", lambda, 0.0, 1.0)?;
    let values = values.detach();
    let rewards = rewards.detach().to_dtype(values.dtype())?;
    let m = mask_like(mask, &values)?;
    let keep = m.affine(-1.0, 1.0)?; // 1 - m

    let mut next_v = Tensor::zeros((b, 1), values.dtype(), values.device())?;
    let mut next_a = next_v.clone();
    let mut cols = Vec::with_capacity(t_len);
    for t in (0..t_len).rev() {
        let r_t = rewards.narrow(1, t, 1)?;
        let v_t = values.narrow(1, t, 1)?;
        let m_t = m.narrow(1, t, 1)?;
        let k_t = keep.narrow(1, t, 1)?;
        let delta = ((r_t + next_v.affine(gamma, 0.0)?)? - &v_t)?;
        let a_t = (delta + next_a.affine(gamma * lambda, 0.0)?)?;
        next_v = ((&v_t * &m_t)? + (&next_v * &k_t)?)?;
        next_a = ((&a_t * &m_t)? + (&next_a * &k_t)?)?;
        cols.push((a_t * &m_t)?);
    }
    cols.reverse();
    let adv = if cols.is_empty() {
        values.zeros_like()?
    } else {
        Tensor::cat(&cols, 1)?
    };
    let returns = ((&adv + &values)? * &m)?;
    Ok((adv, returns))
}
