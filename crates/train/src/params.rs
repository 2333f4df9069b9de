//! Named trainable parameters: the list the optimiser, the clipper and the accumulator work
//! over (a `GradStore` cannot be iterated by parameter, and errors must name the parameter).

use candle_core::Var;
use candle_nn::VarMap;

use crate::{Error, Result};

/// A trainable variable and the name it is reported and checkpointed under.
#[derive(Clone, Debug)]
pub struct NamedVar {
    /// The parameter name, e.g. `model.layers.0.self_attn.q_proj.lora_A.weight`.
    pub name: String,
    /// The variable.
    pub var: Var,
}

impl NamedVar {
    /// Pairs a name with a variable.
    pub fn new(name: impl Into<String>, var: Var) -> Self {
        Self {
            name: name.into(),
            var,
        }
    }
}

/// All variables of a `VarMap`, sorted by name (a deterministic order for state and logs).
pub fn from_var_map(map: &VarMap) -> Result<Vec<NamedVar>> {
    let data = map.data().lock().map_err(|_| Error::Input {
        what: "var_map",
        reason: "the VarMap lock is poisoned by a panic in another thread".to_string(),
    })?;
    let mut out: Vec<NamedVar> = data
        .iter()
        .map(|(name, var)| NamedVar::new(name.clone(), var.clone()))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
