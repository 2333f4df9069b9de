//! LoRA configuration (PEFT's adapter_config.json names), the adapter matrices and their
//! PEFT-style initialisation.
//!
//! y = W x + b + s · B (A dropout(x)), s = alpha / r (or alpha / sqrt(r) with rsLoRA);
//! A: [r, in] ~ U(−1/sqrt(in), 1/sqrt(in)) (PyTorch's `kaiming_uniform_(a = sqrt(5))`, as PEFT),
//! B: [out, r] = 0, so a fresh adapter leaves the base model unchanged. A and B are f32 `Var`s
//! whatever the base dtype (f64 on an f64 base, which only the finite-difference tests use):
//! the optimiser updates them in full precision.

use crate::{Error, Result};
use candle_core::{DType, Device, Tensor, Var};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The seven linear projections of a Qwen2 decoder layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetModule {
    QProj,
    KProj,
    VProj,
    OProj,
    GateProj,
    UpProj,
    DownProj,
}

impl TargetModule {
    /// All seven, in checkpoint order.
    pub const ALL: [TargetModule; 7] = [
        TargetModule::QProj,
        TargetModule::KProj,
        TargetModule::VProj,
        TargetModule::OProj,
        TargetModule::GateProj,
        TargetModule::UpProj,
        TargetModule::DownProj,
    ];

    /// The HF module name (`q_proj`, …).
    pub fn name(self) -> &'static str {
        match self {
            TargetModule::QProj => "q_proj",
            TargetModule::KProj => "k_proj",
            TargetModule::VProj => "v_proj",
            TargetModule::OProj => "o_proj",
            TargetModule::GateProj => "gate_proj",
            TargetModule::UpProj => "up_proj",
            TargetModule::DownProj => "down_proj",
        }
    }

    /// The HF path of this module inside decoder layer `layer`
    /// (`model.layers.{layer}.self_attn.q_proj`).
    pub fn hf_path(self, layer: usize) -> String {
        let block = match self {
            TargetModule::QProj
            | TargetModule::KProj
            | TargetModule::VProj
            | TargetModule::OProj => "self_attn",
            _ => "mlp",
        };
        format!("model.layers.{layer}.{block}.{}", self.name())
    }

    /// Parses an HF module name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// `target_modules` as PEFT writes it: a list of module names, or the string `"all-linear"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetModules {
    AllLinear,
    List(Vec<TargetModule>),
}

impl TargetModules {
    /// The modules this selects, in checkpoint order, without duplicates.
    pub fn resolve(&self) -> Vec<TargetModule> {
        match self {
            TargetModules::AllLinear => TargetModule::ALL.to_vec(),
            TargetModules::List(list) => TargetModule::ALL
                .into_iter()
                .filter(|m| list.contains(m))
                .collect(),
        }
    }
}

impl Serialize for TargetModules {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            TargetModules::AllLinear => s.serialize_str("all-linear"),
            TargetModules::List(list) => list.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for TargetModules {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            Many(Vec<String>),
        }
        let names = match Raw::deserialize(d)? {
            Raw::One(s) if s == "all-linear" => return Ok(TargetModules::AllLinear),
            Raw::One(s) => vec![s],
            Raw::Many(v) => v,
        };
        names
            .iter()
            .map(|n| {
                TargetModule::parse(n).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "unknown target module {n:?} (expected one of q_proj, k_proj, v_proj, \
                         o_proj, gate_proj, up_proj, down_proj or \"all-linear\")"
                    ))
                })
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map(TargetModules::List)
    }
}

/// LoRA hyper-parameters; serde names are PEFT's adapter_config.json keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// Rank of A and B.
    pub r: usize,
    /// Scale numerator: s = alpha / r (alpha / sqrt(r) with rsLoRA).
    #[serde(rename = "lora_alpha")]
    pub alpha: f64,
    /// Dropout on the LoRA branch's input while training, in [0, 1).
    #[serde(rename = "lora_dropout", default)]
    pub dropout: f64,
    /// Rank-stabilised scaling alpha / sqrt(r).
    #[serde(default)]
    pub use_rslora: bool,
    pub target_modules: TargetModules,
    /// Decoder layers to adapt (`None`: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers_to_transform: Option<Vec<usize>>,
}

