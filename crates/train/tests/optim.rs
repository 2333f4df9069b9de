//! AdamW (hand-computed steps, candle_nn::AdamW as a second method, bf16 master weights, state
//! round trip, missing gradients), gradient clipping, non-finite detection, accumulation and the
//! learning-rate schedule.

mod common;

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::Optimizer;
use caugym_train::accum::GradAccumulator;
use caugym_train::clip::{check_finite_grads, check_finite_loss, clip_grad_norm, global_grad_norm};
use caugym_train::optim::{AdamW, AdamWConfig, AdamWState};
use caugym_train::schedule::{LrDecay, LrSchedule};
use caugym_train::{Error, NamedVar};
use common::*;

fn var32(v: &[f32]) -> Var {
    Var::from_slice(v, v.len(), &Device::Cpu).unwrap()
}

fn grads_of(pairs: &[(&Var, &[f32])]) -> GradStore {
    let mut g = GradStore::default();
    for (var, vals) in pairs {
        g.insert(
            var.as_tensor(),
            Tensor::from_slice(vals, vals.len(), &Device::Cpu).unwrap(),
        );
    }
    g
}

fn vals(v: &Var) -> Vec<f64> {
    flat(v.as_tensor())
}

const NO_DECAY: AdamWConfig = AdamWConfig {
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weight_decay: 0.0,
    allow_missing: false,
};

#[test]
fn adamw_two_steps_hand_computed() {
    // lr 0.1, wd 0.01, betas 0.9/0.999, eps 1e-8; theta0 = [1, -2]; g1 = [0.5, -1]; g2 = [-0.25, 2].
    // Step 1: theta *= 1 - 0.001 -> [0.999, -1.998]; m = 0.1 g1 = [0.05, -0.1];
    //   v = 0.001 g1² = [0.00025, 0.001]; m^ = m / 0.1 = g1; v^ = v / 0.001 = [0.25, 1];
    //   update = m^ / (sqrt(v^) + eps) = [0.99999998, -0.99999999];
    //   theta1 = [0.999 - 0.099999998, -1.998 + 0.099999999] = [0.899000002, -1.898000001].
    // Step 2: theta *= 0.999 -> [0.898101002, -1.896102001]; m = 0.9 m + 0.1 g2 = [0.02, 0.11];
    //   v = 0.999 v + 0.001 g2² = [0.00031225, 0.004999]; m^ = m / 0.19 = [0.10526316, 0.57894737];
    //   v^ = v / 0.001999 = [0.15620310, 2.50075038]; sqrt = [0.39522538, 1.58137610];
    //   update = [0.26633703, 0.36610352]; theta2 = [0.87146730, -1.93271235].
    // f32 arithmetic: tolerance 1e-6.
    let w = var32(&[1.0, -2.0]);
    let cfg = AdamWConfig {
        weight_decay: 0.01,
        ..NO_DECAY
    };
    let mut opt = AdamW::new(vec![NamedVar::new("w", w.clone())], cfg).unwrap();
    opt.step(&grads_of(&[(&w, &[0.5, -1.0])]), 0.1).unwrap();
    assert_close(&vals(&w), &[0.899_000_002, -1.898_000_001], 1e-6, "step 1");
    opt.step(&grads_of(&[(&w, &[-0.25, 2.0])]), 0.1).unwrap();
    assert_close(
        &vals(&w),
        &[0.871_467_298_705_846_3, -1.932_712_353_471_074_8],
        1e-6,
        "step 2",
    );
    assert_eq!(opt.step_count(), 2);
}

