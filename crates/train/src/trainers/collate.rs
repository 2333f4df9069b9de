//! Batching prompt + completion token rows for the training forward.
//!
//! Rows are right-padded. The completion mask is aligned with the model's next-token
//! log-probs, whose column `j` scores token `j + 1`. Two rows, prompts `[p p]` and `[p]`,
//! completions `[c c e]` and `[c e]` (`e` = end of sequence), pad `_`:
//!
//! ```text
//! input_ids        p p c c e      attention_mask   1 1 1 1 1
//!                  p c e _ _                       1 1 1 0 0
//! completion_mask    0 1 1 1      (column j scores token j + 1)
//!                    1 1 0 0
//! ```

use crate::{Error, Result};

/// One training row: prompt tokens, then completion tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Prompt token ids.
    pub prompt: Vec<u32>,
    /// Completion token ids (including the end-of-sequence token when it was produced).
    pub completion: Vec<u32>,
}

/// Padded rows as flat host vectors.
#[derive(Clone, Debug, PartialEq)]
pub struct Padded {
    /// Rows.
    pub rows: usize,
    /// Padded length T.
    pub len: usize,
    /// `[B, T]` token ids, padding = the pad id.
    pub input_ids: Vec<u32>,
    /// `[B, T]` 1 on real tokens.
    pub attention_mask: Vec<u32>,
    /// `[B, T - 1]` 1 on targets that count in the loss.
    pub completion_mask: Vec<f32>,
}

/// Which targets count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossOn {
    /// Completion tokens only (TRL `completion_only_loss`).
    Completion,
    /// Every real token after the first.
    All,
}

/// Right-pads `rows` with `pad_id`. Rows need at least 2 tokens in all and a completion
/// token when only completions count.
pub fn pad(rows: &[Row], pad_id: u32, loss_on: LossOn) -> Result<Padded> {
    if rows.is_empty() {
        return Err(Error::Input {
            what: "rows",
            reason: "an empty batch".to_string(),
        });
    }
    let len = rows
        .iter()
        .map(|r| r.prompt.len() + r.completion.len())
        .max()
        .unwrap_or(0);
    if len < 2 {
        return Err(Error::Input {
            what: "rows",
            reason: "sequences need at least 2 tokens".to_string(),
        });
    }
    let b = rows.len();
    let mut input_ids = Vec::with_capacity(b * len);
    let mut attention_mask = Vec::with_capacity(b * len);
    let mut completion_mask = Vec::with_capacity(b * (len - 1));
    for (i, r) in rows.iter().enumerate() {
        let (p, c) = (r.prompt.len(), r.completion.len());
        if loss_on == LossOn::Completion && (c == 0 || p == 0) {
            return Err(Error::Input {
                what: "rows",
                reason: format!("row {i} needs a non-empty prompt and completion"),
            });
        }
        input_ids.extend(r.prompt.iter().chain(&r.completion).copied());
        input_ids.extend(std::iter::repeat_n(pad_id, len - p - c));
        attention_mask.extend(std::iter::repeat_n(1u32, p + c));
        attention_mask.extend(std::iter::repeat_n(0u32, len - p - c));
        let first = match loss_on {
            LossOn::Completion => p,
            LossOn::All => 1,
        };
        completion_mask.extend((1..len).map(|tok| {
            if tok >= first && tok < p + c {
                1.0
            } else {
                0.0
            }
        }));
    }
    Ok(Padded {
        rows: b,
        len,
        input_ids,
        attention_mask,
        completion_mask,
    })
}

/// Truncates a prompt + completion to `max_len` tokens from the right (SFT `max_length`); the
/// prompt keeps at least one token and is cut only when it alone is too long.
pub fn truncate(row: &mut Row, max_len: usize) {
    let total = row.prompt.len() + row.completion.len();
    if total <= max_len {
        return;
    }
    let keep_completion = max_len.saturating_sub(row.prompt.len());
    row.completion.truncate(keep_completion);
    if row.prompt.len() > max_len {
        row.prompt.truncate(max_len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example() {
        // p = 1, c = 2, e = 3, pad = 0.
        let rows = [
            Row {
                prompt: vec![1, 1],
                completion: vec![2, 2, 3],
            },
            Row {
                prompt: vec![1],
                completion: vec![2, 3],
            },
        ];
        let p = pad(&rows, 0, LossOn::Completion).unwrap();
        assert_eq!((p.rows, p.len), (2, 5));
        assert_eq!(p.input_ids, [1, 1, 2, 2, 3, 1, 2, 3, 0, 0]);
        assert_eq!(p.attention_mask, [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
        assert_eq!(p.completion_mask, [0., 1., 1., 1., 1., 1., 0., 0.]);
        let all = pad(&rows, 0, LossOn::All).unwrap();
        assert_eq!(all.completion_mask, [1., 1., 1., 1., 1., 1., 0., 0.]);
    }

    #[test]
    fn bad_rows_are_errors() {
        assert!(pad(&[], 0, LossOn::All).is_err());
        let empty = Row {
            prompt: vec![1],
            completion: vec![],
        };
        assert!(pad(&[empty], 0, LossOn::Completion).is_err());
    }

    #[test]
    fn truncation_cuts_the_completion_first() {
        let mut r = Row {
            prompt: vec![1, 2, 3],
            completion: vec![4, 5, 6],
        };
        truncate(&mut r, 5);
        assert_eq!(
            (r.prompt.as_slice(), r.completion.as_slice()),
            (&[1, 2, 3][..], &[4, 5][..])
        );
        truncate(&mut r, 2);
        assert_eq!(
            (r.prompt.as_slice(), r.completion.as_slice()),
            (&[1, 2][..], &[][..])
        );
    }
}
