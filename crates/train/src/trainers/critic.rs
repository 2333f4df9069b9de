//! PPO's critic: a scalar value head (Linear hidden -> 1) on the final hidden states that the
//! model computes with the critic's own LoRA adapter (algorithms.md "PPO").
//!
//! The critic and the policy share the frozen base weights but no trainable weight: the critic
//! adapter is a second named adapter on the same [`Qwen2`] (switched per forward with
//! [`AdapterMode`]), so one copy of the base serves the policy, the critic and (adapters
//! disabled) the KL reference. The head stays f32 (f64 on an f64 base, for finite-difference
//! checks) whatever the base dtype, like the LoRA matrices.
//!
//! Values are aligned with the next-token log-probs: column `j` is the value of the state that
//! emits token `j + 1`, read from the hidden state at position `j` (TRL takes the values of the
//! positions `context_length - 1 .. -1`).

use candle_core::{Tensor, Var};
use caugym_model::lora::LoraAdapter;
use caugym_model::{AdapterMode, Batch, Qwen2};

use crate::params::NamedVar;
use crate::{Error, Result};

/// The name of the critic's LoRA adapter inside the model.
pub const CRITIC_ADAPTER: &str = "critic";
/// Prefix of every critic parameter name (its adapter's PEFT keys and the head).
pub const CRITIC_PREFIX: &str = "critic.";
/// Name of the head's weight `[1, H]`.
pub const HEAD_WEIGHT: &str = "critic.v_head.weight";
/// Name of the head's bias `[1]`.
pub const HEAD_BIAS: &str = "critic.v_head.bias";

/// The value head; the critic's adapter lives in the model.
pub struct Critic {
    weight: Var,
    bias: Var,
}

impl Critic {
    /// Adds the critic adapter to `model` as a copy of the adapter `init_from` (the policy's:
    /// verl starts the critic from the actor's checkpoint, so it reads the features the policy
    /// reads) and a zero head. A zero head makes the first values 0, so the first advantages are
    /// the returns themselves (whitened REINFORCE) rather than returns minus the noise of a
    /// random head, which on a peaked warm-started policy pushes random tokens up and down hard
    /// enough to break its answer format in one step. The head learns from the first update (its
    /// gradient is `(V - R) h`); the adapter's follows once the head is non-zero, as LoRA's B = 0.
    pub fn new(model: &mut Qwen2, init_from: &str) -> Result<Self> {
        model.copy_adapter(init_from, CRITIC_ADAPTER)?;
        let h = model.config().hidden_size;
        let (dtype, device) = (LoraAdapter::dtype_for(model.dtype()), model.device());
        Ok(Self {
            weight: Var::zeros((1, h), dtype, device)?,
            bias: Var::zeros(1, dtype, device)?,
        })
    }

    /// The critic's trainable parameters: its adapter's matrices under `critic.<PEFT key>`
    /// (distinct from the policy's PEFT keys in checkpoints), then the head.
    pub fn params(&self, model: &Qwen2) -> Result<Vec<NamedVar>> {
        let mut out: Vec<NamedVar> = model
            .adapter_vars(CRITIC_ADAPTER)?
            .into_iter()
            .map(|(n, v)| NamedVar::new(format!("{CRITIC_PREFIX}{n}"), v))
            .collect();
        out.push(NamedVar::new(HEAD_WEIGHT, self.weight.clone()));
        out.push(NamedVar::new(HEAD_BIAS, self.bias.clone()));
        Ok(out)
    }

    /// Values `[B, T - 1]` of `batch` (with gradient), column `j` read at position `j`.
    pub fn values(&self, model: &Qwen2, batch: &Batch) -> Result<Tensor> {
        let (_, t) = batch.dims();
        if t < 2 {
            return Err(Error::Input {
                what: "batch",
                reason: "values need at least 2 positions".to_string(),
            });
        }
        let hidden = model.forward_hidden(batch, AdapterMode::Active(CRITIC_ADAPTER))?;
        self.head(&hidden.narrow(1, 0, t - 1)?)
    }

    /// The head on hidden states `[B, T, H]` -> `[B, T]`, in the head's dtype.
    pub fn head(&self, hidden: &Tensor) -> Result<Tensor> {
        let (b, t, h) = hidden.dims3()?;
        let x = hidden.to_dtype(self.weight.dtype())?.reshape((b * t, h))?;
        let v = x.matmul(&self.weight.as_tensor().t()?)?; // [B*T, 1]
        Ok(v.broadcast_add(self.bias.as_tensor())?.reshape((b, t))?)
    }
}
