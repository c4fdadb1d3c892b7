#!/usr/bin/env python3
"""JIT compile times of xfc's kernels: cold (NVRTC), disk hit, memory hit.

  bench_jit.py --bin build/bench/xfc-jit-bench --out DIR [--arch sm_90a]

Writes the configs of the dense benchmark (bf16/fp16, head_dim 64/128, causal
or not) and a few example layouts, runs xfc-jit-bench twice with one fresh
kernel cache directory (first process: cold, then memory hit; second: disk
hit, then memory hit; each compile through a fresh xfc::Compiler), and writes
DIR/bench_jit.json and DIR/bench_jit.md. Needs no GPU: NVRTC runs on the CPU.

NVRTC (CUDA 13) keeps what it compiled in CUDA's compute cache
(~/.nv/ComputeCache, or CUDA_CACHE_PATH) and serves a source it has seen
from there in about 0.1 s, whatever xfc's cache holds. So every process here
gets its own empty CUDA_CACHE_PATH, and "cold" is a compile no cache has
seen; a third process, with a new xfc cache but the first process's compute
cache, gives "NVRTC, compute cache warm".
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = ["blocksparse", "bigbird", "longformer", "local"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--arch", default="sm_90a")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    work = tempfile.mkdtemp()
    configs = []
    for dtype in ("bf16", "fp16"):
        for d in (64, 128):
            for causal in (False, True):
                path = os.path.join(work, "sdp_%s_d%d_%s.json" % (dtype, d, "c" if causal else "n"))
                with open(path, "w") as f:
                    json.dump({"name": "scaled_dot_product", "causal": causal, "head_dim": d,
                               "dtype": dtype}, f)
                configs.append(path)
    for name in EXAMPLES:
        path = os.path.join(work, name + ".json")
        shutil.copy(os.path.join(HERE, "..", "examples", "configs", name + ".json"), path)
        configs.append(path)
    compute_cache = os.path.join(work, "cuda-compute-cache")
    os.makedirs(compute_cache)
    runs = []
    # Cold and memory hits; disk hits (xfc's cache); NVRTC with a warm
    # compute cache (a new xfc cache).
    for xfc_cache in ("cache", "cache", "cache-2"):
        env = dict(os.environ, XFC_CACHE_DIR=os.path.join(work, xfc_cache),
                   CUDA_CACHE_PATH=compute_cache)
        env.pop("CUDA_CACHE_DISABLE", None)
        out = subprocess.run([args.bin, args.arch] + configs, env=env, check=True,
                             capture_output=True, text=True).stdout
        runs.append([json.loads(line) for line in out.splitlines()])
    rows = []
    for i, path in enumerate(configs):
        first, second = runs[0][2 * i:2 * i + 2], runs[1][2 * i:2 * i + 2]
        third = runs[2][2 * i]
        rows.append({"config": os.path.basename(path)[:-5], "arch": args.arch,
                     "cold_s": first[0]["seconds"], "cold_kernels": first[0]["kernels"],
                     "compute_cache_s": third["seconds"], "compute_cache_kernels": third["kernels"],
                     "disk_hit_s": second[0]["seconds"], "disk_kernels": second[0]["kernels"],
                     "memory_hit_s": min(first[1]["seconds"], second[1]["seconds"]),
                     "memory_kernels": first[1]["kernels"]})
    result = {"date": time.strftime("%Y-%m-%d"), "machine": platform.node(),
              "cpus": os.cpu_count(), "rows": rows}
    with open(os.path.join(args.out, "bench_jit.json"), "w") as f:
        json.dump(result, f, indent=1)
    lines = ["# JIT compile (xfc::Compiler: MLIR pipeline + NVRTC + kernel cache), %s, %d CPUs, %s"
             % (result["date"], result["cpus"], args.arch), "",
             "| config | cold (NVRTC) s | NVRTC, compute cache warm, s | disk hit ms | "
             "memory hit ms |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append("| %s | %.2f | %.2f | %.1f | %.2f |" % (
            r["config"], r["cold_s"], r["compute_cache_s"], 1e3 * r["disk_hit_s"],
            1e3 * r["memory_hit_s"]))
    lines += ["", "Each compile through a fresh xfc::Compiler: cold = kernels compiled by NVRTC "
              "with xfc's cache and CUDA's compute cache (CUDA_CACHE_PATH) both empty; "
              "compute cache warm = xfc's cache empty, NVRTC finding the source in the compute "
              "cache the cold process filled; disk hit = a new process finds the cubins in "
              "xfc's cache directory; "
              "memory hit = the process's kernel cache has them (the config still goes through "
              "the MLIR pipeline). Every row's kernels were obtained as labelled (bench_jit.json)."]
    text = "\n".join(lines) + "\n"
    open(os.path.join(args.out, "bench_jit.md"), "w").write(text)
    print(text)
    bad = [r for r in rows if "compiled" not in r["cold_kernels"] or "disk" not in r["disk_kernels"]
           or "memory" not in r["memory_kernels"]
           or "compiled" not in r["compute_cache_kernels"]]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
