//! Gold answers: reading the benchmark's `answer` strings, writing ours, comparing them.
//!
//! The benchmark's gold is a JSON string such as `{"ANSWER": "Yes", "PROB": "0.1234"}` (PN/PS have
//! no `ANSWER`), or the literal `LACK_CONDITION`. Gold `PROB` strings are written inconsistently
//! (`"-0.06"`, `"0"`, `"1.0000"`), so answers are compared as numbers.

use caugym_scm::Task;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The literal the insufficient set expects when a needed probability is missing.
pub const LACK_CONDITION: &str = "LACK_CONDITION";

/// The benchmark scorer's tolerance: a `PROB` is correct when `|computed - gold| < STRICT_TOL`.
pub const STRICT_TOL: f64 = 5e-4;

/// Which rule decides the Yes/No `ANSWER` (see causal-tasks.md, "ANSWER").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Convention {
    /// CaLM-derived sets (base, rephrased, omitted): `Yes` iff PROB > 0 for all five effects.
    Calm,
    /// CauGym-generated sets and this project's generator: `Yes` iff PROB >= 0.001
    /// (ETT: iff PROB <= -0.001, the counterfactual makes y more likely).
    CauGym,
}

/// A final answer: a probability (with the Yes/No verdict where the task has one) or
/// `LACK_CONDITION`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Answer {
    /// A numeric answer.
    Prob {
        /// The `PROB` value.
        prob: f64,
        /// The `ANSWER` value, `None` for PN/PS (and for gold strings that omit it).
        yes: Option<bool>,
    },
    /// The estimand is not identified by the stated probabilities.
    LackCondition,
}

impl Answer {
    /// The answer for a computed value: `prob` is rounded to 4 decimals and, for tasks with a
    /// Yes/No verdict, `ANSWER` follows `convention`.
    pub fn from_value(task: Task, value: f64, convention: Convention) -> Answer {
        let prob = round4(value);
        let yes = task
            .has_yes_no()
            .then(|| yes_verdict(task, prob, convention));
        Answer::Prob { prob, yes }
    }

    /// Reads a gold `answer` string.
    pub fn parse(text: &str) -> Result<Answer> {
        let trimmed = text.trim();
        if trimmed == LACK_CONDITION {
            return Ok(Answer::LackCondition);
        }
        let err = |reason: &str| Error::Answer {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let value: serde_json::Value = serde_json::from_str(trimmed)
            .map_err(|e| err(&format!("not LACK_CONDITION and not JSON ({e})")))?;
        let obj = value.as_object().ok_or_else(|| err("not a JSON object"))?;
        let prob = match obj.get("PROB") {
            Some(serde_json::Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .map_err(|_| err("`PROB` is not a number"))?,
            Some(serde_json::Value::Number(n)) => {
                n.as_f64().ok_or_else(|| err("`PROB` is not a number"))?
            }
            Some(_) => return Err(err("`PROB` is not a number")),
            None => return Err(err("no `PROB` field")),
        };
        if !prob.is_finite() {
            return Err(err("`PROB` is not finite"));
        }
        let yes = match obj.get("ANSWER") {
            None => None,
            Some(serde_json::Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "yes" => Some(true),
                "no" => Some(false),
                _ => return Err(err("`ANSWER` is neither Yes nor No")),
            },
            Some(_) => return Err(err("`ANSWER` is not a string")),
        };
        Ok(Answer::Prob { prob, yes })
    }

    /// The answer in the benchmark's gold layout: `{"ANSWER": "Yes", "PROB": "0.1234"}`,
    /// `{"PROB": "0.1234"}` or `LACK_CONDITION`. `PROB` always carries 4 decimals.
    pub fn to_gold_string(&self) -> String {
        match self {
            Answer::LackCondition => LACK_CONDITION.to_string(),
            Answer::Prob { prob, yes: Some(y) } => format!(
                "{{\"ANSWER\": \"{}\", \"PROB\": \"{}\"}}",
                if *y { "Yes" } else { "No" },
                format_prob(*prob)
            ),
            Answer::Prob { prob, yes: None } => {
                format!("{{\"PROB\": \"{}\"}}", format_prob(*prob))
            }
        }
    }

    /// Whether `self` (computed) agrees with `gold` under the benchmark's strict rule: both
    /// `LACK_CONDITION`, or both numeric with `|Δ PROB| < STRICT_TOL`. The Yes/No verdict is not
    /// compared, as the official scorer does not compare it either.
    pub fn agrees_with(&self, gold: &Answer) -> bool {
        match (self, gold) {
            (Answer::LackCondition, Answer::LackCondition) => true,
            // A difference of exactly half a unit of the third decimal is a miss; the margin
            // keeps float noise (0.0192 - 0.0187) from deciding it.
            (Answer::Prob { prob: a, .. }, Answer::Prob { prob: b, .. }) => {
                (a - b).abs() < STRICT_TOL - 1e-9
            }
            _ => false,
        }
    }

    /// The numeric `PROB`, if any.
    pub fn prob(&self) -> Option<f64> {
        match self {
            Answer::Prob { prob, .. } => Some(*prob),
            Answer::LackCondition => None,
        }
    }
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_gold_string())
    }
}

