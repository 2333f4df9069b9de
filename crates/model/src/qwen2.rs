//! The Qwen2 architecture, in candle's order: rotary embedding, MLP, attention, decoder layer,
//! model. Weight names mirror HF checkpoint keys.
//!
//! Two paths share this code. The training path (`no_grad = false`) uses only ops with a
//! backward: RMSNorm and rope from primitives, a softmax from primitives, matmuls through
//! [`crate::linear::LinearOp`]. The inference path (`no_grad = true`, used by the KV cache)
//! detaches the weights and may use candle's fast fused ops, which have no backward. On CPU in
//! f32/f64 the training path uses the fused ops of [`crate::fused`] (one pass each way, with
//! their own backward) in place of the composed forms, which stay as the path for other devices
//! and as the tests' reference.

use crate::batch::{Batch, attention_bias, positions};
use crate::config::Qwen2Config;
use crate::fused::{self, fused_available};
use crate::linear::{AdapterMode, Ctx, Linear, Param, check_shape, linear};
use crate::loader::WeightSource;
use crate::lora::{LoraConfig, TargetModule};
use crate::{Error, Result};
use candle_core::{D, DType, Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// cos/sin of each token's rotary angles, gathered by per-row positions.
#[derive(Clone)]
pub(crate) struct RopeTables {
    /// `[B, T, head_dim / 2]`, for candle's fast `rope` (inference path).
    half: (Tensor, Tensor),
    /// `[B, 1, T, head_dim]` (halves repeated), for the differentiable formula.
    full: (Tensor, Tensor),
}

/// Rotary embedding (non-interleaved halves, as HF Qwen2): frequencies theta^(−2i/d).
#[derive(Debug, Clone)]
pub(crate) struct RotaryEmbedding {
    inv_freq: Vec<f32>,
}

impl RotaryEmbedding {
    fn new(cfg: &Qwen2Config) -> Self {
        let d = cfg.head_dim();
        let inv_freq = (0..d)
            .step_by(2)
            .map(|i| (1.0 / cfg.rope_theta.powf(i as f64 / d as f64)) as f32)
            .collect();
        Self { inv_freq }
    }

    /// Angle tables for `positions` (`[B * T]`), computed in f32 like HF, cast to `dtype`.
    pub(crate) fn tables(
        &self,
        positions: &[u32],
        (b, t): (usize, usize),
        dtype: DType,
        device: &Device,
    ) -> Result<RopeTables> {
        let h = self.inv_freq.len();
        let mut cos = Vec::with_capacity(positions.len() * h);
        let mut sin = Vec::with_capacity(positions.len() * h);
        for &p in positions {
            for &f in &self.inv_freq {
                let a = p as f32 * f;
                cos.push(a.cos());
                sin.push(a.sin());
            }
        }
        let cos = Tensor::from_vec(cos, (b, t, h), device)?.to_dtype(dtype)?;
        let sin = Tensor::from_vec(sin, (b, t, h), device)?.to_dtype(dtype)?;
        let full =
            |x: &Tensor| -> Result<Tensor> { Ok(Tensor::cat(&[x, x], D::Minus1)?.unsqueeze(1)?) };
        Ok(RopeTables {
            full: (full(&cos)?, full(&sin)?),
            half: (cos, sin),
        })
    }
}

/// Rotates `x [B, H, T, d]`: x·cos + rotate_half(x)·sin.
fn apply_rope(x: &Tensor, rope: &RopeTables, ctx: &Ctx) -> Result<Tensor> {
    if ctx.no_grad {
        let (cos, sin) = &rope.half;
        return Ok(candle_nn::rotary_emb::rope(&x.contiguous()?, cos, sin)?);
    }
    let (cos, sin) = &rope.full;
    let d = x.dim(D::Minus1)?;
    let x1 = x.narrow(D::Minus1, 0, d / 2)?;
    let x2 = x.narrow(D::Minus1, d / 2, d / 2)?;
    let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
    Ok((x.broadcast_mul(cos)? + rotated.broadcast_mul(sin)?)?)
}

/// Softmax over the last dimension. The training form subtracts a *detached* row maximum:
/// softmax is shift-invariant, so the gradient is exact and the max needs no backward.
fn softmax_last(x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
    if ctx.no_grad {
        return Ok(candle_nn::ops::softmax_last_dim(x)?);
    }
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    Ok(e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?)
}

/// RMSNorm computed in (at least) f32: x / sqrt(mean(x²) + eps) · w.
#[derive(Debug, Clone)]
pub(crate) struct RmsNorm {
    pub(crate) weight: Param,
    eps: f64,
}

impl RmsNorm {
    fn load(
        src: &dyn WeightSource,
        name: &str,
        cfg: &Qwen2Config,
        dt: (DType, &Device),
    ) -> Result<Self> {
        Ok(Self {
            weight: Param::Frozen(load(
                src,
                &format!("{name}.weight"),
                &[cfg.hidden_size],
                dt,
            )?),
            eps: cfg.rms_norm_eps,
        })
    }

    fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let w = self.weight.value(ctx);
        if ctx.no_grad {
            return Ok(candle_nn::ops::rms_norm(
                &x.contiguous()?,
                &w,
                self.eps as f32,
            )?);
        }
        if fused_available(x) && w.dtype() == x.dtype() {
            return Ok(fused::rms_norm(x, &w, self.eps)?);
        }
        let dtype = x.dtype();
        // At least f32 (as HF); an f64 model (finite-difference tests) stays f64.
        let x32 = if dtype == DType::F64 {
            x.clone()
        } else {
            x.to_dtype(DType::F32)?
        };
        let inv_rms = (x32.sqr()?.mean_keepdim(D::Minus1)? + self.eps)?
            .sqrt()?
            .recip()?;
        Ok(x32
            .broadcast_mul(&inv_rms)?
            .to_dtype(dtype)?
            .broadcast_mul(&w)?)
    }
}

