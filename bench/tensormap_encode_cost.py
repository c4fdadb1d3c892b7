#!/usr/bin/env python3
"""Host cost of one cuTensorMapEncodeTiled call as the runtime makes it
(runtime/lib/AttentionPlan.cpp encodes four maps per wgmma launch: Q, K, V
and, for block-sparse kernels, O), to decide whether caching maps pays.

  tensormap_encode_cost.py [--calls N]   (needs a GPU; no kernel runs)
"""

import argparse
import ctypes
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=200000)
    args = ap.parse_args()
    cuda = ctypes.CDLL("libcuda.so.1")
    assert cuda.cuInit(0) == 0
    device, context = ctypes.c_int(), ctypes.c_void_p()
    assert cuda.cuDeviceGet(ctypes.byref(device), 0) == 0
    assert cuda.cuDevicePrimaryCtxRetain(ctypes.byref(context), device) == 0
    assert cuda.cuCtxSetCurrent(context) == 0
    memory = ctypes.c_uint64()
    assert cuda.cuMemAlloc_v2(ctypes.byref(memory), 2 * 16 * 8192 * 128 * 2) == 0
    encode = cuda.cuTensorMapEncodeTiled
    u64x4 = ctypes.c_uint64 * 4
    u64x3 = ctypes.c_uint64 * 3
    u32x4 = ctypes.c_uint32 * 4
    tensor_map = (ctypes.c_ubyte * 128)()
    dims = u64x4(128, 8192, 16, 2)          # head_dim, seq, heads, batch
    strides = u64x3(128 * 2, 8192 * 128 * 2, 16 * 8192 * 128 * 2)
    box = u32x4(64, 128, 1, 1)
    element_strides = u32x4(1, 1, 1, 1)
    address = ctypes.c_void_p(memory.value)
    bf16, no_interleave, swizzle_128b, l2_none, oob_none = 9, 0, 3, 0, 0

    def call():
        return encode(tensor_map, bf16, 4, address, dims, strides, box,
                      element_strides, no_interleave, swizzle_128b, l2_none,
                      oob_none)

    status = call()
    assert status == 0, "cuTensorMapEncodeTiled failed: CUresult %d" % status
    # The loop's own cost (ctypes overhead) measured with a trivial call.
    version = ctypes.c_int()
    start = time.perf_counter()
    for _ in range(args.calls):
        cuda.cuDriverGetVersion(ctypes.byref(version))
    empty = (time.perf_counter() - start) / args.calls
    start = time.perf_counter()
    for _ in range(args.calls):
        call()
    total = (time.perf_counter() - start) / args.calls
    print("cuTensorMapEncodeTiled: %.3f us a call (ctypes loop %.3f us subtracted); "
          "four a launch: %.2f us" % ((total - empty) * 1e6, empty * 1e6,
                                       4 * (total - empty) * 1e6))


if __name__ == "__main__":
    main()
