#!/usr/bin/env bash
#SBATCH --job-name=caugym-grpo
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=16
#SBATCH --mem=120G
#SBATCH --time=48:00:00
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=slurm-caugym-grpo-%j.out
#
# Launches `caugym train` (GRPO, or any run config) on a GPU node: as a Slurm batch job or directly.
#
#   sbatch scripts/launch-grpo.sh --config configs/grpo-r1-distill-14b.toml
#   scripts/launch-grpo.sh --config configs/grpo-r1-distill-14b.toml [--run-dir DIR] [--dry-run] [-- --set k=v ...]
#
# Before anything starts it checks: an NVIDIA GPU answers nvidia-smi with driver >= 580 (CUDA 13.0, what the binary
# was built for); the caugym binary exists and its shared libraries resolve; the config exists; the model path is
# a local checkpoint directory (config.json + *.safetensors) or a hub id in the local HF cache; the Python
# environment's nvidia/cu13/lib holds the CUDA libraries (put on LD_LIBRARY_PATH). Any failure stops here with
# the reason, not minutes later inside the run.
#
# The run directory (default: the config's output.output_dir) receives the checkpoints (the config's output_dir is
# pointed at it), logs/train-<time>.log (the run's output) and logs/launch-<time>.txt (node, GPU, driver, binary,
# config, command). A run directory that already holds a checkpoint-N/ is resumed with `caugym train --resume`,
# so a requeued or resubmitted job continues where it stopped.
#
# Environment: CAUGYM_BIN (default .cuda/bin/caugym, then caugym on PATH), CAUGYM_CUDA_LIB (the CUDA library
# folder), MODEL_PATH (overrides model.path), HF_HOME / HF_HUB_CACHE (the hub cache), MIN_DRIVER (default 580).
set -euo pipefail

# Under sbatch the script runs from a spool copy: the repository is where the job was submitted.
if [[ -n "${SLURM_SUBMIT_DIR:-}" ]]; then
  ROOT="$SLURM_SUBMIT_DIR"
else
  ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fi
cd "$ROOT"
WHO=launch-grpo.sh

die() {
  echo "$WHO: $*" >&2
  exit 2
}

CONFIG="" RUN_DIR="" DRY_RUN=0 EXTRA=()
while (($#)); do
  case "$1" in
    --config) CONFIG="${2:?--config needs a file}"; shift 2 ;;
    --run-dir) RUN_DIR="${2:?--run-dir needs a directory}"; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) sed -n '13,31p' "$0"; exit 0 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ -n "$CONFIG" ]] || die "--config FILE is required"
[[ -f "$CONFIG" ]] || die "config $CONFIG does not exist"

