//! AdamW with f32 moments and f32 master weights (Loshchilov & Hutter 2019, "Decoupled Weight
//! Decay Regularization"; update as PyTorch `torch.optim.AdamW`).
//!
//! Unlike `candle_nn::AdamW` (candle-notes.md), the moments are f32 whatever the Var's dtype, a
//! Var that is not f32 is updated through an f32 master copy, and a trainable Var without a
//! gradient is an error unless `allow_missing` is set.

use std::collections::{HashMap, HashSet};

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

use crate::params::NamedVar;
use crate::shape::in_range;
use crate::{Error, Result};

/// AdamW hyper-parameters other than the learning rate (which comes from the schedule per step).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    /// First-moment decay (0.9).
    pub beta1: f64,
    /// Second-moment decay (0.999).
    pub beta2: f64,
    /// Denominator epsilon (1e-8).
    pub eps: f64,
    /// Decoupled weight decay: 0.01 full fine-tuning, 0.0 for LoRA.
    pub weight_decay: f64,
    /// Skip (instead of rejecting) trainable Vars without a gradient, as PyTorch does for
    /// `grad is None`. Off by default: a missing gradient usually means a cut graph.
    pub allow_missing: bool,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            allow_missing: false,
        }
    }
}

impl AdamWConfig {
    fn validate(&self) -> Result<()> {
        in_range("beta1", self.beta1, 0.0, 1.0 - f64::EPSILON)?;
        in_range("beta2", self.beta2, 0.0, 1.0 - f64::EPSILON)?;
        in_range("eps", self.eps, f64::MIN_POSITIVE, 1.0)?;
        in_range("weight_decay", self.weight_decay, 0.0, f64::MAX)
    }
}

#[derive(Debug)]
struct Slot {
    param: NamedVar,
    /// f32 weights when the Var is not f32.
    master: Option<Tensor>,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    /// Updates applied to this parameter (its bias-correction step).
    steps: u64,
}

/// The optimiser. Call [`AdamW::step`] once per optimiser step with the accumulated (and
/// clipped) gradients and the scheduled learning rate.
#[derive(Debug)]
pub struct AdamW {
    slots: Vec<Slot>,
    config: AdamWConfig,
    steps: u64,
}

/// A snapshot of the optimiser: step count and tensors keyed `adamw.{param}.{exp_avg,
/// exp_avg_sq, master, step}` (`master` for non-f32 Vars only).
#[derive(Clone, Debug)]
pub struct AdamWState {
    /// Calls to [`AdamW::step`] so far.
    pub step: u64,
    /// The per-parameter tensors.
    pub tensors: HashMap<String, Tensor>,
}

const STEP_KEY: &str = "adamw.step";

impl AdamWState {
    /// One flat map of tensors (the step as an i64 `[1]`), ready for
    /// `candle_core::safetensors::save`.
    pub fn to_tensor_map(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = self.tensors.clone();
        let dev = candle_core::Device::Cpu;
        out.insert(
            STEP_KEY.to_string(),
            Tensor::new(&[self.step as i64], &dev)?,
        );
        Ok(out)
    }

    /// The inverse of [`Self::to_tensor_map`].
    pub fn from_tensor_map(mut map: HashMap<String, Tensor>) -> Result<Self> {
        let step = map.remove(STEP_KEY).ok_or_else(|| Error::State {
            entry: STEP_KEY.to_string(),
            reason: "missing".to_string(),
        })?;
        let step = read_count(STEP_KEY, &step)?;
        Ok(Self { step, tensors: map })
    }
}

fn read_count(entry: &str, t: &Tensor) -> Result<u64> {
    match t
        .to_dtype(DType::I64)?
        .flatten_all()?
        .to_vec1::<i64>()?
        .as_slice()
    {
        [n] if *n >= 0 => Ok(*n as u64),
        _ => Err(Error::State {
            entry: entry.to_string(),
            reason: format!("expected one non-negative count, got shape {:?}", t.dims()),
        }),
    }
}

