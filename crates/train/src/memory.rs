//! Device memory of a training run, computed from the architecture and the run config (what
//! `caugym memory` prints and BENCHMARKS.md tabulates for the 14B GRPO case).
//!
//! Every term counts the tensors this code base actually holds, op by op, not a rule of thumb:
//! - weights, LoRA matrices, their gradients (the micro-batch's `GradStore` plus the
//!   accumulator's sum) and AdamW's f32 moments (plus f32 master weights for non-f32 Vars,
//!   [`crate::optim`]);
//! - the activations candle's graph keeps until the backward: every intermediate of the
//!   training forward in `caugym_model::qwen2` (the differentiable RMSNorm, rope and softmax
//!   forms, the head copies, the 5 `[B, heads, T, T]` attention tensors, the LoRA branch),
//!   per decoder layer — or, with activation checkpointing, each layer's input plus one layer
//!   recomputed at a time;
//! - the log-prob peak: the chunked op (~3 · chunk · V f32 values) or the composed
//!   `log_softmax` (the `[N, V]` logits and ten f32 copies at its peak, as measured);
//! - the rollout's KV cache (`[rows, kv_heads, len, head_dim]` keys and values per layer).
//!
//! The one term that is not counted op by op is the backward's working set (gradients in
//! flight): a multiple of one layer's activations measured with a counting allocator on the
//! CPU. `crates/train/tests/activation_memory.rs` checks the kept activations (to 10%) and the
//! peaks (to 20%) against that allocator.

use caugym_model::{Qwen2Config, TargetModule};

use crate::config::{KernelsPath, MethodConfig, TrainConfig, TrainModeName};

/// Bytes in a GiB (the unit of the printed table).
pub const GIB: f64 = (1u64 << 30) as f64;

/// What the optimiser trains.
#[derive(Clone, Debug, PartialEq)]
pub enum Trained {
    /// A LoRA adapter of rank `r` on `modules` in `layers` decoder layers, f32 whatever the base.
    Lora {
        r: usize,
        modules: Vec<TargetModule>,
        layers: usize,
        /// LoRA dropout is on while training (its mask and product are kept per projection).
        dropout: bool,
    },
    /// Every weight (Vars in the base dtype; f32 master copies when that is not f32).
    Full,
}

/// Which log-prob implementation the training forward ends in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogprobPath {
    /// `caugym_model::token_logprobs` (the fused kernel on CUDA): chunks of this many rows.
    Chunked { chunk: usize },
    /// `reference_token_logprobs`: `log_softmax` over the whole `[N, V]`.
    Composed,
}

/// The shape of one training step and of the rollout before it.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// Bytes per base weight / activation element (2 for bf16, 4 for f32).
    pub base_bytes: usize,
    pub trained: Trained,
    /// Sequences per forward/backward (`optim.micro_batch_size`).
    pub rows: usize,
    /// Tokens per sequence (prompt + completion).
    pub seq_len: usize,
    pub checkpointing: bool,
    /// Rows recomputed together under checkpointing (0: all `rows`).
    pub checkpoint_rows: usize,
    pub logprobs: LogprobPath,
    /// Rows decoded together (`rollout.max_batch_rows`) and their cache length.
    pub rollout_rows: usize,
    pub rollout_len: usize,
    /// Prompt tokens prefilled per rollout row.
    pub prompt_len: usize,
}

/// One line of the breakdown.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub name: &'static str,
    pub bytes: u64,
    /// How the number was formed.
    pub detail: String,
}

/// The breakdown and the two phase peaks (weights and optimiser state stay resident in both).
#[derive(Clone, Debug, PartialEq)]
pub struct Breakdown {
    pub resident: Vec<Line>,
    pub training: Vec<Line>,
    pub rollout: Vec<Line>,
}

fn sum(lines: &[Line]) -> u64 {
    lines.iter().map(|l| l.bytes).sum()
}