# A top-level `key = "value"` of TOML table `table` (enough for the two strings read here).
toml_string() {
  local file="$1" table="$2" key="$3"
  awk -v table="$table" -v key="$key" '
    /^[[:space:]]*\[/ { gsub(/[[:space:]\[\]]/, ""); current = $0; next }
    current == table {
      line = $0
      sub(/#.*/, "", line)
      if (match(line, "^[[:space:]]*" key "[[:space:]]*=[[:space:]]*\"[^\"]*\"")) {
        v = substr(line, RSTART, RLENGTH); sub(/^[^"]*"/, "", v); sub(/"$/, "", v); print v; exit
      }
    }' "$file"
}

# --- GPU and driver -----------------------------------------------------------------------------------------------
MIN_DRIVER="${MIN_DRIVER:-580}"
command -v nvidia-smi >/dev/null || die "nvidia-smi not found: not a GPU node, or the NVIDIA driver is not installed"
GPU_INFO="$(nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader 2>&1)" ||
  die "nvidia-smi failed: $GPU_INFO"
DRIVER="$(head -n1 <<<"$GPU_INFO" | awk -F', ' '{print $3}')"
[[ "${DRIVER%%.*}" =~ ^[0-9]+$ ]] || die "cannot read the driver version from nvidia-smi: $GPU_INFO"
((${DRIVER%%.*} >= MIN_DRIVER)) ||
  die "driver $DRIVER is older than $MIN_DRIVER: the binary's PTX (CUDA 13.0) needs driver >= $MIN_DRIVER"

# --- binary and CUDA libraries ------------------------------------------------------------------------------------
BIN="${CAUGYM_BIN:-}"
if [[ -z "$BIN" ]]; then
  if [[ -x .cuda/bin/caugym ]]; then BIN=.cuda/bin/caugym; else BIN="$(command -v caugym || true)"; fi
fi
[[ -n "$BIN" && -x "$BIN" ]] ||
  die "no caugym binary (build it with scripts/build-cuda.sh and carry .cuda/bin, or set CAUGYM_BIN)"
BIN="$(realpath "$BIN")"
# shellcheck source=scripts/cuda-lib.sh
source "$ROOT/scripts/cuda-lib.sh"
caugym_cuda_env "$WHO" || exit 2
caugym_check_ldd "$WHO" "$BIN" || exit 2

# --- model --------------------------------------------------------------------------------------------------------
MODEL="${MODEL_PATH:-$(toml_string "$CONFIG" model path)}"
[[ -n "$MODEL" ]] || die "$CONFIG has no model.path (or set MODEL_PATH)"
if [[ -d "$MODEL" ]]; then
  [[ -f "$MODEL/config.json" ]] || die "model directory $MODEL has no config.json"
  compgen -G "$MODEL/*.safetensors" >/dev/null || die "model directory $MODEL has no *.safetensors"
elif [[ "$MODEL" == */* && "$MODEL" != /* && "$MODEL" != .* ]]; then
  HUB="${HF_HUB_CACHE:-${HF_HOME:-$HOME/.cache/huggingface}/hub}"
  SNAP="$HUB/models--${MODEL//\//--}/snapshots"
  compgen -G "$SNAP/*/config.json" >/dev/null ||
    die "model $MODEL is neither a directory nor in the HF cache ($SNAP); the node has no network: download it first"
else
  die "model path $MODEL does not exist"
fi

# --- run directory, logs, resume ----------------------------------------------------------------------------------
if [[ -z "$RUN_DIR" ]]; then
  RUN_DIR="$(toml_string "$CONFIG" output output_dir)"
  [[ -n "$RUN_DIR" ]] || RUN_DIR="runs/$(basename "$CONFIG" .toml)"
fi
mkdir -p "$RUN_DIR/logs"
RUN_DIR="$(realpath "$RUN_DIR")"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)${SLURM_JOB_ID:+-job$SLURM_JOB_ID}"

ARGS=(train --config "$CONFIG" --set "output.output_dir=$RUN_DIR")
[[ -n "${MODEL_PATH:-}" ]] && ARGS+=(--set "model.path=$MODEL_PATH")
RESUME=no
if compgen -G "$RUN_DIR/checkpoint-*/" >/dev/null; then
  ARGS+=(--resume)
  RESUME="yes (newest of: $(cd "$RUN_DIR" && echo checkpoint-*))"
fi
ARGS+=("${EXTRA[@]}")

{
  echo "time:     $STAMP"
  echo "host:     $(hostname)${SLURM_JOB_ID:+ (slurm job $SLURM_JOB_ID)}"
  echo "gpu:      $GPU_INFO"
  echo "binary:   $BIN ($(sha256sum "$BIN" | cut -c1-16))"
  echo "config:   $(realpath "$CONFIG")"
  echo "model:    $MODEL"
  echo "run dir:  $RUN_DIR"
  echo "resume:   $RESUME"
  echo "git:      $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)"
  echo "ld path:  $LD_LIBRARY_PATH"
  printf 'command: '; printf ' %q' "$BIN" "${ARGS[@]}"; echo
} | tee "$RUN_DIR/logs/launch-$STAMP.txt" >&2

if ((DRY_RUN)); then
  echo "$WHO: dry run, not starting" >&2
  exit 0
fi
# The run's own output (progress, metrics lines, errors) goes to the log and the terminal / Slurm output.
set +e
"$BIN" "${ARGS[@]}" 2>&1 | tee "$RUN_DIR/logs/train-$STAMP.log"
status=${PIPESTATUS[0]}
set -e
echo "$WHO: caugym exited with $status (log: $RUN_DIR/logs/train-$STAMP.log)" >&2
exit "$status"
