"""Loads an xfc cubin through the CUDA driver API (ctypes) and launches it.

Runs inside PyTorch's primary context: call torch.cuda.init() and run one tiny
op before loading, then pass tensors' data_ptr()s and
torch.cuda.current_stream().cuda_stream. Needs only libcuda.so.1.
"""

import ctypes
import os
import math

CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8
CU_FUNC_ATTRIBUTE_NUM_REGS = 4
CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES = 3


class AttentionParams(ctypes.Structure):
    """Byte-for-byte mirror of templates/xfc/attention_params.h (version 5;
    the C++ struct aligns the tensor maps to 64 bytes, here explicit padding
    does)."""

    _fields_ = [
        ("q", ctypes.c_void_p), ("k", ctypes.c_void_p),
        ("v", ctypes.c_void_p), ("o", ctypes.c_void_p),
        ("qBatchStride", ctypes.c_longlong), ("qHeadStride", ctypes.c_longlong),
        ("qSeqStride", ctypes.c_longlong),
        ("kBatchStride", ctypes.c_longlong), ("kHeadStride", ctypes.c_longlong),
        ("kSeqStride", ctypes.c_longlong),
        ("vBatchStride", ctypes.c_longlong), ("vHeadStride", ctypes.c_longlong),
        ("vSeqStride", ctypes.c_longlong),
        ("oBatchStride", ctypes.c_longlong), ("oHeadStride", ctypes.c_longlong),
        ("oSeqStride", ctypes.c_longlong),
        ("batch", ctypes.c_int), ("heads", ctypes.c_int),
        ("qLen", ctypes.c_int), ("kvLen", ctypes.c_int),
        ("scaleLog2", ctypes.c_float), ("dropoutP", ctypes.c_float),
        ("dropoutSeed", ctypes.c_ulonglong), ("dropoutOffset", ctypes.c_ulonglong),
        ("attnMask", ctypes.c_void_p),
        ("attnMaskBatchStride", ctypes.c_longlong),
        ("attnMaskHeadStride", ctypes.c_longlong),
        ("attnMaskRowStride", ctypes.c_longlong),
        ("keyPadding", ctypes.c_void_p),
        ("keyPaddingBatchStride", ctypes.c_longlong),
        ("lse", ctypes.c_void_p),
        ("persistentCtas", ctypes.c_int),
        ("tmaLoads", ctypes.c_int), ("tmaStores", ctypes.c_int),
        ("_padToTensorMaps", ctypes.c_ubyte * 20),
        ("tmaQ", ctypes.c_ubyte * 128), ("tmaK", ctypes.c_ubyte * 128),
        ("tmaV", ctypes.c_ubyte * 128), ("tmaO", ctypes.c_ubyte * 128),
        ("workCounter", ctypes.c_void_p),
        ("_padTo64", ctypes.c_ubyte * 56),
    ]


assert ctypes.sizeof(AttentionParams) == 832, "AttentionParams layout changed"
assert AttentionParams.tmaQ.offset == 256, "tensor maps must be 64-byte aligned"


