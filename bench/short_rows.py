#!/usr/bin/env python3
"""Dense attention with short key rows: what "1.1 x density x dense" asks.

  short_rows.py --xfc build-device/bin/xfc --out DIR [--quick]

Issue 5's block-sparse rows give each 128-row query block n of 64 key blocks.
The easiest problem with the same work is dense attention over L = n x 128
keys: every query block reads the same n key blocks, contiguous and shared by
all query blocks at once. This times that problem at issue 5's query shape
(2 x 16 x 8192 x 128 bf16, K and V 2 x 16 x L x 128) for xfc's dense kernel,
cuDNN, FA2 (PyTorch SDPA) and FlexAttention, all in turns, for L from 8192
down to 256, and reports each kernel's

    time(L) / ((L / 8192) x time(8192))

with time(8192) timed in the same turns as every L, and its median over all L
taken (one kernel timed against itself in turns moves by 4% and more at
8192 keys, bench/NOTES.md v33). That is the block-sparse target's ratio for
a layout of density L / 8192 whose rows are all the same contiguous blocks.

Beside them, in the same turns, xfc's block-sparse kernel (block 128, K and V
of 8192 keys) on two layouts of n = L / 128 blocks in every row: "same", the
first n blocks in every row (the dense problem above, through the
block-sparse path), and "band", n contiguous blocks around the diagonal (a
sliding window with exactly n blocks a row). Their ratio divides by
(n / 64) x xfc dense(8192).

--trees NAME=DIR,... adds xfc's dense kernel source compiled by nvcc against
other template trees (ab_templates.py), as columns "xfc:NAME" in the same
turns.

Before timing, every xfc output (poisoned with NaN first) is checked: dense and
"same" against cuDNN over the first L keys, "band" against PyTorch SDPA with
the layout as an element mask. Writes DIR/short_rows.json and DIR/short_rows.md;
`short_rows.py --render DIR` writes the .md again from DIR's .json.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "gpu", "harness"))
from blocksparse_layouts import uniform_rows  # noqa: E402

B, H, S, D = 2, 16, 8192, 128
BLOCK = 128
KEY_LENGTHS = [8192, 4096, 2048, 1152, 1024, 768, 512, 384, 256]
PEERS = ["xfc", "cudnn", "flash(FA2)", "flex"]
SPARSE = ["xfc same", "xfc band"]


def flops(kv_len):
    return 4.0 * B * H * S * kv_len * D


def layout(kind, n):
    return uniform_rows(kind, n, BLOCK, S)


def main():
    global torch, F, SDPBackend, sdpa_kernel, D
    parser = argparse.ArgumentParser()
    parser.add_argument("--xfc")
    parser.add_argument("--out")
    parser.add_argument("--render", metavar="DIR",
                        help="only write DIR/short_rows.md from DIR/short_rows.json")
    parser.add_argument("--quick", action="store_true", help="L = 8192, 1024, 384 only")
    parser.add_argument("--head-dim", type=int, default=D,
                        help="head dimension of every kernel (default %d)" % D)
    parser.add_argument("--trees", default="",
                        help="comma-separated NAME=DIR template trees for the dense kernel")
    args = parser.parse_args()
    if args.render:
        render(json.load(open(os.path.join(args.render, "short_rows.json"))), args.render)
        return
    if not args.xfc or not args.out:
        parser.error("--xfc and --out are required (or --render DIR)")
    # The GPU modules only where something is timed (--render needs none).
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from cubin_runner import Driver
    from timing import bench_turns, rel_err
    import bench_blocksparse
    from bench_blocksparse import compile_config, make_launch
    # make_launch's softmax scale follows bench_blocksparse.D.
    D = bench_blocksparse.D = args.head_dim
    trees = [t.split("=", 1) for t in args.trees.split(",") if t]
    peers = PEERS[:1] + ["xfc:" + t for t, _ in trees] + PEERS[1:]
    os.makedirs(args.out, exist_ok=True)
    torch.cuda.init()
    driver = Driver()
    workdir = tempfile.mkdtemp()
    # The dense kernel bench_blocksparse.py divides by: one kernel for every L.
    _, dense_info, dense_cubin, _ = compile_config(
        args.xfc, workdir, "dense", {"name": "scaled_dot_product", "head_dim": D,
                                     "num_heads": H, "dtype": "bf16"})
    tree_cubins = {}
    if trees:
        import concurrent.futures
        from ab_templates import nvcc_cubin
        source = os.path.join(workdir, "dense", dense_info["source"])
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(trees)) as pool:
            jobs = {tree: pool.submit(nvcc_cubin, source, directory,
                                      os.path.join(workdir, "dense-%s.cubin" % tree))
                    for tree, directory in trees}
            for tree, _ in trees:
                tree_cubins["xfc:" + tree], remarks = jobs[tree].result()
                print("xfc:%s ptxas: %s" % (tree, remarks), flush=True)
    from torch.nn.attention.flex_attention import flex_attention
    flex = torch.compile(flex_attention, dynamic=False)

    g = torch.Generator(device="cuda").manual_seed(0)
    q = torch.randn(B, H, S, D, device="cuda", dtype=torch.bfloat16, generator=g)
    k_full, v_full = (torch.randn(B, H, S, D, device="cuda", dtype=torch.bfloat16,
                                  generator=g) for _ in range(2))
    loaded = []

    def sdpa(backend, k, v, mask=None):
        def run():
            with sdpa_kernel(backend):
                return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return run

    def problem(kv_len):
        """The timed functions at L = kv_len and the checks of xfc's outputs."""
        k, v = k_full[:, :, :kv_len].contiguous(), v_full[:, :, :kv_len].contiguous()
        o = torch.full_like(q, float("nan"))
        kernel, launch = make_launch(driver, dense_info, dense_cubin, q, k, v, o)
        loaded.append(kernel)
        fns = {"xfc": launch, "cudnn": sdpa(SDPBackend.CUDNN_ATTENTION, k, v),
               "flash(FA2)": sdpa(SDPBackend.FLASH_ATTENTION, k, v),
               "flex": lambda: flex(q, k, v)}
        launch()
        torch.cuda.synchronize()
        ref = fns["cudnn"]()
        checks = {"xfc": (rel_err(o, ref), int(torch.isnan(o).sum().item()))}
        for name, tree_cubin in tree_cubins.items():
            o_tree = torch.full_like(q, float("nan"))
            kernel, fns[name] = make_launch(driver, dense_info, tree_cubin, q, k, v, o_tree)
            loaded.append(kernel)
            fns[name]()
            torch.cuda.synchronize()
            checks[name] = (rel_err(o_tree, ref), int(torch.isnan(o_tree).sum().item()))
        n = kv_len // BLOCK
        for name in SPARSE:
            kind = name.split()[1]
            _, info, cubin, _ = compile_config(
                args.xfc, workdir, "%s_%d" % (kind, n),
                {"name": "blocksparse", "head_dim": D, "num_heads": H, "dtype": "bf16",
                 "block_size": BLOCK, "seq_len": S, "layout": layout(kind, n)})
            o_bs = torch.full_like(q, float("nan"))
            kernel, launch_bs = make_launch(driver, info, cubin, q, k_full, v_full, o_bs)
            loaded.append(kernel)
            launch_bs()
            torch.cuda.synchronize()
            if kind == "same":
                expected = ref
            else:
                mask = torch.tensor(layout(kind, n), dtype=torch.bool, device="cuda")
                mask = mask.repeat_interleave(BLOCK, 0).repeat_interleave(BLOCK, 1)
                expected = sdpa(SDPBackend.EFFICIENT_ATTENTION, k_full, v_full, mask)()
            checks[name] = (rel_err(o_bs, expected), int(torch.isnan(o_bs).sum().item()))
            fns[name] = launch_bs
        for fn in fns.values():
            fn()  # compiles Flex for this L before it is timed
        return fns, checks

    result = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
              "date": time.strftime("%Y-%m-%d"), "shape": [B, H, S, D], "dtype": "bf16",
              "xfc_kernel": dense_info["template"] + " " + json.dumps(dense_info["traits"]),
              "rows": []}
    full, _ = problem(S)
    lengths = [8192, 1024, 384] if args.quick else KEY_LENGTHS
    for kv_len in lengths:
        fns, checks = problem(kv_len)
        names = peers + SPARSE
        # Each kernel at L and at 8192 in the same turns: the card's clocks
        # drift over a run by a few percent.
        times = bench_turns([fns[n] for n in names] + [full[n] for n in peers])
        full_ms = dict(zip(peers, times[len(names):]))
        row = {"kv_len": kv_len, "tiles_per_row": kv_len / float(BLOCK),
               "density": kv_len / float(S)}
        for i, n in enumerate(names):
            ms = times[i]
            base = full_ms[n if n in peers else "xfc"]
            row[n + "_ms"] = ms
            row[n + "_full_ms"] = base
            row[n + "_tflops"] = flops(kv_len) / ms / 1e9
        for n, (err, unwritten) in checks.items():
            row[n + "_rel_err"] = err
            row[n + "_unwritten"] = unwritten
        result["rows"].append(row)
        print(json.dumps(row), flush=True)
    for kernel in loaded:
        kernel.unload()
    result["kernels"] = peers + SPARSE
    result["trees"] = ["xfc:" + t for t, _ in trees]
    render(result, args.out)


