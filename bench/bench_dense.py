#!/usr/bin/env python3
"""Dense attention forward: xfc's kernels beside the peers, one process, one card.

  bench_dense.py --xfc build-device/bin/xfc --out DIR [--quick]

For every B x H x S x D of PERF.md, causal and not, bf16 and fp16: compiles the
scaled_dot_product config with `xfc compile` (recording the cold NVRTC time and
the kernel-cache hit time), loads the cubin (test/gpu/harness/cubin_runner.py)
and times it with triton.testing.do_bench (median, CUDA events, random inputs),
then times PyTorch's SDPA backends (cuDNN in turns with xfc; FA2 flash,
xFormers-CUTLASS efficient) and FlexAttention (torch.compile'd; the causal
mask as a block mask) on the same inputs. Before timing, xfc's output is checked against
the cuDNN output (relative error) so that a fast wrong kernel cannot pass.
Writes DIR/bench_dense.json, DIR/bench_dense.md (TFLOP/s and xfc/peer ratios)
and DIR/bench_dense.png.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import torch
import torch._dynamo
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "gpu", "harness"))
from cubin_runner import Driver, attention_params, load_manifest_kernel  # noqa: E402
from timing import bench, bench_turns, rel_err  # noqa: E402

SHAPES = [(16, 16, 512, 64), (8, 16, 2048, 64), (8, 16, 2048, 128),
          (2, 16, 8192, 128), (1, 16, 16384, 128), (4, 16, 4096, 256),
          (2, 16, 8192, 256)]
PEERS = {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash(FA2)": SDPBackend.FLASH_ATTENTION,
         "efficient(xformers)": SDPBackend.EFFICIENT_ATTENTION}
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def flops(b, h, s, d, causal):
    return 4.0 * b * h * s * s * d * (0.5 if causal else 1.0)


def compile_kernel(xfc, workdir, dtype, d, causal, cache_dir, seq_len):
    """Compiles the config for one shape: seq_len fixes the query and key
    length, as cuDNN builds a plan per shape (xfc then picks tiles that fit
    it: BlockM 192 at D=64 for long sequences)."""
    config = os.path.join(workdir, "sdp_%s_d%d_%s_s%d.json" % (
        dtype, d, "c" if causal else "n", seq_len))
    with open(config, "w") as f:
        json.dump({"name": "scaled_dot_product", "causal": causal, "head_dim": d,
                   "dtype": dtype, "seq_len": seq_len}, f)
    out = config[:-5]
    env = dict(os.environ, XFC_CACHE_DIR=cache_dir)
    times = []
    for attempt in range(2):  # cold (NVRTC), then a disk-cache hit
        start = time.perf_counter()
        subprocess.run([xfc, "compile", config, "--arch", "sm_90a", "-o", out + "-%d" % attempt],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    manifest = json.load(open(os.path.join(out + "-1", "manifest.json")))
    kernel = manifest["kernels"][0]
    cubin = open(os.path.join(out + "-1", kernel["cubin"]), "rb").read()
    return kernel, cubin, times


def make_launch(kernel_info, cubin, driver, q, k, v, o, causal, persistent=True, tma=True):
    kernel = load_manifest_kernel(driver, kernel_info, cubin, tma)
    b, h, s, d = q.shape
    prm = attention_params(q, k, v, o, 1.0 / math.sqrt(d))
    block_m = kernel_info["traits"]["BlockM"]
    grid = ((s + block_m - 1) // block_m, h, b)
    block = tuple(kernel_info["block"])
    # As the runtime launches it: persistent where the kernel supports it.
    if persistent:
        sms = torch.cuda.get_device_properties(0).multi_processor_count
        prm.persistentCtas = kernel.resident_ctas(block[0], sms)
    stream = torch.cuda.current_stream().cuda_stream
    return kernel, (lambda: kernel.launch(prm, grid, block, stream))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--xfc", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.cuda.init()
    torch.zeros(1, device="cuda").add_(1)
    driver = Driver()
    workdir = tempfile.mkdtemp()
    cache_dir = tempfile.mkdtemp()
    result = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
              "date": time.strftime("%Y-%m-%d"), "rows": [], "compile": []}
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    result["matmul_bf16_tflops"] = 2 * 8192 ** 3 / bench(lambda: a @ a) / 1e9
    del a
    shapes = SHAPES[:2] if args.quick else SHAPES
    flex, flex_error = None, ""
    try:
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention
        # One compiled graph per shape, dtype and mask (28 here): past
        # dynamo's default limit of 8 it would fall back to eager (the
        # unfused math, 10-50x slower; measured so in a first run).
        torch._dynamo.config.cache_size_limit = 256
        torch._dynamo.config.accumulated_cache_size_limit = 4096
        flex = torch.compile(flex_attention, dynamic=False)
    except Exception as e:  # noqa: BLE001 - reported per row
        flex_error = "FlexAttention unavailable: %s" % e
    for dtype in ("bf16", "fp16"):
        for d in sorted({s[3] for s in shapes}):
            for causal in (False, True):
                for (b, h, s, dd) in shapes:
                    if dd != d:
                        continue
                    kernel, cubin, times = compile_kernel(args.xfc, workdir, dtype, d, causal,
                                                          cache_dir, s)
                    result["compile"].append(dict(dtype=dtype, D=d, S=s, causal=causal,
                                                  cold_s=times[0], disk_hit_s=times[1]))
                    g = torch.Generator(device="cuda").manual_seed(0)
                    q, k, v = (torch.randn(b, h, s, d, device="cuda", generator=g,
                                           dtype=DTYPES[dtype]) for _ in range(3))
                    o = torch.full_like(q, float("nan"))
                    loaded, launch = make_launch(kernel, cubin, driver, q, k, v, o, causal)
                    launch()
                    torch.cuda.synchronize()
                    with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
                        ref = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                    row = dict(dtype=dtype, B=b, H=h, S=s, D=d, causal=causal,
                               xfc_vs_cudnn_rel_err=rel_err(o, ref),
                               xfc_tile="%dx%d" % (kernel["traits"]["BlockM"],
                                                   kernel["traits"]["BlockN"]))
                    # The same kernel with cp.async loads (no tensor maps), in turns.
                    loaded_ca, launch_ca = make_launch(kernel, cubin, driver, q, k, v, o,
                                                       causal, tma=False)
                    # xfc (TMA), xfc (cp.async) and cuDNN in turns: measured one
                    # after the other, whichever ran second gained up to 10%
                    # at D=256 (clocks settle under long compute-bound runs).
                    def cudnn():
                        with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
                            return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                    ms, ms_ca, ms_cudnn = bench_turns([launch, launch_ca, cudnn])
                    row["cudnn_tflops"] = flops(b, h, s, d, causal) / ms_cudnn / 1e9
                    loaded_ca.unload()
                    row["xfc_ms"] = ms
                    row["xfc_tma"] = bool(loaded.tma)
                    row["xfc_tflops"] = flops(b, h, s, d, causal) / ms / 1e9
                    row["xfc_cp_async_tflops"] = flops(b, h, s, d, causal) / ms_ca / 1e9
                    for name, backend in PEERS.items():
                        if name == "cudnn":
                            continue
                        try:
                            with sdpa_kernel(backend):
                                fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                                fn()
                                pms = bench(fn)
                            row[name + "_tflops"] = flops(b, h, s, d, causal) / pms / 1e9
                        except Exception as e:  # noqa: BLE001 - a peer may lack a shape
                            row[name + "_error"] = str(e)[:120]
                    # FlexAttention (torch.compile'd): no mask, or the causal
                    # one as a block mask.
                    try:
                        if flex is None:
                            raise RuntimeError(flex_error)
                        bm = (create_block_mask(lambda bi, hi, qi, ki: qi >= ki, None, None,
                                                s, s, device="cuda") if causal else None)
                        fn = lambda: flex(q, k, v, block_mask=bm)
                        fn()
                        row["flex_tflops"] = flops(b, h, s, d, causal) / bench(fn) / 1e9
                    except Exception as e:  # noqa: BLE001 - a peer may lack a shape
                        row["flex_error"] = str(e)[:120]
                    loaded.unload()
                    result["rows"].append(row)
                    print(json.dumps(row), flush=True)
    with open(os.path.join(args.out, "bench_dense.json"), "w") as f:
        json.dump(result, f, indent=1)
    lines = ["# Dense forward, %s, torch %s, %s" % (result["device"], result["torch"], result["date"]),
             "", "bf16 matmul ceiling in the same run: %.0f TFLOP/s" % result["matmul_bf16_tflops"], "",
             "| dtype | B×H×S×D | causal | xfc | xfc, cp.async loads | cuDNN | FA2 | xFormers | Flex | xfc/cuDNN | xfc/FA2 | xfc/Flex | rel. err vs cuDNN |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        def t(name):
            return r.get(name + "_tflops")
        fmt = lambda x: "%.0f" % x if x else "–"
        ratio = lambda x: "%.2f" % (r["xfc_tflops"] / x) if x else "–"
        lines.append("| %s | %d×%d×%d×%d | %s | %.0f | %.0f | %s | %s | %s | %s | %s | %s | %s | %.1e |" % (
            r["dtype"], r["B"], r["H"], r["S"], r["D"], "yes" if r["causal"] else "no",
            r["xfc_tflops"], r["xfc_cp_async_tflops"], fmt(t("cudnn")), fmt(t("flash(FA2)")), fmt(t("efficient(xformers)")),
            fmt(t("flex")), ratio(t("cudnn")), ratio(t("flash(FA2)")), ratio(t("flex")),
            r["xfc_vs_cudnn_rel_err"]))
    lines += ["", "xfc is compiled per shape (the config's seq_len = S, as cuDNN plans per "
              "shape); its tiles per row are in bench_dense.json (xfc_tile).",
              "", "xfc runs as the runtime launches it: persistent where the kernel supports it "
              "(AttentionParams.persistentCtas = the CTAs that fit at once) and, on the sm_90a "
              "wgmma kernel, with TMA loads (tensor maps); \"cp.async loads\" is the same cubin "
              "launched without tensor maps, timed in turns with it.",
              "", "TFLOP/s = 4·B·H·S²·D (÷2 causal) / median time. xfc compile of one kernel "
              "(config → cubin, NVRTC): cold %.2f–%.2f s, kernel-cache disk hit %.3f–%.3f s." % (
                  min(c["cold_s"] for c in result["compile"]), max(c["cold_s"] for c in result["compile"]),
                  min(c["disk_hit_s"] for c in result["compile"]), max(c["disk_hit_s"] for c in result["compile"]))]
    text = "\n".join(lines) + "\n"
    open(os.path.join(args.out, "bench_dense.md"), "w").write(text)
    print(text)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 2, figsize=(12, 4))
        for ax, causal in zip(axes, (False, True)):
            rows = [r for r in result["rows"] if r["dtype"] == "bf16" and r["causal"] == causal]
            labels = ["%dx%dx%dx%d" % (r["B"], r["H"], r["S"], r["D"]) for r in rows]
            for key, name in (("xfc", "xfc"), ("cudnn", "cuDNN"), ("flash(FA2)", "FA2"),
                              ("efficient(xformers)", "xFormers"), ("flex", "FlexAttention")):
                ax.plot(labels, [r.get(key + "_tflops", float("nan")) for r in rows], marker="o", label=name)
            ax.set_title("bf16 forward, %s" % ("causal" if causal else "non-causal"))
            ax.set_ylabel("TFLOP/s")
            ax.tick_params(axis="x", rotation=30)
            ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(args.out, "bench_dense.png"), dpi=100)
    except Exception as e:  # noqa: BLE001 - the plot is optional
        print("no plot:", e)


if __name__ == "__main__":
    main()
