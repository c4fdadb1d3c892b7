#!/usr/bin/env python3
"""Writes attention translation units the way xfc's CUDA emitter does.

Each kernel gets a directory with `kernel.cu` (traits, layout tables, one
`extern "C"` entry, exactly the shape of the emitted code) and `kernel.json`
(the traits and the block layout, for check_attention.py). Block-sparse tables
are derived here the way the compiler derives them: a KV tile is listed when
some element of it is visible, and is partial unless all of its elements are.

Pure Python (no numpy) so that it also runs on the machine without a GPU.

  gen_tu.py --out DIR [--matrix default|smoke] [--only SUBSTRING]
"""

import argparse
import json
import os
import random
import sys

ELEMENTS = {"f16": ("xfc::f16", 2), "bf16": ("xfc::bf16", 2), "fp32": ("float", 4)}


def shared_bytes(dtype, block_m, block_n, stages, head_dim, wgmma=False):
    """The formulas of templates/README.md (the wgmma path has two Q tiles
    where they fit in 227 KiB, else one, and adds 1024 bytes to align its
    tiles to 128B-swizzle atoms)."""
    def tiles(q_tiles):
        return (q_tiles * block_m + 2 * stages * block_n) * head_dim * ELEMENTS[dtype][1]
    if not wgmma:
        return tiles(1)
    return tiles(2) + 1024 if tiles(2) + 1024 <= 227 * 1024 else tiles(1) + 1024


def ceil_div(a, b):
    return (a + b - 1) // b


