//===- graph_ops.cuh - Small kernels of multi-op variants -------*- C++ -*-===//
//
// The kernels that, with attentionForward, make up the graphs of variants
// such as linformer and fourier_mix: a batched matrix product and a row
// softmax. They are simple CUDA-core kernels (fp32 arithmetic) that loop over
// their tiles with a grid stride, so one constant grid fits any size; the
// heavy S x S work of a variant stays in the attention kernel.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_GRAPH_OPS_CUH
#define XFC_GRAPH_OPS_CUH

#include "xfc/op_params.h"
#include "xfc/types.cuh"

namespace xfc {

/// The constant launch geometry of every graph op: grid-stride loops.
constexpr int kOpThreads = 256;
constexpr int kOpBlocks = 1056;

/// Shared memory of the matrix product: A and B tiles of 16 x (64 + 4) fp32.
constexpr int kMatmulTile = 64;
constexpr int kMatmulDepth = 16;
constexpr int matmulSharedBytes() {
  return 2 * kMatmulDepth * (kMatmulTile + 4) * 4;
}

} // namespace xfc

#if defined(__CUDACC__)

namespace xfc {

template <int DType>
XFC_DEVICE float loadOpElement(const void *base, long long offset) {
  if constexpr (DType == kOpF16)
    return toFloat(static_cast<const f16 *>(base)[offset]);
  else if constexpr (DType == kOpBF16)
    return toFloat(static_cast<const bf16 *>(base)[offset]);
  else
    return static_cast<const float *>(base)[offset];
}

template <typename E> XFC_DEVICE void storeOpElement(E *ptr, float value) {
  if constexpr (IsSame<E, f16>::value) {
    unsigned short bits;
    asm("cvt.rn.f16.f32 %0, %1;\n" : "=h"(bits) : "f"(value));
    ptr->bits = bits;
  } else if constexpr (IsSame<E, bf16>::value) {
    unsigned short bits;
    asm("cvt.rn.bf16.f32 %0, %1;\n" : "=h"(bits) : "f"(value));
    ptr->bits = bits;
  } else {
    *ptr = value;
  }
}

/// Offset of batch-head `g` (of `heads` per batch) in `t`, broadcasting
/// dimensions of size 1.
XFC_DEVICE long long opBatchOffset(const OpTensor &t, long long g,
                                   long long heads) {
  long long b = g / heads, h = g % heads;
  return (t.dims[0] > 1 ? b * t.strides[0] : 0) +
         (t.dims[1] > 1 ? h * t.strides[1] : 0);
}

/// The stride of dimension `d` of `t`, 0 where it broadcasts (size 1).
XFC_DEVICE long long opStride(const OpTensor &t, int d) {
  return t.dims[d] > 1 ? t.strides[d] : 0;
}

/// The optional matmul trait OuterHeads: output head h pairs lhs head
/// h / rhsHeads with rhs head h % rhsHeads (every search with every
/// retrieval, compositional attention).
template <typename Traits, typename = void> struct OuterHeadsOf {
  static constexpr bool value = false;
};
template <typename Traits>
struct OuterHeadsOf<Traits, VoidT<decltype(Traits::OuterHeads)>> {
  static constexpr bool value = Traits::OuterHeads;
};

/// DFT entry for row r, column c of the n-point transform; the product is
/// reduced modulo n first so that the angle stays exact for large indices.
template <int Source>
XFC_DEVICE float dftEntry(long long r, long long c, long long n) {
  long long phase = (r * c) % n;
  // sin(pi x) for x in [-1, 1): accurate without a large-argument
  // reduction (which would cost local memory).
  if (2 * phase >= n)
    phase -= n;
  float s, co;
  sincospif(2.0f * static_cast<float>(phase) / static_cast<float>(n), &s, &co);
  return Source == kDftCos ? co : -s;
}

/// out[g] = alpha * A[g] B[g] (+ beta * C[g]) for every batch-head g, where
/// A is in[0] ([M, K], or [K, M] with TransA), B is in[1] ([K, N], or [N, K]
/// with TransB) and C is in[2] ([M, N], HasC). K = ints[0]; an operand may
/// be longer along K (a parameter sized for the longest sequence): only its
/// first K entries are used.
template <typename Traits> XFC_DEVICE void matmulOp(const OpParams &p) {
  using E = typename Traits::Element;
  // Every trait is part of the instantiation, even where a generated
  // operand or a missing addend leaves it unread.
  static_assert(Traits::ADType >= 0 && Traits::BDType >= 0 &&
                    Traits::CDType >= 0,
                "dtype codes are kOpF32, kOpF16 or kOpBF16");
  constexpr int T = kMatmulTile, D = kMatmulDepth, Pitch = T + 4;
  float *aTile = reinterpret_cast<float *>(xfcSharedMemory);
  float *bTile = aTile + D * Pitch;

  const long long m = p.out.dims[2], n = p.out.dims[3], k = p.ints[0];
  const long long heads = p.out.dims[1];
  const long long batches = p.out.dims[0] * heads;
  const long long tilesM = (m + T - 1) / T, tilesN = (n + T - 1) / T;
  const long long tiles = tilesM * tilesN * batches;
  const OpTensor &a = p.in[0], &b = p.in[1], &c = p.in[2];
  // Logical strides: A[r][kk] and B[kk][col].
  const long long aRow = Traits::TransA ? a.strides[3] : a.strides[2];
  const long long aCol = Traits::TransA ? a.strides[2] : a.strides[3];
  const long long bRow = Traits::TransB ? b.strides[3] : b.strides[2];
  const long long bCol = Traits::TransB ? b.strides[2] : b.strides[3];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;

  for (long long tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const long long g = tile / (tilesM * tilesN);
    const long long row0 = (tile / tilesN % tilesM) * T;
    const long long col0 = tile % tilesN * T;
    long long aBase = opBatchOffset(a, g, heads);
    long long bBase = opBatchOffset(b, g, heads);
    if constexpr (OuterHeadsOf<Traits>::value) {
      const long long batchIndex = g / heads, h = g % heads;
      const long long rhsHeads = b.dims[1];
      aBase = batchIndex * opStride(a, 0) + h / rhsHeads * opStride(a, 1);
      bBase = batchIndex * opStride(b, 0) + h % rhsHeads * opStride(b, 1);
    }
    // The accumulators: a 4 x 4 block per thread on CUDA cores, or, for a
    // 16-bit result, 2 x 2 m16n8 tiles per warp on tensor cores (operands
    // rounded to the element type: the result is rounded to it anyway).
    constexpr bool kTensorCores = isHalfElement<E>;
    float acc[4][4] = {};
    for (long long k0 = 0; k0 < k; k0 += D) {
      // 64 x 16 elements of each operand, 4 per thread; consecutive threads
      // walk the operand's contiguous dimension so that loads coalesce.
      const bool aKFast = aCol == 1, bColFast = bCol == 1 || bRow != 1;
      for (int e = threadIdx.x; e < T * D; e += kOpThreads) {
        int kk = aKFast ? e % D : e / T, r = aKFast ? e / D : e % T;
        long long gk = k0 + kk, gr = row0 + r;
        float av = 0.0f;
        if (gk < k && gr < m) {
          if constexpr (Traits::ASource == kFromMemory)
            av = loadOpElement<Traits::ADType>(a.data,
                                               aBase + gr * aRow + gk * aCol);
          else
            av = dftEntry<Traits::ASource>(gr, gk, k);
        }
        aTile[kk * Pitch + r] = av;
      }
      for (int e = threadIdx.x; e < T * D; e += kOpThreads) {
        int kk = bColFast ? e / T : e % D, cc = bColFast ? e % T : e / D;
        long long gk = k0 + kk, gc = col0 + cc;
        float bv = 0.0f;
        if (gk < k && gc < n) {
          if constexpr (Traits::BSource == kFromMemory)
            bv = loadOpElement<Traits::BDType>(b.data,
                                               bBase + gk * bRow + gc * bCol);
          else
            bv = dftEntry<Traits::BSource>(gk, gc, k);
        }
        bTile[kk * Pitch + cc] = bv;
      }
      __syncthreads();
      if constexpr (kTensorCores) {
        // Warp (wm, wn) owns rows wm*32 + [0, 32) and columns wn*16 +
        // [0, 16); lane (gq, tq) holds the m16n8k16 fragment elements.
        const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
        const int gq = lane / 4, tq = lane % 4;
        const int rowBase = (warp / 4) * 32, colBase = (warp % 4) * 16;
        unsigned af[2][4], bf[2][2];
#pragma unroll
        for (int i = 0; i < 2; ++i) {
          const int r = rowBase + i * 16 + gq;
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            const int kq = 2 * tq + 8 * h;
            af[i][2 * h] =
                packPair<E>(aTile[kq * Pitch + r], aTile[(kq + 1) * Pitch + r]);
            af[i][2 * h + 1] = packPair<E>(aTile[kq * Pitch + r + 8],
                                           aTile[(kq + 1) * Pitch + r + 8]);
          }
        }
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          const int cq = colBase + j * 8 + gq;
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            const int kq = 2 * tq + 8 * h;
            bf[j][h] = packPair<E>(bTile[kq * Pitch + cq],
                                   bTile[(kq + 1) * Pitch + cq]);
          }
        }
#pragma unroll
        for (int i = 0; i < 2; ++i)
#pragma unroll
          for (int j = 0; j < 2; ++j)
            mma16816<E>(acc[2 * i + j], af[i], bf[j][0], bf[j][1]);
      } else {
#pragma unroll
        for (int kk = 0; kk < D; ++kk) {
          float ar[4], br[4];
#pragma unroll
          for (int i = 0; i < 4; ++i) {
            ar[i] = aTile[kk * Pitch + ty * 4 + i];
            br[i] = bTile[kk * Pitch + tx * 4 + i];
          }
#pragma unroll
          for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j)
              acc[i][j] += ar[i] * br[j];
        }
      }
      __syncthreads();
    }
    const long long outBase = opBatchOffset(p.out, g, heads);
    const long long cBase = Traits::HasC ? opBatchOffset(c, g, heads) : 0;
    auto store = [&](long long r, long long col, float product) {
      if (r >= m || col >= n)
        return;
      float value = p.alpha * product;
      if constexpr (Traits::HasC)
        value += p.beta *
                 loadOpElement<Traits::CDType>(
                     c.data, cBase + r * opStride(c, 2) + col * opStride(c, 3));
      storeOpElement(static_cast<E *>(const_cast<void *>(p.out.data)) +
                         outBase + r * p.out.strides[2] +
                         col * p.out.strides[3],
                     value);
    };
    if constexpr (kTensorCores) {
      // Accumulator tile (i, j): c0, c1 at (gq, 2tq + {0, 1}), c2, c3 eight
      // rows below.
      const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
      const int gq = lane / 4, tq = lane % 4;
      const long long rowBase = row0 + (warp / 4) * 32 + gq;
      const long long colBase = col0 + (warp % 4) * 16 + 2 * tq;
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j)
#pragma unroll
          for (int e = 0; e < 4; ++e)
            store(rowBase + i * 16 + (e / 2) * 8, colBase + j * 8 + e % 2,
                  acc[2 * i + j][e]);
    } else {
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j)
          store(row0 + ty * 4 + i, col0 + tx * 4 + j, acc[i][j]);
    }
  }
}

