//! Metric names (fixed once, verl/TRL spelling) and the ordered [`Metrics`] map every loss returns.
//!
//! Each name comes with its [`Reduce`]: how values from the micro-batches of one optimiser step
//! combine. Losses normalised over the whole accumulated batch (see [`crate::agg::AggNorm`]) return
//! their micro-batch *contribution*, so those metrics are summed; per-micro-batch statistics
//! (DPO reward means, explained variance) are averaged.

use std::collections::BTreeMap;

use candle_core::{DType, Tensor};

use crate::Result;

/// How the values of one metric from several micro-batches combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduce {
    /// Add them: the metric is already normalised by a whole-batch count.
    Sum,
    /// Average them (unweighted over micro-batches).
    Mean,
}

/// A metric name with its reduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricKey {
    /// The logged name, e.g. `actor/clip_frac`.
    pub name: &'static str,
    /// How micro-batch values combine.
    pub reduce: Reduce,
}

const fn sum(name: &'static str) -> MetricKey {
    MetricKey {
        name,
        reduce: Reduce::Sum,
    }
}

const fn mean(name: &'static str) -> MetricKey {
    MetricKey {
        name,
        reduce: Reduce::Mean,
    }
}

/// SFT loss: masked NLL normalised over the accumulated batch's tokens.
pub const LOSS_SFT: MetricKey = sum("loss/sft");
/// DPO loss (mean over the accumulated batch's pairs).
pub const LOSS_DPO: MetricKey = sum("loss/dpo");
/// KTO loss (mean over the accumulated batch's examples).
pub const LOSS_KTO: MetricKey = sum("loss/kto");
/// Clipped-surrogate policy loss (GRPO, PPO).
pub const LOSS_POLICY: MetricKey = sum("loss/policy");
/// KL-to-reference loss term before its coefficient.
pub const LOSS_KL: MetricKey = sum("loss/kl");
/// Total loss of a step, as the trainer combines it.
pub const LOSS_TOTAL: MetricKey = sum("loss/total");

/// Fraction of masked tokens where the ratio clip is active (low + high).
pub const ACTOR_CLIP_FRAC: MetricKey = sum("actor/clip_frac");
/// Fraction clipped at `1 - eps_low` (A < 0).
pub const ACTOR_CLIP_FRAC_LOW: MetricKey = sum("actor/clip_frac_low");
/// Fraction clipped at `1 + eps_high` (A > 0).
pub const ACTOR_CLIP_FRAC_HIGH: MetricKey = sum("actor/clip_frac_high");
/// Fraction of masked tokens where the dual clip bound `-A c` is active.
pub const ACTOR_DUAL_CLIP_FRAC: MetricKey = sum("actor/dual_clip_frac");
/// Token-mean of `old_logp - logp` (verl's `ppo_kl`).
pub const ACTOR_PPO_KL: MetricKey = sum("actor/ppo_kl");
/// Token-mean KL estimate to the reference policy.
pub const ACTOR_KL: MetricKey = sum("actor/kl");
/// Token-mean entropy of the policy (computed by the model side).
pub const ACTOR_ENTROPY: MetricKey = sum("actor/entropy");

/// Mean implicit reward `beta (logp - ref)` of chosen completions.
pub const REWARDS_CHOSEN: MetricKey = mean("rewards/chosen");
/// Mean implicit reward of rejected completions.
pub const REWARDS_REJECTED: MetricKey = mean("rewards/rejected");
/// Mean of chosen minus rejected implicit reward.
pub const REWARDS_MARGINS: MetricKey = mean("rewards/margins");
/// Fraction of pairs whose chosen implicit reward exceeds the rejected one.
pub const REWARDS_ACCURACIES: MetricKey = mean("rewards/accuracies");
/// Mean summed log-prob of chosen completions under the policy.
pub const LOGPS_CHOSEN: MetricKey = mean("logps/chosen");
/// Mean summed log-prob of rejected completions under the policy.
pub const LOGPS_REJECTED: MetricKey = mean("logps/rejected");

/// KTO reference point z0 (detached mismatched-pair KL estimate).
pub const KTO_KL: MetricKey = mean("kto/kl");
/// Mean implicit reward `beta (logp - ref)` of desirable examples.
pub const REWARDS_DESIRABLE: MetricKey = mean("rewards/desirable");
/// Mean implicit reward of undesirable examples.
pub const REWARDS_UNDESIRABLE: MetricKey = mean("rewards/undesirable");

