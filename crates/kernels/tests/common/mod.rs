//! Device-generic checks of the selective log-prob, shared by the CPU tests (`cpu_selective_logprob.rs`)
//! and the CUDA tests (`cuda_selective_logprob.rs`), in the manner of candle's `test_device!`: one body,
//! one test per device. Cases and tolerances live in `caugym_kernels::check` (also used by `gpu_check`);
//! the edge cases below are test-only.

#![allow(dead_code)] // each test file uses its own subset

use candle_core::{DType, Device, Tensor};
use caugym_kernels::check::{self, Case, ENTROPY_ATOL, ENTROPY_RTOL, host};
use caugym_kernels::reference::{self, Problem, Rng};
use caugym_kernels::testing::{selective_logprob_backward_poisoned, selective_logprob_poisoned};

/// Forward results against the f64 reference; panics with the report (seed, worst element).
pub fn check_forward(device: &Device, case: Case) {
    let report = check::forward(device, case).expect("forward ran");
    assert!(report.passed(), "forward: {report}");
}

/// Backward results against the f64 reference; panics with the report.
pub fn check_backward(device: &Device, case: Case) {
    let report = check::backward(device, case).expect("backward ran");
    assert!(report.passed(), "backward: {report}");
}

fn host_vec(t: &Tensor) -> Vec<f32> {
    host(t).expect("copy to host")
}

/// An out-of-range target id is loud: NaN log-prob (finite lse), all-NaN gradient row; other rows intact.
pub fn check_bad_target(device: &Device, dtype: DType) {
    let (n, v) = (3, 37);
    let mut problem = Problem::random(&mut Rng::new(reference::fresh_seed()), n, v);
    problem.targets[1] = v as u32;
    let logits = Tensor::from_slice(&problem.logits, (n, v), device)
        .and_then(|t| t.to_dtype(dtype))
        .expect("logits");
    let targets = Tensor::from_slice(&problem.targets, n, device).expect("targets");
    let fwd = selective_logprob_poisoned(&logits, &targets, true).expect("forward");
    let lp = host_vec(&fwd.logprobs);
    assert!(
        lp[1].is_nan() && lp[0].is_finite() && lp[2].is_finite(),
        "{lp:?}"
    );
    assert!(host_vec(&fwd.lse).iter().all(|x| x.is_finite()));
    let g = Tensor::from_slice(&problem.grad_logprobs, n, device).expect("grad");
    let grad = host_vec(
        &selective_logprob_backward_poisoned(&logits, &targets, &fwd.lse, &g, None)
            .expect("backward"),
    );
    assert!(grad[v..2 * v].iter().all(|x| x.is_nan()));
    assert!(
        grad[..v]
            .iter()
            .chain(&grad[2 * v..])
            .all(|x| x.is_finite())
    );
}

/// Masked logits (−inf) carry probability 0 and entropy term 0: results stay finite and match the
/// reference, which defines 0·(−inf) as 0.
pub fn check_masked_logits(device: &Device, dtype: DType) {
    let (n, v) = (4, 515);
    let seed = reference::fresh_seed();
    let mut problem = Problem::random(&mut Rng::new(seed), n, v);
    for (r, row) in problem.logits.chunks_mut(v).enumerate() {
        let y = problem.targets[r] as usize;
        for (j, z) in row.iter_mut().enumerate() {
            if j != y && j % 3 == r % 3 {
                *z = f32::NEG_INFINITY;
            }
        }
    }
    if dtype == DType::BF16 {
        problem.round_logits_to_bf16();
    }
    let logits = Tensor::from_slice(&problem.logits, (n, v), device)
        .and_then(|t| t.to_dtype(dtype))
        .expect("logits");
    let targets = Tensor::from_slice(&problem.targets, n, device).expect("targets");
    let fwd = selective_logprob_poisoned(&logits, &targets, true).expect("forward");
    let want = reference::forward(&problem.logits, v, &problem.targets);
    let ent: Vec<f64> = want.iter().map(|r| r.entropy).collect();
    let h = fwd.entropy.as_ref().expect("entropy");
    let err = reference::max_scaled_error(&host_vec(h), &ent, ENTROPY_ATOL, ENTROPY_RTOL);
    assert!(
        err <= 1.0,
        "masked entropy off by {err:.3} tolerances, seed {seed:#x}"
    );
    let g = Tensor::from_slice(&problem.grad_logprobs, n, device).expect("grad");
    let gh = Tensor::from_slice(&problem.grad_entropy, n, device).expect("grad");
    let grad = host_vec(
        &selective_logprob_backward_poisoned(&logits, &targets, &fwd.lse, &g, Some(&gh))
            .expect("backward"),
    );
    for (j, (&d, &z)) in grad.iter().zip(&problem.logits).enumerate() {
        assert!(d.is_finite(), "gradient at {j} is {d}, seed {seed:#x}");
        if z == f32::NEG_INFINITY {
            assert_eq!(d, 0.0, "masked logit {j} got gradient {d}, seed {seed:#x}");
        }
    }
}

/// An empty batch has empty results (no zero-sized launch).
pub fn check_empty(device: &Device) {
    let logits = Tensor::zeros((0, 11), DType::F32, device).expect("logits");
    let targets = Tensor::zeros(0, DType::U32, device).expect("targets");
    let fwd = selective_logprob_poisoned(&logits, &targets, true).expect("forward");
    assert_eq!(fwd.logprobs.dims(), [0]);
    let g = Tensor::zeros(0, DType::F32, device).expect("grad");
    let grad = selective_logprob_backward_poisoned(&logits, &targets, &fwd.lse, &g, None)
        .expect("backward");
    assert_eq!(grad.dims(), [0, 11]);
}
