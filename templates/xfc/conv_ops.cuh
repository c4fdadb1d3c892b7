//===- conv_ops.cuh - Token-grid kernels of pooling and visual --*- C++ -*-===//
//
// pooling (PoolFormer) and visual (VAN) read the sequence of every batch and
// head as a square H x H token grid (token t at row t / H, column t % H) and
// mix it with 2-D stencils: an average pool without the padding in its
// counts, depthwise convolutions with dilation. Features (dimension 3) are
// independent in both, so a thread computes one output element; threads of a
// warp take consecutive features, which are contiguous in memory. The grid
// side comes in ints[0] (the runtime checks that S is a square). visual's
// 1x1 convolutions are matrix products (matmulOp); its GELU, gating product
// and residual sum are elementwiseOp. All arithmetic is fp32.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_CONV_OPS_CUH
#define XFC_CONV_OPS_CUH

#include "xfc/graph_ops.cuh"

namespace xfc {

/// The functions of elementwiseOp (trait Kind).
enum ElementwiseKind : int {
  kElementwiseGelu = 0, ///< a * (1 + erf(a / sqrt(2))) / 2
  kElementwiseMul = 1,  ///< a * b
  kElementwiseAdd = 2,  ///< a + b
};

} // namespace xfc

#if defined(__CUDACC__)

