#!/usr/bin/env bash
# The CPU ablation in one command: build the release binary, make the tiny model, train the
# shared SFT warm start, train every arm in configs/ablation/cpu/, evaluate all of them (and the
# warm start itself) on the same generated CauGym sets with the same sampling settings, and print
# the method x set table. Output: runs/ablation/cpu/report/{ablation.md,ablation.json,plots/}.
#
# Usage: scripts/ablation.sh [extra `caugym ablate` flags, e.g. --limit 10]
# Environment: ITEMS (items per evaluation set, default 20), N (samples per item, default 2),
# CAUGYM (a caugym binary to use instead of building one).
set -euo pipefail
cd "$(dirname "$0")/.."

PREPARE=configs/demo/sft.toml
ITEMS=${ITEMS:-20}
N=${N:-2}
OUT=runs/ablation/cpu
SETS_DIR=$OUT/sets
start=$(date +%s)
if [[ -n ${CAUGYM:-} ]]; then
  BIN=$CAUGYM # a binary built already
else
  # The path cargo reports (a CARGO_TARGET_DIR elsewhere than ./target included).
  BIN=$(cargo build --release --bin caugym --message-format=json \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
fi

# The shared first stage, as scripts/demo.sh makes it (skipped when it exists): the demo's
# training items, the tiny model with its tokenizer fitted to them; `--prepare` below trains the
# SFT warm start (configs/demo/sft.toml -> runs/demo/sft/final) unless it is there already.
if [[ ! -f runs/demo/train.jsonl ]]; then
  mkdir -p runs/demo
  "$BIN" gen --tasks ATE,PN,PS --nodes 2-3 --count 1500 --seed 1 --output runs/demo/train.jsonl
fi
if [[ ! -f runs/demo/model/config.json ]]; then
  "$BIN" init-model --size tiny --seed 0 --vocab 1024 --corpus runs/demo/train.jsonl \
    --out runs/demo/model
fi

# Evaluation sets: the demo's task mix, a seed no training data uses, three CauGym variants.
mkdir -p "$SETS_DIR"
for variant in base omitted deconfounding; do
  [[ -f $SETS_DIR/$variant.json ]] || "$BIN" gen --variant "$variant" --count "$ITEMS" \
    --tasks ATE,PN,PS --nodes 2-3 --seed 7 --format json --output "$SETS_DIR/$variant.json"
done

"$BIN" ablate configs/ablation/cpu/*.toml --prepare "$PREPARE" --base \
  --data-dir "$SETS_DIR" --sets base,omitted,deconfounding \
  --n "$N" --temperature 0.6 --top-p 0.95 --max-new-tokens 32 \
  --out "$OUT/report" "$@"
echo "CPU ablation: $(( $(date +%s) - start )) s in all (build included)" >&2
