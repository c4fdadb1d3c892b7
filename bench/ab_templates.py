#!/usr/bin/env python3
"""A/B of template trees on bench_blocksparse.py's layouts, in turns, one card.

  ab_templates.py --xfc build-device/bin/xfc --out DIR \
      --trees head=templates,old=build-device/old-templates \
      [--compilers new=build-device/bin/xfc-new] \
      [--rows "random d=0.50@64,sliding window@64,full@128,dense@128"]

For each chosen layout (NAME@BLOCK of bench_blocksparse.py's layouts, all
when --rows is empty) xfc compiles the config (its NVRTC cubin and the
emitted kernel source); nvcc compiles that source once per template tree;
every cubin is checked against xfc's output (relative error) and all are
timed in turns (bench_turns) as the runtime launches them. --compilers adds
other xfc binaries (compiler changes: tables, tiles): each compiles every
layout too, and its NVRTC cubin, with its own tables, is checked and timed in
the same turns. Two probes run
only when --rows names them: "dense@B" (the dense kernel) and "full@B" (a
layout of block B with all but a few blocks on). Writes
DIR/ab_templates.json and .md.
"""

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "test", "gpu", "harness"))
import bench_blocksparse as bbs  # noqa: E402
from cubin_runner import Driver  # noqa: E402
from timing import bench_turns, rel_err  # noqa: E402


