//! Preference data for DPO and KTO, built as pure functions from the `[data]` examples, plus the
//! two passes over the data that need the model: mining the starting policy's own wrong samples
//! and precomputing reference log-probs.
//!
//! A record with `chosen`/`rejected` is a DPO pair as it is (and two KTO examples); a record
//! with `completion`/`label` is one KTO example. A CauGym item (prompt, gold `answer`, worked
//! `solution` or a prompt the data crate can solve) gives chosen = its worked solution and
//! rejected = the policy's own wrong sample when mining found one, else a corrupted solution
//! ([`super::corrupt`]) whose final answer the reward crate scores wrong.

use candle_core::Tensor;
use caugym_data::Convention;
use caugym_model::{AdapterMode, Batch};
use caugym_reward::{CausalReward, RewardConfig, RewardFn, RewardOutcome, Target};
use caugym_rollout::GenerationConfig;

use super::collate::{LossOn, Row, pad, truncate};
use super::corrupt::{Corruption, corrupt, corrupt_problem, steps};
use super::examples::Example;
use super::policy::Policy;
use super::prompts::{PromptStyle, completion_tokens};
use super::rollouts::{PromptItem, sample, score};
use crate::config::SftTarget;
use crate::metrics::{Metrics, Reduce};
use crate::runner::derive_seed;
use crate::{Error, Result};

/// Prompts sampled per rollout call while mining (bounds memory, not the result).
const MINE_CHUNK: usize = 32;

/// Where a rejected (undesirable) completion came from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Source {
    /// Given by the data record.
    Given,
    /// A wrong completion the starting policy sampled.
    Sampled,
    /// A corrupted worked solution.
    Corrupted(Corruption),
}

/// One DPO pair.
#[derive(Clone, Debug, PartialEq)]
pub struct PrefPair {
    /// The example's id.
    pub id: String,
    /// Prompt text (before any chat template).
    pub prompt: String,
    /// The preferred completion.
    pub chosen: String,
    /// The dispreferred completion.
    pub rejected: String,
    /// Where `rejected` came from.
    pub source: Source,
}

/// One KTO example.
#[derive(Clone, Debug, PartialEq)]
pub struct KtoExample {
    /// The example's id.
    pub id: String,
    /// Prompt text.
    pub prompt: String,
    /// The completion.
    pub completion: String,
    /// Whether it is desirable.
    pub desirable: bool,
    /// Where an undesirable completion came from ([`Source::Given`] for desirable ones).
    pub source: Source,
}

/// The reward that checks generated chosen / rejected answers: the run's tolerance and yes/no
/// rule, without the format switches (`</think>`, official layout) that worked solutions do not
/// follow and that would make every solution "wrong" for the wrong reason.
pub fn answer_check(reward: &RewardConfig) -> Result<CausalReward> {
    Ok(CausalReward::new(RewardConfig {
        require_think_close: false,
        require_official_format: false,
        ..reward.clone()
    })?)
}

/// Whether an example is a CauGym item to build a pair from (no pair or label of its own).
fn is_item(ex: &Example) -> bool {
    ex.chosen.is_none() && ex.label.is_none()
}

fn target_of(ex: &Example) -> Result<Target> {
    let answer = ex.answer.as_ref().ok_or_else(|| {
        Error::setting(
            "data",
            format!(
                "example `{}` has neither `chosen`/`rejected`, `completion`/`label`, nor a gold \
                 `answer` to build a preference pair from",
                ex.id
            ),
        )
    })?;
    Target::parse(answer, ex.task)
        .map_err(|e| Error::setting("data", format!("example `{}`: {e}", ex.id)))
}