#[test]
fn adamw_matches_candle_nn_adamw_for_f32() {
    // Second method: candle_nn::AdamW implements the same decoupled update for f32 Vars.
    // Random gradients over 6 steps with a changing learning rate; tolerance 1e-6.
    let mut r = rng(20);
    let init: Vec<f32> = uniform(&mut r, 8, -1.0, 1.0)
        .iter()
        .map(|x| *x as f32)
        .collect();
    let (a, b) = (var32(&init), var32(&init));
    let cfg = AdamWConfig {
        weight_decay: 0.05,
        ..NO_DECAY
    };
    let mut ours = AdamW::new(vec![NamedVar::new("a", a.clone())], cfg).unwrap();
    let params = candle_nn::ParamsAdamW {
        lr: 0.01,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.05,
    };
    let mut theirs = candle_nn::AdamW::new(vec![b.clone()], params).unwrap();
    for step in 0..6 {
        let lr = 0.01 * (1.0 + step as f64);
        let g: Vec<f32> = uniform(&mut r, 8, -2.0, 2.0)
            .iter()
            .map(|x| *x as f32)
            .collect();
        ours.step(&grads_of(&[(&a, &g)]), lr).unwrap();
        theirs.set_learning_rate(lr);
        theirs.step(&grads_of(&[(&b, &g)])).unwrap();
        assert_close(&vals(&a), &vals(&b), 1e-6, &format!("step {step}"));
    }
    assert!(
        vals(&a)
            .iter()
            .zip(&init)
            .any(|(x, y)| (x - f64::from(*y)).abs() > 0.01)
    );
}

#[test]
fn adamw_missing_gradient_is_an_error_unless_allowed() {
    let (a, b) = (var32(&[1.0]), var32(&[2.0]));
    let params = vec![
        NamedVar::new("a", a.clone()),
        NamedVar::new("lora_B", b.clone()),
    ];
    let grads = grads_of(&[(&a, &[1.0])]);
    let mut strict = AdamW::new(params.clone(), NO_DECAY).unwrap();
    match strict.step(&grads, 0.1) {
        Err(Error::MissingGradient { param }) => assert_eq!(param, "lora_B"),
        other => panic!("expected MissingGradient, got {other:?}"),
    }
    // Nothing was updated: the check runs before any parameter changes.
    assert_eq!(vals(&a), [1.0]);
    assert_eq!(strict.step_count(), 0);
    let lenient = AdamWConfig {
        allow_missing: true,
        ..NO_DECAY
    };
    let mut opt = AdamW::new(params, lenient).unwrap();
    opt.step(&grads, 0.1).unwrap();
    // a moves by ~lr (first Adam step is ~sign(g)); b is skipped.
    assert_close(&vals(&a), &[0.9], 1e-6, "a");
    assert_eq!(vals(&b), [2.0]);
}

#[test]
fn adamw_keeps_f32_master_weights_for_bf16_vars() {
    // A bf16 Var at 1.0 with constant gradient 1: each Adam step is lr * 1/(1 + 1e-8) = 1e-4,
    // far below bf16's spacing just under 1 (2^-8 = 0.0039), so updating the bf16 value directly
    // would round 1 - 1e-4 back to 1.0 every step. Through the f32 master copy 50 steps reach
    // 0.995, which the Var shows as the nearest bf16 value 0.99609375.
    let bf16 = |x: f32| {
        Tensor::new(&[x], &Device::Cpu)
            .unwrap()
            .to_dtype(DType::BF16)
            .unwrap()
    };
    let w = Var::from_tensor(&bf16(1.0)).unwrap();
    let mut opt = AdamW::new(vec![NamedVar::new("w", w.clone())], NO_DECAY).unwrap();
    for _ in 0..50 {
        let mut grads = GradStore::default();
        grads.insert(w.as_tensor(), bf16(1.0));
        opt.step(&grads, 1e-4).unwrap();
    }
    assert_eq!(w.dtype(), DType::BF16);
    assert_eq!(vals(&w), [0.996_093_75]);
    let state = opt.state().unwrap();
    let master = &state.tensors["adamw.w.master"];
    assert_eq!(master.dtype(), DType::F32);
    assert_close(&flat(master), &[0.995], 1e-6, "master");
    assert_eq!(state.tensors["adamw.w.exp_avg"].dtype(), DType::F32);
    assert_eq!(state.tensors["adamw.w.exp_avg_sq"].dtype(), DType::F32);
}

