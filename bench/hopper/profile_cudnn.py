#!/usr/bin/env python3
"""Runs PyTorch's cuDNN attention once per given shape (after a warm-up): a
target for `ncu -k regex:...` to compare xfc's kernels with cuDNN's (grid,
registers, shared memory, pipe utilization).

  profile_cudnn.py [--causal] B,H,S,D...
"""

import argparse

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--causal", action="store_true")
    ap.add_argument("shapes", nargs="+")
    args = ap.parse_args()
    for shape in args.shapes:
        b, h, s, d = (int(x) for x in shape.split(","))
        q, k, v = (torch.randn(b, h, s, d, device="cuda", dtype=torch.bfloat16)
                   for _ in range(3))
        with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
            for _ in range(3):
                F.scaled_dot_product_attention(q, k, v, is_causal=args.causal)
        torch.cuda.synchronize()
        print("cudnn", shape, "causal" if args.causal else "", flush=True)


if __name__ == "__main__":
    main()
