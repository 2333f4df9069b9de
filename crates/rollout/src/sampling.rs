//! Next-token selection from one row of logits: greedy, or sampling with temperature, top-k,
//! top-p and min-p.
//!
//! Everything here works on a plain `&[f32]` row so it is device-agnostic and testable without a
//! model. The filters are applied in the order temperature → top-k → top-p → min-p (the order of
//! HF transformers' default logits processors); the log-prob returned with each token is taken
//! under the *tempered, unfiltered* distribution, `log_softmax(logits / T)`, because that is what
//! the trainer recomputes as the old policy's log-prob (algorithms.md, notation).

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingParams {
    /// Softmax temperature; `0.0` means greedy decoding (argmax). Default 1.0.
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    /// Keep the smallest set of most likely tokens whose probability reaches `top_p` (nucleus
    /// sampling). `1.0` disables it. Range (0, 1]. Default 1.0.
    #[serde(default = "default_top_p")]
    pub top_p: f64,
    /// Keep only the `top_k` most likely tokens; `0` disables it. Default 0.
    #[serde(default)]
    pub top_k: usize,
    /// Drop tokens whose probability is below `min_p` times the most likely token's; `0.0`
    /// disables it. Range [0, 1). Default 0.
    #[serde(default)]
    pub min_p: f64,
}

fn default_temperature() -> f64 {
    1.0
}

fn default_top_p() -> f64 {
    1.0
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: default_temperature(),
            top_p: default_top_p(),
            top_k: 0,
            min_p: 0.0,
        }
    }
}

impl SamplingParams {
    /// Greedy decoding: always the most likely token.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            ..Self::default()
        }
    }

    /// Whether these parameters mean argmax decoding.
    pub fn is_greedy(&self) -> bool {
        self.temperature == 0.0 || self.top_k == 1
    }

    /// Checks every field's range, naming the offending field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, reason: String| Err(Error::Param { field, reason });
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return bad(
                "temperature",
                format!("must be >= 0, got {}", self.temperature),
            );
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p", format!("must be in (0, 1], got {}", self.top_p));
        }
        if !(self.min_p >= 0.0 && self.min_p < 1.0) {
            return bad("min_p", format!("must be in [0, 1), got {}", self.min_p));
        }
        Ok(())
    }
}

/// A chosen token and its log-prob under `log_softmax(logits / T)` (T = 1 for greedy).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampled {
    /// The token id.
    pub token: u32,
    /// Its log-prob under the tempered, unfiltered distribution.
    pub logprob: f32,
}

/// Reusable buffers, so that sampling a 152k-token vocabulary allocates nothing per step.
#[derive(Debug, Default)]
pub struct Scratch {
    probs: Vec<f32>,
    order: Vec<u32>,
}

/// Chooses the next token of one row.
///
/// Errors when the row is empty or holds no finite logit.
pub fn sample(
    logits: &[f32],
    params: &SamplingParams,
    rng: &mut impl Rng,
    scratch: &mut Scratch,
) -> Result<Sampled> {
    let (argmax, max) = argmax(logits)?;
    let temperature = if params.is_greedy() {
        1.0
    } else {
        params.temperature as f32
    };
    // Tempered probabilities, unnormalised, and the log-normaliser of the full distribution.
    let probs = &mut scratch.probs;
    probs.clear();
    probs.extend(logits.iter().map(|&z| ((z - max) / temperature).exp()));
    let total: f32 = probs.iter().sum();
    let log_total = total.ln();
    let logprob_of = |token: usize| (logits[token] - max) / temperature - log_total;
    if params.is_greedy() {
        return Ok(Sampled {
            token: argmax as u32,
            logprob: logprob_of(argmax),
        });
    }
    let token = if params.top_k == 0 && params.top_p >= 1.0 && params.min_p == 0.0 {
        draw(probs, total, None, rng)
    } else {
        let kept = kept_set(probs, params, &mut scratch.order);
        let mass: f32 = kept.iter().map(|&t| probs[t as usize]).sum();
        draw(probs, mass, Some(kept), rng)
    };
    Ok(Sampled {
        token: token as u32,
        logprob: logprob_of(token),
    })
}