impl LoraConfig {
    /// r, alpha and targets; no dropout, plain scaling, all layers.
    pub fn new(r: usize, alpha: f64, target_modules: TargetModules) -> Self {
        Self {
            r,
            alpha,
            dropout: 0.0,
            use_rslora: false,
            target_modules,
            layers_to_transform: None,
        }
    }

    /// The factor multiplying B A x.
    pub fn scale(&self) -> f64 {
        if self.use_rslora {
            self.alpha / (self.r as f64).sqrt()
        } else {
            self.alpha / self.r as f64
        }
    }

    /// Whether decoder layer `layer` is adapted.
    pub fn applies_to_layer(&self, layer: usize) -> bool {
        self.layers_to_transform
            .as_ref()
            .is_none_or(|l| l.contains(&layer))
    }

    /// Checks ranges against a model of `num_layers` layers.
    pub fn validate(&self, num_layers: usize) -> Result<()> {
        if self.r == 0 {
            return Err(Error::config("r", "must be positive"));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::config(
                "lora_dropout",
                format!("must be in [0, 1), got {}", self.dropout),
            ));
        }
        if self.target_modules.resolve().is_empty() {
            return Err(Error::config("target_modules", "selects no module"));
        }
        if let Some(bad) = self
            .layers_to_transform
            .iter()
            .flatten()
            .find(|&&l| l >= num_layers)
        {
            return Err(Error::config(
                "layers_to_transform",
                format!("layer {bad} does not exist (the model has {num_layers})"),
            ));
        }
        Ok(())
    }
}

/// One adapter on one linear layer.
#[derive(Debug, Clone)]
pub struct LoraAdapter {
    /// `[r, in]`, f32.
    pub a: Var,
    /// `[out, r]`, f32.
    pub b: Var,
    pub scale: f64,
    pub dropout: f64,
}

impl LoraAdapter {
    /// PEFT's initialisation: A ~ U(−1/sqrt(in), 1/sqrt(in)) from `rng`, B = 0.
    pub fn init(
        cfg: &LoraConfig,
        in_dim: usize,
        out_dim: usize,
        rng: &mut ChaCha8Rng,
        (dtype, device): (DType, &Device),
    ) -> Result<Self> {
        let bound = 1.0 / (in_dim as f64).sqrt();
        let a: Vec<f32> = (0..cfg.r * in_dim)
            .map(|_| rng.random_range(-bound..bound) as f32)
            .collect();
        let a = Tensor::from_vec(a, (cfg.r, in_dim), device)?.to_dtype(dtype)?;
        let a = Var::from_tensor(&a)?;
        let b = Var::zeros((out_dim, cfg.r), dtype, device)?;
        Ok(Self {
            a,
            b,
            scale: cfg.scale(),
            dropout: cfg.dropout,
        })
    }

    /// Wraps given matrices (an imported adapter), checking their shapes.
    pub fn from_tensors(
        cfg: &LoraConfig,
        a: Tensor,
        b: Tensor,
        (in_dim, out_dim): (usize, usize),
        name: &str,
        dtype: DType,
    ) -> Result<Self> {
        for (suffix, t, expected) in [
            ("lora_A", &a, [cfg.r, in_dim]),
            ("lora_B", &b, [out_dim, cfg.r]),
        ] {
            if t.dims() != expected {
                return Err(Error::Shape {
                    name: format!("{name}.{suffix}.weight"),
                    expected: expected.to_vec(),
                    got: t.dims().to_vec(),
                });
            }
        }
        Ok(Self {
            a: Var::from_tensor(&a.to_dtype(dtype)?)?,
            b: Var::from_tensor(&b.to_dtype(dtype)?)?,
            scale: cfg.scale(),
            dropout: cfg.dropout,
        })
    }

    /// The dtype of adapter matrices on a base of dtype `base`: f32, or f64 on an f64 base.
    pub fn dtype_for(base: DType) -> DType {
        if base == DType::F64 {
            DType::F64
        } else {
            DType::F32
        }
    }

    /// scale · B A, `[out, in]`: the weight update a merge adds to W.
    pub fn delta_weight(&self) -> Result<Tensor> {
        Ok((self.b.as_tensor().matmul(self.a.as_tensor())? * self.scale)?)
    }
}
