//! The expected answer of one problem, parsed once from its gold string.

use caugym_scm::Task;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::values::{ANSWER_KEY, LACK_CONDITION, PROB_KEY, prob_of, yes_no_of};

/// What a correct final answer must say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// The problem lacks the data to be answered: the answer is the literal `LACK_CONDITION`.
    LackCondition,
    /// A numeric estimand, with its verdict.
    Prob {
        /// The gold `PROB`.
        prob: f64,
        /// The gold verdict: the gold's `ANSWER` when it has one, else the CauGym convention for
        /// the task ([`yes_no_convention`]); `None` for PN/PS and for goldens without `ANSWER`
        /// whose task is unknown.
        yes_no: Option<bool>,
        /// Whether the final answer must carry an `ANSWER` key: the task's prompt asks for one
        /// (every task but PN/PS), or, with no task given, the gold has one.
        answer_required: bool,
    },
}

impl Target {
    /// Parses a gold string: the literal `LACK_CONDITION`, or a JSON object such as
    /// `{"ANSWER": "Yes", "PROB": "0.3847"}` whose `PROB` is a number or a numeric string
    /// (`"-0.06"`, `"0"`, `"-0.0"`, `"1.0000"`, `0.5`) and whose optional `ANSWER` is yes/no.
    ///
    /// `task` decides whether `ANSWER` is required of the model and supplies the yes/no verdict when
    /// the gold has none. A gold that cannot be read is an [`Error::Gold`], never a silent zero.
    ///
    /// ```
    /// use caugym_reward::Target;
    /// use caugym_scm::Task;
    ///
    /// let t = Target::parse(r#"{"ANSWER": "No", "PROB": "-0.06"}"#, Some(Task::Ate)).unwrap();
    /// assert_eq!(t, Target::Prob { prob: -0.06, yes_no: Some(false), answer_required: true });
    /// assert_eq!(Target::parse("LACK_CONDITION", None).unwrap(), Target::LackCondition);
    /// assert!(Target::parse(r#"{"PROB": "n/a"}"#, None).is_err());
    /// ```
    pub fn parse(gold: &str, task: Option<Task>) -> Result<Target> {
        let trimmed = gold.trim();
        if trimmed == LACK_CONDITION {
            return Ok(Target::LackCondition);
        }
        let bad = |reason: &str| Error::Gold {
            gold: gold.chars().take(200).collect(),
            reason: reason.to_string(),
        };
        let value: Value = serde_json::from_str(trimmed)
            .map_err(|e| bad(&format!("not LACK_CONDITION and not JSON ({e})")))?;
        let Value::Object(map) = value else {
            return Err(bad("not a JSON object"));
        };
        let prob_value = map.get(PROB_KEY).ok_or_else(|| bad("no PROB key"))?;
        let prob = prob_of(prob_value).ok_or_else(|| bad("PROB is not a finite number"))?;
        let gold_yes_no = match map.get(ANSWER_KEY) {
            None => None,
            Some(v) => Some(yes_no_of(v).ok_or_else(|| bad("ANSWER is not Yes or No"))?),
        };
        let answer_required = task.map_or(gold_yes_no.is_some(), Task::has_yes_no);
        let yes_no = gold_yes_no.or_else(|| task.and_then(|t| yes_no_convention(t, prob)));
        Ok(Target::Prob {
            prob,
            yes_no,
            answer_required,
        })
    }
}

/// The smallest effect the CauGym generator calls "Yes" (causal-tasks.md, "ANSWER").
pub const YES_THRESHOLD: f64 = 0.001;

