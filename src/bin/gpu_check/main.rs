//! `gpu_check`: the end-to-end check a GPU machine runs from a binary built elsewhere
//! (`scripts/build-cuda.sh`, then `scripts/gpu-check.sh` on the GPU machine, which has CUDA libraries but
//! no Rust toolchain and no network).
//!
//! Steps, each adding rows to one table printed at the end:
//! 1. correctness: the fused kernels against the f64 reference on fresh random inputs, the cases and
//!    tolerances of `caugym_kernels::check` (the same as the CUDA tests);
//! 2. timing: fused vs composed (log_softmax + gather, as `candle_nn::ops::log_softmax` builds it) log-probs
//!    at 8,192 × 152,064, forward and forward+backward, in ms, GB/s and % of the card's HBM bandwidth;
//! 3. on random weights of the 14B shape: a LoRA training step (forward + backward, tokens/s, MFU) and batched
//!    decoding at batch 1/16/64 (tokens/s, % of the weight-streaming limit) — see `hooks.rs`.
//!
//! `--device cpu` runs the same steps at small sizes (a 2-layer model for step 3), so the flow itself is
//! exercised on any machine.
//! Exit status 1 when any check fails.

mod hooks;
mod table;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use candle_core::{D, DType, Device, Tensor, Var};
use caugym_kernels::check::{self, Case};
use caugym_kernels::reference::{Rng, fresh_seed};
use caugym_kernels::{selective_logprob, selective_logprob_backward};
use clap::{Parser, ValueEnum};

use table::{Status, Table};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DeviceArg {
    Cuda,
    Cpu,
}

