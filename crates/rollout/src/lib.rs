//! Batched, seeded sampling of groups of completions per prompt.

mod error;
pub mod sampling;

pub use error::{Error, Result};
pub use sampling::{Sampled, SamplingParams, Scratch};
