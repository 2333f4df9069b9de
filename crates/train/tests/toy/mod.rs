//! A toy method for the runner's tests: a bigram language model (a `[V, V]` logits table and a
//! `[V]` bias, both Vars) trained by SFT on sequences drawn at random from a fixed corpus, with
//! switches that inject failures (an error, a NaN loss, a NaN gradient, a failing export).
#![allow(dead_code)]

use std::path::Path;

use candle_core::{D, DType, Device, Tensor, Var};
use caugym_train::config::{LoggingConfig, OptimConfig, OutputConfig};
use caugym_train::losses::sft_nll;
use caugym_train::metrics::Metrics;
use caugym_train::runner::{Method, Round, RunSettings, Sample, Update};
use caugym_train::{AggNorm, Error, NamedVar, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const V: usize = 6;
pub const CORPUS: usize = 40;
pub const MAX_LEN: usize = 7;

/// One micro-batch: `[b, MAX_LEN-1]` inputs/targets/mask and the update's normaliser.
pub struct Micro {
    inputs: Tensor,
    targets: Vec<Vec<u32>>,
    mask: Tensor,
    norm: AggNorm,
}

/// Failure injection.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    pub error_at_step: Option<u64>,
    pub nan_loss_at_step: Option<u64>,
    pub nan_grad_at_step: Option<u64>,
    pub export_fails_at_step: Option<u64>,
}

pub struct Toy {
    pub w: Var,
    pub b: Var,
    corpus: Vec<Vec<u32>>,
    micro_batch_size: usize,
    accumulation: usize,
    updates_per_round: usize,
    pub faults: Faults,
    step: u64,
}

impl Toy {
    /// Weights from `init_seed`; the corpus is fixed (seed 7), sequences of length 2..=MAX_LEN
    /// from a skewed bigram chain.
    pub fn new(init_seed: u64, optim: &OptimConfig, updates_per_round: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(init_seed);
        let w: Vec<f32> = (0..V * V).map(|_| rng.random_range(-0.5..0.5)).collect();
        let b: Vec<f32> = (0..V).map(|_| rng.random_range(-0.5..0.5)).collect();
        let dev = Device::Cpu;
        let mut crng = ChaCha8Rng::seed_from_u64(7);
        let corpus = (0..CORPUS)
            .map(|_| {
                let len = crng.random_range(2..=MAX_LEN);
                let mut s = vec![crng.random_range(0..V as u32)];
                while s.len() < len {
                    let prev = *s.last().unwrap_or(&0);
                    let next = if crng.random_bool(0.7) {
                        (prev + 1) % V as u32
                    } else {
                        crng.random_range(0..V as u32)
                    };
                    s.push(next);
                }
                s
            })
            .collect();
        Self {
            w: Var::from_tensor(&Tensor::from_vec(w, (V, V), &dev).unwrap()).unwrap(),
            b: Var::from_tensor(&Tensor::from_vec(b, V, &dev).unwrap()).unwrap(),
            corpus,
            micro_batch_size: optim.micro_batch_size,
            accumulation: optim.gradient_accumulation_steps,
            updates_per_round,
            faults: Faults::default(),
            step: 0,
        }
    }

    fn micro(&self, seqs: &[&Vec<u32>]) -> Result<(Tensor, Vec<Vec<u32>>, Tensor)> {
        let t = MAX_LEN - 1;
        let (mut ids, mut tg, mut m) = (Vec::new(), Vec::new(), Vec::new());
        for s in seqs {
            let mut row_t = Vec::new();
            for j in 0..t {
                let real = j + 1 < s.len();
                ids.push(if real { s[j] } else { 0 });
                row_t.push(if real { s[j + 1] } else { 0 });
                m.push(if real { 1f32 } else { 0.0 });
            }
            tg.push(row_t);
        }
        let dev = Device::Cpu;
        Ok((
            Tensor::from_vec(ids, (seqs.len(), t), &dev)?,
            tg,
            Tensor::from_vec(m, (seqs.len(), t), &dev)?,
        ))
    }

    pub fn weights(&self) -> (Vec<f32>, Vec<f32>) {
        (
            self.w.as_tensor().flatten_all().unwrap().to_vec1().unwrap(),
            self.b.as_tensor().to_vec1().unwrap(),
        )
    }
}

impl Method for Toy {
    type Micro = Micro;

    fn params(&self) -> Result<Vec<NamedVar>> {
        Ok(vec![
            NamedVar::new("toy.b", self.b.clone()),
            NamedVar::new("toy.w", self.w.clone()),
        ])
    }

