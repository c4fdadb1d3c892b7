#!/usr/bin/env bash
# On the GPU machine: the runtime and JIT GPU tests (carried, statically
# linked binaries in build-device/bin), then compute-sanitizer memcheck and
# racecheck on a subset. Logs under $OUT; prints the summaries last.
#   usage: bash test/gpu/run-gpu-tests.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/xfc-gpu-tests}
BIN=${XFC_DEVICE_BIN:-build-device/bin}
mkdir -p "$OUT"
export XFC_BINARY=$BIN/xfc XFC_GPU_TEST_JOBS=${XFC_GPU_TEST_JOBS:-8}
export XFC_CACHE_DIR=$(mktemp -d)

"$BIN/xfc-gpu-tests" > "$OUT/gpu-tests.log" 2>&1
status=$?
grep -E "^\[  (PASSED|FAILED|SKIPPED) |tests? ran|relative error|worst" "$OUT/gpu-tests.log" | tail -n 30

export XFC_GPU_TEST_JOBS=1
: > "$OUT/sanitizer.log"
for tool in memcheck racecheck; do
  for filter in 'AttentionPlanGpu.MasksAndKeyPadding' 'JitGpu.*' 'AttentionPlanGpu.BlockSparsePerHeadAndFp32'; do
    echo "== $tool $filter" >> "$OUT/sanitizer.log"
    compute-sanitizer --tool "$tool" --target-processes application-only \
      --error-exitcode 3 "$BIN/xfc-gpu-tests" --gtest_filter="$filter" \
      >> "$OUT/sanitizer.log" 2>&1
    echo "exit $?" >> "$OUT/sanitizer.log"
  done
done
grep -E "^== |^exit|ERROR SUMMARY|RACECHECK SUMMARY|PASSED|FAILED" "$OUT/sanitizer.log"
exit $status