impl Breakdown {
    pub fn resident_bytes(&self) -> u64 {
        sum(&self.resident)
    }
    /// Resident state plus the training step's peak.
    pub fn training_peak(&self) -> u64 {
        self.resident_bytes() + sum(&self.training)
    }
    /// Resident state plus the rollout's peak.
    pub fn rollout_peak(&self) -> u64 {
        self.resident_bytes() + sum(&self.rollout)
    }
    /// The run's peak: the larger phase.
    pub fn peak(&self) -> u64 {
        self.training_peak().max(self.rollout_peak())
    }

    /// A plain-text table (GiB), one line per term, then the phase totals against `capacity`.
    pub fn table(&self, capacity_gib: f64) -> String {
        let mut out = String::new();
        let mut section = |title: &str, lines: &[Line]| {
            out.push_str(&format!("{title}\n"));
            for l in lines {
                out.push_str(&format!(
                    "  {:<34} {:>9.2} GiB  {}\n",
                    l.name,
                    l.bytes as f64 / GIB,
                    l.detail
                ));
            }
        };
        section("resident (both phases)", &self.resident);
        section("training step (on top)", &self.training);
        section("rollout (on top)", &self.rollout);
        let verdict = |b: u64| {
            let gib = b as f64 / GIB;
            if gib <= capacity_gib {
                format!("{gib:.2} GiB: fits {capacity_gib:.0} GiB")
            } else {
                format!("{gib:.2} GiB: exceeds {capacity_gib:.0} GiB")
            }
        };
        out.push_str(&format!(
            "training peak  {}\nrollout peak   {}\n",
            verdict(self.training_peak()),
            verdict(self.rollout_peak())
        ));
        out
    }
}

/// Input and output widths of projection `m`.
pub fn projection_dims(arch: &Qwen2Config, m: TargetModule) -> (usize, usize) {
    let (h, f, d) = (arch.hidden_size, arch.intermediate_size, arch.head_dim());
    let (q, kv) = (arch.num_attention_heads * d, arch.num_key_value_heads * d);
    match m {
        TargetModule::QProj => (h, q),
        TargetModule::KProj | TargetModule::VProj => (h, kv),
        TargetModule::OProj => (q, h),
        TargetModule::GateProj | TargetModule::UpProj => (h, f),
        TargetModule::DownProj => (f, h),
    }
}

fn has_bias(m: TargetModule) -> bool {
    matches!(
        m,
        TargetModule::QProj | TargetModule::KProj | TargetModule::VProj
    )
}

/// Parameters of the base model (the head counted once when tied).
pub fn base_params(arch: &Qwen2Config) -> u64 {
    let h = arch.hidden_size as u64;
    let per_layer: u64 = TargetModule::ALL
        .iter()
        .map(|&m| {
            let (i, o) = projection_dims(arch, m);
            (i * o + if has_bias(m) { o } else { 0 }) as u64
        })
        .sum::<u64>()
        + 2 * h;
    let embed = arch.vocab_size as u64 * h;
    let head = if arch.tie_word_embeddings { 0 } else { embed };
    embed + head + arch.num_hidden_layers as u64 * per_layer + h
}

/// Parameters of a LoRA adapter: r · (in + out) per adapted projection.
pub fn lora_params(arch: &Qwen2Config, r: usize, modules: &[TargetModule], layers: usize) -> u64 {
    let per_layer: usize = modules
        .iter()
        .map(|&m| {
            let (i, o) = projection_dims(arch, m);
            r * (i + o)
        })
        .sum();
    (per_layer * layers) as u64
}