/// out[g, r, :] = softmax(alpha * in[0][g, r, :]) with, when Causal, the
/// columns c > r + ints[0] masked out; a row with nothing visible is 0. One
/// warp per row.
template <typename Traits> XFC_DEVICE void softmaxOp(const OpParams &p) {
  using E = typename Traits::Element;
  static_assert(Traits::InDType >= 0,
                "dtype codes are kOpF32, kOpF16 or kOpBF16");
  const OpTensor &x = p.in[0];
  const long long rows = p.out.dims[2], cols = p.out.dims[3];
  const long long heads = p.out.dims[1];
  const long long total = p.out.dims[0] * heads * rows;
  const int lane = threadIdx.x % 32;
  const long long warp =
      (blockIdx.x * (long long)kOpThreads + threadIdx.x) / 32;
  const long long warps = (long long)gridDim.x * kOpThreads / 32;
  for (long long item = warp; item < total; item += warps) {
    const long long g = item / rows, r = item % rows;
    const long long inBase = opBatchOffset(x, g, heads) + r * x.strides[2];
    long long visible = cols;
    if constexpr (Traits::Causal) {
      long long limit = r + p.ints[0] + 1;
      visible = limit < 0 ? 0 : (limit < cols ? limit : cols);
    }
    float rowMax = negInf();
    for (long long c = lane; c < visible; c += 32)
      rowMax = maxf(rowMax, p.alpha * loadOpElement<Traits::InDType>(
                                          x.data, inBase + c * x.strides[3]));
#pragma unroll
    for (int s = 16; s > 0; s /= 2)
      rowMax = maxf(rowMax, __shfl_xor_sync(0xffffffffu, rowMax, s));
    float sum = 0.0f;
    for (long long c = lane; c < visible; c += 32)
      sum += __expf(p.alpha * loadOpElement<Traits::InDType>(
                                  x.data, inBase + c * x.strides[3]) -
                    rowMax);
#pragma unroll
    for (int s = 16; s > 0; s /= 2)
      sum += __shfl_xor_sync(0xffffffffu, sum, s);
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    E *out = static_cast<E *>(const_cast<void *>(p.out.data)) +
             opBatchOffset(p.out, g, heads) + r * p.out.strides[2];
    for (long long c = lane; c < cols; c += 32) {
      float value = 0.0f;
      if (c < visible)
        value = __expf(p.alpha * loadOpElement<Traits::InDType>(
                                     x.data, inBase + c * x.strides[3]) -
                       rowMax) *
                inv;
      storeOpElement(out + c * p.out.strides[3], value);
    }
  }
}