/// SwiGLU MLP: down(silu(gate(x)) · up(x)).
#[derive(Debug, Clone)]
pub(crate) struct Mlp {
    pub(crate) gate_proj: Linear,
    pub(crate) up_proj: Linear,
    pub(crate) down_proj: Linear,
}

impl Mlp {
    fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let gate = self.gate_proj.forward(x, ctx)?;
        let up = self.up_proj.forward(x, ctx)?;
        let act = if !ctx.no_grad && fused_available(&gate) {
            fused::silu_mul(&gate, &up)?
        } else {
            (gate.silu()? * up)?
        };
        self.down_proj.forward(&act, ctx)
    }
}

/// Where a layer's keys and values go when decoding with a cache: preallocated buffers
/// `[B, kv_heads, max_len, head_dim]` and the first free slot.
pub(crate) struct LayerCache<'a> {
    pub k: &'a Tensor,
    pub v: &'a Tensor,
    pub offset: usize,
}

/// Grouped-query self-attention with q/k/v biases.
#[derive(Debug, Clone)]
pub(crate) struct Attention {
    pub(crate) q_proj: Linear,
    pub(crate) k_proj: Linear,
    pub(crate) v_proj: Linear,
    pub(crate) o_proj: Linear,
    num_heads: usize,
    num_kv_heads: usize,
    head_dim: usize,
}

/// What every layer of one forward shares.
pub(crate) struct Shared<'a> {
    pub ctx: Ctx<'a>,
    pub rope: RopeTables,
    /// `[B, 1, 1, T, L]`.
    pub bias: Tensor,
}

impl<'a> Shared<'a> {
    /// The same context for rows `start..start + len` of the batch.
    pub(crate) fn rows(&self, start: usize, len: usize) -> Result<Shared<'a>> {
        let n = |t: &Tensor| t.narrow(0, start, len);
        let (hc, hs) = &self.rope.half;
        let (fc, fs) = &self.rope.full;
        Ok(Shared {
            ctx: self.ctx,
            rope: RopeTables {
                half: (n(hc)?, n(hs)?),
                full: (n(fc)?, n(fs)?),
            },
            bias: n(&self.bias)?,
        })
    }
}

