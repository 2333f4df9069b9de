//! Helpers of the run-directory tests (export, ablate): a tiny model from `caugym init-model`
//! and a short SFT config over generated CauGym items.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn caugym(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_caugym"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `caugym` and fails the test (with its stderr) unless it succeeds; returns stdout.
pub fn caugym_ok(args: &[&str]) -> String {
    let o = caugym(args);
    assert!(
        o.status.success(),
        "caugym {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// `caugym init-model --size tiny` into `dir`.
pub fn tiny_model(dir: &Path) -> PathBuf {
    caugym_ok(&[
        "init-model",
        "--size",
        "tiny",
        "--seed",
        "4",
        "--out",
        dir.to_str().unwrap(),
    ]);
    dir.to_path_buf()
}

/// A LoRA SFT config: `steps` steps of 4 generated items' answers (two tasks on small graphs,
/// so prompts stay short) at a high learning rate (so
/// the adapter moves away from B = 0), a checkpoint every step.
pub fn sft_config(model: &Path, out: &Path, steps: u64) -> String {
    format!(
        r#"method = "sft"
seed = 2
[model]
path = "{}"
[lora]
r = 4
lora_alpha = 8
[data.generate]
tasks = ["ATE", "PN"]
count = 8
nodes = [2, 3]
[sft]
completion = "answer"
max_length = 2048
[optim]
learning_rate = 0.01
micro_batch_size = 4
max_steps = {steps}
[logging]
progress_bar = false
save_steps = 1
[output]
output_dir = "{}"
overwrite_output_dir = true
"#,
        model.display(),
        out.display()
    )
}
