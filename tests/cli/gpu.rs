//! The GPU-side tools on the CPU: `caugym memory` on the 14B GRPO config (fits 80 GB with activation
//! checkpointing, not without), and `gpu_check --device cpu`, the smoke run of the GPU machine's check
//! (kernels against the reference, log-prob timing, a LoRA training step and batched decoding on a
//! 2-layer model), which must print every row without a failure.

use std::process::Command;

fn run(bin: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn memory_of_the_14b_grpo_config() {
    let base = [
        "memory",
        "--config",
        "configs/grpo-r1-distill-14b.toml",
        "--arch",
        "configs/arch/deepseek-r1-distill-qwen-14b.json",
    ];
    let (ok, out, err) = run(env!("CARGO_BIN_EXE_caugym"), &base);
    assert!(ok, "{err}");
    for line in [
        "base weights",
        "LoRA A/B (f32)",
        "one layer recomputed",
        "KV cache",
    ] {
        assert!(out.contains(line), "missing {line}:\n{out}");
    }
    assert!(
        out.contains("training peak") && out.contains(": fits 80 GiB"),
        "{out}"
    );
    let mut off = base.to_vec();
    off.extend(["--set", "model.activation_checkpointing=false"]);
    let (ok, out, err) = run(env!("CARGO_BIN_EXE_caugym"), &off);
    assert!(ok, "{err}");
    assert!(out.contains("activations, every layer"), "{out}");
    let training = out
        .lines()
        .find(|l| l.starts_with("training peak"))
        .unwrap();
    assert!(training.contains("exceeds 80 GiB"), "{out}");
    // A model path that is not here, without --arch, is an error naming the way out.
    let (ok, _, err) = run(env!("CARGO_BIN_EXE_caugym"), &base[..3]);
    assert!(!ok);
    assert!(err.contains("--arch"), "{err}");
}

#[test]
fn gpu_check_smoke_run_on_cpu() {
    let (ok, out, err) = run(
        env!("CARGO_BIN_EXE_gpu_check"),
        &["--device", "cpu", "--iters", "1"],
    );
    assert!(ok, "stdout:\n{out}\nstderr:\n{err}");
    assert!(!out.contains("FAIL"), "{out}");
    for row in [
        "fused vs f64 reference",
        "| train step",
        "MFU",
        "| decode",
        "batch 4",
    ] {
        assert!(out.contains(row), "missing {row}:\n{out}");
    }
}