/// Chosen and rejected of a CauGym item: the worked solution (the record's, else the data
/// crate's; or the gold answer line when `form` is `answer`), and `own_wrong` or a corrupted
/// solution (or its answer line). Both are checked against the gold with
/// `check`: the chosen must be right, a corrupted rejected wrong. `index` varies the corruption.
pub fn item_pair(
    ex: &Example,
    own_wrong: Option<&str>,
    index: usize,
    check: &CausalReward,
    form: SftTarget,
) -> Result<(String, String, Source)> {
    let target = target_of(ex)?;
    let bad = |reason: String| Error::setting("data", format!("example `{}`: {reason}", ex.id));
    let corrupted = match (&ex.solution, own_wrong, &ex.problem) {
        (Some(_), Some(_), _) => None,
        // The generator's answers follow the CauGym convention in either layout.
        (_, _, Some(p)) => Some(corrupt_problem(p, index, Convention::CauGym).map_err(&bad)?),
        _ => Some(corrupt(&ex.prompt, index, ex.solution.as_deref()).map_err(&bad)?),
    };
    if let Some(own) = &ex.solution {
        let verdict = check.score(own, &target);
        if !verdict.is_correct() {
            return Err(bad(format!(
                "its worked solution does not reach the gold answer ({}); fix the record",
                verdict.label()
            )));
        }
    }
    let answer_line = |a: &str| format!("Answer: {a}");
    let chosen = match (form, &ex.solution, &corrupted, &ex.answer) {
        (SftTarget::Answer, _, _, Some(a)) => answer_line(a),
        // The record's solution, unless the parser read the prompt with other letters than the
        // solution uses: then chosen and rejected both come from the parsed reading, alike but
        // for the mistake.
        (_, Some(s), Some(c), _) if steps(s) != steps(&c.gold_solution) => c.gold_solution.clone(),
        (_, Some(s), _, _) => s.clone(),
        (_, None, Some(c), _) => c.gold_solution.clone(),
        _ => return Err(bad("no worked solution".to_string())),
    };
    let verdict = check.score(&chosen, &target);
    if !verdict.is_correct() {
        return Err(bad(format!(
            "the data crate's solution of its prompt does not reach the gold answer ({}); the \
             prompt was misread",
            verdict.label()
        )));
    }
    if let Some(wrong) = own_wrong {
        return Ok((chosen, wrong.to_string(), Source::Sampled));
    }
    let c = corrupted.ok_or_else(|| bad("no corrupted solution".to_string()))?;
    let rejected = match form {
        SftTarget::Solution => c.solution.clone(),
        SftTarget::Answer => answer_line(&c.answer.to_gold_string()),
    };
    let verdict = check.score(&rejected, &target);
    if verdict.is_correct() {
        return Err(bad(format!(
            "its corrupted solution ({}) still scores correct",
            c.kind.name()
        )));
    }
    Ok((chosen, rejected, Source::Corrupted(c.kind)))
}

/// DPO pairs of `examples`; `own_wrong[i]` is example `i`'s mined wrong sample, if any.
pub fn dpo_pairs(
    examples: &[Example],
    own_wrong: &[Option<String>],
    check: &CausalReward,
    form: SftTarget,
) -> Result<Vec<PrefPair>> {
    examples
        .iter()
        .enumerate()
        .map(|(i, ex)| {
            let (chosen, rejected, source) = match (&ex.chosen, &ex.rejected, ex.label) {
                (Some(c), Some(r), _) => (c.clone(), r.clone(), Source::Given),
                (_, _, Some(_)) => {
                    return Err(Error::setting(
                        "data",
                        format!(
                            "example `{}` is a KTO record (`completion`/`label`); DPO needs \
                             `chosen`/`rejected` pairs or CauGym items",
                            ex.id
                        ),
                    ));
                }
                _ => item_pair(
                    ex,
                    own_wrong.get(i).and_then(|o| o.as_deref()),
                    i,
                    check,
                    form,
                )?,
            };
            Ok(PrefPair {
                id: ex.id.clone(),
                prompt: ex.prompt.clone(),
                chosen,
                rejected,
                source,
            })
        })
        .collect()
}

