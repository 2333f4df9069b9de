//! The crate's one error type.
//!
//! Only inputs the caller controls can fail: a gold string, a config, the shape of a batch, the
//! benchmark's item list. A model completion never produces an `Error`; whatever it contains is
//! scored (see [`crate::RewardError`] for the ways a completion can be wrong).

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A gold answer that is neither `LACK_CONDITION` nor a JSON object with a numeric `PROB`.
    ///
    /// An unreadable gold is a data bug, never a zero reward: the item must be fixed or dropped.
    #[error("unreadable gold answer `{gold}`: {reason}")]
    Gold {
        /// The gold string as given (cut to 200 characters).
        gold: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `[reward]` config value outside its valid range.
    #[error("invalid config `reward.{key}`: {reason}")]
    Config {
        /// The TOML key, without the `reward.` table prefix.
        key: &'static str,
        /// Why the value is rejected and what to use instead.
        reason: String,
    },
    /// A batch whose completion and target lists differ in length.
    #[error(
        "batch has {completions} completions but {targets} targets (one target per completion)"
    )]
    BatchLength {
        /// Number of completions.
        completions: usize,
        /// Number of targets.
        targets: usize,
    },
    /// Two benchmark items share an id, so their responses could not be told apart.
    #[error("benchmark item id `{id}` occurs more than once")]
    DuplicateId {
        /// The repeated id.
        id: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
