//===- favor_ops.cuh - Performer's (favor) kernels --------------*- C++ -*-===//
//
// The pieces of favor's graph besides matrix products: the positive random
// feature map phi, the sums over the sequence and the normalisation of
// linear attention, and the causal form as a scan along the sequence that
// keeps the running sums sum_{j <= i} phi(k_j) v_j^T and sum_{j <= i} phi(k_j)
// (never an S x S matrix). fp32 arithmetic throughout, like xFormers.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_FAVOR_OPS_CUH
#define XFC_FAVOR_OPS_CUH

#include "xfc/graph_ops.cuh"

namespace xfc {

/// Feature maps (trait Kind of featureMapOp).
enum FeatureMapKind : int { kSmReg = 0, kSmHyp = 1, kSmOrf = 2 };

/// Rows the feature map computes per block iteration (sharing W's loads).
constexpr int kFeatureMapRows = 8;
/// The causal scan: value columns per block, thread groups over the
/// features, and rows per cross-thread reduction.
constexpr int kScanColumns = 8;
constexpr int kScanGroups = kOpThreads / kScanColumns;
constexpr int kScanChunk = 16;

} // namespace xfc

#if defined(__CUDACC__)

namespace xfc {

/// out[b, h, s, :] = phi(in[0][b, h, s, :]) with W = in[1] ([Dh, m'], fp32):
/// x_s = alpha * x, off = -||x_s||^2 / 2 + beta, p = x_s W, and
/// [exp(p + off), exp(-p + off)] (sm_reg, sm_hyp) or exp(p + off) (sm_orf).
template <typename Traits> XFC_DEVICE void featureMapOp(const OpParams &p) {
  constexpr int D = Traits::HeadDim, R = kFeatureMapRows;
  static_assert(D >= 1 && D <= 256, "HeadDim must be in [1, 256]");
  static_assert(Traits::Kind == kSmReg || Traits::Kind == kSmHyp ||
                    Traits::Kind == kSmOrf,
                "Kind is kSmReg, kSmHyp or kSmOrf");
  __shared__ float xs[R][D];
  __shared__ float offsets[R];
  const OpTensor &x = p.in[0], &w = p.in[1];
  const long long heads = x.dims[1], seq = x.dims[2];
  const long long rows = x.dims[0] * heads * seq;
  const long long half = w.dims[3];
  const float *wData = static_cast<const float *>(w.data);
  float *out = static_cast<float *>(const_cast<void *>(p.out.data));
  for (long long row0 = blockIdx.x * (long long)R; row0 < rows;
       row0 += gridDim.x * (long long)R) {
    for (int e = threadIdx.x; e < R * D; e += kOpThreads) {
      const int r = e / D, d = e % D;
      const long long row = row0 + r;
      float value = 0.0f;
      if (row < rows) {
        const long long g = row / seq, s = row % seq;
        value = loadOpElement<Traits::InDType>(
                    x.data, opBatchOffset(x, g, heads) + s * x.strides[2] +
                                d * x.strides[3]) *
                p.alpha;
      }
      xs[r][d] = value;
    }
    __syncthreads();
    if (threadIdx.x < R) {
      float norm = 0.0f;
      for (int d = 0; d < D; ++d)
        norm += xs[threadIdx.x][d] * xs[threadIdx.x][d];
      offsets[threadIdx.x] = -0.5f * norm + p.beta;
    }
    __syncthreads();
    for (long long f = threadIdx.x; f < half; f += kOpThreads) {
      float acc[R] = {};
      for (int d = 0; d < D; ++d) {
        const float wv = wData[d * w.strides[2] + f * w.strides[3]];
#pragma unroll
        for (int r = 0; r < R; ++r)
          acc[r] += xs[r][d] * wv;
      }
#pragma unroll
      for (int r = 0; r < R; ++r) {
        const long long row = row0 + r;
        if (row >= rows)
          break;
        const long long g = row / seq, s = row % seq;
        const long long base =
            opBatchOffset(p.out, g, heads) + s * p.out.strides[2];
        out[base + f * p.out.strides[3]] = expf(acc[r] + offsets[r]);
        if constexpr (Traits::Kind != kSmOrf)
          out[base + (f + half) * p.out.strides[3]] =
              expf(-acc[r] + offsets[r]);
      }
    }
    __syncthreads();
  }
}

/// out[b, h, 0, c] = sum_r in[0][b, h, r, c] in fp32: 32 columns per block
/// item, 8 row groups reduced through shared memory.
template <typename Traits> XFC_DEVICE void sumRowsOp(const OpParams &p) {
  constexpr int Cols = 32, Groups = kOpThreads / Cols;
  __shared__ float partial[Groups][Cols];
  const OpTensor &x = p.in[0];
  const long long heads = x.dims[1], rows = x.dims[2], cols = x.dims[3];
  const long long tilesC = (cols + Cols - 1) / Cols;
  const long long items = x.dims[0] * heads * tilesC;
  const int c = threadIdx.x % Cols, group = threadIdx.x / Cols;
  float *out = static_cast<float *>(const_cast<void *>(p.out.data));
  for (long long item = blockIdx.x; item < items; item += gridDim.x) {
    const long long g = item / tilesC, col = item % tilesC * Cols + c;
    const long long base = opBatchOffset(x, g, heads);
    float sum = 0.0f;
    if (col < cols)
      for (long long r = group; r < rows; r += Groups)
        sum += loadOpElement<Traits::InDType>(x.data, base + r * x.strides[2] +
                                                          col * x.strides[3]);
    partial[group][c] = sum;
    __syncthreads();
    if (group == 0 && col < cols) {
      float total = 0.0f;
      for (int k = 0; k < Groups; ++k)
        total += partial[k][c];
      out[opBatchOffset(p.out, g, heads) + col * p.out.strides[3]] = total;
    }
    __syncthreads();
  }
}

/// out[b, h, r, :] = in[0][b, h, r, :] / (in[1][b, h, r, :] . in[2][b, h,
/// 0, :]): one warp per row.
template <typename Traits>
XFC_DEVICE void linearNormalizeOp(const OpParams &p) {
  using E = typename Traits::Element;
  const OpTensor &num = p.in[0], &qf = p.in[1], &ks = p.in[2];
  const long long heads = num.dims[1], seq = num.dims[2];
  const long long rows = num.dims[0] * heads * seq;
  const long long dv = num.dims[3], m = qf.dims[3];
  const int lane = threadIdx.x % 32, warps = kOpThreads / 32;
  const float *numData = static_cast<const float *>(num.data);
  const float *qData = static_cast<const float *>(qf.data);
  const float *kData = static_cast<const float *>(ks.data);
  E *out = static_cast<E *>(const_cast<void *>(p.out.data));
  for (long long row = blockIdx.x * (long long)warps + threadIdx.x / 32;
       row < rows; row += gridDim.x * (long long)warps) {
    const long long g = row / seq, s = row % seq;
    const long long qBase = opBatchOffset(qf, g, heads) + s * qf.strides[2];
    const long long kBase = opBatchOffset(ks, g, heads);
    float den = 0.0f;
    for (long long f = lane; f < m; f += 32)
      den +=
          qData[qBase + f * qf.strides[3]] * kData[kBase + f * ks.strides[3]];
#pragma unroll
    for (int step = 16; step > 0; step /= 2)
      den += __shfl_xor_sync(0xffffffffu, den, step);
    const float inverse = 1.0f / den;
    const long long nBase = opBatchOffset(num, g, heads) + s * num.strides[2];
    const long long oBase =
        opBatchOffset(p.out, g, heads) + s * p.out.strides[2];
    for (long long d = lane; d < dv; d += 32)
      storeOpElement(out + oBase + d * p.out.strides[3],
                     numData[nBase + d * num.strides[3]] * inverse);
  }
}

/// Causal linear attention: out_i = qf_i S_i / (qf_i . z_i) with S_i =
/// sum_{j <= i} kf_j v_j^T and z_i = sum_{j <= i} kf_j. A block item is a
/// batch-head and kScanColumns value columns; thread (group, column) keeps
/// the running sums of the features group + kScanGroups * t in registers,
/// and the partial products of kScanChunk rows are reduced across groups
/// (warp shuffles, then shared memory) once per chunk.
template <typename Traits>
XFC_DEVICE void causalLinearAttentionOp(const OpParams &p) {
  using E = typename Traits::Element;
  constexpr int C = kScanColumns, G = kScanGroups, R = kScanChunk;
  constexpr int Warps = kOpThreads / 32, GroupsPerWarp = 32 / C;
  constexpr int PerThread = (Traits::Features + G - 1) / G;
  static_assert(Traits::Features >= 1 && PerThread <= 64,
                "Features must be in [1, 2048]");
  __shared__ float numPartial[Warps][R][C];
  __shared__ float denPartial[Warps][R];
  const OpTensor &qf = p.in[0], &kf = p.in[1], &v = p.in[2];
  const long long heads = qf.dims[1], seq = qf.dims[2], m = qf.dims[3];
  const long long dv = v.dims[3];
  const long long tilesC = (dv + C - 1) / C;
  const long long items = qf.dims[0] * heads * tilesC;
  const int column = threadIdx.x % C, group = threadIdx.x / C;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const float *qData = static_cast<const float *>(qf.data);
  const float *kData = static_cast<const float *>(kf.data);
  E *out = static_cast<E *>(const_cast<void *>(p.out.data));
  for (long long item = blockIdx.x; item < items; item += gridDim.x) {
    const long long g = item / tilesC, col0 = item % tilesC * C;
    const long long d = col0 + column;
    const long long qBase = opBatchOffset(qf, g, heads);
    const long long kBase = opBatchOffset(kf, g, heads);
    const long long vBase = opBatchOffset(v, g, heads);
    const long long oBase = opBatchOffset(p.out, g, heads);
    float state[PerThread], keySum[PerThread];
#pragma unroll
    for (int t = 0; t < PerThread; ++t)
      state[t] = keySum[t] = 0.0f;
    for (long long s0 = 0; s0 < seq; s0 += R) {
      float num[R], den[R];
#pragma unroll
      for (int r = 0; r < R; ++r) {
        num[r] = den[r] = 0.0f;
        const long long s = s0 + r;
        if (s >= seq)
          continue;
        const float vv =
            d < dv ? loadOpElement<Traits::VDType>(
                         v.data, vBase + s * v.strides[2] + d * v.strides[3])
                   : 0.0f;
#pragma unroll
        for (int t = 0; t < PerThread; ++t) {
          const long long f = group + (long long)G * t;
          if (f < m) {
            const float kv =
                kData[kBase + s * kf.strides[2] + f * kf.strides[3]];
            const float qv =
                qData[qBase + s * qf.strides[2] + f * qf.strides[3]];
            state[t] += kv * vv;
            keySum[t] += kv;
            num[r] += qv * state[t];
            den[r] += qv * keySum[t];
          }
        }
      }
      // Lanes column + C * k (k < GroupsPerWarp) share a column.
#pragma unroll
      for (int r = 0; r < R; ++r)
#pragma unroll
        for (int step = C; step < 32; step *= 2) {
          num[r] += __shfl_xor_sync(0xffffffffu, num[r], step);
          den[r] += __shfl_xor_sync(0xffffffffu, den[r], step);
        }
      static_assert(GroupsPerWarp * C == 32, "C must divide 32");
      if (lane < C) {
#pragma unroll
        for (int r = 0; r < R; ++r) {
          numPartial[warp][r][lane] = num[r];
          if (lane == 0)
            denPartial[warp][r] = den[r];
        }
      }
      __syncthreads();
      if (threadIdx.x < R * C) {
        const int r = threadIdx.x / C, c = threadIdx.x % C;
        const long long s = s0 + r, dd = col0 + c;
        if (s < seq && dd < dv) {
          float n = 0.0f, dn = 0.0f;
          for (int k = 0; k < Warps; ++k) {
            n += numPartial[k][r][c];
            dn += denPartial[k][r];
          }
          storeOpElement(out + oBase + s * p.out.strides[2] +
                             dd * p.out.strides[3],
                         n / dn);
        }
      }
      __syncthreads();
    }
  }
}

} // namespace xfc

#endif // defined(__CUDACC__)

#endif // XFC_FAVOR_OPS_CUH
