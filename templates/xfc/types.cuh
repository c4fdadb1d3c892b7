//===- types.cuh - Element types, shared-memory formulas, PTX wrappers ----===//
//
// Everything here compiles under NVRTC with no system or CUDA header: the
// 16-bit element types are storage-only structs, conversions and tensor-core
// instructions are inline PTX. The part above the `__CUDACC__` guard is plain
// C++ that host code may include too (the shared-memory formulas).
//
//===----------------------------------------------------------------------===//

#ifndef XFC_TYPES_CUH
#define XFC_TYPES_CUH

// constexpr helpers are usable from host and device code alike.
#if defined(__CUDACC__)
#define XFC_HOST_DEVICE __host__ __device__
#else
#define XFC_HOST_DEVICE
#endif

namespace xfc {

/// IEEE binary16, storage only: arithmetic happens in fp32 or in mma.sync.
struct alignas(2) f16 {
  unsigned short bits;
};

/// bfloat16, storage only.
struct alignas(2) bf16 {
  unsigned short bits;
};

template <typename...> using VoidT = void;

template <typename A, typename B> struct IsSame {
  static constexpr bool value = false;
};
template <typename A> struct IsSame<A, A> {
  static constexpr bool value = true;
};

/// An int as a type, to pass a compile-time size to a generic lambda.
template <int V> struct IntConstant { static constexpr int value = V; };

/// True for the element types of the tensor-core (mma.sync) path.
template <typename E>
constexpr bool isHalfElement = IsSame<E, f16>::value || IsSame<E, bf16>::value;

/// Dynamic shared memory of the mma.sync path: the Q tile plus `stages` K
/// and V tiles, unpadded (tiles are XOR-swizzled instead of padded).
XFC_HOST_DEVICE constexpr int flashSharedBytes(int blockM, int blockN,
                                               int stages, int headDim) {
  return (blockM + 2 * stages * blockN) * headDim * 2;
}

/// Dynamic shared memory of the fp32 SIMT path: the same tiles in fp32.
XFC_HOST_DEVICE constexpr int simtSharedBytes(int blockM, int blockN,
                                              int stages, int headDim) {
  return (blockM + 2 * stages * blockN) * headDim * 4;
}

/// Head dims the sm_90a wgmma kernel takes (others run mma.sync there); the
/// compiler's configuration pass and the runtime's tensor-map encoding ask
/// the same question.
XFC_HOST_DEVICE constexpr bool wgmmaTakesHeadDim(int headDim) {
  return headDim == 64 || headDim == 128 || headDim == 256;
}

/// Warps of the wgmma kernel with BlockM query rows: a producer warpgroup
/// plus one consumer warpgroup per 64 rows. The templates pick that kernel
/// by this warp count; the compiler configures it and the runtime and the
/// tile tables recognise it by the same count.
XFC_HOST_DEVICE constexpr int wgmmaWarps(int blockM) {
  return 4 * (blockM / 64 + 1);
}

/// Whether BlockM rows and NumWarps warps are the wgmma kernel's tile (with
/// 16-bit elements): the warp count above for a multiple of 64 rows.
XFC_HOST_DEVICE constexpr bool isWgmmaTile(int blockM, int numWarps) {
  return blockM % 64 == 0 && numWarps == wgmmaWarps(blockM);
}

/// Layout blocks per K/V tile of the wgmma kernel's block-sparse schedules:
/// two where a tile is two layout blocks wide, gathered (each half is any
/// present block of the row, loaded by its own TMA box or copy), so a tile
/// never computes a block that is off; one otherwise (a tile is one block,
/// or part of one, or a run of neighbouring blocks). The compiler builds the
/// tile tables, the template loads the tiles and the runtime sizes the
/// tensor maps' boxes by it.
XFC_HOST_DEVICE constexpr int wgmmaTileBlocks(int blockN, int layoutBlock) {
  return layoutBlock > 0 && 2 * layoutBlock == blockN ? 2 : 1;
}

/// Q tiles of the wgmma kernel: two (a persistent CTA loads the next item's
/// Q while it computes the current one; see flashForwardSm90) where they fit
/// in the 227 KiB a CTA may have, else one (HeadDim 256; BlockN 176 or three
/// stages at HeadDim 128). The compiler sizes kernels with the same
/// functions (KernelConfig.cpp).
XFC_HOST_DEVICE constexpr int wgmmaQBuffers(int blockM, int blockN, int stages,
                                            int headDim) {
  return (2 * blockM + 2 * stages * blockN) * headDim * 2 + 1024 <= 227 * 1024
             ? 2
             : 1;
}

/// Dynamic shared memory of the wgmma path: the Q tiles, NumStages K and V
/// tiles and 1024 bytes to align the base to a swizzle atom (the mbarriers
/// are static).
XFC_HOST_DEVICE constexpr int wgmmaSharedBytes(int blockM, int blockN,
                                               int stages, int headDim) {
  return (wgmmaQBuffers(blockM, blockN, stages, headDim) * blockM +
          2 * stages * blockN) *
             headDim * 2 +
         1024;
}

XFC_HOST_DEVICE constexpr int ceilDiv(int a, int b) { return (a + b - 1) / b; }
XFC_HOST_DEVICE constexpr bool isPowerOf2(int x) {
  return x > 0 && (x & (x - 1)) == 0;
}

} // namespace xfc

