//! The crate's single error type.
//!
//! Every variant says *where* the problem is (file, line or item, field, sentence) so that a user
//! holding a 700-item benchmark file can go straight to the offending spot.

use std::path::PathBuf;

/// Result alias used throughout `caugym-data`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while reading, parsing, solving, rendering or generating items.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },

    /// A dataset record is not valid JSON or lacks / mistypes a field.
    #[error("{}: {location}: {what}", path.display())]
    Record {
        /// The dataset file.
        path: PathBuf,
        /// `line N` for JSONL, `item N` for a JSON array (both 1-based for lines, 0-based for items).
        location: String,
        /// What is wrong, naming the field.
        what: String,
    },

    /// A problem text could not be read; `part` names the piece of the prompt (header, data
    /// sentence, question, ...) and `text` quotes it.
    #[error("cannot read the {part}: {reason} (in `{text}`)")]
    Parse {
        /// Which part of the prompt.
        part: &'static str,
        /// Why it could not be read.
        reason: String,
        /// The offending text (possibly shortened).
        text: String,
    },

    /// A gold answer string is neither `LACK_CONDITION` nor a JSON object with a numeric `PROB`.
    #[error("cannot read the gold answer `{text}`: {reason}")]
    Answer {
        /// The answer text.
        text: String,
        /// Why it is unreadable.
        reason: String,
    },

    /// A `Problem` is internally inconsistent (node index out of range, missing value word, ...).
    #[error("invalid problem: {0}")]
    Invalid(String),

    /// The generator could not build an item with the requested settings.
    #[error("generator: {0}")]
    Generate(String),

    /// An error of the SCM engine, passed through.
    #[error(transparent)]
    Scm(#[from] caugym_scm::Error),

    /// JSON serialisation failed while writing.
    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// A parse error, quoting at most 160 characters of the offending text.
    pub(crate) fn parse(part: &'static str, reason: impl Into<String>, text: &str) -> Self {
        let text = if text.chars().count() > 160 {
            let short: String = text.chars().take(157).collect();
            format!("{short}...")
        } else {
            text.to_string()
        };
        Error::Parse {
            part,
            reason: reason.into(),
            text,
        }
    }
}
