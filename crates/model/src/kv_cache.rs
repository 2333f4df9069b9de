//! Incremental decoding with a preallocated KV cache, for batched sampling.
//!
//! Each layer owns two buffers `[B, kv_heads, max_len, head_dim]` allocated once; every step
//! writes its keys and values in place (`slice_set`) at the next free slot, so no tensor grows
//! by concatenation. Slots are shared by all rows; a per-row slot mask remembers which slots
//! hold real tokens (left padding of the prompt), and per-row lengths give each row's next
//! position. The path runs without autograd and may use candle's fast fused ops.

use crate::batch::{Batch, attention_bias, positions};
use crate::linear::AdapterMode;
use crate::qwen2::{Qwen2, Shared};
use crate::{Error, Result};
use candle_core::Tensor;

/// Preallocated keys and values of every layer, plus per-row bookkeeping.
#[derive(Debug)]
pub struct KvCache {
    layers: Vec<(Tensor, Tensor)>,
    /// Row-major `[B, max_len]`: 1 where the slot holds a real token.
    slot_mask: Vec<u32>,
    /// Real tokens seen per row (= the next token's position).
    lens: Vec<usize>,
    used: usize,
    batch: usize,
    max_len: usize,
}

impl KvCache {
    /// Allocates a cache for `batch` rows of up to `max_len` tokens (prompt + completion),
    /// in the model's dtype and on its device.
    pub fn new(model: &Qwen2, batch: usize, max_len: usize) -> Result<Self> {
        let cfg = model.config();
        if batch == 0 || max_len == 0 {
            return Err(Error::input(
                "kv cache",
                "batch and max_len must be positive",
            ));
        }
        let shape = (batch, cfg.num_key_value_heads, max_len, cfg.head_dim());
        let layers = (0..cfg.num_hidden_layers)
            .map(|_| -> Result<(Tensor, Tensor)> {
                Ok((
                    Tensor::zeros(shape, model.dtype(), model.device())?,
                    Tensor::zeros(shape, model.dtype(), model.device())?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            layers,
            slot_mask: vec![0; batch * max_len],
            lens: vec![0; batch],
            used: 0,
            batch,
            max_len,
        })
    }

    /// Forgets every token (the buffers are reused).
    pub fn reset(&mut self) {
        self.slot_mask.fill(0);
        self.lens.fill(0);
        self.used = 0;
    }

    /// Real tokens per row.
    pub fn lens(&self) -> &[usize] {
        &self.lens
    }
    /// Slots written so far (same for every row).
    pub fn used(&self) -> usize {
        self.used
    }
    pub fn capacity(&self) -> usize {
        self.max_len
    }
    pub fn batch_size(&self) -> usize {
        self.batch
    }
}

impl Qwen2 {
    /// Appends `t` tokens per row (`mask` 1 = real) and returns the hidden states `[B, t, H]`.
    fn append(
        &self,
        ids: &Tensor,
        mask: &[u32],
        cache: &mut KvCache,
        adapter: AdapterMode,
    ) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        if b != cache.batch {
            return Err(Error::input(
                "batch",
                format!("{b} rows but the cache holds {}", cache.batch),
            ));
        }
        let (offset, l) = (cache.used, cache.used + t);
        if l > cache.max_len {
            return Err(Error::input(
                "kv cache",
                format!("{l} tokens exceed its capacity of {}", cache.max_len),
            ));
        }
        let ctx = self.ctx(adapter, true)?;
        let pos = positions(mask, b, t, &cache.lens);
        for (row, m) in mask.chunks(t).enumerate() {
            cache.slot_mask[row * cache.max_len + offset..row * cache.max_len + l]
                .copy_from_slice(m);
            cache.lens[row] += m.iter().filter(|&&x| x == 1).count();
        }
        let slots: Vec<u32> = cache
            .slot_mask
            .chunks(cache.max_len)
            .flat_map(|r| r[..l].iter().copied())
            .collect();
        let sh = Shared {
            rope: self.rope_tables(&pos, (b, t))?,
            bias: attention_bias(&slots, b, t, l, self.dtype(), self.device())?,
            ctx,
        };
        let x = self.embed(ids, &sh.ctx)?;
        let hidden = self.run_layers(x, &sh, Some((&cache.layers, offset)))?;
        cache.used = l;
        Ok(hidden)
    }

    /// Runs a (typically left-padded) prompt batch through the model into an empty `cache` and
    /// returns the logits `[B, V]` of each row's last real token.
    pub fn prefill(
        &self,
        batch: &Batch,
        cache: &mut KvCache,
        adapter: AdapterMode,
    ) -> Result<Tensor> {
        if cache.used != 0 {
            return Err(Error::input(
                "kv cache",
                "prefill needs an empty cache (call reset)",
            ));
        }
        let (b, t) = batch.dims();
        let mask = batch.host_mask()?;
        let mut last = Vec::with_capacity(b);
        for (row, m) in mask.chunks(t).enumerate() {
            let idx = m
                .iter()
                .rposition(|&x| x == 1)
                .ok_or_else(|| Error::input("batch", format!("row {row} has no real token")))?;
            last.push((row * t + idx) as u32);
        }
        let hidden = self.append(&batch.input_ids, &mask, cache, adapter)?;
        let h = hidden.reshape((b * t, hidden.dim(2)?))?;
        let idx = Tensor::from_vec(last, b, self.device())?;
        self.logits(&h.index_select(&idx, 0)?)
    }

    /// Feeds one token per row (`tokens`: `[B]` u32) and returns the next logits `[B, V]`.
    pub fn decode_step(
        &self,
        tokens: &Tensor,
        cache: &mut KvCache,
        adapter: AdapterMode,
    ) -> Result<Tensor> {
        let b = tokens.dims1()?;
        let ids = tokens.reshape((b, 1))?;
        let hidden = self.append(&ids, &vec![1; b], cache, adapter)?;
        self.logits(&hidden.squeeze(1)?)
    }
}
