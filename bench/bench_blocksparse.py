#!/usr/bin/env python3
"""Block-sparse attention forward: xfc beside FlexAttention and xfc dense,
one process, one card (issue 5's benchmark).

  bench_blocksparse.py --xfc build-device/bin/xfc --out DIR [--quick]

At B×H×S×D = 2×16×8192×128 bf16, for block sizes 64 and 128 and the layouts
random (density 0.05/0.1/0.25/0.5), bigbird, bslongformer, fixed and
local_sliding_window: writes the config, gets the exact layout xfc uses with
`xfc layout -o layout.npy`, compiles it with `xfc compile --arch sm_90a`,
loads the cubin (test/gpu/harness/cubin_runner.py) and times it with
triton.testing.do_bench (median, CUDA events, random inputs). FlexAttention
gets the same layout as a BlockMask (mask_mod reading the layout,
torch.compile'd flex_attention); xfc's output is checked against Flex's
before timing. xfc dense (scaled_dot_product, same shape) gives the
"time <= 1.1 x density x dense" target. Writes DIR/bench_blocksparse.json,
.md and .png.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "gpu", "harness"))
from cubin_runner import Driver, attention_params, load_manifest_kernel  # noqa: E402
from timing import bench, bench_pair, bench_turns, rel_err  # noqa: E402

from blocksparse_layouts import B, H, S, D, config_for, layouts, tag_of  # noqa: E402,F401


def flops(density):
    return 4.0 * B * H * S * S * D * density


def compile_config(xfc, workdir, name, config, tile=None):
    path = os.path.join(workdir, name + ".json")
    with open(path, "w") as f:
        json.dump(config, f)
    out = os.path.join(workdir, name + ("-" + tile if tile else ""))
    start = time.perf_counter()
    subprocess.run([xfc, "compile", path, "--arch", "sm_90a", "-o", out]
                   + (["--tile", tile] if tile else []), check=True,
                   stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    kernel = manifest["kernels"][0]
    cubin = open(os.path.join(out, kernel["cubin"]), "rb").read()
    return path, kernel, cubin, seconds


def grid_of(kernel):
    sizes = {"batch": B, "heads": H, "q_len": S, "kv_len": S}
    dims = []
    for term in kernel["grid"]:
        if "constant" in term:
            dims.append(term["constant"])
        else:
            dims.append((sizes[term["symbol"]] + term["ceil_div"] - 1) // term["ceil_div"])
    return tuple(dims)


def make_launch(driver, kernel_info, cubin, q, k, v, o, persistent=True, tma=True):
    kernel = load_manifest_kernel(driver, kernel_info, cubin, tma)
    prm = attention_params(q, k, v, o, 1.0 / math.sqrt(D))
    grid, block = grid_of(kernel_info), tuple(kernel_info["block"])
    # As the runtime launches it: persistent where the kernel supports it.
    if persistent:
        sms = torch.cuda.get_device_properties(0).multi_processor_count
        prm.persistentCtas = kernel.resident_ctas(block[0], sms)
    stream = torch.cuda.current_stream().cuda_stream
    return kernel, (lambda: kernel.launch(prm, grid, block, stream))


def main():
    global D
    parser = argparse.ArgumentParser()
    parser.add_argument("--xfc", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tiles", default="",
                        help="comma-separated [BLOCK:]BLOCKMxBLOCKN[sSTAGES]: also time these "
                             "tilings (xfc compile --tile) of every layout of block size BLOCK "
                             "(default --tile-block), in turns")
    parser.add_argument("--tile-block", type=int, default=64,
                        help="the layout block size whose rows an entry of --tiles without "
                             "BLOCK: retiles (64 or 128)")
    parser.add_argument("--head-dim", type=int, default=D,
                        help="head dimension of every kernel (default %d, issue 5's shape)" % D)
    args = parser.parse_args()
    # The shape's D for flops(), make_launch() and the tensors below.
    D = args.head_dim
    # (layout block, tile) pairs of --tiles.
    extra_tiles = []
    for entry in [t for t in args.tiles.split(",") if t]:
        block_text, _, tile = entry.rpartition(":")
        extra_tiles.append((int(block_text) if block_text else args.tile_block, tile))
    os.makedirs(args.out, exist_ok=True)
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    flex = torch.compile(flex_attention, dynamic=False)
    torch.cuda.init()
    driver = Driver()
    workdir = tempfile.mkdtemp()
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(B, H, S, D, device="cuda", dtype=torch.bfloat16, generator=g)
               for _ in range(3))
    result = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
              "date": time.strftime("%Y-%m-%d"), "shape": [B, H, S, D], "dtype": "bf16",
              "rows": []}

    # xfc dense on the same shape.
    _, dense_kernel, dense_cubin, _ = compile_config(
        args.xfc, workdir, "dense", {"name": "scaled_dot_product", "head_dim": D,
                                     "num_heads": H, "dtype": "bf16"})
    o_dense = torch.empty_like(q)
    loaded_dense, launch_dense = make_launch(driver, dense_kernel, dense_cubin, q, k, v, o_dense)
    loaded_ca, launch_ca = make_launch(driver, dense_kernel, dense_cubin, q, k, v, o_dense,
                                       tma=False)
    dense_ms, dense_ca_ms = bench_pair(launch_dense, launch_ca)
    loaded_ca.unload()
    result["xfc_dense_ms"] = dense_ms
    result["xfc_dense_cp_async_ms"] = dense_ca_ms
    result["xfc_dense_kernel"] = dense_kernel["template"] + " " + json.dumps(dense_kernel["traits"])
    print("xfc dense: %.3f ms = %.0f TFLOP/s" % (dense_ms, flops(1.0) / dense_ms / 1e9), flush=True)

    for block in ((128,) if args.quick else (64, 128)):
        for name, layout in layouts(block)[: 3 if args.quick else None]:
            tag = tag_of(name, block)
            config = config_for(block, layout, D)
            row = {"layout": name, "block": block, "config": config}
            try:
                path, kernel, cubin, seconds = compile_config(args.xfc, workdir, tag, config)
                row["xfc_compile_s"] = seconds
                npy = os.path.join(workdir, tag + ".npy")
                subprocess.run([args.xfc, "layout", path, "-o", npy], check=True,
                               stdout=subprocess.DEVNULL)
                bits = np.load(npy).astype(bool)
                if bits.ndim == 2:
                    bits = bits[None]
                density = float(bits.mean())
                row["density"] = density
                row["layout_heads"] = int(bits.shape[0])
                lay = torch.from_numpy(bits).to("cuda")
                heads = lay.shape[0]

                def mask_mod(b, h, qi, ki, lay=lay, heads=heads, block=block):
                    return lay[h % heads, qi // block, ki // block]

                bm = create_block_mask(mask_mod, None, H, S, S, device="cuda")
                row["flex_density"] = 1 - bm.sparsity() / 100
                ref = flex(q, k, v, block_mask=bm)
                o = torch.full_like(q, float("nan"))
                loaded, launch = make_launch(driver, kernel, cubin, q, k, v, o)
                launch()
                torch.cuda.synchronize()
                # Rows with no block: xfc gives 0, Flex too.
                row["xfc_vs_flex_rel_err"] = rel_err(o, ref)
                loaded_np, launch_np = make_launch(driver, kernel, cubin, q, k, v, o, tma=False)
                # The dense kernel is timed again in turns with every row:
                # the card's clocks drift over a run (the dense time moved
                # 1.67-1.78 ms between runs), and the ratio to the dense
                # time measured beside the row cancels that drift.
                fns, alts = [launch, launch_np, launch_dense], []
                for tile in [t for b, t in extra_tiles if b == block]:
                    try:
                        _, k_alt, cubin_alt, _ = compile_config(args.xfc, workdir, tag, config, tile)
                    except subprocess.CalledProcessError as e:
                        row["tile_%s_error" % tile] = str(e)[:200]
                        continue
                    o_alt = torch.full_like(q, float("nan"))
                    loaded_alt, launch_alt = make_launch(driver, k_alt, cubin_alt, q, k, v, o_alt)
                    launch_alt()
                    torch.cuda.synchronize()
                    row["tile_%s_rel_err" % tile] = rel_err(o_alt, ref)
                    row["tile_%s_tiles" % tile] = len(k_alt["tables"]["TilePartial"])
                    fns.append(launch_alt)
                    alts.append((tile, loaded_alt))
                times = bench_turns(fns)
                row["xfc_ms"], row["xfc_cp_async_ms"] = times[0], times[1]
                row["dense_in_turns_ms"] = times[2]
                row["xfc_tiles"] = len(kernel["tables"]["TilePartial"])
                row["xfc_tile"] = "%dx%ds%d" % (kernel["traits"]["BlockM"], kernel["traits"]["BlockN"],
                                                kernel["traits"]["NumStages"])
                for (tile, loaded_alt), ms in zip(alts, times[3:]):
                    row["tile_%s_ms" % tile] = ms
                    loaded_alt.unload()
                loaded.unload()
                loaded_np.unload()
                row["flex_ms"] = bench(lambda: flex(q, k, v, block_mask=bm))
                row["speedup_vs_flex"] = row["flex_ms"] / row["xfc_ms"]
                row["vs_density_dense"] = row["xfc_ms"] / (density * dense_ms)
                row["vs_density_dense_in_turns"] = row["xfc_ms"] / (
                    density * row["dense_in_turns_ms"])
                row["xfc_eff_tflops"] = flops(density) / row["xfc_ms"] / 1e9
                row["flex_eff_tflops"] = flops(density) / row["flex_ms"] / 1e9
            except Exception as e:  # noqa: BLE001 - report and go on
                row["error"] = str(e)[:300]
            result["rows"].append(row)
            print(json.dumps({k2: v2 for k2, v2 in row.items() if k2 != "config"}), flush=True)
            # Written after every row: a run cut short keeps what it measured.
            with open(os.path.join(args.out, "bench_blocksparse.json"), "w") as f:
                json.dump(result, f, indent=1)

    loaded_dense.unload()
    with open(os.path.join(args.out, "bench_blocksparse.json"), "w") as f:
        json.dump(result, f, indent=1)
    lines = ["# Block-sparse forward, %s, torch %s, %s, %d×%d×%d×%d bf16" % (
        result["device"], result["torch"], result["date"], B, H, S, D), "",
        "xfc dense (same shape): %.3f ms (%.0f TFLOP/s); with cp.async loads %.3f ms" % (
            dense_ms, flops(1.0) / dense_ms / 1e9, result["xfc_dense_cp_async_ms"]), "",
        "| layout | block | density | xfc ms | xfc ms, cp.async loads | Flex ms | xfc speedup vs Flex | xfc / (density × dense) | dense in turns, ms | xfc / (density × dense in turns) | xfc eff. TFLOP/s | Flex eff. TFLOP/s | rel. err vs Flex |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        if "error" in r:
            lines.append("| %s | %d | | error: %s | | | | | | | | | |" % (r["layout"], r["block"], r["error"][:80]))
            continue
        lines.append("| %s | %d | %.3f | %.3f | %.3f | %.3f | %.2f× | %.2f | %.3f | %.2f | %.0f | %.0f | %.1e |" % (
            r["layout"], r["block"], r["density"], r["xfc_ms"], r["xfc_cp_async_ms"], r["flex_ms"], r["speedup_vs_flex"],
            r["vs_density_dense"], r["dense_in_turns_ms"], r["vs_density_dense_in_turns"],
            r["xfc_eff_tflops"], r["flex_eff_tflops"], r["xfc_vs_flex_rel_err"]))
    lines += ["", "xfc runs as the runtime launches it: persistent where the kernel supports it "
              "(AttentionParams.persistentCtas = the CTAs that fit at once), with TMA loads "
              "(tensor maps); \"cp.async loads\" is the same cubin launched without tensor maps, "
              "timed in turns with it. \"Dense in turns\" is the dense kernel timed again in "
              "turns with each row (the first ratio uses the dense time measured once at the "
              "start, on a cooler card).",
              "", "Effective TFLOP/s = 4·B·H·S²·D·density / median time. Target (issue 5): "
              "xfc faster than Flex and xfc / (density × dense) ≤ 1.1."]
    for tile_block in sorted({b for b, _ in extra_tiles}):
        tiles = [t for b, t in extra_tiles if b == tile_block]
        lines += ["", "Other tilings of the block-%d layouts (xfc compile --tile; sN: N K/V stages), "
                  "timed in turns with " % tile_block +
                  "xfc's choice; ms (tiles in the layout tables, relative error vs Flex):", "",
                  "| layout | xfc's tiles | xfc ms | " + " | ".join(tiles) + " |",
                  "|---|---|---|" + "---|" * len(tiles)]
        for r in result["rows"]:
            if r["block"] != tile_block or "error" in r:
                continue
            cells = []
            for t in tiles:
                if "tile_%s_ms" % t in r:
                    cells.append("%.3f (%d, %.0e)" % (r["tile_%s_ms" % t], r["tile_%s_tiles" % t],
                                                     r["tile_%s_rel_err" % t]))
                else:
                    cells.append(r.get("tile_%s_error" % t, "–")[:60])
            lines.append("| %s | %s (%d) | %.3f | %s |" % (r["layout"], r["xfc_tile"], r["xfc_tiles"],
                                                       r["xfc_ms"], " | ".join(cells)))
    text = "\n".join(lines) + "\n"
    open(os.path.join(args.out, "bench_blocksparse.md"), "w").write(text)
    print(text)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, 2, figsize=(13, 4))
        for ax, block in zip(axes, (64, 128)):
            rows = [r for r in result["rows"] if r["block"] == block and "error" not in r]
            labels = [r["layout"] for r in rows]
            ax.bar([i - 0.2 for i in range(len(rows))], [r["xfc_ms"] for r in rows], 0.4, label="xfc")
            ax.bar([i + 0.2 for i in range(len(rows))], [r["flex_ms"] for r in rows], 0.4, label="FlexAttention")
            ax.plot(range(len(rows)), [r["density"] * dense_ms for r in rows], "k_", markersize=20,
                    label="density × xfc dense")
            ax.set_xticks(range(len(rows)))
            ax.set_xticklabels(labels, rotation=30)
            ax.set_ylabel("ms")
            ax.set_title("block %d" % block)
            ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(args.out, "bench_blocksparse.png"), dpi=100)
    except Exception as e:  # noqa: BLE001 - the plot is optional
        print("no plot:", e)


if __name__ == "__main__":
    main()
