//! The seven CauGym estimands, named as the benchmark names them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One of the seven causal tasks of CauGym (see `shared/docs/causal-tasks.md`).
///
/// Serialised as the benchmark's `Type` field: `"ATE"`, `"CDE"`, … .
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Task {
    /// Average treatment effect: P(y|do(x)) - P(y|do(x')).
    #[serde(rename = "ATE")]
    Ate,
    /// Controlled direct effect: P(y|do(x,m)) - P(y|do(x',m)).
    #[serde(rename = "CDE")]
    Cde,
    /// Effect of treatment on the treated: P(y|x) - P(y_{x'}|x).
    #[serde(rename = "ETT")]
    Ett,
    /// Natural direct effect: P(y_{x, M_{x'}}) - P(y_{x'}).
    #[serde(rename = "NDE")]
    Nde,
    /// Natural indirect effect: P(y_{x', M_x}) - P(y_{x'}).
    #[serde(rename = "NIE")]
    Nie,
    /// Probability of necessity (Tian–Pearl bounds).
    #[serde(rename = "PN")]
    Pn,
    /// Probability of sufficiency (Tian–Pearl bounds).
    #[serde(rename = "PS")]
    Ps,
}

impl Task {
    /// All seven tasks in the benchmark's order.
    pub const ALL: [Task; 7] = [
        Task::Ate,
        Task::Cde,
        Task::Ett,
        Task::Nde,
        Task::Nie,
        Task::Pn,
        Task::Ps,
    ];

    /// The abbreviation the benchmark prints (`"ATE"`).
    pub fn abbr(self) -> &'static str {
        match self {
            Task::Ate => "ATE",
            Task::Cde => "CDE",
            Task::Ett => "ETT",
            Task::Nde => "NDE",
            Task::Nie => "NIE",
            Task::Pn => "PN",
            Task::Ps => "PS",
        }
    }

    /// The long name used in the `Instruction:` line.
    pub fn long_name(self) -> &'static str {
        match self {
            Task::Ate => "average treatment effect",
            Task::Cde => "controlled direct effect",
            Task::Ett => "effect of treatment on the treated",
            Task::Nde => "natural direct effect",
            Task::Nie => "natural indirect effect",
            Task::Pn => "probability of necessity",
            Task::Ps => "probability of sufficiency",
        }
    }

    /// Whether the answer carries a Yes/No `ANSWER` key besides `PROB` (PN and PS do not).
    pub fn has_yes_no(self) -> bool {
        !matches!(self, Task::Pn | Task::Ps)
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.abbr())
    }
}

/// Error of [`Task::from_str`]: the text names no task.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown task `{0}` (expected one of ATE, CDE, ETT, NDE, NIE, PN, PS)")]
pub struct UnknownTask(pub String);

impl FromStr for Task {
    type Err = UnknownTask;

    /// Case-insensitive: `ate`, `ATE` and ` Ate ` all parse.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        Task::ALL
            .into_iter()
            .find(|task| task.abbr().eq_ignore_ascii_case(t))
            .ok_or_else(|| UnknownTask(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_every_task() {
        for t in Task::ALL {
            assert_eq!(t.abbr().parse::<Task>().unwrap(), t);
            assert_eq!(t.abbr().to_lowercase().parse::<Task>().unwrap(), t);
            assert_eq!(
                serde_json::to_string(&t).unwrap(),
                format!("\"{}\"", t.abbr())
            );
        }
        assert!("ATT".parse::<Task>().is_err());
        assert!(!Task::Pn.has_yes_no() && Task::Ett.has_yes_no());
    }
}
