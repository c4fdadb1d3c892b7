#!/usr/bin/env python3
"""Checks xfc attention kernels against an fp64 PyTorch reference.

  check_attention.py [--log-dir DIR] [--quick] KERNEL_DIR...

Each KERNEL_DIR holds `kernel.cubin` and `kernel.json` (written by gen_tu.py:
traits, symbol, block layout) and optionally `ptxas.log` (spills fail the
kernel). For every kernel, random inputs over several batch/head/qLen/kvLen
shapes (odd ones, strided layouts, large logits), with the masks the traits
enable; outputs are poisoned with NaN first. Checked: ||out - ref|| / ||ref||
<= 1e-2 (f16/bf16) or 1e-5 (fp32); no NaN; rows that see no key exactly 0;
rows >= qLen untouched; lse; dropout keep rate ~ 1 - p, the same mask for the
same seed and offset, another for another seed.

Prints one line per kernel and `N passed, N failed`; appends to
DIR/check.log and DIR/results.jsonl. A kernel that breaks the CUDA context
(illegal address) is recorded and the remaining kernels continue in a fresh
process.
"""

import argparse
import json
import math
import os
import re
import sys
import time
import traceback
import zlib

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cubin_runner import (CubinKernel, Driver, DriverError, attention_params,  # noqa: E402
                          CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES, CU_FUNC_ATTRIBUTE_NUM_REGS, tma_tiles)

