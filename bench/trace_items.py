#!/usr/bin/env python3
"""Where a wgmma kernel's time goes, item by item (GPU machine).

  trace_items.py --xfc build-device/bin/xfc --out DIR [--templates templates]
      [--rows "sliding window@128,random d=0.05@128,dense@128,band8@128"]

For each row (NAME@BLOCK of bench_blocksparse.py's layouts, the dense
kernel "dense@128", or "sameN@B" / "bandN@B", short_rows.py's layouts of N
blocks in every row) xfc compiles the config, nvcc compiles its kernel source
again with -DXFC_TRACE, and one launch (as the runtime launches it, after
warm-up) fills xfcTrace: clock64 stamps per CTA, warpgroup and item
(templates/xfc/flash_fwd_sm90.cuh). Consumer events (warpgroup >= 1, its
first thread; the S/PV overlap path):
  0 item loop top, 1 Q ready (qFull), 2 first S done (its K wait and turn
  included), 3 first softmax done, 4 main loop done, 5 last P V done,
  6 epilogue done; 7 tiles; 8 cycles waiting on K/V full barriers in the
  loop; 9 on the turn barrier; 12 on S (wgmma.wait 1); 13 on P V (wait 0);
  14 issuing S and P V (turn held); 15 in the softmax; 19 rescaling O and
  packing P; 16 waiting for the first tile's K; 22 item set up (before
  the first S), 20 the first S's turn taken, 21 the first S issued; 17
  output normalised and staged; 18 the warpgroup's staging barrier passed;
  10 and 11 globaltimer at 0 and 6.
Producer events (warpgroup 0, thread 0): 0 item top, 1 first K issued,
2 last V issued, 7 next item's claim starts, 3 next item published,
4 cycles waiting on empty barriers, 5 tiles, 6 the item.

Prints and writes DIR/trace_items.json and .md: per row, the mean of each
phase per item (µs), and a least-squares fit of item time = a + b * tiles
(a: the per-item cost, b: the per-tile cost).
"""

import argparse
import ctypes
import json
import os
import re
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "test", "gpu", "harness"))
import bench_blocksparse as bbs  # noqa: E402
from ab_templates import DENSE_CONFIG, nvcc_cubin  # noqa: E402
from blocksparse_layouts import uniform_rows  # noqa: E402
from cubin_runner import Driver  # noqa: E402
from timing import bench  # noqa: E402

# Must match flash_fwd_sm90.cuh's Trace* constants.
CTAS, GROUPS, ITEMS, EVENTS = 512, 4, 64, 24


def read_trace(driver, kernel):
    pointer, size = ctypes.c_uint64(), ctypes.c_size_t()
    driver.check(driver.lib.cuModuleGetGlobal_v2(
        ctypes.byref(pointer), ctypes.byref(size), kernel.module, b"xfcTrace"),
        "cuModuleGetGlobal(xfcTrace)")
    return pointer.value, size.value