/// The CauGym convention for the verdict of a task's PROB: `Yes` iff PROB >= 0.001 for ATE, CDE,
/// NDE and NIE, and iff PROB <= -0.001 for ETT (factual minus counterfactual: a negative value
/// means the counterfactual makes y more likely). `None` for PN and PS, which have no verdict.
///
/// The CaLM-derived sets (base, rephrased, omitted) used `PROB > 0` instead; their golds carry an
/// explicit `ANSWER`, which [`Target::parse`] prefers to this rule.
///
/// ```
/// use caugym_reward::yes_no_convention;
/// use caugym_scm::Task;
///
/// assert_eq!(yes_no_convention(Task::Ate, 0.001), Some(true));
/// assert_eq!(yes_no_convention(Task::Ate, 0.0009), Some(false));
/// assert_eq!(yes_no_convention(Task::Ett, -0.2), Some(true));
/// assert_eq!(yes_no_convention(Task::Pn, 0.7), None);
/// ```
pub fn yes_no_convention(task: Task, prob: f64) -> Option<bool> {
    match task {
        Task::Ate | Task::Cde | Task::Nde | Task::Nie => Some(prob >= YES_THRESHOLD),
        Task::Ett => Some(prob <= -YES_THRESHOLD),
        Task::Pn | Task::Ps => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prob(t: &Target) -> f64 {
        match t {
            Target::Prob { prob, .. } => *prob,
            Target::LackCondition => f64::NAN,
        }
    }

    #[test]
    fn gold_prob_forms_compare_as_numbers() {
        for (gold, want) in [
            (r#"{"PROB": "-0.06"}"#, -0.06),
            (r#"{"PROB": "0"}"#, 0.0),
            (r#"{"PROB": "-0.0"}"#, 0.0),
            (r#"{"PROB": "1.0000"}"#, 1.0),
            (r#"{"PROB": 0.3847}"#, 0.3847),
            (r#"  {"ANSWER": "yes", "PROB": "2e-3"}  "#, 0.002),
        ] {
            let t = Target::parse(gold, None).unwrap();
            assert_eq!(prob(&t), want, "{gold}");
        }
    }

    #[test]
    fn answer_requirement_follows_the_task_then_the_gold() {
        let with = r#"{"ANSWER": "Yes", "PROB": "0.5"}"#;
        let without = r#"{"PROB": "0.5"}"#;
        let req = |g, t| match Target::parse(g, t).unwrap() {
            Target::Prob {
                answer_required, ..
            } => answer_required,
            Target::LackCondition => panic!("not a prob"),
        };
        assert!(req(with, None));
        assert!(!req(without, None));
        assert!(req(without, Some(Task::Nde)));
        assert!(!req(without, Some(Task::Ps)));
    }

    #[test]
    fn gold_answer_wins_over_the_convention() {
        // Base-set style: ETT with a positive PROB marked Yes (CaLM's PROB > 0 rule).
        let t = Target::parse(r#"{"ANSWER": "Yes", "PROB": "0.2"}"#, Some(Task::Ett)).unwrap();
        assert!(matches!(
            t,
            Target::Prob {
                yes_no: Some(true),
                ..
            }
        ));
        // Without ANSWER the CauGym rule decides: ETT 0.2 is No, ATE 0.0005 is No, ATE 0.001 Yes.
        let yn = |g, task| match Target::parse(g, Some(task)).unwrap() {
            Target::Prob { yes_no, .. } => yes_no,
            Target::LackCondition => None,
        };
        assert_eq!(yn(r#"{"PROB": 0.2}"#, Task::Ett), Some(false));
        assert_eq!(yn(r#"{"PROB": 0.0005}"#, Task::Ate), Some(false));
        assert_eq!(yn(r#"{"PROB": 0.001}"#, Task::Ate), Some(true));
        assert_eq!(yn(r#"{"PROB": "-0.001"}"#, Task::Ett), Some(true));
        assert_eq!(yn(r#"{"PROB": 0.9}"#, Task::Pn), None);
    }

    #[test]
    fn unreadable_golds_are_errors() {
        for gold in [
            "",
            "lack_condition",
            "0.5",
            "[0.5]",
            r#"{"prob": "0.5"}"#,
            r#"{"PROB": "abc"}"#,
            r#"{"PROB": "NaN"}"#,
            r#"{"PROB": null}"#,
            r#"{"PROB": "0.5", "ANSWER": "maybe"}"#,
            r#"{"PROB": "0.5""#,
        ] {
            let err = Target::parse(gold, None).unwrap_err();
            assert!(matches!(err, Error::Gold { .. }), "{gold}: {err}");
        }
    }
}