/// Moves heads between the head and the feature dimension: with Split,
/// out[b, h, s, d] = in[b, 0, s, h * D + d] ([B, 1, S, H*D] -> [B, H, S, D]);
/// otherwise the reverse.
template <typename Traits> XFC_DEVICE void regroupHeadsOp(const OpParams &p) {
  using E = typename Traits::Element;
  static_assert(Traits::InDType >= 0,
                "dtype codes are kOpF32, kOpF16 or kOpBF16");
  const OpTensor &x = p.in[0];
  const long long total =
      p.out.dims[0] * p.out.dims[1] * p.out.dims[2] * p.out.dims[3];
  const long long dim = Traits::Split ? p.out.dims[3] : x.dims[3];
  for (long long i = blockIdx.x * (long long)kOpThreads + threadIdx.x;
       i < total; i += (long long)gridDim.x * kOpThreads) {
    long long c = i % p.out.dims[3], rest = i / p.out.dims[3];
    long long s = rest % p.out.dims[2];
    rest /= p.out.dims[2];
    long long h = rest % p.out.dims[1], b = rest / p.out.dims[1];
    long long from;
    if constexpr (Traits::Split)
      from =
          b * opStride(x, 0) + s * x.strides[2] + (h * dim + c) * x.strides[3];
    else
      from = b * opStride(x, 0) + (c / dim) * x.strides[1] + s * x.strides[2] +
             (c % dim) * x.strides[3];
    storeOpElement(static_cast<E *>(const_cast<void *>(p.out.data)) +
                       b * p.out.strides[0] + h * p.out.strides[1] +
                       s * p.out.strides[2] + c * p.out.strides[3],
                   loadOpElement<Traits::InDType>(x.data, from));
  }
}