    fn next_round(&mut self, step: u64, rng: &mut ChaCha8Rng) -> Result<Round<Micro>> {
        self.step = step;
        if self.faults.error_at_step == Some(step) {
            return Err(Error::Input {
                what: "toy",
                reason: "injected failure".into(),
            });
        }
        let mut updates = Vec::new();
        for _ in 0..self.updates_per_round {
            let n = self.micro_batch_size * self.accumulation;
            let idx: Vec<usize> = (0..n).map(|_| rng.random_range(0..CORPUS)).collect();
            let seqs: Vec<&Vec<u32>> = idx.iter().map(|&i| &self.corpus[i]).collect();
            let parts = seqs
                .chunks(self.micro_batch_size)
                .map(|c| self.micro(c))
                .collect::<Result<Vec<_>>>()?;
            let norm = AggNorm::from_masks(parts.iter().map(|p| &p.2))?;
            let tokens = norm.total_tokens;
            let micro_batches = parts
                .into_iter()
                .map(|(inputs, targets, mask)| Micro {
                    inputs,
                    targets,
                    mask,
                    norm,
                })
                .collect();
            updates.push(Update {
                micro_batches,
                tokens,
            });
        }
        let mut metrics = Metrics::new();
        metrics.insert(
            caugym_train::metrics::ROLLOUT_REWARD_MEAN,
            step as f64 / 10.0,
        );
        Ok(Round { updates, metrics })
    }

    fn micro_loss(&mut self, m: &Micro) -> Result<(Tensor, Metrics)> {
        let (bsz, t) = m.inputs.dims2()?;
        let flat = m.inputs.flatten_all()?;
        let logits = self
            .w
            .as_tensor()
            .index_select(&flat, 0)?
            .broadcast_add(self.b.as_tensor())?; // [b t, V]
        let logp_all = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let tg: Vec<u32> = m.targets.iter().flatten().copied().collect();
        let tg = Tensor::from_vec(tg, (bsz * t, 1), &Device::Cpu)?;
        let logp = logp_all.gather(&tg, 1)?.reshape((bsz, t))?;
        let (mut loss, metrics) = sft_nll(&logp, &m.mask, &m.norm)?;
        if self.faults.nan_loss_at_step == Some(self.step) {
            loss = (loss * f64::NAN)?;
        }
        if self.faults.nan_grad_at_step == Some(self.step) {
            // Value sqrt(0) = 0, gradient 1 / (2 sqrt(0)) = inf in `toy.w`.
            let w = self.w.as_tensor();
            let z = (w - w.detach())?.sqrt()?.sum_all()?;
            loss = (loss + z)?;
        }
        Ok((loss, metrics))
    }

    fn export(&self, dir: &Path) -> Result<()> {
        if self.faults.export_fails_at_step == Some(self.step) {
            return Err(Error::Input {
                what: "export",
                reason: "injected export failure".into(),
            });
        }
        let map = std::collections::HashMap::from([
            ("w".to_string(), self.w.as_tensor().clone()),
            ("b".to_string(), self.b.as_tensor().clone()),
        ]);
        candle_core::safetensors::save(&map, dir.join("toy.safetensors"))?;
        Ok(())
    }

    fn samples(&mut self, n: usize, rng: &mut ChaCha8Rng) -> Result<Vec<Sample>> {
        // Greedy continuation of a random start token.
        let w = self.w.as_tensor().to_dtype(DType::F32)?;
        (0..n)
            .map(|_| {
                let start = rng.random_range(0..V as u32);
                let row: Vec<f32> = w.get(start as usize)?.to_vec1()?;
                let next = (0..V)
                    .max_by(|&a, &c| row[a].total_cmp(&row[c]))
                    .unwrap_or(0);
                Ok(Sample {
                    prompt: start.to_string(),
                    completion: next.to_string(),
                    gold: None,
                    reward: None,
                    outcome: None,
                })
            })
            .collect()
    }
}

/// Runner settings for the toy: lr 0.1 peak, 2 warmup steps, cosine to 0.1 x peak.
pub fn settings(dir: &Path, max_steps: u64, micro: usize, accum: usize) -> RunSettings {
    let optim = OptimConfig {
        learning_rate: 0.1,
        warmup_steps: 2,
        min_lr_ratio: 0.1,
        micro_batch_size: micro,
        gradient_accumulation_steps: accum,
        max_steps,
        max_grad_norm: 1.0,
        ..OptimConfig::default()
    };
    RunSettings {
        seed: 11,
        method: "toy".into(),
        optim,
        logging: LoggingConfig {
            progress_bar: false,
            save_total_limit: 0,
            ..LoggingConfig::default()
        },
        output: OutputConfig {
            output_dir: dir.to_path_buf(),
            overwrite_output_dir: false,
        },
        config_toml: format!(
            "seed = 11\nmicro = {micro}\naccum = {accum}\nmax_steps = {max_steps}\n"
        ),
    }
}