#if defined(__CUDACC__)

#define XFC_DEVICE __device__ __forceinline__

namespace xfc {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

/// The dynamic shared memory of every xfc kernel (SharedBytes long).
extern __shared__ __align__(128) unsigned char xfcSharedMemory[];

/// 16 bytes moved with one vector instruction.
struct alignas(16) Chunk16 {
  unsigned x, y, z, w;
};

struct alignas(16) Float4 {
  float x, y, z, w;
};

XFC_DEVICE float negInf() { return __int_as_float(0xff800000); }

/// 32-bit shared-space address of a generic pointer into shared memory.
XFC_DEVICE unsigned smemAddress(const void *ptr) {
  unsigned addr;
  asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }"
      : "=r"(addr)
      : "l"(ptr));
  return addr;
}

/// 16-byte asynchronous copy; an invalid source zero-fills the destination so
/// that rows past the sequence end hold finite values.
XFC_DEVICE void cpAsync16(unsigned dst, const void *src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst),
               "l"(src), "r"(valid ? 16 : 0)
               : "memory");
}

XFC_DEVICE void cpAsyncCommit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}

/// Waits until at most `Pending` of this thread's copy groups are in flight.
template <int Pending> XFC_DEVICE void cpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending) : "memory");
}

/// One step of the K/V shared-memory pipeline before computing on tile
/// `idx`: waits until that tile has landed for every thread and every warp is
/// done with the stage the next copy overwrites, then issues the copy of the
/// tile `Stages - 1` ahead (`loadKv(tileIndex)`). With one stage the copy of
/// `idx` itself is issued and awaited.
template <int Stages, typename LoadKv>
XFC_DEVICE void advanceKvPipeline(int idx, int numTiles, const LoadKv &loadKv) {
  if constexpr (Stages > 1) {
    cpAsyncWait<Stages - 2>();
    __syncthreads();
    if (idx + Stages - 1 < numTiles)
      loadKv(idx + Stages - 1);
    cpAsyncCommit();
  } else {
    __syncthreads();
    loadKv(idx);
    cpAsyncCommit();
    cpAsyncWait<0>();
    __syncthreads();
  }
}

/// 128-bit shared load; volatile keeps it behind the barriers.
XFC_DEVICE Float4 ldShared4(unsigned addr) {
  Float4 r;
  asm volatile("ld.shared.v4.f32 {%0, %1, %2, %3}, [%4];\n"
               : "=f"(r.x), "=f"(r.y), "=f"(r.z), "=f"(r.w)
               : "r"(addr));
  return r;
}

