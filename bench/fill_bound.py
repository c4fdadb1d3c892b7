#!/usr/bin/env python3
"""What issue 5's target asks of the memory system, row by row.

  fill_bound.py --xfc build/bin/xfc --bench RESULTS/bench_blocksparse.json \
      --ceiling RESULTS/fill_ceiling.json --out DIR

For every layout of bench_blocksparse.py (2x16x8192x128 bf16) this reads the
block layout (`xfc layout -o F.npy`) and counts the bytes any kernel must
move, then divides them by the target time, 1.1 x density x xfc's dense
time (from the bench's JSON):

- fill: K and V of every present block into the SM that computes its query
  block row, plus Q once. A kernel that loads each query block row's K/V
  itself moves all of it; "fill, rows paired" is the least a kernel moves
  that computes two neighbouring query block rows in one SM and loads the
  union of their blocks once (block 64 only: the 128-row tile).
- DRAM: Q read and O written once, and every K/V block that some row uses
  read once.

The ceilings come from bench/fill_ceiling.cu on the same card: the best
TMA fill rate from L2 (scattered chunks of an L2-resident buffer) and from
DRAM. Writes DIR/fill_bound.json and .md.
"""

import argparse
import ast
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import blocksparse_layouts as bbs  # noqa: E402

ELEMENT_BYTES = 2


def read_npy_u1(path):
    """A uint8 .npy file as (shape, flat bytes); numpy is not needed."""
    data = open(path, "rb").read()
    if data[:6] != b"\x93NUMPY":
        raise ValueError("%s: not an .npy file" % path)
    major = data[6]
    header_len = (int.from_bytes(data[8:10], "little") if major == 1
                  else int.from_bytes(data[8:12], "little"))
    start = (10 if major == 1 else 12)
    header = ast.literal_eval(data[start:start + header_len].decode("latin1"))
    if header["descr"] not in ("|u1", "|b1") or header["fortran_order"]:
        raise ValueError("%s: expected a C-order uint8 array, got %s" % (path, header))
    body = data[start + header_len:]
    return tuple(header["shape"]), body


def layout_of(xfc, workdir, tag, config):
    """Per layout head, the block rows as sets of column blocks."""
    path = os.path.join(workdir, tag + ".json")
    with open(path, "w") as f:
        json.dump(config, f)
    npy = os.path.join(workdir, tag + ".npy")
    subprocess.run([xfc, "layout", path, "-o", npy], check=True, stdout=subprocess.DEVNULL)
    shape, body = read_npy_u1(npy)
    heads, n = (1, shape[0]) if len(shape) == 2 else (shape[0], shape[1])
    rows = []
    for h in range(heads):
        base = h * n * n
        rows.append([frozenset(j for j in range(n) if body[base + i * n + j])
                     for i in range(n)])
    return rows, n


