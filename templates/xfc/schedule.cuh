//===- schedule.cuh - Which KV tiles a query tile visits ------------------===//
//
// A schedule is constructed once per CTA (head, query tile) and answers:
//   numTiles()    how many KV tiles the CTA visits;
//   tile(idx)     the idx-th one: its index in units of BlockN and whether it
//                 needs per-element masking (`partial`);
//   visible(i, j) the structural predicate of one element (bounds, causality,
//                 layout bits), evaluated only inside partial tiles.
// Dense and block-sparse attention share the kernel skeletons through this
// interface; full tiles pay no masking at all.
//
//===----------------------------------------------------------------------===//

#ifndef XFC_SCHEDULE_CUH
#define XFC_SCHEDULE_CUH

#include "xfc/attention_params.h"
#include "xfc/types.cuh"

#if defined(__CUDACC__)

namespace xfc {

/// One KV tile of a schedule.
struct KvTile {
  int index;    ///< Keys [index * BlockN, (index + 1) * BlockN).
  bool partial; ///< Needs the per-element predicate.
};

/// All keys below kvLen; with Causal only tiles up to the diagonal.
template <typename Traits> class DenseSchedule {
public:
  XFC_DEVICE DenseSchedule(const AttentionParams &params, int head, int mTile)
      : kvLen(params.kvLen), rowBegin(mTile * Traits::BlockM) {
    (void)head;
    int count = ceilDiv(params.kvLen, Traits::BlockN);
    if constexpr (Traits::Causal) {
      // Keys after the tile's last valid row are never visible.
      int lastRow = mini(params.qLen, rowBegin + Traits::BlockM) - 1;
      count = mini(count, lastRow / Traits::BlockN + 1);
    }
    tileCount = count;
  }

  XFC_DEVICE int numTiles() const { return tileCount; }

  XFC_DEVICE KvTile tile(int idx) const {
    constexpr int BlockN = Traits::BlockN;
    bool partial = (idx + 1) * BlockN > kvLen;
    if constexpr (Traits::Causal)
      partial |= idx * BlockN + BlockN - 1 > rowBegin;
    return {idx, partial};
  }

  XFC_DEVICE bool visible(int i, int j) const {
    return j < kvLen && (!Traits::Causal || j <= i);
  }

private:
  int kvLen, rowBegin, tileCount;
};

/// The tiles of the compiler's CSR tables. `Layout` supplies LayoutBlock,
/// LayoutHeads, NumBlocks, NumTileRows and the four tables (see README).
template <typename Traits, typename Layout> class BlockSparseSchedule {
  static constexpr int LayoutBlock = Layout::LayoutBlock;
  static constexpr int NumBlocks = Layout::NumBlocks;
  static constexpr int Covered = NumBlocks * LayoutBlock;
  static_assert(isPowerOf2(LayoutBlock) && LayoutBlock >= 16,
                "LayoutBlock must be a power of two >= 16");
  static_assert(Layout::LayoutHeads >= 1, "LayoutHeads must be at least 1");
  static_assert(Layout::NumTileRows == ceilDiv(Covered, Traits::BlockM),
                "NumTileRows must be ceil(NumBlocks * LayoutBlock / BlockM)");

public:
  XFC_DEVICE BlockSparseSchedule(const AttentionParams &params, int head,
                                 int mTile)
      : kvLen(params.kvLen) {
    int layoutHead = Layout::LayoutHeads == 1 ? 0 : head;
    // Query tiles or heads outside the layout attend to nothing (output 0).
    if (mTile >= Layout::NumTileRows || layoutHead >= Layout::LayoutHeads) {
      begin = 0;
      tileCount = 0;
    } else {
      const int *rowPtr =
          Layout::tileRowPtr() + layoutHead * (Layout::NumTileRows + 1) + mTile;
      begin = rowPtr[0];
      tileCount = rowPtr[1] - begin;
    }
    bits = Layout::blockBits() + layoutHead * NumBlocks * NumBlocks;
    kvLimit = mini(kvLen, Covered);
    // Rows past the layout see no key: a tile row crossing its end is masked.
    rowsPastLayout = (mTile + 1) * Traits::BlockM > Covered;
  }

  XFC_DEVICE int numTiles() const { return tileCount; }

  XFC_DEVICE KvTile tile(int idx) const {
    int kv = Layout::tileCols()[begin + idx];
    bool partial = Layout::tilePartial()[begin + idx] != 0 ||
                   (kv + 1) * Traits::BlockN > kvLimit || rowsPastLayout;
    return {kv, partial};
  }

  XFC_DEVICE bool visible(int i, int j) const {
    if (j >= kvLen || (Traits::Causal && j > i) || i >= Covered || j >= Covered)
      return false;
    return bits[(i / LayoutBlock) * NumBlocks + j / LayoutBlock] != 0;
  }

private:
  const unsigned char *bits;
  int kvLen, kvLimit, begin, tileCount;
  bool rowsPastLayout;
};

/// Per-row view of the element masks that do not depend on the schedule's
/// structure: the additive attnMask and key padding. One per query row a
/// thread owns.
template <typename Traits> struct RowMasks {
  const float *attnMaskRow;     ///< Row i of attnMask, null if i >= qLen.
  const unsigned char *padding; ///< keyPadding of this batch entry.

  XFC_DEVICE void init(const AttentionParams &params, int batch, int head,
                       int row) {
    if constexpr (Traits::HasAttnMask)
      attnMaskRow = row < params.qLen
                        ? params.attnMask + batch * params.attnMaskBatchStride +
                              head * params.attnMaskHeadStride +
                              row * params.attnMaskRowStride
                        : nullptr;
    if constexpr (Traits::HasKeyPadding)
      padding = params.keyPadding + batch * params.keyPaddingBatchStride;
  }
};

/// q_i . k_j scaled into the log2 domain plus the masks that do not depend
/// on the schedule (attnMask, key padding); -inf where excluded. Partial
/// tiles apply Schedule::visible on top.
template <typename Traits>
XFC_DEVICE float scoreWithMasks(float x, float scaleLog2, int j, int kvLen,
                                const RowMasks<Traits> &row) {
  float s = x * scaleLog2;
  if constexpr (Traits::HasAttnMask) {
    // Rows past qLen are never written: skip their loads.
    if (row.attnMaskRow && j < kvLen)
      s += row.attnMaskRow[j] * kLog2e;
  }
  if constexpr (Traits::HasKeyPadding) {
    if (j < kvLen && row.padding[j] != 0)
      s = negInf();
  }
  return s;
}

} // namespace xfc

#endif // defined(__CUDACC__)

#endif // XFC_SCHEDULE_CUH
