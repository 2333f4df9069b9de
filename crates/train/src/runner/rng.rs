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

/// A seed for a sub-stream of step `step`, e.g. one micro-batch's dropout masks or one
/// rollout's sampling: a splitmix64 mix of `(seed, step, index)`, so neighbouring indices get
/// unrelated streams and nothing depends on how many draws came before.
pub fn derive_seed(seed: u64, step: u64, index: u64) -> u64 {
    let mut z = seed;
    for v in [step, index] {
        z = splitmix64(z ^ splitmix64(v.wrapping_add(0x9e37_79b9_7f4a_7c15)));
    }
    z
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
