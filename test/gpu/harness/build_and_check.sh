#!/bin/bash
# GPU correctness run of the attention templates, self-contained: generates
# translation units shaped like xfc's emitted ones (gen_tu.py; wg_* are the
# sm_90a wgmma kernels), compiles them
# with nvcc for sm_90a (ptxas -v: spills fail the kernel), checks every cubin
# against an fp64 PyTorch reference (check_attention.py) and, when
# compute-sanitizer is there, runs memcheck and racecheck on a few kernels.
#
# Run from anywhere on the GPU machine:  bash test/gpu/harness/build_and_check.sh
# Environment: OUT (logs, default build/gpu-check), XFC_MATRIX (default|smoke),
# XFC_ONLY (substring filter), XFC_ARCH (default 90a).
# Writes $OUT/summary.txt, check.log, results.jsonl, ptxas.log, build.log,
# sanitizer.log, bench.txt; prints `N passed, N failed` last.

set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
OUT=${OUT:-$ROOT/build/gpu-check}
MATRIX=${XFC_MATRIX:-default}
ONLY=${XFC_ONLY:-}
ARCH=${XFC_ARCH:-90a}
WORK=$(mktemp -d /tmp/xfc-gpu.XXXXXX)
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
start=$(date +%s)

{
  echo "== $(date -u) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null)"
  nvcc --version | tail -1
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
} > "$OUT/build.log" 2>&1

python3 "$HERE/gen_tu.py" --out "$WORK" --matrix "$MATRIX" --only "$ONLY" >> "$OUT/build.log" 2>&1 \
  || { echo "gen_tu.py failed"; cat "$OUT/build.log"; exit 1; }
# The wgmma kernels (wg_*) need sm_90a.
[ "$ARCH" = 90a ] || rm -rf "$WORK"/wg_*

compile_one() {
  local dir=$1
  nvcc -cubin -gencode=arch=compute_${ARCH},code=sm_${ARCH} -I "$ROOT/templates" \
    -Xptxas -v "$dir/kernel.cu" -o "$dir/kernel.cubin" > "$dir/ptxas.log" 2>&1 \
    || { rm -f "$dir/kernel.cubin"; echo "COMPILE FAILED: $(basename "$dir")"; }
}
export -f compile_one
export ROOT ARCH
ls -d "$WORK"/*/ | xargs -P "$(nproc)" -I{} bash -c 'compile_one {}' >> "$OUT/build.log" 2>&1
echo "compiled in $(( $(date +%s) - start )) s" >> "$OUT/build.log"

: > "$OUT/ptxas.log"
for dir in "$WORK"/*/; do
  name=$(basename "$dir")
  info=$(grep -hE "registers|spill|stack frame|C751[0-9]|C7520" "$dir/ptxas.log" | tr -s ' \n' ' ')
  echo "$name: $info" >> "$OUT/ptxas.log"
  grep -q "error" "$dir/ptxas.log" && sed 's/^/    /' "$dir/ptxas.log" | head -20 >> "$OUT/ptxas.log"
done

python3 "$HERE/check_attention.py" --fresh --log-dir "$OUT" --summary "$OUT/summary.txt" \
  "$WORK"/*/ > "$OUT/check_stdout.txt" 2>&1
status=$?
echo "checked in $(( $(date +%s) - start )) s" >> "$OUT/build.log"

# Informational timings (B=8, H=16, S=2048) of a few dense kernels.
bench=""
for n in bf16_d64_n_dense bf16_d64_c_dense bf16_d128_n_dense bf16_d128_c_dense f16_d128_c_m128 fp32_d64_n_dense; do
  [ -f "$WORK/$n/kernel.cubin" ] && bench="$bench $WORK/$n"
done
if [ -n "$bench" ]; then
  timeout 60 python3 "$HERE/check_attention.py" --bench "$OUT/bench.txt" $bench > /dev/null 2>&1 \
    || echo "bench failed or timed out" >> "$OUT/bench.txt"
fi

# Sanitizers on a few kernels (quick shapes), time-boxed.
: > "$OUT/sanitizer.log"
if command -v compute-sanitizer > /dev/null; then
  pick() {
    local d p out=""
    for p in "$@"; do
      d=$(ls -d "$WORK"/${p}*/ 2>/dev/null | head -1)
      [ -n "$d" ] && out="$out $d"
    done
    echo "$out"
  }
  for tool in memcheck racecheck; do
    if [ $tool = memcheck ]; then
      picks=$(pick bf16_d64_c_bs16 fp32_d64_c_bs32_dropout)
    else
      picks=$(pick f16_d96_c_bs32 fp32_d32_c_s2)
    fi
    echo "== $tool:$picks" >> "$OUT/sanitizer.log"
    timeout 110 compute-sanitizer --tool $tool --target-processes all \
      python3 "$HERE/check_attention.py" --quick --fresh --log-dir "$WORK/san-$tool" $picks \
      2>&1 | grep -vE "^PASS" | tail -40 >> "$OUT/sanitizer.log"
    echo "== $tool exit ${PIPESTATUS[0]}" >> "$OUT/sanitizer.log"
  done
fi

echo "total $(( $(date +%s) - start )) s" >> "$OUT/build.log"
grep -E "^(FAIL|COMPILE)" "$OUT/check_stdout.txt" "$OUT/build.log" | head -40
cat "$OUT/summary.txt"
exit $status
