//! An optional BLAS for the CPU matmuls of training and scoring: OpenBLAS, loaded at run time.
//!
//! Matmuls are ~75 % of a CPU training step, and the gemm crate that candle (and
//! [`crate::linear`] by default) uses is slower than a tuned BLAS on the project's 2-core Zen 3
//! machine: single-precision products of the 100M model's shapes ran at 90–117 GFLOP/s with the
//! gemm crate, 93–128 with PyTorch's (MKL), 129–141 with OpenBLAS (BENCHMARKS.md). Linking a BLAS
//! at build time would tie every build to a system package, so the library is opened when the
//! first matmul runs, from the path in `CAUGYM_BLAS`:
//!
//! - a system OpenBLAS (`/usr/lib/x86_64-linux-gnu/libopenblas.so.0`, Debian's
//!   `libopenblas0`), whose symbols are `cblas_sgemm`, …;
//! - the self-contained `libscipy_openblas.so` of PyPI's `scipy-openblas32` wheel (symbols
//!   prefixed `scipy_`), which `scripts/fetch-openblas.sh` unpacks into `.openblas/`.
//!
//! Unset, empty or `off`: the gemm crate runs, as before. A path that cannot be opened, or a
//! library without `cblas_sgemm`, is reported once on stderr and the gemm crate runs: a
//! training run never fails for want of a faster matmul. Only the LP64 interface (32-bit
//! integers) is supported; both libraries above use it.
//!
//! OpenBLAS's worker threads spin for ~2²⁸ cycles after each call before they sleep; on a
//! 2-core machine that spin takes a core from the element-wise ops that follow each matmul
//! (15 % of a training step's cycles in `perf`). [`crate::threads::init_cpu_runtime`] sets
//! `OPENBLAS_THREAD_TIMEOUT=4` (2⁴ cycles) unless the user chose a value, and opens the library
//! up front, before any thread exists.

use std::ffi::{c_char, c_int};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// `cblas_?gemm` (LP64): order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc.
type Gemm<T> = unsafe extern "C" fn(
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    T,
    *const T,
    c_int,
    *const T,
    c_int,
    T,
    *mut T,
    c_int,
);

const ROW_MAJOR: c_int = 101;
const NO_TRANS: c_int = 111;
const TRANS: c_int = 112;

/// The opened library and its two entry points.
pub struct Blas {
    sgemm: Gemm<f32>,
    dgemm: Gemm<f64>,
    /// Where it came from and OpenBLAS's own configuration line, for logs.
    pub description: String,
    /// Keeps the function pointers valid for the life of the process.
    _lib: libloading::Library,
}

/// Products with fewer rows or columns than this stay on the gemm crate ([`crate::linear`]).
pub const MIN_DIM: usize = 32;

static BLAS: OnceLock<Option<Blas>> = OnceLock::new();
static ENABLED: AtomicBool = AtomicBool::new(true);

/// The BLAS in use: the one named by `CAUGYM_BLAS` (opened on first use, see the module docs) or
/// installed by [`install`], unless switched off by [`set_enabled`].
pub fn get() -> Option<&'static Blas> {
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    BLAS.get_or_init(|| {
        let path = std::env::var_os("CAUGYM_BLAS")?;
        if path.is_empty() || path == "off" {
            return None;
        }
        match open(std::path::Path::new(&path)) {
            Ok(b) => Some(b),
            Err(e) => {
                eprintln!(
                    "caugym: CAUGYM_BLAS={}: {e}; using the gemm crate",
                    path.to_string_lossy()
                );
                None
            }
        }
    })
    .as_ref()
}

/// Opens the library at `path` for this process, unless a BLAS was already chosen (then that one
/// is returned): for programs and tests that take the path from somewhere other than
/// `CAUGYM_BLAS`.
pub fn install(path: &std::path::Path) -> Result<&'static Blas, String> {
    let mut err = None;
    let chosen = BLAS.get_or_init(|| open(path).map_err(|e| err = Some(e)).ok());
    match (chosen, err) {
        (Some(b), _) => Ok(b),
        (None, Some(e)) => Err(e),
        (None, None) => Err("CAUGYM_BLAS already chose no BLAS for this process".into()),
    }
}

/// Switches the BLAS off (the gemm crate runs) or back on for the whole process: for comparing
/// the two in tests and benchmarks.
pub fn set_enabled(enabled: bool) {
    ENABLED.store(enabled, Ordering::Relaxed);
}