impl Attention {
    fn heads(&self, x: &Tensor, n: usize) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        Ok(x.reshape((b, t, n, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()?)
    }

    /// The training forward on CPU: heads split, rotated and scaled in one op each, one
    /// masked softmax; every op has a one-pass backward.
    fn forward_fused(&self, x: &Tensor, sh: &Shared) -> Result<Tensor> {
        let ctx = &sh.ctx;
        let (b, t, _) = x.dims3()?;
        let (nh, nkv, hd) = (self.num_heads, self.num_kv_heads, self.head_dim);
        let rope = Some((&sh.rope.half.0, &sh.rope.half.1));
        let scale = 1.0 / (hd as f64).sqrt();
        let q = fused::split_heads(&self.q_proj.forward(x, ctx)?, nh, hd, scale, rope)?;
        let k = fused::split_heads(&self.k_proj.forward(x, ctx)?, nkv, hd, 1.0, rope)?;
        let v = fused::split_heads(&self.v_proj.forward(x, ctx)?, nkv, hd, 1.0, None)?;
        // As in `forward`: the query heads of a KV group share one batched matmul.
        let q = q.reshape((b, nkv, (nh / nkv) * t, hd))?;
        let scores = q.matmul(&k.t()?)?;
        let probs = fused::masked_softmax(&scores, &sh.bias, t)?;
        let out = probs
            .matmul(&v)?
            .reshape((b, nh, t, hd))?
            .transpose(1, 2)?
            .reshape((b, t, nh * hd))?;
        self.o_proj.forward(&out, ctx)
    }

    fn forward(&self, x: &Tensor, sh: &Shared, cache: Option<LayerCache>) -> Result<Tensor> {
        let ctx = &sh.ctx;
        if cache.is_none() && !ctx.no_grad && fused_available(x) {
            return self.forward_fused(x, sh);
        }
        let (b, t, _) = x.dims3()?;
        let (nh, nkv, hd) = (self.num_heads, self.num_kv_heads, self.head_dim);
        let groups = nh / nkv;
        let q = apply_rope(
            &self.heads(&self.q_proj.forward(x, ctx)?, nh)?,
            &sh.rope,
            ctx,
        )?;
        let k = apply_rope(
            &self.heads(&self.k_proj.forward(x, ctx)?, nkv)?,
            &sh.rope,
            ctx,
        )?;
        let v = self.heads(&self.v_proj.forward(x, ctx)?, nkv)?;
        let (k, v) = match cache {
            None => (k, v),
            Some(c) => {
                c.k.slice_set(&k.contiguous()?, 2, c.offset)?;
                c.v.slice_set(&v, 2, c.offset)?;
                (
                    c.k.narrow(2, 0, c.offset + t)?,
                    c.v.narrow(2, 0, c.offset + t)?,
                )
            }
        };
        let l = k.dim(2)?;
        // Query heads of one KV group are contiguous, so [B, nh, T, d] -> [B, nkv, g*T, d]
        // lets one batched matmul serve the whole group without repeating K and V.
        let q =
            (q.contiguous()? * (1.0 / (hd as f64).sqrt()))?.reshape((b, nkv, groups * t, hd))?;
        let scores = q.matmul(&k.t()?)?.reshape((b, nkv, groups, t, l))?;
        let scores = scores.broadcast_add(&sh.bias)?;
        let probs = softmax_last(&scores, ctx)?.reshape((b, nkv, groups * t, l))?;
        let out = probs
            .matmul(&v)?
            .reshape((b, nh, t, hd))?
            .transpose(1, 2)?
            .reshape((b, t, nh * hd))?;
        self.o_proj.forward(&out, ctx)
    }
}

/// Pre-norm decoder layer: x + attn(norm(x)), then + mlp(norm(·)).
#[derive(Debug, Clone)]
pub(crate) struct DecoderLayer {
    pub(crate) self_attn: Attention,
    pub(crate) mlp: Mlp,
    pub(crate) input_layernorm: RmsNorm,
    pub(crate) post_attention_layernorm: RmsNorm,
}

impl DecoderLayer {
    fn load(
        src: &dyn WeightSource,
        i: usize,
        cfg: &Qwen2Config,
        dt: (DType, &Device),
    ) -> Result<Self> {
        let (h, hd) = (cfg.hidden_size, cfg.head_dim());
        let (q_out, kv_out) = (cfg.num_attention_heads * hd, cfg.num_key_value_heads * hd);
        let lin = |m: TargetModule, (out, inp): (usize, usize), bias: bool| -> Result<Linear> {
            let p = m.hf_path(i);
            let w = load(src, &format!("{p}.weight"), &[out, inp], dt)?;
            let b = if bias {
                Some(load(src, &format!("{p}.bias"), &[out], dt)?)
            } else {
                None
            };
            Ok(Linear::new(w, b))
        };
        let ffn = cfg.intermediate_size;
        let self_attn = Attention {
            q_proj: lin(TargetModule::QProj, (q_out, h), true)?,
            k_proj: lin(TargetModule::KProj, (kv_out, h), true)?,
            v_proj: lin(TargetModule::VProj, (kv_out, h), true)?,
            o_proj: lin(TargetModule::OProj, (h, q_out), false)?,
            num_heads: cfg.num_attention_heads,
            num_kv_heads: cfg.num_key_value_heads,
            head_dim: hd,
        };
        let mlp = Mlp {
            gate_proj: lin(TargetModule::GateProj, (ffn, h), false)?,
            up_proj: lin(TargetModule::UpProj, (ffn, h), false)?,
            down_proj: lin(TargetModule::DownProj, (h, ffn), false)?,
        };
        let norm = |n: &str| RmsNorm::load(src, &format!("model.layers.{i}.{n}"), cfg, dt);
        Ok(Self {
            self_attn,
            mlp,
            input_layernorm: norm("input_layernorm")?,
            post_attention_layernorm: norm("post_attention_layernorm")?,
        })
    }

