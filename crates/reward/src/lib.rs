//! Rule-based answer extraction, the training reward and the CauGym benchmark scorer.
//!
//! Extraction is kept apart from scoring (verl's split): [`extract`] finds a completion's final
//! answer or says why there is none; [`Target::parse`] reads a gold string once; the training
//! reward [`CausalReward`] judges the extraction against the target with the weights of a
//! [`RewardConfig`] and returns a [`RewardOutcome`] breakdown; the benchmark scorer
//! ([`official_correct`], [`score_benchmark`]) applies the published rule, which is more lenient
//! (any matching value anywhere in the response counts).
//!
//! Pure Rust, no tensors. Nothing here panics on a completion, whatever it contains.

mod benchmark;
mod config;
mod error;
mod extract;
pub mod official;
mod reward;
mod target;
mod values;

pub use benchmark::{Report, ScoreItem, Tally, score_benchmark, task_set_table};
pub use config::RewardConfig;
pub use error::{Error, Result};
pub use extract::{Extraction, Field, FinalAnswer, THINK_CLOSE, extract, final_section};
pub use official::{OFFICIAL_TOLERANCE, OfficialMatch, official_correct, official_matches};
pub use reward::{AnswerKey, CausalReward, RewardError, RewardFn, RewardOutcome, RewardSummary};
pub use target::{Target, YES_THRESHOLD, yes_no_convention};
pub use values::{ANSWER_KEY, LACK_CONDITION, PROB_KEY};