/// Elements per token that `caugym_model::qwen2`'s training forward keeps for one decoder
/// layer, split by element size: `(base-dtype elements, f32 elements)`. `seq` is the
/// attention length (T); `lora` is `Some((r, modules, dropout))` for an adapted layer.
/// With an f32 base both counts are 4-byte elements, and casts to f32 cost nothing (candle's
/// `to_dtype` to the same dtype is a shallow clone).
pub fn layer_activation_elems(
    arch: &Qwen2Config,
    seq: usize,
    base_is_f32: bool,
    lora: Option<(usize, &[TargetModule], bool)>,
) -> (u64, u64) {
    let (h, f) = (arch.hidden_size as u64, arch.intermediate_size as u64);
    let d = arch.head_dim() as u64;
    let (nh, nkv, t) = (
        arch.num_attention_heads as u64,
        arch.num_key_value_heads as u64,
        seq as u64,
    );
    let cast = |n: u64| if base_is_f32 { 0 } else { n };
    let (mut base, mut wide) = (0u64, 0u64);
    // RMSNorm: x→f32, x², mean, +eps, sqrt, 1/·, x·inv (f32), →base, ·w.
    let norm = |base: &mut u64, wide: &mut u64| {
        *wide += cast(h) + h + 4 + h;
        *base += cast(h) + h;
    };
    // A projection: W x (+ b); the LoRA branch: x→f32, dropout mask and product, A x, B(A x),
    // ·scale, →base, sum.
    let proj = |m: TargetModule, base: &mut u64, wide: &mut u64| {
        let (i, o) = projection_dims(arch, m);
        let (i, o) = (i as u64, o as u64);
        *base += o + if has_bias(m) { o } else { 0 };
        if let Some((r, modules, dropout)) = lora
            && modules.contains(&m)
        {
            *wide += cast(i) + if dropout { 2 * i } else { 0 } + r as u64 + 2 * o;
            *base += cast(o) + o;
        }
    };
    norm(&mut base, &mut wide);
    // Attention: q/k/v projections, head copies, rope (−x₂, cat, ·cos, ·sin, +) on q and k,
    // q·scale, scores, +mask, softmax (max, −, exp, Σ, ÷), probs·v, the head-merge copy, o_proj.
    proj(TargetModule::QProj, &mut base, &mut wide);
    proj(TargetModule::KProj, &mut base, &mut wide);
    proj(TargetModule::VProj, &mut base, &mut wide);
    base += nh * d + nkv * d + nkv * d; // heads(): contiguous copies of q, k, v
    base += (nh * d + nkv * d) * 9 / 2; // rope on q and k
    base += nh * d; // q · 1/sqrt(d)
    base += 5 * nh * t + 2 * nh; // scores, +bias, −max, exp, ÷Σ (and the two row vectors)
    base += 2 * nh * d; // probs · v, merged heads
    proj(TargetModule::OProj, &mut base, &mut wide);
    base += h; // residual
    norm(&mut base, &mut wide);
    // MLP: gate, silu, up, gate·up, down; residual.
    proj(TargetModule::GateProj, &mut base, &mut wide);
    base += f;
    proj(TargetModule::UpProj, &mut base, &mut wide);
    base += f;
    proj(TargetModule::DownProj, &mut base, &mut wide);
    base += h;
    (base, wide)
}

/// Bytes one decoder layer's activations take for `rows × seq` tokens.
pub fn layer_activation_bytes(arch: &Qwen2Config, w: &Workload) -> u64 {
    let lora = match &w.trained {
        Trained::Lora {
            r,
            modules,
            dropout,
            ..
        } => Some((*r, modules.as_slice(), *dropout)),
        Trained::Full => None,
    };
    let (base, wide) = layer_activation_elems(arch, w.seq_len, w.base_bytes == 4, lora);
    let tokens = (w.rows * w.seq_len) as u64;
    tokens * (base * w.base_bytes as u64 + wide * 4)
}

/// Peak bytes of the log-prob op over `tokens` targets (forward kept + backward working set).
pub fn logprob_bytes(
    arch: &Qwen2Config,
    tokens: usize,
    base_bytes: usize,
    path: LogprobPath,
) -> u64 {
    let v = arch.vocab_size as u64;
    match path {
        // Per chunk: logits, their f32 form and d logits — ~3 · chunk · V f32 values at once;
        // the graph keeps only the [N, 3] result.
        LogprobPath::Chunked { chunk } => 3 * chunk.min(tokens) as u64 * v * 4 + tokens as u64 * 12,
        // Logits in the base dtype, then ten f32 [N, V] copies at the peak of forward +
        // backward (→f32, log_softmax's kept tensors, the gradients of autograd's backward):
        // measured with a counting allocator, BENCHMARKS.md "Log-prob kernels" (5.80 MiB per
        // row of 152,064).
        LogprobPath::Composed => {
            let n = tokens as u64 * v;
            n * base_bytes as u64 + 10 * 4 * n
        }
    }
}

