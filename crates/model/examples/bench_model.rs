//! Model benchmark (run by scripts/bench-model.sh next to a PyTorch twin):
//! forward+backward tokens/s of full-parameter training (f32, next-token log-prob loss through
//! the chunked log-prob op) and greedy decoding tokens/s on the preallocated KV cache.
//!
//! `cargo run --release -p caugym-model --example bench_model -- SIZE [train|sample|all]`
//! with SIZE `tiny` or `100m`; prints one JSON object per measurement.

use candle_core::{DType, Device, Tensor};
use caugym_model::init::{ModelSize, random_weights};
use caugym_model::loader::WeightSource;
use caugym_model::{
    AdapterMode, Batch, KvCache, LogprobOptions, PadSide, Qwen2, TrainMode, sequence_logprobs,
};
use std::time::Instant;

/// The `caugym` binary's allocator, with the same settings (`threads::init_cpu_runtime`), so the
/// benchmark times what `caugym train` runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn build(size: ModelSize) -> Res<Qwen2> {
    let cfg = size.config(if size == ModelSize::Tiny { 512 } else { 32_000 });
    let w = random_weights(&cfg, 0)?;
    Ok(Qwen2::new(
        &cfg,
        &w as &dyn WeightSource,
        DType::F32,
        &Device::Cpu,
    )?)
}

fn tokens(b: usize, t: usize, vocab: usize, salt: usize) -> Vec<Vec<u32>> {
    (0..b)
        .map(|r| {
            (0..t)
                .map(|i| ((i * 7919 + r * 104_729 + salt * 31) % vocab) as u32)
                .collect()
        })
        .collect()
}

/// Untimed steps first: the allocator and the BLAS reach their steady state (pages touched,
/// buffers sized) over the first two steps of the 100M model. The PyTorch twin does the same.
const WARMUP_STEPS: usize = 2;

fn train(model: &mut Qwen2, name: &str, (b, t, steps): (usize, usize, usize)) -> Res<()> {
    model.enable_full_finetune()?;
    let vars = model.trainable_vars(&TrainMode::Full)?;
    let vocab = model.config().vocab_size;
    let opts = LogprobOptions::default();
    let mut times = Vec::new();
    for step in 0..steps + WARMUP_STEPS {
        let batch = Batch::from_rows(&tokens(b, t, vocab, step), 0, PadSide::Right, &Device::Cpu)?;
        let start = Instant::now();
        let lp = sequence_logprobs(model, &batch, AdapterMode::Disabled, &opts)?;
        let loss = lp.logprobs.mean_all()?.neg()?;
        let fwd = start.elapsed().as_secs_f64();
        let grads = loss.backward()?;
        // Touch every gradient so none is skipped lazily.
        let n = vars.iter().filter(|(_, v)| grads.get(v).is_some()).count();
        let total = start.elapsed().as_secs_f64();
        if step >= WARMUP_STEPS {
            times.push((fwd, total));
        }
        eprintln!(
            "{name} train step {step}: forward {fwd:.3}s, forward+backward {total:.3}s, {n} grads"
        );
    }
    let mean = times.iter().map(|x| x.1).sum::<f64>() / times.len() as f64;
    let fwd = times.iter().map(|x| x.0).sum::<f64>() / times.len() as f64;
    println!(
        "{{\"impl\": \"{}\", \"size\": \"{name}\", \"bench\": \"train\", \"batch\": {b}, \"seq\": {t}, \"forward_s\": {fwd:.4}, \"step_s\": {mean:.4}, \"tokens_per_s\": {:.1}}}",
        impl_name(),
        (b * t) as f64 / mean
    );
    Ok(())
}

fn sample(model: &Qwen2, name: &str, (b, prompt, new): (usize, usize, usize)) -> Res<()> {
    let vocab = model.config().vocab_size;
    let batch = Batch::from_rows(&tokens(b, prompt, vocab, 1), 0, PadSide::Left, &Device::Cpu)?;
    let mut cache = KvCache::new(model, b, prompt + new)?;
    let start = Instant::now();
    let mut logits = model.prefill(&batch, &mut cache, AdapterMode::Disabled)?;
    let prefill = start.elapsed().as_secs_f64();
    for _ in 1..new {
        let next: Tensor = logits.argmax(candle_core::D::Minus1)?;
        logits = model.decode_step(&next, &mut cache, AdapterMode::Disabled)?;
    }
    let total = start.elapsed().as_secs_f64();
    println!(
        "{{\"impl\": \"{}\", \"size\": \"{name}\", \"bench\": \"sample\", \"batch\": {b}, \"prompt\": {prompt}, \"new_tokens\": {new}, \"prefill_s\": {prefill:.4}, \"total_s\": {total:.4}, \"tokens_per_s\": {:.1}}}",
        impl_name(),
        (b * new) as f64 / total
    );
    Ok(())
}

/// `caugym` on the gemm crate, `caugym+openblas` with the BLAS of `CAUGYM_BLAS`.
fn impl_name() -> &'static str {
    if caugym_model::blas::get().is_some() {
        "caugym+openblas"
    } else {
        "caugym"
    }
}

fn main() -> Res<()> {
    // SAFETY: first statement of main, no other thread exists yet.
    let rt = unsafe { caugym_model::threads::init_cpu_runtime() };
    eprintln!(
        "{rt:?}, CANDLE_NUM_THREADS={:?}, BLAS: {}",
        std::env::var("CANDLE_NUM_THREADS").ok(),
        caugym_model::blas::get().map_or("none (gemm crate)", |b| b.description.as_str())
    );
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).map(String::as_str).unwrap_or("tiny");
    let what = args.get(2).map(String::as_str).unwrap_or("all");
    let size = ModelSize::parse(name)?;
    let steps = std::env::var("BENCH_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    if what == "sample" || what == "all" {
        let model = build(size)?;
        for b in [1, 16] {
            sample(&model, name, (b, 32, 64))?;
        }
    }
    if what == "train" || what == "all" {
        let mut model = build(size)?;
        train(&mut model, name, (4, 256, steps))?;
    }
    Ok(())
}
