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
    # folded into exp2, bit 2 lazy O rescale, bit 3 no work-counter path in
    # balanced kernels, bit 4 (5) a quarter (half) of the exponentials by
    # exp2Poly, bit 6 unused, bit 7 a static persistent split of unbalanced
    # items (causal), bit 8 three consumers persistent, bit 9 the next item
    # handed over early; see templates/xfc/flash_fwd_sm90.cuh). A spec's
    # include_dir names another template tree (A/B against an older kernel).
    # The set for the next run (earlier sets are in git). kN: Knobs
    # N; cN: ChainsChoice N; sN: NumStages N; mN: BlockM N.
    if dtype != "bf16":
        return []
    wg = {"wgmma": True}
    targs = lambda k, chains=4: "-1, -1, -1, %d, %d" % (chains, k)  # noqa: E731
    # v14 (D=64 after v13): xfc's BlockM 64 against BlockM 128 (two
    # consumers), BlockM 192 (three, one item per CTA) and the early item
    # hand-over (Knobs bit 9).
    # v15 (HeadDim 256, new; results/2026-11-27-v15-d256): Knobs 6, 7, 2, 0,
    # no S/PV overlap, persistent (bit 10 with bits 0-3).
    # v16: FA3's register split (producer 24, consumers 240: bit 11) at
    # D=256 and D=128, FA3's BlockN (80 at 256: spills 4-12 bytes; 176 at
    # 128) and D=128 with one item per CTA (bit 12) against its persistent
    # default.
    # (v16 result: none faster; 2026-11-27-v16-d256.) v17: cuDNN's D=256
    # tiles (64x128 a consumer, ncu: one K/V stage of 128 keys): BlockN 128,
    # one stage (K(j+1) loads once S(j) is done, under softmax and P V), no
    # S/PV overlap, P in S's registers (FreshS, bit 13).
    # (v17 result: +4-7%, now xfc's D=256 default; persistent it spills
    # 124-516 bytes.) v18: FreshS elsewhere: D=128 with its
    # overlap (bit 13 | 7), D=128 with 192-key tiles without overlap, D=64
    # with three consumers persistent without overlap (bits 8 | 3).
    # (v18 result: FreshS at D=128 within 1%; the others slower.) v19: the
    # D=256 kernel's knobs (lazy rescale: bit 2; softmax chains 2 and 8) and
    # 144-key tiles (one stage, 209 KiB; causal spills 12-16 bytes).
    # (v19 result: within the spread; defaults kept.) v20: D=64 (xfc's
    # BlockM 64, two CTAs per SM) with wider K/V tiles in one stage (so two
    # CTAs still fit) and P in S's registers (FreshS): fewer turns per item
    # at 512 keys (256 keys: one wgmma needs 154 registers, ptxas C7602).
    # (v20 result: both slower. v21, TMA stores: dense D=64 2-3% slower.)
    # v22: D=64 (BlockM 64, one consumer, persistent) issuing the next
    # item's first S with the current item's last P V (then Knobs bit 14):
    # 4-8% slower (H200); the code was removed afterwards (git history has
    # it). v23 (issue 5, block 64): dense proxies of block-64 tilings at
    # D=128: xfc's 128x128 tiles, the 64x64 two-stage tiles block-64
    # layouts take now, and 64-row tiles of 128 keys (two 64-key blocks a
    # tile, gathered) in one stage (two CTAs per SM still fit) with and
    # without FreshS, and in two stages (one CTA per SM).
    if d == 128:
        return [("wg", wg, None),
                ("m64n64", dict(wg, block_m=64, block_n=64), None),
                ("m64n128s1", dict(wg, block_m=64, block_n=128, num_stages=1), targs(2)),
                ("m64n128s1f", dict(wg, block_m=64, block_n=128, num_stages=1), targs(8194)),
                ("m64n128s2", dict(wg, block_m=64, block_n=128, num_stages=2), targs(2))]
    return []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    n = 0
    for dtype in ("bf16", "f16"):
        for d in (64, 128, 256):
            for causal in (False, True):
                for tag, over, targs in variants(dtype, d):
                    name = "b_%s_d%d_%s_%s" % (dtype, d, "c" if causal else "n", tag)
                    over = dict(over)
                    use_counter = over.pop("use_counter", True)
                    tma_store = over.pop("tma_store", True)
                    include_dir = over.pop("include_dir", None)
                    spec = gen_tu.make_spec(name, dtype, d, causal, write_lse=True, **over)
                    spec["variant"] = tag
                    spec["use_counter"] = use_counter
                    spec["tma_store"] = tma_store
                    path = gen_tu.write_kernel(spec, args.out)
                    if include_dir:
                        open(os.path.join(path, "include_dir"), "w").write(include_dir)
                    if targs is not None:
                        src = open(os.path.join(path, "kernel.cu")).read()
                        src = src.replace("xfc::attentionForward<Traits, Schedule>",
                                          "xfc::flashForwardSm90<Traits, Schedule, %s>" % targs)
                        open(os.path.join(path, "kernel.cu"), "w").write(src)
                    n += 1
    print("%d bench kernels in %s" % (n, args.out))


if __name__ == "__main__":
    main()
