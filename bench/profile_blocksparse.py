#!/usr/bin/env python3
"""Compiles one of bench_blocksparse.py's layouts with xfc and launches it
twice as that benchmark does (persistent, TMA loads): a target for
`ncu -k regex:xfc_attn -s 1 -c 1`.

  profile_blocksparse.py --xfc build-device/bin/xfc --layout "random d=0.05" --block 128
"""

import argparse
import os
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_blocksparse import (B, D, H, S, compile_config, config_for, layouts,  # noqa: E402
                               make_launch)
from cubin_runner import Driver  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xfc", required=True)
    ap.add_argument("--layout", required=True, help="a layout name of bench_blocksparse.py")
    ap.add_argument("--block", type=int, default=128)
    args = ap.parse_args()
    found = dict(layouts(args.block))
    if args.layout not in found:
        sys.exit("unknown layout '%s'; known: %s" % (args.layout, ", ".join(found)))
    workdir = tempfile.mkdtemp()
    _, kernel, cubin, _ = compile_config(args.xfc, workdir, "profiled",
                                         config_for(args.block, found[args.layout]))
    torch.cuda.init()
    driver = Driver()
    q, k, v = (torch.randn(B, H, S, D, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    o = torch.empty_like(q)
    loaded, launch = make_launch(driver, kernel, cubin, q, k, v, o)
    for _ in range(2):
        launch()
    torch.cuda.synchronize()
    loaded.unload()
    print("launched", args.layout, "block", args.block, kernel["traits"], flush=True)


if __name__ == "__main__":
    main()
