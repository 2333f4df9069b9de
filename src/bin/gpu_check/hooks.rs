//! The model-level timings: a LoRA training step (forward + backward) and batched decoding on random
//! weights of DeepSeek-R1-Distill-Qwen-14B's shape (hidden 5,120, 48 layers, 40 query and 8 key/value heads of
//! 128, MLP 13,824, vocabulary 152,064; bf16 weights ≈ 29.5 GB), built directly on the device.
//!
//! Training runs the trainers' path: LoRA r = 64 on all seven projections (f32), activation checkpointing one
//! sequence at a time, the chunked/fused log-prob op, `backward()`. It uses as many of the 48 layers as
//! `caugym_train::memory` says fit the card (with 10% headroom), and says how many in its row.
//!
//! FLOP counts (per token, stated in the rows): a forward is 2 FLOPs per matmul weight (7 projections × layers,
//! the head; LoRA's A and B) plus attention's 4·T·(heads·head_dim) per layer (QKᵀ and PV over the full T, as the
//! model computes them). With a frozen base the backward needs input gradients only — another forward's worth —
//! plus LoRA's weight gradients; model FLOPs = 2 × forward (+ LoRA's weight gradients). Recomputation under
//! checkpointing is extra work the MFU does not credit (the hardware FLOPs in the row do).
//!
//! Decoding: the weight-streaming limit of a decode step is (weights read + KV cache read) / HBM bandwidth —
//! every step must stream all layer weights and the head once, whatever the batch.

use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use caugym_model::loader::WeightSource;
use caugym_model::{
    AdapterMode, Batch, KvCache, LogprobOptions, LoraConfig, PadSide, Qwen2, Qwen2Config,
    TargetModule, TargetModules,
};
use caugym_train::memory::{self, LogprobPath, Trained, Workload};

use crate::Card;
use crate::table::{Status, Table};

/// What the hooks run: the architecture and the workload sizes.
pub struct HookShape {
    pub arch: Qwen2Config,
    pub dtype: DType,
    /// Training micro-batch: sequences × tokens.
    pub rows: usize,
    pub seq: usize,
    pub lora_r: usize,
    /// Decode batch sizes, prompt tokens and decode steps timed.
    pub batches: Vec<usize>,
    pub prompt: usize,
    pub steps: usize,
}

impl HookShape {
    /// DeepSeek-R1-Distill-Qwen-14B in bf16: 8 × 2,048-token micro-batch, LoRA r = 64; decode at 1/16/64.
    pub fn r1_distill_14b() -> Self {
        Self {
            arch: Qwen2Config {
                vocab_size: 152_064,
                hidden_size: 5120,
                intermediate_size: 13_824,
                num_hidden_layers: 48,
                num_attention_heads: 40,
                num_key_value_heads: 8,
                max_position_embeddings: 131_072,
                rope_theta: 1_000_000.0,
                rms_norm_eps: 1e-5,
                tie_word_embeddings: false,
                ..Qwen2Config::tiny(152_064)
            },
            dtype: DType::BF16,
            rows: 8,
            seq: 2048,
            lora_r: 64,
            batches: vec![1, 16, 64],
            prompt: 128,
            steps: 32,
        }
    }

    /// A small f32 shape for the CPU smoke run: the same code paths in seconds.
    pub fn cpu_smoke() -> Self {
        Self {
            arch: Qwen2Config {
                vocab_size: 512,
                hidden_size: 64,
                intermediate_size: 128,
                num_hidden_layers: 2,
                num_attention_heads: 4,
                num_key_value_heads: 2,
                ..Qwen2Config::tiny(512)
            },
            dtype: DType::F32,
            rows: 2,
            seq: 64,
            lora_r: 8,
            batches: vec![1, 4],
            prompt: 8,
            steps: 4,
        }
    }

    fn with_layers(&self, layers: usize) -> Qwen2Config {
        Qwen2Config {
            num_hidden_layers: layers,
            ..self.arch.clone()
        }
    }