def ceilings(path):
    data = json.load(open(path))

    def best(source, pattern):
        return max(c["tb_per_s"] for c in data["cases"]
                   if c["source"] == source and c.get("pattern", "scattered") == pattern)
    return {"device": data["device"], "l2_fill_tb_per_s": best("l2", "scattered"),
            "l2_fill_lockstep_tb_per_s": best("l2", "lockstep"),
            "dram_read_tb_per_s": best("dram", "scattered"),
            "dram_copy_tb_per_s": data["dram_copy_read_plus_write_tb_per_s"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xfc", required=True)
    ap.add_argument("--bench", required=True, help="bench_blocksparse.json of the table")
    ap.add_argument("--ceiling", required=True, help="fill_ceiling.json of the same card")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    bench = json.load(open(args.bench))
    dense_ms = bench["xfc_dense_ms"]
    measured = {(r["layout"], r["block"]): r for r in bench["rows"]}
    ceiling = ceilings(args.ceiling)
    workdir = tempfile.mkdtemp()
    pairs = bbs.B * bbs.H
    q_bytes = bbs.B * bbs.H * bbs.S * bbs.D * ELEMENT_BYTES
    rows_out = []
    for block in (64, 128):
        kv_block_bytes = 2 * block * bbs.D * ELEMENT_BYTES  # K and V of one block
        for name, layout in bbs.layouts(block):
            tag = bbs.tag_of(name, block)
            heads_rows, n = layout_of(args.xfc, workdir, tag, bbs.config_for(block, layout))
            # Every (batch, head) pair; a shared layout serves all heads.
            per_pair = [heads_rows[h % len(heads_rows)] for h in range(bbs.H)] * bbs.B
            present = sum(len(r) for rows in per_pair for r in rows)
            paired = sum(len(rows[i] | (rows[i + 1] if i + 1 < n else frozenset()))
                         for rows in per_pair for i in range(0, n, 2))
            used_cols = sum(len(frozenset().union(*rows)) for rows in per_pair)
            density = present / (pairs * n * n)
            target_ms = 1.1 * density * dense_ms
            fill = present * kv_block_bytes + q_bytes
            fill_paired = paired * kv_block_bytes + q_bytes
            dram = used_cols * kv_block_bytes + 2 * q_bytes
            row = {"layout": name, "block": block, "density": density,
                   "target_ms": target_ms,
                   "fill_gb": fill / 1e9, "fill_paired_gb": fill_paired / 1e9,
                   "dram_gb": dram / 1e9,
                   "fill_needed_tb_per_s": fill / (target_ms * 1e-3) / 1e12,
                   "fill_paired_needed_tb_per_s": fill_paired / (target_ms * 1e-3) / 1e12,
                   "dram_needed_tb_per_s": dram / (target_ms * 1e-3) / 1e12}
            m = measured.get((name, block))
            if m:
                row["xfc_ms"] = m["xfc_ms"]
                row["xfc_fill_tb_per_s"] = fill / (m["xfc_ms"] * 1e-3) / 1e12
                row["xfc_dram_floor_share"] = (dram / (ceiling["dram_read_tb_per_s"] * 1e12)
                                               / (m["xfc_ms"] * 1e-3))
            rows_out.append(row)
            print(json.dumps(row), flush=True)
    result = {"ceilings": ceiling, "dense_ms": dense_ms, "bench": os.path.abspath(args.bench),
              "rows": rows_out}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "fill_bound.json"), "w") as f:
        json.dump(result, f, indent=1)
    lines = [
        "# What the ≤ 1.1 × density × dense target asks of memory, %s" % ceiling["device"], "",
        "Dense %.3f ms (the table's run). Ceilings measured by bench/fill_ceiling.cu on the "
        "same kind of card: TMA fill from L2 %.2f TB/s when each SM reads its own scattered "
        "chunks (as block-sparse rows read their blocks) and %.2f TB/s when all SMs read the "
        "same chunks at about the same time (as dense attention's CTAs of a head do); from "
        "DRAM %.2f TB/s (a device copy: %.2f TB/s read + write)." % (
            dense_ms, ceiling["l2_fill_tb_per_s"], ceiling["l2_fill_lockstep_tb_per_s"],
            ceiling["dram_read_tb_per_s"], ceiling["dram_copy_tb_per_s"]),
        "",
        "| layout | block | density | target ms | xfc ms | K/V + Q fill GB | fill needed TB/s "
        "| rows paired: GB, TB/s | xfc's fill TB/s | DRAM GB | DRAM needed TB/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows_out:
        lines.append("| %s | %d | %.3f | %.3f | %s | %.2f | %.2f | %s | %s | %.3f | %.2f |" % (
            r["layout"], r["block"], r["density"], r["target_ms"],
            "%.3f" % r["xfc_ms"] if "xfc_ms" in r else "-", r["fill_gb"],
            r["fill_needed_tb_per_s"],
            "%.2f, %.2f" % (r["fill_paired_gb"], r["fill_paired_needed_tb_per_s"])
            if r["block"] == 64 else "-",
            "%.2f" % r["xfc_fill_tb_per_s"] if "xfc_fill_tb_per_s" in r else "-",
            r["dram_gb"], r["dram_needed_tb_per_s"]))
    lines += ["", "Fill needed = the bytes over the target time, moved while the kernel also "
              "computes. Above the scattered ceiling, a kernel that moves those bytes meets the "
              "target only where SMs happen to read the same blocks at about the same time. "
              "\"Rows paired\": a kernel that loads the union of two neighbouring block-64 "
              "rows' blocks once (the least fill without extra compute). xfc's fill: the same "
              "bytes over xfc's measured time."]
    text = "\n".join(lines) + "\n"
    open(os.path.join(args.out, "fill_bound.md"), "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