impl AdamW {
    /// An optimiser over `params` with zero moments.
    pub fn new(params: Vec<NamedVar>, config: AdamWConfig) -> Result<Self> {
        config.validate()?;
        let mut seen = HashSet::new();
        let mut slots = Vec::with_capacity(params.len());
        for param in params {
            if !seen.insert(param.name.clone()) {
                return Err(Error::Input {
                    what: "params",
                    reason: format!("parameter `{}` is listed twice", param.name),
                });
            }
            let var = param.var.as_tensor();
            if !var.dtype().is_float() {
                return Err(Error::Input {
                    what: "params",
                    reason: format!(
                        "parameter `{}` is {:?}, not a float",
                        param.name,
                        var.dtype()
                    ),
                });
            }
            let master = match var.dtype() {
                DType::F32 => None,
                _ => Some(var.detach().to_dtype(DType::F32)?),
            };
            let zeros = Tensor::zeros(var.shape(), DType::F32, var.device())?;
            slots.push(Slot {
                param,
                master,
                exp_avg: zeros.clone(),
                exp_avg_sq: zeros,
                steps: 0,
            });
        }
        Ok(Self {
            slots,
            config,
            steps: 0,
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &AdamWConfig {
        &self.config
    }

    /// Calls to [`Self::step`] so far.
    pub fn step_count(&self) -> u64 {
        self.steps
    }

    /// The parameters, in the order given to [`Self::new`].
    pub fn params(&self) -> impl Iterator<Item = &NamedVar> {
        self.slots.iter().map(|s| &s.param)
    }

    /// One update with learning rate `lr`:
    /// `theta <- theta (1 - lr wd)`, `m <- b1 m + (1 - b1) g`, `v <- b2 v + (1 - b2) g²`,
    /// `theta <- theta - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)`, all in f32, with
    /// `t` this parameter's update count.
    ///
    /// Every gradient is checked (presence, shape) before any parameter changes.
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        in_range("lr", lr, 0.0, f64::MAX)?;
        let mut updates = Vec::with_capacity(self.slots.len());
        for (i, slot) in self.slots.iter().enumerate() {
            let var = slot.param.var.as_tensor();
            match grads.get(var) {
                Some(g) if g.dims() != var.dims() => {
                    return Err(Error::Shape {
                        what: "gradient",
                        expected: format!("{:?} (parameter `{}`)", var.dims(), slot.param.name),
                        got: g.dims().to_vec(),
                    });
                }
                Some(g) => updates.push((i, g.detach())),
                None if self.config.allow_missing => {}
                None => {
                    return Err(Error::MissingGradient {
                        param: slot.param.name.clone(),
                    });
                }
            }
        }
        self.steps += 1;
        for (i, g) in updates {
            let slot = &mut self.slots[i];
            slot.update(&g, lr, &self.config)?;
        }
        Ok(())
    }

    /// A snapshot of the moments, master weights and step counts.
    pub fn state(&self) -> Result<AdamWState> {
        let mut tensors = HashMap::new();
        for s in &self.slots {
            s.save_into(&mut tensors)?;
        }
        Ok(AdamWState {
            step: self.steps,
            tensors,
        })
    }

    /// Restores a snapshot taken over the same parameters (names and shapes must match; an
    /// entry for an unknown parameter is an error). A restored master copy is also written back
    /// to its Var. Nothing changes unless the whole snapshot is valid.
    pub fn load_state(&mut self, state: &AdamWState) -> Result<()> {
        let loaded = self
            .slots
            .iter()
            .map(|s| s.read_from(state))
            .collect::<Result<Vec<_>>>()?;
        let known: HashSet<String> = self
            .slots
            .iter()
            .flat_map(|s| SLOT_ENTRIES.map(|what| s.key(what)))
            .collect();
        if let Some(extra) = state.tensors.keys().find(|k| !known.contains(*k)) {
            return Err(Error::State {
                entry: extra.clone(),
                reason: "not a parameter of this optimiser".to_string(),
            });
        }
        for (s, l) in self.slots.iter_mut().zip(loaded) {
            s.restore(l)?;
        }
        self.steps = state.step;
        Ok(())
    }
}

/// The per-parameter entries of a snapshot (`master` only for non-f32 Vars).
const SLOT_ENTRIES: [&str; 4] = ["exp_avg", "exp_avg_sq", "master", "step"];

/// One parameter's state read from a snapshot, checked, not yet applied.
struct SlotState {
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    master: Option<Tensor>,
    steps: u64,
}

impl Slot {
    fn key(&self, what: &str) -> String {
        format!("adamw.{}.{what}", self.param.name)
    }

    fn save_into(&self, out: &mut HashMap<String, Tensor>) -> Result<()> {
        out.insert(self.key("exp_avg"), self.exp_avg.clone());
        out.insert(self.key("exp_avg_sq"), self.exp_avg_sq.clone());
        if let Some(m) = &self.master {
            out.insert(self.key("master"), m.clone());
        }
        let step = Tensor::new(&[self.steps as i64], self.exp_avg.device())?;
        out.insert(self.key("step"), step);
        Ok(())
    }

    fn entry<'a>(&self, state: &'a AdamWState, what: &str) -> Result<&'a Tensor> {
        let key = self.key(what);
        state.tensors.get(&key).ok_or(Error::State {
            entry: key,
            reason: "missing".to_string(),
        })
    }

