#!/usr/bin/env bash
# On the GPU machine: the runtime, JIT and MultiheadAttention GPU tests and
# the two examples (carried, statically linked binaries in build-device/bin),
# then compute-sanitizer memcheck and racecheck on a subset. Logs under $OUT;
# prints the summaries last.
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
"$BIN/xfc-mha-gpu-tests" > "$OUT/mha-gpu-tests.log" 2>&1
mha=$?
grep -E "^\[  (PASSED|FAILED|SKIPPED) |relative error|max abs" "$OUT/mha-gpu-tests.log" | tail -n 60
status=$((status || mha))

# The examples: AOT loading of `xfc compile` output, and the JIT'd
# MultiheadAttention with a block-sparse config.
examples=0
for config in examples/configs/*.json; do
  name=$(basename "$config" .json)
  "$BIN/xfc" compile "$config" --arch sm_90a -o "$XFC_CACHE_DIR/aot-$name" > /dev/null &&
    "$BIN/aot_attention" "$XFC_CACHE_DIR/aot-$name" > "$OUT/aot-$name.log" 2>&1 ||
    { echo "example failed: aot_attention $name"; examples=1; }
  tail -n 1 "$OUT/aot-$name.log"
done
"$BIN/mha_blocksparse" > "$OUT/mha-example.log" 2>&1 || { echo "example failed: mha_blocksparse"; examples=1; }
tail -n 1 "$OUT/mha-example.log"
status=$((status || examples))

export XFC_GPU_TEST_JOBS=1
: > "$OUT/sanitizer.log"
for tool in memcheck racecheck; do
  for test in 'xfc-gpu-tests:AttentionPlanGpu.MasksAndKeyPadding' 'xfc-gpu-tests:JitGpu.*' \
              'xfc-gpu-tests:AttentionPlanGpu.BlockSparsePerHeadAndFp32' \
              'xfc-mha-gpu-tests:MultiheadAttentionGpu.Masks' \
              'xfc-mha-gpu-tests:MultiheadAttentionGpu.NeedWeights' \
              'xfc-mha-gpu-tests:MultiheadAttentionGpu.IncrementalCausal' \
              'xfc-mha-gpu-tests:MultiheadAttentionGpu.TrainingDropout'; do
    binary=${test%%:*} filter=${test#*:}
    echo "== $tool $binary $filter" >> "$OUT/sanitizer.log"
    compute-sanitizer --tool "$tool" --target-processes application-only \
      --error-exitcode 3 "$BIN/$binary" --gtest_filter="$filter" \
      >> "$OUT/sanitizer.log" 2>&1
    code=$?
    echo "exit $code" >> "$OUT/sanitizer.log"
    [ $code -eq 0 ] || status=1
  done
done
grep -E "^== |^exit|ERROR SUMMARY|RACECHECK SUMMARY|PASSED|FAILED" "$OUT/sanitizer.log"
exit $status
