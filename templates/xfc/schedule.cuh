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

/// A sliding window, from the optional traits WindowLeft and WindowRight:
/// key j is visible to query i only when i - WindowLeft <= j <= i +
/// WindowRight (a negative bound is no bound). Traits without them have no
/// window.
template <typename Traits, typename = void> struct WindowOf {
  static constexpr int Left = -1, Right = -1;
};
template <typename Traits>
struct WindowOf<Traits, VoidT<decltype(Traits::WindowLeft),
                              decltype(Traits::WindowRight)>> {
  static constexpr int Left = Traits::WindowLeft, Right = Traits::WindowRight;
};

/// All keys below kvLen; with Causal only tiles up to the diagonal, with a
/// window only the tiles of its band.
template <typename Traits> class DenseSchedule {
  static constexpr int Left = WindowOf<Traits>::Left;
  static constexpr int Right = WindowOf<Traits>::Right;

public:
  XFC_DEVICE DenseSchedule(const AttentionParams &params, int head, int mTile)
      : kvLen(params.kvLen), rowBegin(mTile * Traits::BlockM) {
    (void)head;
    constexpr int BlockN = Traits::BlockN;
    // Keys [beginKey, endKey) hold everything any row of the tile can see.
    int lastRow = mini(params.qLen, rowBegin + Traits::BlockM) - 1;
    int endKey = params.kvLen;
    if constexpr (Traits::Causal)
      endKey = mini(endKey, lastRow + 1);
    if constexpr (Right >= 0)
      endKey = mini(endKey, lastRow + Right + 1);
    int beginKey = 0;
    if constexpr (Left >= 0)
      beginKey = rowBegin > Left ? rowBegin - Left : 0;
    firstTile = beginKey / BlockN;
    int count = ceilDiv(endKey, BlockN) - firstTile;
    tileCount = count > 0 ? count : 0;
  }

  XFC_DEVICE int numTiles() const { return tileCount; }

  XFC_DEVICE KvTile tile(int idx) const {
    constexpr int BlockN = Traits::BlockN;
    int index = firstTile + idx;
    int firstKey = index * BlockN, lastKey = firstKey + BlockN - 1;
    int lastRow = rowBegin + Traits::BlockM - 1;
    bool partial = lastKey >= kvLen;
    if constexpr (Traits::Causal)
      partial |= lastKey > rowBegin;
    if constexpr (Left >= 0)
      partial |= firstKey < lastRow - Left;
    if constexpr (Right >= 0)
      partial |= lastKey > rowBegin + Right;
    return {index, partial};
  }

  XFC_DEVICE bool visible(int i, int j) const {
    return j < kvLen && (!Traits::Causal || j <= i) &&
           (Left < 0 || j >= i - Left) && (Right < 0 || j <= i + Right);
  }

private:
  int kvLen, rowBegin, firstTile, tileCount;
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
