//! Batched sampling of G completions per prompt on the model's KV cache.
//!
//! Rows are `prompt × sample`, prompt-major, so the G completions of a prompt are contiguous
//! (TRL's `RepeatSampler` layout, which GRPO's group advantages rely on). Rows are decoded in
//! batches of at most `max_batch_rows`: left-padded prompts are prefilled once, then every step
//! feeds one token per row. Each row owns an RNG seeded from `(seed, prompt, sample)`, so a
//! completion does not depend on which rows share its batch.

use std::time::Instant;

use candle_core::{DType, Tensor};
use caugym_model::tokenizer::{StopStrings, StreamStep, TextStream, Tokenizer};
use caugym_model::{AdapterMode, Batch, KvCache, PadSide, Qwen2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::GenerationConfig;
use crate::error::{Error, Result};
use crate::output::{Completion, FinishReason, Rollout, RolloutStats};
use crate::sampling::{SamplingParams, Scratch, sample};

/// Samples `cfg.num_generations` completions for each prompt (token ids, no template applied
/// here: callers render chat templates first).
///
/// Returns the completions prompt-major with their sampled tokens' log-probs (under
/// `log_softmax(logits / T)`), texts, finish reasons, and throughput.
pub fn generate(
    model: &Qwen2,
    tokenizer: &Tokenizer,
    prompts: &[Vec<u32>],
    cfg: &GenerationConfig,
    seed: u64,
    adapter: AdapterMode,
) -> Result<Rollout> {
    cfg.validate()?;
    if let Some(i) = prompts.iter().position(Vec::is_empty) {
        return Err(Error::Input(format!("prompt {i} has no tokens")));
    }
    let start = Instant::now();
    let rows: Vec<RowId> = (0..prompts.len())
        .flat_map(|p| {
            (0..cfg.num_generations).map(move |s| RowId {
                prompt: p,
                sample: s,
            })
        })
        .collect();
    let mut completions = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(cfg.max_batch_rows) {
        let decoder = BatchDecoder {
            model,
            tokenizer,
            cfg,
            seed,
            adapter,
        };
        completions.extend(decoder.run(prompts, chunk)?);
    }
    let stats = RolloutStats {
        prompts: prompts.len(),
        completions: completions.len(),
        prompt_tokens: rows.iter().map(|r| prompts[r.prompt].len()).sum(),
        generated_tokens: completions.iter().map(Completion::len).sum(),
        seconds: start.elapsed().as_secs_f64(),
    };
    Ok(Rollout { completions, stats })
}

/// Which completion a batch row produces.
#[derive(Debug, Clone, Copy)]
struct RowId {
    prompt: usize,
    sample: usize,
}

/// Mixes a run seed and a row's coordinates into an independent RNG seed (splitmix64 steps, so
/// neighbouring rows get unrelated streams).
pub fn row_seed(seed: u64, prompt: usize, sample: usize) -> u64 {
    let mut z = seed;
    for v in [prompt as u64, sample as u64] {
        z = splitmix64(z ^ splitmix64(v.wrapping_add(0x9E37_79B9_7F4A_7C15)));
    }
    z
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One row's growing completion.
struct RowState {
    id: RowId,
    rng: ChaCha8Rng,
    tokens: Vec<u32>,
    logprobs: Vec<f32>,
    /// Only with stop strings: watches the decoded text token by token.
    stream: Option<TextStream>,
    text: String,
    finish: Option<FinishReason>,
}

/// Decodes one batch of rows to completion.
struct BatchDecoder<'a> {
    model: &'a Qwen2,
    tokenizer: &'a Tokenizer,
    cfg: &'a GenerationConfig,
    seed: u64,
    adapter: AdapterMode<'a>,
}

impl BatchDecoder<'_> {
    fn run(&self, prompts: &[Vec<u32>], rows: &[RowId]) -> Result<Vec<Completion>> {
        let pad = self.tokenizer.pad_token_id();
        let device = self.model.device();
        let prompt_rows: Vec<Vec<u32>> = rows.iter().map(|r| prompts[r.prompt].clone()).collect();
        let longest = prompt_rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut cache = KvCache::new(self.model, rows.len(), longest + self.cfg.max_new_tokens)?;
        let batch = Batch::from_rows(&prompt_rows, pad, PadSide::Left, device)?;
        let mut states: Vec<RowState> = rows.iter().map(|&id| self.row_state(id)).collect();
        let params = self.cfg.sampling();
        let mut scratch = Scratch::default();
        let mut logits = self.model.prefill(&batch, &mut cache, self.adapter)?;
        for step in 0..self.cfg.max_new_tokens {
            let rows_logits = logits.to_dtype(DType::F32)?.to_vec2::<f32>()?;
            let mut next = Vec::with_capacity(states.len());
            for (state, row) in states.iter_mut().zip(&rows_logits) {
                if state.finish.is_some() {
                    next.push(pad);
                    continue;
                }
                let token = self.advance(state, row, &params, &mut scratch)?;
                if state.finish.is_none() && step + 1 == self.cfg.max_new_tokens {
                    state.finish = Some(FinishReason::Length);
                }
                next.push(token);
            }
            if states.iter().all(|s| s.finish.is_some()) {
                break;
            }
            let tokens = Tensor::from_vec(next, states.len(), device)?;
            logits = self.model.decode_step(&tokens, &mut cache, self.adapter)?;
        }
        states.into_iter().map(|s| self.finish(s)).collect()
    }

    fn row_state(&self, id: RowId) -> RowState {
        let stream = (!self.cfg.stop.is_empty())
            .then(|| TextStream::new(true, StopStrings::new(self.cfg.stop.iter().cloned())));
        RowState {
            id,
            rng: ChaCha8Rng::seed_from_u64(row_seed(self.seed, id.prompt, id.sample)),
            tokens: Vec::with_capacity(self.cfg.max_new_tokens),
            logprobs: Vec::with_capacity(self.cfg.max_new_tokens),
            stream,
            text: String::new(),
            finish: None,
        }
    }

    /// Samples one token for a live row and records whether it ends the completion.
    fn advance(
        &self,
        state: &mut RowState,
        logits: &[f32],
        params: &SamplingParams,
        scratch: &mut Scratch,
    ) -> Result<u32> {
        let s = sample(logits, params, &mut state.rng, scratch)?;
        state.tokens.push(s.token);
        state.logprobs.push(s.logprob);
        if self.tokenizer.is_eos(s.token) {
            state.finish = Some(FinishReason::Eos);
        } else if let Some(stream) = state.stream.as_mut() {
            match stream.push(self.tokenizer, s.token)? {
                StreamStep::Text(t) => state.text.push_str(&t),
                StreamStep::Stopped { text, stop } => {
                    state.text.push_str(&text);
                    state.finish = Some(FinishReason::Stop(self.cfg.stop[stop].clone()));
                }
            }
        }
        Ok(s.token)
    }

    fn finish(&self, mut state: RowState) -> Result<Completion> {
        let finish = state.finish.unwrap_or(FinishReason::Length);
        let text = match state.stream.as_mut() {
            // The stream already holds the text; flush what it held back (no stop completed).
            Some(stream) => {
                if !matches!(finish, FinishReason::Stop(_))
                    && let StreamStep::Text(t) = stream.finish(self.tokenizer)?
                {
                    state.text.push_str(&t);
                }
                state.text
            }
            None => self.tokenizer.decode(&state.tokens, true)?,
        };
        Ok(Completion {
            prompt_index: state.id.prompt,
            sample_index: state.id.sample,
            token_ids: state.tokens,
            logprobs: state.logprobs,
            text,
            finish,
        })
    }
}