/// Compositional attention's rule selection, one warp per (batch, search,
/// query): in[0] holds the retrievals O [B, H*R, S, Dv] (search h, rule r
/// at head h*R + r), in[1] the selection queries Q [B, H, S, Dsel], both
/// fp32. Scores (Mode 0, a linear score network): w . [O_r; Q] + b with
/// w = in[2] [1, Dv+Dsel], b = in[3]; (Mode 1, an MLP):
/// w2 . relu(W1 [O_r; Q] + b1) + b2 with W1 = in[2] [Dsel, Dv+Dsel],
/// b1 = in[3], w2 = in[4] [1, Dsel], b2 = in[5]; (Mode 2, qk_rule):
/// alpha * Q . (Wk O_r + bk) with Wk = in[2] [Dsel, Dv], bk = in[3]. Without
/// HasBias there are no biases. The output [B, H, S, Dv] is
/// sum_r softmax_r(score_r) O_r.
template <typename Traits> XFC_DEVICE void selectRulesOp(const OpParams &p) {
  using E = typename Traits::Element;
  constexpr int R = Traits::Rules;
  static_assert(R >= 1 && R <= 32, "1 to 32 rules");
  const OpTensor &o = p.in[0], &q = p.in[1], &w1 = p.in[2], &b1 = p.in[3];
  const OpTensor &w2 = p.in[4], &b2 = p.in[5];
  const long long batch = p.out.dims[0], heads = p.out.dims[1];
  const long long seq = p.out.dims[2], dv = p.out.dims[3];
  const long long dsel = q.dims[3];
  const int lane = threadIdx.x % 32;
  const long long warp =
      (blockIdx.x * (long long)kOpThreads + threadIdx.x) / 32;
  const long long warps = (long long)gridDim.x * kOpThreads / 32;
  auto at = [](const OpTensor &t, long long offset) {
    return static_cast<const float *>(t.data)[offset];
  };
  auto warpSum = [](float v) {
#pragma unroll
    for (int s = 16; s > 0; s /= 2)
      v += __shfl_xor_sync(0xffffffffu, v, s);
    return v;
  };
  for (long long item = warp; item < batch * heads * seq; item += warps) {
    const long long s = item % seq, h = item / seq % heads,
                    b = item / (seq * heads);
    const long long qBase =
        b * q.strides[0] + h * q.strides[1] + s * q.strides[2];
    float score[R];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const long long oBase =
          b * o.strides[0] + (h * R + r) * o.strides[1] + s * o.strides[2];
      float total;
      if constexpr (Traits::Mode == 0) {
        float part = 0.0f;
        for (long long i = lane; i < dv; i += 32)
          part += at(w1, i * w1.strides[3]) * at(o, oBase + i * o.strides[3]);
        for (long long j = lane; j < dsel; j += 32)
          part += at(w1, (dv + j) * w1.strides[3]) *
                  at(q, qBase + j * q.strides[3]);
        total = warpSum(part) + (Traits::HasBias ? at(b1, 0) : 0.0f);
      } else {
        // One hidden unit (Mode 1) or key feature (Mode 2) per lane.
        float part = 0.0f;
        for (long long k = lane; k < dsel; k += 32) {
          float unit = Traits::HasBias ? at(b1, k * b1.strides[3]) : 0.0f;
          for (long long i = 0; i < dv; ++i)
            unit += at(w1, k * w1.strides[2] + i * w1.strides[3]) *
                    at(o, oBase + i * o.strides[3]);
          if constexpr (Traits::Mode == 1) {
            for (long long j = 0; j < dsel; ++j)
              unit += at(w1, k * w1.strides[2] + (dv + j) * w1.strides[3]) *
                      at(q, qBase + j * q.strides[3]);
            part += at(w2, k * w2.strides[3]) * maxf(unit, 0.0f);
          } else {
            part += at(q, qBase + k * q.strides[3]) * unit;
          }
        }
        total = warpSum(part);
        if constexpr (Traits::Mode == 1)
          total += Traits::HasBias ? at(b2, 0) : 0.0f;
        else
          total *= p.alpha;
      }
      score[r] = total;
    }
    float top = score[0];
#pragma unroll
    for (int r = 1; r < R; ++r)
      top = maxf(top, score[r]);
    float sum = 0.0f;
#pragma unroll
    for (int r = 0; r < R; ++r)
      sum += (score[r] = __expf(score[r] - top));
    E *out = static_cast<E *>(const_cast<void *>(p.out.data)) +
             b * p.out.strides[0] + h * p.out.strides[1] + s * p.out.strides[2];
    for (long long i = lane; i < dv; i += 32) {
      float value = 0.0f;
#pragma unroll
      for (int r = 0; r < R; ++r)
        value +=
            score[r] * at(o, b * o.strides[0] + (h * R + r) * o.strides[1] +
                                 s * o.strides[2] + i * o.strides[3]);
      storeOpElement(out + i * p.out.strides[3], value / sum);
    }
  }
}

} // namespace xfc

#endif // defined(__CUDACC__)

#endif // XFC_GRAPH_OPS_CUH