    pub(crate) fn forward(
        &self,
        x: &Tensor,
        sh: &Shared,
        cache: Option<LayerCache>,
    ) -> Result<Tensor> {
        let h = self.input_layernorm.forward(x, &sh.ctx)?;
        let x = (x + self.self_attn.forward(&h, sh, cache)?)?;
        let h = self.post_attention_layernorm.forward(&x, &sh.ctx)?;
        Ok((&x + self.mlp.forward(&h, &sh.ctx)?)?)
    }

    /// The `Var`s a forward under `ctx` reads in this layer: trainable base weights (full
    /// fine-tuning) and the active adapter's A and B.
    pub(crate) fn trainable_vars(&self, ctx: &Ctx) -> Vec<candle_core::Var> {
        let mut out = Vec::new();
        for norm in [&self.input_layernorm, &self.post_attention_layernorm] {
            out.extend(norm.weight.var().cloned());
        }
        for m in TargetModule::ALL {
            let lin = self.linear(m);
            out.extend(lin.weight.var().cloned());
            out.extend(lin.bias.as_ref().and_then(Param::var).cloned());
            if let Some(a) = ctx.adapter.and_then(|name| lin.adapters.get(name)) {
                out.push(a.a.clone());
                out.push(a.b.clone());
            }
        }
        out
    }

    /// The projection `m` of this layer.
    pub(crate) fn linear(&self, m: TargetModule) -> &Linear {
        match m {
            TargetModule::QProj => &self.self_attn.q_proj,
            TargetModule::KProj => &self.self_attn.k_proj,
            TargetModule::VProj => &self.self_attn.v_proj,
            TargetModule::OProj => &self.self_attn.o_proj,
            TargetModule::GateProj => &self.mlp.gate_proj,
            TargetModule::UpProj => &self.mlp.up_proj,
            TargetModule::DownProj => &self.mlp.down_proj,
        }
    }

