# shellcheck shell=bash
# Sourced by scripts/gpu-check.sh and scripts/launch-grpo.sh: finds the CUDA 13 libraries of the GPU machine's
# Python environment (site-packages/nvidia/cu13/lib, holding libcublas.so.13, libcurand.so.10, libcudart.so.13)
# and puts them on LD_LIBRARY_PATH. CAUGYM_CUDA_LIB overrides the search. The driver supplies libcuda.so.1.

# Prints the folder, or fails.
caugym_find_cuda_lib() {
  if [[ -n "${CAUGYM_CUDA_LIB:-}" ]]; then
    [[ -f "$CAUGYM_CUDA_LIB/libcublas.so.13" ]] || return 1
    echo "$CAUGYM_CUDA_LIB"
    return 0
  fi
  command -v python3 >/dev/null || return 1
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

# Exports LD_LIBRARY_PATH with the folder first; `who` names the caller in the error.
caugym_cuda_env() {
  local who="$1" lib
  lib="$(caugym_find_cuda_lib)" || {
    echo "$who: no nvidia/cu13/lib with libcublas.so.13 in this Python environment (pip install" \
      "nvidia-cublas nvidia-curand nvidia-cuda-runtime, or set CAUGYM_CUDA_LIB)" >&2
    return 2
  }
  export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "$who: CUDA libraries from $lib" >&2
}

# Fails, naming them, when `bin` has unresolved shared libraries.
caugym_check_ldd() {
  local who="$1" bin="$2" missing
  missing="$(ldd "$bin" 2>&1 | grep "not found" || true)"
  if [[ -n "$missing" ]]; then
    echo "$who: unresolved libraries of $bin:" >&2
    echo "$missing" >&2
    return 2
  fi
}