def phases(trace, ns_per_cycle):
    """Per consumer item: phase durations in µs, and the fit."""
    rows = []
    for cta in range(CTAS):
        for group in range(1, GROUPS):
            for item in range(ITEMS):
                e = trace[cta, group, item]
                if e[0] == 0 or e[6] == 0 or e[7] <= 0:
                    continue
                rows.append(e)
    if not rows:
        return None
    e = np.array(rows, dtype=np.float64)
    us = ns_per_cycle / 1000.0
    tiles = e[:, 7]
    total = (e[:, 6] - e[:, 0]) * us
    have_overlap = np.all(e[:, 2] > 0)
    out = {"items": len(rows), "mean_tiles": float(tiles.mean()),
           "item_us": float(total.mean())}
    if have_overlap:
        out.update({
            "q_wait_us": float(((e[:, 1] - e[:, 0]) * us).mean()),
            "first_s_us": float(((e[:, 2] - e[:, 1]) * us).mean()),
            "first_softmax_us": float(((e[:, 3] - e[:, 2]) * us).mean()),
            "loop_us": float(((e[:, 4] - e[:, 3]) * us).mean()),
            "loop_us_per_tile": float(((e[:, 4] - e[:, 3]) * us).sum()
                                      / max(1.0, (tiles - 1).sum())),
            "last_pv_us": float(((e[:, 5] - e[:, 4]) * us).mean()),
            "epilogue_us": float(((e[:, 6] - e[:, 5]) * us).mean()),
            "stage_out_us": float(((e[:, 17] - e[:, 5]) * us).mean()),
            "stage_barrier_us": float(((e[:, 18] - e[:, 17]) * us).mean())
            if np.all(e[:, 18] > 0) else 0.0,
            "first_k_wait_us": float((e[:, 16] * us).mean()),
        })
        if np.all(e[:, 20] > 0) and np.all(e[:, 22] > 0):
            out.update({
                "item_setup_us": float(((e[:, 22] - e[:, 1]) * us).mean()),
                "first_turn_us": float(((e[:, 20] - e[:, 22]) * us).mean()),
                "first_issue_us": float(((e[:, 21] - e[:, 20]) * us).mean()),
                "first_s_wait_us": float(((e[:, 2] - e[:, 21]) * us).mean()),
            })
        loop_tiles = max(1.0, (tiles - 1).sum())
        for name, col in (("ld", 8), ("turn", 9), ("issue", 14), ("s_wait", 12),
                          ("softmax", 15), ("pv_wait", 13), ("rescale_pack", 19)):
            out["tile_%s_us" % name] = float((e[:, col] * us).sum() / loop_tiles)
        out["tile_other_us"] = out["loop_us_per_tile"] - sum(
            out["tile_%s_us" % n] for n in ("ld", "turn", "issue", "s_wait", "softmax",
                                             "pv_wait", "rescale_pack"))
    out.update({
        "load_wait_us": float((e[:, 8] * us).mean()),
        "turn_wait_us": float((e[:, 9] * us).mean()),
        "s_wait_us": float((e[:, 12] * us).mean()),
        "pv_wait_us": float((e[:, 13] * us).mean()),
    })
    if np.ptp(tiles) > 0:
        b, a = np.polyfit(tiles, total, 1)
        out["fit_item_us"] = float(a)
        out["fit_tile_us"] = float(b)
    return out


def producer_phases(trace, ns_per_cycle):
    # Items with tiles only: an empty item issues no K (event 1 stays 0).
    rows = [trace[cta, 0, item] for cta in range(CTAS) for item in range(ITEMS)
            if trace[cta, 0, item, 0] != 0 and trace[cta, 0, item, 2] != 0
            and trace[cta, 0, item, 5] > 0]
    if not rows:
        return None
    e = np.array(rows, dtype=np.float64)
    us = ns_per_cycle / 1000.0
    return {"first_k_us": float(((e[:, 1] - e[:, 0]) * us).mean()),
            "empty_wait_us": float((e[:, 4] * us).mean()),
            "publish_us": float(((e[:, 3] - e[:, 7]) * us)[e[:, 3] > 0].mean())}