/// Opens `path` and resolves `cblas_sgemm` / `cblas_dgemm` (plain or `scipy_`-prefixed).
pub fn open(path: &std::path::Path) -> Result<Blas, String> {
    // SAFETY: loading a shared library runs its initialisers; OpenBLAS's only set up its
    // thread pool and read its environment variables.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| e.to_string())?;
    fn sym<T: Copy>(lib: &libloading::Library, name: &str) -> Option<T> {
        ["", "scipy_"].iter().find_map(|prefix| {
            let full = format!("{prefix}{name}\0");
            // SAFETY: the symbol types are the CBLAS / OpenBLAS prototypes they are named for.
            unsafe { lib.get::<T>(full.as_bytes()).ok().map(|s| *s) }
        })
    }
    let sgemm = sym::<Gemm<f32>>(&lib, "cblas_sgemm").ok_or("no cblas_sgemm in the library")?;
    let dgemm = sym::<Gemm<f64>>(&lib, "cblas_dgemm").ok_or("no cblas_dgemm in the library")?;
    let config = sym::<unsafe extern "C" fn() -> *const c_char>(&lib, "openblas_get_config")
        .map(|f| {
            // SAFETY: OpenBLAS returns a static NUL-terminated string.
            unsafe { std::ffi::CStr::from_ptr(f()) }
                .to_string_lossy()
                .into_owned()
        })
        .unwrap_or_else(|| "not OpenBLAS".into());
    Ok(Blas {
        sgemm,
        dgemm,
        description: format!("{} ({config})", path.display()),
        _lib: lib,
    })
}

/// Element types the BLAS multiplies.
pub trait BlasFloat: Copy + 'static {
    const ZERO: Self;
    const ONE: Self;
    fn gemm(blas: &Blas) -> Gemm<Self>;
}

impl BlasFloat for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn gemm(blas: &Blas) -> Gemm<Self> {
        blas.sgemm
    }
}

impl BlasFloat for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn gemm(blas: &Blas) -> Gemm<Self> {
        blas.dgemm
    }
}

/// How BLAS reads a row-major `[rows, cols]` operand stored with element strides `(row, col)`:
/// untransposed with leading dimension `row` (element `(i, j)` at `i·ld + j`, `ld ≥ cols`), or
/// transposed with leading dimension `col` (at `j·ld + i`, `ld ≥ rows`). `None` for layouts that
/// are neither (no unit stride, or rows that overlap).
fn operand(rows: usize, cols: usize, (rs, cs): (usize, usize)) -> Option<(c_int, c_int)> {
    if cs == 1 && (rows == 1 || rs >= cols) {
        let ld = if rows == 1 { cols } else { rs };
        return Some((NO_TRANS, c_int::try_from(ld.max(1)).ok()?));
    }
    if rs == 1 && (cols == 1 || cs >= rows) {
        let ld = if cols == 1 { rows } else { cs };
        return Some((TRANS, c_int::try_from(ld.max(1)).ok()?));
    }
    None
}

impl Blas {
    /// `lhs [m, k] · rhs [k, n]` into a new row-major `[m, n]` buffer; `lhs` and `rhs` start at
    /// their first element and have the given element strides. `None` when a layout or a size is
    /// not expressible to BLAS (the caller falls back to the gemm crate).
    pub fn matmul<T: BlasFloat>(
        &self,
        (m, n, k): (usize, usize, usize),
        lhs: &[T],
        lhs_strides: (usize, usize),
        rhs: &[T],
        rhs_strides: (usize, usize),
    ) -> Option<Vec<T>> {
        let (ta, lda) = operand(m, k, lhs_strides)?;
        let (tb, ldb) = operand(k, n, rhs_strides)?;
        let (mi, ni, ki) = (
            c_int::try_from(m).ok()?,
            c_int::try_from(n).ok()?,
            c_int::try_from(k).ok()?,
        );
        let ldc = c_int::try_from(n.max(1)).ok()?;
        let last = |rows: usize, cols: usize, (rs, cs): (usize, usize)| {
            (rows.max(1) - 1) * rs + (cols.max(1) - 1) * cs
        };
        if m * n == 0 || k == 0 {
            return None;
        }
        if last(m, k, lhs_strides) >= lhs.len() || last(k, n, rhs_strides) >= rhs.len() {
            return None;
        }
        let mut dst: Vec<T> = Vec::with_capacity(m * n);
        // SAFETY: both operands' extents were checked against their slices; with beta = 0 BLAS
        // writes every element of the m × n output without reading it, and the length is set
        // only after the call.
        unsafe {
            T::gemm(self)(
                ROW_MAJOR,
                ta,
                tb,
                mi,
                ni,
                ki,
                T::ONE,
                lhs.as_ptr(),
                lda,
                rhs.as_ptr(),
                ldb,
                T::ZERO,
                dst.as_mut_ptr(),
                ldc,
            );
            dst.set_len(m * n);
        }
        Some(dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_map_to_blas_transposes() {
        // Row-major [3, 4]: untransposed, lda 4. Its transpose viewed as [4, 3]: strides (1, 4).
        assert_eq!(operand(3, 4, (4, 1)), Some((NO_TRANS, 4)));
        assert_eq!(operand(4, 3, (1, 4)), Some((TRANS, 4)));
        // A row of a wider matrix keeps its parent's leading dimension.
        assert_eq!(operand(3, 4, (10, 1)), Some((NO_TRANS, 10)));
        // Neither stride unit, or overlapping rows: not expressible.
        assert_eq!(operand(3, 4, (8, 2)), None);
        assert_eq!(operand(3, 4, (2, 1)), None);
        // A single row or column reads the same either way.
        assert_eq!(operand(1, 4, (0, 1)), Some((NO_TRANS, 4)));
        assert_eq!(operand(4, 1, (1, 0)), Some((TRANS, 4)));
    }
}
