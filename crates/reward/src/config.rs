//! The `[reward]` table of a training config.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::official::OFFICIAL_TOLERANCE;

/// Weights and switches of the rule-based reward ([`crate::CausalReward`]).
///
/// A completion scores `format_weight` when its final answer has the form the target needs (the
/// keys the task asks for, readable values, or `LACK_CONDITION` where the data is insufficient),
/// plus `accuracy_weight` when it is also right; `-no_answer_penalty` when it has no answer at all;
/// 0 otherwise. Scores therefore lie in [`RewardConfig::score_range`].
///
/// ```
/// use caugym_reward::RewardConfig;
///
/// let cfg: RewardConfig = toml::from_str("format_weight = 0.2\ncheck_yes_no = true").unwrap();
/// assert_eq!(cfg.accuracy_weight, 1.0);
/// assert_eq!(cfg.tolerance, 5e-4);
/// assert!(toml::from_str::<RewardConfig>("format_wieght = 0.2").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardConfig {
    /// Score for a well-formed final answer, right or wrong. Default 0.1, >= 0. Small next to
    /// `accuracy_weight` so that the format is learnt early without being the goal (the CauGym
    /// paper's reward is "final-answer accuracy plus format").
    #[serde(default = "default_format_weight")]
    pub format_weight: f64,
    /// Extra score for a correct final answer. Default 1.0, >= 0.
    #[serde(default = "default_accuracy_weight")]
    pub accuracy_weight: f64,
    /// A `PROB` is correct when `|pred - gold| < tolerance` (strict). Default 5e-4, the
    /// benchmark's; in (0, 1].
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// Also require the `ANSWER` yes/no to equal the gold's (or, when the gold has none, the CauGym
    /// convention for the task). Default false: the benchmark ignores `ANSWER`, and the CaLM-derived
    /// sets follow another yes/no convention than generated data.
    #[serde(default = "default_check_yes_no")]
    pub check_yes_no: bool,
    /// Subtracted when a completion has no answer at all (nothing answer-like after `</think>`, or
    /// no `</think>` when `require_think_close` is set). Default 0.0, >= 0; a small value (0.1)
    /// discourages rambling past the token limit.
    #[serde(default = "default_no_answer_penalty")]
    pub no_answer_penalty: f64,
    /// Treat a completion without `</think>` as unfinished reasoning with no answer. Default false;
    /// set it for reasoning models whose chat template opens `<think>` in the prompt.
    #[serde(default = "default_require_think_close")]
    pub require_think_close: bool,
    /// Count a final answer as well-formed only if the benchmark's own scorer reads it (first key
    /// `ANSWER` or `PROB`, no `}` inside). Default true: otherwise training rewards answers the
    /// benchmark scores wrong.
    #[serde(default = "default_require_official_format")]
    pub require_official_format: bool,
}

fn default_format_weight() -> f64 {
    0.1
}
fn default_accuracy_weight() -> f64 {
    1.0
}
fn default_tolerance() -> f64 {
    OFFICIAL_TOLERANCE
}
fn default_check_yes_no() -> bool {
    false
}
fn default_no_answer_penalty() -> f64 {
    0.0
}
fn default_require_think_close() -> bool {
    false
}
fn default_require_official_format() -> bool {
    true
}

impl Default for RewardConfig {
    fn default() -> Self {
        RewardConfig {
            format_weight: default_format_weight(),
            accuracy_weight: default_accuracy_weight(),
            tolerance: default_tolerance(),
            check_yes_no: default_check_yes_no(),
            no_answer_penalty: default_no_answer_penalty(),
            require_think_close: default_require_think_close(),
            require_official_format: default_require_official_format(),
        }
    }
}

impl RewardConfig {
    /// Checks every value's range; the error names the key (`reward.<key>`) and the fix.
    ///
    /// ```
    /// use caugym_reward::{Error, RewardConfig};
    ///
    /// let cfg = RewardConfig { tolerance: 0.0, ..RewardConfig::default() };
    /// assert!(matches!(cfg.validate(), Err(Error::Config { key: "tolerance", .. })));
    /// ```
    pub fn validate(&self) -> Result<()> {
        non_negative("format_weight", self.format_weight)?;
        non_negative("accuracy_weight", self.accuracy_weight)?;
        non_negative("no_answer_penalty", self.no_answer_penalty)?;
        if self.format_weight + self.accuracy_weight <= 0.0 {
            return Err(Error::Config {
                key: "accuracy_weight",
                reason: "format_weight and accuracy_weight are both 0, so every answer scores \
                         the same; set accuracy_weight = 1.0"
                    .into(),
            });
        }
        if !(self.tolerance > 0.0 && self.tolerance <= 1.0) {
            return Err(Error::Config {
                key: "tolerance",
                reason: format!(
                    "{} is not in (0, 1]; the benchmark uses 5e-4 (half a unit of the 4th decimal)",
                    self.tolerance
                ),
            });
        }
        Ok(())
    }

    /// The lowest and highest score a completion can get: `(-no_answer_penalty, format_weight +
    /// accuracy_weight)`.
    pub fn score_range(&self) -> (f64, f64) {
        (
            -self.no_answer_penalty,
            self.format_weight + self.accuracy_weight,
        )
    }
}

fn non_negative(key: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(Error::Config {
            key,
            reason: format!("{value} is not a finite number >= 0"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_table_gives_the_documented_defaults() {
        let cfg: RewardConfig = toml::from_str("").unwrap();
        assert_eq!(cfg, RewardConfig::default());
        assert_eq!(
            (cfg.format_weight, cfg.accuracy_weight, cfg.tolerance),
            (0.1, 1.0, 5e-4)
        );
        assert_eq!(cfg.no_answer_penalty, 0.0);
        assert!(!cfg.check_yes_no && !cfg.require_think_close && cfg.require_official_format);
        assert!(cfg.validate().is_ok());
    }

    #[test]
    fn validate_names_the_bad_key() {
        let base = RewardConfig::default();
        let key_of = |cfg: RewardConfig| match cfg.validate() {
            Err(Error::Config { key, .. }) => key,
            other => panic!("expected a config error, got {other:?}"),
        };
        let c = RewardConfig {
            format_weight: -0.1,
            ..base.clone()
        };
        assert_eq!(key_of(c), "format_weight");
        let c = RewardConfig {
            accuracy_weight: f64::NAN,
            ..base.clone()
        };
        assert_eq!(key_of(c), "accuracy_weight");
        let c = RewardConfig {
            no_answer_penalty: f64::INFINITY,
            ..base.clone()
        };
        assert_eq!(key_of(c), "no_answer_penalty");
        let c = RewardConfig {
            format_weight: 0.0,
            accuracy_weight: 0.0,
            ..base.clone()
        };
        assert_eq!(key_of(c), "accuracy_weight");
        let c = RewardConfig {
            tolerance: 2.0,
            ..base.clone()
        };
        assert_eq!(key_of(c), "tolerance");
        let c = RewardConfig {
            tolerance: f64::NAN,
            ..base
        };
        assert_eq!(key_of(c), "tolerance");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = toml::from_str::<RewardConfig>("tolerence = 1e-3").unwrap_err();
        assert!(err.to_string().contains("tolerence"), "{err}");
    }
}
