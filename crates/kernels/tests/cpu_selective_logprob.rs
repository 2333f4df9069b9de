//! The CPU twin of the selective log-prob against the f64 reference (see `common/mod.rs` for inputs and
//! tolerances), plus the input checks every device shares.

mod common;

use candle_core::{DType, Device, Tensor};
use caugym_kernels::check::{self, Case};
use caugym_kernels::{Error, selective_logprob, selective_logprob_backward};

#[test]
fn forward_matches_f64_reference() {
    for case in check::standard_cases() {
        common::check_forward(&Device::Cpu, case);
    }
}

#[test]
fn backward_matches_f64_reference() {
    for case in check::standard_cases() {
        common::check_backward(&Device::Cpu, case);
    }
}

#[test]
fn offset_views_match_reference() {
    for dtype in [DType::F32, DType::BF16] {
        for entropy in [false, true] {
            let case = Case::new(5, 1001, dtype, entropy).offset();
            common::check_forward(&Device::Cpu, case);
            common::check_backward(&Device::Cpu, case);
        }
    }
}

#[test]
fn out_of_range_target_is_nan() {
    common::check_bad_target(&Device::Cpu, DType::F32);
    common::check_bad_target(&Device::Cpu, DType::BF16);
}

#[test]
fn masked_logits_stay_finite() {
    common::check_masked_logits(&Device::Cpu, DType::F32);
    common::check_masked_logits(&Device::Cpu, DType::BF16);
}

#[test]
fn empty_batch() {
    common::check_empty(&Device::Cpu);
}

#[test]
fn transposed_logits_equal_contiguous() {
    let cpu = Device::Cpu;
    let zt = Tensor::randn(0f32, 3.0, (50, 6), &cpu).unwrap();
    let z = zt.t().unwrap(); // [6, 50], not contiguous
    let y = Tensor::new(&[0u32, 49, 7, 7, 13, 21], &cpu).unwrap();
    let a = selective_logprob(&z, &y, true).unwrap();
    let b = selective_logprob(&z.contiguous().unwrap(), &y, true).unwrap();
    let diff = (a.logprobs - b.logprobs)
        .unwrap()
        .abs()
        .unwrap()
        .max(0)
        .unwrap();
    assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0);
}

#[test]
fn rejects_bad_inputs_with_the_op_name() {
    let cpu = Device::Cpu;
    let z = Tensor::randn(0f32, 1.0, (3, 8), &cpu).unwrap();
    let y = Tensor::new(&[1u32, 2, 3], &cpu).unwrap();

    let f16 = z.to_dtype(DType::F16).unwrap();
    let err = selective_logprob(&f16, &y, false).unwrap_err();
    assert!(
        matches!(
            err,
            Error::DType {
                op: "selective_logprob",
                what: "logits",
                ..
            }
        ),
        "{err}"
    );

    let short = Tensor::new(&[1u32, 2], &cpu).unwrap();
    let err = selective_logprob(&z, &short, false).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Shape {
                what: "targets",
                ..
            }
        ),
        "{err}"
    );

    let y_i64 = y.to_dtype(DType::I64).unwrap();
    let err = selective_logprob(&z, &y_i64, false).unwrap_err();
    assert!(
        matches!(
            err,
            Error::DType {
                what: "targets",
                ..
            }
        ),
        "{err}"
    );

    let flat = z.flatten_all().unwrap();
    let err = selective_logprob(&flat, &y, false).unwrap_err();
    assert!(matches!(err, Error::Shape { what: "logits", .. }), "{err}");

    let lse = Tensor::zeros(3, DType::F32, &cpu).unwrap();
    let g_bf16 = Tensor::zeros(3, DType::BF16, &cpu).unwrap();
    let err = selective_logprob_backward(&z, &y, &lse, &g_bf16, None).unwrap_err();
    assert!(
        matches!(
            err,
            Error::DType {
                op: "selective_logprob_backward",
                what: "grad_logprobs",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("selective_logprob_backward: grad_logprobs"),
        "{err}"
    );
}
