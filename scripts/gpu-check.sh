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

# The CUDA 13 libraries of the Python environment: site-packages/nvidia/cu13/lib.
find_cuda_lib() {
  python3 - <<'PY'
import importlib.util, os, site, sys
roots = []
spec = importlib.util.find_spec("nvidia")
if spec and spec.submodule_search_locations:
    roots += list(spec.submodule_search_locations)
for sp in site.getsitepackages() + [site.getusersitepackages()]:
    roots.append(os.path.join(sp, "nvidia"))
for root in roots:
    lib = os.path.join(root, "cu13", "lib")
    if os.path.isfile(os.path.join(lib, "libcublas.so.13")):
        print(lib)
        sys.exit(0)
sys.exit(1)
PY
}
LIB="${CAUGYM_CUDA_LIB:-}"
if [[ -z "$LIB" ]]; then
  LIB="$(find_cuda_lib)" || {
    echo "gpu-check.sh: no nvidia/cu13/lib with libcublas.so.13 in this Python environment; set CAUGYM_CUDA_LIB" >&2
    exit 2
  }
fi
export LD_LIBRARY_PATH="$LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "gpu-check.sh: CUDA libraries from $LIB"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.memory --format=csv,noheader || true
fi

# A missing library shows here, before the run, with its name.
if ldd "$BIN" | grep -q "not found"; then
  echo "gpu-check.sh: unresolved libraries:" >&2
  ldd "$BIN" | grep "not found" >&2
  exit 2
fi

# 9 minutes for the binary, so that the whole script stays within 10.
timeout 540 "$BIN" "$@"
