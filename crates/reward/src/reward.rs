//! The training reward: one score per completion, with a breakdown for logging.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::RewardConfig;
use crate::error::{Error, Result};
use crate::extract::{Extraction, Field, FinalAnswer, THINK_CLOSE, extract};
use crate::target::Target;

/// An answer key, as named in [`RewardError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum AnswerKey {
    /// `PROB`.
    Prob,
    /// `ANSWER`.
    Answer,
}

/// Why a completion did not earn the full reward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum RewardError {
    /// Nothing answer-like in the final section.
    NoAnswer,
    /// No `</think>` while the config requires one (unfinished reasoning).
    UnclosedThink,
    /// Answer-like text that is not a readable JSON answer, or that follows the last readable one.
    Malformed,
    /// A readable answer object that the benchmark's scorer cannot read (first key not `ANSWER`
    /// or `PROB`, or a `}` inside it).
    OfficialUnreadable,
    /// The answer object lacks a key the task needs.
    MissingKey(AnswerKey),
    /// A key holds an unusable value (`PROB` not a finite number, `ANSWER` not yes/no).
    InvalidValue(AnswerKey),
    /// `PROB` is outside the tolerance of the gold.
    WrongValue,
    /// `PROB` is right but `ANSWER` disagrees with the gold (only with `check_yes_no`).
    WrongYesNo,
    /// The data is insufficient, but the model gave a number.
    ExpectedLackCondition,
    /// The data suffices, but the model answered `LACK_CONDITION`.
    UnexpectedLackCondition,
}

impl RewardError {
    /// Every kind, in a fixed order (for metric tables with zero counts).
    pub const ALL: [RewardError; 12] = [
        RewardError::NoAnswer,
        RewardError::UnclosedThink,
        RewardError::Malformed,
        RewardError::OfficialUnreadable,
        RewardError::MissingKey(AnswerKey::Prob),
        RewardError::MissingKey(AnswerKey::Answer),
        RewardError::InvalidValue(AnswerKey::Prob),
        RewardError::InvalidValue(AnswerKey::Answer),
        RewardError::WrongValue,
        RewardError::WrongYesNo,
        RewardError::ExpectedLackCondition,
        RewardError::UnexpectedLackCondition,
    ];

    /// A short snake_case name for logs and metric keys.
    pub fn label(self) -> &'static str {
        match self {
            RewardError::NoAnswer => "no_answer",
            RewardError::UnclosedThink => "unclosed_think",
            RewardError::Malformed => "malformed",
            RewardError::OfficialUnreadable => "official_unreadable",
            RewardError::MissingKey(AnswerKey::Prob) => "missing_prob",
            RewardError::MissingKey(AnswerKey::Answer) => "missing_answer",
            RewardError::InvalidValue(AnswerKey::Prob) => "invalid_prob",
            RewardError::InvalidValue(AnswerKey::Answer) => "invalid_answer",
            RewardError::WrongValue => "wrong_value",
            RewardError::WrongYesNo => "wrong_yes_no",
            RewardError::ExpectedLackCondition => "expected_lack_condition",
            RewardError::UnexpectedLackCondition => "unexpected_lack_condition",
        }
    }

    /// Whether the final answer was well-formed despite this error (the answer is wrong, not
    /// its form), so the format weight is still earned.
    pub fn format_ok(self) -> bool {
        matches!(self, RewardError::WrongValue | RewardError::WrongYesNo)
    }

    /// Whether the completion had no answer at all, so the no-answer penalty applies.
    pub fn is_no_answer(self) -> bool {
        matches!(self, RewardError::NoAnswer | RewardError::UnclosedThink)
    }
}

/// The score of one completion and what it was made of.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RewardOutcome {
    /// The reward.
    pub score: f64,
    /// Whether the final answer had the form the target needs.
    pub format_ok: bool,
    /// The final answer's `PROB`, when it had a usable one.
    pub parsed: Option<f64>,
    /// The final answer's `ANSWER` (`true` for yes), when it had a usable one.
    pub yes_no: Option<bool>,
    /// Why the completion is not fully right; `None` when it is.
    pub error: Option<RewardError>,
}

