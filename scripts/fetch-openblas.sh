#!/usr/bin/env bash
# Fetches OpenBLAS for caugym's CPU matmuls (optional; see crates/model/src/blas.rs) and prints the
# library's path, for `export CAUGYM_BLAS=$(scripts/fetch-openblas.sh)`.
#
# The library is the self-contained libscipy_openblas.so of PyPI's scipy-openblas32 wheel (OpenBLAS
# with every x86-64 kernel, picked at run time; LP64; symbols prefixed `scipy_`), pinned and checked
# against its sha256. Nothing is built or installed system-wide: it lands in .openblas/ (git-ignored),
# once; later runs only print the path. Linux x86-64 only (the wheel's platform).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
DIR="${CAUGYM_OPENBLAS_DIR:-$ROOT/.openblas}"
VERSION=0.3.34.481.3
WHEEL="scipy_openblas32-$VERSION-py3-none-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
SHA=0595f94cd58c1f8a0d90c975621f4587337a003916b1979e834ebdf2cb5d9504
LIB="$DIR/libscipy_openblas.so"

if [[ -f "$LIB" && "$(cat "$DIR/version" 2>/dev/null)" == "$VERSION" ]]; then
  echo "$LIB"
  exit 0
fi
if [[ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]]; then
  echo "fetch-openblas.sh: the pinned wheel is for Linux x86-64, not $(uname -s)-$(uname -m)" >&2
  exit 1
fi
mkdir -p "$DIR/wheel"
if [[ ! -f "$DIR/wheel/$WHEEL" ]]; then
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform manylinux_2_28_x86_64 "scipy-openblas32==$VERSION" -d "$DIR/wheel" >&2
fi
echo "$SHA  $DIR/wheel/$WHEEL" | sha256sum --check --quiet >&2
python3 - "$DIR/wheel/$WHEEL" "$LIB" <<'PY'
import shutil, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z, z.open("scipy_openblas32/lib/libscipy_openblas.so") as src, \
        open(out + ".tmp", "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
mv "$LIB.tmp" "$LIB"
echo "$VERSION" > "$DIR/version"
echo "$LIB"
