//! The exact joint distribution of an SCM and masked-sum queries on it.

use crate::{Error, Event, Result};

/// P(state) for all 2^n full states, indexed by bit mask (bit i = value of node i).
///
/// Queries sum only the states an event allows, enumerating the free bits directly: P(event)
/// over k fixed nodes costs 2^(n-k) additions and no allocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Joint {
    n: usize,
    probs: Vec<f64>,
}

impl Joint {
    pub(crate) fn from_probs(n: usize, probs: Vec<f64>) -> Joint {
        Joint { n, probs }
    }

    /// Number of nodes.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The probabilities of all 2^n states.
    pub fn probs(&self) -> &[f64] {
        &self.probs
    }

    /// P(event). Events over nodes ≥ n are an error.
    pub fn prob(&self, event: Event) -> Result<f64> {
        self.check(event)?;
        Ok(self.sum(event))
    }

    /// P(event | given), or `None` when P(given) = 0.
    pub fn cond(&self, event: Event, given: Event) -> Result<Option<f64>> {
        self.check(event)?;
        self.check(given)?;
        let denom = self.sum(given);
        if denom <= 0.0 {
            return Ok(None);
        }
        let num = event.and(given).map_or(0.0, |both| self.sum(both));
        Ok(Some(num / denom))
    }

    fn check(&self, event: Event) -> Result<()> {
        match event.nodes().iter().find(|&node| node >= self.n) {
            Some(node) => Err(Error::NodeOutOfRange { node, n: self.n }),
            None => Ok(()),
        }
    }

    /// Σ P(s) over states with `s & mask == bits`.
    ///
    /// The free bits below the lowest constrained node index a contiguous block of states, summed
    /// with four accumulators; the other free bits are enumerated as subsets in increasing order
    /// (`sub = ((sub | !high) + 1) & high`), one block each.
    fn sum(&self, event: Event) -> f64 {
        let free = ((1u32 << self.n) - 1) as u16 & !event.mask();
        let block = 1usize << free.trailing_ones();
        let high = free & !((block - 1) as u16);
        let base = usize::from(event.bits());
        let mut sub = 0u16;
        let mut total = 0.0;
        loop {
            let start = base | usize::from(sub);
            total += self.probs.get(start..start + block).map_or(0.0, block_sum);
            sub = (sub | !high).wrapping_add(1) & high;
            if sub == 0 {
                return total;
            }
        }
    }
}

/// Sum of a slice with four independent accumulators (the additions pipeline).
fn block_sum(xs: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let chunks = xs.chunks_exact(4);
    let tail: f64 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_sums_match_a_direct_scan() {
        // Distinct weights so every wrongly included state would show: p(s) = (s + 1) / 36.
        let probs: Vec<f64> = (0..8).map(|s| f64::from(s + 1) / 36.0).collect();
        let joint = Joint::from_probs(3, probs.clone());
        for mask in 0..8u16 {
            for bits in 0..8u16 {
                let Ok(event) = Event::from_bits(mask, bits & mask) else {
                    continue;
                };
                let direct: f64 = (0..8u16)
                    .filter(|&s| event.holds(s))
                    .map(|s| probs[usize::from(s)])
                    .sum();
                assert!((joint.prob(event).unwrap() - direct).abs() < 1e-15);
            }
        }
        // P(A=1 | C=1) = (p5 + p7) / (p4 + p5 + p6 + p7) = (6 + 8) / (5 + 6 + 7 + 8) = 14 / 26.
        let a1 = Event::single(0, true).unwrap();
        let c1 = Event::single(2, true).unwrap();
        assert!((joint.cond(a1, c1).unwrap().unwrap() - 14.0 / 26.0).abs() < 1e-15);
        assert_eq!(
            joint.cond(a1, Event::single(0, false).unwrap()).unwrap(),
            Some(0.0)
        );
        assert_eq!(
            joint.prob(Event::single(3, true).unwrap()),
            Err(Error::NodeOutOfRange { node: 3, n: 3 })
        );
    }

    #[test]
    fn zero_probability_condition_is_none() {
        let joint = Joint::from_probs(1, vec![1.0, 0.0]);
        let a1 = Event::single(0, true).unwrap();
        assert_eq!(joint.cond(Event::ANY, a1).unwrap(), None);
        assert_eq!(joint.prob(Event::ANY).unwrap(), 1.0);
    }
}