namespace xfc {

/// The stride of dimension `d` of `t`, 0 where it broadcasts (size 1).
XFC_DEVICE long long gridStride(const OpTensor &t, int d) {
  return t.dims[d] > 1 ? t.strides[d] : 0;
}

/// Offset of element [b, h, r, c] of `t`, broadcasting dimensions of size 1.
XFC_DEVICE long long opOffset(const OpTensor &t, long long b, long long h,
                              long long r, long long c) {
  return b * gridStride(t, 0) + h * gridStride(t, 1) + r * gridStride(t, 2) +
         c * gridStride(t, 3);
}

/// Calls `body(b, h, s, c)` for every element of `out` (features fastest),
/// spread over the whole grid.
template <typename Body>
XFC_DEVICE void forEachOpElement(const OpTensor &out, Body body) {
  const long long cols = out.dims[3], rows = out.dims[2], heads = out.dims[1];
  const long long total = out.dims[0] * heads * rows * cols;
  const long long stride = (long long)gridDim.x * kOpThreads;
  for (long long i = blockIdx.x * (long long)kOpThreads + threadIdx.x;
       i < total; i += stride) {
    long long rest = i;
    const long long c = rest % cols;
    rest /= cols;
    const long long s = rest % rows;
    rest /= rows;
    body(rest / heads, rest % heads, s, c);
  }
}

/// out = AvgPool2d(PoolSize, stride 1, padding PoolSize / 2,
/// count_include_pad = False)(x) + beta * x over the token grid of side
/// ints[0]: each output is the mean of the window's positions that lie in
/// the grid.
template <typename Traits> XFC_DEVICE void gridPoolOp(const OpParams &p) {
  using E = typename Traits::Element;
  static_assert(Traits::PoolSize >= 1 && Traits::PoolSize % 2 == 1,
                "an odd pool size keeps the grid with padding PoolSize / 2");
  constexpr long long R = Traits::PoolSize / 2;
  const OpTensor &x = p.in[0];
  const long long side = p.ints[0];
  E *out = static_cast<E *>(const_cast<void *>(p.out.data));
  forEachOpElement(p.out, [&](long long b, long long h, long long s,
                              long long c) {
    const long long y = s / side, xc = s % side;
    const long long y0 = y - R < 0 ? 0 : y - R;
    const long long y1 = y + R >= side ? side - 1 : y + R;
    const long long x0 = xc - R < 0 ? 0 : xc - R;
    const long long x1 = xc + R >= side ? side - 1 : xc + R;
    const long long base = opOffset(x, b, h, 0, c);
    const long long rowStride = gridStride(x, 2);
    float sum = 0.0f;
    for (long long yy = y0; yy <= y1; ++yy)
      for (long long xx = x0; xx <= x1; ++xx)
        sum += loadOpElement<Traits::InDType>(x.data, base + (yy * side + xx) *
                                                                 rowStride);
    const float count = static_cast<float>((y1 - y0 + 1) * (x1 - x0 + 1));
    float value = sum / count;
    if (p.beta != 0.0f)
      value +=
          p.beta * loadOpElement<Traits::InDType>(x.data, base + s * rowStride);
    storeOpElement(out + opOffset(p.out, b, h, s, c), value);
  });
}

/// Depthwise Conv2d over the token grid of side ints[0]: out[(y, x), c] =
/// bias[c] + sum_{i, j} w[c, i * K + j] x[(y - P + i D, x - P + j D), c]
/// with K = KernelSize, D = Dilation, zero padding P = D (K - 1) / 2.
/// in[1] is the weight [C, K * K], in[2] the bias [1, C].
template <typename Traits> XFC_DEVICE void depthwiseConvOp(const OpParams &p) {
  using E = typename Traits::Element;
  static_assert(Traits::KernelSize >= 1 && Traits::KernelSize % 2 == 1,
                "an odd kernel size keeps the grid");
  static_assert(Traits::Dilation >= 1, "dilation is at least 1");
  constexpr int K = Traits::KernelSize;
  constexpr long long D = Traits::Dilation, P = D * (K - 1) / 2;
  const OpTensor &x = p.in[0], &w = p.in[1], &bias = p.in[2];
  const long long side = p.ints[0];
  const float *weights = static_cast<const float *>(w.data);
  const float *biases = static_cast<const float *>(bias.data);
  E *out = static_cast<E *>(const_cast<void *>(p.out.data));
  forEachOpElement(p.out, [&](long long b, long long h, long long s,
                              long long c) {
    const long long y = s / side, xc = s % side;
    const long long base = opOffset(x, b, h, 0, c);
    const long long rowStride = gridStride(x, 2);
    const float *filter = weights + c * w.strides[2];
    float sum = biases[c * bias.strides[3]];
#pragma unroll
    for (int i = 0; i < K; ++i) {
      const long long yy = y - P + i * D;
      if (yy < 0 || yy >= side)
        continue;
#pragma unroll
      for (int j = 0; j < K; ++j) {
        const long long xx = xc - P + j * D;
        if (xx < 0 || xx >= side)
          continue;
        sum += filter[(i * K + j) * w.strides[3]] *
               loadOpElement<Traits::InDType>(x.data, base + (yy * side + xx) *
                                                                 rowStride);
      }
    }
    storeOpElement(out + opOffset(p.out, b, h, s, c), sum);
  });
}

/// out = f(a + bias, b): GELU (exact, erf), product or sum; a is in[0], b
/// in[1] (Kind mul/add), bias in[2] ([1, C], HasBias).
template <typename Traits> XFC_DEVICE void elementwiseOp(const OpParams &p) {
  using E = typename Traits::Element;
  static_assert(Traits::Kind == kElementwiseGelu ||
                    Traits::Kind == kElementwiseMul ||
                    Traits::Kind == kElementwiseAdd,
                "Kind is one of ElementwiseKind");
  static_assert(Traits::ADType >= 0 && Traits::BDType >= 0,
                "dtype codes are kOpF32, kOpF16 or kOpBF16");
  const OpTensor &a = p.in[0], &rhs = p.in[1], &bias = p.in[2];
  E *out = static_cast<E *>(const_cast<void *>(p.out.data));
  forEachOpElement(p.out, [&](long long b, long long h, long long s,
                              long long c) {
    float value =
        loadOpElement<Traits::ADType>(a.data, opOffset(a, b, h, s, c));
    if constexpr (Traits::HasBias)
      value += static_cast<const float *>(bias.data)[c * bias.strides[3]];
    if constexpr (Traits::Kind == kElementwiseGelu) {
      value = 0.5f * value * (1.0f + erff(value * 0.70710678118654752f));
    } else {
      const float other =
          loadOpElement<Traits::BDType>(rhs.data, opOffset(rhs, b, h, s, c));
      value = Traits::Kind == kElementwiseMul ? value * other : value + other;
    }
    storeOpElement(out + opOffset(p.out, b, h, s, c), value);
  });
}

} // namespace xfc

#endif // defined(__CUDACC__)

#endif // XFC_CONV_OPS_CUH