impl RewardOutcome {
    /// Whether the completion earned the accuracy weight.
    pub fn is_correct(&self) -> bool {
        self.error.is_none()
    }

    /// `"correct"` or the error's [`RewardError::label`].
    pub fn label(&self) -> &'static str {
        self.error.map_or("correct", RewardError::label)
    }
}

/// A reward function as the trainers call it: one outcome per completion.
pub trait RewardFn {
    /// Scores one completion against its target. Never fails: every completion gets a score.
    fn score(&self, completion: &str, target: &Target) -> RewardOutcome;

    /// Scores a batch; `targets[i]` belongs to `completions[i]` (a GRPO group repeats its target G
    /// times). Fails only when the two lengths differ.
    fn score_batch(
        &self,
        completions: &[String],
        targets: &[Target],
    ) -> Result<Vec<RewardOutcome>> {
        if completions.len() != targets.len() {
            return Err(Error::BatchLength {
                completions: completions.len(),
                targets: targets.len(),
            });
        }
        Ok(completions
            .iter()
            .zip(targets)
            .map(|(c, t)| self.score(c, t))
            .collect())
    }
}

/// The rule-based CauGym reward: final-answer accuracy plus format ([`RewardConfig`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CausalReward {
    config: RewardConfig,
}

impl CausalReward {
    /// Builds the reward from a config, validating it first.
    pub fn new(config: RewardConfig) -> Result<Self> {
        config.validate()?;
        Ok(CausalReward { config })
    }

    /// The config it was built from.
    pub fn config(&self) -> &RewardConfig {
        &self.config
    }

    /// The outcome for an error, or for a correct answer when `error` is `None`.
    fn outcome(
        &self,
        error: Option<RewardError>,
        parsed: Option<f64>,
        yes_no: Option<bool>,
    ) -> RewardOutcome {
        let cfg = &self.config;
        let format_ok = error.is_none_or(RewardError::format_ok);
        let score = match error {
            None => cfg.format_weight + cfg.accuracy_weight,
            Some(e) if e.is_no_answer() => -cfg.no_answer_penalty,
            Some(_) if format_ok => cfg.format_weight,
            Some(_) => 0.0,
        };
        RewardOutcome {
            score,
            format_ok,
            parsed,
            yes_no,
            error,
        }
    }

    /// Judges a JSON answer against a numeric gold; returns the first error found, if any.
    fn judge(
        &self,
        answer: &FinalAnswer,
        gold: f64,
        gold_yes_no: Option<bool>,
        answer_required: bool,
    ) -> Option<RewardError> {
        let cfg = &self.config;
        let pred = match answer.prob {
            Field::Missing => return Some(RewardError::MissingKey(AnswerKey::Prob)),
            Field::Invalid => return Some(RewardError::InvalidValue(AnswerKey::Prob)),
            Field::Value(p) => p,
        };
        if answer_required {
            match answer.yes_no {
                Field::Missing => return Some(RewardError::MissingKey(AnswerKey::Answer)),
                Field::Invalid => return Some(RewardError::InvalidValue(AnswerKey::Answer)),
                Field::Value(_) => {}
            }
        }
        if cfg.require_official_format && !answer.official_readable {
            return Some(RewardError::OfficialUnreadable);
        }
        if (pred - gold).abs() >= cfg.tolerance {
            return Some(RewardError::WrongValue);
        }
        let yes_no_wrong = cfg.check_yes_no
            && answer_required
            && gold_yes_no.is_some_and(|g| answer.yes_no.value() != Some(g));
        yes_no_wrong.then_some(RewardError::WrongYesNo)
    }
}

