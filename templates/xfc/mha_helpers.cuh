//===- mha_helpers.cuh - Element-wise kernels of MultiheadAttention -------===//
//
// The small kernels xfc::MultiheadAttention launches around its projections
// and the attention plan: adding a projection's bias to a row-major
// [rows, cols] buffer, filling add_bias_kv / add_zero_attn's extra key and
// value rows, padding the key padding mask with their columns, turning an
// attn_mask of any accepted dtype into the additive fp32 mask the attention
// kernels read, and the attention weights FairSeq returns with need_weights (a
// simple reference-style kernel: one block per (row, head, batch), scores then
// softmax over the key positions). Compiled by NVRTC (no system or CUDA
// header); the element-wise kernels are grid-stride loops over 64-bit indices.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_MHA_HELPERS_CUH
#define XFC_MHA_HELPERS_CUH

#include "xfc/types.cuh"

namespace xfc::mha {

__device__ inline f16 toF16(float x) {
  f16 r;
  asm("cvt.rn.f16.f32 %0, %1;\n" : "=h"(r.bits) : "f"(x));
  return r;
}

__device__ inline bf16 toBF16(float x) {
  bf16 r;
  asm("cvt.rn.bf16.f32 %0, %1;\n" : "=h"(r.bits) : "f"(x));
  return r;
}

__device__ inline void store(f16 *p, float x) { *p = toF16(x); }
__device__ inline void store(bf16 *p, float x) { *p = toBF16(x); }
__device__ inline void store(float *p, float x) { *p = x; }

/// x[r, c] += bias[c] (bias in fp32, the sum rounded once to E).
template <typename E>
__device__ void addBias(E *x, const float *bias, long long rows,
                        long long cols) {
  long long total = rows * cols;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
       i < total; i += (long long)gridDim.x * blockDim.x)
    store(x + i, toFloat(x[i]) + bias[i % cols]);
}

/// x[r, c] = values[c] (rounded to E), or 0 when `values` is null.
template <typename E>
__device__ void fillRows(E *x, const float *values, long long rows,
                         long long cols) {
  long long total = rows * cols;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
       i < total; i += (long long)gridDim.x * blockDim.x)
    store(x + i, values ? values[i % cols] : 0.0f);
}

/// out[r, c] ([count / outCols, outCols]) = -inf where mask[r, c] ([.., cols])
/// is nonzero, else 0; the columns from `cols` on (add_bias_kv /
/// add_zero_attn's extra keys) are 0.
__device__ inline void maskFromBytes(const unsigned char *mask, float *out,
                                     long long count, long long cols,
                                     long long outCols) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
       i < count; i += (long long)gridDim.x * blockDim.x) {
    long long r = i / outCols, c = i % outCols;
    out[i] = c < cols && mask[r * cols + c] ? negInf() : 0.0f;
  }
}

/// out[r, c] = float(mask[r, c]) for an additive mask, padded as above.
template <typename E>
__device__ void maskFromAdditive(const E *mask, float *out, long long count,
                                 long long cols, long long outCols) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
       i < count; i += (long long)gridDim.x * blockDim.x) {
    long long r = i / outCols, c = i % outCols;
    out[i] = c < cols ? toFloat(mask[r * cols + c]) : 0.0f;
  }
}

/// out[b, s] ([count / outCols, outCols], contiguous) = padding[b, s] != 0
/// (element strides strideB, strideS) for s < cols, else 0 (not padding).
__device__ inline void padKeyPadding(const unsigned char *padding,
                                     long long strideB, long long strideS,
                                     unsigned char *out, long long count,
                                     long long cols, long long outCols) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
       i < count; i += (long long)gridDim.x * blockDim.x) {
    long long b = i / outCols, c = i % outCols;
    out[i] = c < cols && padding[b * strideB + c * strideS] ? 1 : 0;
  }
}

/// The masks of one attention-weights launch; null pointers are absent.
struct WeightMasks {
  /// Additive fp32 [T, S], contiguous.
  const float *attnMask;
  /// Nonzero = padding, [B, S] with element strides.
  const unsigned char *keyPadding;
  long long paddingStrideB, paddingStrideS;
  /// Block layout [layoutHeads][numBlocks][numBlocks] (row = query block).
  const unsigned char *layout;
  int layoutBlock, numBlocks, layoutHeads;
  /// Key j is visible to query i only when j <= i + causalOffset.
  int causal;
  long long causalOffset;
};

/// Block-wide reduction of `value` (max when `isMax`, else sum) through
/// `scratch` (blockDim.x floats, a power of two).
__device__ inline float blockReduce(float value, float *scratch, bool isMax) {
  scratch[threadIdx.x] = value;
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) {
      float other = scratch[threadIdx.x + half];
      scratch[threadIdx.x] = isMax ? maxf(scratch[threadIdx.x], other)
                                   : scratch[threadIdx.x] + other;
    }
    __syncthreads();
  }
  float result = scratch[0];
  __syncthreads();
  return result;
}