/// The Yes/No verdict for a 4-decimal `prob` (see [`Convention`]).
pub fn yes_verdict(task: Task, prob: f64, convention: Convention) -> bool {
    match convention {
        Convention::Calm => prob > 0.0,
        Convention::CauGym if task == Task::Ett => prob <= -0.001 + 1e-12,
        Convention::CauGym => prob >= 0.001 - 1e-12,
    }
}

/// Rounds to 4 decimals, half away from zero, and maps `-0.0` to `0.0`.
pub fn round4(v: f64) -> f64 {
    let r = (v * 10_000.0).round() / 10_000.0;
    if r == 0.0 { 0.0 } else { r }
}

/// Formats a probability with exactly 4 decimals after rounding with [`round4`], never printing
/// `-0.0000`.
pub fn format_prob(v: f64) -> String {
    fmt4(round4(v))
}

/// `v` with exactly 4 decimals (`-0.0600`, `1.0000`), rounded half away from zero, never
/// `-0.0000`. Integer arithmetic: much cheaper than `format!("{:.4}")`, whose exact float printing
/// dominated the generator's profile.
pub fn fmt4(v: f64) -> String {
    let mut s = String::with_capacity(8);
    push_fmt4(&mut s, v);
    s
}

/// Appends [`fmt4`]`(v)` to `out`.
pub fn push_fmt4(out: &mut String, v: f64) {
    use std::fmt::Write;
    let k = (v * 10_000.0).round();
    if !k.is_finite() || k.abs() >= 1e15 {
        let _ = write!(out, "{v:.4}");
        return;
    }
    let k = k as i64;
    if k < 0 {
        out.push('-');
    }
    let a = k.unsigned_abs();
    let _ = write!(out, "{}.{:04}", a / 10_000, a % 10_000);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_gold_spellings() {
        let a = Answer::parse(r#"{"ANSWER": "No", "PROB": "-0.06"}"#).unwrap();
        assert_eq!(
            a,
            Answer::Prob {
                prob: -0.06,
                yes: Some(false)
            }
        );
        assert_eq!(
            Answer::parse(r#"{"PROB": "1.0000"}"#).unwrap().prob(),
            Some(1.0)
        );
        assert_eq!(
            Answer::parse(r#"{"PROB": "-0.0"}"#).unwrap().prob(),
            Some(0.0)
        );
        assert_eq!(
            Answer::parse(" LACK_CONDITION ").unwrap(),
            Answer::LackCondition
        );
        assert!(Answer::parse(r#"{"ANSWER": "Yes"}"#).is_err());
        assert!(Answer::parse("0.25").is_err());
        assert!(Answer::parse(r#"{"PROB": "x"}"#).is_err());
    }

    #[test]
    fn strict_rule_is_a_half_unit_of_the_third_decimal() {
        let gold = Answer::parse(r#"{"PROB": "0.239"}"#).unwrap();
        let near = Answer::Prob {
            prob: 0.2394,
            yes: None,
        };
        let far = Answer::Prob {
            prob: 0.2395,
            yes: None,
        };
        assert!(near.agrees_with(&gold));
        assert!(!far.agrees_with(&gold));
        assert!(!Answer::LackCondition.agrees_with(&gold));
        let half = Answer::Prob {
            prob: 0.0187,
            yes: None,
        };
        assert!(!half.agrees_with(&Answer::parse(r#"{"PROB": "0.0192"}"#).unwrap()));
        assert!(Answer::LackCondition.agrees_with(&Answer::LackCondition));
    }

    #[test]
    fn writes_four_decimals_and_the_verdict_by_convention() {
        let a = Answer::from_value(Task::Ett, -0.0032, Convention::CauGym);
        assert_eq!(
            a.to_gold_string(),
            r#"{"ANSWER": "Yes", "PROB": "-0.0032"}"#
        );
        let b = Answer::from_value(Task::Ett, -0.0032, Convention::Calm);
        assert_eq!(b.to_gold_string(), r#"{"ANSWER": "No", "PROB": "-0.0032"}"#);
        let c = Answer::from_value(Task::Ate, 0.0009, Convention::CauGym);
        assert_eq!(c.to_gold_string(), r#"{"ANSWER": "No", "PROB": "0.0009"}"#);
        let d = Answer::from_value(Task::Pn, 0.23897, Convention::CauGym);
        assert_eq!(d.to_gold_string(), r#"{"PROB": "0.2390"}"#);
        assert_eq!(format_prob(-0.00004), "0.0000");
        for (v, want) in [
            (0.06, "0.0600"),
            (-0.06, "-0.0600"),
            (1.0, "1.0000"),
            (0.0, "0.0000"),
            (-0.0, "0.0000"),
            (12.34567, "12.3457"),
            (0.00005, "0.0001"),
            (-0.00004, "0.0000"),
        ] {
            assert_eq!(fmt4(v), want, "{v}");
        }
        // Agrees with the standard formatter on every printed 4-decimal number.
        for k in (-10_000i32..=10_000).step_by(7) {
            let v = f64::from(k) / 10_000.0;
            assert_eq!(
                fmt4(v),
                format!("{v:.4}").replace("-0.0000", "0.0000"),
                "{v}"
            );
        }
    }
}
