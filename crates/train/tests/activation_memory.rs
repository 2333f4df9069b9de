//! Activation checkpointing saves what `caugym_train::memory` says it saves: the heap a LoRA
//! forward keeps for its backward, and the peak of forward + backward, on a 4-layer f32 model
//! at 2 × 256 tokens, measured by a counting global allocator with and without checkpointing,
//! against the breakdown's prediction (kept activations counted op by op: within 10%; peaks,
//! which add a measured working-set multiple: within 20%).
//!
//! One test in this binary on purpose: the allocator counts every thread of the process, so a
//! second test running in parallel would pollute the peak.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use candle_core::{DType, Device};
use caugym_model::loader::WeightSource;
use caugym_model::{
    AdapterMode, Batch, LogprobOptions, LoraConfig, PadSide, Qwen2, Qwen2Config, TargetModule,
    TargetModules,
};
use caugym_train::memory::{LogprobPath, Trained, Workload, estimate};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grow(n: usize) {
    let now = CURRENT.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
            grow(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak bytes allocated by `f` above what was live when it started.
fn peak_of(f: impl FnOnce()) -> usize {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    f();
    PEAK.load(Ordering::Relaxed) - base
}

fn arch() -> Qwen2Config {
    Qwen2Config {
        vocab_size: 128,
        hidden_size: 64,
        intermediate_size: 128,
        num_hidden_layers: 4,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        max_position_embeddings: 512,
        ..Qwen2Config::tiny(128)
    }
}

#[test]
fn checkpointing_saves_the_predicted_activation_memory() {
    // `caugym_train::memory` counts the composed ops a GPU runs (the 14B budget); the CPU's fused
    // training ops keep less, so measure the composed path here.
    caugym_model::set_fused_cpu_ops(false);
    let (rows, seq) = (2usize, 256usize);
    let cfg = arch();
    let w = caugym_model::init::random_weights(&cfg, 1).unwrap();
    let mut m = Qwen2::new(&cfg, &w as &dyn WeightSource, DType::F32, &Device::Cpu).unwrap();
    let lora = LoraConfig::new(8, 16.0, TargetModules::AllLinear);
    m.add_adapter("a", &lora, 2).unwrap();
    m.set_training(true);
    let ids: Vec<Vec<u32>> = (0..rows)
        .map(|r| (0..seq).map(|t| ((r * 31 + t * 7) % 128) as u32).collect())
        .collect();
    let batch = Batch::from_rows(&ids, 0, PadSide::Left, &Device::Cpu).unwrap();
    let opts = LogprobOptions::default();
    // Returns the bytes the graph holds after the forward (what the backward will need).
    let step = |m: &Qwen2, b: &Batch| -> usize {
        let before = CURRENT.load(Ordering::Relaxed);
        let lp = caugym_model::sequence_logprobs(m, b, AdapterMode::Active("a"), &opts).unwrap();
        let loss = lp.logprobs.sum_all().unwrap();
        let kept = CURRENT.load(Ordering::Relaxed) - before;
        let grads = loss.backward().unwrap();
        drop(grads);
        kept
    };
    step(&m, &batch); // warm-up: one-time allocations (thread pools, caches) out of the count
    let mut kept_plain = 0;
    let plain = peak_of(|| kept_plain = step(&m, &batch));
    m.set_activation_checkpointing(true);
    step(&m, &batch);
    let mut kept_ckpt = 0;
    let ckpt = peak_of(|| kept_ckpt = step(&m, &batch));

    let workload = |checkpointing| Workload {
        base_bytes: 4,
        trained: Trained::Lora {
            r: 8,
            modules: TargetModule::ALL.to_vec(),
            layers: 4,
            dropout: false,
        },
        rows,
        seq_len: seq,
        checkpointing,
        checkpoint_rows: 0,
        logprobs: LogprobPath::Chunked {
            chunk: opts.chunk_size,
        },
        rollout_rows: 1,
        rollout_len: 1,
        prompt_len: 1,
    };
    let training = |c| -> u64 {
        estimate(&cfg, &workload(c))
            .training
            .iter()
            .map(|l| l.bytes)
            .sum()
    };
    let (pred_plain, pred_ckpt) = (training(false), training(true));
    // What the graph keeps after the forward: every layer's activations (plain) or every layer's
    // input (checkpointed), plus the embeddings and the head's input.
    let kept = |c| -> u64 {
        estimate(&cfg, &workload(c))
            .training
            .iter()
            .filter(|l| {
                l.name.starts_with("activations")
                    || l.name.starts_with("layer inputs")
                    || l.name.starts_with("embedding")
            })
            .map(|l| l.bytes)
            .sum()
    };
    eprintln!(
        "kept after the forward: plain {:.1} MiB (predicted {:.1}), checkpointed {:.2} MiB \
         (predicted {:.2})",
        kept_plain as f64 / (1 << 20) as f64,
        kept(false) as f64 / (1 << 20) as f64,
        kept_ckpt as f64 / (1 << 20) as f64,
        kept(true) as f64 / (1 << 20) as f64,
    );
    let mib = |b: f64| b / (1 << 20) as f64;
    let measured_saving = plain as f64 - ckpt as f64;
    let predicted_saving = pred_plain as f64 - pred_ckpt as f64;
    eprintln!(
        "peak heap of forward+backward, 4 layers, {rows} x {seq} tokens: plain {:.1} MiB \
         (predicted {:.1}), checkpointed {:.1} MiB (predicted {:.1}); saved {:.1} MiB \
         (predicted {:.1})",
        mib(plain as f64),
        mib(pred_plain as f64),
        mib(ckpt as f64),
        mib(pred_ckpt as f64),
        mib(measured_saving),
        mib(predicted_saving),
    );
    // The op-by-op count of what the graph keeps is the claim to check closely.
    let rel = |measured: f64, predicted: f64| (measured - predicted).abs() / measured;
    assert!(
        rel(kept_plain as f64, kept(false) as f64) < 0.1,
        "kept {kept_plain} vs predicted {}",
        kept(false)
    );
    assert!(kept_ckpt * 10 < kept_plain, "{kept_ckpt} vs {kept_plain}");
    // Peaks add the backward's working set (a measured multiple, see memory.rs).
    assert!(
        rel(plain as f64, pred_plain as f64) < 0.2,
        "plain {plain} vs {pred_plain}"
    );
    assert!(
        rel(ckpt as f64, pred_ckpt as f64) < 0.2,
        "checkpointed {ckpt} vs {pred_ckpt}"
    );
    assert!(ckpt * 2 < plain, "checkpointed {ckpt} vs plain {plain}");
    assert!(rel(measured_saving, predicted_saving) < 0.2);
}
