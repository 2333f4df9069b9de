//! CPU benchmark of fused vs composed log-probs: wall time and peak heap memory.
//!
//! Peak memory is measured by a counting global allocator (every tensor of candle's CPU backend lives on
//! the heap): `peak` is the most bytes held at once during the measured step, above what was held before
//! it (the inputs), so it is the memory the step itself needs.
//!
//! Two levels:
//! - `kernel`: given logits `[N, V]`, the log-probs of N targets and their gradient w.r.t. the logits.
//!   Fused: `selective_logprob` + `selective_logprob_backward`. Composed: f32 log_softmax (the steps of
//!   `candle_nn::ops::log_softmax`) + gather, differentiated by candle's autograd.
//! - `e2e`: from hidden states `[N, H]` and a frozen head `[V, H]`, as the model computes them. Fused: row
//!   chunks of `--chunk` rows, each computing its logits, log-probs, and in the backward its logits again,
//!   their gradient and the hidden states' gradient (what `caugym_model::logprobs::token_logprobs` does
//!   with these kernels). Composed: full `[N, V]` logits in the autograd graph.
//!
//! ```text
//! cargo run --release -p caugym-kernels --example logprob_cpu_bench -- --level kernel --path fused --rows 8192
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use candle_core::{D, DType, Device, Tensor, Var};
use caugym_kernels::reference::{Rng, fresh_seed};
use caugym_kernels::{selective_logprob, selective_logprob_backward};

/// Counts live heap bytes and their high-water mark.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded; `ptr` came from this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded; `ptr` came from this allocator with `layout`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Starts a measurement: the peak restarts from what is live now. Returns that baseline.
fn start_peak() -> usize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    live
}

fn peak_above(baseline: usize) -> usize {
    PEAK.load(Ordering::Relaxed).saturating_sub(baseline)
}

const MIB: f64 = (1u64 << 20) as f64;