/// Checks and times caugym's fused kernels on this machine's GPU.
#[derive(Debug, Parser)]
#[command(name = "gpu_check")]
struct Args {
    /// Where to run; `cpu` is a smoke run of the same steps at small sizes.
    #[arg(long, value_enum, default_value = "cuda")]
    device: DeviceArg,
    /// Rows (tokens) of the timing problem.
    #[arg(long, default_value_t = 8192)]
    rows: usize,
    /// Vocabulary of the timing problem (Qwen2.5 / DeepSeek-R1-Distill-Qwen: 152,064).
    #[arg(long, default_value_t = 152_064)]
    vocab: usize,
    /// Timed repetitions per measurement (after two warm-up runs).
    #[arg(long, default_value_t = 10)]
    iters: usize,
    /// Correctness only.
    #[arg(long)]
    no_timing: bool,
    /// The card's HBM bandwidth in GB/s, for a card whose name is not recognised.
    #[arg(long)]
    peak_gbps: Option<f64>,
    /// The card's dense bf16 tensor-core peak in TFLOP/s, for a card whose name is not recognised.
    #[arg(long)]
    peak_tflops: Option<f64>,
    /// Skip the 14B-shape training step and decoding.
    #[arg(long)]
    no_model: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let mut table = Table::default();
    if let Err(err) = run(&args, &mut table) {
        table.push("error", "run stopped", format!("{err:#}"), Status::Fail);
    }
    table.print();
    if table.any_failed() {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}

fn run(args: &Args, table: &mut Table) -> Result<()> {
    let started = Instant::now();
    let (device, card) = open_device(args)?;
    table.push("device", &card.name, card.describe(), Status::Info);

    correctness(&device, args, table);
    table.push(
        "time",
        "correctness",
        format!("{:.1} s", started.elapsed().as_secs_f64()),
        Status::Info,
    );

    if !args.no_timing {
        let (rows, vocab) = match args.device {
            DeviceArg::Cuda => (args.rows, args.vocab),
            // The CPU smoke run keeps the steps but not the size.
            DeviceArg::Cpu => (args.rows.min(64), args.vocab.min(8192)),
        };
        for dtype in [DType::BF16, DType::F32] {
            if let Err(err) = timing(&device, &card, rows, vocab, dtype, args.iters, table) {
                table.push("timing", dtype.as_str(), format!("{err:#}"), Status::Fail);
            }
        }
    }

    if args.no_model {
        table.push(
            "model",
            "train step, decode",
            "skipped (--no-model)",
            Status::Info,
        );
    } else {
        let shape = match args.device {
            DeviceArg::Cuda => hooks::HookShape::r1_distill_14b(),
            DeviceArg::Cpu => hooks::HookShape::cpu_smoke(),
        };
        // Decoding first: it needs all 48 layers' weights; the training step then builds as many as fit.
        let t = Instant::now();
        hooks::generation(&device, &card, &shape, table);
        hooks::train_step(&device, &card, &shape, table);
        table.push(
            "time",
            "model steps",
            format!("{:.1} s", t.elapsed().as_secs_f64()),
            Status::Info,
        );
    }
    table.push(
        "time",
        "total",
        format!("{:.1} s", started.elapsed().as_secs_f64()),
        Status::Info,
    );
    Ok(())
}

/// What the table says about the card, and its HBM bandwidth and bf16 peak when known.
pub(crate) struct Card {
    name: String,
    memory_gib: Option<f64>,
    peak_gbps: Option<f64>,
    peak_tflops: Option<f64>,
}

impl Card {
    fn describe(&self) -> String {
        let mem = self
            .memory_gib
            .map_or(String::new(), |m| format!("{m:.0} GiB, "));
        let hbm = match self.peak_gbps {
            Some(p) => format!("HBM peak {p:.0} GB/s"),
            None => "HBM peak unknown (pass --peak-gbps)".to_string(),
        };
        let flops = match self.peak_tflops {
            Some(p) => format!("bf16 dense peak {p:.0} TFLOP/s"),
            None => "bf16 peak unknown (pass --peak-tflops)".to_string(),
        };
        format!("{mem}{hbm}, {flops}")
    }
}

/// HBM bandwidth by card name (vendor data sheets): H100 SXM 3.35 TB/s, H100 NVL 3.9 TB/s, H100 PCIe
/// 2.0 TB/s, H200 4.8 TB/s.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
fn known_peak_gbps(name: &str) -> Option<f64> {
    let name = name.to_ascii_uppercase();
    if name.contains("H200") {
        Some(4800.0)
    } else if name.contains("H100") && name.contains("NVL") {
        Some(3900.0)
    } else if name.contains("H100") && name.contains("PCIE") {
        Some(2000.0)
    } else if name.contains("H100") {
        Some(3350.0)
    } else {
        None
    }
}

/// Dense bf16 tensor-core peak by card name (vendor data sheets, without sparsity): H100 SXM and H200
/// 989 TFLOP/s, H100 NVL 835, H100 PCIe 756.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
fn known_peak_tflops(name: &str) -> Option<f64> {
    let name = name.to_ascii_uppercase();
    if name.contains("H200") {
        Some(989.0)
    } else if name.contains("H100") && name.contains("NVL") {
        Some(835.0)
    } else if name.contains("H100") && name.contains("PCIE") {
        Some(756.0)
    } else if name.contains("H100") {
        Some(989.0)
    } else {
        None
    }
}

fn open_device(args: &Args) -> Result<(Device, Card)> {
    match args.device {
        DeviceArg::Cpu => Ok((
            Device::Cpu,
            Card {
                name: "cpu (smoke run)".into(),
                memory_gib: None,
                peak_gbps: args.peak_gbps,
                peak_tflops: args.peak_tflops,
            },
        )),
        DeviceArg::Cuda => open_cuda(args),
    }
}

#[cfg(feature = "cuda")]
fn open_cuda(args: &Args) -> Result<(Device, Card)> {
    let device = Device::new_cuda(0).context("opening CUDA device 0")?;
    let cuda = device.as_cuda_device()?;
    let ctx = cuda.cuda_stream().context().clone();
    let name = ctx.name().context("reading the device name")?;
    let memory_gib = ctx.total_mem().ok().map(|b| b as f64 / (1u64 << 30) as f64);
    let peak_gbps = args.peak_gbps.or_else(|| known_peak_gbps(&name));
    let peak_tflops = args.peak_tflops.or_else(|| known_peak_tflops(&name));
    Ok((
        device,
        Card {
            name,
            memory_gib,
            peak_gbps,
            peak_tflops,
        },
    ))
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(_: &Args) -> Result<(Device, Card)> {
    anyhow::bail!(
        "this gpu_check was built without the `cuda` feature (scripts/build-cuda.sh builds it with)"
    )
}

fn correctness(device: &Device, args: &Args, table: &mut Table) {
    let mut cases = check::standard_cases();
    for v in [1001, 1003, 4097] {
        for dtype in [DType::F32, DType::BF16] {
            cases.push(Case::new(6, v, dtype, true).offset());
        }
    }
    if args.device == DeviceArg::Cuda {
        // Many rows at the production vocabulary: a multi-wave grid.
        cases.push(Case::new(64, 152_064, DType::BF16, true));
        cases.push(Case::new(64, 152_064, DType::F32, true));
    }
    let (mut passed, mut failed) = (0, 0);
    let mut worst_fwd = 0.0f64;
    let mut worst_bwd = 0.0f64;
    for case in cases {
        for (kind, result) in [
            ("forward", check::forward(device, case)),
            ("backward", check::backward(device, case)),
        ] {
            match result {
                Ok(report) if report.passed() => {
                    passed += 1;
                    let w = if kind == "forward" {
                        &mut worst_fwd
                    } else {
                        &mut worst_bwd
                    };
                    *w = w.max(report.worst);
                }
                Ok(report) => {
                    failed += 1;
                    table.push("check", kind, report.to_string(), Status::Fail);
                }
                Err(err) => {
                    failed += 1;
                    table.push("check", kind, format!("{case}: {err}"), Status::Fail);
                }
            }
        }
    }
    let status = if failed == 0 {
        Status::Pass
    } else {
        Status::Fail
    };
    table.push(
        "check",
        "fused vs f64 reference",
        format!(
            "{passed} passed, {failed} failed; worst forward {worst_fwd:.3}, backward {worst_bwd:.3} of tolerance"
        ),
        status,
    );
}

/// Mean wall time of `f` over `iters` runs after two warm-ups, synchronised with the device.
fn time<T>(device: &Device, iters: usize, mut f: impl FnMut() -> Result<T>) -> Result<Duration> {
    for _ in 0..2 {
        drop(f()?);
    }
    device.synchronize()?;
    let start = Instant::now();
    for _ in 0..iters {
        drop(f()?);
    }
    device.synchronize()?;
    Ok(start.elapsed() / iters.max(1) as u32)
}

/// Log-probs as a trainer without the fused op computes them: f32 log_softmax (max, subtract, exp, sum,
/// log, subtract — `candle_nn::ops::log_softmax`'s steps) and a gather.
fn composed(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let z = logits.to_dtype(DType::F32)?;
    let max = z.max_keepdim(D::Minus1)?;
    let diff = z.broadcast_sub(&max)?;
    let log_sum = diff.exp()?.sum_keepdim(D::Minus1)?.log()?;
    let log_sm = diff.broadcast_sub(&log_sum)?;
    Ok(log_sm.gather(&targets.unsqueeze(1)?, 1)?.squeeze(1)?)
}

fn timing(
    device: &Device,
    card: &Card,
    n: usize,
    v: usize,
    dtype: DType,
    iters: usize,
    table: &mut Table,
) -> Result<()> {
    let section = format!("{n}x{v} {}", dtype.as_str());
    let logits = Tensor::randn(0f32, 2.0, (n, v), device)?.to_dtype(dtype)?;
    let mut rng = Rng::new(fresh_seed());
    let ids: Vec<u32> = (0..n).map(|_| rng.below(v) as u32).collect();
    let targets = Tensor::from_slice(&ids, n, device)?;
    let g: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
    let g = Tensor::from_slice(&g, n, device)?;
    let elem = dtype.size_in_bytes() as f64;
    let logit_bytes = (n * v) as f64 * elem;
    let rate = |bytes: f64, t: Duration| {
        let gbps = bytes / t.as_secs_f64() / 1e9;
        let pct = card.peak_gbps.map_or(String::new(), |p| {
            format!(", {:.0}% of peak", 100.0 * gbps / p)
        });
        format!("{:.3} ms, {gbps:.0} GB/s{pct}", t.as_secs_f64() * 1e3)
    };
    let meets = |bytes: f64, t: Duration| match card.peak_gbps {
        // The bar for the log-prob kernel: 80% of HBM bandwidth.
        Some(p) if bytes / t.as_secs_f64() / 1e9 >= 0.8 * p => Status::Pass,
        Some(_) => Status::Below,
        None => Status::Info,
    };

    // What a plain device copy reaches: read + write of the logits.
    let t_copy = time(device, iters, || Ok(logits.copy()?))?;
    table.push(
        &section,
        "device copy (reference)",
        rate(2.0 * logit_bytes, t_copy),
        Status::Info,
    );

    let t_fwd = time(device, iters, || {
        Ok(selective_logprob(&logits, &targets, false)?)
    })?;
    table.push(
        &section,
        "fused forward",
        rate(logit_bytes, t_fwd),
        meets(logit_bytes, t_fwd),
    );
    let t_fwd_h = time(device, iters, || {
        Ok(selective_logprob(&logits, &targets, true)?)
    })?;
    table.push(
        &section,
        "fused forward +entropy",
        rate(logit_bytes, t_fwd_h),
        meets(logit_bytes, t_fwd_h),
    );

    let fwd = selective_logprob(&logits, &targets, false)?;
    let t_bwd = time(device, iters, || {
        Ok(selective_logprob_backward(
            &logits, &targets, &fwd.lse, &g, None,
        )?)
    })?;
    table.push(
        &section,
        "fused backward",
        rate(2.0 * logit_bytes, t_bwd),
        meets(2.0 * logit_bytes, t_bwd),
    );

    // Agreement with the composed path on this large input (a second, independent check).
    let lp_composed = composed(&logits, &targets)?;
    let diff = (&fwd.logprobs - &lp_composed)?
        .abs()?
        .max(0)?
        .to_scalar::<f32>()?;
    let status = if diff <= 1e-3 {
        Status::Pass
    } else {
        Status::Fail
    };
    table.push(
        &section,
        "max |fused - composed| log-prob",
        format!("{diff:.2e}"),
        status,
    );
    drop(lp_composed);

    let t_comp = time(device, iters, || composed(&logits, &targets))?;
    table.push(
        &section,
        "composed forward",
        rate(logit_bytes, t_comp),
        Status::Info,
    );
    table.push(
        &section,
        "forward speed-up",
        format!("{:.1}x", t_comp.as_secs_f64() / t_fwd.as_secs_f64()),
        Status::Info,
    );

    // Forward + backward, composed through autograd (as a trainer would without the fused op).
    let composed_train = || -> Result<Tensor> {
        let var = Var::from_tensor(&logits)?;
        let loss = (composed(var.as_tensor(), &targets)? * &g)?.sum_all()?;
        let grads = loss.backward()?;
        grads
            .get(var.as_tensor())
            .cloned()
            .context("composed path lost the logits' gradient")
    };
    let fused_train = || -> Result<Tensor> {
        let f = selective_logprob(&logits, &targets, false)?;
        Ok(selective_logprob_backward(
            &logits, &targets, &f.lse, &g, None,
        )?)
    };
    let t_fused_fb = time(device, iters, fused_train)?;
    table.push(
        &section,
        "fused forward+backward",
        rate(3.0 * logit_bytes, t_fused_fb),
        Status::Info,
    );
    match time(device, iters.min(3), composed_train) {
        Ok(t) => {
            table.push(
                &section,
                "composed forward+backward",
                format!("{:.3} ms", t.as_secs_f64() * 1e3),
                Status::Info,
            );
            table.push(
                &section,
                "forward+backward speed-up",
                format!("{:.1}x", t.as_secs_f64() / t_fused_fb.as_secs_f64()),
                Status::Info,
            );
        }
        // Out of memory is a result here (the composed path keeps several [n, V] f32 copies).
        Err(err) => table.push(
            &section,
            "composed forward+backward",
            format!("did not run: {err:#}"),
            Status::Info,
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{known_peak_gbps, known_peak_tflops};

    #[test]
    fn peak_bandwidth_by_card_name() {
        assert_eq!(known_peak_gbps("NVIDIA H100 80GB HBM3"), Some(3350.0));
        assert_eq!(known_peak_gbps("NVIDIA H100 PCIe"), Some(2000.0));
        assert_eq!(known_peak_gbps("NVIDIA H100 NVL"), Some(3900.0));
        assert_eq!(known_peak_gbps("NVIDIA H200"), Some(4800.0));
        assert_eq!(known_peak_gbps("NVIDIA A100-SXM4-80GB"), None);
    }

    #[test]
    fn peak_flops_by_card_name() {
        assert_eq!(known_peak_tflops("NVIDIA H100 80GB HBM3"), Some(989.0));
        assert_eq!(known_peak_tflops("NVIDIA H100 PCIe"), Some(756.0));
        assert_eq!(known_peak_tflops("NVIDIA H200"), Some(989.0));
        assert_eq!(known_peak_tflops("NVIDIA A100-SXM4-80GB"), None);
    }
}
