//===- nystrom_ops.cuh - Landmark kernels of nystrom/orthoformer *- C++ -*-===//
//
// The kernels that, with attentionForward and the graph ops' matrix product
// and softmax, make up nystrom and orthoformer: segment-mean landmarks, the
// start of the iterative pseudo-inverse, and orthoformer's landmark
// selection (orthogonal, k-means, spherical k-means, random). Landmarks are
// few (m rows per batch and head), so each block walks whole batch-heads
// with a grid stride; all arithmetic is fp32. Where xFormers draws random
// numbers, these kernels hash a seed (landmarkHash), so that a plan gives
// the same landmarks every run and a test can reproduce them on the host.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_NYSTROM_OPS_CUH
#define XFC_NYSTROM_OPS_CUH

#include "xfc/graph_ops.cuh"

namespace xfc {

/// Orthoformer's landmark selection strategies (trait Selection).
enum LandmarkSelection : int {
  kSelectOrthogonal = 0,
  kSelectKMeans = 1,
  kSelectKMeansSpherical = 2,
  kSelectRandom = 3,
};

/// The landmark selection keeps one value per sampled query in shared
/// memory: at most this many samples (the run time checks).
constexpr long long kLandmarkMaxSamples = 8192;
/// k-means keeps its m x head_dim centroids in shared memory too.
constexpr long long kLandmarkMaxCentroidFloats = 8192;
/// Iterations of xFormers' k-means (`_cluster_landmarks`'s num_iters).
constexpr int kLandmarkKMeansIterations = 6;

/// Streams of landmarkHash: which draw a number belongs to.
enum LandmarkStream : long long {
  kStreamSubsample = 1, ///< sampled query i (with replacement)
  kStreamFirst = 2,     ///< the first orthogonal landmark of batch-head g
  kStreamCentroid = 3,  ///< k-means initial centroids (distinct samples)
  kStreamRandomQ = 4,   ///< random selection: query rows
  kStreamRandomK = 5,   ///< random selection: key rows
};

/// A 64-bit hash of (seed, stream, i) (SplitMix64's finalizer): the
/// deterministic stand-in for xFormers' torch.randint / randperm draws.
XFC_HOST_DEVICE inline unsigned long long
landmarkHash(long long seed, long long stream, long long i) {
  unsigned long long z =
      static_cast<unsigned long long>(seed) * 0x9e3779b97f4a7c15ull +
      static_cast<unsigned long long>(stream) * 0xd1b54a32d192ed03ull +
      static_cast<unsigned long long>(i) * 0xbf58476d1ce4e5b9ull +
      0x632be59bd9b4e019ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/// Number of queries the selection samples from S: all of them, or
/// max(floor(S * fraction), m) drawn with replacement (as xFormers does).
XFC_HOST_DEVICE inline long long
landmarkSampleCount(long long seqLen, double fraction, long long landmarks) {
  if (fraction >= 1.0)
    return seqLen;
  long long n = static_cast<long long>(fraction * static_cast<double>(seqLen));
  return n > landmarks ? n : landmarks;
}

/// The query row of sample i.
XFC_HOST_DEVICE inline long long landmarkSampleRow(long long seed, long long i,
                                                   long long seqLen,
                                                   double fraction) {
  if (fraction >= 1.0)
    return i;
  return static_cast<long long>(landmarkHash(seed, kStreamSubsample, i) %
                                static_cast<unsigned long long>(seqLen));
}

} // namespace xfc

#if defined(__CUDACC__)

namespace xfc {

/// The graph-op dtype code of element type E.
template <typename E>
constexpr int landmarkDType = IsSame<E, f16>::value    ? kOpF16
                              : IsSame<E, bf16>::value ? kOpBF16
                                                       : kOpF32;

/// out[g, l, :] = mean of the rows of segment l of in[0][g] (xFormers'
/// get_avg_pool): with S rows, seg = S / m and r = S % m, the first m - r
/// segments have seg rows and the last r have seg + 1 (all seg when r = 0).
/// The run time guarantees S >= m.
template <typename Traits> XFC_DEVICE void landmarkPoolOp(const OpParams &p) {
  using E = typename Traits::Element;
  static_assert(Traits::InDType >= 0,
                "dtype codes are kOpF32, kOpF16 or kOpBF16");
  const OpTensor &x = p.in[0];
  const long long m = p.out.dims[2], dim = p.out.dims[3];
  const long long heads = p.out.dims[1];
  const long long seq = x.dims[2];
  const long long seg = seq / m, rest = seq % m;
  const long long shortSegments = rest == 0 ? m : m - rest;
  const long long total = p.out.dims[0] * heads * m * dim;
  for (long long item = blockIdx.x * (long long)kOpThreads + threadIdx.x;
       item < total; item += (long long)gridDim.x * kOpThreads) {
    const long long d = item % dim, l = item / dim % m, g = item / (dim * m);
    const long long start =
        l < shortSegments
            ? l * seg
            : shortSegments * seg + (l - shortSegments) * (seg + 1);
    const long long count = l < shortSegments ? seg : seg + 1;
    const long long base = opBatchOffset(x, g, heads) + d * x.strides[3];
    float sum = 0.0f;
    for (long long r = start; r < start + count; ++r)
      sum += loadOpElement<Traits::InDType>(x.data, base + r * x.strides[2]);
    storeOpElement(static_cast<E *>(const_cast<void *>(p.out.data)) +
                       opBatchOffset(p.out, g, heads) + l * p.out.strides[2] +
                       d * p.out.strides[3],
                   sum / static_cast<float>(count));
  }
}

/// The largest value of `value` over the block; every thread gets it.
XFC_DEVICE float landmarkBlockMax(float value, float *scratch) {
#pragma unroll
  for (int s = 16; s > 0; s /= 2)
    value = maxf(value, __shfl_xor_sync(0xffffffffu, value, s));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0)
    scratch[warp] = value;
  __syncthreads();
  float result = scratch[0];
  for (int w = 1; w < kOpThreads / 32; ++w)
    result = maxf(result, scratch[w]);
  __syncthreads();
  return result;
}

/// Largest column sum of matrix g of x (fp32 [rows, cols]).
XFC_DEVICE float largestColumnSum(const OpTensor &x, long long g,
                                  long long heads, float *scratch) {
  const long long rows = x.dims[2], cols = x.dims[3];
  const float *data = static_cast<const float *>(x.data);
  const long long base = opBatchOffset(x, g, heads);
  float best = negInf();
  for (long long c = threadIdx.x; c < cols; c += kOpThreads) {
    float sum = 0.0f;
    for (long long r = 0; r < rows; ++r)
      sum += data[base + r * x.strides[2] + c * x.strides[3]];
    best = maxf(best, sum);
  }
  return landmarkBlockMax(best, scratch);
}

/// out[g] = in[0][g]^T / c, c = the largest column sum of in[0][g] or, with
/// Traits::Global, of all batch-heads (xFormers' iterative_pinv start).
template <typename Traits> XFC_DEVICE void pinvInitOp(const OpParams &p) {
  static_assert(IsSame<typename Traits::Element, float>::value,
                "the pseudo-inverse iterates in fp32");
  __shared__ float scratch[kOpThreads / 32];
  const OpTensor &x = p.in[0];
  const long long n = p.out.dims[2];
  const long long heads = p.out.dims[1];
  const long long batches = p.out.dims[0] * heads;
  float global = negInf();
  if constexpr (Traits::Global)
    for (long long g = 0; g < batches; ++g)
      global = maxf(global, largestColumnSum(x, g, heads, scratch));
  const float *in = static_cast<const float *>(x.data);
  float *out = static_cast<float *>(const_cast<void *>(p.out.data));
  for (long long g = blockIdx.x; g < batches; g += gridDim.x) {
    const float largest =
        Traits::Global ? global : largestColumnSum(x, g, heads, scratch);
    const float inv = 1.0f / largest;
    const long long inBase = opBatchOffset(x, g, heads);
    const long long outBase = opBatchOffset(p.out, g, heads);
    for (long long e = threadIdx.x; e < n * n; e += kOpThreads) {
      const long long r = e / n, c = e % n;
      out[outBase + r * p.out.strides[2] + c * p.out.strides[3]] =
          in[inBase + c * x.strides[2] + r * x.strides[3]] * inv;
    }
  }
}

/// Block-wide (value, index) minimum, ties to the lower index; every thread
/// gets the index.
XFC_DEVICE long long landmarkBlockArgMin(float value, long long index,
                                         float *values, long long *indices) {
#pragma unroll
  for (int s = 16; s > 0; s /= 2) {
    float v = __shfl_xor_sync(0xffffffffu, value, s);
    long long i = __shfl_xor_sync(0xffffffffu, index, s);
    if (v < value || (v == value && i < index))
      value = v, index = i;
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0)
    values[warp] = value, indices[warp] = index;
  __syncthreads();
  float best = values[0];
  long long bestIndex = indices[0];
  for (int w = 1; w < kOpThreads / 32; ++w)
    if (values[w] < best || (values[w] == best && indices[w] < bestIndex))
      best = values[w], bestIndex = indices[w];
  __syncthreads();
  return bestIndex;
}

/// Orthoformer's landmarks of every batch-head: in[0] = queries, in[1] =
/// keys, ints[0] = seed, ints[1] = the bits of the double
/// subsample_fraction. See xfa.landmark_select. The run time guarantees S >
/// m and at most kLandmarkMaxSamples samples.
template <typename Traits> XFC_DEVICE void landmarkSelectOp(const OpParams &p) {
  using E = typename Traits::Element;
  constexpr int M = Traits::NumLandmarks, D = Traits::HeadDim;
  static_assert(M >= 1 && D >= 1, "landmarks and head dim are positive");
  static_assert(Traits::Selection != kSelectKMeans &&
                        Traits::Selection != kSelectKMeansSpherical ||
                    M * D <= kLandmarkMaxCentroidFloats,
                "k-means keeps m x head_dim centroids in shared memory");
  static_assert(Traits::Selection != kSelectKMeans &&
                        Traits::Selection != kSelectKMeansSpherical ||
                    M <= 256,
                "k-means stores cluster numbers in bytes");
  constexpr int Dt = landmarkDType<E>;
  const OpTensor &q = p.in[0], &k = p.in[1];
  const long long heads = p.out.dims[1];
  const long long batches = p.out.dims[0] * heads;
  const long long seq = q.dims[2];
  const long long seed = p.ints[0];
  const double fraction = __longlong_as_double(p.ints[1]);
  const long long samples = landmarkSampleCount(seq, fraction, M);
  E *out = static_cast<E *>(const_cast<void *>(p.out.data));
  __shared__ float reduceValues[kOpThreads / 32];
  __shared__ long long reduceIndices[kOpThreads / 32];

  for (long long g = blockIdx.x; g < batches; g += gridDim.x) {
    const long long qBase = opBatchOffset(q, g, heads);
    const long long outBase = opBatchOffset(p.out, g, heads);
    auto sampleAt = [&](long long n, int d) {
      return loadOpElement<Dt>(
          q.data, qBase +
                      landmarkSampleRow(seed, n, seq, fraction) * q.strides[2] +
                      d * q.strides[3]);
    };
    auto inverseNorm = [&](long long n) {
      float sum = 0.0f;
      for (int d = 0; d < D; ++d) {
        float v = sampleAt(n, d);
        sum += v * v;
      }
      // torch.nn.functional.normalize: x / max(||x||, 1e-12).
      return 1.0f / maxf(sqrtf(sum), 1e-12f);
    };

    if constexpr (Traits::Selection == kSelectOrthogonal) {
      // best[n]: the largest |cos| of sample n to the chosen landmarks, 10
      // once n is chosen (xFormers' marker).
      __shared__ float best[kLandmarkMaxSamples];
      __shared__ float landmark[D];
      __shared__ long long chosen;
      for (long long n = threadIdx.x; n < samples; n += kOpThreads)
        best[n] = 0.0f;
      if (threadIdx.x == 0)
        chosen =
            static_cast<long long>(landmarkHash(seed, kStreamFirst, g) %
                                   static_cast<unsigned long long>(samples));
      __syncthreads();
      for (int l = 0; l < M; ++l) {
        const long long row = chosen;
        const float inv = inverseNorm(row);
        for (int d = threadIdx.x; d < D; d += kOpThreads) {
          float v = sampleAt(row, d);
          landmark[d] = v * inv;
          storeOpElement(
              out + outBase + l * p.out.strides[2] + d * p.out.strides[3], v);
        }
        __syncthreads();
        if (l + 1 == M)
          break;
        float value = 3.0e38f;
        long long index = samples;
        for (long long n = threadIdx.x; n < samples; n += kOpThreads) {
          float b = best[n];
          if (n == row) {
            b = 10.0f;
          } else if (b < 10.0f) {
            float dot = 0.0f;
            for (int d = 0; d < D; ++d)
              dot += sampleAt(n, d) * landmark[d];
            b = maxf(b, fabsf(dot * inverseNorm(n)));
          }
          best[n] = b;
          if (b < value)
            value = b, index = n;
        }
        long long next =
            landmarkBlockArgMin(value, index, reduceValues, reduceIndices);
        if (threadIdx.x == 0)
          chosen = next;
        __syncthreads();
      }
      __syncthreads();
    } else if constexpr (Traits::Selection == kSelectRandom) {
      const long long half = M / 2;
      const long long kBase = opBatchOffset(k, g, heads);
      for (long long e = threadIdx.x; e < 2 * half * D; e += kOpThreads) {
        const long long l = e / D, d = e % D;
        const bool fromQuery = l < half;
        const unsigned long long row =
            landmarkHash(seed, fromQuery ? kStreamRandomQ : kStreamRandomK,
                         fromQuery ? l : l - half) %
            static_cast<unsigned long long>(seq);
        const OpTensor &src = fromQuery ? q : k;
        float v = loadOpElement<Dt>(src.data, (fromQuery ? qBase : kBase) +
                                                  static_cast<long long>(row) *
                                                      src.strides[2] +
                                                  d * src.strides[3]);
        storeOpElement(
            out + outBase + l * p.out.strides[2] + d * p.out.strides[3], v);
      }
    } else {
      // Lloyd's k-means from m distinct random samples (xFormers'
      // randperm(N)[:m]); empty clusters become 0, as with xFormers'
      // 1e-6 counts.
      constexpr bool Spherical = Traits::Selection == kSelectKMeansSpherical;
      __shared__ float centroid[M * D];
      __shared__ float count[M];
      __shared__ unsigned char cluster[kLandmarkMaxSamples];
      __shared__ long long initial[M];
      if (threadIdx.x == 0) {
        long long attempt = 0;
        for (int j = 0; j < M; ++j) {
          long long candidate;
          bool fresh;
          do {
            candidate = static_cast<long long>(
                landmarkHash(seed, kStreamCentroid, attempt++) %
                static_cast<unsigned long long>(samples));
            fresh = true;
            for (int i = 0; i < j; ++i)
              fresh = fresh && initial[i] != candidate;
          } while (!fresh);
          initial[j] = candidate;
        }
      }
      __syncthreads();
      for (int e = threadIdx.x; e < M * D; e += kOpThreads) {
        const long long n = initial[e / D];
        float v = sampleAt(n, e % D);
        if constexpr (Spherical)
          v *= inverseNorm(n);
        centroid[e] = v;
      }
      __syncthreads();
      for (int iteration = 0; iteration < kLandmarkKMeansIterations;
           ++iteration) {
        // E step: nearest centroid (squared distance) or most similar
        // (dot product of unit vectors); ties to the lower index.
        for (long long n = threadIdx.x; n < samples; n += kOpThreads) {
          const float inv = Spherical ? inverseNorm(n) : 1.0f;
          float bestScore = 0.0f;
          int bestJ = 0;
          for (int j = 0; j < M; ++j) {
            float score = 0.0f;
            for (int d = 0; d < D; ++d) {
              float v = sampleAt(n, d) * inv;
              if constexpr (Spherical) {
                score += v * centroid[j * D + d];
              } else {
                float diff = v - centroid[j * D + d];
                score += diff * diff;
              }
            }
            if (j == 0 || (Spherical ? score > bestScore : score < bestScore))
              bestScore = score, bestJ = j;
          }
          cluster[n] = static_cast<unsigned char>(bestJ);
        }
        __syncthreads();
        // M step: means of the assigned samples.
        for (int e = threadIdx.x; e < M * D; e += kOpThreads)
          centroid[e] = 0.0f;
        for (int j = threadIdx.x; j < M; j += kOpThreads)
          count[j] = 1e-6f;
        __syncthreads();
        for (long long n = threadIdx.x; n < samples; n += kOpThreads) {
          const int j = cluster[n];
          const float inv = Spherical ? inverseNorm(n) : 1.0f;
          for (int d = 0; d < D; ++d)
            atomicAdd(&centroid[j * D + d], sampleAt(n, d) * inv);
          atomicAdd(&count[j], 1.0f);
        }
        __syncthreads();
        for (int e = threadIdx.x; e < M * D; e += kOpThreads)
          centroid[e] /= count[e / D];
        __syncthreads();
        if constexpr (Spherical) {
          for (int j = threadIdx.x; j < M; j += kOpThreads) {
            float sum = 0.0f;
            for (int d = 0; d < D; ++d)
              sum += centroid[j * D + d] * centroid[j * D + d];
            count[j] = 1.0f / maxf(sqrtf(sum), 1e-12f);
          }
          __syncthreads();
          for (int e = threadIdx.x; e < M * D; e += kOpThreads)
            centroid[e] *= count[e / D];
          __syncthreads();
        }
      }
      for (int e = threadIdx.x; e < M * D; e += kOpThreads)
        storeOpElement(out + outBase + (e / D) * p.out.strides[2] +
                           (e % D) * p.out.strides[3],
                       centroid[e]);
      __syncthreads();
    }
  }
}

/// out[g, s, d] = in[2][g, s, d] (HasAddend) + sum_t w[h, t] in[0][g, s + t
/// - ks / 2, d]: nystrom's depthwise convolution skip on V; in[1] is the
/// fp32 [heads, ks] weight (ks odd).
template <typename Traits> XFC_DEVICE void sequenceConvOp(const OpParams &p) {
  using E = typename Traits::Element;
  static_assert(Traits::InDType >= 0 && Traits::AddDType >= 0,
                "dtype codes are kOpF32, kOpF16 or kOpBF16");
  const OpTensor &x = p.in[0], &w = p.in[1], &c = p.in[2];
  const long long heads = p.out.dims[1], seq = p.out.dims[2],
                  dim = p.out.dims[3];
  const long long ks = w.dims[3], half = ks / 2;
  const long long total = p.out.dims[0] * heads * seq * dim;
  const float *weight = static_cast<const float *>(w.data);
  for (long long item = blockIdx.x * (long long)kOpThreads + threadIdx.x;
       item < total; item += (long long)gridDim.x * kOpThreads) {
    const long long d = item % dim, s = item / dim % seq,
                    g = item / (dim * seq), h = g % heads;
    const long long base = opBatchOffset(x, g, heads) + d * x.strides[3];
    float sum = 0.0f;
    for (long long t = 0; t < ks; ++t) {
      const long long r = s + t - half;
      if (r >= 0 && r < seq)
        sum += weight[h * w.strides[2] + t * w.strides[3]] *
               loadOpElement<Traits::InDType>(x.data, base + r * x.strides[2]);
    }
    if constexpr (Traits::HasAddend)
      sum += loadOpElement<Traits::AddDType>(
          c.data,
          opBatchOffset(c, g, heads) + s * c.strides[2] + d * c.strides[3]);
    storeOpElement(static_cast<E *>(const_cast<void *>(p.out.data)) +
                       opBatchOffset(p.out, g, heads) + s * p.out.strides[2] +
                       d * p.out.strides[3],
                   sum);
  }
}

} // namespace xfc

#endif // defined(__CUDACC__)

#endif // XFC_NYSTROM_OPS_CUH
