//===- schedule.cuh - Which KV tiles a query tile visits ------------------===//
//
// A schedule is constructed once per CTA (head, query tile) and answers:
//   numTiles()    how many KV tiles the CTA visits;
//   tile(idx)     the idx-th one: its index in units of BlockN and whether it
//                 needs per-element masking (`partial`);
//   visible(i, j) the structural predicate of one element (bounds, causality,
//                 window, layout bits, global tokens, random pattern),
//                 evaluated only inside partial tiles.
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

/// One KV tile of a schedule. A schedule with TileBlocks 1 gives
/// contiguous tiles: keys [index * BlockN, (index + 1) * BlockN). With
/// TileBlocks 2 (the wgmma kernel's gathered tiles, see wgmmaTileBlocks) a
/// tile is two halves of BlockN / 2 keys each: keys [index * BlockN / 2, ...)
/// and [second * BlockN / 2, ...), where second < 0 means the second half is
/// absent (the kernel masks it).
struct KvTile {
  int index;
  int second;   ///< The second half's block (TileBlocks 2), else -1.
  bool partial; ///< Needs the per-element predicate (present halves).

  /// The block loaded into the second half: an absent one loads the first
  /// block again (finite values, which the kernel masks).
  XFC_DEVICE int secondLoaded() const { return second >= 0 ? second : index; }
};

/// A KV tile's schedule entries as read from its tables, before decoding
/// (Schedule::entry, Schedule::decode): the wgmma consumers read a tile's
/// entries a main-loop iteration before its use and decode them there, so
/// the decoding comparisons never wait on the reads (an L2 round trip where
/// the tables are not in L1).
struct TileEntry {
  int first;        ///< Tile index, or the first half's block.
  int second;       ///< The second half's block (TileBlocks 2).
  unsigned partial; ///< The TilePartial entry.
  unsigned rowMask; ///< The TileRowMask entry (RowMasks).
};

/// Where a CTA works: its query tile, head and batch entry.
struct TilePlace {
  int mTile, head, batch;
};

/// The work of a forward launch: every (query tile, head, batch entry),
/// numbered as work items 0 .. count() - 1. A schedule's place() maps an
/// item to its TilePlace; items start in number order.
struct WorkItems {
  int mTiles, heads, batch;
  XFC_DEVICE int count() const { return mTiles * heads * batch; }
};

/// Items in launch order, query tile fastest (K and V of one head are read
/// by neighbouring items). With `reverse` the query tiles of a head run
/// from the last one down (causal: the longest rows start first).
XFC_DEVICE TilePlace placeInLaunchOrder(const WorkItems &work, int item,
                                        bool reverse) {
  int x = item % work.mTiles, rest = item / work.mTiles;
  return {reverse ? work.mTiles - 1 - x : x, rest % work.heads,
          rest / work.heads};
}

/// The CTA's number in the grid, x fastest (the order CTAs start in).
XFC_DEVICE int linearBlockIndex() {
  return static_cast<int>(blockIdx.x +
                          gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z));
}

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

