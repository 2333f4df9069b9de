//! Raw f32 matmul rates of the 100M model's shapes (BENCHMARKS.md, "Raw sgemm rates"): candle's
//! CPU matmul (the gemm crate) and, when `CAUGYM_BLAS` names one, the OpenBLAS of
//! `caugym_model::blas`. `scripts/bench/sgemm.py` prints PyTorch's and numpy's for the same shapes.
//!
//! `CAUGYM_BLAS=$(scripts/fetch-openblas.sh) cargo run --release -p caugym-model --example sgemm`

use candle_core::{Device, Tensor};
use std::time::Instant;

/// `[m, k] · [k, n]` products timed (the shapes of a 100M step's projections and head).
const SHAPES: [(usize, usize, usize); 4] = [
    (1024, 768, 2048),
    (1024, 2048, 768),
    (1024, 768, 768),
    (1024, 768, 32000),
];
const REPEATS: usize = 10;

/// GFLOP/s of `f`, one product of `m·k·n`, after two untimed runs.
fn rate(flops: f64, mut f: impl FnMut()) -> f64 {
    f();
    f();
    let start = Instant::now();
    for _ in 0..REPEATS {
        f();
    }
    flops * REPEATS as f64 / start.elapsed().as_secs_f64() / 1e9
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // SAFETY: first statement of main, no other thread exists yet.
    unsafe { caugym_model::threads::init_cpu_runtime() };
    let blas = caugym_model::blas::get();
    println!("m x k x n: gemm crate GFLOP/s, OpenBLAS GFLOP/s");
    for (m, k, n) in SHAPES {
        let a = Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu)?;
        let b = Tensor::randn(0f32, 1.0, (k, n), &Device::Cpu)?;
        let flops = 2.0 * (m * k * n) as f64;
        let gemm = rate(flops, || {
            a.matmul(&b).expect("matmul");
        });
        let openblas = match blas {
            Some(lib) => {
                let (av, bv) = (
                    a.flatten_all()?.to_vec1::<f32>()?,
                    b.flatten_all()?.to_vec1::<f32>()?,
                );
                let r = rate(flops, || {
                    lib.matmul((m, n, k), &av, (k, 1), &bv, (n, 1))
                        .expect("layout");
                });
                format!("{r:.0}")
            }
            None => "- (CAUGYM_BLAS unset)".into(),
        };
        println!("{m} x {k} x {n}: {gemm:.0}, {openblas}");
    }
    Ok(())
}
