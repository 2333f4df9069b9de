#!/usr/bin/env bash
# The test command of README.md: builds and runs every test of the workspace on CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets "$@"