struct Args {
    level: String,
    path: String,
    rows: usize,
    vocab: usize,
    hidden: usize,
    chunk: usize,
    dtype: DType,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        level: "kernel".into(),
        path: "fused".into(),
        rows: 1024,
        vocab: 152_064,
        hidden: 64,
        chunk: 512,
        dtype: DType::F32,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let num = |s: String| s.parse::<usize>().map_err(|e| format!("{s}: {e}"));
        match flag.as_str() {
            "--level" => a.level = value()?,
            "--path" => a.path = value()?,
            "--rows" => a.rows = num(value()?)?,
            "--vocab" => a.vocab = num(value()?)?,
            "--hidden" => a.hidden = num(value()?)?,
            "--chunk" => a.chunk = num(value()?)?,
            "--dtype" => {
                a.dtype = match value()?.as_str() {
                    "f32" => DType::F32,
                    "bf16" => DType::BF16,
                    other => return Err(format!("--dtype {other}: expected f32 or bf16")),
                }
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.chunk == 0 || a.rows == 0 || a.vocab == 0 {
        return Err("--rows, --vocab and --chunk must be positive".into());
    }
    Ok(a)
}

/// One measured run: forward and backward wall time, and the step's peak heap above its inputs.
struct Measured {
    fwd_ms: f64,
    bwd_ms: f64,
    peak: usize,
}

/// f32 log_softmax as `candle_nn::ops::log_softmax` builds it, then the targets' entries.
fn composed_logprobs(logits: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
    let z = logits.to_dtype(DType::F32)?;
    let max = z.max_keepdim(D::Minus1)?;
    let diff = z.broadcast_sub(&max)?;
    let log_sum = diff.exp()?.sum_keepdim(D::Minus1)?.log()?;
    let log_sm = diff.broadcast_sub(&log_sum)?;
    log_sm.gather(&targets.unsqueeze(1)?, 1)?.squeeze(1)
}

fn kernel_level(a: &Args, rng: &mut Rng) -> Result<Measured, Box<dyn std::error::Error>> {
    let cpu = Device::Cpu;
    let (n, v) = (a.rows, a.vocab);
    let logits = Tensor::randn(0f32, 2.0, (n, v), &cpu)?.to_dtype(a.dtype)?;
    let ids: Vec<u32> = (0..n).map(|_| rng.below(v) as u32).collect();
    let targets = Tensor::from_vec(ids, n, &cpu)?;
    let g = Tensor::randn(0f32, 1.0, n, &cpu)?;
    match a.path.as_str() {
        "fused" => {
            let base = start_peak();
            let t = Instant::now();
            let fwd = selective_logprob(&logits, &targets, false)?;
            let fwd_ms = t.elapsed().as_secs_f64() * 1e3;
            let t = Instant::now();
            let grad = selective_logprob_backward(&logits, &targets, &fwd.lse, &g, None)?;
            let bwd_ms = t.elapsed().as_secs_f64() * 1e3;
            let peak = peak_above(base);
            drop((fwd, grad));
            Ok(Measured {
                fwd_ms,
                bwd_ms,
                peak,
            })
        }
        "composed" => {
            // The logits as a graph leaf, as they would come out of the model.
            let var = Var::from_tensor(&logits)?;
            drop(logits);
            let base = start_peak();
            let t = Instant::now();
            let lp = composed_logprobs(var.as_tensor(), &targets)?;
            let loss = (lp * &g)?.sum_all()?;
            let fwd_ms = t.elapsed().as_secs_f64() * 1e3;
            let t = Instant::now();
            let grads = loss.backward()?;
            let grad = grads
                .get(var.as_tensor())
                .ok_or("no gradient for the logits")?;
            let bwd_ms = t.elapsed().as_secs_f64() * 1e3;
            let _ = grad;
            let peak = peak_above(base);
            Ok(Measured {
                fwd_ms,
                bwd_ms,
                peak,
            })
        }
        other => Err(format!("--path {other}: expected fused or composed").into()),
    }
}

fn e2e_level(a: &Args, rng: &mut Rng) -> Result<Measured, Box<dyn std::error::Error>> {
    let cpu = Device::Cpu;
    let (n, v, h) = (a.rows, a.vocab, a.hidden);
    // Scaled so that logits have standard deviation ≈ 2, as in the kernel level.
    let hidden = Tensor::randn(0f32, 1.0, (n, h), &cpu)?;
    let head =
        (Tensor::randn(0f32, 1.0, (v, h), &cpu)? * (2.0 / (h as f64).sqrt()))?.to_dtype(a.dtype)?;
    let hidden = hidden.to_dtype(a.dtype)?;
    let ids: Vec<u32> = (0..n).map(|_| rng.below(v) as u32).collect();
    let targets = Tensor::from_vec(ids, n, &cpu)?;
    let g = Tensor::randn(0f32, 1.0, n, &cpu)?;
    match a.path.as_str() {
        "fused" => {
            let base = start_peak();
            let head_t = head.t()?;
            let t = Instant::now();
            let mut lses = Vec::new();
            let mut lps = Vec::new();
            for start in (0..n).step_by(a.chunk) {
                let len = a.chunk.min(n - start);
                let z = hidden.narrow(0, start, len)?.matmul(&head_t)?;
                let out = selective_logprob(&z, &targets.narrow(0, start, len)?, false)?;
                lps.push(out.logprobs);
                lses.push(out.lse);
            }
            let lp = Tensor::cat(&lps, 0)?;
            let fwd_ms = t.elapsed().as_secs_f64() * 1e3;
            let t = Instant::now();
            let mut dhs = Vec::new();
            for (i, start) in (0..n).step_by(a.chunk).enumerate() {
                let len = a.chunk.min(n - start);
                let h_c = hidden.narrow(0, start, len)?;
                let z = h_c.matmul(&head_t)?;
                let dz = selective_logprob_backward(
                    &z,
                    &targets.narrow(0, start, len)?,
                    &lses[i],
                    &g.narrow(0, start, len)?,
                    None,
                )?;
                dhs.push(dz.matmul(&head)?);
            }
            let dh = Tensor::cat(&dhs, 0)?;
            let bwd_ms = t.elapsed().as_secs_f64() * 1e3;
            let peak = peak_above(base);
            drop((lp, dh));
            Ok(Measured {
                fwd_ms,
                bwd_ms,
                peak,
            })
        }
        "composed" => {
            let var = Var::from_tensor(&hidden)?;
            drop(hidden);
            let base = start_peak();
            let t = Instant::now();
            let z = var.as_tensor().matmul(&head.t()?)?;
            let loss = (composed_logprobs(&z, &targets)? * &g)?.sum_all()?;
            drop(z);
            let fwd_ms = t.elapsed().as_secs_f64() * 1e3;
            let t = Instant::now();
            let grads = loss.backward()?;
            let dh = grads
                .get(var.as_tensor())
                .ok_or("no gradient for the hidden states")?;
            let _ = dh;
            let bwd_ms = t.elapsed().as_secs_f64() * 1e3;
            let peak = peak_above(base);
            Ok(Measured {
                fwd_ms,
                bwd_ms,
                peak,
            })
        }
        other => Err(format!("--path {other}: expected fused or composed").into()),
    }
}

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("logprob_cpu_bench: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut rng = Rng::new(fresh_seed());
    let result = match args.level.as_str() {
        "kernel" => kernel_level(&args, &mut rng),
        "e2e" => e2e_level(&args, &mut rng),
        other => Err(format!("--level {other}: expected kernel or e2e").into()),
    };
    match result {
        Ok(m) => {
            let shape = if args.level == "e2e" {
                format!(
                    "{}x{} (H {}, chunk {})",
                    args.rows, args.vocab, args.hidden, args.chunk
                )
            } else {
                format!("{}x{}", args.rows, args.vocab)
            };
            println!(
                "| {} | {} | {} | {shape} | {:.0} | {:.0} | {:.0} | {:.0} |",
                args.level,
                args.path,
                args.dtype.as_str(),
                m.fwd_ms,
                m.bwd_ms,
                m.fwd_ms + m.bwd_ms,
                m.peak as f64 / MIB
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("logprob_cpu_bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