def nvcc_cubin(source, include_dir, out, defines=()):
    """The cubin and ptxas's performance remarks (C75xx codes such as C7511,
    serialized wgmma, and C7519, injected warpgroup fences) and spills.
    defines: macros to set (-D), e.g. XFC_TRACE."""
    done = subprocess.run(["nvcc", "-cubin", "-gencode=arch=compute_90a,code=sm_90a",
                           "-Xptxas", "-v"] + ["-D" + d for d in defines] +
                          ["-I", include_dir, source, "-o", out],
                          check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    codes = sorted(set(re.findall(r"\((C75\d\d)\)", done.stderr)))
    spills = re.findall(r"(\d+) bytes spill stores", done.stderr)
    remarks = codes + (["spill %s" % spills[0]] if spills and spills[0] != "0" else [])
    return open(out, "rb").read(), ",".join(remarks) or "-"


# The dense kernel at the benchmark's shape (row "dense@BLOCK", BLOCK
# ignored), for template trees that change it.
DENSE_CONFIG = {"name": "scaled_dot_product", "head_dim": bbs.D, "num_heads": bbs.H,
                "dtype": "bf16"}


def probes(block):
    """Rows timed only when --rows names them: the dense kernel, and a
    layout with all but a few blocks on ("full"), which runs the block-sparse
    path at the dense kernel's work."""
    return [("dense", None),
            ("full", {"pattern": "random", "density": 0.99999, "seed": 1,
                      "granularity": "block", "different_layout_per_head": True})]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xfc", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--trees", default="",
                    help="comma-separated NAME=DIR template trees (DIR holds xfc/)")
    ap.add_argument("--compilers", default="",
                    help="comma-separated NAME=BIN other xfc binaries, whose NVRTC "
                         "cubins are timed beside the trees")
    ap.add_argument("--rows", default="", help="comma-separated NAME@BLOCK; empty: all")
    ap.add_argument("--extra-shared", default="",
                    help="comma-separated NAME=K: tree NAME's kernels take K more "
                         "K/V tiles of shared memory than xfc's (trees that deepen a ring)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    trees = [t.split("=", 1) for t in args.trees.split(",") if t]
    compilers = [c.split("=", 1) for c in args.compilers.split(",") if c]
    wanted = [r for r in args.rows.split(",") if r]
    extra_tiles = {n: int(k) for n, k in (e.split("=") for e in args.extra_shared.split(",") if e)}
    torch.cuda.init()
    driver = Driver()
    workdir = tempfile.mkdtemp()
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(bbs.B, bbs.H, bbs.S, bbs.D, device="cuda",
                           dtype=torch.bfloat16, generator=g) for _ in range(3))
    cases = []
    for block in (64, 128):
        for name, layout in bbs.layouts(block) + probes(block):
            if (wanted and "%s@%d" % (name, block) not in wanted) or (
                    not wanted and (name, layout) in probes(block)):
                continue
            tag = bbs.tag_of(name, block)
            config = (DENSE_CONFIG if layout is None
                      else bbs.config_for(block, layout))
            _, kernel, cubin, _ = bbs.compile_config(args.xfc, workdir, tag, config)
            source = os.path.join(workdir, tag, kernel["source"])
            others = [bbs.compile_config(binary, workdir, tag + "-" + cname, config)[1:3]
                      for cname, binary in compilers]
            cases.append((name, block, kernel, cubin, source, others))
    # nvcc for every (case, tree) at once: each takes tens of seconds.
    jobs = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        for i, (_, _, _, _, source, _) in enumerate(cases):
            for tree, directory in trees:
                out = os.path.join(workdir, "%d-%s.cubin" % (i, tree))
                jobs[(i, tree)] = pool.submit(nvcc_cubin, source, directory, out)
    result = {"device": torch.cuda.get_device_name(), "date": time.strftime("%Y-%m-%d %H:%M"),
              "trees": dict(trees), "compilers": dict(compilers), "rows": []}
    # Columns: the trees, then the other compilers' NVRTC cubins.
    columns = [t for t, _ in trees] + [c for c, _ in compilers]
    for i, (name, block, kernel, cubin, _, others) in enumerate(cases):
        row = {"layout": name, "block": block,
               "tile": "%dx%ds%d" % (kernel["traits"]["BlockM"], kernel["traits"]["BlockN"],
                                     kernel["traits"]["NumStages"])}
        ref = torch.full_like(q, float("nan"))
        loaded = []
        lk, launch = bbs.make_launch(driver, kernel, cubin, q, k, v, ref)
        loaded.append(lk)
        launch()
        torch.cuda.synchronize()
        fns = [launch]

        def add(column, kernel_info, column_cubin):
            """Launches one more kernel into a poisoned output, records its
            error against xfc's, and times it in the turns."""
            o = torch.full_like(q, float("nan"))
            lt, fn = bbs.make_launch(driver, kernel_info, column_cubin, q, k, v, o)
            loaded.append(lt)
            fn()
            torch.cuda.synchronize()
            row["%s_rel_err" % column] = rel_err(o, ref)
            fns.append(fn)

        for tree, _ in trees:
            tree_cubin, row["%s_ptxas" % tree] = jobs[(i, tree)].result()
            tree_kernel = dict(kernel)
            traits = kernel["traits"]
            tree_kernel["shared_bytes"] += (extra_tiles.get(tree, 0) * traits["BlockN"]
                                            * traits["HeadDim"] * 2)
            add(tree, tree_kernel, tree_cubin)
        for (cname, _), (other_kernel, other_cubin) in zip(compilers, others):
            row["%s_ptxas" % cname] = "NVRTC"
            add(cname, other_kernel, other_cubin)
        times = bench_turns(fns)
        row["xfc_nvrtc_ms"] = times[0]
        for column, ms in zip(columns, times[1:]):
            row["%s_ms" % column] = ms
        for lk in loaded:
            lk.unload()
        result["rows"].append(row)
        print(json.dumps(row), flush=True)
    with open(os.path.join(args.out, "ab_templates.json"), "w") as f:
        json.dump(result, f, indent=1)
    lines = ["# Template trees in turns, %s, %s, %d×%d×%d×%d bf16" % (
        result["device"], result["date"], bbs.B, bbs.H, bbs.S, bbs.D), "",
        "Trees: " + ", ".join("%s = %s" % tuple(t) for t in trees) + "; compilers: " +
        ", ".join("%s = %s" % tuple(c) for c in compilers) + "; ms (relative error "
        "against xfc's NVRTC cubin; ptxas remarks: C7511 serialized wgmma, C7519 injected "
        "warpgroup fences)", "",
        "| layout | block | tiles | xfc (NVRTC) | " + " | ".join(columns) + " |",
        "|---|---|---|---|" + "---|" * len(columns)]
    for r in result["rows"]:
        lines.append("| %s | %d | %s | %.3f | %s |" % (
            r["layout"], r["block"], r["tile"], r["xfc_nvrtc_ms"],
            " | ".join("%.3f (%.0e; %s)" % (r["%s_ms" % t], r["%s_rel_err" % t],
                                            r["%s_ptxas" % t]) for t in columns)))
    text = "\n".join(lines) + "\n"
    open(os.path.join(args.out, "ab_templates.md"), "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
