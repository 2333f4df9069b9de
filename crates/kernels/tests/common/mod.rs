//! Device-generic checks of the selective log-prob against the f64 reference, shared by the CPU tests
//! (`selective_logprob_cpu.rs`) and the CUDA tests (`cuda_selective_logprob.rs`), in the manner of
//! candle's `test_device!`: one body, one test per device.
//!
//! Every check draws fresh random inputs (the seed is in the failure message; replay it with
//! `reference::Rng::new`) and runs the poisoned variants, whose outputs start as NaN.
//!
//! Tolerances (f32 arithmetic inside the op, f64 reference on the same input values):
//! - log-prob and lse: |err| ≤ 1e-4 + 1e-5·|want|: lse ≈ 10–30 at these vocabularies, and tiled f32 sums
//!   of ≤ 2,048 terms keep its relative error near 1e-6.
//! - entropy: |err| ≤ 2e-4 + 1e-5·|want|: Σ p z / Σ p is a mean of logits up to ≈ 30 in size, each
//!   sum good to ≈ 1e-6 relative.
//! - gradient: per row |err| ≤ 2e-5·(|g| + |g_H|·(1 + H)) + rtol·|want|, rtol = 1e-4 for f32 output
//!   and 2⁻⁸ for bf16 output (round-to-nearest bf16 is good to 2⁻⁹; twice that leaves room for the f32
//!   error before rounding). The absolute part bounds p·(1 + |log p + H|)·δlse for δlse ≈ 1e-5.

#![allow(dead_code)] // each test file uses its own subset

use candle_core::{DType, Device, Tensor};
use caugym_kernels::reference::{self, Problem, Rng};
use caugym_kernels::testing::{selective_logprob_backward_poisoned, selective_logprob_poisoned};

pub const LOGPROB_ATOL: f64 = 1e-4;
pub const LOGPROB_RTOL: f64 = 1e-5;
pub const ENTROPY_ATOL: f64 = 2e-4;
pub const ENTROPY_RTOL: f64 = 1e-5;
pub const GRAD_ATOL_SCALE: f64 = 2e-5;

/// Which inputs a check feeds the op.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub n: usize,
    pub v: usize,
    pub dtype: DType,
    pub entropy: bool,
    /// Feed the logits as rows 1..=n of an `[n + 1, v]` tensor, so the op sees a start offset (and, for
    /// odd `v`, rows aligned differently from its freshly allocated output).
    pub offset_view: bool,
}

impl Case {
    pub fn new(n: usize, v: usize, dtype: DType, entropy: bool) -> Self {
        Self {
            n,
            v,
            dtype,
            entropy,
            offset_view: false,
        }
    }
}

/// The shapes every device is checked on: tiny, odd (unaligned rows and tails), and Qwen2's vocabulary.
pub fn standard_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (n, v) in [
        (1, 1),
        (2, 7),
        (3, 33),
        (7, 1001),
        (5, 4099),
        (300, 17),
        (4, 152_064),
    ] {
        for dtype in [DType::F32, DType::BF16] {
            for entropy in [false, true] {
                cases.push(Case::new(n, v, dtype, entropy));
            }
        }
    }
    cases
}

struct Inputs {
    problem: Problem,
    logits: Tensor,
    targets: Tensor,
    grad_logprobs: Tensor,
    grad_entropy: Tensor,
}

fn inputs(device: &Device, case: Case, seed: u64) -> Inputs {
    let mut rng = Rng::new(seed);
    let rows = case.n + usize::from(case.offset_view);
    let mut problem = Problem::random(&mut rng, rows, case.v);
    if case.dtype == DType::BF16 {
        problem.round_logits_to_bf16();
    }
    let all = Tensor::from_slice(&problem.logits, (rows, case.v), device)
        .and_then(|t| t.to_dtype(case.dtype))
        .expect("logits tensor");
    let logits = if case.offset_view {
        // Drop row 0 from the problem too, so the reference sees exactly the op's input.
        problem.logits.drain(..case.v);
        problem.targets.remove(0);
        problem.grad_logprobs.remove(0);
        problem.grad_entropy.remove(0);
        problem.n = case.n;
        all.narrow(0, 1, case.n).expect("offset view")
    } else {
        all
    };
    let vec = |x: &[f32]| Tensor::from_slice(x, case.n, device).expect("row tensor");
    Inputs {
        targets: Tensor::from_slice(&problem.targets, case.n, device).expect("targets tensor"),
        grad_logprobs: vec(&problem.grad_logprobs),
        grad_entropy: vec(&problem.grad_entropy),
        logits,
        problem,
    }
}

fn host(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1())
        .expect("copy to host")
}

