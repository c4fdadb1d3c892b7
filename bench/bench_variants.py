#!/usr/bin/env python3
"""xfc's graph variants against the same math in PyTorch eager, same card,
same run (issue 6's benchmark rows).

Each case times PyTorch eager and xfc's plan (build-device/bin/
xfc-variant-bench) the same way: the mean of ITERS back-to-back calls measured
with the host clock plus a device synchronize, median over 7 repetitions after
a warm-up. Writes JSON and a markdown table under --out.

  python3 bench/bench_variants.py --out $OUT [--bin build-device/bin]
"""
import argparse
import json
import math
import os
import subprocess
import time

import torch

ITERS = 20


def timed(fn):
    fn()
    torch.cuda.synchronize()
    means = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(ITERS):
            fn()
        torch.cuda.synchronize()
        means.append((time.perf_counter() - start) * 1e3 / ITERS)
    means.sort()
    return means[len(means) // 2]


def linformer_eager(q, k, v, seq_len, proj):
    # xFormers LinformerAttention: E, F = nn.Linear(seq_len, k) on the
    # sequence, shared across heads; then scaled dot product.
    e = torch.randn(proj, seq_len, device=q.device, dtype=q.dtype) / math.sqrt(seq_len)
    f = torch.randn(proj, seq_len, device=q.device, dtype=q.dtype) / math.sqrt(seq_len)

    def run():
        kp = torch.matmul(e, k)
        vp = torch.matmul(f, v)
        att = torch.softmax(torch.matmul(q, kp.transpose(-1, -2)) / math.sqrt(q.shape[-1]), dim=-1)
        return torch.matmul(att, vp)
    return run


def fourier_eager(q):
    # xFormers FourierMix: Re(FFT2(q)) with autocast off; half inputs go
    # through fp32 (cuFFT half needs power-of-two sizes).
    def run():
        x = q if q.dtype == torch.float32 else q.float()
        return torch.fft.fft2(x).real.to(q.dtype)
    return run


CASES = [
    # name, config, dtype, B, H, S, D, eager factory
    ("linformer k=256", {"name": "linformer", "seq_len": 1024, "k": 256},
     "bf16", 8, 16, 1024, 64,
     lambda q, k, v: linformer_eager(q, k, v, 1024, 256)),
    ("linformer k=256", {"name": "linformer", "seq_len": 1024, "k": 256},
     "fp32", 8, 16, 1024, 64,
     lambda q, k, v: linformer_eager(q, k, v, 1024, 256)),
    ("fourier_mix", {"name": "fourier_mix"}, "bf16", 8, 16, 1024, 64,
     lambda q, k, v: fourier_eager(q)),
    ("fourier_mix", {"name": "fourier_mix"}, "fp32", 8, 16, 1024, 64,
     lambda q, k, v: fourier_eager(q)),
]

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--bin", default="build-device/bin")
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    card = torch.cuda.get_device_name()
    rows = []
    for name, config, dtype, b, h, s, d, eager in CASES:
        if args.only and args.only not in name:
            continue
        gen = torch.Generator(device="cuda").manual_seed(0)
        q, k, v = (torch.randn(b, h, s, d, device="cuda", dtype=DTYPES[dtype],
                               generator=gen) * 0.5 for _ in range(3))
        torch_ms = timed(eager(q, k, v))
        proc = subprocess.run(
            [os.path.join(args.bin, "xfc-variant-bench"), json.dumps(config), dtype,
             str(b), str(h), str(s), str(d), str(ITERS)],
            capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{name} {dtype}: xfc failed: {proc.stderr.strip()}")
            rows.append(dict(name=name, dtype=dtype, shape=[b, h, s, d],
                             torch_ms=torch_ms, error=proc.stderr.strip()))
            continue
        xfc = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(dict(name=name, config=config, dtype=dtype, shape=[b, h, s, d],
                         torch_ms=torch_ms, xfc_ms=xfc["ms"],
                         xfc_compile_ms=xfc["compile_ms"],
                         xfc_launches=xfc["launches"],
                         speedup=torch_ms / xfc["ms"]))
    result = dict(card=card, date=time.strftime("%Y-%m-%d"), torch=torch.__version__,
                  method="mean of %d calls, host clock + synchronize, median of 7" % ITERS,
                  rows=rows)
    with open(os.path.join(args.out, "bench_variants.json"), "w") as f:
        json.dump(result, f, indent=1)
    lines = [f"Card: {card}; PyTorch {torch.__version__}; {result['method']}.", "",
             "| variant | dtype | B×H×S×D | PyTorch eager ms | xfc ms | xfc / eager speedup | launches | JIT compile ms |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        shape = "×".join(map(str, r["shape"]))
        if "error" in r:
            lines.append(f"| {r['name']} | {r['dtype']} | {shape} | {r['torch_ms']:.3f} | failed | | | |")
        else:
            lines.append(f"| {r['name']} | {r['dtype']} | {shape} | {r['torch_ms']:.3f} | "
                         f"{r['xfc_ms']:.3f} | {r['speedup']:.2f}× | {r['xfc_launches']} | "
                         f"{r['xfc_compile_ms']:.0f} |")
    table = "\n".join(lines)
    with open(os.path.join(args.out, "bench_variants.md"), "w") as f:
        f.write(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
