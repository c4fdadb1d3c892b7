//===- lambda_ops.cuh - Lambda layer kernels --------------------*- C++ -*-===//
//
// Lambda's graph (the LambdaNetworks paper) besides matrix products: the
// softmax of the keys over the sequence (content lambda softmax_S(K)^T V)
// and the relative-position term y_p[n] = sum_m (q_n . E[m - n + L - 1]) v_m,
// computed tile by tile in O(S^2 Dh) like attention, never storing S x S.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_LAMBDA_OPS_CUH
#define XFC_LAMBDA_OPS_CUH

#include "xfc/graph_ops.cuh"

namespace xfc {

/// Rows (queries) and columns (keys) of a relative-position tile.
constexpr int kLambdaTile = 16;

} // namespace xfc

#if defined(__CUDACC__)

namespace xfc {

/// out[b, h, :, c] = softmax over the sequence of in[0][b, h, :, c] (fp32):
/// 32 columns per block item, 8 row groups reduced through shared memory.
template <typename Traits>
XFC_DEVICE void sequenceSoftmaxOp(const OpParams &p) {
  constexpr int Cols = 32, Groups = kOpThreads / Cols;
  __shared__ float partial[Groups][Cols];
  const OpTensor &x = p.in[0];
  const long long heads = x.dims[1], rows = x.dims[2], cols = x.dims[3];
  const long long tilesC = (cols + Cols - 1) / Cols;
  const long long items = x.dims[0] * heads * tilesC;
  const int c = threadIdx.x % Cols, group = threadIdx.x / Cols;
  float *out = static_cast<float *>(const_cast<void *>(p.out.data));
  auto load = [&](long long base, long long r, long long col) {
    return loadOpElement<Traits::InDType>(x.data, base + r * x.strides[2] +
                                                      col * x.strides[3]);
  };
  // Combines the groups' partial results of column c.
  auto combine = [&](float value, bool isMax) {
    partial[group][c] = value;
    __syncthreads();
    float total = partial[0][c];
    for (int k = 1; k < Groups; ++k)
      total = isMax ? maxf(total, partial[k][c]) : total + partial[k][c];
    __syncthreads();
    return total;
  };
  for (long long item = blockIdx.x; item < items; item += gridDim.x) {
    const long long g = item / tilesC, col = item % tilesC * Cols + c;
    const long long base = opBatchOffset(x, g, heads);
    const long long oBase = opBatchOffset(p.out, g, heads);
    const bool active = col < cols;
    float rowMax = negInf();
    if (active)
      for (long long r = group; r < rows; r += Groups)
        rowMax = maxf(rowMax, load(base, r, col));
    rowMax = combine(rowMax, true);
    float sum = 0.0f;
    if (active)
      for (long long r = group; r < rows; r += Groups)
        sum += expf(load(base, r, col) - rowMax);
    sum = combine(sum, false);
    if (active) {
      const float inverse = 1.0f / sum;
      for (long long r = group; r < rows; r += Groups)
        out[oBase + r * p.out.strides[2] + col * p.out.strides[3]] =
            expf(load(base, r, col) - rowMax) * inverse;
    }
  }
}

/// out[b, h, n, :] = in[3][b, h, n, :] + sum_m (q_n . E[m - n + L - 1]) v_m
/// with q = in[0], v = in[1], E = in[2] ([2L - 1, HeadDim], fp32) and the
/// fp32 addend in[3]. A block item is a batch-head and kLambdaTile queries;
/// it walks the keys kLambdaTile at a time: the logits of the tile (16 x 16
/// dot products against the 31 embeddings the tile needs), then their
/// products with the values. Needs S <= L (checked by the runtime).
template <typename Traits> XFC_DEVICE void lambdaPositionOp(const OpParams &p) {
  using E = typename Traits::Element;
  constexpr int D = Traits::HeadDim, T = kLambdaTile;
  static_assert(D % 16 == 0 && D <= 128,
                "HeadDim must be a multiple of 16, at most 128");
  static_assert(T * T == kOpThreads, "one thread per (query, key) of a tile");
  constexpr int PerThread = D / T;
  __shared__ float qs[T][D];
  __shared__ float vs[T][D];
  __shared__ float es[2 * T - 1][D];
  __shared__ float logits[T][T + 1];
  const OpTensor &q = p.in[0], &v = p.in[1], &emb = p.in[2], &add = p.in[3];
  const long long heads = q.dims[1], seq = q.dims[2];
  const long long embRows = emb.dims[2], len = (embRows + 1) / 2;
  const long long tilesN = (seq + T - 1) / T;
  const long long items = q.dims[0] * heads * tilesN;
  const float *eData = static_cast<const float *>(emb.data);
  const float *aData = static_cast<const float *>(add.data);
  E *out = static_cast<E *>(const_cast<void *>(p.out.data));
  const int r = threadIdx.x / T, part = threadIdx.x % T;
  for (long long item = blockIdx.x; item < items; item += gridDim.x) {
    const long long g = item / tilesN, n0 = item % tilesN * T;
    const long long qBase = opBatchOffset(q, g, heads);
    const long long vBase = opBatchOffset(v, g, heads);
    for (int e = threadIdx.x; e < T * D; e += kOpThreads) {
      const int rr = e / D, d = e % D;
      const long long n = n0 + rr;
      qs[rr][d] = n < seq
                      ? loadOpElement<Traits::QDType>(
                            q.data, qBase + n * q.strides[2] + d * q.strides[3])
                      : 0.0f;
    }
    float acc[PerThread] = {};
    for (long long m0 = 0; m0 < seq; m0 += T) {
      __syncthreads();
      for (int e = threadIdx.x; e < T * D; e += kOpThreads) {
        const int rr = e / D, d = e % D;
        const long long m = m0 + rr;
        vs[rr][d] =
            m < seq ? loadOpElement<Traits::VDType>(
                          v.data, vBase + m * v.strides[2] + d * v.strides[3])
                    : 0.0f;
      }
      // es[k] = E[m0 - n0 + L - 1 - (T - 1) + k]: key c and query rr use
      // es[c - rr + T - 1].
      const long long e0 = m0 - n0 + len - 1 - (T - 1);
      for (int e = threadIdx.x; e < (2 * T - 1) * D; e += kOpThreads) {
        const int k = e / D, d = e % D;
        const long long row = e0 + k;
        es[k][d] = row >= 0 && row < embRows
                       ? eData[row * emb.strides[2] + d * emb.strides[3]]
                       : 0.0f;
      }
      __syncthreads();
      {
        const int c = part;
        float dot = 0.0f;
#pragma unroll 16
        for (int d = 0; d < D; ++d)
          dot += qs[r][d] * es[c - r + T - 1][d];
        logits[r][c] = dot;
      }
      __syncthreads();
#pragma unroll
      for (int c = 0; c < T; ++c) {
        const float weight = logits[r][c];
#pragma unroll
        for (int j = 0; j < PerThread; ++j)
          acc[j] += weight * vs[c][part + T * j];
      }
    }
    const long long n = n0 + r;
    if (n < seq) {
      const long long aBase = opBatchOffset(add, g, heads) + n * add.strides[2];
      const long long oBase =
          opBatchOffset(p.out, g, heads) + n * p.out.strides[2];
#pragma unroll
      for (int j = 0; j < PerThread; ++j) {
        const int d = part + T * j;
        storeOpElement(out + oBase + d * p.out.strides[3],
                       acc[j] + aData[aBase + d * add.strides[3]]);
      }
    }
    __syncthreads();
  }
}

} // namespace xfc

#endif // defined(__CUDACC__)

#endif // XFC_LAMBDA_OPS_CUH