XFC_DEVICE void ldmatrixX4(unsigned (&r)[4], unsigned addr) {
  asm volatile(
      "ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
      : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
      : "r"(addr));
}

XFC_DEVICE void ldmatrixX4Trans(unsigned (&r)[4], unsigned addr) {
  asm volatile(
      "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, "
      "[%4];\n"
      : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
      : "r"(addr));
}

/// d += a * b for one m16n8k16 tile with fp32 accumulation.
template <typename E>
XFC_DEVICE void mma16816(float (&d)[4], const unsigned (&a)[4], unsigned b0,
                         unsigned b1) {
  if constexpr (IsSame<E, f16>::value)
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0),
                   "r"(b1));
  else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0),
                   "r"(b1));
}

/// Packs two floats into one register of E; `lo` goes to the low half (the
/// lower column index of an mma fragment).
template <typename E> XFC_DEVICE unsigned packPair(float lo, float hi) {
  unsigned r;
  if constexpr (IsSame<E, f16>::value)
    asm("cvt.rn.f16x2.f32 %0, %2, %1;\n" : "=r"(r) : "f"(lo), "f"(hi));
  else
    asm("cvt.rn.bf16x2.f32 %0, %2, %1;\n" : "=r"(r) : "f"(lo), "f"(hi));
  return r;
}

XFC_DEVICE float toFloat(f16 x) {
  float r;
  asm("cvt.f32.f16 %0, %1;\n" : "=f"(r) : "h"(x.bits));
  return r;
}
XFC_DEVICE float toFloat(bf16 x) {
  return __int_as_float(static_cast<int>(x.bits) << 16);
}
XFC_DEVICE float toFloat(float x) { return x; }

XFC_DEVICE float exp2Fast(float x) {
  float r;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(r) : "f"(x));
  return r;
}

/// 2^x without the MUFU unit (FMA and integer pipes only), for softmax
/// arguments x <= 0: x = j + f with j = round(x) (adding 1.5 * 2^23 leaves
/// j in the low mantissa bits), 2^f on [-0.5, 0.5] by a degree-4
/// polynomial (relative error 3.1e-6, least squares on Chebyshev points),
/// j added to the exponent bits. x < -126 (and -inf) gives 0, as
/// ex2.approx.ftz does. The wgmma kernel computes part of its exponentials
/// here so that they run beside MUFU's (16 a clock per SM) at HeadDim 64.
XFC_DEVICE float exp2Poly(float x) {
  constexpr float kShifter = 12582912.0f;
  // The _rn intrinsics keep (x + k) - k from being folded to x.
  const float shifted = __fadd_rn(x, kShifter);
  const float j = __fsub_rn(shifted, kShifter);
  const float f = __fsub_rn(x, j);
  float p = fmaf(0.00960040237f, f, 0.0559169357f);
  p = fmaf(p, f, 0.240237185f);
  p = fmaf(p, f, 0.69312199f);
  p = fmaf(p, f, 1.0f);
  const unsigned bits = __float_as_uint(p) + (__float_as_uint(shifted) << 23);
  return x >= -126.0f ? __uint_as_float(bits) : 0.0f;
}

XFC_DEVICE float log2Fast(float x) {
  float r;
  asm("lg2.approx.ftz.f32 %0, %1;\n" : "=f"(r) : "f"(x));
  return r;
}

XFC_DEVICE float maxf(float a, float b) { return a > b ? a : b; }
XFC_DEVICE int mini(int a, int b) { return a < b ? a : b; }

