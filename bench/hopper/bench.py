#!/usr/bin/env python3
"""Times xfc's sm_90a wgmma kernel beside the sm80 mma.sync kernel and cuDNN.

  bench.py --kernels DIR --out DIR [--quick]

DIR holds kernel dirs written by gen_bench.py (kernel.cubin + kernel.json).
For every B x H x S x D of PERF.md, causal and not, bf16 and fp16: random
inputs, each xfc variant checked against an fp32 torch reference of the same
inputs (relative error; poisoned output) and timed with
triton.testing.do_bench (median, CUDA events) next to cuDNN SDPA; the
variants of a row are timed in turns (bench_turns). wgmma kernels load with
TMA (tensor maps), as the runtime launches them.
Writes DIR/bench.json and DIR/bench.md; prints the table last.
"""

import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F
import triton.testing as tt
from torch.nn.attention import SDPBackend, sdpa_kernel

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "test", "gpu", "harness"))
from cubin_runner import (CubinKernel, Driver, attention_params,  # noqa: E402
                          CU_FUNC_ATTRIBUTE_NUM_REGS, tma_tiles)
sys.path.insert(0, os.path.join(HERE, ".."))
from timing import bench_turns  # noqa: E402

SHAPES = [(16, 16, 512, 64), (8, 16, 2048, 64), (8, 16, 2048, 128),
          (2, 16, 8192, 128), (1, 16, 16384, 128), (4, 16, 4096, 256),
          (2, 16, 8192, 256)]
DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16}


def flops(b, h, s, d, causal):
    return 4.0 * b * h * s * s * d * (0.5 if causal else 1.0)


def bench(fn):
    return tt.do_bench(fn, warmup=25, rep=150, return_mode="median")


def load_kernel(driver, spec):
    """The spec's cubin as the runtime launches it: wgmma kernels with TMA
    loads (tensor maps) and the work counter."""
    kernel = CubinKernel(driver, spec["cubin"], spec["symbol"], spec["shared_bytes"])
    if spec.get("wgmma"):
        kernel.tma = tma_tiles("sm_90a", spec["dtype"], spec["head_dim"], spec["block_m"],
                               spec["block_n"], spec["num_warps"])
        kernel.use_counter = spec.get("use_counter", True)
        kernel.use_tma_store = spec.get("tma_store", True)
    return kernel


def make_launch(kernel, spec, q, k, v, o, lse):
    b, h, s, d = q.shape
    prm = attention_params(q, k, v, o, 1.0 / math.sqrt(d))
    if lse is not None:
        prm.lse = lse.data_ptr()
    grid = ((s + spec["block_m"] - 1) // spec["block_m"], h, b)
    block = (spec["num_warps"] * 32, 1, 1)
    # Persistent where the kernel supports it, as the runtime launches it.
    prm.persistentCtas = kernel.resident_ctas(
        block[0], torch.cuda.get_device_properties(0).multi_processor_count)
    stream = torch.cuda.current_stream().cuda_stream
    return lambda: kernel.launch(prm, grid, block, stream)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernels", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.cuda.init()
    torch.zeros(1, device="cuda").add_(1)
    driver = Driver()
    specs = []
    for name in sorted(os.listdir(args.kernels)):
        path = os.path.join(args.kernels, name)
        if os.path.exists(os.path.join(path, "kernel.cubin")):
            spec = json.load(open(os.path.join(path, "kernel.json")))
            spec["cubin"] = open(os.path.join(path, "kernel.cubin"), "rb").read()
            specs.append(spec)
    res = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
           "date": time.strftime("%Y-%m-%d %H:%M"), "rows": []}
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    res["matmul_bf16_tflops"] = 2 * 8192 ** 3 / bench(lambda: a @ a) / 1e9
    del a
    shapes = SHAPES[:3] if args.quick else SHAPES
    for dtype in [t for t in ("bf16", "f16") if any(sp["dtype"] == t for sp in specs)]:
        for (b, h, s, d) in shapes:
            # Only head dims the kernel set has.
            if not any(sp["dtype"] == dtype and sp["head_dim"] == d for sp in specs):
                continue
            for causal in (False, True):
                g = torch.Generator(device="cuda").manual_seed(b * 7 + s + d + causal)
                q, k, v = (torch.randn(b, h, s, d, device="cuda", generator=g,
                                       dtype=DTYPES[dtype]) for _ in range(3))
                row = {"dtype": dtype, "B": b, "H": h, "S": s, "D": d, "causal": causal}
                with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
                    fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                    ref = fn().float()
                    row["cudnn_tflops"] = flops(b, h, s, d, causal) / bench(fn) / 1e9
                # The reference for the error: fp32 math on the same inputs
                # (per head batch to bound memory).
                refs = []
                for bi in range(b):
                    refs.append(F.scaled_dot_product_attention(
                        q[bi:bi + 1].float(), k[bi:bi + 1].float(), v[bi:bi + 1].float(),
                        is_causal=causal))
                ref32 = torch.cat(refs)
                row["cudnn_rel_err"] = ((ref - ref32).norm() / ref32.norm()).item()
                loaded = []
                for spec in specs:
                    if spec["dtype"] != dtype or spec["head_dim"] != d or spec["causal"] != causal:
                        continue
                    kernel = load_kernel(driver, spec)
                    o = torch.full_like(q, float("nan"))
                    lse = torch.empty(b, h, s, device="cuda") if spec["write_lse"] else None
                    launch = make_launch(kernel, spec, q, k, v, o, lse)
                    launch()
                    torch.cuda.synchronize()
                    tag = spec["variant"]
                    row[tag + "_rel_err"] = ((o.float() - ref32).norm() / ref32.norm()).item()
                    row[tag + "_regs"] = kernel.attribute(CU_FUNC_ATTRIBUTE_NUM_REGS)
                    loaded.append((tag, kernel, launch, (o, lse)))
                times = bench_turns([entry[2] for entry in loaded])
                for (tag, kernel, _, _), ms in zip(loaded, times):
                    row[tag + "_tflops"] = flops(b, h, s, d, causal) / ms / 1e9
                    kernel.unload()
                res["rows"].append(row)
                print(json.dumps(row), flush=True)
    with open(os.path.join(args.out, "bench.json"), "w") as f:
        json.dump(res, f, indent=1)
    variants = sorted({k[:-7] for r in res["rows"] for k in r if k.endswith("_tflops")} - {"cudnn"})
    lines = ["# %s, torch %s, %s; bf16 matmul %.0f TFLOP/s" % (
        res["device"], res["torch"], res["date"], res["matmul_bf16_tflops"]), "",
        "| dtype | BxHxSxD | causal | cuDNN | " + " | ".join(variants) + " | worst rel err |",
        "|---|---|---|---|" + "---|" * len(variants) + "---|"]
    for r in res["rows"]:
        errs = [r[v + "_rel_err"] for v in variants if v + "_rel_err" in r]
        lines.append("| %s | %dx%dx%dx%d | %s | %.0f | %s | %.1e |" % (
            r["dtype"], r["B"], r["H"], r["S"], r["D"], "y" if r["causal"] else "n",
            r["cudnn_tflops"],
            " | ".join("%.0f" % r[v + "_tflops"] if v + "_tflops" in r else "-" for v in variants),
            max(errs) if errs else float("nan")))
    text = "\n".join(lines) + "\n"
    open(os.path.join(args.out, "bench.md"), "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
