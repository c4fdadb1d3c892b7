#!/usr/bin/env python3
"""Writes the benchmark kernels of bench/hopper/bench.py: per dtype, head dim
and causality, the sm80 mma.sync kernel as xfc configures it today (64/64,
2 stages, 4 warps) and variants of the sm_90a wgmma kernel.

  gen_bench.py --out DIR
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "test", "gpu", "harness"))
import gen_tu  # noqa: E402


def variants(d):
    # (tag, make_spec overrides, Overlap template argument or None)
    out = [("sm80", {}, None),
           ("wg", {"wgmma": True}, None),
           ("wg_ov0", {"wgmma": True}, 0)]
    if d == 64:
        out.append(("wg_n192", {"wgmma": True, "block_n": 192}, None))
        out.append(("wg_s3", {"wgmma": True, "num_stages": 3}, None))
        out.append(("wg_m192", {"wgmma": True, "block_m": 192}, None))
        out.append(("wg_m192_s3", {"wgmma": True, "block_m": 192, "num_stages": 3}, None))
    else:
        out.append(("wg_s3", {"wgmma": True, "num_stages": 3}, None))
        out.append(("wg_n176", {"wgmma": True, "block_n": 176}, None))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    n = 0
    for dtype in ("bf16", "f16"):
        for d in (64, 128):
            for causal in (False, True):
                for tag, over, overlap in variants(d):
                    name = "b_%s_d%d_%s_%s" % (dtype, d, "c" if causal else "n", tag)
                    spec = gen_tu.make_spec(name, dtype, d, causal, write_lse=True, **over)
                    spec["variant"] = tag
                    path = gen_tu.write_kernel(spec, args.out)
                    if overlap is not None:
                        src = open(os.path.join(path, "kernel.cu")).read()
                        src = src.replace("xfc::attentionForward<Traits, Schedule>",
                                          "xfc::flashForwardSm90<Traits, Schedule, %d>" % overlap)
                        open(os.path.join(path, "kernel.cu"), "w").write(src)
                    n += 1
    print("%d bench kernels in %s" % (n, args.out))


if __name__ == "__main__":
    main()