/// Clipped value loss (PPO critic).
pub const CRITIC_VALUE_LOSS: MetricKey = sum("critic/value_loss");
/// Fraction of masked tokens where the clipped value term is the larger one.
pub const CRITIC_VF_CLIP_FRAC: MetricKey = sum("critic/vf_clip_frac");
/// `1 - Var(R - V) / Var(R)` over masked tokens.
pub const CRITIC_EXPLAINED_VARIANCE: MetricKey = mean("critic/explained_variance");
/// Token-mean value prediction.
pub const CRITIC_VPRED_MEAN: MetricKey = sum("critic/vpred_mean");
/// Token-mean of the GAE returns of the step's batch (PPO).
pub const CRITIC_RETURNS_MEAN: MetricKey = mean("critic/returns_mean");
/// Token-mean of the GAE advantages before whitening (PPO).
pub const CRITIC_ADVANTAGES_MEAN: MetricKey = mean("critic/advantages_mean");
/// Token standard deviation (unbiased) of the GAE advantages before whitening (PPO).
pub const CRITIC_ADVANTAGES_STD: MetricKey = mean("critic/advantages_std");
/// Token-mean of the critic's values at rollout time (PPO).
pub const CRITIC_VALUES_MEAN: MetricKey = mean("critic/values_mean");
/// `1 - Var(R - V) / Var(R)` of the rollout-time values over the whole step's batch (verl's
/// `critic/vf_explained_var`; `critic/explained_variance` is the per-micro-batch one).
pub const CRITIC_VF_EXPLAINED_VAR: MetricKey = mean("critic/vf_explained_var");

/// Mean outcome reward of the rollout batch.
pub const ROLLOUT_REWARD_MEAN: MetricKey = mean("rollout/reward_mean");
/// Unbiased standard deviation of the outcome rewards over the batch.
pub const ROLLOUT_REWARD_STD: MetricKey = mean("rollout/reward_std");
/// Fraction of GRPO groups whose rewards all equal (no learning signal).
pub const ROLLOUT_ZERO_STD_FRAC: MetricKey = mean("rollout/zero_std_frac");
/// Mean over sequences of the summed `old - ref` log-ratio used in PPO's KL reward.
pub const ROLLOUT_KL: MetricKey = mean("rollout/kl");
/// The KL-in-reward coefficient used for the batch.
pub const ROLLOUT_KL_COEF: MetricKey = mean("rollout/kl_coef");

/// Mean completion length in tokens (verl `response_length/mean`).
pub const RESPONSE_LENGTH_MEAN: MetricKey = mean("response_length/mean");
/// Longest completion in tokens.
pub const RESPONSE_LENGTH_MAX: MetricKey = mean("response_length/max");
/// Fraction of completions cut at the token limit (verl `response_length/clip_ratio`).
pub const RESPONSE_TRUNCATED_FRAC: MetricKey = mean("response_length/truncated_frac");
/// Fraction of completions whose final answer is fully correct.
pub const REWARD_CORRECT_FRAC: MetricKey = mean("reward/correct_frac");
/// Fraction of completions whose final answer has the required form.
pub const REWARD_FORMAT_OK_FRAC: MetricKey = mean("reward/format_ok_frac");
/// Prefix of the per-outcome reward breakdown, `reward/<label>` (fractions of completions).
pub const REWARD_LABEL_PREFIX: &str = "reward/";

/// Sampled tokens per second of the rollout (wall clock; differs between identical runs).
pub const PERF_ROLLOUT_TOKENS_PER_S: MetricKey = mean("perf/rollout_tokens_per_s");
/// Trained tokens per second of the forward/backward/optimiser passes (wall clock).
pub const PERF_TRAIN_TOKENS_PER_S: MetricKey = mean("perf/train_tokens_per_s");
/// Seconds the whole step took (wall clock).
pub const PERF_STEP_S: MetricKey = mean("perf/step_s");
/// Prefix of every wall-clock metric: the only ones that differ between identical runs.
pub const PERF_PREFIX: &str = "perf/";

/// Optimiser updates made in the step (GRPO: μ x updates per pass; SFT: 1).
pub const OPTIM_UPDATES: MetricKey = mean("optim/updates");
/// Fraction of the step's completions trained on (below 1 when zero-std groups are filtered).
pub const ROLLOUT_KEPT_FRAC: MetricKey = mean("rollout/kept_frac");