    fn workload(&self) -> Workload {
        Workload {
            base_bytes: self.dtype.size_in_bytes(),
            trained: Trained::Lora {
                r: self.lora_r,
                modules: TargetModule::ALL.to_vec(),
                layers: self.arch.num_hidden_layers,
                dropout: false,
            },
            rows: self.rows,
            seq_len: self.seq,
            checkpointing: true,
            checkpoint_rows: 1,
            logprobs: LogprobPath::Chunked {
                chunk: LogprobOptions::default().chunk_size,
            },
            rollout_rows: 0,
            rollout_len: 0,
            prompt_len: 0,
        }
    }
}

/// Random weights generated on the device, by HF name (N(0, 0.02²) matrices, zero biases, unit norms).
struct RandomOnDevice<'a> {
    arch: &'a Qwen2Config,
    dtype: DType,
}

impl RandomOnDevice<'_> {
    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        let (h, v) = (self.arch.hidden_size, self.arch.vocab_size);
        if name == "model.embed_tokens.weight" || name == "lm_head.weight" {
            return Some(vec![v, h]);
        }
        if name.ends_with("norm.weight") {
            return Some(vec![h]);
        }
        let m = TargetModule::ALL
            .into_iter()
            .find(|m| name.contains(&format!(".{}.", m.name())))?;
        let (inp, out) = memory::projection_dims(self.arch, m);
        Some(if name.ends_with(".bias") {
            vec![out]
        } else {
            vec![out, inp]
        })
    }
}

impl WeightSource for RandomOnDevice<'_> {
    fn tensor(&self, name: &str, device: &Device) -> caugym_model::Result<Tensor> {
        let shape = self
            .shape(name)
            .ok_or_else(|| caugym_model::Error::MissingTensor {
                name: name.to_string(),
            })?;
        let t = if name.ends_with("norm.weight") {
            Tensor::ones(shape, self.dtype, device)?
        } else if name.ends_with(".bias") {
            Tensor::zeros(shape, self.dtype, device)?
        } else {
            Tensor::randn(0f32, 0.02, shape, device)?.to_dtype(self.dtype)?
        };
        Ok(t)
    }
}

/// Matmul weights per token of one forward: the 7 projections of `layers` layers and the head.
fn matmul_params(arch: &Qwen2Config) -> f64 {
    let per_layer: usize = TargetModule::ALL
        .iter()
        .map(|&m| {
            let (i, o) = memory::projection_dims(arch, m);
            i * o
        })
        .sum();
    (per_layer * arch.num_hidden_layers + arch.vocab_size * arch.hidden_size) as f64
}

/// Layers of `shape` whose training step `memory` predicts to fit `capacity` bytes with 10% headroom.
fn layers_that_fit(shape: &HookShape, capacity: Option<f64>) -> usize {
    let Some(cap) = capacity else {
        return shape.arch.num_hidden_layers;
    };
    (1..=shape.arch.num_hidden_layers)
        .rev()
        .find(|&l| {
            let arch = shape.with_layers(l);
            let mut w = shape.workload();
            w.trained = Trained::Lora {
                r: shape.lora_r,
                modules: TargetModule::ALL.to_vec(),
                layers: l,
                dropout: false,
            };
            (memory::estimate(&arch, &w).training_peak() as f64) <= 0.9 * cap
        })
        .unwrap_or(1)
}

fn random_ids(n: usize, vocab: usize, seed: u64) -> Vec<u32> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % vocab as u64) as u32
        })
        .collect()
}

fn build(arch: &Qwen2Config, dtype: DType, device: &Device, lora_r: usize) -> Result<Qwen2> {
    let src = RandomOnDevice { arch, dtype };
    let mut model = Qwen2::new(arch, &src, dtype, device).context("building random weights")?;
    let lora = LoraConfig::new(lora_r, 2.0 * lora_r as f64, TargetModules::AllLinear);
    model.add_adapter("a", &lora, 0)?;
    // B = 0 at initialisation: give it values so the adapter's whole path does real work.
    for (name, v) in model.adapter_vars("a")? {
        if name.contains("lora_B") {
            v.set(&Tensor::randn(0f32, 0.01, v.dims(), device)?)?;
        }
    }
    Ok(model)
}