def render(result, out_dir):
    """Adds each row's ratios to `result` and writes out_dir/short_rows.json
    and .md.
    A kernel's ratio divides by its median 8192-key time over the run's
    turns ("xfc same" and "xfc band" by xfc dense's)."""
    rows = result["rows"]
    names = result.get("kernels") or [k[:-3] for k in rows[0]
                                      if k.endswith("_ms") and not k.endswith("_full_ms")]
    checked = ["xfc"] + result.get("trees", [n for n in names if n.startswith("xfc:")]) + SPARSE
    full = {n: statistics.median(r[n + "_full_ms"] for r in rows) for n in names}
    for r in rows:
        for n in names:
            r[n + "_ratio"] = r[n + "_ms"] / (r["density"] * full[n])
    result["ratio_divides_by"] = "median 8192-key time over the turns"
    with open(os.path.join(out_dir, "short_rows.json"), "w") as f:
        json.dump(result, f, indent=1)
    shape = result.get("shape", [B, H, S, D])
    lines = ["# Dense attention over short key rows, %s, torch %s, %s" % (
                 result["device"], result["torch"], result["date"]), "",
             "Queries %s bf16, not causal; keys and values 2×16×L×%d for the "
             "dense kernels. ratio = time(L) / ((L / 8192) × time(8192)), where time(8192) "
             "is the median of the same kernel's 8192-key times, one timed in the turns of "
             "every L: the block-sparse target's ratio for a layout of density L / 8192 "
             "whose rows all hold the same contiguous blocks. \"xfc same\" and \"xfc band\" "
             "are xfc's block-sparse kernel (block 128, 8192 keys) with n = L / 128 blocks "
             "in every row, the first n or n around the diagonal; their ratio divides by "
             "(n / 64) × xfc dense at 8192 keys." % ("×".join(map(str, shape)), shape[3]),
             "",
             "Median 8192-key times, ms: " + ", ".join(
                 "%s %.3f" % (n, full[n]) for n in names if n in full and not
                 n.startswith("xfc ")) + ".", "",
             "| L | tiles a row | " + " | ".join("%s ms" % n for n in names) + " | " +
             " | ".join("%s ratio" % n for n in names) + " |",
             "|---|---|" + "---|" * (2 * len(names))]
    for r in rows:
        lines.append("| %d | %.1f | " % (r["kv_len"], r["tiles_per_row"]) +
                     " | ".join("%.3f" % r[n + "_ms"] for n in names) + " | " +
                     " | ".join("%.2f" % r[n + "_ratio"] for n in names) + " |")
    lines += ["", "xfc dense: the kernel of bench_blocksparse.py (%s), launched persistent "
              "as the runtime does." % result["xfc_kernel"], "",
              "Checks (relative error; unwritten elements of the NaN-poisoned output):", ""]
    for r in rows:
        lines.append("- L = %d: " % r["kv_len"] + "; ".join(
            "%s %.1e (%d)" % (n, r[n + "_rel_err"], r[n + "_unwritten"]) for n in checked))
    text = "\n".join(lines) + "\n"
    open(os.path.join(out_dir, "short_rows.md"), "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
