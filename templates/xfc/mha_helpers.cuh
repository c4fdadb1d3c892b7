//===- mha_helpers.cuh - Element-wise kernels of MultiheadAttention -------===//
//
// The small kernels xfc::MultiheadAttention launches around its projections
// and the attention plan: adding a projection's bias to a row-major
// [rows, cols] buffer, and turning an attn_mask of any accepted dtype into the
// additive fp32 mask the attention kernels read. Compiled by NVRTC (no system
// or CUDA header); every kernel is a grid-stride loop over 64-bit indices.
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

/// out[i] = -inf where mask[i] is nonzero, else 0.
__device__ inline void maskFromBytes(const unsigned char *mask, float *out,
                                     long long count) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
       i < count; i += (long long)gridDim.x * blockDim.x)
    out[i] = mask[i] ? negInf() : 0.0f;
}

/// out[i] = float(mask[i]) for an additive 16-bit mask.
template <typename E>
__device__ void maskFromAdditive(const E *mask, float *out, long long count) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
       i < count; i += (long long)gridDim.x * blockDim.x)
    out[i] = toFloat(mask[i]);
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
                                                   float *out,
                                                   long long count) {
  xfc::mha::maskFromBytes(mask, out, count);
}
extern "C" __global__ void xfc_mha_mask_from_fp16(const xfc::f16 *mask,
                                                  float *out, long long count) {
  xfc::mha::maskFromAdditive(mask, out, count);
}
extern "C" __global__ void xfc_mha_mask_from_bf16(const xfc::bf16 *mask,
                                                  float *out, long long count) {
  xfc::mha::maskFromAdditive(mask, out, count);
}

#endif // XFC_MHA_HELPERS_CUH