/// One LoRA micro-batch forward + backward on the 14B shape: tokens/s and MFU.
pub fn train_step(device: &Device, card: &Card, shape: &HookShape, table: &mut Table) {
    let section = "train step";
    if let Err(err) = run_train_step(device, card, shape, table, section) {
        table.push(
            section,
            "forward+backward",
            format!("{err:#}"),
            Status::Fail,
        );
    }
}

fn run_train_step(
    device: &Device,
    card: &Card,
    shape: &HookShape,
    table: &mut Table,
    section: &str,
) -> Result<()> {
    let layers = layers_that_fit(shape, card.memory_gib.map(|g| g * memory::GIB));
    let arch = shape.with_layers(layers);
    let mut model = build(&arch, shape.dtype, device, shape.lora_r)?;
    model.set_training(true);
    model.set_activation_checkpointing(true);
    model.set_checkpoint_rows(1);
    let (rows, seq) = (shape.rows, shape.seq);
    let ids = Tensor::from_vec(
        random_ids(rows * seq, arch.vocab_size, 7),
        (rows, seq),
        device,
    )?;
    let mask = Tensor::ones((rows, seq), DType::U32, device)?;
    let batch = Batch::new(ids, mask)?;
    let opts = LogprobOptions::default();
    let tokens = (rows * (seq - 1)) as f64;
    let step = || -> Result<()> {
        let lp = caugym_model::sequence_logprobs(&model, &batch, AdapterMode::Active("a"), &opts)?;
        let loss = (lp.logprobs.sum_all()? / tokens)?;
        let grads = loss.backward()?;
        drop(grads);
        device.synchronize()?;
        Ok(())
    };
    step()?; // warm-up (cuBLAS handles, kernel loading, the allocator's pool)
    let iters = 2;
    let start = Instant::now();
    for _ in 0..iters {
        step()?;
    }
    let secs = start.elapsed().as_secs_f64() / iters as f64;

    let h_q = (arch.num_attention_heads * arch.head_dim()) as f64;
    let lora_per_token: f64 = TargetModule::ALL
        .iter()
        .map(|&m| {
            let (i, o) = memory::projection_dims(&arch, m);
            (shape.lora_r * (i + o)) as f64
        })
        .sum::<f64>()
        * layers as f64;
    let fwd =
        2.0 * matmul_params(&arch) + 2.0 * lora_per_token + 4.0 * seq as f64 * h_q * layers as f64;
    let model_flops = (2.0 * fwd + 2.0 * lora_per_token) * tokens;
    let hardware_flops = model_flops + fwd * tokens; // + the recomputed forward
    let tflops = model_flops / secs / 1e12;
    let label = format!(
        "{layers}/{} layers, LoRA r={} all-linear, {rows}x{seq} tokens, checkpointing",
        shape.arch.num_hidden_layers, shape.lora_r
    );
    table.push(
        section,
        &label,
        format!("{:.0} ms/step, {:.0} tokens/s", secs * 1e3, tokens / secs),
        Status::Info,
    );
    let (value, status) = match card.peak_tflops {
        Some(peak) => {
            let mfu = 100.0 * tflops / peak;
            (
                format!(
                    "{tflops:.0} TFLOP/s = {mfu:.0}% MFU of {peak:.0} (model FLOPs {:.2} GFLOP/token = 2 x fwd; \
                     with recompute {:.0}% HFU)",
                    model_flops / tokens / 1e9,
                    100.0 * hardware_flops / secs / 1e12 / peak
                ),
                if mfu >= 40.0 {
                    Status::Pass
                } else {
                    Status::Below
                },
            )
        }
        None => (
            format!(
                "{tflops:.2} TFLOP/s (model FLOPs {:.3} GFLOP/token); peak unknown",
                model_flops / tokens / 1e9
            ),
            Status::Info,
        ),
    };
    table.push(section, "MFU (bar: 40%)", value, status);
    Ok(())
}

