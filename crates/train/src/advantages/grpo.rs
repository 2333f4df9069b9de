//! GRPO group-relative outcome advantages (Shao et al. 2024, DeepSeekMath §4.1.2;
//! Dr. GRPO, Liu et al. 2025, for the unscaled variant).

use std::collections::HashMap;

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

use crate::metrics::{self, Metrics};
use crate::shape::{dims1, in_range};
use crate::{Error, Result};

/// Whether group advantages are divided by the group's reward std (config `scale_rewards`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdvScale {
    /// `(r - mean) / (std + eps)`, unbiased std (GRPO).
    Std,
    /// `r - mean` (Dr. GRPO: removes the difficulty bias of the std division).
    None,
}

/// Group ids for `n` completions laid out as contiguous groups of `group_size`
/// (the G completions of a prompt next to each other): `[0,0,..,1,1,..]`.
pub fn contiguous_groups(n: usize, group_size: usize) -> Result<Vec<usize>> {
    if group_size == 0 || !n.is_multiple_of(group_size) {
        return Err(Error::Config {
            key: "num_generations",
            reason: format!("{n} completions do not split into groups of {group_size}"),
        });
    }
    Ok((0..n).map(|i| i / group_size).collect())
}

/// Group-relative advantages of outcome rewards.
///
/// `A_i = (r_i - mean_g r) / (std_g r + eps)` for [`AdvScale::Std`], `A_i = r_i - mean_g r`
/// for [`AdvScale::None`], where `g` is `i`'s group, std is unbiased (algorithms.md "GRPO";
/// eps 1e-4 in TRL, 1e-6 in verl). A group with one member gets `A = 0` (no baseline to
/// compare with; note verl instead uses mean 0, std 1 there, i.e. `A = r`).
///
/// Shapes: rewards `[N]`, `group_ids.len() == N` (any ids; members need not be contiguous)
/// -> advantages `[N]` in the rewards' dtype, detached. Computed in f64.
///
/// Metrics: `rollout/reward_mean`, `rollout/reward_std` (unbiased, whole batch; 0 for N = 1)
/// and `rollout/zero_std_frac` (groups whose rewards are all equal, one-member groups included).
pub fn grpo(
    rewards: &Tensor,
    group_ids: &[usize],
    scale: AdvScale,
    eps: f64,
) -> Result<(Tensor, Metrics)> {
    let n = dims1("rewards", rewards)?;
    if group_ids.len() != n {
        return Err(Error::Shape {
            what: "group_ids",
            expected: format!("[{n}] (one id per reward)"),
            got: vec![group_ids.len()],
        });
    }
    in_range("epsilon", eps, 0.0, 1.0)?;
    if n == 0 {
        return Ok((rewards.detach(), Metrics::new()));
    }
    let (dense, k) = dense_ids(group_ids);
    let dev = rewards.device();
    let mut onehot = vec![0f64; n * k];
    let mut counts = vec![0f64; k];
    for (i, &g) in dense.iter().enumerate() {
        onehot[i * k + g] = 1.0;
        counts[g] += 1.0;
    }
    let member = Tensor::from_vec(onehot, (n, k), dev)?; // [N, K]
    let member_t = member.t()?.contiguous()?; // [K, N]
    let count = Tensor::from_vec(counts.clone(), (k, 1), dev)?;
    let dof: Vec<f64> = counts.iter().map(|c| (c - 1.0).max(1.0)).collect();
    let dof = Tensor::from_vec(dof, (k, 1), dev)?;

    let r = rewards.detach().to_dtype(DType::F64)?.reshape((n, 1))?;
    let mean_g = (member_t.matmul(&r)? / count)?; // [K, 1]
    let centered = (&r - member.matmul(&mean_g)?)?; // [N, 1]
    let adv = match scale {
        AdvScale::None => centered,
        AdvScale::Std => {
            let var_g = (member_t.matmul(&centered.sqr()?)? / dof)?;
            let std_i = member.matmul(&var_g.sqrt()?)?;
            (centered / (std_i + eps)?)?
        }
    };
    let adv = adv.reshape(n)?.to_dtype(rewards.dtype())?;
    let metrics = reward_metrics(&r.reshape(n)?.to_vec1::<f64>()?, &dense, k);
    Ok((adv, metrics))
}

/// Maps arbitrary ids to `0..K` in order of first appearance.
fn dense_ids(ids: &[usize]) -> (Vec<usize>, usize) {
    let mut map = HashMap::new();
    let dense = ids
        .iter()
        .map(|id| {
            let next = map.len();
            *map.entry(*id).or_insert(next)
        })
        .collect();
    (dense, map.len())
}

fn reward_metrics(r: &[f64], dense: &[usize], k: usize) -> Metrics {
    let n = r.len() as f64;
    let mean = r.iter().sum::<f64>() / n;
    let ss: f64 = r.iter().map(|x| (x - mean).powi(2)).sum();
    let std = if r.len() > 1 {
        (ss / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    let mut lo = vec![f64::INFINITY; k];
    let mut hi = vec![f64::NEG_INFINITY; k];
    for (&x, &g) in r.iter().zip(dense) {
        lo[g] = lo[g].min(x);
        hi[g] = hi[g].max(x);
    }
    let flat = lo.iter().zip(&hi).filter(|(l, h)| l == h).count();
    let mut m = Metrics::new();
    m.insert(metrics::ROLLOUT_REWARD_MEAN, mean);
    m.insert(metrics::ROLLOUT_REWARD_STD, std);
    m.insert(metrics::ROLLOUT_ZERO_STD_FRAC, flat as f64 / k as f64);
    m
}
