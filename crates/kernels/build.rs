//! Compiles `kernels/*.cu` (at the repository root) to PTX under the `cuda` feature only, so the default
//! build never needs nvcc. The PTX is included by `src/cuda.rs` as a `&'static str`.
//!
//! nvcc is taken from `NVCC`, else `$CUDA_HOME/bin/nvcc`, else `$CUDA_PATH/bin/nvcc`, else `PATH`; the
//! architecture from `CUDA_COMPUTE_CAP` (e.g. `90`), else from `nvidia-smi`. There is no default: PTX for
//! the wrong architecture fails only on the GPU, at module load, so a missing value stops the build here.
//! `scripts/build-cuda.sh` sets both.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    #[cfg(feature = "cuda")]
    cuda::build();
}

#[cfg(feature = "cuda")]
mod cuda {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// The .cu files this crate launches, relative to `kernels/`.
    const SOURCES: &[&str] = &["selective_logprob.cu"];

    pub fn build() {
        for var in [
            "NVCC",
            "CUDA_HOME",
            "CUDA_PATH",
            "CUDA_COMPUTE_CAP",
            "NVCC_CCBIN",
        ] {
            println!("cargo::rerun-if-env-changed={var}");
        }
        let manifest = PathBuf::from(
            std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
        );
        let kernels = manifest.join("../../kernels");
        let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
        let nvcc = nvcc();
        let cap = compute_cap();
        for source in SOURCES {
            let src = kernels.join(source);
            println!("cargo::rerun-if-changed={}", src.display());
            let ptx = out_dir.join(Path::new(source).with_extension("ptx"));
            compile(&nvcc, &cap, &src, &ptx);
        }
    }

    fn nvcc() -> PathBuf {
        if let Ok(nvcc) = std::env::var("NVCC") {
            return nvcc.into();
        }
        for root in ["CUDA_HOME", "CUDA_PATH"] {
            if let Ok(root) = std::env::var(root) {
                let nvcc = Path::new(&root).join("bin/nvcc");
                if nvcc.is_file() {
                    return nvcc;
                }
            }
        }
        "nvcc".into()
    }

    fn compute_cap() -> String {
        if let Ok(cap) = std::env::var("CUDA_COMPUTE_CAP") {
            let cap = cap.trim().replace('.', "");
            if !cap.is_empty() && cap.chars().all(|c| c.is_ascii_digit()) {
                return cap;
            }
            panic!("CUDA_COMPUTE_CAP={cap:?} is not a compute capability like 90 or 8.0");
        }
        let smi = Command::new("nvidia-smi")
            .args(["--query-gpu=compute_cap", "--format=csv,noheader"])
            .output();
        if let Ok(out) = smi
            && out.status.success()
            && let Some(first) = String::from_utf8_lossy(&out.stdout).lines().next()
        {
            return first.trim().replace('.', "");
        }
        panic!(
            "caugym-kernels: set CUDA_COMPUTE_CAP (90 for H100/H200) to build the `cuda` feature on a machine \
             without nvidia-smi; scripts/build-cuda.sh does"
        );
    }

    fn compile(nvcc: &Path, cap: &str, src: &Path, ptx: &Path) {
        let mut cmd = Command::new(nvcc);
        cmd.arg("--ptx")
            .arg(format!("-arch=sm_{cap}"))
            .args([
                "-O3",
                "-std=c++17",
                "--expt-relaxed-constexpr",
                "-Werror",
                "all-warnings",
            ])
            .arg("-o")
            .arg(ptx)
            .arg(src);
        if let Ok(ccbin) = std::env::var("NVCC_CCBIN") {
            cmd.arg("-ccbin").arg(ccbin);
        }
        let out = cmd.output().unwrap_or_else(|e| {
            panic!(
                "caugym-kernels: cannot run {} ({e}); set NVCC or CUDA_HOME",
                nvcc.display()
            )
        });
        if !out.status.success() {
            panic!(
                "caugym-kernels: nvcc failed on {}:\n{}{}",
                src.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