    pub(crate) fn linear_mut(&mut self, m: TargetModule) -> &mut Linear {
        match m {
            TargetModule::QProj => &mut self.self_attn.q_proj,
            TargetModule::KProj => &mut self.self_attn.k_proj,
            TargetModule::VProj => &mut self.self_attn.v_proj,
            TargetModule::OProj => &mut self.self_attn.o_proj,
            TargetModule::GateProj => &mut self.mlp.gate_proj,
            TargetModule::UpProj => &mut self.mlp.up_proj,
            TargetModule::DownProj => &mut self.mlp.down_proj,
        }
    }
}

/// Loads `name` from `src`, checks its shape and converts it to the model's dtype and device.
fn load(
    src: &dyn WeightSource,
    name: &str,
    shape: &[usize],
    (dtype, device): (DType, &Device),
) -> Result<Tensor> {
    let t = src.tensor(name, device)?;
    check_shape(name, &t, shape)?;
    Ok(t.to_dtype(dtype)?)
}

/// A Qwen2 causal LM whose projections carry named LoRA adapters.
#[derive(Debug)]
pub struct Qwen2 {
    pub(crate) cfg: Qwen2Config,
    pub(crate) embed_tokens: Param,
    pub(crate) layers: Vec<DecoderLayer>,
    pub(crate) norm: RmsNorm,
    /// `None` when the head is tied to the embeddings.
    pub(crate) lm_head: Option<Param>,
    rope: RotaryEmbedding,
    pub(crate) adapters: BTreeMap<String, LoraConfig>,
    pub(crate) full_finetune: bool,
    training: bool,
    /// Recompute each decoder layer in the backward instead of keeping its activations.
    activation_checkpointing: bool,
    /// Rows recomputed together under checkpointing (0: the whole batch).
    checkpoint_rows: usize,
    dropout_rng: Mutex<ChaCha8Rng>,
    dtype: DType,
    device: Device,
}

impl Clone for Qwen2 {
    /// Shares every tensor and `Var` with `self` (cheap); the dropout RNG is copied.
    fn clone(&self) -> Self {
        let rng = self
            .dropout_rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        Self {
            cfg: self.cfg.clone(),
            embed_tokens: self.embed_tokens.clone(),
            layers: self.layers.clone(),
            norm: self.norm.clone(),
            lm_head: self.lm_head.clone(),
            rope: self.rope.clone(),
            adapters: self.adapters.clone(),
            full_finetune: self.full_finetune,
            training: self.training,
            activation_checkpointing: self.activation_checkpointing,
            checkpoint_rows: self.checkpoint_rows,
            dropout_rng: Mutex::new(rng),
            dtype: self.dtype,
            device: self.device.clone(),
        }
    }
}

impl Qwen2 {
    /// Builds the model from HF-named weights, converting them to `dtype` on `device`.
    /// A missing or misshapen tensor is an error naming it.
    pub fn new(
        cfg: &Qwen2Config,
        src: &dyn WeightSource,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        cfg.validate()?;
        let dt = (dtype, device);
        let (v, h) = (cfg.vocab_size, cfg.hidden_size);
        let embed_tokens = Param::Frozen(load(src, "model.embed_tokens.weight", &[v, h], dt)?);
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| DecoderLayer::load(src, i, cfg, dt))
            .collect::<Result<Vec<_>>>()?;
        let norm = RmsNorm::load(src, "model.norm", cfg, dt)?;
        let lm_head = if cfg.tie_word_embeddings {
            None
        } else {
            Some(Param::Frozen(load(src, "lm_head.weight", &[v, h], dt)?))
        };
        Ok(Self {
            cfg: cfg.clone(),
            embed_tokens,
            layers,
            norm,
            lm_head,
            rope: RotaryEmbedding::new(cfg),
            adapters: BTreeMap::new(),
            full_finetune: false,
            training: false,
            activation_checkpointing: false,
            checkpoint_rows: 0,
            dropout_rng: Mutex::new(ChaCha8Rng::seed_from_u64(0)),
            dtype,
            device: device.clone(),
        })
    }

    pub fn config(&self) -> &Qwen2Config {
        &self.cfg
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Switches LoRA dropout on (training) or off (evaluation, sampling).
    pub fn set_training(&mut self, training: bool) {
        self.training = training;
    }
    pub fn is_training(&self) -> bool {
        self.training
    }

    /// Activation checkpointing per decoder layer: the training forward keeps only each layer's
    /// input, and the backward recomputes the layer (about one extra forward of compute) —
    /// gradients are the same as without it. See [`crate::checkpoint`].
    pub fn set_activation_checkpointing(&mut self, on: bool) {
        self.activation_checkpointing = on;
    }
    pub fn activation_checkpointing(&self) -> bool {
        self.activation_checkpointing
    }

    /// Under checkpointing, run and recompute each layer this many rows at a time (0, the
    /// default: the whole batch). Peak activation memory scales with it; gradients do not
    /// change (LoRA dropout masks are drawn per group).
    pub fn set_checkpoint_rows(&mut self, rows: usize) {
        self.checkpoint_rows = rows;
    }
    pub fn checkpoint_rows(&self) -> usize {
        self.checkpoint_rows
    }

    /// Reseeds the RNG that draws LoRA dropout masks.
    pub fn set_dropout_seed(&mut self, seed: u64) {
        self.dropout_rng = Mutex::new(ChaCha8Rng::seed_from_u64(seed));
    }

    /// The output projection `[V, H]` (the embedding matrix when tied).
    pub fn lm_head_weight(&self) -> &Tensor {
        self.lm_head.as_ref().unwrap_or(&self.embed_tokens).tensor()
    }

    /// Logits `[.., V]` of hidden states `[.., H]`.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        linear(hidden, self.lm_head_weight())
    }

