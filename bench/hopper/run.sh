#!/bin/bash
# One device call: build the sm_90a wgmma kernels (and the sm80 baseline),
# check them against the fp64 reference (check_attention.py), time them
# beside cuDNN (bench.py), dump SASS counts, run compute-sanitizer on two.
#   bash bench/hopper/run.sh [ONLY-substring for the correctness matrix]
# Writes under $OUT (8 files at most): run.log check.txt ptxas.log bench.json
# bench.md sass.txt results.jsonl ncu.txt (sanitizer output goes to run.log)
set -u -o pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
OUT=${OUT:-/tmp/xfc-hopper}
ONLY=${1:-${ONLY:-wg_}}
W=$(mktemp -d /tmp/hop.XXXXXX)
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/run.log"; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv >> "$OUT/run.log" 2>&1
log "commit $(git rev-parse --short HEAD 2>/dev/null) $(git status --porcelain 2>/dev/null | wc -l) dirty"

python3 test/gpu/harness/gen_tu.py --out "$W/check" --only "$ONLY" >> "$OUT/run.log"
[ -n "${CHECK_REGEX:-}" ] && for d in "$W"/check/*/; do basename "$d" | grep -qE "$CHECK_REGEX" || rm -rf "$d"; done
python3 bench/hopper/gen_bench.py --out "$W/bench" >> "$OUT/run.log"
compile_one() {
  # A kernel dir may name another template tree (include_dir, relative to
  # the repository root): an A/B against an earlier version of the kernel.
  local inc="$ROOT/templates"
  [ -f "$1/include_dir" ] && inc="$ROOT/$(cat "$1/include_dir")"
  nvcc -cubin -gencode=arch=compute_90a,code=sm_90a -I "$inc" -Xptxas -v \
    "$1/kernel.cu" -o "$1/kernel.cubin" > "$1/ptxas.log" 2>&1 || { rm -f "$1/kernel.cubin"; echo "COMPILE FAILED $1"; }
}
export -f compile_one; export ROOT
ls -d "$W"/check/*/ "$W"/bench/*/ | xargs -P 16 -I{} bash -c 'compile_one {}' >> "$OUT/run.log" 2>&1
log "compiled"
: > "$OUT/ptxas.log"
for d in "$W"/check/*/ "$W"/bench/*/; do
  echo "$(basename "$d"): $(grep -hE 'registers|spill|warn|error|C751[0-9]|C7520' "$d/ptxas.log" | tr -s ' \n' ' ')" >> "$OUT/ptxas.log"
done
grep -c "0 bytes spill stores" "$OUT/ptxas.log" | xargs echo "spill-free kernels:" | tee -a "$OUT/run.log"
# ptxas slowing the wgmma pipeline down (C7511, C7515 serialized; C7517, C7519 injected waits and fences).
grep -cE "C751[0-9]|C7520" "$OUT/ptxas.log" | xargs echo "kernels with wgmma remarks:" | tee -a "$OUT/run.log"

# SASS: the wgmma kernels must show HGMMA; the whole SASS of SASS_DUMP.
{ for k in "$W"/bench/*wg*/; do
    echo "$(basename "$k"): HGMMA $(cuobjdump -sass "$k/kernel.cubin" | grep -c HGMMA) HMMA $(cuobjdump -sass "$k/kernel.cubin" | grep -c ' HMMA') LDL/STL $(cuobjdump -sass "$k/kernel.cubin" | grep -cE 'LDL|STL')"
  done
  for k in ${SASS_DUMP:-b_bf16_d128_n_wg}; do
    echo "==== $k"; cuobjdump -sass "$W/bench/$k/kernel.cubin" | grep -E "^\s+/\*[0-9a-f]{4}\*/" | sed 's@ */\* 0x[0-9a-f]* \*/@@'
  done; } > "$OUT/sass.txt" 2>&1
head -3 "$OUT/sass.txt" | tee -a "$OUT/run.log"

# Smoke first: a hang or a wrong kernel shows here in seconds.
timeout 40 python3 test/gpu/harness/check_attention.py --log-dir "$W/smoke" \
  "$W"/check/wg_bf16_d64_n_dense/ "$W"/check/wg_bf16_d128_c_dense/ 2>&1 | tee -a "$OUT/run.log" | tail -3
# CHECK_REGEX picks kernel names of the matrix (default: the wgmma ones).
dirs=$(ls -d "$W"/check/*/ | while read -r d; do basename "$d"; done | grep -E "${CHECK_REGEX:-^wg_}" | sed "s@^@$W/check/@")
timeout ${CHECK_TIMEOUT:-100} python3 test/gpu/harness/check_attention.py --fresh --log-dir "$W/log" --summary "$W/log/summary.txt" \
  $dirs > "$OUT/check.txt" 2>&1
log "check exit $?"
cp "$W/log/results.jsonl" "$OUT/" 2>/dev/null
tail -5 "$OUT/check.txt" | tee -a "$OUT/run.log"

timeout ${BENCH_TIMEOUT:-120} python3 bench/hopper/bench.py --kernels "$W/bench" --out "$OUT" ${BENCH_ARGS:-} >> "$OUT/run.log" 2>&1
log "bench exit $?"

# Nsight Compute on a few bench kernels (8x16x2048), the second launch;
# PROFILE_CUDNN="B,H,S,D ..." profiles cuDNN's kernel on those shapes too.
NCU_METRICS="regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio|sm__(inst_executed_pipe|pipe)_.*\.avg\.pct_of_peak_sustained_active"
NCU_SECTIONS="--section SpeedOfLight --section WarpStateStats --section MemoryWorkloadAnalysis --section ComputeWorkloadAnalysis --section Occupancy --section LaunchStats"
if [ -n "${PROFILE_CUDNN:-}" ]; then
  timeout ${PROFILE_TIMEOUT:-90} ncu --target-processes all -k regex:'fmha|sdpa|attn|flash|cudnn' -s 2 -c ${PROFILE_COUNT:-3} \
    $NCU_SECTIONS --metrics "$NCU_METRICS" \
    python3 bench/hopper/profile_cudnn.py $PROFILE_CUDNN > "$OUT/ncu-cudnn.txt" 2>&1
  log "ncu cudnn exit $?"
fi
if [ -n "${PROFILE:-}" ]; then
  dirs=""
  for p in $PROFILE; do dirs="$dirs $W/bench/$p"; done
  timeout ${PROFILE_TIMEOUT:-90} ncu --target-processes all -k regex:xfc_attn -c ${PROFILE_COUNT:-3} \
    $NCU_SECTIONS \
    --metrics "$NCU_METRICS" \
    python3 bench/hopper/profile_one.py --shape "${PROFILE_SHAPE:-8,16,2048}" $dirs > "$OUT/ncu.txt" 2>&1
  log "ncu exit $?"
fi

if [ "${SANITIZE:-1}" = 1 ]; then
  for tool in ${SANITIZERS:-memcheck}; do
    d=$(ls -d "$W"/check/wg_bf16_d64_c_bs16*/ 2>/dev/null | head -1)
    [ -n "$d" ] || continue
    echo "== $tool $d" >> "$OUT/run.log"
    timeout ${SANITIZE_TIMEOUT:-60} compute-sanitizer --tool $tool python3 test/gpu/harness/check_attention.py --quick \
      --log-dir "$W/san" "$d" 2>&1 | tail -6 >> "$OUT/run.log"
  done
fi
log "done"
cat "$OUT/bench.md" 2>/dev/null
grep -E "^FAIL" "$OUT/check.txt" | head -20
tail -3 "$OUT/check.txt"