    /// A moment or master tensor: the parameter's shape, as f32 on its device.
    fn param_shaped(&self, state: &AdamWState, what: &str) -> Result<Tensor> {
        let var = self.param.var.as_tensor();
        let t = self.entry(state, what)?;
        if t.dims() != var.dims() {
            return Err(Error::State {
                entry: self.key(what),
                reason: format!("shape {:?}, parameter has {:?}", t.dims(), var.dims()),
            });
        }
        Ok(t.to_dtype(DType::F32)?.to_device(var.device())?)
    }

    fn read_from(&self, state: &AdamWState) -> Result<SlotState> {
        let master = match self.master {
            Some(_) => Some(self.param_shaped(state, "master")?),
            None => None,
        };
        Ok(SlotState {
            exp_avg: self.param_shaped(state, "exp_avg")?,
            exp_avg_sq: self.param_shaped(state, "exp_avg_sq")?,
            master,
            steps: read_count(&self.key("step"), self.entry(state, "step")?)?,
        })
    }

    fn restore(&mut self, l: SlotState) -> Result<()> {
        if let Some(w) = &l.master {
            let var = &self.param.var;
            var.set(&w.to_dtype(var.dtype())?)?;
        }
        self.exp_avg = l.exp_avg;
        self.exp_avg_sq = l.exp_avg_sq;
        self.master = l.master;
        self.steps = l.steps;
        Ok(())
    }

    fn update(&mut self, grad: &Tensor, lr: f64, c: &AdamWConfig) -> Result<()> {
        self.steps += 1;
        let t = self.steps as i32;
        let g = grad.to_dtype(DType::F32)?;
        let theta = match &self.master {
            Some(m) => m.clone(),
            None => self.param.var.as_tensor().detach(),
        };
        let m = ((&self.exp_avg * c.beta1)? + (&g * (1.0 - c.beta1))?)?;
        let v = ((&self.exp_avg_sq * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
        let m_hat = (&m / (1.0 - c.beta1.powi(t)))?;
        let v_hat = (&v / (1.0 - c.beta2.powi(t)))?;
        let step = (m_hat / (v_hat.sqrt()? + c.eps)?)?;
        let theta = ((theta * (1.0 - lr * c.weight_decay))? - (step * lr)?)?;
        let var = &self.param.var;
        match &mut self.master {
            Some(master) => {
                var.set(&theta.to_dtype(var.dtype())?)?;
                *master = theta;
            }
            None => var.set(&theta)?,
        }
        self.exp_avg = m;
        self.exp_avg_sq = v;
        Ok(())
    }
}
