#!/usr/bin/env bash
# Runs on a GPU machine (CUDA libraries in a Python environment, no Rust toolchain, no network): checks
# caugym's fused kernels against the f64 reference, times fused vs composed log-probs at 8,192 x 152,064
# (ms, GB/s, % of HBM bandwidth), runs the 14B-shape hooks, and prints one table. Within 10 minutes.
#
#   scripts/build-cuda.sh                 # on the build machine: leaves .cuda/bin/gpu_check
#   scripts/gpu-check.sh [gpu_check args] # on the GPU machine, from the repository root
#
# GPU_CHECK_BIN overrides the binary; CAUGYM_CUDA_LIB the folder holding libcublas.so.13 & co. The driver
# supplies libcuda.so.1 (the stub from the build machine is never on the library path here).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${GPU_CHECK_BIN:-.cuda/bin/gpu_check}"
if [[ ! -x "$BIN" ]]; then
  echo "gpu-check.sh: no binary at $BIN (run scripts/build-cuda.sh on a build machine, carry .cuda/bin)" >&2
  exit 2
fi

# shellcheck source=scripts/cuda-lib.sh
source scripts/cuda-lib.sh
caugym_cuda_env gpu-check.sh || exit 2
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.memory --format=csv,noheader || true
fi

# A missing library shows here, before the run, with its name.
caugym_check_ldd gpu-check.sh "$BIN" || exit 2

# 9 minutes for the binary, so that the whole script stays within 10.
timeout 540 "$BIN" "$@"
