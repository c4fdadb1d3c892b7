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


def variants(dtype, d):
    # (tag, make_spec overrides, template arguments after Schedule or None).
    # Template arguments: Overlap, QRegs, Reverse, Chains, Knobs (-1: the
    # default; Knobs: bit 0 softmax ordered before the P V wait, bit 1 scale
    # folded into exp2, bit 2 lazy O rescale, bit 3 producer 56 / consumers
    # 224 registers (the block-sparse split) instead of 40 / 232; default 0).
    wg = {"wgmma": True}
    out = [("sm80", {}, None), ("wg", wg, None),
           # The kernel before v4 (477a566: knobs off, split 56 / 224).
           ("wg_k8", wg, "-1, -1, -1, 4, 8")]
    if dtype != "bf16":
        return out
    out += [("wg_k0", wg, "-1, -1, -1, 4, 0"),    # fdf3a91: split 40 / 232
            ("wg_k7", wg, "-1, -1, -1, 4, 7"),    # all three softmax knobs
            ("wg_k6", wg, "-1, -1, -1, 4, 6")]    # fold + lazy rescale
    if d == 64:
        out.append(("wg_m192", dict(wg, block_m=192), None))
    else:
        out.append(("wg_n176", dict(wg, block_n=176), None))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    n = 0
    for dtype in ("bf16", "f16"):
        for d in (64, 128):
            for causal in (False, True):
                for tag, over, targs in variants(dtype, d):
                    name = "b_%s_d%d_%s_%s" % (dtype, d, "c" if causal else "n", tag)
                    spec = gen_tu.make_spec(name, dtype, d, causal, write_lse=True, **over)
                    spec["variant"] = tag
                    path = gen_tu.write_kernel(spec, args.out)
                    if targs is not None:
                        src = open(os.path.join(path, "kernel.cu")).read()
                        src = src.replace("xfc::attentionForward<Traits, Schedule>",
                                          "xfc::flashForwardSm90<Traits, Schedule, %s>" % targs)
                        open(os.path.join(path, "kernel.cu"), "w").write(src)
                    n += 1
    print("%d bench kernels in %s" % (n, args.out))


if __name__ == "__main__":
    main()