/// weights[h, b, t, s] (fp32, [H, B, T, S]) = softmax over s of
/// scale * q.k + masks, 0 where masked and on fully masked rows. q and k are
/// the projected [T, B, H * D] and [S, B, H * D] buffers. One block per
/// (t, h, b); blockDim.x a power of two <= 256.
template <typename E>
__device__ void attentionWeights(const E *q, const E *k, float *weights,
                                 long long T, long long S, int B, int H, int D,
                                 float scale, WeightMasks masks) {
  __shared__ float scratch[256];
  long long t = blockIdx.x;
  int h = blockIdx.y, b = blockIdx.z;
  long long C = (long long)H * D;
  const E *qRow = q + (t * B + b) * C + (long long)h * D;
  float *row = weights + (((long long)h * B + b) * T + t) * S;
  int layoutHead = masks.layoutHeads == 1 ? 0 : h;
  long long covered = (long long)masks.numBlocks * masks.layoutBlock;
  float rowMax = negInf();
  for (long long s = threadIdx.x; s < S; s += blockDim.x) {
    bool visible = true;
    if (masks.causal && s > t + masks.causalOffset)
      visible = false;
    if (masks.keyPadding &&
        masks.keyPadding[b * masks.paddingStrideB + s * masks.paddingStrideS])
      visible = false;
    if (masks.layout) {
      if (layoutHead >= masks.layoutHeads || t >= covered || s >= covered)
        visible = false;
      else if (!masks.layout[((long long)layoutHead * masks.numBlocks +
                              t / masks.layoutBlock) *
                                 masks.numBlocks +
                             s / masks.layoutBlock])
        visible = false;
    }
    float score = negInf();
    if (visible) {
      const E *kRow = k + (s * B + b) * C + (long long)h * D;
      float dot = 0;
      for (int d = 0; d < D; ++d)
        dot += toFloat(qRow[d]) * toFloat(kRow[d]);
      score = dot * scale;
      if (masks.attnMask)
        score += masks.attnMask[t * S + s];
    }
    row[s] = score;
    rowMax = maxf(rowMax, score);
  }
  rowMax = blockReduce(rowMax, scratch, true);
  const float log2e = 1.4426950408889634f;
  float sum = 0;
  for (long long s = threadIdx.x; s < S; s += blockDim.x) {
    float p = rowMax == negInf() ? 0.0f : exp2Fast((row[s] - rowMax) * log2e);
    row[s] = p;
    sum += p;
  }
  sum = blockReduce(sum, scratch, false);
  float inverse = sum > 0 ? 1.0f / sum : 0.0f;
  for (long long s = threadIdx.x; s < S; s += blockDim.x)
    row[s] *= inverse;
}

/// Whether key j is visible to the query at position i (causal, layout) in
/// layout head h.
__device__ inline bool isStructurallyVisible(const WeightMasks &masks, int h,
                                             long long i, long long j) {
  if (masks.causal && j > i)
    return false;
  if (!masks.layout)
    return true;
  int layoutHead = masks.layoutHeads == 1 ? 0 : h;
  long long covered = (long long)masks.numBlocks * masks.layoutBlock;
  if (layoutHead >= masks.layoutHeads || i >= covered || j >= covered)
    return false;
  return masks.layout[((long long)layoutHead * masks.numBlocks +
                       i / masks.layoutBlock) *
                          masks.numBlocks +
                      j / masks.layoutBlock] != 0;
}

/// The additive mask of an incremental step, out[h, t, s] ([heads, T, S]):
/// -inf where key s is not visible to the query at position causalOffset + t
/// (causal, layout), else masks.attnMask[t, s] (or 0 without it).
__device__ inline void incrementalMask(float *out, long long T, long long S,
                                       int heads, WeightMasks masks) {
  long long count = (long long)heads * T * S;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
       i < count; i += (long long)gridDim.x * blockDim.x) {
    long long s = i % S, t = (i / S) % T;
    int h = (int)(i / (S * T));
    bool visible = isStructurallyVisible(masks, h, masks.causalOffset + t, s);
    out[i] = !visible         ? negInf()
             : masks.attnMask ? masks.attnMask[t * S + s]
                              : 0.0f;
  }
}

/// A 4-D strided copy: dst[a, b, c, d] = src[a, b, c, d] (element strides).
struct Copy4 {
  long long shape[4], srcStrides[4], dstStrides[4];
};

template <typename E>
__device__ void stridedCopy(const E *src, E *dst, Copy4 copy) {
  long long count =
      copy.shape[0] * copy.shape[1] * copy.shape[2] * copy.shape[3];
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
       i < count; i += (long long)gridDim.x * blockDim.x) {
    long long rest = i, srcOffset = 0, dstOffset = 0;
    for (int k = 3; k >= 0; --k) {
      long long index = rest % copy.shape[k];
      rest /= copy.shape[k];
      srcOffset += index * copy.srcStrides[k];
      dstOffset += index * copy.dstStrides[k];
    }
    dst[dstOffset] = src[srcOffset];
  }
}

