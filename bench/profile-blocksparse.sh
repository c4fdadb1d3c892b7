#!/usr/bin/env bash
# Nsight Compute on xfc's block-sparse kernels (bench/profile_blocksparse.py):
# the sections of bench/hopper/run.sh plus source counters, and the SASS
# with per-instruction stall samples (--page source).
#   bash bench/profile-blocksparse.sh OUTDIR
# PROFILE_LAYOUTS="random d=0.05@128;random d=0.10@128" picks the layouts.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$1
mkdir -p "$out"
IFS=';' read -ra items <<< "${PROFILE_LAYOUTS:-random d=0.05@128}"
n=0
for item in "${items[@]}"; do
  n=$((n + 1))
  layout=${item%@*} block=${item##*@}
  echo "== $n: $layout, block $block"
  timeout 120 ncu --target-processes all -k regex:xfc_attn -s 1 -c 1 \
    --section SpeedOfLight --section WarpStateStats --section SourceCounters \
    --section MemoryWorkloadAnalysis --section ComputeWorkloadAnalysis \
    --section Occupancy --section LaunchStats --import-source no \
    -f -o "$out/bs$n" python3 bench/profile_blocksparse.py --xfc build-device/bin/xfc \
    --layout "$layout" --block "$block" > "$out/bs$n.log" 2>&1
  echo "ncu exit $?"
  ncu -i "$out/bs$n.ncu-rep" --page details > "$out/bs$n-details.txt" 2>&1
  ncu -i "$out/bs$n.ncu-rep" --page source --csv --print-source sass > "$out/bs$n-sass.csv" 2>&1
  echo "source page exit $? ($(wc -l < "$out/bs$n-sass.csv") lines)"
  grep -E "Duration|Elapsed Cycles|DRAM Throughput|Issue Slots|pipe_tensor_cycles" "$out/bs$n-details.txt" | head -8
done