fn two_params(init: &[f32]) -> (Vec<NamedVar>, Var, Var) {
    let a = var32(init);
    let b = Var::from_tensor(
        &Tensor::from_slice(init, init.len(), &Device::Cpu)
            .unwrap()
            .to_dtype(DType::BF16)
            .unwrap(),
    )
    .unwrap();
    (
        vec![NamedVar::new("a", a.clone()), NamedVar::new("b", b.clone())],
        a,
        b,
    )
}

#[test]
fn adamw_state_round_trips_through_safetensors() {
    // Run 2 steps, save the state to a safetensors file, load it into a fresh optimiser over
    // vars holding the same values: step 3 must then match the uninterrupted run exactly.
    // A fresh optimiser without the state takes a different step 3 (so the check can fail).
    let cfg = AdamWConfig {
        weight_decay: 0.01,
        ..NO_DECAY
    };
    let gs: [[f32; 3]; 3] = [[0.5, -1.0, 0.1], [0.2, 0.3, -0.4], [1.0, -0.5, 0.25]];
    let (params, a, b) = two_params(&[1.0, 2.0, 3.0]);
    let mut opt = AdamW::new(params, cfg).unwrap();
    for g in &gs[..2] {
        let mut grads = grads_of(&[(&a, g)]);
        grads.insert(
            b.as_tensor(),
            Tensor::new(g, &Device::Cpu)
                .unwrap()
                .to_dtype(DType::BF16)
                .unwrap(),
        );
        opt.step(&grads, 0.05).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("optim.safetensors");
    candle_core::safetensors::save(&opt.state().unwrap().to_tensor_map().unwrap(), &path).unwrap();

    let copy_a: Vec<f32> = a.as_tensor().to_vec1().unwrap();
    let (params2, a2, b2) = two_params(&[0.0; 3]);
    a2.set(&Tensor::new(copy_a.as_slice(), &Device::Cpu).unwrap())
        .unwrap();
    let mut resumed = AdamW::new(params2, cfg).unwrap();
    let loaded =
        AdamWState::from_tensor_map(candle_core::safetensors::load(&path, &Device::Cpu).unwrap())
            .unwrap();
    assert_eq!(loaded.step, 2);
    resumed.load_state(&loaded).unwrap();
    assert_eq!(resumed.step_count(), 2);
    // The bf16 Var was restored from its f32 master copy.
    assert_eq!(vals(&b2), vals(&b));

    let (params3, a3, _) = two_params(&copy_a);
    let mut fresh = AdamW::new(
        params3,
        AdamWConfig {
            allow_missing: true,
            ..cfg
        },
    )
    .unwrap();
    let g = &gs[2];
    let step3 = |opt: &mut AdamW, x: &Var, y: &Var| {
        let mut grads = grads_of(&[(x, g)]);
        grads.insert(
            y.as_tensor(),
            Tensor::new(g, &Device::Cpu)
                .unwrap()
                .to_dtype(DType::BF16)
                .unwrap(),
        );
        opt.step(&grads, 0.05).unwrap();
    };
    step3(&mut opt, &a, &b);
    step3(&mut resumed, &a2, &b2);
    assert_eq!(vals(&a2), vals(&a));
    assert_eq!(vals(&b2), vals(&b));
    fresh.step(&grads_of(&[(&a3, g)]), 0.05).unwrap();
    assert!(
        vals(&a3)
            .iter()
            .zip(vals(&a))
            .any(|(x, y)| (x - y).abs() > 1e-3)
    );
}

#[test]
fn adamw_load_state_rejects_mismatches() {
    let (params, _, _) = two_params(&[1.0, 2.0]);
    let opt = AdamW::new(params, NO_DECAY).unwrap();
    let good = opt.state().unwrap();
    let mut missing = good.clone();
    missing.tensors.remove("adamw.b.master");
    let mut extra = good.clone();
    extra.tensors.insert(
        "adamw.c.exp_avg".into(),
        Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap(),
    );
    let mut reshaped = good.clone();
    reshaped.tensors.insert(
        "adamw.a.exp_avg".into(),
        Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
    );
    let (params, _, _) = two_params(&[1.0, 2.0]);
    let mut target = AdamW::new(params, NO_DECAY).unwrap();
    target.load_state(&good).unwrap();
    for (bad, entry) in [
        (missing, "adamw.b.master"),
        (extra, "adamw.c.exp_avg"),
        (reshaped, "adamw.a.exp_avg"),
    ] {
        match target.load_state(&bad) {
            Err(Error::State { entry: e, .. }) => assert_eq!(e, entry),
            other => panic!("expected State error for {entry}, got {other:?}"),
        }
    }
    assert!(AdamWState::from_tensor_map(HashMap::new()).is_err());
}

#[test]
fn adamw_rejects_bad_config() {
    let (params, _, _) = two_params(&[1.0]);
    assert!(
        AdamW::new(
            params.clone(),
            AdamWConfig {
                beta1: 1.0,
                ..NO_DECAY
            }
        )
        .is_err()
    );
    assert!(
        AdamW::new(
            params.clone(),
            AdamWConfig {
                eps: 0.0,
                ..NO_DECAY
            }
        )
        .is_err()
    );
    let dup = vec![params[0].clone(), params[0].clone()];
    assert!(matches!(
        AdamW::new(dup, NO_DECAY),
        Err(Error::Input { .. })
    ));
}

#[test]
fn clipping_a_known_gradient() {
    // Gradients [3, 0] and [4]: global norm sqrt(9 + 16) = 5. max_norm 1 scales by
    // 1 / (5 + 1e-6): [0.6, 0, 0.8] (to 1e-6 relative); max_norm 10 leaves them unchanged.
    let (a, b) = (var32(&[0.0, 0.0]), var32(&[0.0]));
    let params = vec![NamedVar::new("a", a.clone()), NamedVar::new("b", b.clone())];
    let mut grads = grads_of(&[(&a, &[3.0, 0.0]), (&b, &[4.0])]);
    assert_close1(
        global_grad_norm(&params, &grads).unwrap(),
        5.0,
        1e-12,
        "norm",
    );
    assert_close1(
        clip_grad_norm(&params, &mut grads, 10.0).unwrap(),
        5.0,
        1e-12,
        "no clip",
    );
    assert_eq!(flat(grads.get(b.as_tensor()).unwrap()), [4.0]);
    assert_close1(
        clip_grad_norm(&params, &mut grads, 1.0).unwrap(),
        5.0,
        1e-12,
        "pre-clip norm",
    );
    assert_close(
        &flat(grads.get(a.as_tensor()).unwrap()),
        &[0.6, 0.0],
        1e-6,
        "a",
    );
    assert_close(&flat(grads.get(b.as_tensor()).unwrap()), &[0.8], 1e-6, "b");
    assert_close1(
        global_grad_norm(&params, &grads).unwrap(),
        1.0,
        1e-6,
        "after",
    );
}

#[test]
fn non_finite_gradients_and_losses_are_named() {
    let (a, b) = (var32(&[0.0, 0.0]), var32(&[0.0]));
    let params = vec![
        NamedVar::new("a", a.clone()),
        NamedVar::new("layers.3.lora_A", b.clone()),
    ];
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut grads = grads_of(&[(&a, &[1.0, 2.0]), (&b, &[bad])]);
        for res in [
            check_finite_grads(&params, &grads).map(|_| 0.0),
            global_grad_norm(&params, &grads),
            clip_grad_norm(&params, &mut grads, 1.0),
        ] {
            match res {
                Err(Error::NonFinite { param, .. }) => assert_eq!(param, "layers.3.lora_A"),
                other => panic!("expected NonFinite for {bad}, got {other:?}"),
            }
        }
    }
    let ok = grads_of(&[(&a, &[1.0, -2.0]), (&b, &[0.0])]);
    check_finite_grads(&params, &ok).unwrap();
    assert_eq!(
        check_finite_loss(&Tensor::new(1.5f32, &Device::Cpu).unwrap()).unwrap(),
        1.5
    );
    assert!(matches!(
        check_finite_loss(&Tensor::new(f32::NAN, &Device::Cpu).unwrap()),
        Err(Error::NonFinite { what: "loss", .. })
    ));
}