/// The index and value of the largest finite logit.
fn argmax(logits: &[f32]) -> Result<(usize, f32)> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &z) in logits.iter().enumerate() {
        if z.is_nan() || z == f32::INFINITY {
            return Err(Error::BadLogits(format!("logit {i} is {z}")));
        }
        if z > f32::NEG_INFINITY && best.is_none_or(|(_, b)| z > b) {
            best = Some((i, z));
        }
    }
    best.ok_or_else(|| Error::BadLogits("no finite logit in the row".into()))
}

/// The token ids that survive top-k, top-p and min-p.
///
/// `probs` are unnormalised tempered probabilities. Top-k is a partial selection; top-p needs
/// the kept tokens in order of probability, but only as many as the nucleus holds are sorted: a
/// pool of 64 most likely tokens, doubled until it reaches the nucleus mass. So a peaked
/// distribution over 152k tokens costs a few linear selections, never a full sort.
fn kept_set<'a>(probs: &[f32], params: &SamplingParams, order: &'a mut Vec<u32>) -> &'a [u32] {
    let by_prob_desc = |a: &u32, b: &u32| {
        probs[*b as usize]
            .total_cmp(&probs[*a as usize])
            .then(a.cmp(b))
    };
    order.clear();
    order.extend(0..probs.len() as u32);
    if params.top_k > 0 && params.top_k < order.len() {
        order.select_nth_unstable_by(params.top_k - 1, by_prob_desc);
        order.truncate(params.top_k);
    }
    let mut keep = order.len();
    if params.top_p < 1.0 {
        // HF renormalises after top-k, so the nucleus is a share of the top-k mass.
        let threshold = params.top_p as f32 * order.iter().map(|&t| probs[t as usize]).sum::<f32>();
        let mut sorted = order.len().min(64);
        loop {
            if sorted < order.len() {
                order.select_nth_unstable_by(sorted - 1, by_prob_desc);
            }
            order[..sorted].sort_unstable_by(by_prob_desc);
            let mut cumulative = 0.0;
            let nucleus = order[..sorted].iter().position(|&t| {
                cumulative += probs[t as usize];
                cumulative >= threshold
            });
            match nucleus {
                Some(i) => {
                    keep = i + 1;
                    break;
                }
                // Rounding can leave the full set a hair short of the threshold: keep it all.
                None if sorted == order.len() => break,
                None => sorted = (sorted * 2).min(order.len()),
            }
        }
    }
    let order = &mut order[..keep];
    if params.min_p > 0.0 {
        let top = order
            .iter()
            .map(|&t| probs[t as usize])
            .fold(0.0f32, f32::max);
        let floor = params.min_p as f32 * top;
        // Move the survivors to the front; the most likely token always survives.
        let mut kept = 0;
        for i in 0..order.len() {
            if probs[order[i] as usize] >= floor {
                order.swap(kept, i);
                kept += 1;
            }
        }
        return &order[..kept];
    }
    order
}

/// Inverse-CDF draw over `probs` (restricted to `kept` when given) with total mass `mass`.
fn draw(probs: &[f32], mass: f32, kept: Option<&[u32]>, rng: &mut impl Rng) -> usize {
    let target = rng.random::<f32>() * mass;
    let mut cumulative = 0.0;
    match kept {
        None => {
            let mut last = 0;
            for (i, &p) in probs.iter().enumerate() {
                if p > 0.0 {
                    last = i;
                    cumulative += p;
                    if cumulative > target {
                        return i;
                    }
                }
            }
            last
        }
        Some(kept) => {
            for &t in kept {
                cumulative += probs[t as usize];
                if cumulative > target {
                    return t as usize;
                }
            }
            // Rounding left the target just above the summed mass: the last kept token.
            kept.last().map_or(0, |&t| t as usize)
        }
    }
}
