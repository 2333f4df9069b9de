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
//! - The `caugym` binary allocates with mimalloc, which by default hands freed memory back to
//!   the OS ("purges") 10 ms after it is freed: a training step frees its activations and
//!   gradients and allocates them again within the next op, so each step page-faulted and
//!   zeroed them anew (a 100M step took 9.3 s with purging against 7.4 s without). Purging is
//!   switched off; again the process keeps its peak size, which a training run reaches every
//!   step anyway.

/// What [`init_cpu_runtime`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuRuntime {
    /// `CANDLE_NUM_THREADS=1` was set.
    pub inline_elementwise: bool,
    /// glibc's mmap threshold was fixed and trimming switched off.
    pub malloc_reuse: bool,
    /// mimalloc's purging of freed memory was switched off ([`keep_freed_memory`]).
    pub mimalloc_no_purge: bool,
    /// A BLAS was loaded from `CAUGYM_BLAS` ([`crate::blas`]).
    pub blas: bool,
}

/// Up to this many cores candle's barrier pool costs more than it gains.
pub const INLINE_MAX_CORES: usize = 4;

/// glibc's largest allowed mmap threshold on 64-bit targets (`HEAP_MAX_SIZE / 2`).
const MMAP_THRESHOLD: i32 = 32 << 20;

/// Sets `CANDLE_NUM_THREADS=1` on machines with at most [`INLINE_MAX_CORES`] cores unless the user
/// set it or `CANDLE_BARRIER_POOL_SPIN_LIMIT`, makes the allocator reuse freed memory (glibc
/// unless `MALLOC_MMAP_THRESHOLD_` is set, mimalloc unless `MIMALLOC_PURGE_DELAY` is), and loads
/// the BLAS named by `CAUGYM_BLAS` with a short thread spin ([`crate::blas`]).
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
    let mimalloc_no_purge = !set("MIMALLOC_PURGE_DELAY") && keep_freed_memory();
    if set("CAUGYM_BLAS") && !set("OPENBLAS_THREAD_TIMEOUT") {
        // SAFETY: as above. Read by OpenBLAS when it is loaded, just below.
        unsafe { std::env::set_var("OPENBLAS_THREAD_TIMEOUT", "4") };
    }
    let blas = crate::blas::get().is_some();
    CpuRuntime {
        inline_elementwise,
        malloc_reuse,
        mimalloc_no_purge,
        blas,
    }
}

/// `mi_option_purge_delay`'s position in mimalloc's `mi_option_t` (the same in its v2 and v3
/// headers; libmimalloc-sys names no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc never to return freed memory to the OS (`purge_delay = -1`), for binaries
/// whose global allocator is mimalloc (the `caugym` binary, the model benchmark); harmless in
/// others. Returns whether mimalloc reports the setting in force. The user's
/// `MIMALLOC_PURGE_DELAY` wins in [`init_cpu_runtime`].
pub fn keep_freed_memory() -> bool {
    // SAFETY: plain setters and getters of mimalloc's option table; any thread may call them.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) == -1
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Option 15 is the purge delay: its default is mimalloc v3's documented 1,000 ms (this test
    /// fails if a mimalloc upgrade renumbers the options), and the setter takes effect.
    #[test]
    fn purge_delay_is_switched_off() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // SAFETY: a getter of mimalloc's option table.
            let default = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
            assert_eq!(
                default, 1000,
                "option {MI_OPTION_PURGE_DELAY} is not purge_delay"
            );
        }
        assert!(keep_freed_memory());
    }
}