def boundary(trace, ns_per_cycle):
    """Per consumer, from one item's last P V done (5) to the next item's
    first S done (2): the tensor cores' view of the hand-over."""
    us = ns_per_cycle / 1000.0
    gaps = []
    for cta in range(CTAS):
        for group in range(1, GROUPS):
            for item in range(ITEMS - 1):
                a, b = trace[cta, group, item], trace[cta, group, item + 1]
                if a[5] and b[2] and b[7] > 0:
                    gaps.append((b[2] - a[5]) * us)
    return float(np.mean(gaps)) if gaps else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xfc", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--templates", default=os.path.join(HERE, "..", "templates"))
    ap.add_argument("--rows", default="sliding window@128,random d=0.05@128,fixed@128,"
                                      "random d=0.50@128,dense@128,bigbird@64")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.cuda.init()
    driver = Driver()
    driver.lib.cuMemcpyDtoH_v2.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_size_t]
    workdir = tempfile.mkdtemp()
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(bbs.B, bbs.H, bbs.S, bbs.D, device="cuda",
                           dtype=torch.bfloat16, generator=g) for _ in range(3))
    result = {"device": torch.cuda.get_device_name(), "date": time.strftime("%Y-%m-%d %H:%M"),
              "rows": []}
    for wanted in [r for r in args.rows.split(",") if r]:
        name, block = wanted.rsplit("@", 1)
        block = int(block)
        uniform = re.fullmatch(r"(same|band)(\d+)", name)
        if name == "dense":
            config = DENSE_CONFIG
        elif uniform:
            # n blocks in every row (bench/short_rows.py's layouts).
            config = bbs.config_for(block, None)
            config["layout"] = uniform_rows(uniform.group(1), int(uniform.group(2)), block)
        else:
            config = bbs.config_for(block, dict(bbs.layouts(block))[name])
        tag = bbs.tag_of(name, block)
        _, kernel, cubin, _ = bbs.compile_config(args.xfc, workdir, tag, config)
        source = os.path.join(workdir, tag, kernel["source"])
        traced_path = os.path.join(workdir, tag + "-trace.cubin")
        traced, traced_ptxas = nvcc_cubin(source, args.templates, traced_path,
                                          defines=("XFC_TRACE",))
        o = torch.full_like(q, float("nan"))
        plain, launch_plain = bbs.make_launch(driver, kernel, cubin, q, k, v, o)
        lk, launch = bbs.make_launch(driver, kernel, traced, q, k, v, o)
        pointer, size = read_trace(driver, lk)
        plain_ms = bench(launch_plain)
        traced_ms = bench(launch)
        driver.check(driver.lib.cuMemsetD8_v2(pointer, 0, size), "cuMemsetD8")
        torch.cuda.synchronize()
        launch()
        torch.cuda.synchronize()
        host = np.zeros(size // 8, dtype=np.int64)
        driver.check(driver.lib.cuMemcpyDtoH_v2(host.ctypes.data, pointer, size),
                     "cuMemcpyDtoH")
        trace = host.reshape(CTAS, GROUPS, ITEMS, EVENTS)
        # ns per cycle from the consumers' globaltimer and clock64 spans.
        c = trace[:, 1:, :, :]
        live = (c[..., 0] != 0) & (c[..., 6] != 0)
        cycles = (c[..., 6] - c[..., 0])[live].sum()
        ns = (c[..., 11] - c[..., 10])[live].sum()
        ns_per_cycle = float(ns) / float(cycles) if cycles else 0.0
        row = {"row": wanted, "tile": "%dx%d" % (kernel["traits"]["BlockM"],
                                                 kernel["traits"]["BlockN"]),
               "plain_ms": plain_ms, "traced_ms": traced_ms, "traced_ptxas": traced_ptxas,
               "clock_ghz": 1.0 / ns_per_cycle if ns_per_cycle else None,
               "consumer": phases(trace, ns_per_cycle),
               "producer": producer_phases(trace, ns_per_cycle),
               "boundary_us": boundary(trace, ns_per_cycle)}
        np.savez_compressed(os.path.join(args.out, tag + "-trace.npz"), trace=trace)
        lk.unload()
        plain.unload()
        result["rows"].append(row)
        print(json.dumps(row), flush=True)
    with open(os.path.join(args.out, "trace_items.json"), "w") as f:
        json.dump(result, f, indent=1)
    keys = ["item_us", "mean_tiles", "fit_item_us", "fit_tile_us", "q_wait_us", "first_s_us",
            "first_k_wait_us", "item_setup_us", "first_turn_us", "first_issue_us",
            "first_s_wait_us", "first_softmax_us", "last_pv_us", "epilogue_us",
            "stage_out_us", "stage_barrier_us", "loop_us_per_tile", "tile_ld_us",
            "tile_turn_us", "tile_issue_us", "tile_s_wait_us", "tile_softmax_us",
            "tile_pv_wait_us", "tile_rescale_pack_us", "tile_other_us"]
    lines = ["# Item timelines, %s, %s, %d×%d×%d×%d bf16" % (
        result["device"], result["date"], bbs.B, bbs.H, bbs.S, bbs.D), "",
        "Per consumer item, means in µs (tile_*: per main-loop tile; bench/trace_items.py's "
        "docstring says what each is). Traced kernels run slower than plain ones.", "",
        "| | " + " | ".join(r["row"] for r in result["rows"]) + " |",
        "|---" * (1 + len(result["rows"])) + "|"]
    head = [("tile", lambda r: r["tile"]), ("plain ms", lambda r: "%.3f" % r["plain_ms"]),
            ("traced ms", lambda r: "%.3f" % r["traced_ms"]),
            ("GHz", lambda r: "%.2f" % (r["clock_ghz"] or 0)),
            ("boundary_us", lambda r: "%.2f" % r["boundary_us"]
             if r["boundary_us"] is not None else "-")]
    for label, fn in head:
        lines.append("| %s | %s |" % (label, " | ".join(fn(r) for r in result["rows"])))
    for k in keys:
        lines.append("| %s | %s |" % (k, " | ".join(
            "%.2f" % (r["consumer"] or {})[k] if k in (r["consumer"] or {}) else "-"
            for r in result["rows"])))
    lines += ["", "Producer, per item (µs): first K issued after item top, empty waits, "
              "claim + publish of the next", ""]
    for r in result["rows"]:
        lines.append("- %s: %s" % (r["row"], json.dumps(r["producer"])))
    text = "\n".join(lines) + "\n"
    open(os.path.join(args.out, "trace_items.md"), "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
