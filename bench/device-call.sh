#!/usr/bin/env bash
# One call on the GPU machine: runs the named steps in order and packs every
# log and result into $OUT/results.tgz (a call brings back at most 8 files).
# Each step has its own time limit so that one slow step cannot lose the
# others' results; each prints its last lines.
#   usage: bash bench/device-call.sh STEP...
#   steps: tests        bench/device-tests.sh (GPU test binaries + memcheck)
#          matrix       bench/device-run.sh (the config matrix, fp64 checks)
#          blocksparse  bench/bench_blocksparse.py (issue 5's table)
#          dense        bench/bench_dense.py (xfc beside cuDNN, FA2, xFormers)
#          shortrows    bench/short_rows.py (dense attention over short key
#                       rows: each kernel against its own long-row time)
#          hopper       bench/hopper/run.sh (template variants of the wgmma
#                       kernel, nvcc-built, checked and timed beside cuDNN)
#          jit          bench/bench_jit.py (JIT compile: cold, compute cache,
#                       disk, memory)
#          profile      bench/profile-blocksparse.sh (Nsight Compute on
#                       block-sparse kernels, source-level stall samples)
#          variants     bench/bench_variants.py (graph variants vs eager;
#                       VARIANTS_ONLY=NAME runs the cases whose name has NAME)
#          ceiling      bench/fill_ceiling.cu (TMA fill bandwidth from L2
#                       and DRAM, nvcc-built here)
#          ab           bench/ab_templates.py (template trees in turns on
#                       block-sparse layouts: AB_TREES, AB_ROWS, AB_EXTRA)
#          trace        bench/trace_items.py (per-item timelines of the wgmma
#                       kernel, -DXFC_TRACE: TRACE_TREES, TRACE_ROWS)
# Binaries come from build-device/bin (see docs/runtime.md).
set -uo pipefail
cd "$(dirname "$0")/.."
final=${OUT:-/tmp/xfc-device}
mkdir -p "$final"
root=$(mktemp -d)
results=$root/results
mkdir -p "$results"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
export PYTHONUNBUFFERED=1
XFC=build-device/bin/xfc

run_step() {
  local name=$1 limit=$2
  shift 2
  local start=$SECONDS
  timeout "$limit" "$@" > "$results/$name.txt" 2>&1
  local status=$?
  echo "== $name: exit $status after $((SECONDS - start)) s (limit $limit s)"
  tail -n "${TAIL:-25}" "$results/$name.txt"
  # Packed after every step: a call cut short still brings back the steps
  # that finished.
  tar czf "$final/results.tgz" -C "$root" results
}

for step in "$@"; do
  case $step in
  tests) OUT=$results/tests run_step tests 300 bash bench/device-tests.sh ;;
  matrix) OUT=$results/matrix run_step matrix 420 bash bench/device-run.sh ;;
  blocksparse)
    # BLOCKSPARSE_ARGS: e.g. --tiles 128x64,128x128 (other tilings of block 64).
    run_step blocksparse 330 python3 bench/bench_blocksparse.py --xfc "$XFC" \
      --out "$results/blocksparse" ${BLOCKSPARSE_ARGS:-} ;;
  hopper)
    OUT=$results/hopper run_step hopper ${HOPPER_LIMIT:-420} env ONLY="${HOPPER_ONLY:-wg_bf16}" \
      BENCH_TIMEOUT=300 CHECK_TIMEOUT=100 bash bench/hopper/run.sh ;;
  dense)
    run_step dense 480 python3 bench/bench_dense.py --xfc "$XFC" \
      --out "$results/dense" ;;
  shortrows)
    # SHORTROWS_XFC: another xfc binary (default build-device/bin/xfc);
    # SHORTROWS_ARGS: e.g. --trees head=templates,new=DIR (dense kernel trees).
    run_step shortrows 480 python3 bench/short_rows.py --xfc "${SHORTROWS_XFC:-$XFC}" \
      --out "$results/shortrows" ${SHORTROWS_ARGS:-} ;;
  profile)
    # PROFILE_LAYOUTS: "NAME@BLOCK;..." of bench_blocksparse.py's layouts.
    run_step profile 300 bash bench/profile-blocksparse.sh "$results/profile" ;;
  jit)
    run_step jit 120 python3 bench/bench_jit.py --bin build-device/bin/xfc-jit-bench \
      --out "$results/jit" ;;
  variants)
    run_step variants 300 python3 bench/bench_variants.py \
      --out "$results/variants" ${VARIANTS_ONLY:+--only "$VARIANTS_ONLY"} ;;
  ab)
    # AB_TREES: NAME=DIR template trees (set and empty: none); AB_COMPILERS:
    # NAME=BIN other xfc binaries; AB_ROWS: NAME@BLOCK layouts;
    # AB_EXTRA: NAME=K, tree NAME's kernels take K more K/V tiles of shared
    # memory.
    run_step ab 330 python3 bench/ab_templates.py --xfc "$XFC" --out "$results/ab" \
      --trees "${AB_TREES-head=templates}" --compilers "${AB_COMPILERS:-}" \
      --rows "${AB_ROWS:-}" \
      --extra-shared "${AB_EXTRA:-}" ;;
  trace)
    # TRACE_TREES: NAME=DIR template trees, one timeline each.
    for tree in $(echo "${TRACE_TREES:-head=templates}" | tr ',' ' '); do
      run_step "trace-${tree%%=*}" 300 python3 bench/trace_items.py --xfc "$XFC" \
        --out "$results/trace-${tree%%=*}" --templates "${tree#*=}" \
        ${TRACE_ROWS:+--rows "$TRACE_ROWS"}
    done ;;
  ceiling)
    mkdir -p "$results/ceiling"
    run_step ceiling 120 bash -c "nvcc -O3 -std=c++17 -arch=sm_90a -o '$root/fill_ceiling' \
      bench/fill_ceiling.cu -lcuda && '$root/fill_ceiling' > '$results/ceiling/fill_ceiling.json' && \
      cat '$results/ceiling/fill_ceiling.json'" ;;
  *) echo "unknown step '$step' (tests, matrix, blocksparse, dense, shortrows, hopper, jit, variants, profile, ab, trace, ceiling)" ;;
  esac
done
echo "packed $(find "$results" -type f | wc -l) files into results.tgz"