/// Batched decoding on the 14B shape at each batch size: tokens/s and % of the weight-streaming limit.
pub fn generation(device: &Device, card: &Card, shape: &HookShape, table: &mut Table) {
    let section = "decode";
    if let Err(err) = run_generation(device, card, shape, table, section) {
        table.push(section, "batched decode", format!("{err:#}"), Status::Fail);
    }
}

fn run_generation(
    device: &Device,
    card: &Card,
    shape: &HookShape,
    table: &mut Table,
    section: &str,
) -> Result<()> {
    let arch = &shape.arch;
    let model = build(arch, shape.dtype, device, shape.lora_r)?;
    let elem = shape.dtype.size_in_bytes() as f64;
    // Read every step: all layer weights and the head (the embedding table only at b rows), LoRA's A and B (f32).
    let weight_bytes =
        (memory::base_params(arch) - (arch.vocab_size * arch.hidden_size) as u64) as f64 * elem
            + 4.0
                * memory::lora_params(
                    arch,
                    shape.lora_r,
                    &TargetModule::ALL,
                    arch.num_hidden_layers,
                ) as f64;
    let max_len = shape.prompt + shape.steps + 1;
    for &b in &shape.batches {
        let mut cache = KvCache::new(&model, b, max_len)?;
        let rows: Vec<Vec<u32>> = (0..b)
            .map(|r| random_ids(shape.prompt, arch.vocab_size, 100 + r as u64))
            .collect();
        let batch = Batch::from_rows(&rows, 0, PadSide::Left, device)?;
        let adapter = AdapterMode::Active("a");
        model.prefill(&batch, &mut cache, adapter)?;
        let tokens = Tensor::from_vec(random_ids(b, arch.vocab_size, 9), b, device)?;
        model.decode_step(&tokens, &mut cache, adapter)?; // warm-up
        device.synchronize()?;
        let start = Instant::now();
        for _ in 0..shape.steps {
            let logits = model.decode_step(&tokens, &mut cache, adapter)?;
            // The sampler needs the next token on the host: include that round trip.
            logits.argmax(1)?.to_vec1::<u32>()?;
        }
        let secs = start.elapsed().as_secs_f64() / shape.steps as f64;
        // Keys and values read per step, at the mean cache length over the timed steps.
        let mean_len = (shape.prompt + 1 + shape.steps / 2) as f64;
        let kv_bytes =
            memory::kv_cache_bytes(arch, b, 1, shape.dtype.size_in_bytes()) as f64 * mean_len;
        let tokens_s = b as f64 / secs;
        let (value, status) = match card.peak_gbps {
            Some(p) => {
                let limit = (weight_bytes + kv_bytes) / (p * 1e9);
                let pct = 100.0 * limit / secs;
                let status = match b {
                    64 if pct >= 50.0 => Status::Pass,
                    64 => Status::Below,
                    _ => Status::Info,
                };
                (
                    format!(
                        "{tokens_s:.0} tokens/s, {:.1} ms/step; {pct:.0}% of the weight-streaming limit \
                         ({:.1} ms: {:.1} GB weights + {:.2} GB KV at {p:.0} GB/s)",
                        secs * 1e3,
                        limit * 1e3,
                        weight_bytes / 1e9,
                        kv_bytes / 1e9
                    ),
                    status,
                )
            }
            None => (
                format!("{tokens_s:.0} tokens/s, {:.1} ms/step", secs * 1e3),
                Status::Info,
            ),
        };
        let item = if b == 64 {
            format!("batch {b} (bar: 50%)")
        } else {
            format!("batch {b}")
        };
        table.push(section, &item, value, status);
    }
    Ok(())
}
