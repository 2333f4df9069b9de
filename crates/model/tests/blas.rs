//! The optional OpenBLAS path (`caugym_model::blas`) against independent references: products of
//! every operand layout BLAS is handed (plain and transposed, rows of wider matrices) against an
//! f64 triple loop, and a full-fine-tuning training step of a tiny model with BLAS against the
//! same step on the gemm crate.
//!
//! The library is `$CAUGYM_BLAS` or the repository's `.openblas/libscipy_openblas.so`, which
//! `scripts/fetch-openblas.sh` writes (`scripts/test.sh` runs it); the tests fail without it.
//!
//! Tolerances: f32 products of length ≤ 65 of values in [-1, 1] round to ~1e-6 relative, so
//! 1e-4 · (1 + |c|) is a wide margin against a transposed or mis-strided operand (errors of
//! order 1); f64 products are held to 1e-12 · (1 + |c|).

mod common;

use candle_core::{DType, Tensor};
use caugym_model::blas::{self, Blas};
use caugym_model::{AdapterMode, LogprobOptions, PadSide, TrainMode, sequence_logprobs};
use common::*;
use std::path::PathBuf;

fn library() -> &'static Blas {
    let path = match std::env::var_os("CAUGYM_BLAS") {
        Some(p) if !p.is_empty() && p != "off" => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.openblas/libscipy_openblas.so"),
    };
    assert!(
        path.exists(),
        "{} is missing: run scripts/fetch-openblas.sh (scripts/test.sh does)",
        path.display()
    );
    blas::install(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A pseudo-random value in [-1, 1] for index `i` (no RNG crate needed).
fn value(i: usize, seed: usize) -> f64 {
    let x = ((i * 2654435761 + seed * 40503) % 10007) as f64;
    x / 5003.0 - 1.0
}

/// `[rows, cols]` stored at element strides `(rs, cs)` in a buffer of `len` values.
struct Operand {
    data: Vec<f64>,
    strides: (usize, usize),
}

impl Operand {
    fn new(rows: usize, cols: usize, transposed: bool, pad: usize, seed: usize) -> Self {
        // Row-major with `pad` spare columns, or column-major with `pad` spare rows.
        let (strides, len) = if transposed {
            ((1, rows + pad), (rows + pad) * cols)
        } else {
            ((cols + pad, 1), rows * (cols + pad))
        };
        let data = (0..len).map(|i| value(i, seed)).collect();
        Self { data, strides }
    }

    fn at(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.strides.0 + j * self.strides.1]
    }
}

fn check<T: blas::BlasFloat + Into<f64>>(cast: fn(f64) -> T, tol: f64) {
    let lib = library();
    for (m, n, k) in [(7, 5, 13), (33, 17, 65), (1, 9, 4), (6, 1, 3)] {
        for (ta, tb, pad) in [
            (false, false, 0),
            (false, true, 0),
            (true, false, 0),
            (true, true, 0),
            (false, false, 3),
            (true, true, 2),
        ] {
            let a = Operand::new(m, k, ta, pad, 1);
            let b = Operand::new(k, n, tb, pad, 2);
            let av: Vec<T> = a.data.iter().map(|&v| cast(v)).collect();
            let bv: Vec<T> = b.data.iter().map(|&v| cast(v)).collect();
            let c = lib
                .matmul((m, n, k), &av, a.strides, &bv, b.strides)
                .unwrap_or_else(|| panic!("layout refused: {m}x{n}x{k} {ta} {tb} {pad}"));
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = (0..k).map(|p| a.at(i, p) * b.at(p, j)).sum();
                    let got: f64 = c[i * n + j].into();
                    assert!(
                        (got - want).abs() <= tol * (1.0 + want.abs()),
                        "{m}x{n}x{k} transposed ({ta}, {tb}) pad {pad}: c[{i},{j}] = {got}, want {want}"
                    );
                }
            }
        }
    }
}

#[test]
fn products_match_an_f64_loop_for_every_layout() {
    check::<f32>(|v| v as f32, 1e-4);
    check::<f64>(|v| v, 1e-12);
}

#[test]
fn overlapping_rows_are_refused_not_misread() {
    let lib = library();
    let a = vec![1f32; 16];
    // Rows 2 apart but 4 wide: not a matrix BLAS can read.
    assert!(lib.matmul((3, 2, 4), &a, (2, 1), &a, (2, 1)).is_none());
}

/// One full-fine-tuning step of the tiny model (log-probs, their gradients for every weight)
/// is the same with BLAS as with the gemm crate. Runs the switch of the whole process, so it is
/// the only test here that trains.
#[test]
fn training_step_matches_the_gemm_crate() {
    library();
    let cfg = tiny_cfg(false);
    let w = random_weights(&cfg, 3);
    let b = batch(&rows(&[9, 6, 8], cfg.vocab_size, 4), PadSide::Left);
    let run = |use_blas: bool| {
        blas::set_enabled(use_blas);
        let mut m = model(&cfg, &w, DType::F32);
        m.enable_full_finetune().unwrap();
        let vars = m.trainable_vars(&TrainMode::Full).unwrap();
        let lp = sequence_logprobs(&m, &b, AdapterMode::Disabled, &LogprobOptions::default())
            .unwrap()
            .logprobs;
        let grads = lp.sum_all().unwrap().backward().unwrap();
        let g: Vec<(String, Tensor)> = vars
            .iter()
            .map(|(name, v)| (name.clone(), grads.get(v).unwrap().clone()))
            .collect();
        blas::set_enabled(true);
        (lp, g)
    };
    let (lp_blas, g_blas) = run(true);
    let (lp_gemm, g_gemm) = run(false);
    let d = max_diff(&lp_blas, &lp_gemm);
    assert!(d < 1e-4, "log-probs differ by {d}");
    // Different summation orders: bit-identical results would mean BLAS never ran.
    assert!(
        d > 0.0
            || g_blas
                .iter()
                .zip(&g_gemm)
                .any(|((_, a), (_, b))| max_diff(a, b) > 0.0),
        "the BLAS and gemm-crate steps are bit-identical: BLAS was not used"
    );
    assert!(g_blas.len() > 20, "only {} weights trained", g_blas.len());
    for ((name, a), (_, b)) in g_blas.iter().zip(&g_gemm) {
        let scale = max_abs(b);
        let d = max_diff(a, b);
        assert!(
            d <= 1e-4 * (1.0 + scale),
            "{name}: gradients differ by {d} (max |g| {scale})"
        );
    }
}