/// Byte offset of 16-byte chunk `c` of row `r` in a tile whose rows hold
/// `RowChunks` chunks. The XOR swizzle makes the 8 row addresses of an
/// ldmatrix (8 consecutive rows, 8-aligned, same logical chunk) fall into 8
/// different 16-byte bank groups without padding the rows: rows of a multiple
/// of 128 bytes XOR the chunk's low 3 bits with r & 7; rows of 64 bytes mod
/// 128 (HeadDim 32 and 96 in 16 bits) take the bank half from the row parity
/// and XOR the chunk's low 2 bits with (r >> 1) & 3.
template <int RowChunks> struct Swizzle {
  static_assert(RowChunks % 4 == 0, "tile rows must be a multiple of 64 bytes");
  /// Chunks whose order the XOR permutes.
  static constexpr int Group = RowChunks % 8 == 0 ? 8 : 4;
  static constexpr int RowBytes = RowChunks * 16;

  XFC_DEVICE static int xorOf(int r) {
    return Group == 8 ? (r & 7) : ((r >> 1) & 3);
  }

  XFC_DEVICE static int offset(int r, int c) {
    return r * RowBytes + (c & ~(Group - 1)) * 16 +
           ((c & (Group - 1)) ^ xorOf(r)) * 16;
  }

  /// Address of chunk 0 of row r with the row's XOR folded in. `tile` must be
  /// aligned to Group * 16 bytes.
  XFC_DEVICE static unsigned rowBase(unsigned tile, int r) {
    return tile + r * RowBytes + xorOf(r) * 16;
  }

  /// Chunk c of the row whose rowBase is `base`, plus `rows` rows whose XOR
  /// equals that of the base row (rows a multiple of 8 apart): one XOR with
  /// an immediate, the rest folds into the instruction's offset.
  XFC_DEVICE static unsigned at(unsigned base, int c, int rows = 0) {
    return (base ^ ((c & (Group - 1)) * 16)) + (c & ~(Group - 1)) * 16 +
           rows * RowBytes;
  }
};

/// Copies rows [row0, row0 + Rows) of a [seq, RowChunks * 16 bytes] matrix
/// into a swizzled shared tile with cp.async; rows >= rowEnd are zero-filled.
template <int Rows, int RowChunks, int Threads, typename E>
XFC_DEVICE void copyRowsAsync(const E *base, long long seqStride, int row0,
                              int rowEnd, unsigned dst, int tid) {
  using Tile = Swizzle<RowChunks>;
  constexpr int Total = Rows * RowChunks;
  constexpr int ElemsPerChunk = 16 / sizeof(E);
  constexpr int RowsPerPass = Threads / RowChunks;
  if constexpr (Threads % RowChunks == 0 && RowsPerPass % 8 == 0) {
    // A thread keeps its chunk column and its row's XOR on every pass.
    // The source advances by one 64-bit add per pass.
    const int r = tid / RowChunks, c = tid % RowChunks;
    const unsigned dstBase = Tile::at(Tile::rowBase(dst, r), c);
    const E *src = base + (row0 + r) * seqStride + c * ElemsPerChunk;
    const long long step = RowsPerPass * seqStride;
#pragma unroll
    for (int pass = 0; pass < ceilDiv(Rows, RowsPerPass); ++pass) {
      int rr = r + pass * RowsPerPass;
      if (Rows % RowsPerPass == 0 || rr < Rows) {
        bool valid = row0 + rr < rowEnd;
        cpAsync16(dstBase + pass * RowsPerPass * Tile::RowBytes,
                  valid ? src : base, valid);
      }
      src += step;
    }
  } else {
#pragma unroll
    for (int it = 0; it < ceilDiv(Total, Threads); ++it) {
      int idx = tid + it * Threads;
      if (Total % Threads == 0 || idx < Total) {
        int r = idx / RowChunks, c = idx % RowChunks;
        int row = row0 + r;
        bool valid = row < rowEnd;
        const E *src =
            base + (valid ? row * seqStride : 0ll) + c * ElemsPerChunk;
        cpAsync16(dst + Tile::offset(r, c), src, valid);
      }
    }
  }
}

} // namespace xfc

#endif // defined(__CUDACC__)

#endif // XFC_TYPES_CUH
