//! Sampling and scoring completions of prompts with the current policy: GRPO's groups, the
//! example completions of `samples.jsonl`, and their metrics.

use candle_core::{DType, Tensor};
use caugym_model::tokenizer::Tokenizer;
use caugym_reward::{CausalReward, RewardFn, RewardOutcome, RewardSummary, Target};
use caugym_rollout::{GenerationConfig, Rollout, generate};
use caugym_scm::Task;

use super::examples::Example;
use super::policy::Policy;
use super::prompts::PromptStyle;
use crate::config::DataConfig;
use crate::metrics::{self, Metrics, Reduce};
use crate::runner::Sample;
use crate::{Error, Result};

/// A prompt ready to sample from, with its gold answer when known.
#[derive(Clone, Debug)]
pub struct PromptItem {
    /// The example's id.
    pub id: String,
    /// The task, when known.
    pub task: Option<Task>,
    /// The prompt text.
    pub text: String,
    /// Its tokens (chat template or raw, per `data.prompt_format`).
    pub ids: Vec<u32>,
    /// The gold string.
    pub gold: Option<String>,
    /// The gold, parsed for the reward.
    pub target: Option<Target>,
}

impl PromptItem {
    /// Encodes an example's prompt and parses its gold (an unreadable gold is an error naming
    /// the example).
    pub fn new(ex: &Example, style: &PromptStyle, tokenizer: &Tokenizer) -> Result<Self> {
        let target = match &ex.answer {
            Some(a) => Some(
                Target::parse(a, ex.task)
                    .map_err(|e| Error::setting("data", format!("example `{}`: {e}", ex.id)))?,
            ),
            None => None,
        };
        Ok(Self {
            id: ex.id.clone(),
            task: ex.task,
            text: ex.prompt.clone(),
            ids: style.encode(tokenizer, &ex.prompt)?,
            gold: ex.answer.clone(),
            target,
        })
    }
}

/// The prompts of `train` for an RL method (`method` names it in errors): encoded in the style
/// `data` asks for, each with its parsed gold, which every example must have.
pub fn gold_prompts(
    data: &DataConfig,
    tokenizer: &Tokenizer,
    train: &[Example],
    method: &str,
) -> Result<Vec<PromptItem>> {
    let style = PromptStyle::of(data);
    let prompts = train
        .iter()
        .map(|ex| {
            let item = PromptItem::new(ex, &style, tokenizer)?;
            match item.target {
                Some(_) => Ok(item),
                None => Err(Error::setting(
                    "data",
                    format!(
                        "{method} needs an `answer` for every example; `{}` has none",
                        ex.id
                    ),
                )),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    if prompts.is_empty() {
        return Err(Error::setting("data", "no training prompts"));
    }
    Ok(prompts)
}

/// Samples `sampling.num_generations` completions of each item (prompt-major) with LoRA dropout
/// off, seeded by `seed`.
pub fn sample(
    policy: &mut Policy,
    items: &[&PromptItem],
    sampling: &GenerationConfig,
    seed: u64,
) -> Result<Rollout> {
    let prompts: Vec<Vec<u32>> = items.iter().map(|p| p.ids.clone()).collect();
    let was_training = policy.model.is_training();
    policy.model.set_training(false);
    let adapter = policy.active();
    let out = generate(
        &policy.model,
        &policy.tokenizer,
        &prompts,
        sampling,
        seed,
        adapter,
    );
    policy.model.set_training(was_training);
    out.map_err(rollout_error)
}

/// The rollout crate's errors, as this crate's.
pub fn rollout_error(e: caugym_rollout::Error) -> Error {
    match e {
        caugym_rollout::Error::Model(m) => Error::Model(m),
        caugym_rollout::Error::Tokenizer(t) => Error::Tokenizer(t),
        caugym_rollout::Error::Candle(c) => Error::Candle(c),
        other => Error::Input {
            what: "rollout",
            reason: other.to_string(),
        },
    }
}

/// Scores every completion against its prompt's target. Items without a gold are an error.
pub fn score(
    reward: &CausalReward,
    rollout: &Rollout,
    items: &[&PromptItem],
) -> Result<Vec<RewardOutcome>> {
    rollout
        .completions
        .iter()
        .map(|c| {
            let item = items[c.prompt_index];
            let target = item.target.as_ref().ok_or_else(|| {
                Error::setting(
                    "data",
                    format!("example `{}` has no `answer` to reward against", item.id),
                )
            })?;
            Ok(reward.score(&c.text, target))
        })
        .collect()
}

/// Completion lengths, truncation, reward breakdown (`reward/<label>` fractions, correct and
/// well-formed fractions) and rollout throughput.
pub fn rollout_metrics(rollout: &Rollout, outcomes: &[RewardOutcome]) -> Metrics {
    let mut m = Metrics::new();
    let n = rollout.completions.len().max(1) as f64;
    let lens: Vec<usize> = rollout.completions.iter().map(|c| c.len()).collect();
    m.insert(
        metrics::RESPONSE_LENGTH_MEAN,
        lens.iter().sum::<usize>() as f64 / n,
    );
    m.insert(
        metrics::RESPONSE_LENGTH_MAX,
        lens.iter().copied().max().unwrap_or(0) as f64,
    );
    let truncated = rollout
        .completions
        .iter()
        .filter(|c| c.is_truncated())
        .count();
    m.insert(metrics::RESPONSE_TRUNCATED_FRAC, truncated as f64 / n);
    m.insert(
        metrics::PERF_ROLLOUT_TOKENS_PER_S,
        rollout.stats.tokens_per_s(),
    );
    if !outcomes.is_empty() {
        let s = RewardSummary::from_outcomes(outcomes);
        m.insert(metrics::REWARD_CORRECT_FRAC, s.correct_rate);
        m.insert(metrics::REWARD_FORMAT_OK_FRAC, s.format_ok_rate);
        for (label, count) in &s.counts {
            let name = format!("{}{label}", metrics::REWARD_LABEL_PREFIX);
            m.insert_named(name, Reduce::Mean, *count as f64 / n);
        }
    }
    m
}

/// The first `n` completions as example samples.
pub fn samples(
    rollout: &Rollout,
    outcomes: &[RewardOutcome],
    items: &[&PromptItem],
    n: usize,
) -> Vec<Sample> {
    rollout
        .completions
        .iter()
        .enumerate()
        .take(n)
        .map(|(i, c)| {
            let item = items[c.prompt_index];
            let outcome = outcomes.get(i);
            Sample {
                prompt: item.text.clone(),
                completion: c.text.clone(),
                gold: item.gold.clone(),
                reward: outcome.map(|o| o.score),
                outcome: outcome.map(|o| o.label().to_string()),
            }
        })
        .collect()
}

/// The metrics GRPO and PPO add after their loss: the micro-batch's share of the update's mean
/// token entropy (summed over micro-batches by the runner, hence divided by the update's token
/// count) when the forward computed it, and the total loss.
pub fn loss_metrics(
    metrics: &mut Metrics,
    loss: &Tensor,
    entropy: Option<&Tensor>,
    mask: &Tensor,
    update_tokens: usize,
) -> Result<()> {
    if let Some(h) = entropy {
        let n = update_tokens.max(1) as f64;
        let e = (h.detach() * mask)?.sum_all()?.to_dtype(DType::F64)?;
        metrics.insert(metrics::ACTOR_ENTROPY, e.to_scalar::<f64>()? / n);
    }
    let total = loss.detach().to_dtype(DType::F64)?.to_scalar::<f64>()?;
    metrics.insert(metrics::LOSS_TOTAL, total);
    Ok(())
}
