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


def masked_sdpa_eager(q, k, v, keep):
    # Dense masked attention as xFormers' core does it (keep: bool [S, S]).
    def run():
        att = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
        att = att.masked_fill(~keep, float("-inf"))
        att = torch.softmax(att.float(), dim=-1).nan_to_num(0.0).to(q.dtype)
        return torch.matmul(att, v)
    return run


def local_eager(q, k, v, window):
    # xFormers' local: |i - j| <= window // 2 (not causal).
    i = torch.arange(q.shape[-2], device=q.device)
    return masked_sdpa_eager(q, k, v, (i[:, None] - i[None, :]).abs() <= window // 2)


def random_eager(q, k, v, r):
    s = q.shape[-2]
    keep = torch.rand(s, s, device=q.device) < r
    return masked_sdpa_eager(q, k, v, keep)


def global_eager(q, k, v, tokens):
    s = q.shape[-2]
    g = torch.zeros(s, dtype=torch.bool, device=q.device)
    g[tokens] = True
    return masked_sdpa_eager(q, k, v, g[:, None] | g[None, :])


def nystrom_eager(q, k, v, m, iterations):
    b, h, s, d = q.shape

    def run():
        scale = 1.0 / math.sqrt(d)
        ql = q.reshape(b, h, m, s // m, d).mean(-2)
        kl = k.reshape(b, h, m, s // m, d).mean(-2)
        k1 = torch.softmax(q @ kl.transpose(-1, -2) * scale, dim=-1)
        k2 = torch.softmax(ql @ kl.transpose(-1, -2) * scale, dim=-1)
        k3 = torch.softmax(ql @ k.transpose(-1, -2) * scale, dim=-1) @ v
        eye = torch.eye(m, device=q.device, dtype=q.dtype)
        z = k2.transpose(-1, -2) / (k2.abs().sum(-2).amax() * k2.abs().sum(-1).amax())
        for _ in range(iterations):
            kz = k2 @ z
            z = 0.25 * z @ (13 * eye - kz @ (15 * eye - kz @ (7 * eye - kz)))
        return k1 @ (z @ k3)
    return run


def orthoformer_random_eager(q, k, v, m):
    b, h, s, d = q.shape
    idx = torch.randperm(s, device=q.device)[: m // 2]

    def run():
        landmarks = torch.cat([q[:, :, idx], k[:, :, idx]], dim=-2)
        scale = 1.0 / math.sqrt(d)
        inner = torch.softmax(landmarks @ k.transpose(-1, -2) * scale, dim=-1) @ v
        return torch.softmax(q @ landmarks.transpose(-1, -2) * scale, dim=-1) @ inner
    return run


def favor_eager(q, k, v, features):
    d = q.shape[-1]
    w = torch.randn(d, features // 2, device=q.device, dtype=torch.float32)

    def phi(x):
        xs = x.float() * d ** -0.25
        off = -(xs * xs).sum(-1, keepdim=True) / 2 - math.log(math.sqrt(features))
        proj = xs @ w
        return torch.exp(torch.cat([proj, -proj], dim=-1) + off)

    def run():
        pq, pk = phi(q), phi(k)
        kv = pk.transpose(-1, -2) @ v.float()
        norm = pq @ pk.sum(-2, keepdim=True).transpose(-1, -2)
        return ((pq @ kv) / norm).to(q.dtype)
    return run


def lambda_eager(q, k, v, seq_len):
    b, h, s, d = q.shape
    emb = torch.randn(2 * seq_len - 1, d, device=q.device, dtype=q.dtype)
    n = torch.arange(s, device=q.device)
    rel = (n[None, :] - n[:, None] + seq_len - 1)

    def run():
        content = torch.softmax(k, dim=-2).transpose(-1, -2) @ v
        qe = q @ emb.transpose(-1, -2)
        position = torch.gather(qe, -1, rel.expand(b, h, s, s))
        return q @ content + position @ v
    return run


def pooling_eager(q, pool):
    b, h, s, d = q.shape
    side = int(math.isqrt(s))

    def run():
        x = q.reshape(b * h, side, side, d).permute(0, 3, 1, 2)
        y = torch.nn.functional.avg_pool2d(x, pool, 1, pool // 2, count_include_pad=False) - x
        return y.permute(0, 2, 3, 1).reshape(b, h, s, d)
    return run


def visual_eager(q):
    b, _, s, c = q.shape
    side = int(math.isqrt(s))
    nn = torch.nn
    block = nn.ModuleDict(dict(
        proj1=nn.Conv2d(c, c, 1), lka0=nn.Conv2d(c, c, 5, padding=2, groups=c),
        lka1=nn.Conv2d(c, c, 7, padding=9, groups=c, dilation=3), lka2=nn.Conv2d(c, c, 1),
        proj2=nn.Conv2d(c, c, 1))).to(q.device, q.dtype)

    def run():
        x = q.reshape(b, side, side, c).permute(0, 3, 1, 2)
        y = torch.nn.functional.gelu(block["proj1"](x))
        attn = block["lka2"](block["lka1"](block["lka0"](y)))
        y = block["proj2"](y * attn) + x
        return y.permute(0, 2, 3, 1).reshape(b, 1, s, c)
    return run


def compositional_eager(q, k, v, heads, rules):
    b, _, s, e = q.shape
    nn = torch.nn
    dh, vd, dsel = e // heads, e // rules, e // heads
    mods = nn.ModuleDict(dict(
        qp=nn.Linear(e, e), value_q=nn.Linear(e, dsel * heads),
        score=nn.Linear(dsel + vd, 1), out=nn.Linear(heads * vd, e))).to(q.device, q.dtype)

    def run():
        x = q.reshape(b, s, e)
        qp = mods["qp"](x) * dh ** -0.5
        kp = mods["qp"](k.reshape(b, s, e))
        vp = mods["qp"](v.reshape(b, s, e))
        qh = qp.view(b, s, heads, dh).transpose(1, 2)
        kh = kp.view(b, s, heads, dh).transpose(1, 2)
        vr = vp.view(b, s, rules, vd).transpose(1, 2)
        att = torch.softmax(qh @ kh.transpose(-1, -2), dim=-1)
        o = (att.unsqueeze(2) @ vr.unsqueeze(1)).movedim(3, 1)  # [b, s, h, r, vd]
        sel = mods["value_q"](x).view(b, s, heads, 1, dsel).expand(-1, -1, -1, rules, -1)
        score = torch.softmax(mods["score"](torch.cat([o, sel], dim=-1)), dim=3)
        y = (o * score).sum(3).reshape(b, s, heads * vd)
        return mods["out"](y).reshape(b, 1, s, e)
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
    ("local w=129", {"name": "local", "window_size": 129}, "bf16", 8, 16, 1024, 64,
     lambda q, k, v: local_eager(q, k, v, 129)),
    ("random r=0.1", {"name": "random", "r": 0.1, "seed": 0}, "bf16", 8, 16, 1024, 64,
     lambda q, k, v: random_eager(q, k, v, 0.1)),
    ("global 16 tokens", {"name": "global", "seq_len": 1024,
                          "attention_query_mask": list(range(0, 1024, 64))},
     "bf16", 8, 16, 1024, 64,
     lambda q, k, v: global_eager(q, k, v, list(range(0, 1024, 64)))),
    ("nystrom m=64", {"name": "nystrom", "num_heads": 16, "num_landmarks": 64},
     "bf16", 8, 16, 1024, 64, lambda q, k, v: nystrom_eager(q, k, v, 64, 6)),
    ("orthoformer m=32 random", {"name": "orthoformer", "num_landmarks": 32,
                                 "landmark_selection": "random"},
     "bf16", 8, 16, 1024, 64, lambda q, k, v: orthoformer_random_eager(q, k, v, 32)),
    ("favor sm_reg", {"name": "favor", "dim_head": 64, "feature_map": "sm_reg"},
     "bf16", 8, 16, 1024, 64, lambda q, k, v: favor_eager(q, k, v, 2 * ((64 * 7) // 2))),
    ("lambda", {"name": "lambda", "seq_len": 1024, "dim_head": 64}, "bf16", 8, 16, 1024, 64,
     lambda q, k, v: lambda_eager(q, k, v, 1024)),
    ("pooling 3x3", {"name": "pooling", "pool_size": 3}, "bf16", 8, 16, 1024, 64,
     lambda q, k, v: pooling_eager(q, 3)),
    ("visual", {"name": "visual", "dim_model": 256}, "bf16", 8, 1, 1024, 256,
     lambda q, k, v: visual_eager(q)),
    ("compositional", {"name": "compositional", "dim_model": 256, "num_heads": 4,
                       "num_rules": 2}, "bf16", 8, 1, 1024, 256,
     lambda q, k, v: compositional_eager(q, k, v, 4, 2)),
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
        try:
            with torch.no_grad():
                fn = eager(q, k, v)
                torch_ms = timed(fn)
        except Exception as e:  # noqa: BLE001 - report and go on
            print(f"{name} {dtype}: eager failed: {e}")
            torch_ms = float("nan")
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
