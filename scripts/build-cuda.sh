#!/usr/bin/env bash
# Builds caugym's `cuda` feature on a machine without a GPU (see shared/docs/cuda-build.md).
#
#   scripts/build-cuda.sh            toolkit + `cargo build --release --features cuda --bins` (caugym, gpu_check)
#   scripts/build-cuda.sh --check    toolkit + `cargo check --workspace --all-targets --features cuda` with
#                                    candle's own kernels stubbed (scripts/nvcc-check-stub.sh) and ours
#                                    compiled by the real nvcc: the CI compile check (minutes, not ~25)
#   scripts/build-cuda.sh --check-full  the same check with candle's kernels compiled too
#   scripts/build-cuda.sh --toolkit  toolkit only; prints the environment to `eval`
#
# Idempotent: the wheels are installed once into .cuda/ (git-ignored) and reinstalled only when the pins
# below change; the stub libcuda is regenerated when cudarc's version changes. CARGO_TARGET_DIR is honoured
# (default: the repository's target/).
#
# Why each step:
# - nvcc comes from PyPI's CUDA 13.0 wheels. Never newer than 13.0: PTX from a newer nvcc carries an ISA the
#   GPU machines' driver (580) cannot load, and the failure shows only there, at module load.
# - cuBLAS, cuRAND and NVRTC wheels are only linked against; the GPU machine brings its own copies.
#   The wheels ship versioned names only (libcublas.so.13), so the linker gets unversioned symlinks.
# - candle links cudarc with `dynamic-linking`, hence `-lcuda`: without a driver here, a stub libcuda.so
#   (soname libcuda.so.1) whose every function returns CUDA_ERROR_STUB_LIBRARY stands in. Its symbol list is
#   read from the cudarc sources that this Cargo.lock pins, so it cannot drift from what the binary imports.
#   At run time the real driver's libcuda.so.1 is found instead (the stub is never on LD_LIBRARY_PATH there).
# - CUDA_COMPUTE_CAP=90: no nvidia-smi here; 90 = H100/H200 (candle builds sm_90a from it).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

MODE=build
STUB_CANDLE_KERNELS=0
case "${1:-}" in
  "") ;;
  --check) MODE=check; STUB_CANDLE_KERNELS=1 ;;
  --check-full) MODE=check ;;
  --toolkit) MODE=toolkit ;;
  -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
  *) echo "build-cuda.sh: unknown argument '$1' (use --check, --check-full, --toolkit or nothing)" >&2; exit 2 ;;
esac

# The pinned wheel set (CUDA 13.0 line). Keep nvcc/nvvm/crt/runtime/cccl on the same release.
PINS=(
  nvidia-cuda-nvcc==13.0.88
  nvidia-cuda-runtime==13.0.96
  nvidia-cuda-crt==13.0.88
  nvidia-nvvm==13.0.88
  nvidia-cuda-cccl==13.0.85
  nvidia-cublas==13.0.2.14
  nvidia-curand==10.4.0.35
  nvidia-cuda-nvrtc==13.0.88
)
WANT_NVCC_RELEASE="release 13.0"

CUDA_DIR="$ROOT/.cuda"
SITE="$CUDA_DIR/site"
CUDA_ROOT="$SITE/nvidia/cu13"
STAMP="$CUDA_DIR/pins.txt"

log() { echo "build-cuda: $*" >&2; }

# --- 1. wheels ------------------------------------------------------------------------------------------
install_wheels() {
  local want
  want="$(printf '%s\n' "${PINS[@]}")"
  if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" && -x "$CUDA_ROOT/bin/nvcc" ]]; then
    log "wheels already installed in $SITE"
    return
  fi
  log "installing the CUDA 13.0 wheels into $SITE (about 1.2 GB)"
  rm -rf "$SITE" "$STAMP"
  mkdir -p "$CUDA_DIR"
  # --no-deps: the pins are the whole set; a dependency resolved by pip could pull a newer nvcc line.
  python3 -m pip install --quiet --disable-pip-version-check --no-deps --no-compile \
    --target "$SITE" "${PINS[@]}"
  printf '%s\n' "$want" > "$STAMP"
}

# --- 2. unversioned symlinks for the linker -------------------------------------------------------------
link_unversioned() {
  local lib="$CUDA_ROOT/lib" name target
  for name in cublas cublasLt curand nvrtc cudart; do
    target=""
    for f in "$lib/lib$name.so."*; do
      if [[ "$(basename "$f")" =~ ^lib$name\.so\.[0-9]+$ ]]; then
        target="$(basename "$f")"
        break
      fi
    done
    if [[ -z "$target" ]]; then
      echo "build-cuda.sh: no lib$name.so.N in $lib (incomplete wheel set?)" >&2
      exit 1
    fi
    ln -sfn "$target" "$lib/lib$name.so"
  done
}

