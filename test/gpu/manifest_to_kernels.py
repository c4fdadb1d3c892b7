#!/usr/bin/env python3
"""Turns `xfc compile` output directories into the harness's kernel dirs.

  manifest_to_kernels.py OUT_ROOT COMPILE_DIR...

For every kernel of every COMPILE_DIR/manifest.json, writes
OUT_ROOT/<dir>-<symbol>/kernel.cubin and kernel.json (the traits, launch
geometry and layout the harness's check_attention.py needs), so that the
cubins xfc produced, with the tables xfc computed, are what the GPU checks
run. Prints the kernel dirs it wrote, one per line.
"""

import json
import os
import shutil
import sys

DTYPES = {"fp16": "f16", "bf16": "bf16", "fp32": "fp32"}


def kernel_spec(name, kernel):
    traits = kernel["traits"]
    block_m = traits["BlockM"]
    grid = kernel["grid"]
    # The harness launches (ceil(q_len / BlockM), heads, batch): make sure
    # that is what the manifest says.
    assert grid[0] == {"symbol": "q_len", "ceil_div": block_m}, grid
    assert grid[1] == {"symbol": "heads", "ceil_div": 1}, grid
    assert grid[2] == {"symbol": "batch", "ceil_div": 1}, grid
    assert kernel["block"] == [traits["NumWarps"] * 32, 1, 1], kernel["block"]
    spec = {
        "name": name, "symbol": kernel["symbol"], "arch": kernel["arch"],
        "dtype": DTYPES[traits["Element"]], "head_dim": traits["HeadDim"],
        "block_m": block_m, "block_n": traits["BlockN"],
        "num_warps": traits["NumWarps"], "num_stages": traits["NumStages"],
        "causal": traits["Causal"], "has_attn_mask": traits["HasAttnMask"],
        "has_key_padding": traits["HasKeyPadding"],
        "has_dropout": traits["HasDropout"], "write_lse": traits["WriteLse"],
        "shared_bytes": kernel["shared_bytes"], "layout": None,
        "window_left": traits.get("WindowLeft", -1),
        "window_right": traits.get("WindowRight", -1),
        "random_threshold": traits.get("RandomThreshold", 0),
        "random_seed": traits.get("RandomSeed", 0),
        "random_per_call": traits.get("RandomPerCall", False),
        "global_bits": None,
    }
    tables = kernel.get("tables")
    if tables:
        nb, heads = tables["NumBlocks"], tables["LayoutHeads"]
        flat = tables["BlockBits"]
        bits = [[flat[(h * nb + i) * nb:(h * nb + i + 1) * nb] for i in range(nb)]
                for h in range(heads)]
        spec["layout"] = {
            "block": tables["LayoutBlock"], "num_blocks": nb,
            "num_tile_rows": tables["NumTileRows"], "bits": bits,
            "tile_row_ptr": tables["TileRowPtr"], "tile_cols": tables["TileCols"],
            "tile_partial": tables["TilePartial"],
            "tile_blocks": tables.get("TileBlocks", 1),
        }
        spec["global_bits"] = tables.get("GlobalBits")
        # Large tables are filled into the module when it is loaded.
        if kernel.get("tables_at_load"):
            spec["tables_at_load"] = tables
    return spec


def main():
    out_root, dirs = sys.argv[1], sys.argv[2:]
    os.makedirs(out_root, exist_ok=True)
    for compile_dir in dirs:
        manifest = json.load(open(os.path.join(compile_dir, "manifest.json")))
        base = os.path.basename(os.path.normpath(compile_dir))
        for kernel in manifest["kernels"]:
            name = "%s-%s" % (base, kernel["symbol"][-8:])
            target = os.path.join(out_root, name)
            os.makedirs(target, exist_ok=True)
            shutil.copy(os.path.join(compile_dir, kernel["cubin"]),
                        os.path.join(target, "kernel.cubin"))
            with open(os.path.join(target, "kernel.json"), "w") as f:
                json.dump(kernel_spec(name, kernel), f)
            print(target)


if __name__ == "__main__":
    main()
