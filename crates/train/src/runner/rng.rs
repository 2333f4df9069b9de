//! Run randomness: every draw of step `k` comes from one ChaCha8 stream derived from
//! `(seed, k)`, so the whole random state of a run at a step boundary is `(seed, step)` — which
//! is what a checkpoint records — and `--resume` continues exactly.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The generator of step `step` (1-based): ChaCha8 keyed by `seed`, on stream `step`.
/// Streams of one key are independent, so steps do not share draws.
pub fn step_rng(seed: u64, step: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(step);
    rng
}

/// The random state recorded in a checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    /// The run's seed.
    pub seed: u64,
    /// The next step to run; its generator is `step_rng(seed, next_step)`.
    pub next_step: u64,
}
