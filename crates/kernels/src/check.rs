//! Checks of the selective log-prob against the [`reference`](crate::reference) on any device: the one
//! source of test cases and tolerances for the CPU tests, the CUDA tests and the `gpu_check` binary.
//!
//! Every check draws fresh random inputs (the seed is in the [`Report`]; replay it with
//! [`Rng::new`](crate::reference::Rng::new)) and runs the poisoned variants, whose outputs start as NaN.
//!
//! Tolerances (f32 arithmetic inside the op, f64 reference on the same input values), as
//! `|err| ≤ atol + rtol·|want|`; a [`Report`]'s `worst` is the largest `|err| / (atol + rtol·|want|)`:
//! - log-prob and lse: atol 1e-4, rtol 1e-5. lse ≈ 10–30 at these vocabularies; f32 sums whose small
//!   terms are first summed in small groups keep its error near 1e-6.
//! - entropy: atol 2e-4, rtol 1e-5: `Σ p z / Σ p` is a mean of logits up to ≈ 30 in size, each sum good to
//!   ≈ 1e-6 relative.
//! - gradient: per row atol `2e-5·(|g| + |g_H|·(1 + H))`, rtol 1e-4 for f32 output and 2⁻⁷ for bf16 output
//!   (bf16 keeps 8 significant bits, so round-to-nearest is good to 2⁻⁸ relative; twice that leaves room
//!   for the f32 error before rounding).
//!   The absolute part bounds `p·(|g| + |g_H|·|log p + H|)·δ` for a relative error δ ≈ 1e-5 of p.

use candle_core::{DType, Device, Tensor};

use crate::Result;
use crate::reference::{self, Problem, Rng};
use crate::testing::{selective_logprob_backward_poisoned, selective_logprob_poisoned};

pub const LOGPROB_ATOL: f64 = 1e-4;
pub const LOGPROB_RTOL: f64 = 1e-5;
pub const ENTROPY_ATOL: f64 = 2e-4;
pub const ENTROPY_RTOL: f64 = 1e-5;
pub const GRAD_ATOL_SCALE: f64 = 2e-5;
pub const GRAD_RTOL_F32: f64 = 1e-4;
pub const GRAD_RTOL_BF16: f64 = 1.0 / 128.0;

/// Which inputs a check feeds the op.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub n: usize,
    pub v: usize,
    pub dtype: DType,
    pub entropy: bool,
    /// Feed the logits as rows 1..=n of an `[n + 1, v]` tensor, so the op sees a start offset (and, for
    /// odd `v`, input rows aligned differently from its freshly allocated output).
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

    pub fn offset(self) -> Self {
        Self {
            offset_view: true,
            ..self
        }
    }
}

impl std::fmt::Display for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dtype = self.dtype.as_str();
        let ent = if self.entropy { " +H" } else { "" };
        let off = if self.offset_view { " offset" } else { "" };
        write!(f, "{}x{} {dtype}{ent}{off}", self.n, self.v)
    }
}

/// The shapes every device is checked on: tiny, odd (unaligned rows and tails), many short rows, and
/// Qwen2's vocabulary; each in f32 and bf16, with and without entropy.
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

/// Outcome of one check: `worst ≤ 1` passes (see the module doc for the scale).
#[derive(Debug, Clone)]
pub struct Report {
    pub case: Case,
    pub seed: u64,
    pub worst: f64,
    /// Which output and element was worst, with got and want.
    pub detail: String,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.worst <= 1.0
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: worst {:.3} of tolerance ({}), seed {:#x}",
            self.case, self.worst, self.detail, self.seed
        )
    }
}

struct Inputs {
    problem: Problem,
    logits: Tensor,
    targets: Tensor,
    grad_logprobs: Tensor,
    grad_entropy: Tensor,
}

fn inputs(device: &Device, case: Case, seed: u64) -> Result<Inputs> {
    let mut rng = Rng::new(seed);
    let rows = case.n + usize::from(case.offset_view);
    let mut problem = Problem::random(&mut rng, rows, case.v);
    if case.dtype == DType::BF16 {
        problem.round_logits_to_bf16();
    }
    let all = Tensor::from_slice(&problem.logits, (rows, case.v), device)?.to_dtype(case.dtype)?;
    let logits = if case.offset_view {
        // Drop row 0 from the problem too, so the reference sees exactly the op's input.
        problem.logits.drain(..case.v);
        problem.targets.remove(0);
        problem.grad_logprobs.remove(0);
        problem.grad_entropy.remove(0);
        problem.n = case.n;
        all.narrow(0, 1, case.n)?
    } else {
        all
    };
    Ok(Inputs {
        targets: Tensor::from_slice(&problem.targets, case.n, device)?,
        grad_logprobs: Tensor::from_slice(&problem.grad_logprobs, case.n, device)?,
        grad_entropy: Tensor::from_slice(&problem.grad_entropy, case.n, device)?,
        logits,
        problem,
    })
}