#[test]
fn accumulator_sums_trainable_gradients_only() {
    // loss_k = sum(c_k * w * f) with f = 1 has gradient c_k for w: two micro-batches give
    // c_1 + c_2. `f` is a Var too (so each store holds its gradient) but is not trained: the
    // accumulator does not keep it.
    let w = var32(&[1.0, 2.0]);
    let f = var32(&[1.0, 1.0]);
    let params = [NamedVar::new("w", w.clone())];
    let mut acc = GradAccumulator::new();
    for c in [[0.5f32, -1.0], [2.0, 3.0]] {
        let c = Tensor::new(&c, &Device::Cpu).unwrap();
        let h = ((w.as_tensor() * c).unwrap() * f.as_tensor()).unwrap();
        let grads = h.sum_all().unwrap().backward().unwrap();
        assert!(grads.get(f.as_tensor()).is_some());
        acc.add(&params, &grads).unwrap();
    }
    assert_eq!(acc.micro_batches(), 2);
    let grads = acc.into_grads();
    assert_eq!(flat(grads.get(w.as_tensor()).unwrap()), [2.5, 2.0]);
    assert!(grads.get(f.as_tensor()).is_none());
}

#[test]
fn schedule_at_hand_computed_steps() {
    // peak 1e-3, warmup 10, total 110, min ratio 0.1.
    // warmup: step s -> 1e-3 (s + 1) / 10: s=0 -> 1e-4, s=4 -> 5e-4, s=9 -> 1e-3.
    // cosine: p = (s - 10) / 100; lr = 1e-3 (0.1 + 0.9 (1 + cos(pi p)) / 2):
    //   s=10 -> 1e-3; s=60 (p 1/2) -> 1e-3 (0.1 + 0.45) = 5.5e-4;
    //   s=35 (p 1/4) -> 1e-3 (0.1 + 0.45 (1 + 0.70710678)) = 8.6819805e-4;
    //   s=110 (p 1) -> 1e-4; s=500 (past the end) -> 1e-4.
    let s = LrSchedule::new(1e-3, 10, 110, LrDecay::Cosine, 0.1).unwrap();
    let steps = [0, 4, 9, 10, 35, 60, 110, 500];
    let want = [
        1e-4,
        5e-4,
        1e-3,
        1e-3,
        8.681_980_515_339_464e-4,
        5.5e-4,
        1e-4,
        1e-4,
    ];
    let got: Vec<f64> = steps.iter().map(|k| s.lr(*k)).collect();
    assert_close(&got, &want, 1e-15, "cosine");
    let c = LrSchedule {
        decay: LrDecay::Constant,
        ..s
    };
    let got: Vec<f64> = [0, 9, 10, 60, 500].iter().map(|k| c.lr(*k)).collect();
    assert_close(&got, &[1e-4, 1e-3, 1e-3, 1e-3, 1e-3], 1e-15, "constant");
    let none = LrSchedule::new(2e-5, 0, 4, LrDecay::Cosine, 0.0).unwrap();
    // No warmup, N = 4: p = s / 4 -> 2e-5 (1 + cos(pi s / 4)) / 2 at s = 0, 2, 4: 2e-5, 1e-5, 0.
    let got: Vec<f64> = [0, 2, 4].iter().map(|k| none.lr(*k)).collect();
    assert_close(&got, &[2e-5, 1e-5, 0.0], 1e-15, "no warmup");
    assert!(LrSchedule::new(1e-3, 11, 10, LrDecay::Cosine, 0.0).is_err());
    assert!(LrSchedule::new(1e-3, 0, 10, LrDecay::Cosine, 1.5).is_err());
    assert_eq!(
        serde_json::to_string(&LrDecay::Cosine).unwrap(),
        "\"cosine\""
    );
}

#[test]
fn named_vars_from_a_var_map_are_sorted_by_name() {
    let map = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
    vb.get((2, 3), "z.lora_B").unwrap();
    vb.get(4, "a.lora_A").unwrap();
    let params = caugym_train::params::from_var_map(&map).unwrap();
    let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a.lora_A", "z.lora_B"]);
    assert_eq!(params[1].var.dims(), [2, 3]);
}
