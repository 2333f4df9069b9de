#!/usr/bin/env bash
# The CPU demo, one command on a fresh clone:
#
#   scripts/demo.sh
#
# builds the release binary, then (fixed seeds throughout) generates CauGym items, writes a
# random tiny Qwen2 with `caugym init-model`, warm-starts it with SFT (configs/demo/sft.toml),
# trains GRPO on top (configs/demo/grpo.toml), and evaluates the SFT model and the GRPO model on
# the same held-out items with the same sampling settings. It prints each stage's time and the
# accuracy table after SFT and after GRPO, and exits non-zero if GRPO does not beat SFT.
# Everything lands in runs/demo/. See README ("The demo") for the task mix and the numbers.
set -euo pipefail
cd "$(dirname "$0")/.."

# The task mix: see README "The demo" for why these.
TASKS=${TASKS:-ATE,PN,PS}
NODES=${NODES:-2-3}
TRAIN_ITEMS=${TRAIN_ITEMS:-1500}
TEST_ITEMS=${TEST_ITEMS:-90}
# Evaluation: the paper's sampling (temperature 0.6, top-p 0.95), N samples per item.
EVAL_N=${EVAL_N:-8}
EVAL_ARGS=(--n "$EVAL_N" --temperature 0.6 --top-p 0.95 --max-new-tokens 32 --seed 0)

echo "== build (release; not part of the demo's time)"
cargo build --release --bin caugym
# OpenBLAS for the CPU matmuls (PyPI wheel, once; crates/model/src/blas.rs). CAUGYM_BLAS=off: the gemm crate.
CAUGYM_BLAS=${CAUGYM_BLAS-$(scripts/fetch-openblas.sh)}
export CAUGYM_BLAS
caugym() { cargo run -q --release --bin caugym -- "$@"; }

OUT=runs/demo
mkdir -p "$OUT"
START=$(date +%s.%N)
LAST=$START
TIMES=()
stage_done() {
  local now
  now=$(date +%s.%N)
  TIMES+=("$(awk -v a="$LAST" -v b="$now" -v s="$1" 'BEGIN { printf "%-28s %7.1f s", s, b - a }')")
  LAST=$now
}

echo "== data: $TRAIN_ITEMS training + $TEST_ITEMS held-out items, tasks $TASKS, $NODES nodes"
caugym gen --tasks "$TASKS" --nodes "$NODES" --count "$TRAIN_ITEMS" --seed 1 \
  --output "$OUT/train.jsonl"
caugym gen --tasks "$TASKS" --nodes "$NODES" --count "$TEST_ITEMS" --seed 2 \
  --output "$OUT/test.jsonl"
stage_done "generate data"

echo "== model: a random tiny Qwen2, its tokenizer trained on the training items"
# A 1,024-token BPE fitted to CauGym text halves the prompts' length against the built-in
# 512-token one, and attention and MLP cost scale with it.
caugym init-model --size tiny --seed 0 --vocab 1024 --corpus "$OUT/train.jsonl" --out "$OUT/model"
stage_done "init-model"

echo "== SFT warm start (configs/demo/sft.toml)"
caugym train --config configs/demo/sft.toml
stage_done "SFT"

echo "== GRPO (configs/demo/grpo.toml)"
caugym train --config configs/demo/grpo.toml
stage_done "GRPO"

# GRPO's own view of its progress: the share of correct samples, first vs last quarter of steps.
awk -F'"reward/correct_frac":' 'NF > 1 { split($2, v, /[,}]/); c[++n] = v[1] }
  END { q = int((n + 3) / 4); for (i = 1; i <= q; i++) { a += c[i]; b += c[n + 1 - i] }
        printf "GRPO training samples correct: %.3f (first %d steps) -> %.3f (last %d)\n",
               a / q, q, b / q, q }' "$OUT/grpo/metrics.jsonl"

echo "== evaluate the SFT model on the held-out items"
caugym eval --model "$OUT/sft/final" --sets "$OUT/test.jsonl" "${EVAL_ARGS[@]}" \
  --out "$OUT/eval-sft"
stage_done "eval after SFT"

echo "== evaluate the GRPO model on the same items"
caugym eval --model "$OUT/sft/final" --adapter "$OUT/grpo/final" --sets "$OUT/test.jsonl" \
  "${EVAL_ARGS[@]}" --out "$OUT/eval-grpo"
stage_done "eval after GRPO"

TOTAL=$(awk -v a="$START" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
echo
echo "== times ($(nproc) cores)"
printf '%s\n' "${TIMES[@]}"
printf '%-28s %7.1f s\n' "total" "$TOTAL"
echo
echo "== held-out accuracy ($TEST_ITEMS items x $EVAL_N samples, temperature 0.6, top-p 0.95)"
head -n 2 "$OUT/eval-sft/report.md" | sed 's/| set |/| model |/'
sed -n 's/^| test |/| after SFT |/p' "$OUT/eval-sft/report.md"
sed -n 's/^| test |/| after GRPO |/p' "$OUT/eval-grpo/report.md"
overall() { sed -n 's/^| test |.*| \([0-9.]*\) |$/\1/p' "$1/report.md"; }
SFT_ACC=$(overall "$OUT/eval-sft")
GRPO_ACC=$(overall "$OUT/eval-grpo")
echo
if awk -v s="$SFT_ACC" -v g="$GRPO_ACC" 'BEGIN { exit !(g > s) }'; then
  echo "GRPO improved held-out accuracy: $SFT_ACC -> $GRPO_ACC"
else
  echo "GRPO did not beat SFT: $SFT_ACC -> $GRPO_ACC" >&2
  exit 1
fi
