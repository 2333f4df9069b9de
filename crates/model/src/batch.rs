//! A padded batch of token sequences, and what the model derives from its attention mask:
//! per-row positions and the additive attention bias (causal, padding hidden).

use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};

/// Where padding goes when building a batch from rows of different lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PadSide {
    /// Pad before the tokens (generation: every row's last token is at the end).
    Left,
    /// Pad after the tokens (training).
    Right,
}

/// A batch of padded sequences.
///
/// `input_ids`: `[B, T]` u32; `attention_mask`: `[B, T]` u32, 1 for real tokens, 0 for padding.
/// Left and right padding (or holes) are all allowed: positions are `cumsum(mask) − 1` per row.
#[derive(Debug, Clone)]
pub struct Batch {
    pub input_ids: Tensor,
    pub attention_mask: Tensor,
}

impl Batch {
    /// Checks shapes and dtypes.
    pub fn new(input_ids: Tensor, attention_mask: Tensor) -> Result<Self> {
        let (b, t) = input_ids.dims2().map_err(|_| {
            Error::input(
                "input_ids",
                format!("expected [B, T], got {:?}", input_ids.dims()),
            )
        })?;
        if attention_mask.dims() != [b, t] {
            return Err(Error::Shape {
                name: "attention_mask".into(),
                expected: vec![b, t],
                got: attention_mask.dims().to_vec(),
            });
        }
        for (name, x) in [
            ("input_ids", &input_ids),
            ("attention_mask", &attention_mask),
        ] {
            if x.dtype() != DType::U32 {
                return Err(Error::input(
                    name,
                    format!("expected u32, got {:?}", x.dtype()),
                ));
            }
        }
        if b == 0 || t == 0 {
            return Err(Error::input("batch", "empty"));
        }
        Ok(Self {
            input_ids,
            attention_mask,
        })
    }

    /// Pads `rows` with `pad_id` to the longest row on `side`.
    pub fn from_rows(
        rows: &[Vec<u32>],
        pad_id: u32,
        side: PadSide,
        device: &Device,
    ) -> Result<Self> {
        let t = rows.iter().map(Vec::len).max().unwrap_or(0);
        let b = rows.len();
        let mut ids = Vec::with_capacity(b * t);
        let mut mask = Vec::with_capacity(b * t);
        for row in rows {
            let pad = t - row.len();
            let (pads, reals) = (std::iter::repeat_n(pad_id, pad), row.iter().copied());
            match side {
                PadSide::Left => {
                    ids.extend(pads.chain(reals));
                    mask.extend(
                        std::iter::repeat_n(0u32, pad).chain(std::iter::repeat_n(1, row.len())),
                    );
                }
                PadSide::Right => {
                    ids.extend(reals.chain(pads));
                    mask.extend(
                        std::iter::repeat_n(1u32, row.len()).chain(std::iter::repeat_n(0, pad)),
                    );
                }
            }
        }
        Self::new(
            Tensor::from_vec(ids, (b, t), device)?,
            Tensor::from_vec(mask, (b, t), device)?,
        )
    }

    /// `(B, T)`.
    pub fn dims(&self) -> (usize, usize) {
        let d = self.input_ids.dims();
        (d[0], d[1])
    }

    /// The mask on the host, row-major `[B * T]`, each entry 0 or 1.
    pub(crate) fn host_mask(&self) -> Result<Vec<u32>> {
        let m = self.attention_mask.flatten_all()?.to_vec1::<u32>()?;
        Ok(m.into_iter().map(|x| u32::from(x != 0)).collect())
    }
}

/// Positions `cumsum(mask) − 1` per row (0 on padding), offset by `start[b]` real tokens
/// already seen (the KV cache's per-row lengths; zeros for a full forward).
pub(crate) fn positions(mask: &[u32], b: usize, t: usize, start: &[usize]) -> Vec<u32> {
    let mut pos = Vec::with_capacity(b * t);
    for (row, &s) in mask.chunks(t).zip(start).take(b) {
        let mut seen = s;
        for &m in row {
            seen += m as usize;
            pos.push(if m == 1 { (seen - 1) as u32 } else { 0 });
        }
    }
    pos
}

/// Additive attention bias `[B, 1, 1, T, L]` for `T` new queries over `L` key slots of which
/// the first `L − T` are earlier (cached) slots: query `i` (slot `L − T + i`) sees key `j` when
/// `j ≤ L − T + i` and slot `j` is real. A padding query also sees itself, so no softmax row is
/// empty (padding outputs are then finite garbage that losses mask out, never NaN).
pub(crate) fn attention_bias(
    slot_mask: &[u32],
    b: usize,
    t: usize,
    l: usize,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let mut bias = vec![0f32; b * t * l];
    let past = l - t;
    for (row, slots) in bias.chunks_mut(t * l).zip(slot_mask.chunks(l)) {
        for (i, q) in row.chunks_mut(l).enumerate() {
            let qs = past + i;
            for (j, v) in q.iter_mut().enumerate() {
                let visible = (j <= qs && slots[j] == 1) || j == qs;
                if !visible {
                    *v = f32::NEG_INFINITY;
                }
            }
        }
    }
    Ok(Tensor::from_vec(bias, (b, 1, 1, t, l), device)?.to_dtype(dtype)?)
}
