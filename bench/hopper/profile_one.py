#!/usr/bin/env python3
"""Launches each given kernel dir (kernel.cubin + kernel.json) once on random
B x H x S inputs, as bench.py does (persistent, TMA loads and the work
counter on wgmma kernels): a target for `ncu -k regex:xfc_attn`.

  profile_one.py [--shape B,H,S] DIR...
"""

import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "test", "gpu", "harness"))
from bench import load_kernel, make_launch  # noqa: E402
from cubin_runner import Driver  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="8,16,2048")
    ap.add_argument("dirs", nargs="+")
    args = ap.parse_args()
    b, h, s = (int(x) for x in args.shape.split(","))
    torch.zeros(1, device="cuda").add_(1)
    driver = Driver()
    for d in args.dirs:
        spec = json.load(open(os.path.join(d, "kernel.json")))
        spec["cubin"] = open(os.path.join(d, "kernel.cubin"), "rb").read()
        kernel = load_kernel(driver, spec)
        dt = torch.bfloat16 if spec["dtype"] == "bf16" else torch.float16
        q, k, v = (torch.randn(b, h, s, spec["head_dim"], device="cuda", dtype=dt) for _ in range(3))
        o = torch.empty_like(q)
        lse = torch.empty(b, h, s, device="cuda") if spec["write_lse"] else None
        launch = make_launch(kernel, spec, q, k, v, o, lse)
        launch()
        torch.cuda.synchronize()
        print(spec["name"], "launched", flush=True)
        kernel.unload()


if __name__ == "__main__":
    main()
