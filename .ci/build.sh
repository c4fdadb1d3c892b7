#!/usr/bin/env bash
# Configures and builds xfc into build/ (or $XFC_BUILD_DIR). Extra arguments
# go to cmake's configure step, e.g. -DXFC_STATIC_LLVM=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${XFC_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja \
  -DMLIR_DIR=/usr/lib/llvm-19/lib/cmake/mlir \
  -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-19/build/utils/lit/lit.py "$@" >/dev/null
cmake --build "$build" -j "$(nproc)"