/// SplitMix64's output function (Steele, Lea, Flood 2014).
XFC_DEVICE unsigned long long splitMix64(unsigned long long z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// A random pattern (the random variant), from the optional traits
/// RandomThreshold, RandomSeed and RandomPerCall: pair (i, j) is kept when
/// splitMix64(seed + (i * 2^32 + j + 1) * 0x9E3779B97F4A7C15) >> 32 <
/// RandomThreshold, i.e. output i * 2^32 + j + 1 of the SplitMix64 stream of
/// `seed`. The seed is RandomSeed, or with RandomPerCall
/// RandomSeed ^ splitMix64(dropoutSeed + splitMix64(dropoutOffset + gamma)),
/// a new pattern for each (seed, offset) of the launch. Traits without
/// them keep every pair.
template <typename Traits, typename = void> class RandomPattern {
public:
  static constexpr bool Enabled = false;
  XFC_DEVICE explicit RandomPattern(const AttentionParams &) {}
  XFC_DEVICE bool keep(int, int) const { return true; }
};
template <typename Traits>
class RandomPattern<Traits, VoidT<decltype(Traits::RandomThreshold),
                                  decltype(Traits::RandomSeed),
                                  decltype(Traits::RandomPerCall)>> {
  static constexpr unsigned long long Gamma = 0x9E3779B97F4A7C15ull;
  static constexpr unsigned long long Threshold =
      static_cast<unsigned long long>(Traits::RandomThreshold);
  static_assert(Traits::RandomThreshold >= 1 &&
                    Traits::RandomThreshold <= (1ll << 32),
                "RandomThreshold must be in [1, 2^32]");

public:
  static constexpr bool Enabled = true;
  XFC_DEVICE explicit RandomPattern(const AttentionParams &params) {
    seed = static_cast<unsigned long long>(Traits::RandomSeed);
    if constexpr (Traits::RandomPerCall)
      seed ^= splitMix64(params.dropoutSeed +
                         splitMix64(params.dropoutOffset + Gamma));
  }
  // Not inlined: the hash's 64-bit temporaries, interleaved across a
  // tile's unrolled elements, made the sm_90a wgmma consumers (224
  // registers) spill at HeadDim 128; as a call it needs no spill or stack.
  __device__ __noinline__ bool keep(int i, int j) const {
    // seed + (i * 2^32 + j + 1) * Gamma, with i * 2^32 * Gamma formed by one
    // 32-bit product (only its low word survives the shift).
    unsigned hi = static_cast<unsigned>(i) * static_cast<unsigned>(Gamma);
    unsigned long long z =
        seed + (static_cast<unsigned long long>(hi) << 32) +
        static_cast<unsigned long long>(static_cast<unsigned>(j) + 1u) * Gamma;
    return (splitMix64(z) >> 32) < Threshold;
  }

private:
  unsigned long long seed;
};

/// All keys below kvLen; with Causal only tiles up to the diagonal, with a
/// window only the tiles of its band; a random pattern makes every tile
/// partial.
template <typename Traits> class DenseSchedule {
  static constexpr int Left = WindowOf<Traits>::Left;
  static constexpr int Right = WindowOf<Traits>::Right;

public:
  XFC_DEVICE DenseSchedule(const AttentionParams &params, int head, int mTile)
      : kvLen(params.kvLen), rowBegin(mTile * Traits::BlockM), random(params) {
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

  /// Whether all work items take about the same time (a persistent
  /// kernel's static split of them is then balanced): not with Causal.
  static constexpr bool BalancedItems = !Traits::Causal;

  /// Contiguous tiles of BlockN keys, without per-consumer row masks.
  static constexpr int TileBlocks = 1;
  static constexpr bool RowMasks = false;

  XFC_DEVICE static TilePlace place(const WorkItems &work, int item,
                                    bool reverse) {
    return placeInLaunchOrder(work, item, reverse);
  }

  XFC_DEVICE int numTiles() const { return tileCount; }

  /// Dense tiles read no tables: the entry is the decoded tile.
  XFC_DEVICE TileEntry entry(int idx) const {
    const KvTile t = tile(idx);
    return {t.index, t.second, t.partial ? 1u : 0u, 0u};
  }
  XFC_DEVICE KvTile decode(const TileEntry &entry) const {
    return {entry.first, entry.second, entry.partial != 0};
  }

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
    if constexpr (RandomPattern<Traits>::Enabled)
      partial = true;
    return {index, -1, partial};
  }

  XFC_DEVICE bool visible(int i, int j) const {
    return j < kvLen && (!Traits::Causal || j <= i) &&
           (Left < 0 || j >= i - Left) && (Right < 0 || j <= i + Right) &&
           random.keep(i, j);
  }

private:
  int kvLen, rowBegin, firstTile, tileCount;
  RandomPattern<Traits> random;
};

/// Global tokens (the global variant): a Layout with GlobalLength and
/// globalBits() (one byte per token, nonzero = global) makes pair (i, j)
/// visible only when i or j is global; tokens at or past GlobalLength are
/// not. Layouts without them hide nothing.
template <typename Layout, typename = void> struct GlobalTokens {
  static constexpr bool Enabled = false;
  XFC_DEVICE static bool visible(int, int) { return true; }
};
template <typename Layout>
struct GlobalTokens<Layout, VoidT<decltype(Layout::GlobalLength),
                                  decltype(Layout::globalBits())>> {
  static constexpr bool Enabled = true;
  XFC_DEVICE static bool isGlobal(int t) {
    return t < Layout::GlobalLength && Layout::globalBits()[t] != 0;
  }
  XFC_DEVICE static bool visible(int i, int j) {
    return isGlobal(i) || isGlobal(j);
  }
};

/// The order in which a layout head's query tiles start: a Layout with
/// tileOrder() (per layout head, the tile rows by decreasing tile count)
/// and HeavyRanks (how many leading ranks hold rows far heavier than the
/// rest) starts those first; others keep launch order.
template <typename Layout, typename = void> struct TileOrderOf {
  static constexpr int HeavyRanks = 0;
  XFC_DEVICE static int tileAt(int, int rank) { return rank; }
};
template <typename Layout>
struct TileOrderOf<Layout, VoidT<decltype(Layout::tileOrder()),
                                 decltype(Layout::HeavyRanks)>> {
  static constexpr int HeavyRanks = Layout::HeavyRanks;
  XFC_DEVICE static int tileAt(int layoutHead, int rank) {
    return Layout::tileOrder()[layoutHead * Layout::NumTileRows + rank];
  }
};

/// Layout blocks per K/V tile of a Layout's tile tables: its TileBlocks
/// (2: gathered tiles, two table entries a tile), else 1.
template <typename Layout, typename = void> struct TileBlocksOf {
  static constexpr int value = 1;
};
template <typename Layout>
struct TileBlocksOf<Layout, VoidT<decltype(Layout::TileBlocks)>> {
  static constexpr int value = Layout::TileBlocks;
};

/// Whether a Layout's tile tables carry TileRowMask (tiles of two 64-block
/// rows, one consumer warpgroup each).
template <typename Layout, typename = void> struct HasTileRowMask {
  static constexpr bool value = false;
};
template <typename Layout>
struct HasTileRowMask<Layout, VoidT<decltype(Layout::tileRowMask())>> {
  static constexpr bool value = true;
};

/// The tiles of the compiler's CSR tables. `Layout` supplies LayoutBlock,
/// LayoutHeads, NumBlocks, NumTileRows and the four tables (see README).
template <typename Traits, typename Layout> class BlockSparseSchedule {
public:
  /// Layout blocks a K/V tile gathers (1: contiguous tiles of BlockN keys).
  static constexpr int TileBlocks = TileBlocksOf<Layout>::value;
  /// Tiles of two 64-block rows: each consumer warpgroup masks the halves
  /// its own block row lacks, as a whole (rowMask).
  static constexpr bool RowMasks = HasTileRowMask<Layout>::value;

private:
  static constexpr int LayoutBlock = Layout::LayoutBlock;
  static constexpr int NumBlocks = Layout::NumBlocks;
  static constexpr int Covered = NumBlocks * LayoutBlock;
  static_assert(isPowerOf2(LayoutBlock) && LayoutBlock >= 16,
                "LayoutBlock must be a power of two >= 16");
  static_assert(Layout::LayoutHeads >= 1, "LayoutHeads must be at least 1");
  static_assert(Layout::NumTileRows == ceilDiv(Covered, Traits::BlockM),
                "NumTileRows must be ceil(NumBlocks * LayoutBlock / BlockM)");
  static_assert(TileBlocks == 1 ||
                    (TileBlocks == 2 && 2 * LayoutBlock == Traits::BlockN),
                "gathered tiles (TileBlocks 2) are two layout blocks wide");

public:
  XFC_DEVICE BlockSparseSchedule(const AttentionParams &params, int head,
                                 int mTile)
      : kvLen(params.kvLen), random(params) {
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

  /// Whether all work items take about the same time: no heavy rows (no
  /// HeavyRanks: rows with more than twice the mean tile count plus four)
  /// and no causality.
  static constexpr bool BalancedItems =
      TileOrderOf<Layout>::HeavyRanks == 0 && !Traits::Causal;

  /// Heavy rows first, then head by head: items below HeavyRanks * heads
  /// * batch are read as (rank, head, batch) with the rank slowest, so the
  /// heavy rows of every head (BigBird's and Longformer's global rows)
  /// start in the first wave instead of finishing alone at the end; the
  /// rest run one head after another, heaviest row first, so that the K/V
  /// of few heads are in flight at once and stay in L2. With fewer query
  /// tiles than the layout has (q_len below its length) items keep launch
  /// order: the permutation covers all NumTileRows.
  XFC_DEVICE static TilePlace place(const WorkItems &work, int item, bool) {
    if (work.mTiles < Layout::NumTileRows)
      return placeInLaunchOrder(work, item, false);
    constexpr int Heavy = TileOrderOf<Layout>::HeavyRanks;
    const int pairs = work.heads * work.batch;
    int rank, pair;
    if (item < Heavy * pairs) {
      rank = item / pairs;
      pair = item % pairs;
    } else {
      const int light = work.mTiles - Heavy, rest = item - Heavy * pairs;
      rank = Heavy + rest % light;
      pair = rest / light;
    }
    const int head = pair % work.heads, batch = pair / work.heads;
    const int layoutHead = Layout::LayoutHeads == 1 ? 0 : head;
    int mTile = rank;
    if (rank < Layout::NumTileRows && layoutHead < Layout::LayoutHeads)
      mTile = TileOrderOf<Layout>::tileAt(layoutHead, rank);
    return {mTile, head, batch};
  }

  XFC_DEVICE int numTiles() const { return tileCount; }

  /// The idx-th tile's table entries, read but not decoded.
  XFC_DEVICE TileEntry entry(int idx) const {
    TileEntry e;
    e.partial = Layout::tilePartial()[begin + idx];
    if constexpr (TileBlocks == 2) {
      // Two entries a tile, in layout blocks; a second half of -1 is absent.
      e.first = Layout::tileCols()[2 * (begin + idx)];
      e.second = Layout::tileCols()[2 * (begin + idx) + 1];
    } else {
      e.first = Layout::tileCols()[begin + idx];
      e.second = -1;
    }
    if constexpr (RowMasks)
      e.rowMask = rowMask(idx);
    else
      e.rowMask = 0u;
    return e;
  }

  XFC_DEVICE KvTile tile(int idx) const { return decode(entry(idx)); }

  XFC_DEVICE KvTile decode(const TileEntry &entry) const {
    bool partial = entry.partial != 0 || rowsPastLayout;
    if constexpr (TileBlocks == 2) {
      partial |= (entry.first + 1) * LayoutBlock > kvLimit ||
                 (entry.second + 1) * LayoutBlock > kvLimit;
      return {entry.first, entry.second, partial};
    } else {
      partial |= (entry.first + 1) * Traits::BlockN > kvLimit;
      return {entry.first, -1, partial};
    }
  }

  /// The idx-th tile's row mask (RowMasks only): bit 2 * c + h when
  /// consumer c's block row lacks half h.
  XFC_DEVICE unsigned rowMask(int idx) const {
    return Layout::tileRowMask()[begin + idx];
  }

  XFC_DEVICE bool visible(int i, int j) const {
    if (j >= kvLen || (Traits::Causal && j > i) || i >= Covered || j >= Covered)
      return false;
    return bits[(i / LayoutBlock) * NumBlocks + j / LayoutBlock] != 0 &&
           GlobalTokens<Layout>::visible(i, j) && random.keep(i, j);
  }

private:
  const unsigned char *bits;
  int kvLen, kvLimit, begin, tileCount;
  bool rowsPastLayout;
  RandomPattern<Traits> random;
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

/// The end of the online softmax for a thread's two rows (row0 and row0 +
/// 8 of its warp's 16): the row sums over the quad of lanes sharing a row,
/// the factor each row's O is multiplied by (keepScale / sum; 0 for a row
/// that saw no key, so it is exactly 0) and, with WriteLse, the natural-log
/// LSE of rows < qLen (rowMaxLog2: the row max in log2 units).
template <typename Traits>
XFC_DEVICE void finishRows(const AttentionParams &params, int batch, int head,
                           int row0, int lane, const float (&rowSum)[2],
                           const float (&rowMaxLog2)[2], float keepScale,
                           float (&rowScale)[2]) {
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    float l = rowSum[h];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    rowScale[h] = l > 0.0f ? keepScale / l : 0.0f;
    if constexpr (Traits::WriteLse) {
      const int row = row0 + h * 8, qLen = params.qLen;
      if (lane % 4 == 0 && row < qLen)
        params
            .lse[(static_cast<long long>(batch) * params.heads + head) * qLen +
                 row] =
            l > 0.0f ? (rowMaxLog2[h] + log2Fast(l)) * kLn2 : negInf();
    }
  }
}

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