/// Forward results against the reference; panics with the seed and the worst scaled error.
pub fn check_forward(device: &Device, case: Case) {
    let seed = reference::fresh_seed();
    let inp = inputs(device, case, seed);
    let got = selective_logprob_poisoned(&inp.logits, &inp.targets, case.entropy).expect("forward");
    let want = reference::forward(&inp.problem.logits, case.v, &inp.problem.targets);
    let ctx = format!("{case:?} seed {seed:#x}");

    let lp: Vec<f64> = want.iter().map(|r| r.logprob).collect();
    let lse: Vec<f64> = want.iter().map(|r| r.lse).collect();
    let err = reference::max_scaled_error(&host(&got.logprobs), &lp, LOGPROB_ATOL, LOGPROB_RTOL);
    assert!(err <= 1.0, "log-probs off by {err:.3} tolerances: {ctx}");
    let err = reference::max_scaled_error(&host(&got.lse), &lse, LOGPROB_ATOL, LOGPROB_RTOL);
    assert!(err <= 1.0, "lse off by {err:.3} tolerances: {ctx}");
    match (&got.entropy, case.entropy) {
        (Some(h), true) => {
            let ent: Vec<f64> = want.iter().map(|r| r.entropy).collect();
            let err = reference::max_scaled_error(&host(h), &ent, ENTROPY_ATOL, ENTROPY_RTOL);
            assert!(err <= 1.0, "entropy off by {err:.3} tolerances: {ctx}");
        }
        (None, false) => {}
        (h, _) => panic!(
            "entropy returned: {}, asked: {}: {ctx}",
            h.is_some(),
            case.entropy
        ),
    }
    assert_eq!(got.logprobs.dims(), [case.n], "{ctx}");
    assert!(got.logprobs.device().same_device(device), "{ctx}");
}

/// Backward results (fed the op's own lse, as the model does) against the reference.
pub fn check_backward(device: &Device, case: Case) {
    let seed = reference::fresh_seed();
    let inp = inputs(device, case, seed);
    let ctx = format!("{case:?} seed {seed:#x}");
    let fwd = selective_logprob_poisoned(&inp.logits, &inp.targets, false).expect("forward");
    let grad_entropy = case.entropy.then_some(&inp.grad_entropy);
    let grad = selective_logprob_backward_poisoned(
        &inp.logits,
        &inp.targets,
        &fwd.lse,
        &inp.grad_logprobs,
        grad_entropy,
    )
    .expect("backward");
    assert_eq!(grad.dims(), [case.n, case.v], "{ctx}");
    assert_eq!(grad.dtype(), case.dtype, "{ctx}");
    let got = host(&grad);
    let p = &inp.problem;
    let ge = case.entropy.then_some(p.grad_entropy.as_slice());
    let want = reference::backward(&p.logits, case.v, &p.targets, &p.grad_logprobs, ge);
    let rows = reference::forward(&p.logits, case.v, &p.targets);
    let rtol = if case.dtype == DType::BF16 {
        1.0 / 256.0
    } else {
        1e-4
    };
    let mut worst = (0.0f64, 0usize);
    for (r, (g_row, w_row)) in got.chunks(case.v).zip(want.chunks(case.v)).enumerate() {
        let g_h = if case.entropy {
            f64::from(p.grad_entropy[r]).abs()
        } else {
            0.0
        };
        let atol = GRAD_ATOL_SCALE
            * (f64::from(p.grad_logprobs[r]).abs() + g_h * (1.0 + rows[r].entropy.abs()))
            + 1e-30;
        for (j, (&g, &w)) in g_row.iter().zip(w_row).enumerate() {
            let e = (f64::from(g) - w).abs() / (atol + rtol * w.abs());
            let e = if e.is_nan() { f64::INFINITY } else { e };
            if e > worst.0 {
                worst = (e, r * case.v + j);
            }
        }
    }
    let (err, at) = worst;
    assert!(
        err <= 1.0,
        "gradient off by {err:.3} tolerances at [{}, {}] (got {}, want {}): {ctx}",
        at / case.v,
        at % case.v,
        got[at],
        want[at]
    );
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
    let lp = host(&fwd.logprobs);
    assert!(
        lp[1].is_nan() && lp[0].is_finite() && lp[2].is_finite(),
        "{lp:?}"
    );
    assert!(host(&fwd.lse).iter().all(|x| x.is_finite()));
    let g = Tensor::from_slice(&problem.grad_logprobs, n, device).expect("grad");
    let grad = host(
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
    let err = reference::max_scaled_error(&host(h), &ent, ENTROPY_ATOL, ENTROPY_RTOL);
    assert!(
        err <= 1.0,
        "masked entropy off by {err:.3} tolerances, seed {seed:#x}"
    );
    let g = Tensor::from_slice(&problem.grad_logprobs, n, device).expect("grad");
    let gh = Tensor::from_slice(&problem.grad_entropy, n, device).expect("grad");
    let grad = host(
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