/// out[i] = mean over h of weights[h * count + i] ([H, count] -> [count]).
__device__ inline void averageHeads(const float *weights, float *out,
                                    long long count, int heads) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
       i < count; i += (long long)gridDim.x * blockDim.x) {
    float sum = 0;
    for (int h = 0; h < heads; ++h)
      sum += weights[h * count + i];
    out[i] = sum / heads;
  }
}

} // namespace xfc::mha

extern "C" __global__ void xfc_mha_add_bias_fp16(xfc::f16 *x, const float *bias,
                                                 long long rows,
                                                 long long cols) {
  xfc::mha::addBias(x, bias, rows, cols);
}
extern "C" __global__ void xfc_mha_add_bias_bf16(xfc::bf16 *x,
                                                 const float *bias,
                                                 long long rows,
                                                 long long cols) {
  xfc::mha::addBias(x, bias, rows, cols);
}
extern "C" __global__ void xfc_mha_add_bias_fp32(float *x, const float *bias,
                                                 long long rows,
                                                 long long cols) {
  xfc::mha::addBias(x, bias, rows, cols);
}
extern "C" __global__ void xfc_mha_mask_from_bytes(const unsigned char *mask,
                                                   float *out, long long count,
                                                   long long cols,
                                                   long long outCols) {
  xfc::mha::maskFromBytes(mask, out, count, cols, outCols);
}
extern "C" __global__ void xfc_mha_mask_from_fp16(const xfc::f16 *mask,
                                                  float *out, long long count,
                                                  long long cols,
                                                  long long outCols) {
  xfc::mha::maskFromAdditive(mask, out, count, cols, outCols);
}
extern "C" __global__ void xfc_mha_mask_from_bf16(const xfc::bf16 *mask,
                                                  float *out, long long count,
                                                  long long cols,
                                                  long long outCols) {
  xfc::mha::maskFromAdditive(mask, out, count, cols, outCols);
}
extern "C" __global__ void xfc_mha_mask_from_fp32(const float *mask, float *out,
                                                  long long count,
                                                  long long cols,
                                                  long long outCols) {
  xfc::mha::maskFromAdditive(mask, out, count, cols, outCols);
}
extern "C" __global__ void
xfc_mha_pad_key_padding(const unsigned char *padding, long long strideB,
                        long long strideS, unsigned char *out, long long count,
                        long long cols, long long outCols) {
  xfc::mha::padKeyPadding(padding, strideB, strideS, out, count, cols, outCols);
}
#define XFC_MHA_FILL_ROWS(NAME, E)                                             \
  extern "C" __global__ void NAME(E *x, const float *values, long long rows,   \
                                  long long cols) {                            \
    xfc::mha::fillRows(x, values, rows, cols);                                 \
  }
XFC_MHA_FILL_ROWS(xfc_mha_fill_rows_fp16, xfc::f16)
XFC_MHA_FILL_ROWS(xfc_mha_fill_rows_bf16, xfc::bf16)
XFC_MHA_FILL_ROWS(xfc_mha_fill_rows_fp32, float)
#undef XFC_MHA_FILL_ROWS

#define XFC_MHA_WEIGHTS(NAME, E)                                               \
  extern "C" __global__ void NAME(                                             \
      const E *q, const E *k, float *weights, long long T, long long S, int B, \
      int H, int D, float scale, xfc::mha::WeightMasks masks) {                \
    xfc::mha::attentionWeights(q, k, weights, T, S, B, H, D, scale, masks);    \
  }
XFC_MHA_WEIGHTS(xfc_mha_weights_fp16, xfc::f16)
XFC_MHA_WEIGHTS(xfc_mha_weights_bf16, xfc::bf16)
XFC_MHA_WEIGHTS(xfc_mha_weights_fp32, float)
#undef XFC_MHA_WEIGHTS

extern "C" __global__ void
xfc_mha_incremental_mask(float *out, long long T, long long S, int heads,
                         xfc::mha::WeightMasks masks) {
  xfc::mha::incrementalMask(out, T, S, heads, masks);
}
#define XFC_MHA_COPY(NAME, E)                                                  \
  extern "C" __global__ void NAME(const E *src, E *dst,                        \
                                  xfc::mha::Copy4 copy) {                      \
    xfc::mha::stridedCopy(src, dst, copy);                                     \
  }
XFC_MHA_COPY(xfc_mha_copy_16, unsigned short)
XFC_MHA_COPY(xfc_mha_copy_32, float)
#undef XFC_MHA_COPY

extern "C" __global__ void xfc_mha_average_heads(const float *weights,
                                                 float *out, long long count,
                                                 int heads) {
  xfc::mha::averageHeads(weights, out, count, heads);
}

#endif // XFC_MHA_HELPERS_CUH
