//! Gradient accumulation over micro-batches.

use candle_core::backprop::GradStore;

use crate::Result;
use crate::params::NamedVar;

/// Sums the gradients of the trainable parameters over the micro-batches of one step.
///
/// Only the listed parameters are kept, detached (a micro-batch's `GradStore` also holds the
/// gradients of any other `Var` in the graph, e.g. a frozen weight created as a `Var`). Losses must already
/// be normalised over the whole accumulated batch (see [`crate::agg::AggNorm`]), so the sum is
/// the gradient of the batch loss. A parameter absent from a micro-batch's store is skipped
/// here; the optimiser decides whether a missing gradient is an error.
#[derive(Debug, Default)]
pub struct GradAccumulator {
    grads: GradStore,
    micro_batches: usize,
}

impl GradAccumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one micro-batch's gradients.
    pub fn add(&mut self, params: &[NamedVar], grads: &GradStore) -> Result<()> {
        for p in params {
            let Some(g) = grads.get(p.var.as_tensor()) else {
                continue;
            };
            let g = g.detach();
            let sum = match self.grads.remove(p.var.as_tensor()) {
                Some(acc) => (acc + g)?.detach(),
                None => g,
            };
            self.grads.insert(p.var.as_tensor(), sum);
        }
        self.micro_batches += 1;
        Ok(())
    }

    /// Micro-batches added so far.
    pub fn micro_batches(&self) -> usize {
        self.micro_batches
    }

    /// The summed gradients.
    pub fn grads(&self) -> &GradStore {
        &self.grads
    }

    /// The summed gradients, for clipping and the optimiser step.
    pub fn into_grads(self) -> GradStore {
        self.grads
    }
}