/// The values of `t` as f32 on the host, flattened.
pub fn host(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?)
}

/// Worst scaled error over a vector of outputs, with the element that gave it.
fn worst_of(name: &str, got: &[f32], want: &[f64], atol: f64, rtol: f64) -> (f64, String) {
    let mut worst = (0.0, String::from("exact"));
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let e = (f64::from(g) - w).abs() / (atol + rtol * w.abs());
        let e = if e.is_nan() { f64::INFINITY } else { e };
        if e > worst.0 {
            worst = (e, format!("{name}[{i}] got {g} want {w}"));
        }
    }
    if got.len() != want.len() {
        worst = (
            f64::INFINITY,
            format!("{name}: {} values, expected {}", got.len(), want.len()),
        );
    }
    worst
}

/// Forward results (log-probs, lse, entropy when asked) against the reference.
pub fn forward(device: &Device, case: Case) -> Result<Report> {
    let seed = reference::fresh_seed();
    let inp = inputs(device, case, seed)?;
    let got = selective_logprob_poisoned(&inp.logits, &inp.targets, case.entropy)?;
    let want = reference::forward(&inp.problem.logits, case.v, &inp.problem.targets);
    let lp: Vec<f64> = want.iter().map(|r| r.logprob).collect();
    let lse: Vec<f64> = want.iter().map(|r| r.lse).collect();
    let mut results = vec![
        worst_of(
            "logprob",
            &host(&got.logprobs)?,
            &lp,
            LOGPROB_ATOL,
            LOGPROB_RTOL,
        ),
        worst_of("lse", &host(&got.lse)?, &lse, LOGPROB_ATOL, LOGPROB_RTOL),
    ];
    match (&got.entropy, case.entropy) {
        (Some(h), true) => {
            let ent: Vec<f64> = want.iter().map(|r| r.entropy).collect();
            results.push(worst_of(
                "entropy",
                &host(h)?,
                &ent,
                ENTROPY_ATOL,
                ENTROPY_RTOL,
            ));
        }
        (None, false) => {}
        (h, asked) => results.push((
            f64::INFINITY,
            format!("entropy returned: {}, asked: {asked}", h.is_some()),
        )),
    }
    let (worst, detail) = results.into_iter().fold((0.0, String::new()), |a, b| {
        if b.0 > a.0 || a.1.is_empty() { b } else { a }
    });
    Ok(Report {
        case,
        seed,
        worst,
        detail,
    })
}

/// Backward results (fed the op's own lse, as the model does) against the reference.
pub fn backward(device: &Device, case: Case) -> Result<Report> {
    let seed = reference::fresh_seed();
    let inp = inputs(device, case, seed)?;
    let fwd = selective_logprob_poisoned(&inp.logits, &inp.targets, false)?;
    let grad_entropy = case.entropy.then_some(&inp.grad_entropy);
    let grad = selective_logprob_backward_poisoned(
        &inp.logits,
        &inp.targets,
        &fwd.lse,
        &inp.grad_logprobs,
        grad_entropy,
    )?;
    let report = |worst, detail| Report {
        case,
        seed,
        worst,
        detail,
    };
    if grad.dims() != [case.n, case.v] || grad.dtype() != case.dtype {
        let detail = format!("gradient is {:?} {:?}", grad.dims(), grad.dtype());
        return Ok(report(f64::INFINITY, detail));
    }
    let got = host(&grad)?;
    let p = &inp.problem;
    let ge = case.entropy.then_some(p.grad_entropy.as_slice());
    let want = reference::backward(&p.logits, case.v, &p.targets, &p.grad_logprobs, ge);
    let rows = reference::forward(&p.logits, case.v, &p.targets);
    let rtol = if case.dtype == DType::BF16 {
        GRAD_RTOL_BF16
    } else {
        GRAD_RTOL_F32
    };
    let mut worst = (0.0f64, String::from("exact"));
    for (r, (g_row, w_row)) in got.chunks(case.v).zip(want.chunks(case.v)).enumerate() {
        let g_h = if case.entropy {
            f64::from(p.grad_entropy[r]).abs()
        } else {
            0.0
        };
        let scale = f64::from(p.grad_logprobs[r]).abs() + g_h * (1.0 + rows[r].entropy.abs());
        let (e, at) = worst_of("grad", g_row, w_row, GRAD_ATOL_SCALE * scale + 1e-30, rtol);
        if e > worst.0 {
            worst = (e, format!("row {r}: {at}"));
        }
    }
    Ok(report(worst.0, worst.1))
}
