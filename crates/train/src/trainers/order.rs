//! The order in which examples are visited: epoch after epoch, each a fresh permutation keyed by
//! `(seed, epoch)`. Position `i` of the stream is a pure function of `(seed, i)`, so a resumed run
//! visits the same examples without storing a data-loader state.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Separates the data-order key from the step generators' key (same seed, other key).
const ORDER_KEY: u64 = 0x9e37_79b9_7f4a_7c15;

/// An epoch-permutation stream over `n` examples.
#[derive(Clone, Debug)]
pub struct EpochOrder {
    seed: u64,
    n: usize,
    epoch: Option<(u64, Vec<usize>)>,
}

impl EpochOrder {
    /// A stream over `0..n` (`n` > 0).
    pub fn new(seed: u64, n: usize) -> Self {
        Self {
            seed,
            n,
            epoch: None,
        }
    }

    /// The example at stream position `i`.
    pub fn get(&mut self, i: u64) -> usize {
        let n = self.n.max(1) as u64;
        let (epoch, within) = (i / n, (i % n) as usize);
        if self.epoch.as_ref().is_none_or(|(e, _)| *e != epoch) {
            let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ ORDER_KEY);
            rng.set_stream(epoch);
            let mut perm: Vec<usize> = (0..self.n).collect();
            perm.shuffle(&mut rng);
            self.epoch = Some((epoch, perm));
        }
        self.epoch.as_ref().map_or(0, |(_, p)| p[within])
    }

    /// Positions `start .. start + count`.
    pub fn take(&mut self, start: u64, count: usize) -> Vec<usize> {
        (0..count as u64).map(|k| self.get(start + k)).collect()
    }

    /// The examples of 1-based optimiser step `step` when every step draws `per_step` of them:
    /// steps read the stream back to back, so a resumed run draws what it would have drawn.
    pub fn for_step(&mut self, step: u64, per_step: usize) -> Vec<usize> {
        self.take((step - 1) * per_step as u64, per_step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_epoch_is_a_permutation_and_the_stream_is_reproducible() {
        let mut a = EpochOrder::new(5, 7);
        let e0 = a.take(0, 7);
        let e1 = a.take(7, 7);
        let mut s0 = e0.clone();
        s0.sort();
        assert_eq!(s0, (0..7).collect::<Vec<_>>());
        let mut s1 = e1.clone();
        s1.sort();
        assert_eq!(s1, s0);
        assert_ne!(e0, e1, "epochs are reshuffled");
        // Random access agrees with sequential access, from a fresh stream.
        let mut b = EpochOrder::new(5, 7);
        assert_eq!(b.get(9), e1[2]);
        assert_eq!(b.take(3, 6), [&e0[3..], &e1[..2]].concat());
        assert_ne!(EpochOrder::new(6, 7).take(0, 7), e0);
        // Step k of 7 examples each is the k-th block of the stream.
        assert_eq!(b.for_step(2, 7), e1);
        assert_eq!(b.for_step(1, 7), e0);
    }
}
