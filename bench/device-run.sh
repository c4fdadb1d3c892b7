#!/usr/bin/env bash
# The whole GPU check in one call on the GPU machine (see DESIGN.md):
#   1. xfc (the statically linked build carried in build-device/) compiles the
#      config matrix of test/gpu/gen_configs.py for sm_90a through NVRTC;
#   2. test/gpu/manifest_to_kernels.py turns each manifest into harness
#      kernel dirs, and test/gpu/harness/check_attention.py runs every kernel
#      against an fp64 PyTorch reference on fresh random data;
#   3. compute-sanitizer memcheck and racecheck run a subset.
# Writes logs and a summary under $OUT; prints `N passed, N failed` last.
#   usage: bash bench/device-run.sh [--smoke] [--only PREFIX[,PREFIX...]]  (e.g. --only random,global)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/xfc-device}
XFC=${XFC:-build-device/bin/xfc}
mkdir -p "$OUT"
work=$(mktemp -d)
export PYTHONUNBUFFERED=1

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv | tee "$OUT/gpu.txt"
"$XFC" --version | tee -a "$OUT/gpu.txt"

python3 test/gpu/gen_configs.py "$work/configs" "$@" > "$work/list.txt"
jobs_max=$(nproc)
mkdir -p "$work/logs"
compile_one() {
  local name=$1 cfg=$2 flags=$3 start
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  if "$XFC" compile "$cfg" --arch sm_90a $flags -o "$work/compiled/$name" >/dev/null 2>"$work/logs/$name.err"; then
    awk -v n="$name" -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%s compiled in %.2fs\n", n, e - s}' >> "$work/logs/$name.err"
  else
    echo "COMPILE FAILED: $name" | tee -a "$work/logs/$name.err"
  fi
}
# One compile per core: the times in compile.log are under that load.
while IFS='|' read -r name cfg flags; do
  compile_one "$name" "$cfg" "$flags" &
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n; done
done < "$work/list.txt"
wait
cat "$work"/logs/*.err > "$OUT/compile.log"
compile_failed=$(grep -c '^COMPILE FAILED' "$OUT/compile.log")

python3 test/gpu/manifest_to_kernels.py "$work/kernels" "$work"/compiled/* > "$work/kernel-dirs.txt"
# shellcheck disable=SC2046
python3 test/gpu/harness/check_attention.py --fresh --log-dir "$OUT" \
  --summary "$OUT/summary.txt" $(cat "$work/kernel-dirs.txt") 2>&1 | tail -n 200 > "$OUT/check.txt"
check_status=${PIPESTATUS[0]}

# Sanitizers on a subset (each run replays the quick cases of one kernel).
: > "$OUT/sanitizer.txt"
for pattern in sdp_masks_bf16 bs16_fp16_d64_c- sdp_fp32_d64- random_masks_bf16- global_masks_bf16- \
  bs64_fixed_paired_bf16-; do
  dir=$(grep -m1 -- "/$pattern" "$work/kernel-dirs.txt" || true)
  [ -n "$dir" ] || continue
  for tool in memcheck racecheck; do
    echo "== $tool $(basename "$dir")" >> "$OUT/sanitizer.txt"
    compute-sanitizer --tool "$tool" --error-exitcode 3 \
      python3 test/gpu/harness/check_attention.py --quick --log-dir "$work" "$dir" \
      >> "$OUT/sanitizer.txt" 2>&1
    echo "exit $?" >> "$OUT/sanitizer.txt"
  done
done
grep -E "^== |^exit|ERROR SUMMARY|RACECHECK SUMMARY" "$OUT/sanitizer.txt" > "$OUT/sanitizer-summary.txt"

awk '/compiled in/ {sub("s$", "", $4); print $4}' "$OUT/compile.log" | sort -n |
  awk -v j="$jobs_max" '{a[NR]=$1} END {if (NR) printf "xfc compile (config to cubin, sm_90a, %d in parallel): %d configs, median %.2fs, max %.2fs\n", j, NR, a[int((NR+1)/2)], a[NR]}' |
  tee "$OUT/compile-times.txt"
cat "$OUT/sanitizer-summary.txt"
echo "compile failures: $compile_failed"
tail -n 40 "$OUT/check.txt"
exit $(( check_status != 0 || compile_failed != 0 ))