/// Global gradient norm before clipping.
pub const OPTIM_GRAD_NORM: MetricKey = mean("optim/grad_norm");
/// Learning rate of the step.
pub const OPTIM_LR: MetricKey = mean("optim/lr");

#[derive(Clone, Copy, Debug, PartialEq)]
struct Entry {
    sum: f64,
    count: u32,
    reduce: Reduce,
}

/// An ordered (by name) map from metric name to value, mergeable across micro-batches.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metrics {
    entries: BTreeMap<String, Entry>,
}

impl Metrics {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `value` under `key`, replacing any previous value.
    pub fn insert(&mut self, key: MetricKey, value: f64) {
        self.insert_named(key.name, key.reduce, value);
    }

    /// Records a metric whose name is built at run time (e.g. per task family).
    pub fn insert_named(&mut self, name: impl Into<String>, reduce: Reduce, value: f64) {
        let entry = Entry {
            sum: value,
            count: 1,
            reduce,
        };
        self.entries.insert(name.into(), entry);
    }

    /// The value of `name`: the sum for [`Reduce::Sum`], the mean for [`Reduce::Mean`].
    pub fn get(&self, name: &str) -> Option<f64> {
        self.entries.get(name).map(Entry::value)
    }

    /// The value of a known key.
    pub fn value(&self, key: MetricKey) -> Option<f64> {
        self.get(key.name)
    }

    /// Number of metrics.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no metrics.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `(name, value)` pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.entries.iter().map(|(k, e)| (k.as_str(), e.value()))
    }

    /// Folds another micro-batch's metrics in: sums [`Reduce::Sum`] metrics, averages
    /// [`Reduce::Mean`] ones over the micro-batches that reported them. A name present on
    /// one side only is kept as it is.
    pub fn merge(&mut self, other: &Metrics) {
        for (name, e) in &other.entries {
            self.entries
                .entry(name.clone())
                .and_modify(|mine| {
                    mine.sum += e.sum;
                    mine.count += e.count;
                })
                .or_insert(*e);
        }
    }

    /// Merges a sequence of micro-batch metrics into one.
    pub fn merged<'a>(all: impl IntoIterator<Item = &'a Metrics>) -> Metrics {
        let mut out = Metrics::new();
        for m in all {
            out.merge(m);
        }
        out
    }
}

impl Entry {
    fn value(&self) -> f64 {
        match self.reduce {
            Reduce::Sum => self.sum,
            Reduce::Mean => self.sum / f64::from(self.count.max(1)),
        }
    }
}

/// Reads scalar tensors to host in one transfer (one device sync instead of one per metric).
///
/// Every tensor must hold exactly one element; they are stacked as f64.
pub(crate) fn read_scalars(values: &[&Tensor]) -> Result<Vec<f64>> {
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let flat = values
        .iter()
        .map(|t| t.detach().to_dtype(DType::F64)?.reshape(1))
        .collect::<candle_core::Result<Vec<_>>>()?;
    Ok(Tensor::cat(&flat, 0)?.to_vec1::<f64>()?)
}

/// Builds a [`Metrics`] from keys and scalar tensors read in one transfer.
pub(crate) fn from_scalars(pairs: &[(MetricKey, &Tensor)]) -> Result<Metrics> {
    let tensors: Vec<&Tensor> = pairs.iter().map(|(_, t)| *t).collect();
    let values = read_scalars(&tensors)?;
    let mut m = Metrics::new();
    for ((key, _), v) in pairs.iter().zip(values) {
        m.insert(*key, v);
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_sums_sum_metrics_and_averages_mean_metrics() {
        // micro-batch 1: loss contribution 0.25, reward mean 1.0
        // micro-batch 2: loss contribution 0.50, reward mean 3.0
        // => loss 0.75 (sum), reward (1 + 3) / 2 = 2.0 (mean)
        let mut a = Metrics::new();
        a.insert(LOSS_POLICY, 0.25);
        a.insert(REWARDS_CHOSEN, 1.0);
        let mut b = Metrics::new();
        b.insert(LOSS_POLICY, 0.5);
        b.insert(REWARDS_CHOSEN, 3.0);
        b.insert(ACTOR_KL, 0.125);
        let m = Metrics::merged([&a, &b]);
        assert_eq!(m.value(LOSS_POLICY), Some(0.75));
        assert_eq!(m.value(REWARDS_CHOSEN), Some(2.0));
        assert_eq!(m.value(ACTOR_KL), Some(0.125));
        let names: Vec<&str> = m.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["actor/kl", "loss/policy", "rewards/chosen"]);
    }
}