/// KV-cache bytes: keys and values of every layer for `rows × len` tokens.
pub fn kv_cache_bytes(arch: &Qwen2Config, rows: usize, len: usize, base_bytes: usize) -> u64 {
    (2 * arch.num_hidden_layers
        * arch.num_key_value_heads
        * arch.head_dim()
        * rows
        * len
        * base_bytes) as u64
}

fn gib(b: u64) -> String {
    format!("{:.2} GiB", b as f64 / GIB)
}

/// The breakdown of `w` on `arch`.
pub fn estimate(arch: &Qwen2Config, w: &Workload) -> Breakdown {
    let s = w.base_bytes as u64;
    let (h, layers) = (arch.hidden_size as u64, arch.num_hidden_layers as u64);
    let tokens = (w.rows * w.seq_len) as u64;
    let params = base_params(arch);
    let mut resident = vec![Line {
        name: "base weights",
        bytes: params * s,
        detail: format!("{params} params x {s} B"),
    }];
    match &w.trained {
        Trained::Lora {
            r,
            modules,
            layers: adapted,
            ..
        } => {
            let n = lora_params(arch, *r, modules, *adapted);
            resident.push(Line {
                name: "LoRA A/B (f32)",
                bytes: 4 * n,
                detail: format!(
                    "{n} params, r = {r}, {} modules x {adapted} layers",
                    modules.len()
                ),
            });
            resident.push(Line {
                name: "LoRA grads (f32, micro + sum)",
                bytes: 2 * 4 * n,
                detail: "the micro-batch's GradStore and the accumulator".into(),
            });
            resident.push(Line {
                name: "AdamW moments (f32)",
                bytes: 2 * 4 * n,
                detail: "exp_avg, exp_avg_sq".into(),
            });
        }
        Trained::Full => {
            resident.push(Line {
                name: "grads (base dtype, micro + sum)",
                bytes: 2 * s * params,
                detail: format!("{params} x {s} B x 2"),
            });
            let master = if s == 4 { 0 } else { 4 * params };
            resident.push(Line {
                name: "AdamW moments + master (f32)",
                bytes: 8 * params + master,
                detail: if s == 4 {
                    "exp_avg, exp_avg_sq".into()
                } else {
                    "exp_avg, exp_avg_sq, f32 master weights".into()
                },
            });
        }
    }

    let per_layer = layer_activation_bytes(arch, w);
    // Under checkpointing, one group of rows is live in a layer's backward at a time.
    let group = match w.checkpoint_rows {
        0 => w.rows,
        g => g.min(w.rows),
    }
    .max(1) as u64;
    let live = |b: u64| {
        if w.checkpointing {
            b * group / w.rows.max(1) as u64
        } else {
            b
        }
    };
    let layer_io = tokens * h * s;
    let mut training = Vec::new();
    if w.checkpointing {
        training.push(Line {
            name: "layer inputs kept (checkpointing)",
            bytes: layers * layer_io,
            detail: format!("{layers} x {}", gib(layer_io)),
        });
        training.push(Line {
            name: "one layer recomputed",
            bytes: live(per_layer),
            detail: format!(
                "{} rows x {} tokens at a time, all intermediates of one layer",
                group, w.seq_len
            ),
        });
    } else {
        training.push(Line {
            name: "activations, every layer",
            bytes: layers * per_layer,
            detail: format!("{layers} x {}", gib(per_layer)),
        });
    }
    // Gradients in flight while candle's backward walks a layer (each node's input gradients,
    // `or_insert`'s zeros, broadcast gradients before their reduction). Not derived: measured by
    // tests/activation_memory.rs as 2.3 x one layer's activations without checkpointing and
    // 1.25 x with it (on top of the recomputed layer); rounded up to 2.5 and 1.5.
    let (num, den) = if w.checkpointing { (3, 2) } else { (5, 2) };
    training.push(Line {
        name: "backward working set",
        bytes: live(per_layer) * num / den,
        detail: format!(
            "{:.1} x one layer's activations (measured on CPU)",
            num as f64 / den as f64
        ),
    });
    let what = match w.logprobs {
        LogprobPath::Chunked { chunk } => format!("chunked/fused, chunk {chunk}"),
        LogprobPath::Composed => "composed log_softmax".to_string(),
    };
    training.push(Line {
        name: "log-prob peak",
        bytes: logprob_bytes(
            arch,
            w.rows * w.seq_len.saturating_sub(1).max(1),
            w.base_bytes,
            w.logprobs,
        ),
        detail: what,
    });
    training.push(Line {
        name: "embedding + final norm + head input",
        bytes: 3 * layer_io,
        detail: "embeddings, normed hidden, its [N, H] view copy".into(),
    });

    let kv = kv_cache_bytes(arch, w.rollout_rows, w.rollout_len, w.base_bytes);
    let prefill =
        (w.rollout_rows * arch.num_attention_heads * w.prompt_len * w.prompt_len) as u64 * s * 2;
    let decode_logits = (w.rollout_rows * arch.vocab_size) as u64 * 4 * 2;
    let rollout = vec![
        Line {
            name: "KV cache",
            bytes: kv,
            detail: format!(
                "{} rows x {} tokens x {} KiB per token",
                w.rollout_rows,
                w.rollout_len,
                kv_cache_bytes(arch, 1, 1, w.base_bytes) / 1024
            ),
        },
        Line {
            name: "prefill attention (transient)",
            bytes: prefill,
            detail: format!("2 x [rows, heads, {0}, {0}]", w.prompt_len),
        },
        Line {
            name: "decode logits (f32)",
            bytes: decode_logits,
            detail: "[rows, V] and the sampler's copy".into(),
        },
    ];
    Breakdown {
        resident,
        training,
        rollout,
    }
}