impl RewardFn for CausalReward {
    /// ```
    /// use caugym_reward::{CausalReward, RewardConfig, RewardError, RewardFn, Target};
    /// use caugym_scm::Task;
    ///
    /// let reward = CausalReward::new(RewardConfig::default()).unwrap(); // format 0.1, accuracy 1.0
    /// let gold = Target::parse(r#"{"ANSWER": "Yes", "PROB": "0.3847"}"#, Some(Task::Ate)).unwrap();
    ///
    /// let right = reward.score("...</think>{\"ANSWER\": \"Yes\", \"PROB\": 0.3849}", &gold);
    /// assert_eq!((right.score, right.error), (1.1, None));
    /// let wrong = reward.score("{\"ANSWER\": \"Yes\", \"PROB\": \"0.40\"}", &gold);
    /// assert_eq!((wrong.score, wrong.error), (0.1, Some(RewardError::WrongValue)));
    /// let none = reward.score("I give up.", &gold);
    /// assert_eq!(none.label(), "no_answer");
    /// ```
    fn score(&self, completion: &str, target: &Target) -> RewardOutcome {
        if self.config.require_think_close && !completion.contains(THINK_CLOSE) {
            return self.outcome(Some(RewardError::UnclosedThink), None, None);
        }
        let extraction = extract(completion);
        let (parsed, yes_no) = match &extraction {
            Extraction::Answer(a) => (a.prob.value(), a.yes_no.value()),
            _ => (None, None),
        };
        let error = match (&extraction, target) {
            (Extraction::NoAnswer, _) => Some(RewardError::NoAnswer),
            (Extraction::Malformed, _) => Some(RewardError::Malformed),
            (Extraction::LackCondition, Target::LackCondition) => None,
            (Extraction::LackCondition, Target::Prob { .. }) => {
                Some(RewardError::UnexpectedLackCondition)
            }
            (Extraction::Answer(_), Target::LackCondition) => {
                Some(RewardError::ExpectedLackCondition)
            }
            (
                Extraction::Answer(answer),
                Target::Prob {
                    prob,
                    yes_no,
                    answer_required,
                },
            ) => self.judge(answer, *prob, *yes_no, *answer_required),
        };
        self.outcome(error, parsed, yes_no)
    }
}

/// Batch statistics of reward outcomes, for logging.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RewardSummary {
    /// Number of outcomes.
    pub count: usize,
    /// Mean score (0 for an empty batch).
    pub mean_score: f64,
    /// Fraction with a well-formed final answer.
    pub format_ok_rate: f64,
    /// Fraction fully correct.
    pub correct_rate: f64,
    /// Count per label: `"correct"` and every [`RewardError::label`], zeros included.
    pub counts: BTreeMap<&'static str, usize>,
}

impl RewardSummary {
    /// Summarises a batch.
    ///
    /// ```
    /// use caugym_reward::{CausalReward, RewardConfig, RewardFn, RewardSummary, Target};
    ///
    /// let reward = CausalReward::new(RewardConfig::default()).unwrap();
    /// let gold = Target::parse(r#"{"PROB": "0.5"}"#, None).unwrap();
    /// let out = reward
    ///     .score_batch(&["{\"PROB\": 0.5}".into(), "no idea".into()], &[gold, gold])
    ///     .unwrap();
    /// let s = RewardSummary::from_outcomes(&out);
    /// assert_eq!((s.count, s.correct_rate, s.counts["no_answer"]), (2, 0.5, 1));
    /// assert!((s.mean_score - 0.55).abs() < 1e-12);
    /// ```
    pub fn from_outcomes(outcomes: &[RewardOutcome]) -> RewardSummary {
        let mut counts: BTreeMap<&'static str, usize> = std::iter::once("correct")
            .chain(RewardError::ALL.iter().map(|e| e.label()))
            .map(|l| (l, 0))
            .collect();
        for o in outcomes {
            *counts.entry(o.label()).or_insert(0) += 1;
        }
        let n = outcomes.len();
        let rate = |k: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
        RewardSummary {
            count: n,
            mean_score: if n == 0 {
                0.0
            } else {
                outcomes.iter().map(|o| o.score).sum::<f64>() / n as f64
            },
            format_ok_rate: rate(outcomes.iter().filter(|o| o.format_ok).count()),
            correct_rate: rate(outcomes.iter().filter(|o| o.is_correct()).count()),
            counts,
        }
    }
}
