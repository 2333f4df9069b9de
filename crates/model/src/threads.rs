//! Process settings for CPU training with candle, applied by binaries before any work starts.
//!
//! Two costs outside the model's own ops showed in a `perf` profile of the training step on the
//! project's 2-core machine (BENCHMARKS.md):
//!
//! - candle 0.11 runs its element-wise CPU ops on a "barrier pool" of its own threads (beside the
//!   rayon pool that runs its matmuls and this crate's fused ops). After each op the pool's
//!   workers spin for up to `CANDLE_BARRIER_POOL_SPIN_LIMIT` (25,000) iterations before parking
//!   and the caller spins until the slowest worker is done, so on few cores a spinning worker
//!   takes a core from the next matmul and a descheduled one stalls the caller (6–60 % of the
//!   cycles, depending on size and load). With `CANDLE_NUM_THREADS=1` the pool has no workers and
//!   element-wise ops run on the calling thread; matmuls keep every core (they follow
//!   `RAYON_NUM_THREADS`, not this variable).
//! - Every op allocates its output, and glibc serves large blocks with fresh `mmap`s that are
//!   unmapped on free: each step page-faults and zeroes its activations and gradients again
//!   (14–17 % of the cycles). A fixed mmap threshold at glibc's maximum (32 MiB) and no heap
//!   trimming let freed blocks be reused; the price is that the heap keeps its peak size.

/// What [`init_cpu_runtime`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuRuntime {
    /// `CANDLE_NUM_THREADS=1` was set.
    pub inline_elementwise: bool,
    /// glibc's mmap threshold was fixed and trimming switched off.
    pub malloc_reuse: bool,
}

/// Up to this many cores candle's barrier pool costs more than it gains.
pub const INLINE_MAX_CORES: usize = 4;

/// glibc's largest allowed mmap threshold on 64-bit targets (`HEAP_MAX_SIZE / 2`).
const MMAP_THRESHOLD: i32 = 32 << 20;

/// Sets `CANDLE_NUM_THREADS=1` on machines with at most [`INLINE_MAX_CORES`] cores unless the user
/// set it or `CANDLE_BARRIER_POOL_SPIN_LIMIT`, and (glibc only) makes the allocator reuse freed
/// large blocks unless `MALLOC_MMAP_THRESHOLD_` is set.
///
/// # Safety
/// Modifies the process environment and the allocator's settings: call it first thing in `main`,
/// while no other thread exists (as `std::env::set_var` requires), before the first candle op.
pub unsafe fn init_cpu_runtime() -> CpuRuntime {
    let set = |v: &str| std::env::var_os(v).is_some();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let inline_elementwise = !set("CANDLE_NUM_THREADS")
        && !set("CANDLE_BARRIER_POOL_SPIN_LIMIT")
        && cores <= INLINE_MAX_CORES;
    if inline_elementwise {
        // SAFETY: the caller guarantees that no other thread exists yet.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
    let malloc_reuse = !set("MALLOC_MMAP_THRESHOLD_") && unsafe { glibc::reuse_large_blocks() };
    CpuRuntime {
        inline_elementwise,
        malloc_reuse,
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    use std::ffi::c_int;

    const M_TRIM_THRESHOLD: c_int = -1;
    const M_MMAP_THRESHOLD: c_int = -3;

    unsafe extern "C" {
        fn mallopt(param: c_int, value: c_int) -> c_int;
    }

    /// Returns whether glibc accepted both settings.
    pub(super) unsafe fn reuse_large_blocks() -> bool {
        // SAFETY: mallopt only changes allocator parameters; the caller runs it single-threaded.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, super::MMAP_THRESHOLD) == 1
                && mallopt(M_TRIM_THRESHOLD, c_int::MAX) == 1
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod glibc {
    pub(super) unsafe fn reuse_large_blocks() -> bool {
        false
    }
}