    pub(crate) fn ctx<'a>(&'a self, adapter: AdapterMode<'a>, no_grad: bool) -> Result<Ctx<'a>> {
        let adapter = match adapter {
            AdapterMode::Disabled => None,
            AdapterMode::Active(name) => {
                if !self.adapters.contains_key(name) {
                    return Err(Error::UnknownAdapter {
                        name: name.to_string(),
                        known: self.adapters.keys().cloned().collect(),
                    });
                }
                Some(name)
            }
        };
        Ok(Ctx {
            adapter,
            dropout: (self.training && !no_grad).then_some(&self.dropout_rng),
            no_grad,
            detached: false,
        })
    }

    pub(crate) fn embed(&self, ids: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let flat = ids.flatten_all()?;
        if let Some(bad) = flat
            .to_vec1::<u32>()?
            .into_iter()
            .find(|&i| i as usize >= self.cfg.vocab_size)
        {
            return Err(Error::input(
                "input_ids",
                format!("token {bad} >= vocab_size {}", self.cfg.vocab_size),
            ));
        }
        let e = self.embed_tokens.value(ctx).index_select(&flat, 0)?;
        Ok(e.reshape((b, t, self.cfg.hidden_size))?)
    }

    /// Runs the decoder stack on `x`, optionally writing keys/values into per-layer caches.
    pub(crate) fn run_layers(
        &self,
        mut x: Tensor,
        sh: &Shared,
        caches: Option<(&[(Tensor, Tensor)], usize)>,
    ) -> Result<Tensor> {
        for (i, layer) in self.layers.iter().enumerate() {
            let cache = caches.map(|(c, offset)| LayerCache {
                k: &c[i].0,
                v: &c[i].1,
                offset,
            });
            x = if self.activation_checkpointing && cache.is_none() && !sh.ctx.untracked() {
                crate::checkpoint::forward(layer, &x, sh, self.checkpoint_rows)?
            } else {
                layer.forward(&x, sh, cache)?
            };
        }
        self.norm.forward(&x, &sh.ctx)
    }

    pub(crate) fn rope_tables(&self, positions: &[u32], bt: (usize, usize)) -> Result<RopeTables> {
        self.rope.tables(positions, bt, self.dtype, &self.device)
    }

    /// Final hidden states `[B, T, H]` (after the last norm) of a padded batch: the training
    /// forward, every op differentiable. Positions come from the mask, so left padding works.
    pub fn forward_hidden(&self, batch: &Batch, adapter: AdapterMode) -> Result<Tensor> {
        let ctx = self.ctx(adapter, false)?;
        let (b, t) = batch.dims();
        let mask = batch.host_mask()?;
        let pos = positions(&mask, b, t, &vec![0; b]);
        let sh = Shared {
            rope: self.rope_tables(&pos, (b, t))?,
            bias: attention_bias(&mask, b, t, t, self.dtype, &self.device)?,
            ctx,
        };
        let x = self.embed(&batch.input_ids, &sh.ctx)?;
        self.run_layers(x, &sh, None)
    }

    /// Logits `[B, T, V]` of every position (convenience: memory ∝ T·V; training code should
    /// use [`crate::logprobs::token_logprobs`] on the hidden states instead).
    pub fn forward_logits(&self, batch: &Batch, adapter: AdapterMode) -> Result<Tensor> {
        self.logits(&self.forward_hidden(batch, adapter)?)
    }
}