def tma_tiles(arch, dtype, head_dim, block_m, block_n, num_warps, tile_blocks=1):
    """(bf16, head_dim, block_m, K/V box rows) when the kernel is the sm_90a
    wgmma one, which loads with TMA given tensor maps; None otherwise (as the
    runtime's takesTensorMaps decides). The K/V boxes are block_n rows, or
    block_n / tile_blocks where the kernel gathers layout blocks into a
    tile (the layout tables' TileBlocks)."""
    if (arch == "sm_90a" and dtype in ("fp16", "f16", "bf16") and head_dim in (64, 128, 256)
            and block_m % 64 == 0 and num_warps == 4 * (block_m // 64 + 1)):
        return (dtype == "bf16", head_dim, block_m, block_n // tile_blocks)
    return None


def attention_params(q, k, v, o, scale):
    """AttentionParams for q and o [batch, heads, q_len, d], k and v
    [batch, heads, kv_len, d] (torch tensors, last dimension contiguous):
    pointers, strides, sizes and the softmax scale in log2 units. Masks,
    dropout, LSE and persistentCtas stay unset (0)."""
    prm = AttentionParams()
    prm.q, prm.k, prm.v, prm.o = q.data_ptr(), k.data_ptr(), v.data_ptr(), o.data_ptr()
    for name, t in (("q", q), ("k", k), ("v", v), ("o", o)):
        assert t.stride(3) == 1, name + ": the last dimension must be contiguous"
        setattr(prm, name + "BatchStride", t.stride(0))
        setattr(prm, name + "HeadStride", t.stride(1))
        setattr(prm, name + "SeqStride", t.stride(2))
    prm.batch, prm.heads, prm.qLen = q.shape[0], q.shape[1], q.shape[2]
    prm.kvLen = k.shape[2]
    prm.scaleLog2 = scale * math.log2(math.e)
    return prm


def load_manifest_kernel(driver, kernel_info, cubin, tma=True):
    """A CubinKernel of one manifest kernel (`kernels[i]` of manifest.json),
    set up as the runtime launches it: layout tables filled when the manifest
    says `tables_at_load`, and for the sm_90a wgmma kernel TMA loads (tensor
    maps; tma=False gives the same cubin with cp.async loads) and a work
    counter."""
    kernel = CubinKernel(driver, cubin, kernel_info["symbol"], kernel_info["shared_bytes"])
    if kernel_info.get("tables_at_load"):
        kernel.fill_tables(kernel_info["symbol"], kernel_info["tables"])
    traits = kernel_info["traits"]
    kernel.tma = tma_tiles(kernel_info["arch"], traits["Element"], traits["HeadDim"],
                           traits["BlockM"], traits["BlockN"], traits["NumWarps"],
                           kernel_info.get("tables", {}).get("TileBlocks", 1))
    kernel.use_tma = tma
    return kernel


class DriverError(RuntimeError):
    pass


class Driver:
    """The few driver entry points the harness needs."""

    def __init__(self):
        self.lib = ctypes.CDLL("libcuda.so.1")
        self.lib.cuGetErrorString.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
        self.lib.cuModuleLoadData.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
        self.lib.cuModuleGetFunction.argtypes = [
            ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p, ctypes.c_char_p]
        self.lib.cuModuleUnload.argtypes = [ctypes.c_void_p]
        self.lib.cuFuncSetAttribute.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        self.lib.cuFuncGetAttribute.argtypes = [
            ctypes.POINTER(ctypes.c_int), ctypes.c_int, ctypes.c_void_p]
        self.lib.cuLaunchKernel.argtypes = [
            ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
        self.lib.cuCtxGetCurrent.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
        self.lib.cuModuleGetGlobal_v2.argtypes = [
            ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_size_t),
            ctypes.c_void_p, ctypes.c_char_p]
        self.lib.cuMemcpyHtoD_v2.argtypes = [ctypes.c_uint64, ctypes.c_void_p, ctypes.c_size_t]
        self.lib.cuOccupancyMaxActiveBlocksPerMultiprocessor.argtypes = [
            ctypes.POINTER(ctypes.c_int), ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
        self.lib.cuMemAlloc_v2.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.c_size_t]
        self.lib.cuMemFree_v2.argtypes = [ctypes.c_uint64]
        self.lib.cuMemsetD8_v2.argtypes = [ctypes.c_uint64, ctypes.c_ubyte, ctypes.c_size_t]
        self.lib.cuTensorMapEncodeTiled.argtypes = [
            ctypes.c_void_p, ctypes.c_int, ctypes.c_uint, ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint64),
            ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(ctypes.c_uint32),
            ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]

    def check(self, result, what):
        if result != 0:
            msg = ctypes.c_char_p()
            self.lib.cuGetErrorString(result, ctypes.byref(msg))
            raise DriverError("%s failed: %d (%s)" % (
                what, result, msg.value.decode() if msg.value else "?"))

    def encode_tensor_maps(self, prm, tiles):
        """Fills prm.tmaQ/K/V and sets prm.tmaLoads as the runtime does
        (runtime/lib/AttentionPlan.cpp encodeTensorMaps); leaves tmaLoads 0
        where the driver rejects a tensor. tiles: tma_tiles(...)."""
        bf16, head_dim, block_m, block_n = tiles
        prm.tmaLoads = 0
        prm.tmaStores = 0
        scratch = ctypes.create_string_buffer(128 + 64)
        aligned = (ctypes.addressof(scratch) + 63) // 64 * 64
        for field, data, length, strides3, rows in (
                ("tmaQ", prm.q, prm.qLen,
                 (prm.qSeqStride, prm.qHeadStride, prm.qBatchStride), block_m),
                ("tmaK", prm.k, prm.kvLen,
                 (prm.kSeqStride, prm.kHeadStride, prm.kBatchStride), block_n),
                ("tmaV", prm.v, prm.kvLen,
                 (prm.vSeqStride, prm.vHeadStride, prm.vBatchStride), block_n),
                ("tmaO", prm.o, prm.qLen,
                 (prm.oSeqStride, prm.oHeadStride, prm.oBatchStride), 64)):
            dims = [head_dim, length, prm.heads, prm.batch]
            strides, packed = [], dims[0] * 2
            for d in range(3):
                stride = packed if dims[d + 1] == 1 else strides3[d] * 2
                if stride < 0:
                    return
                strides.append(stride)
                packed = stride * dims[d + 1]
            result = self.lib.cuTensorMapEncodeTiled(
                ctypes.c_void_p(aligned), 9 if bf16 else 6, 4, ctypes.c_void_p(data),
                (ctypes.c_uint64 * 4)(*dims), (ctypes.c_uint64 * 3)(*strides),
                (ctypes.c_uint32 * 4)(64, rows, 1, 1), (ctypes.c_uint32 * 4)(1, 1, 1, 1),
                0, 3, 3, 0)
            if result != 0:
                # The output's map is optional: without it the kernel stores
                # with its threads.
                if field == "tmaO":
                    break
                return
            ctypes.memmove(ctypes.addressof(prm) + getattr(AttentionParams, field).offset,
                           aligned, 128)
            if field == "tmaV":
                prm.tmaLoads = 1
            elif field == "tmaO":
                prm.tmaStores = 1

    def current_context(self):
        ctx = ctypes.c_void_p()
        self.check(self.lib.cuCtxGetCurrent(ctypes.byref(ctx)), "cuCtxGetCurrent")
        return ctx.value


class CubinKernel:
    """One `extern "C"` kernel of a cubin."""

    def __init__(self, driver, cubin_bytes, symbol, shared_bytes):
        if not driver.current_context():
            raise DriverError("no current CUDA context: initialise torch.cuda first")
        self.driver = driver
        self._image = ctypes.create_string_buffer(cubin_bytes, len(cubin_bytes))
        self.module = ctypes.c_void_p()
        driver.check(driver.lib.cuModuleLoadData(ctypes.byref(self.module), self._image),
                     "cuModuleLoadData")
        self.function = ctypes.c_void_p()
        driver.check(driver.lib.cuModuleGetFunction(
            ctypes.byref(self.function), self.module, symbol.encode()),
            "cuModuleGetFunction(%s)" % symbol)
        self.shared_bytes = shared_bytes
        # tma_tiles(...) of a wgmma kernel: launch() then encodes tensor maps
        # (as the runtime does) while use_tma is true; with use_tma false the
        # kernel copies with cp.async (tmaLoads 0), for A/B runs and checks.
        self.tma = None
        self.use_tma = True
        # With use_tma: also the output's map (TMA stores); false keeps the
        # kernel's per-thread stores (A/B runs; XFC_HARNESS_NO_TMA_STORE=1
        # makes that the default).
        self.use_tma_store = os.environ.get("XFC_HARNESS_NO_TMA_STORE", "0") == "0"
        self._tma_key = None
        self._tma_store_encoded = 0
        # For a wgmma kernel (tma set): persistent launches take items from
        # a work counter (AttentionParams.workCounter), as the runtime gives
        # them, while use_counter is true; false leaves it null (the static
        # split).
        self.use_counter = True
        self._counter = 0
        if shared_bytes > 48 * 1024:
            driver.check(driver.lib.cuFuncSetAttribute(
                self.function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                shared_bytes), "cuFuncSetAttribute(max dynamic shared)")

    def attribute(self, attr):
        value = ctypes.c_int()
        self.driver.check(self.driver.lib.cuFuncGetAttribute(
            ctypes.byref(value), attr, self.function), "cuFuncGetAttribute")
        return value.value

    # The array tables a `tables_at_load` kernel declares, with their entry
    # types (compiler/lib/Emitter/CudaEmitter.cpp).
    TABLE_TYPES = {"TileRowPtr": ctypes.c_int32, "TileCols": ctypes.c_int32,
                   "TilePartial": ctypes.c_uint8, "TileRowMask": ctypes.c_uint8,
                   "TileOrder": ctypes.c_int32,
                   "BlockBits": ctypes.c_uint8, "GlobalBits": ctypes.c_uint8}

    def fill_tables(self, symbol, tables):
        """Copies a manifest's `tables` into the `<symbol>_<table>` arrays of a
        kernel whose manifest says `tables_at_load` (as the runtime does)."""
        for name, ctype in self.TABLE_TYPES.items():
            if name not in tables:
                continue
            values = tables[name]
            host = (ctype * max(1, len(values)))(*values)
            pointer, size = ctypes.c_uint64(), ctypes.c_size_t()
            self.driver.check(self.driver.lib.cuModuleGetGlobal_v2(
                ctypes.byref(pointer), ctypes.byref(size), self.module,
                ("%s_%s" % (symbol, name)).encode()), "cuModuleGetGlobal(%s)" % name)
            if size.value != ctypes.sizeof(host):
                raise DriverError("table %s: %d bytes in the module, %d in the manifest"
                                  % (name, size.value, ctypes.sizeof(host)))
            self.driver.check(self.driver.lib.cuMemcpyHtoD_v2(
                pointer.value, ctypes.cast(host, ctypes.c_void_p), size.value),
                "cuMemcpyHtoD(%s)" % name)

    def resident_ctas(self, block_threads, sms):
        """CTAs of this kernel that fit on `sms` SMs at once (the value of
        AttentionParams.persistentCtas for a persistent launch)."""
        per_sm = ctypes.c_int()
        self.driver.check(self.driver.lib.cuOccupancyMaxActiveBlocksPerMultiprocessor(
            ctypes.byref(per_sm), self.function, block_threads, self.shared_bytes),
            "cuOccupancyMaxActiveBlocksPerMultiprocessor")
        return per_sm.value * sms

    def launch(self, params, grid, block, stream):
        """params: an AttentionParams; stream: a CUstream handle (int). For a
        kernel with `tma` set, fills its tensor maps first (re-encoded only
        when the tensors in params change)."""
        if self.tma and self.use_tma:
            key = (params.q, params.k, params.v, params.o, params.qLen, params.kvLen,
                   params.heads, params.batch) + tuple(
                       getattr(params, x + y) for x in "qkvo"
                       for y in ("BatchStride", "HeadStride", "SeqStride"))
            if key != self._tma_key or not params.tmaLoads:
                self.driver.encode_tensor_maps(params, self.tma)
                self._tma_key = key
                # Whether O's map was encoded: use_tma_store may change
                # between launches of the same tensors.
                self._tma_store_encoded = params.tmaStores
            params.tmaStores = self._tma_store_encoded if self.use_tma_store else 0
        else:
            params.tmaLoads = 0
            params.tmaStores = 0
            self._tma_key = None
        params.workCounter = self.work_counter() if self.tma and self.use_counter else None
        arg = ctypes.pointer(params)
        args = (ctypes.c_void_p * 1)(ctypes.cast(arg, ctypes.c_void_p))
        self.driver.check(self.driver.lib.cuLaunchKernel(
            self.function, grid[0], grid[1], grid[2], block[0], block[1], block[2],
            self.shared_bytes, ctypes.c_void_p(stream), args, None), "cuLaunchKernel")

    def work_counter(self):
        """Two zeroed ints of device memory, allocated once (each launch
        leaves them zero)."""
        if not self._counter:
            pointer = ctypes.c_uint64()
            self.driver.check(self.driver.lib.cuMemAlloc_v2(ctypes.byref(pointer), 8),
                              "cuMemAlloc")
            self.driver.check(self.driver.lib.cuMemsetD8_v2(pointer.value, 0, 8), "cuMemsetD8")
            self.driver.check(self.driver.lib.cuCtxSynchronize(), "cuCtxSynchronize")
            self._counter = pointer.value
        return self._counter

    def unload(self):
        if self._counter:
            self.driver.lib.cuMemFree_v2(self._counter)
            self._counter = 0
        if self.module:
            self.driver.lib.cuModuleUnload(self.module)
            self.module = ctypes.c_void_p()
