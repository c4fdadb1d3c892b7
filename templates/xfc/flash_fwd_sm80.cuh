//===- flash_fwd_sm80.cuh - Flash attention forward with mma.sync ---------===//
//
// FlashAttention-2 style forward for f16/bf16 on sm_80+: each warp owns 16
// query rows whose Q fragments stay in registers; K/V tiles stream through a
// NumStages-deep cp.async pipeline of XOR-swizzled shared tiles; S = Q K^T and
// O += P V use mma.sync m16n8k16 with fp32 accumulation; the softmax is online
// in the exp2 domain with a running max per row.
//
// Fragment ownership (m16n8k16 accumulators): lane = 4 * g + t owns rows
// g and g + 8 of the warp's 16 rows and columns 2t, 2t + 1 of every 8-wide
// n-tile.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_FLASH_FWD_SM80_CUH
#define XFC_FLASH_FWD_SM80_CUH

#include "xfc/attention_params.h"
#include "xfc/dropout.cuh"
#include "xfc/schedule.cuh"
#include "xfc/types.cuh"

#if defined(__CUDACC__)

namespace xfc {

template <typename Traits, typename Schedule>
XFC_DEVICE void flashForwardSm80(const AttentionParams &params) {
  static_assert(Schedule::TileBlocks == 1,
                "gathered K/V tiles are the sm_90a wgmma kernel's");
  using Element = typename Traits::Element;
  constexpr int HeadDim = Traits::HeadDim;
  constexpr int BlockM = Traits::BlockM;
  constexpr int BlockN = Traits::BlockN;
  constexpr int Stages = Traits::NumStages;
  constexpr int Threads = Traits::NumWarps * 32;
  constexpr int RowChunks = HeadDim * 2 / 16; // 16-byte chunks per row.
  constexpr int DTiles = HeadDim / 8;         // n-tiles of O.
  constexpr int NTiles = BlockN / 8;          // n-tiles of S.
  using Tile = Swizzle<RowChunks>;

  static_assert(isHalfElement<Element>,
                "the mma.sync path takes xfc::f16 or xfc::bf16 elements");
  static_assert(HeadDim == 32 || HeadDim == 64 || HeadDim == 96 ||
                    HeadDim == 128 || HeadDim == 256,
                "HeadDim must be 32, 64, 96, 128 or 256");
  static_assert(BlockM == 64 || BlockM == 128,
                "BlockM must be 64 or 128 on the mma.sync path");
  static_assert(Traits::NumWarps * 16 == BlockM,
                "each warp owns 16 query rows: NumWarps must be BlockM / 16");
  static_assert(BlockN == 16 || BlockN == 32 || BlockN == 64 || BlockN == 128,
                "BlockN must be 16, 32, 64 or 128");
  static_assert(BlockN <= 64 || HeadDim <= 64,
                "BlockN = 128 needs HeadDim <= 64 (S and O accumulators "
                "would not fit in registers)");
  // Q fragments stay in registers up to HeadDim 128; at 256 the O
  // accumulators alone take 128 registers, so S reads Q from shared memory
  // one k-step at a time (as K).
  constexpr bool QInRegs = HeadDim <= 128;
  static_assert(QInRegs || BlockN <= 32,
                "HeadDim 256 takes BlockN <= 32 (S, O and the Q and K "
                "fragments would not fit in registers)");
  static_assert(Stages >= 1 && Stages <= 4, "NumStages must be 1 to 4");
  static_assert(Traits::SharedBytes ==
                    flashSharedBytes(BlockM, BlockN, Stages, HeadDim),
                "SharedBytes must be (BlockM + 2 * NumStages * BlockN) * "
                "HeadDim * 2 (templates/README.md)");

  // One work item per CTA.
  const WorkItems work{static_cast<int>(gridDim.x), static_cast<int>(gridDim.y),
                       static_cast<int>(gridDim.z)};
  const TilePlace place =
      Schedule::place(work, linearBlockIndex(), /*reverse=*/false);
  const int mTile = place.mTile, head = place.head, batch = place.batch;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int g = lane / 4, t = lane % 4;
  const int qLen = params.qLen, kvLen = params.kvLen;

  const Element *qBase = static_cast<const Element *>(params.q) +
                         batch * params.qBatchStride +
                         head * params.qHeadStride;
  const Element *kBase = static_cast<const Element *>(params.k) +
                         batch * params.kBatchStride +
                         head * params.kHeadStride;
  const Element *vBase = static_cast<const Element *>(params.v) +
                         batch * params.vBatchStride +
                         head * params.vHeadStride;

  constexpr int TileBytes = BlockN * HeadDim * 2;
  const unsigned sQ = smemAddress(xfcSharedMemory);
  const unsigned sK = sQ + BlockM * HeadDim * 2;
  const unsigned sV = sK + Stages * TileBytes;

  const Schedule schedule(params, head, mTile);
  const int numTiles = schedule.numTiles();

  // Rows of this thread: row[0] = g, row[1] = g + 8 of the warp's 16.
  const int row0 = mTile * BlockM + warp * 16 + g;
  RowMasks<Traits> masks[2];
  masks[0].init(params, batch, head, row0);
  masks[1].init(params, batch, head, row0 + 8);

  float acc[DTiles][4];
#pragma unroll
  for (int d = 0; d < DTiles; ++d)
#pragma unroll
    for (int e = 0; e < 4; ++e)
      acc[d][e] = 0.0f;
  float rowMax[2] = {negInf(), negInf()};
  float rowSum[2] = {0.0f, 0.0f};

  auto loadKv = [&](int idx) {
    int kv = schedule.tile(idx).index;
    int stage = idx % Stages;
    copyRowsAsync<BlockN, RowChunks, Threads>(kBase, params.kSeqStride,
                                              kv * BlockN, kvLen,
                                              sK + stage * TileBytes, tid);
    copyRowsAsync<BlockN, RowChunks, Threads>(vBase, params.vSeqStride,
                                              kv * BlockN, kvLen,
                                              sV + stage * TileBytes, tid);
  };

  if (numTiles > 0) {
    // Prologue: Q and the first Stages - 1 KV tiles, one group each.
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
    if constexpr (Stages > 1)
      cpAsyncWait<Stages - 2>();
    else
      cpAsyncWait<0>();
    __syncthreads();

    // Q fragments (A operand) for all HeadDim / 16 k-steps, or (not
    // QInRegs) the lane's address of them; x4 matrices 0-3: rows
    // +0/+8/+0/+8, chunks +0/+0/+1/+1.
    const unsigned qLaneBase =
        Tile::rowBase(sQ, warp * 16 + (lane % 8) + ((lane / 8) & 1) * 8) ^
        ((lane / 16) * 16);
    unsigned qFrag[QInRegs ? HeadDim / 16 : 1][4];
    if constexpr (QInRegs) {
#pragma unroll
      for (int kk = 0; kk < HeadDim / 16; ++kk)
        ldmatrixX4(qFrag[kk], Tile::at(qLaneBase, 2 * kk));
    }

    Dropout dropout(params, batch, head);
    unsigned dropRowKey[2] = {0u, 0u};
    if constexpr (Traits::HasDropout) {
      dropRowKey[0] = dropout.rowKey(row0);
      dropRowKey[1] = dropout.rowKey(row0 + 8);
    }
    const float scaleLog2 = params.scaleLog2;
    // Lane addresses of the K (x4: keys +0/+0/+8/+8, chunks +0/+1/+0/+1)
    // and V (x4.trans: keys +0/+8/+0/+8, chunks +0/+0/+1/+1) fragments.
    // The chunk bit folds into the XOR: 2 * kk + 1 == (2 * kk) ^ 1.
    const unsigned kLaneBase = Tile::rowBase(sK, (lane % 8) + (lane / 16) * 8) ^
                               (((lane / 8) & 1) * 16);
    const unsigned vLaneBase =
        Tile::rowBase(sV, (lane % 8) + ((lane / 8) & 1) * 8) ^
        ((lane / 16) * 16);

    for (int idx = 0; idx < numTiles; ++idx) {
      advanceKvPipeline<Stages>(idx, numTiles, loadKv);
      const KvTile tile = schedule.tile(idx);
      const int stageOffset = (idx % Stages) * TileBytes;

      // S = Q K^T.
      float s[NTiles][4];
#pragma unroll
      for (int n = 0; n < NTiles; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          s[n][e] = 0.0f;
      {
        const unsigned base = kLaneBase + stageOffset;
#pragma unroll
        for (int kk = 0; kk < HeadDim / 16; ++kk) {
          unsigned qStep[4];
          if constexpr (!QInRegs)
            ldmatrixX4(qStep, Tile::at(qLaneBase, 2 * kk));
          const unsigned(&a)[4] = QInRegs ? qFrag[QInRegs ? kk : 0] : qStep;
#pragma unroll
          for (int np = 0; np < NTiles / 2; ++np) {
            unsigned b[4];
            ldmatrixX4(b, Tile::at(base, 2 * kk, np * 16));
            mma16816<Element>(s[2 * np], a, b[0], b[1]);
            mma16816<Element>(s[2 * np + 1], a, b[2], b[3]);
          }
        }
      }

      // Scale and additive masks in the log2 domain; the structural
      // predicate only inside partial tiles.
      const int col0 = tile.index * BlockN + 2 * t;
      // HeadDim 256: the per-row mask pointers and dropout keys are formed
      // again each tile rather than held beside the 128 O registers (with
      // attn_mask they spilled 12-40 bytes, ptxas 13.0).
      if constexpr (!QInRegs) {
        masks[0].init(params, batch, head, row0);
        masks[1].init(params, batch, head, row0 + 8);
        if constexpr (Traits::HasDropout) {
          dropRowKey[0] = dropout.rowKey(row0);
          dropRowKey[1] = dropout.rowKey(row0 + 8);
        }
      }
#pragma unroll
      for (int n = 0; n < NTiles; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          s[n][e] = scoreWithMasks<Traits>(
              s[n][e], scaleLog2, col0 + n * 8 + (e & 1), kvLen, masks[e / 2]);
      if (tile.partial) {
#pragma unroll
        for (int n = 0; n < NTiles; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e)
            if (!schedule.visible(row0 + (e / 2) * 8, col0 + n * 8 + (e & 1)))
              s[n][e] = negInf();
      }

      // Online softmax: the 4 lanes of a quad share a row.
      float scaleOld[2], offset[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        float m = rowMax[h];
#pragma unroll
        for (int n = 0; n < NTiles; ++n)
          m = maxf(m, maxf(s[n][2 * h], s[n][2 * h + 1]));
        m = maxf(m, __shfl_xor_sync(0xffffffffu, m, 1));
        m = maxf(m, __shfl_xor_sync(0xffffffffu, m, 2));
        // A row that has seen only masked keys keeps max -inf: subtract 0
        // instead so that exp2 gives 0, not NaN.
        offset[h] = m == negInf() ? 0.0f : m;
        scaleOld[h] = exp2Fast(rowMax[h] - offset[h]);
        rowMax[h] = m;
        rowSum[h] *= scaleOld[h];
      }
#pragma unroll
      for (int d = 0; d < DTiles; ++d)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          acc[d][e] *= scaleOld[e / 2];
#pragma unroll
      for (int n = 0; n < NTiles; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          float p = exp2Fast(s[n][e] - offset[e / 2]);
          // The denominator counts every probability, dropped or not.
          rowSum[e / 2] += p;
          if constexpr (Traits::HasDropout) {
            if (!dropout.keep(dropRowKey[e / 2], col0 + n * 8 + (e & 1)))
              p = 0.0f;
          }
          s[n][e] = p;
        }

      // O += P V, P converted from the S accumulators in registers.
      {
        const unsigned base = vLaneBase + stageOffset;
#pragma unroll
        for (int kk = 0; kk < BlockN / 16; ++kk) {
          unsigned a[4] = {
              packPair<Element>(s[2 * kk][0], s[2 * kk][1]),
              packPair<Element>(s[2 * kk][2], s[2 * kk][3]),
              packPair<Element>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
              packPair<Element>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
          for (int dp = 0; dp < DTiles / 2; ++dp) {
            unsigned b[4];
            ldmatrixX4Trans(b, Tile::at(base, 2 * dp, kk * 16));
            mma16816<Element>(acc[2 * dp], a, b[0], b[1]);
            mma16816<Element>(acc[2 * dp + 1], a, b[2], b[3]);
          }
        }
      }
    }
    // Drain the (empty) trailing groups before the epilogue reuses smem.
    cpAsyncWait<0>();
  }

  // Epilogue: normalise, stage through this warp's own Q rows in shared
  // memory, then write 16-byte chunks of rows < qLen.
  float rowScale[2];
  float keepScale = 1.0f;
  if constexpr (Traits::HasDropout)
    keepScale = Dropout(params, batch, head).scale();
  finishRows<Traits>(params, batch, head, row0, lane, rowSum, rowMax, keepScale,
                     rowScale);

  unsigned char *sOut = xfcSharedMemory;
#pragma unroll
  for (int d = 0; d < DTiles; ++d)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      int r = warp * 16 + g + h * 8;
      int col = d * 8 + 2 * t;
      *reinterpret_cast<unsigned *>(sOut + Tile::offset(r, col / 8) +
                                    (col % 8) * 2) =
          packPair<Element>(acc[d][2 * h] * rowScale[h],
                            acc[d][2 * h + 1] * rowScale[h]);
    }
  __syncwarp();

  Element *oBase = static_cast<Element *>(params.o) +
                   batch * params.oBatchStride + head * params.oHeadStride;
  constexpr int WarpChunks = 16 * RowChunks;
#pragma unroll
  for (int it = 0; it < ceilDiv(WarpChunks, 32); ++it) {
    int idx = lane + it * 32;
    if (WarpChunks % 32 == 0 || idx < WarpChunks) {
      int r = idx / RowChunks, c = idx % RowChunks;
      int row = mTile * BlockM + warp * 16 + r;
      if (row < qLen) {
        const Chunk16 chunk = *reinterpret_cast<const Chunk16 *>(
            sOut + Tile::offset(warp * 16 + r, c));
        *reinterpret_cast<Chunk16 *>(oBase + row * params.oSeqStride + c * 8) =
            chunk;
      }
    }
  }
}

} // namespace xfc

#endif // defined(__CUDACC__)

#endif // XFC_FLASH_FWD_SM80_CUH
