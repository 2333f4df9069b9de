#!/usr/bin/env bash
# An `nvcc` for compile checks only (scripts/build-cuda.sh --check sets NVCC to it; REAL_NVCC is the real one).
#
# candle-kernels' build script compiles ~40 of candle's own .cu files (PTX plus a static MoE library) one at
# a time: most of a cold `--features cuda` build on 2 cores, and none of it is our code. Here every nvcc call
# whose sources all live in a `candle-kernels-*` crate directory writes empty outputs of the requested kind
# (empty .ptx files, an empty object, an empty archive) instead; every other call — our kernels/*.cu, and
# `nvcc --version`, which cudarc and cudaforge read — goes to the real nvcc unchanged. The result type-checks
# the whole workspace with `cuda` on and compiles our kernels for real, but its binaries would carry no
# candle kernels: never use it for a build that runs.
set -euo pipefail

REAL="${REAL_NVCC:?nvcc-check-stub.sh: set REAL_NVCC to the real nvcc}"

mode="" out="" outdir="" sources=() objects=()
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  a="${args[$i]}"
  case "$a" in
    --ptx|-ptx) mode=ptx ;;
    -c|--compile) mode=obj ;;
    --lib|-lib) mode=lib ;;
    -o|--output-file) i=$((i + 1)); out="${args[$i]}" ;;
    --output-directory|-odir) i=$((i + 1)); outdir="${args[$i]}" ;;
    *.cu) sources+=("$a") ;;
    *.o) objects+=("$a") ;;
  esac
done

candle_only() {
  local s
  (( ${#sources[@]} > 0 )) || return 1
  for s in "${sources[@]}"; do
    # Relative to the build script's working directory, the crate's own.
    [[ "$(realpath -m -- "$s")" == */candle-kernels-* ]] || return 1
  done
}

all_candle_objects() {
  local o
  for o in "${objects[@]}"; do
    [[ "$(realpath -m -- "$o")" == */candle-kernels-* ]] || return 1
  done
}

case "$mode" in
  ptx)
    if candle_only; then
      for s in "${sources[@]}"; do
        base="$(basename "$s" .cu)"
        : > "${out:-${outdir:-.}/$base.ptx}"
      done
      exit 0
    fi
    ;;
  obj)
    if candle_only && [[ -n "$out" ]]; then
      cc -c -x c /dev/null -o "$out"
      exit 0
    fi
    ;;
  lib)
    # An archive of stubbed objects: every member came from the branch above (candle's MoE library).
    if [[ -n "$out" && ${#objects[@]} -gt 0 ]] && all_candle_objects; then
      rm -f "$out"
      ar rcs "$out" "${objects[@]}"
      exit 0
    fi
    ;;
esac
exec "$REAL" "$@"