/// KTO examples of `examples`: a labelled record as it is, a pair (given or built from a CauGym
/// item) as one desirable and one undesirable example, so CauGym data is 1:1.
pub fn kto_examples(
    examples: &[Example],
    own_wrong: &[Option<String>],
    check: &CausalReward,
    form: SftTarget,
) -> Result<Vec<KtoExample>> {
    let mut out = Vec::with_capacity(2 * examples.len());
    for (i, ex) in examples.iter().enumerate() {
        let one = |completion: &str, desirable: bool, source: Source| KtoExample {
            id: ex.id.clone(),
            prompt: ex.prompt.clone(),
            completion: completion.to_string(),
            desirable,
            source,
        };
        if let (Some(label), Some(c)) = (ex.label, &ex.completion) {
            out.push(one(c, label, Source::Given));
            continue;
        }
        let (chosen, rejected, source) = match (&ex.chosen, &ex.rejected) {
            (Some(c), Some(r)) => (c.clone(), r.clone(), Source::Given),
            _ => item_pair(
                ex,
                own_wrong.get(i).and_then(|o| o.as_deref()),
                i,
                check,
                form,
            )?,
        };
        out.push(one(&chosen, true, Source::Given));
        out.push(one(&rejected, false, source));
    }
    Ok(out)
}

/// For each example, the index of the next example (cyclically) with a different prompt: its
/// completion is the example's mismatched KL completion. Fixed once, as TRL builds its KL
/// dataset once, so precomputed and on-the-fly references see the same pairs. Fails when all
/// prompts are the same (there is nothing to mismatch).
pub fn mismatched(prompts: &[&str]) -> Result<Vec<usize>> {
    let n = prompts.len();
    (0..n)
        .map(|i| {
            (1..n)
                .map(|k| (i + k) % n)
                .find(|&j| prompts[j] != prompts[i])
                .ok_or_else(|| {
                    Error::setting(
                        "data",
                        "KTO's reference point needs at least two different prompts",
                    )
                })
        })
        .collect()
}

/// The wrong completion a prompt's samples offer: the first well-formed wrong one (a real
/// mistake), else the first non-empty wrong one; `None` when every sample is right.
pub fn pick_wrong(samples: &[(String, RewardOutcome)]) -> Option<String> {
    let wrong = || {
        samples
            .iter()
            .filter(|(t, o)| !o.is_correct() && !t.trim().is_empty())
    };
    wrong()
        .find(|(_, o)| o.format_ok)
        .or_else(|| wrong().next())
        .map(|(t, _)| t.clone())
}

/// Samples `k` completions of each CauGym item with the starting policy (`sampling`, its
/// `num_generations` replaced by `k`, seeded by the run seed and the item's chunk) and returns
/// each item's wrong one (see [`pick_wrong`]). Records with their own pair or label get `None`.
pub fn mine_wrong(
    policy: &mut Policy,
    examples: &[Example],
    style: &PromptStyle,
    sampling: &GenerationConfig,
    k: usize,
    reward: &CausalReward,
    seed: u64,
) -> Result<Vec<Option<String>>> {
    let mut out = vec![None; examples.len()];
    if k == 0 {
        return Ok(out);
    }
    let todo: Vec<usize> = (0..examples.len())
        .filter(|&i| is_item(&examples[i]) && examples[i].answer.is_some())
        .collect();
    let items = todo
        .iter()
        .map(|&i| PromptItem::new(&examples[i], style, &policy.tokenizer))
        .collect::<Result<Vec<_>>>()?;
    let cfg = GenerationConfig {
        num_generations: k,
        ..sampling.clone()
    };
    for (c, chunk) in items.chunks(MINE_CHUNK).enumerate() {
        let refs: Vec<&PromptItem> = chunk.iter().collect();
        // Step 0 never runs, so these seeds are apart from every training step's.
        let rollout = sample(policy, &refs, &cfg, derive_seed(seed, 0, c as u64))?;
        let outcomes = score(reward, &rollout, &refs)?;
        let mut per_prompt: Vec<Vec<(String, RewardOutcome)>> = vec![Vec::new(); refs.len()];
        for (comp, o) in rollout.completions.iter().zip(outcomes) {
            per_prompt[comp.prompt_index].push((comp.text.clone(), o));
        }
        for (j, samples) in per_prompt.iter().enumerate() {
            out[todo[c * MINE_CHUNK + j]] = pick_wrong(samples);
        }
    }
    Ok(out)
}