def element_visible(bits, block, i, j, causal):
    n = len(bits) * block
    if i >= n or j >= n:
        return False
    if causal and j > i:
        return False
    return bits[i // block][j // block] != 0


def tile_blocks(wgmma, block, block_n):
    """Layout blocks per K/V tile: 2 where the wgmma kernel gathers two
    layout blocks into a tile (templates/xfc/types.cuh wgmmaTileBlocks)."""
    return 2 if wgmma and block and 2 * block == block_n else 1


def tile_tables(layout_bits, block, block_m, block_n, causal, blocks_per_tile=1):
    """CSR tables over (layout head, query tile row) of the KV tiles that hold
    a visible element; partial unless every element of the tile is visible.
    blocks_per_tile 2: gathered tiles, two entries of layout blocks a tile
    (full with full, partial with partial, the odd ones out together or
    alone with -1), the partial flag covering the present halves."""
    num_blocks = len(layout_bits[0])
    covered = num_blocks * block
    num_tile_rows = ceil_div(covered, block_m)
    width = block_n // blocks_per_tile
    num_kv_tiles = ceil_div(covered, width)
    row_ptr, cols, partial = [], [], []
    for bits in layout_bits:
        for t in range(num_tile_rows):
            row_ptr.append(len(partial))
            found = []
            for c in range(num_kv_tiles):
                rows = range(t * block_m, (t + 1) * block_m)
                keys = range(c * width, (c + 1) * width)
                # Work per layout block pair, then refine the diagonal ones.
                any_visible, all_visible = False, True
                for i in rows:
                    for j in keys:
                        v = element_visible(bits, block, i, j, causal)
                        any_visible |= v
                        all_visible &= v
                    if any_visible and not all_visible:
                        break
                if any_visible:
                    found.append((c, 0 if all_visible else 1))
            if blocks_per_tile == 1:
                for c, p in found:
                    cols.append(c)
                    partial.append(p)
                continue
            full = [c for c, p in found if not p]
            part = [c for c, p in found if p]
            for group, p in ((full, 0), (part, 1)):
                for k in range(0, len(group) - 1, 2):
                    cols += [group[k], group[k + 1]]
                    partial.append(p)
            if len(full) % 2 or len(part) % 2:
                first = full[-1] if len(full) % 2 else part[-1]
                second = part[-1] if len(full) % 2 and len(part) % 2 else -1
                cols += [first, second]
                partial.append(len(part) % 2)
        row_ptr.append(len(partial))
    return num_tile_rows, row_ptr, cols, partial


def random_layout(rng, num_blocks, density, causal):
    bits = [[1 if rng.random() < density else 0 for _ in range(num_blocks)]
            for _ in range(num_blocks)]
    if causal:
        # Keep the diagonal mostly on so causal rows see something.
        for b in range(num_blocks):
            if rng.random() < 0.7:
                bits[b][b] = 1
    # An empty query-block row, and sometimes an empty key-block column.
    empty_row = rng.randrange(num_blocks)
    bits[empty_row] = [0] * num_blocks
    if rng.random() < 0.5:
        col = rng.randrange(num_blocks)
        for r in range(num_blocks):
            bits[r][col] = 0
    return bits


def c_table(ctype, name, values):
    if not values:
        values_text = "0 /* empty */"
    else:
        lines = []
        for k in range(0, len(values), 16):
            lines.append("    " + ", ".join(str(v) for v in values[k:k + 16]))
        values_text = "\n" + ",\n".join(lines)
    return "__device__ const %s k%s[] = {%s};\n" % (ctype, name, values_text)


def make_tu(spec):
    """Returns the CUDA source of one kernel, shaped like CudaEmitter.cpp's."""
    element, _ = ELEMENTS[spec["dtype"]]
    b = lambda x: "true" if x else "false"
    out = []
    out.append("// Generated by test/gpu/harness/gen_tu.py (mimics xfc's emitter).\n")
    out.append('#include "xfc/xfc.cuh"\n\nnamespace {\n\n')
    out.append("struct Traits {\n")
    out.append("  using Element = %s;\n" % element)
    for key, name in [("head_dim", "HeadDim"), ("block_m", "BlockM"),
                      ("block_n", "BlockN"), ("num_warps", "NumWarps"),
                      ("num_stages", "NumStages")]:
        out.append("  static constexpr int %s = %d;\n" % (name, spec[key]))
    for key, name in [("causal", "Causal"), ("has_attn_mask", "HasAttnMask"),
                      ("has_key_padding", "HasKeyPadding"),
                      ("has_dropout", "HasDropout"), ("write_lse", "WriteLse")]:
        out.append("  static constexpr bool %s = %s;\n" % (name, b(spec[key])))
    if spec.get("window_left", -1) >= 0 or spec.get("window_right", -1) >= 0:
        out.append("  static constexpr int WindowLeft = %d;\n" % spec.get("window_left", -1))
        out.append("  static constexpr int WindowRight = %d;\n" % spec.get("window_right", -1))
    out.append("  static constexpr int SharedBytes = %d;\n" % spec["shared_bytes"])
    out.append("};\n\n")
    layout = spec.get("layout")
    if layout:
        flat_bits = [v for head in layout["bits"] for row in head for v in row]
        out.append(c_table("int", "TileRowPtr", layout["tile_row_ptr"]))
        out.append(c_table("int", "TileCols", layout["tile_cols"]))
        out.append(c_table("unsigned char", "TilePartial", layout["tile_partial"]))
        out.append(c_table("unsigned char", "BlockBits", flat_bits))
        out.append("\nstruct Layout {\n")
        out.append("  static constexpr int LayoutBlock = %d;\n" % layout["block"])
        out.append("  static constexpr int LayoutHeads = %d;\n" % len(layout["bits"]))
        out.append("  static constexpr int NumBlocks = %d;\n" % layout["num_blocks"])
        out.append("  static constexpr int NumTileRows = %d;\n" % layout["num_tile_rows"])
        if layout.get("tile_blocks", 1) != 1:
            out.append("  static constexpr int TileBlocks = %d;\n" % layout["tile_blocks"])
        out.append("  static __device__ const int *tileRowPtr() { return kTileRowPtr; }\n")
        out.append("  static __device__ const int *tileCols() { return kTileCols; }\n")
        out.append("  static __device__ const unsigned char *tilePartial() {\n"
                   "    return kTilePartial;\n  }\n")
        out.append("  static __device__ const unsigned char *blockBits() {\n"
                   "    return kBlockBits;\n  }\n")
        out.append("};\n\n")
        out.append("using Schedule = xfc::BlockSparseSchedule<Traits, Layout>;\n\n")
    else:
        out.append("using Schedule = xfc::DenseSchedule<Traits>;\n\n")
    out.append("} // namespace\n\n")
    # As the emitter: the CTAs per SM the template is built for (1, or 2 for
    # the one-consumer wgmma kernel); without it ptxas trades a few spills
    # for occupancy.
    out.append('extern "C" __global__ void __launch_bounds__(%d, '
               'xfc::attentionCtasPerSm<Traits>())\n' % (spec["num_warps"] * 32))
    out.append("%s(const __grid_constant__ xfc::AttentionParams params) {\n"
               % spec["symbol"])
    out.append("  xfc::attentionForward<Traits, Schedule>(params);\n}\n")
    return "".join(out)


def make_spec(name, dtype, head_dim, causal, layout_block=0, layout_heads=1,
              block_m=None, block_n=None, num_stages=None, num_warps=None,
              attn_mask=False, key_padding=False, dropout=False, write_lse=True,
              seed=0, wgmma=False):
    """Traits as xfc's kernel-config selection picks them, unless overridden.
    wgmma: the sm_90a warp-specialized kernel (one producer warpgroup plus one
    consumer warpgroup per 64 query rows; BlockM 128, BlockN 128)."""
    if dtype == "fp32":
        bm, bn, stages = 32, 32, 1
        if head_dim == 256:
            bn = 16
        warps_per_m = 8
    elif wgmma:
        bm, bn, stages = 128, 128, 2
        if layout_block and layout_block < bn:
            # KernelConfig.cpp: 64-row tiles; block 64 gathers two blocks a
            # 128-key tile (one stage at D=128), blocks of 32 and 16 64-key
            # tiles.
            bm, bn = 64, 128 if layout_block == 64 else 64
            if bn == 128 and head_dim == 128:
                stages = 1
        if head_dim == 256 and layout_block and layout_block < 128:
            bm, bn, stages = 128, 64, 2
        elif head_dim == 256 and not (layout_block or attn_mask or key_padding or dropout):
            stages = 1  # 128-key tiles in one stage (KernelConfig.cpp)
        elif head_dim == 256:
            bn = 64
    else:
        bm, bn, stages = 64, 64, 2
        if head_dim == 256:
            bn = 16
        warps_per_m = 16
    if not wgmma and layout_block and layout_block < bn:
        bn = max(32, layout_block)
    bm = block_m or bm
    bn = block_n or bn
    stages = num_stages or stages
    warps = num_warps or (4 * (bm // 64 + 1) if wgmma else bm // warps_per_m)
    spec = {
        "name": name, "symbol": "xfc_attn_" + name.replace("-", "_"),
        "dtype": dtype, "head_dim": head_dim, "block_m": bm, "block_n": bn,
        "num_warps": warps, "num_stages": stages, "causal": causal,
        "has_attn_mask": attn_mask, "has_key_padding": key_padding,
        "has_dropout": dropout, "write_lse": write_lse,
        "shared_bytes": shared_bytes(dtype, bm, bn, stages, head_dim, wgmma),
        "layout": None, "wgmma": wgmma,
    }
    if layout_block:
        rng = random.Random(seed)
        # About 320-384 covered tokens whatever the block size.
        num_blocks = {16: 20, 32: 10, 64: 5, 128: 3}[layout_block]
        heads_bits = [random_layout(rng, num_blocks, rng.choice([0.3, 0.5, 0.7]), causal)
                      for _ in range(layout_heads)]
        blocks_per_tile = tile_blocks(wgmma, layout_block, bn)
        num_tile_rows, row_ptr, cols, partial = tile_tables(
            heads_bits, layout_block, bm, bn, causal, blocks_per_tile)
        spec["layout"] = {
            "block": layout_block, "num_blocks": num_blocks,
            "tile_blocks": blocks_per_tile,
            "num_tile_rows": num_tile_rows, "bits": heads_bits,
            "tile_row_ptr": row_ptr, "tile_cols": cols, "tile_partial": partial,
        }
    return spec


def matrix(kind):
    specs = []
    seed = 1
    dtypes = ["f16", "bf16", "fp32"]
    dims = [32, 64, 96, 128, 256]
    if kind == "smoke":
        dtypes, dims = ["bf16", "fp32"], [64]
    # The base matrix: dtype x head dim x causal x (dense, 4 layout blocks).
    for dtype in dtypes:
        for d in dims:
            for causal in (False, True):
                c = "c" if causal else "n"
                specs.append(make_spec("%s_d%d_%s_dense" % (dtype, d, c), dtype, d, causal))
                for lb in (16, 32, 64, 128):
                    heads = 2 if (lb + d) % 3 == 0 else 1
                    specs.append(make_spec("%s_d%d_%s_bs%d_h%d" % (dtype, d, c, lb, heads),
                                           dtype, d, causal, layout_block=lb,
                                           layout_heads=heads, seed=seed))
                    seed += 1
    # The sm_90a wgmma kernel: f16/bf16 x HeadDim 64/128 x causal x (dense,
    # block-sparse), then masks, padding, dropout, other tiles and stages.
    for dtype in (("bf16",) if kind == "smoke" else ("f16", "bf16")):
        for d in (64, 128, 256):
            for causal in (False, True):
                c = "c" if causal else "n"
                specs.append(make_spec("wg_%s_d%d_%s_dense" % (dtype, d, c), dtype, d,
                                       causal, wgmma=True))
                if kind == "smoke":
                    continue
                # 32 and 64: gathered K/V tiles (two layout blocks a tile).
                for lb in (16, 32, 64, 128):
                    heads = 2 if (lb + d) % 3 == 0 else 1
                    specs.append(make_spec("wg_%s_d%d_%s_bs%d_h%d" % (dtype, d, c, lb, heads),
                                           dtype, d, causal, layout_block=lb,
                                           layout_heads=heads, seed=seed, wgmma=True))
                    seed += 1
    if kind == "smoke":
        return specs
    # 128-row tiles of 64-blocks (xfc compile --tile 128x128): K/V tiles
    # gathered from two layout rows' blocks, a block only one row has masked
    # element by element.
    for dtype in ("f16", "bf16"):
        for d in (64, 128):
            for causal in (False, True):
                c = "c" if causal else "n"
                specs.append(make_spec("wg_%s_d%d_%s_bs64_m128" % (dtype, d, c), dtype, d,
                                       causal, layout_block=64, layout_heads=2, seed=seed,
                                       block_m=128, block_n=128, num_stages=2, wgmma=True))
                seed += 1
    for dtype in ("f16", "bf16"):
        for d in (64, 128, 256):
            specs.append(make_spec("wg_%s_d%d_c_masks" % (dtype, d), dtype, d, True,
                                   attn_mask=True, key_padding=True, wgmma=True))
            specs.append(make_spec("wg_%s_d%d_n_dropout" % (dtype, d), dtype, d, False,
                                   dropout=True, key_padding=True, wgmma=True))
        specs.append(make_spec("wg_%s_d64_c_nolse" % dtype, dtype, 64, True,
                               write_lse=False, wgmma=True))
        # One consumer at HeadDim 128, dense, with 64 x 64 tiles in two stages
        # (block-32 layouts take them; 64 x 128 tiles take one stage so that
        # two CTAs fit an SM: 99 KiB each, two stages would need 148 KiB).
        specs.append(make_spec("wg_%s_d128_n_m64_n64" % dtype, dtype, 128, False,
                               block_m=64, block_n=64, wgmma=True))
        specs.append(make_spec("wg_%s_d64_c_n64_s3" % dtype, dtype, 64, True,
                               block_n=64, num_stages=3, wgmma=True))
        specs.append(make_spec("wg_%s_d64_n_n192" % dtype, dtype, 64, False,
                               block_n=192, wgmma=True))
        specs.append(make_spec("wg_%s_d128_c_s1" % dtype, dtype, 128, True,
                               num_stages=1, wgmma=True))
        # BlockN 176 (not a power of two) at HeadDim 128 fits one item per
        # CTA (key padding: 232 registers); persistent kernels (216, the work
        # counter) spill above BlockN 128.
        specs.append(make_spec("wg_%s_d128_c_n176_kp" % dtype, dtype, 128, True,
                               block_n=176, key_padding=True, wgmma=True))
        win = make_spec("wg_%s_d128_c_win" % dtype, dtype, 128, True, wgmma=True)
        win["window_left"] = 200
        specs.append(win)
        win = make_spec("wg_%s_d64_n_win" % dtype, dtype, 64, False, wgmma=True)
        win["window_left"], win["window_right"] = 150, 70
        specs.append(win)
        specs.append(make_spec("wg_%s_d128_n_s3" % dtype, dtype, 128, False,
                               num_stages=3, wgmma=True))
        for causal in (False, True):
            c = "c" if causal else "n"
            specs.append(make_spec("wg_%s_d64_%s_m192" % (dtype, c), dtype, 64, causal,
                                   block_m=192, wgmma=True))
        specs.append(make_spec("wg_%s_d64_c_m192_bs64" % dtype, dtype, 64, True,
                               block_m=192, layout_block=64, layout_heads=2, seed=seed,
                               wgmma=True))
        seed += 1
    # Masks, padding, dropout, lse off, other tiles and stages.
    for dtype in dtypes:
        for d in (64, 128, 256):
            for causal in (False, True):
                c = "c" if causal else "n"
                # HeadDim 256 on mma.sync: the attn_mask alone (see below).
                specs.append(make_spec("%s_d%d_%s_masks" % (dtype, d, c), dtype, d, causal,
                                       attn_mask=True,
                                       key_padding=d != 256 or dtype == "fp32"))
            specs.append(make_spec("%s_d%d_n_dropout" % (dtype, d), dtype, d, False,
                                   dropout=True, key_padding=True))
            # Not at HeadDim 256 on the mma.sync path: attn_mask and dropout
            # beside 128 O registers spill (xfc rejects them, KernelConfig).
            if d != 256 or dtype == "fp32":
                specs.append(make_spec("%s_d%d_c_bs32_dropout" % (dtype, d), dtype, d, True,
                                       layout_block=32, layout_heads=2, dropout=True,
                                       attn_mask=True, seed=seed))
            seed += 1
        specs.append(make_spec("%s_d64_c_nolse" % dtype, dtype, 64, True, write_lse=False))
    for dtype in ("f16", "bf16"):
        for d in (32, 64, 96, 128):
            specs.append(make_spec("%s_d%d_c_m128" % (dtype, d), dtype, d, True, block_m=128))
            specs.append(make_spec("%s_d%d_n_n32_s3" % (dtype, d), dtype, d, False,
                                   block_n=32, num_stages=3))
            specs.append(make_spec("%s_d%d_c_s1" % (dtype, d), dtype, d, True, num_stages=1))
        for d in (32, 64):
            specs.append(make_spec("%s_d%d_c_n128" % (dtype, d), dtype, d, True, block_n=128))
        specs.append(make_spec("%s_d64_n_n16" % dtype, dtype, 64, False, block_n=16))
        specs.append(make_spec("%s_d128_c_m128_bs128" % dtype, dtype, 128, True, block_m=128,
                               layout_block=128, layout_heads=2, seed=seed))
        seed += 1
        specs.append(make_spec("%s_d64_n_m128_bs16_masks" % dtype, dtype, 64, False,
                               block_m=128, layout_block=16, attn_mask=True,
                               key_padding=True, seed=seed))
        seed += 1
    for d in (32, 128):
        specs.append(make_spec("fp32_d%d_c_s2" % d, "fp32", d, True, num_stages=2))
        specs.append(make_spec("fp32_d%d_n_n64_w8" % d, "fp32", d, False, block_n=64,
                               block_m=64, num_warps=8, num_stages=2))
        specs.append(make_spec("fp32_d%d_n_n16" % d, "fp32", d, False, block_n=16))
    # HeadDim 256 as xfc configures it (fp32: two stages of 16 keys) and
    # with three stages on the mma.sync path.
    specs.append(make_spec("fp32_d256_c_s2", "fp32", 256, True, num_stages=2))
    for dtype in ("f16", "bf16"):
        specs.append(make_spec("%s_d256_c_s3" % dtype, dtype, 256, True, num_stages=3))
    return specs


def write_kernel(spec, out_dir):
    path = os.path.join(out_dir, spec["name"])
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "kernel.cu"), "w") as f:
        f.write(make_tu(spec))
    with open(os.path.join(path, "kernel.json"), "w") as f:
        json.dump(spec, f)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--matrix", default="default", choices=["default", "smoke"])
    parser.add_argument("--only", default="", help="keep kernels whose name contains this")
    args = parser.parse_args()
    specs = [s for s in matrix(args.matrix) if args.only in s["name"]]
    names = [s["name"] for s in specs]
    assert len(names) == len(set(names)), "duplicate kernel names"
    for spec in specs:
        write_kernel(spec, args.out)
    print("%d kernels written to %s" % (len(specs), args.out))


if __name__ == "__main__":
    sys.exit(main())