DTYPES = {"f16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
TOLERANCE = {"f16": 1e-2, "bf16": 1e-2, "fp32": 1e-5}
LSE_TOLERANCE = {"f16": 2e-3, "bf16": 2e-3, "fp32": 1e-4}
DEV = "cuda"


class CheckFailure(Exception):
    pass


def ptxas_report(kernel_dir):
    path = os.path.join(kernel_dir, "ptxas.log")
    if not os.path.exists(path):
        return None
    text = open(path).read()
    regs = re.findall(r"Used (\d+) registers", text)
    spills = [int(x) for x in re.findall(r"(\d+) bytes spill (?:stores|loads)", text)]
    stack = [int(x) for x in re.findall(r"(\d+) bytes stack frame", text)]
    return {"regs": int(regs[0]) if regs else None,
            "spill": sum(spills), "stack": sum(stack)}


def make_qkv_tensor(b, h, s, d, dtype, layout, gen, scale=1.0):
    """A [b, h, s, d] view; 'bshd' stores it as [b, s, h, d] (FairSeq-like)."""
    if layout == "bshd":
        base = torch.randn(b, s, h, d, generator=gen, device=DEV) * scale
        return base.to(dtype).permute(0, 2, 1, 3)
    return (torch.randn(b, h, s, d, generator=gen, device=DEV) * scale).to(dtype)


def make_output(b, h, s, d, dtype, layout):
    """A NaN-poisoned buffer with 5 extra rows; returns (full, view)."""
    if layout == "bshd":
        full = torch.full((b, s + 5, h, d), float("nan"), dtype=dtype, device=DEV)
        return full, full[:, :s].permute(0, 2, 1, 3)
    full = torch.full((b, h, s + 5, d), float("nan"), dtype=dtype, device=DEV)
    return full, full[:, :, :s]


def tail_rows(full, s, layout):
    return full[:, s:] if layout == "bshd" else full[:, :, s:]


MASK64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


def splitmix64_int(z):
    """SplitMix64's output function on one Python int."""
    z &= MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def _s64(x):
    """A uint64 constant as the int64 with the same bits."""
    x &= MASK64
    return x - (1 << 64) if x >= 1 << 63 else x


def _shr(z, s):
    """Logical right shift of int64 tensors holding uint64 bits."""
    return (z >> s) & ((1 << (64 - s)) - 1)


def splitmix64_tensor(z):
    """SplitMix64's output function on int64 tensors (uint64 bits; products
    wrap modulo 2^64)."""
    z = (z ^ _shr(z, 30)) * _s64(0xBF58476D1CE4E5B9)
    z = (z ^ _shr(z, 27)) * _s64(0x94D049BB133111EB)
    return z ^ _shr(z, 31)


def _random_bits(key, q_len, kv_len):
    """[q, kv] int64: the top 32 bits of output i * 2^32 + j + 1 of the
    SplitMix64 stream of `key`."""
    i = torch.arange(q_len, dtype=torch.int64).view(-1, 1)
    j = torch.arange(kv_len, dtype=torch.int64).view(1, -1)
    n = (i << 32) + j + 1
    return _shr(splitmix64_tensor(_s64(key) + n * _s64(GAMMA)), 32)


_RANDOM_CHECKED = []


def random_keep(spec, q_len, kv_len, seed=0, offset=0):
    """[q, kv] bool of the random variant's pattern, written from its
    definition (docs/config.md): (i, j) is kept when output i * 2^32 + j + 1
    of SplitMix64 seeded with the pattern's seed, shifted right by 32, is
    below RandomThreshold = ceil(r * 2^32); a per-call pattern's seed is
    RandomSeed ^ splitmix64(seed + splitmix64(offset + gamma))."""
    if not _RANDOM_CHECKED:
        # The tensor version must agree with plain integers (wrapping int64
        # products are what it relies on).
        key = 0x123456789ABCDEF0
        bits = _random_bits(key, 5, 7)
        for a in range(5):
            for b in range(7):
                want = splitmix64_int(key + (((a << 32) + b + 1) * GAMMA)) >> 32
                if int(bits[a, b]) != want:
                    raise CheckFailure("reference hash: int64 tensor arithmetic "
                                       "does not wrap as expected")
        _RANDOM_CHECKED.append(True)
    key = spec["random_seed"] & MASK64
    if spec.get("random_per_call"):
        key ^= splitmix64_int(seed + splitmix64_int(offset + GAMMA))
    keep = _random_bits(key, q_len, kv_len) < spec["random_threshold"]
    return keep.to(DEV)


def structural_visible(spec, q_len, kv_len, seed=0, offset=0):
    """[LH or 1, q, kv] bool: bounds, causality, window, random pattern,
    global tokens, layout bits."""
    i = torch.arange(q_len, device=DEV).view(-1, 1)
    j = torch.arange(kv_len, device=DEV).view(1, -1)
    vis = torch.ones(q_len, kv_len, dtype=torch.bool, device=DEV)
    if spec["causal"]:
        vis &= j <= i
    if spec.get("random_threshold", 0) > 0:
        vis &= random_keep(spec, q_len, kv_len, seed, offset)
    if spec.get("global_bits"):
        # Global tokens: i or j global; tokens past the table are not.
        g = torch.tensor(spec["global_bits"], dtype=torch.bool, device=DEV)
        n = max(q_len, kv_len, g.numel())
        g = torch.cat([g, torch.zeros(n - g.numel(), dtype=torch.bool, device=DEV)])
        vis &= g[:q_len].view(-1, 1) | g[:kv_len].view(1, -1)
    # A sliding window (local attention): i - left <= j <= i + right.
    if spec.get("window_left", -1) >= 0:
        vis &= j >= i - spec["window_left"]
    if spec.get("window_right", -1) >= 0:
        vis &= j <= i + spec["window_right"]
    layout = spec["layout"]
    if not layout:
        return vis.unsqueeze(0)
    lb, nb = layout["block"], layout["num_blocks"]
    bits = torch.tensor(layout["bits"], dtype=torch.bool, device=DEV)  # [LH, nb, nb]
    ib = (i // lb).clamp(max=nb - 1).view(-1)
    jb = (j // lb).clamp(max=nb - 1).view(-1)
    in_range = (i < nb * lb) & (j < nb * lb)
    return bits[:, ib][:, :, jb] & (vis & in_range).unsqueeze(0)


def reference(spec, q, k, v, scale, attn_mask, key_padding, keep, p_drop, seed=0, offset=0):
    """fp64 attention; returns (out, lse, probabilities, row_has_key)."""
    qd, kd, vd = q.double(), k.double(), v.double()
    s = torch.matmul(qd, kd.transpose(-1, -2)) * scale
    if attn_mask is not None:
        s = s + attn_mask.double()
    vis = structural_visible(spec, q.shape[2], k.shape[2], seed, offset).unsqueeze(0)  # [1, LH|1, q, kv]
    if key_padding is not None:
        vis = vis & (key_padding == 0).view(key_padding.shape[0], 1, 1, -1)
    s = s.masked_fill(~vis, float("-inf"))
    m = s.amax(dim=-1, keepdim=True)
    m = torch.where(torch.isinf(m) & (m < 0), torch.zeros_like(m), m)
    e = torch.exp(s - m)
    l = e.sum(dim=-1, keepdim=True)
    probs = torch.where(l > 0, e / torch.where(l > 0, l, torch.ones_like(l)), torch.zeros_like(e))
    lse = torch.where(l > 0, torch.log(torch.where(l > 0, l, torch.ones_like(l))) + m,
                      torch.full_like(l, float("-inf"))).squeeze(-1)
    p_used = probs
    if keep is not None:
        p_used = probs * keep.double() / (1.0 - p_drop)
    out = torch.matmul(p_used, vd)
    return out, lse, probs, (l.squeeze(-1) > 0)


class Runner:
    def __init__(self, driver, kernel_dir):
        self.dir = kernel_dir
        self.spec = json.load(open(os.path.join(kernel_dir, "kernel.json")))
        cubin = open(os.path.join(kernel_dir, "kernel.cubin"), "rb").read()
        self.kernel = CubinKernel(driver, cubin, self.spec["symbol"], self.spec["shared_bytes"])
        if self.spec.get("tables_at_load"):
            self.kernel.fill_tables(self.spec["symbol"], self.spec["tables_at_load"])
        self.dtype = DTYPES[self.spec["dtype"]]
        # AttentionParams.persistentCtas, cycled over the launches: 0 (one
        # work item per CTA), the CTAs that fit at once (what the runtime
        # passes) and 3 (every CTA walks many items, empty ones included).
        # Kernels without persistent launches ignore it.
        sms = torch.cuda.get_device_properties(0).multi_processor_count
        self.persistent_modes = [
            0, self.kernel.resident_ctas(self.spec["num_warps"] * 32, sms), 3]
        self.launches = 0
        self.tma_launches = 0
        self.counter_launches = 0
        # The sm_90a wgmma kernel loads with TMA given tensor maps, with
        # cp.async otherwise: launches alternate between the two (and, with
        # the persistent modes' period 3, meet every pairing).
        spec = self.spec
        arch = spec.get("arch") or ("sm_90a" if spec.get("wgmma") else "")
        self.kernel.tma = tma_tiles(arch, spec["dtype"], spec["head_dim"], spec["block_m"],
                                    spec["block_n"], spec["num_warps"],
                                    (spec.get("layout") or {}).get("tile_blocks", 1))

    def heads_for(self, h):
        layout = self.spec["layout"]
        if layout and len(layout["bits"]) > 1:
            return len(layout["bits"])
        return h

    def launch(self, q, k, v, o, scale, attn_mask=None, key_padding=None, lse=None,
               p_drop=0.0, seed=0, offset=0):
        b, h, q_len, d = q.shape
        prm = attention_params(q, k, v, o, scale)
        prm.dropoutP = p_drop
        prm.dropoutSeed, prm.dropoutOffset = seed, offset
        if attn_mask is not None:
            prm.attnMask = attn_mask.data_ptr()
            prm.attnMaskBatchStride = attn_mask.stride(0)
            prm.attnMaskHeadStride = attn_mask.stride(1)
            prm.attnMaskRowStride = attn_mask.stride(2)
            assert attn_mask.stride(3) == 1
        if key_padding is not None:
            prm.keyPadding = key_padding.data_ptr()
            prm.keyPaddingBatchStride = key_padding.stride(0)
        if lse is not None:
            prm.lse = lse.data_ptr()
        prm.persistentCtas = self.persistent_modes[self.launches % len(self.persistent_modes)]
        self.kernel.use_tma = self.launches % 2 == 0
        # Work counter (dynamic items) on two launches of four: with the
        # periods 2 and 3 above, every pairing over 12 launches.
        self.kernel.use_counter = self.launches % 4 < 2
        if self.kernel.tma and self.kernel.use_counter and prm.persistentCtas:
            self.counter_launches += 1
        self.launches += 1
        spec = self.spec
        grid = ((q_len + spec["block_m"] - 1) // spec["block_m"], h, b)
        block = (spec["num_warps"] * 32, 1, 1)
        self.kernel.launch(prm, grid, block, torch.cuda.current_stream().cuda_stream)
        if self.kernel.tma and self.kernel.use_tma and prm.tmaLoads:
            self.tma_launches += 1
        torch.cuda.synchronize()

    def case_inputs(self, b, h, q_len, kv_len, layout, gen, big_logits=False,
                    mask_kind="full"):
        spec, d = self.spec, self.spec["head_dim"]
        q = make_qkv_tensor(b, h, q_len, d, self.dtype, layout, gen, 30.0 if big_logits else 1.0)
        k = make_qkv_tensor(b, h, kv_len, d, self.dtype, layout, gen)
        v = make_qkv_tensor(b, h, kv_len, d, self.dtype, layout, gen)
        attn_mask = key_padding = None
        if spec["has_attn_mask"]:
            if mask_kind == "full":
                attn_mask = torch.randn(b, h, q_len, kv_len, generator=gen, device=DEV) * 2
                drop = torch.rand(attn_mask.shape, generator=gen, device=DEV) < 0.1
                attn_mask = attn_mask.masked_fill(drop, float("-inf"))
                attn_mask[:, :, q_len // 2, :] = float("-inf")  # a fully masked row
            else:  # [q, kv] broadcast over batch and heads: zero strides.
                base = torch.randn(q_len, kv_len, generator=gen, device=DEV) * 2
                drop = torch.rand(base.shape, generator=gen, device=DEV) < 0.1
                base = base.masked_fill(drop, float("-inf"))
                base[q_len // 3, :] = float("-inf")
                attn_mask = base.view(1, 1, q_len, kv_len).expand(b, h, q_len, kv_len)
        if spec["has_key_padding"]:
            key_padding = (torch.rand(b, kv_len, generator=gen, device=DEV) < 0.2).to(torch.uint8)
            if b > 1:
                key_padding[1, :] = 1  # a batch entry that sees nothing
        return q, k, v, attn_mask, key_padding

    def run_case(self, b, h, q_len, kv_len, layout, gen, big_logits=False, mask_kind="full",
                 seed=0, offset=0):
        spec, d = self.spec, self.spec["head_dim"]
        h = self.heads_for(h)
        q, k, v, attn_mask, key_padding = self.case_inputs(
            b, h, q_len, kv_len, layout, gen, big_logits, mask_kind)
        full, o = make_output(b, h, q_len, d, self.dtype, layout)
        lse = None
        if spec["write_lse"]:
            lse = torch.full((b, h, q_len), float("nan"), dtype=torch.float32, device=DEV)
        scale = 1.0 / math.sqrt(d)
        # seed/offset select a per-call random pattern (dropout is off here).
        self.launch(q, k, v, o, scale, attn_mask, key_padding, lse, 0.0, seed, offset)
        ref, ref_lse, _, has_key = reference(spec, q, k, v, scale, attn_mask, key_padding,
                                             None, 0.0, seed, offset)
        # fp32 scores of |s| ~ 100 carry ~1e-5 absolute rounding, which the
        # peaked softmax turns into relative error: the large-logit case
        # checks overflow handling at 1e-4 in fp32.
        tol = TOLERANCE[spec["dtype"]]
        if big_logits:
            tol = max(tol, 1e-4)
        return self.compare(o, full, q_len, layout, ref, lse, ref_lse, has_key, tol)

    def compare(self, o, full, q_len, layout, ref, lse, ref_lse, has_key, tol):
        dtype_name = self.spec["dtype"]
        out = o.double()
        if torch.isnan(out).any():
            raise CheckFailure("NaN in the output (%d elements)" % int(torch.isnan(out).sum()))
        if not torch.isnan(tail_rows(full, q_len, layout)).all():
            raise CheckFailure("rows >= qLen were written")
        empty = ~has_key
        if empty.any() and (out[empty] != 0).any():
            raise CheckFailure("a row with no visible key is not exactly 0")
        ref_norm = ref.norm().item()
        err = (out - ref).norm().item()
        rel = err / ref_norm if ref_norm > 0 else err
        if not rel <= tol:
            raise CheckFailure("relative error %.3g > %.0e" % (rel, tol))
        lse_err = 0.0
        if lse is not None:
            if torch.isnan(lse).any():
                raise CheckFailure("lse has NaN (unwritten rows?)")
            fin = torch.isfinite(ref_lse)
            if not torch.equal(torch.isfinite(lse), fin) or (lse[~fin] != float("-inf")).any():
                raise CheckFailure("lse -inf pattern differs from the reference")
            if fin.any():
                diff = (lse.double()[fin] - ref_lse[fin]).abs() / (1.0 + ref_lse[fin].abs())
                lse_err = diff.max().item()
                if lse_err > LSE_TOLERANCE[dtype_name]:
                    raise CheckFailure("lse error %.3g" % lse_err)
        return rel, lse_err

    def shapes(self, quick):
        layout = self.spec["layout"]
        if self.spec.get("global_bits"):
            # global fixes the length to its mask's N (the runtime refuses any
            # other), and the kernel's tile lists are specialised on it.
            n = len(self.spec["global_bits"])
            shapes = [(1, 2, n, n), (2, 3, n, n), (1, 1, n, n)]
        elif layout:
            n = layout["num_blocks"] * layout["block"]
            shapes = [(1, 2, n, n), (2, 3, n - 37, n - 37), (1, 2, n - 5, n - 70),
                      (2, 1, n - 70, n - 3), (1, 2, n + 9, n + 20), (1, 1, 1, 1), (1, 1, 17, 5)]
        else:
            shapes = [(1, 1, 1, 1), (2, 3, 77, 77), (1, 2, 130, 257), (2, 2, 257, 130),
                      (1, 2, 600, 600), (3, 1, 64, 64), (1, 1, 5, 333), (2, 4, 1031, 1029)]
        return shapes[:2] if quick else shapes

    def check_dropout(self, gen):
        """Recovers the keep mask with one-hot V (kvLen <= HeadDim)."""
        spec, d = self.spec, self.spec["head_dim"]
        p_drop, seed, offset = 0.3, 1234, 7
        b, h = 2, self.heads_for(2)
        kv_len = d - 3
        q_len = 97 if not spec["layout"] else min(97, spec["layout"]["num_blocks"] * spec["layout"]["block"])
        scale = 1.0 / math.sqrt(d)
        q = make_qkv_tensor(b, h, q_len, d, self.dtype, "bhsd", gen, 0.5)
        k = make_qkv_tensor(b, h, kv_len, d, self.dtype, "bhsd", gen)
        attn_mask = key_padding = None
        if spec["has_attn_mask"]:
            attn_mask = torch.zeros(b, h, q_len, kv_len, device=DEV)
        if spec["has_key_padding"]:
            key_padding = torch.zeros(b, kv_len, dtype=torch.uint8, device=DEV)
            key_padding[0, 3] = 1
        one_hot = torch.zeros(b, h, kv_len, d, device=DEV)
        one_hot[:, :, torch.arange(kv_len), torch.arange(kv_len)] = 1
        one_hot = one_hot.to(self.dtype)

        # A WriteLse kernel always writes lse: give it somewhere to.
        lse = None
        if spec["write_lse"]:
            lse = torch.empty(b, h, q_len, dtype=torch.float32, device=DEV)

        def run(v, seed_, offset_):
            full, o = make_output(b, h, q_len, d, self.dtype, "bhsd")
            self.launch(q, k, v, o, scale, attn_mask, key_padding, lse, p_drop, seed_, offset_)
            if torch.isnan(o).any():
                raise CheckFailure("dropout: NaN in the output")
            return o.double().clone()

        _, _, probs, _ = reference(spec, q, k, one_hot, scale, attn_mask, key_padding, None, 0.0)
        out1 = run(one_hot, seed, offset)
        expected = probs / (1.0 - p_drop)
        # Entries too small to classify are assumed kept; in fp32 the one-hot
        # recovery resolves far smaller ones, and it must: the fp32 bound is
        # 1e-5, which unclassified entries of 1e-3 would already break. In 16
        # bits an output of 2e-5 still has 0.4% precision (fp16 subnormals:
        # 6e-8 steps); with 1e-3, HeadDim 256 (up to 256 keys of about 1/256)
        # left so many unclassified that the recovered mask was off by 1%.
        known = probs > (1e-6 if spec["dtype"] == "fp32" else 2e-5)
        ratio = torch.where(known, out1[..., :kv_len] / torch.where(known, expected, torch.ones_like(expected)),
                            torch.zeros_like(expected))
        keep = ratio > 0.5
        clean = ((ratio[known] - 1).abs() < 0.03) | (ratio[known].abs() < 0.03)
        if not clean.all():
            raise CheckFailure("dropout: kept probabilities are not scaled by 1/(1-p)")
        n = int(known.sum())
        rate = keep[known].double().mean().item()
        sigma = math.sqrt(p_drop * (1 - p_drop) / max(n, 1))
        if abs(rate - (1 - p_drop)) > 5 * sigma + 0.005:
            raise CheckFailure("dropout: keep rate %.4f, expected %.2f (n=%d)" % (rate, 1 - p_drop, n))
        # The same seed gives the same mask with other values.
        v = make_qkv_tensor(b, h, kv_len, d, self.dtype, "bhsd", gen)
        out2 = run(v, seed, offset)
        keep_ref = torch.where(known, keep, torch.ones_like(keep))
        ref, _, _, _ = reference(spec, q, k, v, scale, attn_mask, key_padding, keep_ref, p_drop)
        rel = (out2 - ref).norm().item() / max(ref.norm().item(), 1e-30)
        if rel > TOLERANCE[spec["dtype"]]:
            raise CheckFailure("dropout: output with the recovered mask off by %.3g" % rel)
        if not torch.equal(out2, run(v, seed, offset)):
            raise CheckFailure("dropout: same seed, different output")
        for other_seed, other_offset in ((seed + 1, offset), (seed, offset + 1)):
            out3 = run(one_hot, other_seed, other_offset)
            ratio3 = out3[..., :kv_len][known] / expected[known]
            differ = ((ratio3 > 0.5) != keep[known]).double().mean().item()
            if differ < 0.25:
                raise CheckFailure("dropout: seed/offset change altered only %.3f of the mask" % differ)
        # p = 0 keeps everything.
        full, o = make_output(b, h, q_len, d, self.dtype, "bhsd")
        self.launch(q, k, v, o, scale, attn_mask, key_padding, lse, 0.0, seed, offset)
        ref0, _, _, _ = reference(spec, q, k, v, scale, attn_mask, key_padding, None, 0.0)
        rel0 = (o.double() - ref0).norm().item() / max(ref0.norm().item(), 1e-30)
        if rel0 > TOLERANCE[spec["dtype"]]:
            raise CheckFailure("dropout: p = 0 differs from plain attention (%.3g)" % rel0)
        return rate, rel


def check_kernel(driver, kernel_dir, quick):
    name = os.path.basename(os.path.normpath(kernel_dir))
    result = {"name": name, "ok": False}
    report = ptxas_report(kernel_dir)
    if report:
        result.update(report)
    runner = None
    try:
        if not os.path.exists(os.path.join(kernel_dir, "kernel.cubin")):
            log = os.path.join(kernel_dir, "ptxas.log")
            first = open(log).read().strip().splitlines()[:3] if os.path.exists(log) else []
            raise CheckFailure("no kernel.cubin (compile failed): " + " | ".join(first))
        runner = Runner(driver, kernel_dir)
        spec = runner.spec
        result["dtype"] = spec["dtype"]
        result["local_bytes"] = runner.kernel.attribute(CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES)
        result["regs"] = runner.kernel.attribute(CU_FUNC_ATTRIBUTE_NUM_REGS)
        gen = torch.Generator(device=DEV)
        gen.manual_seed(zlib.crc32(name.encode()))
        worst, worst_lse, cases = 0.0, 0.0, 0
        for idx, (b, h, q_len, kv_len) in enumerate(runner.shapes(quick)):
            layout = "bshd" if idx % 2 else "bhsd"
            mask_kind = "full" if idx % 3 else "broadcast"
            big = idx == 2
            # A per-call random pattern gets another (seed, offset) per case.
            seed, offset = (1000 + idx, 3 * idx) if spec.get("random_per_call") else (0, 0)
            try:
                rel, lse_err = runner.run_case(b, h, q_len, kv_len, layout, gen, big, mask_kind,
                                               seed, offset)
            except CheckFailure as e:
                raise CheckFailure("b=%d h=%d q=%d kv=%d %s%s: %s" % (
                    b, h, q_len, kv_len, layout, " big" if big else "", e))
            if big:
                result["big_logits_rel_err"] = rel
            else:
                worst = max(worst, rel)
            worst_lse = max(worst_lse, lse_err)
            cases += 1
        result.update(rel_err=worst, lse_err=worst_lse, cases=cases)
        if spec["has_dropout"]:
            rate, rel = runner.check_dropout(gen)
            result.update(keep_rate=rate, dropout_rel_err=rel)
            result["rel_err"] = max(worst, rel)
        problems = []
        if report and (report["spill"] or report["stack"]):
            problems.append("ptxas spills (%d bytes spill, %d bytes stack)" % (
                report["spill"], report["stack"]))
        if result["local_bytes"]:
            problems.append("%d bytes of local memory" % result["local_bytes"])
        if problems:
            raise CheckFailure("; ".join(problems))
        result["launches"] = runner.launches
        result["tma_launches"] = runner.tma_launches
        result["counter_launches"] = runner.counter_launches
        result["ok"] = True
    except CheckFailure as e:
        result["error"] = str(e)
    except (DriverError, RuntimeError) as e:
        result["error"] = "%s: %s" % (type(e).__name__, e)
        result["fatal"] = True
    except Exception as e:  # noqa: BLE001 - report anything and go on
        result["error"] = "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc())
    finally:
        if runner is not None and not result.get("fatal"):
            runner.kernel.unload()
    return result


def bench_kernel(driver, kernel_dir, b=8, h=16, s=2048, iters=20):
    """Median time of one forward on random inputs; TFLOP/s with
    FLOPs = 4 B H S^2 D (halved when causal)."""
    runner = Runner(driver, kernel_dir)
    spec, d = runner.spec, runner.spec["head_dim"]
    gen = torch.Generator(device=DEV)
    gen.manual_seed(0)
    q, k, v = (make_qkv_tensor(b, h, s, d, runner.dtype, "bhsd", gen) for _ in range(3))
    o = torch.empty_like(q)
    lse = torch.empty(b, h, s, dtype=torch.float32, device=DEV) if spec["write_lse"] else None
    mask = pad = None
    if spec["has_attn_mask"]:
        mask = torch.zeros(1, 1, s, s, device=DEV).expand(b, h, s, s)
    if spec["has_key_padding"]:
        pad = torch.zeros(b, s, dtype=torch.uint8, device=DEV)
    args = (q, k, v, o, 1.0 / math.sqrt(d), mask, pad, lse)
    for _ in range(3):
        runner.launch(*args)
    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        runner.launch(*args)
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    ms = sorted(times)[len(times) // 2]
    flops = 4.0 * b * h * s * s * d / (2 if spec["causal"] else 1)
    regs = runner.kernel.attribute(CU_FUNC_ATTRIBUTE_NUM_REGS)
    runner.kernel.unload()
    return "%-28s B=%d H=%d S=%d D=%d: %.3f ms, %.1f TFLOP/s (regs %d)" % (
        spec["name"], b, h, s, d, ms, flops / ms / 1e9, regs)


def format_result(r):
    if r["ok"]:
        extra = " keep=%.4f" % r["keep_rate"] if "keep_rate" in r else ""
        return "PASS %-34s rel=%.2e big=%.1e lse=%.1e regs=%s%s" % (
            r["name"], r["rel_err"], r.get("big_logits_rel_err", 0.0), r["lse_err"],
            r.get("regs"), extra)
    return "FAIL %-34s %s" % (r["name"], r.get("error"))


def summarize(results_path, out):
    results = [json.loads(line) for line in open(results_path)]
    passed = sum(1 for r in results if r["ok"])
    failed = len(results) - passed
    lines = []
    by_dtype = {}
    for r in results:
        if "rel_err" in r:
            d = by_dtype.setdefault(r.get("dtype", "?"), [0.0, ""])
            if r["rel_err"] >= d[0]:
                by_dtype[r.get("dtype", "?")] = [r["rel_err"], r["name"]]
    for dtype, (err, name) in sorted(by_dtype.items()):
        lines.append("worst rel error %s: %.3e (%s)" % (dtype, err, name))
    regs = [r.get("regs") for r in results if r.get("regs")]
    if regs:
        lines.append("registers: min %d, max %d; kernels with spills/local memory: %d" % (
            min(regs), max(regs),
            sum(1 for r in results if r.get("spill") or r.get("stack") or r.get("local_bytes"))))
    tma = [r for r in results if r.get("tma_launches")]
    lines.append("TMA loads: %d kernels, %d of their %d launches (the rest cp.async)" % (
        len(tma), sum(r["tma_launches"] for r in tma), sum(r["launches"] for r in tma)))
    lines.append("work counter (dynamic items): %d persistent launches" % sum(
        r.get("counter_launches", 0) for r in results))
    for r in results:
        if not r["ok"]:
            lines.append("failed: %s: %s" % (r["name"], r.get("error", "").splitlines()[0]))
    lines.append("%d passed, %d failed" % (passed, failed))
    text = "\n".join(lines)
    print(text)
    if out:
        with open(out, "w") as f:
            f.write(text + "\n")
    return failed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="*")
    parser.add_argument("--log-dir", default=".")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--fresh", action="store_true", help="truncate the logs first")
    parser.add_argument("--summary", default="")
    parser.add_argument("--bench", default="", help="time the kernels, write lines here")
    args = parser.parse_args()
    os.makedirs(args.log_dir, exist_ok=True)
    log_path = os.path.join(args.log_dir, "check.log")
    results_path = os.path.join(args.log_dir, "results.jsonl")
    if args.fresh:
        open(log_path, "w").close()
        open(results_path, "w").close()

    torch.cuda.init()
    torch.zeros(1, device=DEV).add_(1)
    torch.cuda.synchronize()
    driver = Driver()
    if args.bench:
        lines = []
        for kernel_dir in args.dirs:
            try:
                lines.append(bench_kernel(driver, kernel_dir))
            except Exception as e:  # noqa: BLE001 - a benchmark is informational
                lines.append("%s: %s: %s" % (kernel_dir, type(e).__name__, e))
            print(lines[-1], flush=True)
        with open(args.bench, "w") as f:
            f.write("\n".join(lines) + "\n")
        return 0
    dirs = list(args.dirs)
    while dirs:
        kernel_dir = dirs.pop(0)
        t0 = time.time()
        r = check_kernel(driver, kernel_dir, args.quick)
        r["seconds"] = round(time.time() - t0, 2)
        line = format_result(r)
        print(line, flush=True)
        with open(log_path, "a") as f:
            f.write(line + "\n")
            if not r["ok"] and "\n" in r.get("error", ""):
                f.write(r["error"] + "\n")
        with open(results_path, "a") as f:
            f.write(json.dumps(r) + "\n")
        if r.get("fatal") and dirs:
            # The context may be broken: go on in a fresh process.
            sys.stdout.flush()
            cmd = [sys.executable, os.path.abspath(__file__), "--log-dir", args.log_dir]
            if args.quick:
                cmd.append("--quick")
            if args.summary:
                cmd += ["--summary", args.summary]
            os.execv(sys.executable, cmd + dirs)
    failed = summarize(results_path, args.summary)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
