//! `[sft]`: supervised fine-tuning on worked solutions (TRL `SFTConfig` names).

use serde::{Deserialize, Serialize};

use super::check::positive_count;
use crate::Result;

/// The `[sft]` table. The loss is the completion tokens' NLL normalised over the tokens of the
/// whole accumulated batch (algorithms.md "SFT").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SftConfig {
    /// Train on completion tokens only (prompt tokens masked out of the loss). Default true
    /// (TRL `completion_only_loss`).
    #[serde(default = "default_completion_only_loss")]
    pub completion_only_loss: bool,
    /// Longest prompt + completion in tokens; longer examples are cut from the right (the end
    /// of the completion is lost, so keep it above the data's length). Default 1024, >= 2.
    #[serde(default = "default_max_length")]
    pub max_length: usize,
    /// The target of a CauGym item (generated, or a record with `problem`/`solution`/`answer`):
    /// `solution`, the worked solution ending in `Answer: {json}`; or `answer`, that final line
    /// alone (a tiny model learns it in minutes). A record's own `completion` field is always
    /// used as it is. Default `solution`.
    #[serde(default = "default_completion")]
    pub completion: SftTarget,
}

/// What an SFT example of a CauGym item is trained to produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SftTarget {
    /// The worked solution.
    Solution,
    /// `Answer: {json}` only.
    Answer,
}

fn default_completion_only_loss() -> bool {
    true
}
fn default_max_length() -> usize {
    1024
}
fn default_completion() -> SftTarget {
    SftTarget::Solution
}

impl Default for SftConfig {
    fn default() -> Self {
        Self {
            completion_only_loss: default_completion_only_loss(),
            max_length: default_max_length(),
            completion: default_completion(),
        }
    }
}

impl SftConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        positive_count("sft.max_length", self.max_length.saturating_sub(1))
            .map_err(|_| crate::Error::setting("sft.max_length", "must be at least 2"))
    }
}