# --- 3. stub libcuda.so from cudarc's driver symbols -----------------------------------------------------
cudarc_version() {
  awk '/^name = "cudarc"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

# The registry folder holding cudarc's sources at version $1 (empty when not fetched).
cudarc_src() {
  local d
  for d in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"cudarc-$1"; do
    if [[ -d "$d" ]]; then
      echo "$d"
      return
    fi
  done
}

make_stub() {
  local ver src stubdir="$CUDA_ROOT/lib/stubs"
  ver="$(cudarc_version)"
  if [[ -z "$ver" ]]; then
    echo "build-cuda.sh: cudarc not found in Cargo.lock" >&2
    exit 1
  fi
  if [[ -f "$stubdir/cudarc-version" && "$(cat "$stubdir/cudarc-version")" == "$ver" && -f "$stubdir/libcuda.so" ]]; then
    log "stub libcuda.so (cudarc $ver) already built"
    return
  fi
  src="$(cudarc_src "$ver")"
  if [[ -z "$src" ]]; then
    log "fetching crate sources (cudarc $ver)"
    cargo fetch --locked
    src="$(cudarc_src "$ver")"
    [[ -n "$src" ]] || { echo "build-cuda.sh: cudarc $ver sources not found after cargo fetch" >&2; exit 1; }
  fi
  mkdir -p "$stubdir"
  {
    echo "/* Generated by scripts/build-cuda.sh from cudarc $ver src/driver/sys/mod.rs: link-time stand-in"
    echo "   for the CUDA driver. Every entry point returns CUDA_ERROR_STUB_LIBRARY (34). */"
    grep -oE '^pub unsafe fn cu[A-Za-z0-9_]+' "$src/src/driver/sys/mod.rs" | sed 's/^pub unsafe fn //' | grep -v '^culib$' | sort -u |
      sed 's/.*/int &(void) { return 34; }/'
  } > "$stubdir/libcuda_stub.c"
  local count
  count="$(grep -c '^int ' "$stubdir/libcuda_stub.c")"
  if (( count < 100 )); then
    echo "build-cuda.sh: only $count driver symbols found in cudarc $ver: has its layout changed?" >&2
    exit 1
  fi
  # -fno-builtin: the stub declares functions with the wrong prototypes on purpose; only names matter.
  gcc -shared -fPIC -fno-builtin -Wl,-soname,libcuda.so.1 -o "$stubdir/libcuda.so" "$stubdir/libcuda_stub.c"
  ln -sfn libcuda.so "$stubdir/libcuda.so.1"
  echo "$ver" > "$stubdir/cudarc-version"
  log "stub libcuda.so: $count symbols from cudarc $ver"
}

install_wheels
link_unversioned
make_stub

export CUDA_HOME="$CUDA_ROOT"
export PATH="$CUDA_ROOT/bin:$PATH"
export CUDA_COMPUTE_CAP=90
# Both are read by cudarc/candle build scripts; unset a stray override that would disagree with nvcc 13.0.
unset CUDARC_CUDA_VERSION CUDA_PATH NVCC

NVCC_VERSION="$(nvcc --version)"
if ! grep -q "$WANT_NVCC_RELEASE" <<<"$NVCC_VERSION"; then
  echo "build-cuda.sh: nvcc is not $WANT_NVCC_RELEASE:" >&2
  echo "$NVCC_VERSION" >&2
  exit 1
fi
log "nvcc: $(grep -o 'release [0-9.]*, V[0-9.]*' <<<"$NVCC_VERSION")"

if [[ "$MODE" == toolkit ]]; then
  echo "export CUDA_HOME='$CUDA_HOME' PATH='$CUDA_ROOT/bin':\"\$PATH\" CUDA_COMPUTE_CAP=90"
  exit 0
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
start=$SECONDS
if [[ "$MODE" == check ]]; then
  # Proves the feature compiles: every crate and test target type-checks with `cuda` on, and the build
  # scripts run for real (candle's kernels and ours go through nvcc 13.0 to PTX). No codegen or link.
  if (( STUB_CANDLE_KERNELS )); then
    # Safe in a shared target dir: candle-kernels and caugym-kernels rerun their build scripts when NVCC
    # changes, so a later real build recompiles the stubbed kernels instead of reusing them.
    export REAL_NVCC="$CUDA_ROOT/bin/nvcc" NVCC="$ROOT/scripts/nvcc-check-stub.sh"
    log "candle's kernels stubbed (scripts/nvcc-check-stub.sh); ours compiled by $REAL_NVCC"
  fi
  cargo check --locked --workspace --all-targets --features cuda
else
  cargo build --locked --release --features cuda --bins
  # A fixed, git-ignored place for the GPU machine to find them (scripts/gpu-check.sh looks here; a
  # device session carries `.cuda/bin` with the working tree).
  # Debug line tables stripped: gpu_check drops from ~100 MB to ~50 MB, under a device session's 64 MiB
  # carry limit (the unstripped binaries stay in the target dir).
  mkdir -p "$CUDA_DIR/bin"
  for bin in caugym gpu_check; do
    strip --strip-debug -o "$CUDA_DIR/bin/$bin" "$CARGO_TARGET_DIR/release/$bin"
  done
  log "binaries: $CUDA_DIR/bin/caugym $CUDA_DIR/bin/gpu_check"
fi
log "cargo $MODE took $((SECONDS - start)) s"
