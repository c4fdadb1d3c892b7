//===- simt_fwd.cuh - fp32 attention forward on CUDA cores ----------------===//
//
// The fp32 path keeps full precision (no tensor cores) with the same
// schedule, masks, dropout and online softmax as the mma.sync path. Each warp
// owns 8 query rows; lane = 4 * r + q owns row r, keys q + 4u of every KV tile
// and the 16-byte chunks q + 4v of its output row. Tiles stream through the
// same swizzled cp.async pipeline, which keeps the 128-bit shared loads of
// the 4 lanes of a quad (4 different rows, one chunk) conflict-free.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_SIMT_FWD_CUH
#define XFC_SIMT_FWD_CUH

#include "xfc/attention_params.h"
#include "xfc/dropout.cuh"
#include "xfc/schedule.cuh"
#include "xfc/types.cuh"

#if defined(__CUDACC__)

namespace xfc {

template <typename Traits, typename Schedule>
XFC_DEVICE void simtForward(const AttentionParams &params) {
  static_assert(Schedule::TileBlocks == 1,
                "gathered K/V tiles are the sm_90a wgmma kernel's");
  constexpr int HeadDim = Traits::HeadDim;
  constexpr int BlockM = Traits::BlockM;
  constexpr int BlockN = Traits::BlockN;
  constexpr int Stages = Traits::NumStages;
  constexpr int Threads = Traits::NumWarps * 32;
  constexpr int RowChunks = HeadDim / 4; // 16-byte chunks per fp32 row.
  constexpr int KeysPerLane = BlockN / 4;
  constexpr int ChunksPerLane = RowChunks / 4;
  using Tile = Swizzle<RowChunks>;
  static_assert(Tile::Group == 8, "fp32 rows are a multiple of 128 bytes");

  static_assert(IsSame<typename Traits::Element, float>::value,
                "the SIMT path takes float elements");
  static_assert(HeadDim == 32 || HeadDim == 64 || HeadDim == 96 ||
                    HeadDim == 128 || HeadDim == 256,
                "HeadDim must be 32, 64, 96, 128 or 256");
  static_assert(Traits::NumWarps >= 1 && Traits::NumWarps <= 16,
                "NumWarps must be 1 to 16");
  static_assert(BlockM == Traits::NumWarps * 8,
                "the SIMT path gives each warp 8 query rows: BlockM must be "
                "NumWarps * 8");
  static_assert(BlockN == 16 || BlockN == 32 || BlockN == 64,
                "BlockN must be 16, 32 or 64 on the SIMT path");
  static_assert(Stages >= 1 && Stages <= 4, "NumStages must be 1 to 4");
  static_assert(Traits::SharedBytes ==
                    simtSharedBytes(BlockM, BlockN, Stages, HeadDim),
                "SharedBytes must be (BlockM + 2 * NumStages * BlockN) * "
                "HeadDim * 4 (templates/README.md)");

  // One work item per CTA.
  const WorkItems work{static_cast<int>(gridDim.x), static_cast<int>(gridDim.y),
                       static_cast<int>(gridDim.z)};
  const TilePlace place =
      Schedule::place(work, linearBlockIndex(), /*reverse=*/false);
  const int mTile = place.mTile, head = place.head, batch = place.batch;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int quadBase = lane & ~3, q = lane % 4;
  const int localRow = warp * 8 + lane / 4;
  const int row = mTile * BlockM + localRow;
  const int qLen = params.qLen, kvLen = params.kvLen;

  const float *qBase = static_cast<const float *>(params.q) +
                       batch * params.qBatchStride + head * params.qHeadStride;
  const float *kBase = static_cast<const float *>(params.k) +
                       batch * params.kBatchStride + head * params.kHeadStride;
  const float *vBase = static_cast<const float *>(params.v) +
                       batch * params.vBatchStride + head * params.vHeadStride;

  constexpr int TileBytes = BlockN * HeadDim * 4;
  const unsigned sQ = smemAddress(xfcSharedMemory);
  constexpr int OffK = BlockM * HeadDim * 4;
  constexpr int OffV = OffK + Stages * TileBytes;

  const Schedule schedule(params, head, mTile);
  const int numTiles = schedule.numTiles();
  RowMasks<Traits> masks;
  masks.init(params, batch, head, row);

  float acc[ChunksPerLane][4];
#pragma unroll
  for (int v = 0; v < ChunksPerLane; ++v)
#pragma unroll
    for (int e = 0; e < 4; ++e)
      acc[v][e] = 0.0f;
  float rowMax = negInf(), rowSum = 0.0f;

  auto loadKv = [&](int idx) {
    int kv = schedule.tile(idx).index;
    int stage = idx % Stages;
    copyRowsAsync<BlockN, RowChunks, Threads>(
        kBase, params.kSeqStride, kv * BlockN, kvLen,
        sQ + OffK + stage * TileBytes, tid);
    copyRowsAsync<BlockN, RowChunks, Threads>(
        vBase, params.vSeqStride, kv * BlockN, kvLen,
        sQ + OffV + stage * TileBytes, tid);
  };

  if (numTiles > 0) {
    copyRowsAsync<BlockM, RowChunks, Threads>(qBase, params.qSeqStride,
                                              mTile * BlockM, qLen, sQ, tid);
    if constexpr (Stages == 1)
      cpAsyncCommit();
#pragma unroll
    for (int s = 0; s < Stages - 1; ++s) {
      if (s < numTiles)
        loadKv(s);
      cpAsyncCommit();
    }

    Dropout dropout(params, batch, head);
    unsigned dropRowKey = 0u;
    if constexpr (Traits::HasDropout)
      dropRowKey = dropout.rowKey(row);
    const float scaleLog2 = params.scaleLog2;
    const unsigned qLaneBase = Tile::rowBase(sQ, localRow);
    const unsigned kLaneBase[2] = {Tile::rowBase(sQ + OffK, q),
                                   Tile::rowBase(sQ + OffK, q + 4)};
    // V row j (compile time) with this lane's chunks q + 4v: the XOR of
    // q with j & 7 is formed per j.
    const unsigned vTile = sQ + OffV;

    for (int idx = 0; idx < numTiles; ++idx) {
      advanceKvPipeline<Stages>(idx, numTiles, loadKv);
      const KvTile tile = schedule.tile(idx);
      const int stageOffset = (idx % Stages) * TileBytes;

      // S = Q K^T for this lane's row and keys q + 4u.
      float s[KeysPerLane];
#pragma unroll
      for (int u = 0; u < KeysPerLane; ++u)
        s[u] = 0.0f;
      // Keys q + 4u and q + 4u + 8 share a row XOR: two lane bases.
      const unsigned kBase[2] = {kLaneBase[0] + stageOffset,
                                 kLaneBase[1] + stageOffset};
#pragma unroll 1
      for (int cg = 0; cg < RowChunks; cg += 8) {
#pragma unroll
        for (int ci = 0; ci < 8; ++ci) {
          const Float4 qv = ldShared4(Tile::at(qLaneBase, ci) + cg * 16);
#pragma unroll
          for (int u = 0; u < KeysPerLane; ++u) {
            const Float4 kv =
                ldShared4(Tile::at(kBase[u % 2], ci, (u / 2) * 8) + cg * 16);
            s[u] = fmaf(qv.x, kv.x, s[u]);
            s[u] = fmaf(qv.y, kv.y, s[u]);
            s[u] = fmaf(qv.z, kv.z, s[u]);
            s[u] = fmaf(qv.w, kv.w, s[u]);
          }
        }
      }

      const int col0 = tile.index * BlockN + q;
#pragma unroll
      for (int u = 0; u < KeysPerLane; ++u)
        s[u] =
            scoreWithMasks<Traits>(s[u], scaleLog2, col0 + 4 * u, kvLen, masks);
      if (tile.partial) {
#pragma unroll
        for (int u = 0; u < KeysPerLane; ++u)
          if (!schedule.visible(row, col0 + 4 * u))
            s[u] = negInf();
      }

      float m = rowMax;
#pragma unroll
      for (int u = 0; u < KeysPerLane; ++u)
        m = maxf(m, s[u]);
      m = maxf(m, __shfl_xor_sync(0xffffffffu, m, 1));
      m = maxf(m, __shfl_xor_sync(0xffffffffu, m, 2));
      // Max -inf means only masked keys so far: exp2 must give 0, not NaN.
      const float offset = m == negInf() ? 0.0f : m;
      const float scaleOld = exp2Fast(rowMax - offset);
      rowMax = m;
      rowSum *= scaleOld;
#pragma unroll
      for (int v = 0; v < ChunksPerLane; ++v)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          acc[v][e] *= scaleOld;
#pragma unroll
      for (int u = 0; u < KeysPerLane; ++u) {
        float p = exp2Fast(s[u] - offset);
        rowSum += p; // The denominator counts dropped probabilities too.
        if constexpr (Traits::HasDropout) {
          if (!dropout.keep(dropRowKey, col0 + 4 * u))
            p = 0.0f;
        }
        s[u] = p;
      }

      // O += P V: key j's probability lives in lane quadBase + j % 4.
#pragma unroll
      for (int j = 0; j < BlockN; ++j) {
        const float p = __shfl_sync(0xffffffffu, s[j / 4], quadBase + (j % 4));
        // Chunk q + 4v of row j: (q + 4v) ^ (j & 7) = (q ^ (j & 7)) ^ 4v
        // within each group of 8 chunks.
        const unsigned rowV =
            vTile + stageOffset + j * Tile::RowBytes + ((q ^ (j & 7)) * 16);
#pragma unroll
        for (int v = 0; v < ChunksPerLane; ++v) {
          const Float4 vv = ldShared4((rowV ^ ((v & 1) * 64)) + (v / 2) * 128);
          acc[v][0] = fmaf(p, vv.x, acc[v][0]);
          acc[v][1] = fmaf(p, vv.y, acc[v][1]);
          acc[v][2] = fmaf(p, vv.z, acc[v][2]);
          acc[v][3] = fmaf(p, vv.w, acc[v][3]);
        }
      }
    }
    cpAsyncWait<0>();
  }

  float l = rowSum;
  l += __shfl_xor_sync(0xffffffffu, l, 1);
  l += __shfl_xor_sync(0xffffffffu, l, 2);
  float keepScale = 1.0f;
  if constexpr (Traits::HasDropout)
    keepScale = Dropout(params, batch, head).scale();
  // No visible key: l == 0 and the row is exactly 0.
  const float rowScale = l > 0.0f ? keepScale / l : 0.0f;
  if (row < qLen) {
    if constexpr (Traits::WriteLse) {
      if (q == 0)
        params
            .lse[(static_cast<long long>(batch) * params.heads + head) * qLen +
                 row] = l > 0.0f ? (rowMax + log2Fast(l)) * kLn2 : negInf();
    }
    float *out = static_cast<float *>(params.o) + batch * params.oBatchStride +
                 head * params.oHeadStride + row * params.oSeqStride;
#pragma unroll
    for (int v = 0; v < ChunksPerLane; ++v)
      *reinterpret_cast<Float4 *>(out + (q + 4 * v) * 4) =
          Float4{acc[v][0] * rowScale, acc[v][1] * rowScale,
                 acc[v][2] * rowScale, acc[v][3] * rowScale};
  }
}

} // namespace xfc

#endif // defined(__CUDACC__)

#endif // XFC_SIMT_FWD_CUH
