//! caugym-train: the loss library of every post-training method (SFT, DPO, KTO, PPO, GRPO)
//! and the optimiser pieces of the shared training loop.
//!
//! Everything here is a pure function over tensors (or a small state machine, for AdamW and
//! the adaptive KL coefficient): no I/O, no config parsing, no RNG. Losses return
//! `(loss, Metrics)`; formulas and defaults follow `docs/algorithms.md`, each function citing
//! its source.
//!
//! Modules:
//! - [`masked`]: masked sum / mean / variance / whitening over `[B, T]`;
//! - [`agg`]: per-token loss aggregation ([`LossAgg`]) with the whole-batch normaliser [`AggNorm`];
//! - [`advantages`]: GRPO group advantages, GAE, whitening;
//! - [`losses`]: SFT, DPO (sigmoid / IPO / hinge), KTO, clipped surrogate, clipped value loss,
//!   KL estimators;
//! - [`ppo`]: KL-penalised token rewards and the adaptive KL coefficient;
//! - [`metrics`]: metric names and the mergeable [`Metrics`] map;
//! - [`params`], [`accum`], [`clip`], [`optim`], [`schedule`]: named trainable Vars, gradient
//!   accumulation, global-norm clipping and non-finite checks, AdamW, the learning-rate schedule.

pub mod accum;
pub mod advantages;
pub mod agg;
pub mod clip;
pub mod config;
mod error;
pub mod eval;
pub mod losses;
pub mod masked;
pub mod metrics;
pub mod optim;
pub mod params;
pub mod ppo;
pub mod runner;
pub mod schedule;
mod shape;
pub mod trainers;

pub use agg::{AggNorm, LossAgg};
pub use error::{Error, Result};
pub use metrics::Metrics;
pub use params::NamedVar;