impl Workload {
    /// The workload a run config describes on `arch`. GRPO and PPO sequences are `prompt_len` prompt
    /// tokens plus `rollout.max_new_tokens`; SFT sequences are `sft.max_length`.
    pub fn from_config(cfg: &TrainConfig, arch: &Qwen2Config, prompt_len: usize) -> Self {
        let lora = cfg.lora.lora_config();
        let trained = match cfg.model.train_mode {
            TrainModeName::Lora => Trained::Lora {
                r: lora.r,
                modules: lora.target_modules.resolve(),
                layers: (0..arch.num_hidden_layers)
                    .filter(|&l| lora.applies_to_layer(l))
                    .count(),
                dropout: lora.dropout > 0.0,
            },
            TrainModeName::Full => Trained::Full,
        };
        let completion = cfg.rollout.max_new_tokens;
        let seq_len = match cfg.method_config() {
            MethodConfig::Sft(sft) => sft.max_length,
            // PPO's critic adds a second adapter and a value head: small next to the base and
            // the activations, and left out of this estimate.
            MethodConfig::Grpo(_) | MethodConfig::Ppo(_) => prompt_len + completion,
        };
        Self {
            base_bytes: cfg.model.dtype.dtype().size_in_bytes(),
            trained,
            rows: cfg.optim.micro_batch_size,
            seq_len,
            checkpointing: cfg.model.activation_checkpointing,
            checkpoint_rows: cfg.model.checkpoint_rows,
            logprobs: match cfg.model.kernels {
                KernelsPath::Fused => LogprobPath::Chunked {
                    chunk: caugym_model::LogprobOptions::default().chunk_size,
                },
                KernelsPath::Reference => LogprobPath::Composed,
            },
            rollout_rows: cfg.rollout.max_batch_rows,
            rollout_len: prompt_len + completion,
            prompt_len,
        }
    }
}
