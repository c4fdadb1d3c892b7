#!/usr/bin/env bash
# The runtime's GPU test binaries in one call on the GPU machine: the
# AttentionPlan tests (AOT through the carried xfc and JIT), MultiheadAttention,
# and the variant graphs (linformer, fourier_mix, ...), each against an fp64
# reference; then compute-sanitizer memcheck on the variant tests.
# Binaries come from build-device/bin (strip and copy them there; see
# docs/runtime.md). Writes logs under $OUT; prints `N passed, N failed` last.
#   usage: bash bench/device-tests.sh [gtest filter for the variant tests]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/xfc-device}
BIN=${BIN:-build-device/bin}
mkdir -p "$OUT"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
export XFC_BINARY=$BIN/xfc
export XFC_CACHE_DIR=$(mktemp -d)
FILTER=${1:-*}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"

passed=0 failed=0
run_binary() {
  local name=$1 filter=$2
  [ -x "$BIN/$name" ] || { echo "missing $BIN/$name"; failed=$((failed + 1)); return; }
  "$BIN/$name" --gtest_filter="$filter" > "$OUT/$name.log" 2>&1
  local ok bad
  ok=$(grep -c '^\[       OK \]' "$OUT/$name.log")
  bad=$(grep -c '^\[  FAILED  \] [A-Za-z]' "$OUT/$name.log")
  echo "$name: $ok passed, $bad failed"
  grep -E '^\[  FAILED  \] [A-Za-z]|relative error|error [0-9]' "$OUT/$name.log" | head -60
  passed=$((passed + ok)) failed=$((failed + bad))
}
run_binary xfc-variant-gpu-tests "$FILTER"
run_binary xfc-mha-gpu-tests "${MHA_FILTER:-*}"
run_binary xfc-gpu-tests "${PLAN_FILTER:-*}"

if command -v compute-sanitizer > /dev/null && [ -x "$BIN/xfc-variant-gpu-tests" ]; then
  compute-sanitizer --tool memcheck --error-exitcode 3 \
    "$BIN/xfc-variant-gpu-tests" --gtest_filter="$FILTER" > "$OUT/memcheck.log" 2>&1
  echo "memcheck on the variant tests: exit $? ($(grep -m1 'ERROR SUMMARY' "$OUT/memcheck.log"))"
  # TMA loads (tensor maps) and their cp.async fallback, under memcheck.
  compute-sanitizer --tool memcheck --error-exitcode 3 \
    "$BIN/xfc-gpu-tests" --gtest_filter='*TmaAndCpAsync*' > "$OUT/memcheck-tma.log" 2>&1
  echo "memcheck on the TMA test: exit $? ($(grep -m1 'ERROR SUMMARY' "$OUT/memcheck-tma.log"))"
fi
echo "$passed passed, $failed failed"