/// Prompt + completion tokens cut to `max_length`; `key` names the length setting in the error
/// when nothing of the completion is left.
pub fn encode_row(
    policy: &Policy,
    style: &PromptStyle,
    prompt: &str,
    completion: &str,
    max_length: usize,
    key: &str,
    id: &str,
) -> Result<Row> {
    let mut row = Row {
        prompt: style.encode(&policy.tokenizer, prompt)?,
        completion: completion_tokens(&policy.tokenizer, completion)?,
    };
    truncate(&mut row, max_length);
    if row.completion.is_empty() {
        return Err(Error::setting(
            key,
            format!(
                "example `{id}`'s prompt alone has {} tokens, so nothing of its completion is \
                 left; raise {key}",
                row.prompt.len()
            ),
        ));
    }
    Ok(row)
}

/// Summed completion log-probs of `rows` under the base model (adapters disabled), `chunk` rows
/// per forward: the reference of DPO and KTO.
pub fn reference_logps(policy: &Policy, rows: &[Row], chunk: usize) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(rows.len());
    for part in rows.chunks(chunk.max(1)) {
        let padded = pad(part, policy.tokenizer.pad_token_id(), LossOn::Completion)?;
        let (batch, mask) = policy.batch(&padded)?;
        let logps = policy.sequence_logps(&batch, &mask, AdapterMode::Disabled)?;
        out.extend(logps.detach().to_vec1::<f32>()?);
    }
    Ok(out)
}

/// Where the rejected completions came from, as fractions (`data/rejected_<source>`), logged
/// with every step.
pub fn source_metrics<'a>(sources: impl Iterator<Item = &'a Source>) -> Metrics {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    let mut n = 0usize;
    for s in sources {
        n += 1;
        let name = match s {
            Source::Given => "given",
            Source::Sampled => "sampled",
            Source::Corrupted(c) => c.name(),
        };
        *counts.entry(name).or_default() += 1;
    }
    let mut m = Metrics::new();
    for (name, c) in counts {
        m.insert_named(
            format!("data/rejected_{name}"),
            Reduce::Mean,
            c as f64 / n.max(1) as f64,
        );
    }
    m
}

/// One forward pass over pairs of rows: the first row of every picked pair, then every second
/// row (DPO: chosen then rejected; KTO: own completion then its mismatched KL pair), padded
/// together, with each row's reference log-prob — precomputed, or from the base with adapters
/// disabled.
pub struct PairedBatch {
    /// The rows, firsts then seconds.
    pub rows: Vec<Row>,
    /// The padded batch.
    pub batch: Batch,
    /// Its completion mask.
    pub mask: Tensor,
    /// Reference sequence log-probs, `[2 * picks]`, in row order (detached).
    pub reference: Tensor,
}

/// Lays out the pairs `picks` of `rows` as a [`PairedBatch`].
pub fn paired_batch(
    policy: &Policy,
    rows: &[(Row, Row)],
    reference: Option<&[[f32; 2]]>,
    picks: &[usize],
) -> Result<PairedBatch> {
    let rows: Vec<Row> = picks
        .iter()
        .map(|&i| rows[i].0.clone())
        .chain(picks.iter().map(|&i| rows[i].1.clone()))
        .collect();
    let padded = pad(&rows, policy.tokenizer.pad_token_id(), LossOn::Completion)?;
    let (batch, mask) = policy.batch(&padded)?;
    let reference = match reference {
        Some(r) => {
            let v: Vec<f32> = picks
                .iter()
                .map(|&i| r[i][0])
                .chain(picks.iter().map(|&i| r[i][1]))
                .collect();
            Tensor::from_vec(v, rows.len(), policy.device())?
        }
        None => policy
            .sequence_logps(&batch, &mask, AdapterMode::Disabled)?
            .detach(),
    };
    Ok(PairedBatch {
        rows,
        batch,
        mask,
        reference,
    })
}
