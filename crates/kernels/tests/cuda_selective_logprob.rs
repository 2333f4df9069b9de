//! The CUDA kernels of the selective log-prob against the f64 reference (inputs and tolerances in
//! `common/mod.rs`). Compiled only with `--features cuda`; they need a GPU to run (`cargo test -p
//! caugym-kernels --features cuda --release`, or `scripts/gpu-check.sh` from a prebuilt binary).

#![cfg(feature = "cuda")]

mod common;

use candle_core::{DType, Device};
use caugym_kernels::check::{self, Case};

fn gpu() -> Device {
    Device::new_cuda(0).expect("these tests need a CUDA device")
}

#[test]
fn forward_matches_f64_reference() {
    let dev = gpu();
    for case in check::standard_cases() {
        common::check_forward(&dev, case);
    }
}

#[test]
fn backward_matches_f64_reference() {
    let dev = gpu();
    for case in check::standard_cases() {
        common::check_backward(&dev, case);
    }
}

/// Odd vocabularies put rows at every 16-byte misalignment; an offset view also misaligns the input
/// against the output, which sends the backward down its scalar path.
#[test]
fn offset_views_and_misaligned_rows() {
    let dev = gpu();
    for v in [1001, 1002, 1003, 4097] {
        for dtype in [DType::F32, DType::BF16] {
            for entropy in [false, true] {
                let case = Case::new(6, v, dtype, entropy).offset();
                common::check_forward(&dev, case);
                common::check_backward(&dev, case);
            }
        }
    }
}

/// Many rows of the production vocabulary: every block of a multi-wave grid is checked.
#[test]
fn many_rows_at_vocab_152064() {
    let dev = gpu();
    for dtype in [DType::BF16, DType::F32] {
        let case = Case::new(64, 152_064, dtype, true);
        common::check_forward(&dev, case);
        common::check_backward(&dev, case);
    }
}

#[test]
fn out_of_range_target_is_nan() {
    common::check_bad_target(&gpu(), DType::F32);
    common::check_bad_target(&gpu(), DType::BF16);
}

#[test]
fn masked_logits_stay_finite() {
    common::check_masked_logits(&gpu(), DType::F32);
    common::check_masked_logits(&gpu(), DType::BF16);
}

#[test]
fn empty_batch() {
    common::check_empty(&gpu());
}
