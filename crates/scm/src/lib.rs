//! Binary structural causal models and the CauGym estimands.
//!
//! Pure Rust, no tensors: everything here is exact enumeration over at most 12 binary nodes.

mod task;

pub use task::{Task, UnknownTask};
