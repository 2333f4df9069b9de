#!/usr/bin/env bash
# Model benchmark: caugym (candle, CPU, f32) against PyTorch eager + transformers on the same
# configs, in the same run, on this machine. Prints a side-by-side table of tokens/s. caugym runs
# twice: on the gemm crate (its default) and with OpenBLAS (CAUGYM_BLAS, fetched by
# scripts/fetch-openblas.sh; crates/model/src/blas.rs).
#
#   scripts/bench-model.sh [tiny|100m|all] [train|sample|all]
#
# Creates .venv (git-ignored) with `pip install torch transformers` on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-all}
what=${2:-all}
[ "$sizes" = all ] && sizes="tiny 100m"

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import torch, transformers" 2>/dev/null; then
    python3 -m venv .venv
    .venv/bin/python -m pip install -q torch transformers
fi

cargo build --release -q -p caugym-model --example bench_model
bench() { cargo run --release -q -p caugym-model --example bench_model -- "$@"; }

blas=$(scripts/fetch-openblas.sh)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for size in $sizes; do
    CAUGYM_BLAS=off bench "$size" "$what" | tee -a "$out"
    CAUGYM_BLAS="$blas" bench "$size" "$what" | tee -a "$out"
    .venv/bin/python scripts/bench/bench_model.py "$size" "$what" | tee -a "$out"
done
echo
python3 scripts/bench/table.py < "$out"
