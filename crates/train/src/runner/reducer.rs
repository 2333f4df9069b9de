//! The one seam where gradients of several processes would meet (data parallelism).

use candle_core::backprop::GradStore;

use crate::Result;
use crate::params::NamedVar;

/// Combines the accumulated gradients of one optimiser update across processes.
///
/// The runner calls [`GradReducer::reduce`] exactly once per optimiser update, after the
/// micro-batches are accumulated and before the non-finite check, clipping and the AdamW step;
/// nothing else in the loop communicates. A data-parallel implementation (NCCL all-reduce) sums
/// there; since every loss is normalised by whole-batch counts ([`crate::AggNorm`]), it must also
/// make those counts global, which [`GradReducer::reduce_counts`] is for.
pub trait GradReducer {
    /// Processes taking part (1 for a single process).
    fn world_size(&self) -> usize;

    /// Reduces `grads` of `params` in place, so every process ends with the same gradients.
    fn reduce(&mut self, params: &[NamedVar], grads: &mut GradStore) -> Result<()>;

    /// Sums per-process counts (tokens, sequences) in place, so loss normalisers are global.
    fn reduce_counts(&mut self, counts: &mut [f64]) -> Result<()>;
}

/// One process: reduction is the identity.
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleProcess;

impl GradReducer for SingleProcess {
    fn world_size(&self) -> usize {
        1
    }

    fn reduce(&mut self, _params: &[NamedVar], _grads: &mut GradStore) -> Result<()> {
        Ok(())
    }

    fn reduce_counts(&mut self, _counts: &mut [f64]) -> Result<()> {
        Ok(())
    }
}
