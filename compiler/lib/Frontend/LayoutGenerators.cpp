//===- LayoutGenerators.cpp - Block-sparsity layout generators ------------===//
//
// Written from the published definitions (xformers-variants.md §b): the
// DeepSpeed/xFormers sparsity_config.py classes for the block generators and
// xFormers' attention_patterns.py for the element patterns. Element patterns
// are reduced to blocks without materializing the seq_len^2 mask where the
// pattern has a closed form per pair of blocks (1-D and 2-D patterns);
// `random` draws elements lazily and stops at the first one that is on.
//
//===----------------------------------------------------------------------===//

#include "xfc/Frontend/LayoutGenerators.h"

#include "xfc/Frontend/VariantRegistry.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <set>

using namespace xfc;

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

char LayoutError::ID = 0;

void LayoutError::log(llvm::raw_ostream &os) const {
  os << field << ": " << message;
}

std::error_code LayoutError::convertToErrorCode() const {
  return llvm::inconvertibleErrorCode();
}

static llvm::Error fail(llvm::StringRef field, const llvm::Twine &message) {
  return llvm::make_error<LayoutError>(field.str(), message.str());
}

//===----------------------------------------------------------------------===//
// SplitMix64
//===----------------------------------------------------------------------===//

static constexpr uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ULL;

static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t SplitMix64::next() {
  state += kGoldenGamma;
  return mix64(state);
}

uint64_t SplitMix64::at(uint64_t seed, uint64_t n) {
  return mix64(seed + n * kGoldenGamma);
}

uint64_t SplitMix64::below(uint64_t bound) {
  // 2^64 mod bound, computed in 64 bits as (2^64 - bound) mod bound.
  uint64_t skip = (0 - bound) % bound;
  while (true) {
    uint64_t x = next();
    if (x >= skip)
      return x % bound;
  }
}

double SplitMix64::toUnit(uint64_t bits) {
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

//===----------------------------------------------------------------------===//
// Names
//===----------------------------------------------------------------------===//

llvm::StringRef xfc::layoutAttentionName(LayoutAttention attention) {
  return attention == LayoutAttention::Bidirectional ? "bidirectional"
                                                     : "unidirectional";
}

llvm::StringRef xfc::randomGranularityName(RandomGranularity granularity) {
  return granularity == RandomGranularity::Element ? "element" : "block";
}

//===----------------------------------------------------------------------===//
// Building layouts
//===----------------------------------------------------------------------===//

namespace {

/// Layouts are refused beyond this many entries (heads * nb * nb).
constexpr int64_t kMaxLayoutEntries = int64_t(1) << 30;

/// A layout under construction: `heads` matrices of nb x nb.
class LayoutGrid {
public:
  LayoutGrid(int64_t heads, int64_t numBlocks)
      : heads(heads), nb(numBlocks),
        bits(static_cast<size_t>(heads * numBlocks * numBlocks), 0) {}

  int64_t getNumBlocks() const { return nb; }

  void set(int64_t h, int64_t i, int64_t j) { bits[index(h, i, j)] = 1; }
  bool get(int64_t h, int64_t i, int64_t j) const {
    return bits[index(h, i, j)] != 0;
  }

  /// Sets rows [rowBegin, rowEnd) x columns [colBegin, colEnd) of head h,
  /// both ranges clamped to [0, nb).
  void fill(int64_t h, int64_t rowBegin, int64_t rowEnd, int64_t colBegin,
            int64_t colEnd) {
    rowBegin = std::max<int64_t>(rowBegin, 0);
    colBegin = std::max<int64_t>(colBegin, 0);
    rowEnd = std::min(rowEnd, nb);
    colEnd = std::min(colEnd, nb);
    for (int64_t i = rowBegin; i < rowEnd; ++i)
      for (int64_t j = colBegin; j < colEnd; ++j)
        set(h, i, j);
  }

  /// Clears everything above the diagonal of head h (torch.tril).
  void tril(int64_t h) {
    for (int64_t i = 0; i < nb; ++i)
      for (int64_t j = i + 1; j < nb; ++j)
        bits[index(h, i, j)] = 0;
  }

  BlockLayout take() {
    BlockLayout layout;
    layout.heads = heads;
    layout.numBlocks = nb;
    layout.bits = std::move(bits);
    return layout;
  }

private:
  size_t index(int64_t h, int64_t i, int64_t j) const {
    return static_cast<size_t>((h * nb + i) * nb + j);
  }

  int64_t heads, nb;
  std::vector<uint8_t> bits;
};

/// Python's slice [start:stop] over a length-n axis: negative bounds count
/// from the end, then both are clamped to [0, n].
std::pair<int64_t, int64_t> pythonSlice(int64_t start, int64_t stop,
                                        int64_t n) {
  auto normalize = [n](int64_t bound) {
    if (bound < 0)
      bound += n;
    return std::clamp<int64_t>(bound, 0, n);
  };
  return {normalize(start), normalize(stop)};
}

/// floor(a / b) for b > 0.
int64_t floorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

/// The first and last token of block `block` (the last block may be
/// partial).
int64_t blockFirst(int64_t block, int64_t blockSize) {
  return block * blockSize;
}
int64_t blockLast(int64_t block, int64_t blockSize, int64_t seqLen) {
  return std::min((block + 1) * blockSize, seqLen) - 1;
}

} // namespace

/// Checks seq_len and block_size and returns the number of blocks,
/// ceil(seq_len / block_size), for a layout of `heads` heads.
static llvm::Expected<int64_t> countBlocks(int64_t seqLen, int64_t blockSize,
                                           int64_t heads) {
  if (blockSize < 1)
    return fail("block_size",
                "expected a positive integer, got " + llvm::Twine(blockSize));
  if (seqLen < 1)
    return fail("seq_len",
                "expected a positive integer, got " + llvm::Twine(seqLen));
  int64_t nb = seqLen / blockSize + (seqLen % blockSize != 0);
  if (nb > kMaxLayoutEntries / nb / std::max<int64_t>(heads, 1))
    return fail("seq_len", "a layout of " + llvm::Twine(heads) + " x " +
                               llvm::Twine(nb) + " x " + llvm::Twine(nb) +
                               " blocks (seq_len " + llvm::Twine(seqLen) +
                               ", block_size " + llvm::Twine(blockSize) +
                               ") is too large; at most 2^30 entries");
  return nb;
}

static llvm::Error checkPositive(llvm::StringRef field, int64_t value) {
  if (value < 1)
    return fail(field,
                "expected a positive integer, got " + llvm::Twine(value));
  return llvm::Error::success();
}

static llvm::Error checkNonNegative(llvm::StringRef field, int64_t value) {
  if (value < 0)
    return fail(field,
                "expected a non-negative integer, got " + llvm::Twine(value));
  return llvm::Error::success();
}

/// num_heads and block_size of a sparsity config.
static llvm::Error checkSparsity(const SparsityOptions &options) {
  if (llvm::Error error = checkPositive("num_heads", options.numHeads))
    return error;
  return checkPositive("block_size", options.blockSize);
}

/// "the 8 blocks in a row (seq_len 128, block_size 16)".
static std::string describeRow(int64_t nb, int64_t seqLen, int64_t blockSize) {
  return "the " + std::to_string(nb) + " blocks in a row (seq_len " +
         std::to_string(seqLen) + ", block_size " + std::to_string(blockSize) +
         ")";
}

/// Published check of set_random_layout / set_sliding_window_layout /
/// set_global_layout_itc: the count may not exceed the blocks in a row.
static llvm::Error checkAtMostRow(llvm::StringRef field, int64_t count,
                                  int64_t nb, int64_t seqLen,
                                  int64_t blockSize) {
  if (nb < count)
    return fail(field, llvm::Twine(count) + " is more than " +
                           describeRow(nb, seqLen, blockSize));
  return llvm::Error::success();
}

/// The published checks of global_block_indices / global_block_end_indices
/// (plus: indices are not negative; Python would count them from the end).
static llvm::Error
checkGlobalIndices(llvm::ArrayRef<int64_t> starts,
                   const std::optional<std::vector<int64_t>> &ends) {
  for (size_t i = 0; i < starts.size(); ++i)
    if (starts[i] < 0)
      return fail("global_block_indices", "index " + llvm::Twine(starts[i]) +
                                              " (entry " + llvm::Twine(i) +
                                              ") is negative");
  if (!ends)
    return llvm::Error::success();
  if (ends->size() != starts.size())
    return fail("global_block_end_indices",
                "has " + llvm::Twine(ends->size()) +
                    " entries but global_block_indices has " +
                    llvm::Twine(starts.size()) +
                    "; they must have the same length");
  for (size_t i = 0; i < starts.size(); ++i)
    if (starts[i] >= (*ends)[i])
      return fail(
          "global_block_end_indices",
          "entry " + llvm::Twine(i) + ": the global block start index " +
              llvm::Twine(starts[i]) + " must be smaller than the end index " +
              llvm::Twine((*ends)[i]));
  return llvm::Error::success();
}

/// Sets `count` distinct random columns of row `row` in head h, drawn from
/// [0, candidates) by a partial Fisher-Yates shuffle: for t = 0..count-1,
/// swap entry t with entry t + rng.below(candidates - t).
static void setRandomColumns(LayoutGrid &grid, SplitMix64 &rng, int64_t h,
                             int64_t row, int64_t candidates, int64_t count,
                             std::vector<int64_t> &scratch) {
  if (count <= 0)
    return;
  scratch.resize(static_cast<size_t>(candidates));
  for (int64_t c = 0; c < candidates; ++c)
    scratch[c] = c;
  for (int64_t t = 0; t < count; ++t) {
    int64_t pick = t + static_cast<int64_t>(
                           rng.below(static_cast<uint64_t>(candidates - t)));
    std::swap(scratch[t], scratch[pick]);
    grid.set(h, row, scratch[t]);
  }
}

/// Random blocks of `variable` and `bigbird` for head h: every row gets
/// `count` of them from the whole row (bidirectional) or, unidirectional,
/// min(count, row + 1) from blocks 0..row.
static void setRandomLayout(LayoutGrid &grid, SplitMix64 &rng, int64_t h,
                            int64_t count, LayoutAttention attention) {
  int64_t nb = grid.getNumBlocks();
  std::vector<int64_t> scratch;
  for (int64_t row = 0; row < nb; ++row) {
    int64_t candidates =
        attention == LayoutAttention::Bidirectional ? nb : row + 1;
    setRandomColumns(grid, rng, h, row, candidates, std::min(count, candidates),
                     scratch);
  }
}

/// Sliding window of `bigbird` and `bslongformer`: row i attends
/// [i - w, i + w], w = numSlidingWindowBlocks // 2.
static void setSlidingWindow(LayoutGrid &grid, int64_t h,
                             int64_t numSlidingWindowBlocks) {
  int64_t nb = grid.getNumBlocks();
  int64_t w = numSlidingWindowBlocks / 2;
  for (int64_t row = 0; row < nb; ++row)
    grid.fill(h, row, row + 1, row - w, row + w + 1);
}

//===----------------------------------------------------------------------===//
// Sparsity configs
//===----------------------------------------------------------------------===//

llvm::Expected<BlockLayout>
xfc::makeFixedLayout(const FixedLayoutOptions &options, int64_t seqLen) {
  if (llvm::Error error = checkSparsity(options))
    return std::move(error);
  if (llvm::Error error =
          checkPositive("num_local_blocks", options.numLocalBlocks))
    return std::move(error);
  if (llvm::Error error =
          checkPositive("num_global_blocks", options.numGlobalBlocks))
    return std::move(error);
  if (llvm::Error error = checkPositive("num_different_global_patterns",
                                        options.numDifferentGlobalPatterns))
    return std::move(error);
  int64_t local = options.numLocalBlocks, global = options.numGlobalBlocks;
  int64_t patterns = options.numDifferentGlobalPatterns;
  bool bidirectional = options.attention == LayoutAttention::Bidirectional;
  if (local % global != 0)
    return fail("num_local_blocks",
                "the " + llvm::Twine(local) +
                    " blocks of a local window must be divisible by "
                    "num_global_blocks (" +
                    llvm::Twine(global) + ")");
  if (!bidirectional && options.horizontalGlobalAttention)
    return fail("horizontal_global_attention",
                "only bidirectional attention supports horizontal global "
                "attention");
  if (patterns > 1 && !options.differentLayoutPerHead)
    return fail("num_different_global_patterns",
                llvm::Twine(patterns) +
                    " different global patterns need "
                    "different_layout_per_head = true (otherwise one layout "
                    "is shared by all heads)");
  if (patterns > local / global)
    return fail("num_different_global_patterns",
                llvm::Twine(patterns) +
                    " is more than num_local_blocks / num_global_blocks = " +
                    llvm::Twine(local) + " / " + llvm::Twine(global) + " = " +
                    llvm::Twine(local / global));
  int64_t heads = options.differentLayoutPerHead ? options.numHeads : 1;
  llvm::Expected<int64_t> numBlocks =
      countBlocks(seqLen, options.blockSize, heads);
  if (!numBlocks)
    return numBlocks.takeError();
  int64_t nb = *numBlocks;

  LayoutGrid grid(heads, nb);
  for (int64_t h = 0; h < heads; ++h) {
    // Local: disjoint windows, lower-triangular inside when unidirectional.
    for (int64_t start = 0; start < nb; start += local) {
      int64_t end = std::min(start + local, nb);
      for (int64_t row = start; row < end; ++row)
        grid.fill(h, row, row + 1, start, bidirectional ? end : row + 1);
    }
    // Global: the window's last `global` blocks, moved earlier by one
    // group per pattern index; the short last window is handled apart.
    int64_t firstGlobal = local - (1 + h % patterns) * global;
    int64_t end = nb - nb % local;
    for (int64_t i = firstGlobal; i < end; i += local) {
      grid.fill(h, bidirectional ? 0 : i, nb, i, i + global);
      if (options.horizontalGlobalAttention)
        grid.fill(h, i, i + global, 0, nb);
    }
    if (end < nb) {
      // As published, with Python's slice semantics (start may be negative
      // when nb < num_global_blocks).
      int64_t start = std::min(end + firstGlobal, nb - global);
      auto [colBegin, colEnd] = pythonSlice(start, start + global, nb);
      int64_t firstRow = pythonSlice(bidirectional ? 0 : start, nb, nb).first;
      grid.fill(h, firstRow, nb, colBegin, colEnd);
      if (options.horizontalGlobalAttention)
        grid.fill(h, colBegin, colEnd, 0, nb);
    }
    // With num_global_blocks > 1 the published columns [i, i + G) from row
    // i reach above the diagonal; an autoregressive layout has no such
    // block (causal attention would mask all of it).
    if (!bidirectional)
      grid.tril(h);
  }
  return grid.take();
}

/// Global rows/columns of `variable` (rows only when horizontal; columns
/// from the global block down when unidirectional) and `bslongformer`
/// (rows and columns; the caller applies tril).
static void setGlobalBlocks(LayoutGrid &grid, int64_t h,
                            llvm::ArrayRef<int64_t> starts,
                            const std::optional<std::vector<int64_t>> &ends,
                            bool rows, bool columnsFromStart) {
  int64_t nb = grid.getNumBlocks();
  for (size_t k = 0; k < starts.size(); ++k) {
    int64_t start = starts[k];
    if (start >= nb)
      continue;
    int64_t end = ends ? std::min((*ends)[k], nb) : start + 1;
    if (rows)
      grid.fill(h, start, end, 0, nb);
    grid.fill(h, columnsFromStart ? start : 0, nb, start, end);
  }
}

llvm::Expected<BlockLayout>
xfc::makeVariableLayout(const VariableLayoutOptions &options, int64_t seqLen) {
  if (llvm::Error error = checkSparsity(options))
    return std::move(error);
  if (llvm::Error error =
          checkNonNegative("num_random_blocks", options.numRandomBlocks))
    return std::move(error);
  if (options.localWindowBlocks.empty())
    return fail("local_window_blocks",
                "expected at least one window size (the last one repeats)");
  for (size_t i = 0; i < options.localWindowBlocks.size(); ++i)
    if (options.localWindowBlocks[i] < 1)
      return fail("local_window_blocks",
                  "entry " + llvm::Twine(i) +
                      ": expected a positive window size, got " +
                      llvm::Twine(options.localWindowBlocks[i]));
  if (llvm::Error error = checkGlobalIndices(options.globalBlockIndices,
                                             options.globalBlockEndIndices))
    return std::move(error);
  bool bidirectional = options.attention == LayoutAttention::Bidirectional;
  if (!bidirectional && options.horizontalGlobalAttention)
    return fail("horizontal_global_attention",
                "only bidirectional attention supports horizontal global "
                "attention");
  int64_t heads = options.differentLayoutPerHead ? options.numHeads : 1;
  llvm::Expected<int64_t> numBlocks =
      countBlocks(seqLen, options.blockSize, heads);
  if (!numBlocks)
    return numBlocks.takeError();
  int64_t nb = *numBlocks;
  if (llvm::Error error =
          checkAtMostRow("num_random_blocks", options.numRandomBlocks, nb,
                         seqLen, options.blockSize))
    return std::move(error);

  LayoutGrid grid(heads, nb);
  SplitMix64 rng(options.seed);
  for (int64_t h = 0; h < heads; ++h) {
    setRandomLayout(grid, rng, h, options.numRandomBlocks, options.attention);
    // Local windows of the listed sizes, then the last size repeated.
    int64_t start = 0, end = 0, size = 0;
    auto setWindow = [&](int64_t begin, int64_t stop) {
      for (int64_t row = begin; row < stop; ++row)
        grid.fill(h, row, row + 1, begin, bidirectional ? stop : row + 1);
    };
    for (int64_t windowSize : options.localWindowBlocks) {
      size = windowSize;
      end = std::min(end + windowSize, nb);
      setWindow(start, end);
      start += windowSize;
    }
    for (int64_t i = start; i < nb; i += size)
      setWindow(i, std::min(i + size, nb));
    setGlobalBlocks(grid, h, options.globalBlockIndices,
                    options.globalBlockEndIndices,
                    options.horizontalGlobalAttention, !bidirectional);
    // Global ranges reach above the diagonal as published (columns
    // [start, end) from row start); see makeFixedLayout.
    if (!bidirectional)
      grid.tril(h);
  }
  return grid.take();
}

llvm::Expected<BlockLayout>
xfc::makeBigBirdLayout(const BigBirdLayoutOptions &options, int64_t seqLen) {
  if (llvm::Error error = checkSparsity(options))
    return std::move(error);
  if (llvm::Error error =
          checkNonNegative("num_random_blocks", options.numRandomBlocks))
    return std::move(error);
  if (llvm::Error error = checkNonNegative("num_sliding_window_blocks",
                                           options.numSlidingWindowBlocks))
    return std::move(error);
  if (llvm::Error error =
          checkNonNegative("num_global_blocks", options.numGlobalBlocks))
    return std::move(error);
  int64_t heads = options.differentLayoutPerHead ? options.numHeads : 1;
  llvm::Expected<int64_t> numBlocks =
      countBlocks(seqLen, options.blockSize, heads);
  if (!numBlocks)
    return numBlocks.takeError();
  int64_t nb = *numBlocks;
  if (llvm::Error error =
          checkAtMostRow("num_random_blocks", options.numRandomBlocks, nb,
                         seqLen, options.blockSize))
    return std::move(error);
  if (llvm::Error error = checkAtMostRow("num_sliding_window_blocks",
                                         options.numSlidingWindowBlocks, nb,
                                         seqLen, options.blockSize))
    return std::move(error);
  if (llvm::Error error =
          checkAtMostRow("num_global_blocks", options.numGlobalBlocks, nb,
                         seqLen, options.blockSize))
    return std::move(error);

  LayoutGrid grid(heads, nb);
  SplitMix64 rng(options.seed);
  for (int64_t h = 0; h < heads; ++h) {
    setRandomLayout(grid, rng, h, options.numRandomBlocks, options.attention);
    setSlidingWindow(grid, h, options.numSlidingWindowBlocks);
    grid.fill(h, 0, options.numGlobalBlocks, 0, nb);
    grid.fill(h, 0, nb, 0, options.numGlobalBlocks);
    if (options.attention == LayoutAttention::Unidirectional)
      grid.tril(h);
  }
  return grid.take();
}

llvm::Expected<BlockLayout>
xfc::makeBSLongformerLayout(const BSLongformerLayoutOptions &options,
                            int64_t seqLen) {
  if (llvm::Error error = checkSparsity(options))
    return std::move(error);
  if (llvm::Error error = checkNonNegative("num_sliding_window_blocks",
                                           options.numSlidingWindowBlocks))
    return std::move(error);
  if (llvm::Error error = checkGlobalIndices(options.globalBlockIndices,
                                             options.globalBlockEndIndices))
    return std::move(error);
  int64_t heads = options.differentLayoutPerHead ? options.numHeads : 1;
  llvm::Expected<int64_t> numBlocks =
      countBlocks(seqLen, options.blockSize, heads);
  if (!numBlocks)
    return numBlocks.takeError();
  int64_t nb = *numBlocks;
  if (llvm::Error error = checkAtMostRow("num_sliding_window_blocks",
                                         options.numSlidingWindowBlocks, nb,
                                         seqLen, options.blockSize))
    return std::move(error);

  LayoutGrid grid(heads, nb);
  for (int64_t h = 0; h < heads; ++h) {
    setSlidingWindow(grid, h, options.numSlidingWindowBlocks);
    setGlobalBlocks(grid, h, options.globalBlockIndices,
                    options.globalBlockEndIndices, /*rows=*/true,
                    /*columnsFromStart=*/false);
    if (options.attention == LayoutAttention::Unidirectional)
      grid.tril(h);
  }
  return grid.take();
}

llvm::Expected<BlockLayout> xfc::makeLocalSlidingWindowLayout(
    const LocalSlidingWindowLayoutOptions &options, int64_t seqLen) {
  if (llvm::Error error = checkPositive("num_heads", options.numHeads))
    return std::move(error);
  if (llvm::Error error = checkNonNegative("num_sliding_window_blocks",
                                           options.numSlidingWindowBlocks))
    return std::move(error);
  llvm::Expected<int64_t> numBlocks = countBlocks(seqLen, options.blockSize, 1);
  if (!numBlocks)
    return numBlocks.takeError();
  int64_t nb = *numBlocks;
  if (llvm::Error error = checkAtMostRow("num_sliding_window_blocks",
                                         options.numSlidingWindowBlocks, nb,
                                         seqLen, options.blockSize))
    return std::move(error);

  LayoutGrid grid(1, nb);
  int64_t w = options.numSlidingWindowBlocks / 2;
  bool bidirectional = options.attention == LayoutAttention::Bidirectional;
  for (int64_t row = 0; row < nb; ++row)
    grid.fill(0, row, row + 1, row - w, bidirectional ? row + w + 1 : row + 1);
  return grid.take();
}

//===----------------------------------------------------------------------===//
// Element patterns
//===----------------------------------------------------------------------===//

llvm::Expected<BlockLayout>
xfc::patternToLayout(int64_t seqLen, int64_t blockSize,
                     llvm::function_ref<bool(int64_t i, int64_t j)> isOn) {
  llvm::Expected<int64_t> numBlocks = countBlocks(seqLen, blockSize, 1);
  if (!numBlocks)
    return numBlocks.takeError();
  int64_t nb = *numBlocks;
  LayoutGrid grid(1, nb);
  for (int64_t bi = 0; bi < nb; ++bi)
    for (int64_t bj = 0; bj < nb; ++bj) {
      bool on = false;
      for (int64_t i = blockFirst(bi, blockSize);
           !on && i <= blockLast(bi, blockSize, seqLen); ++i)
        for (int64_t j = blockFirst(bj, blockSize);
             !on && j <= blockLast(bj, blockSize, seqLen); ++j)
          on = isOn(i, j);
      if (on)
        grid.set(0, bi, bj);
    }
  return grid.take();
}

/// A one-head layout where block (I, J) is on when `isOn(firstI, lastI,
/// firstJ, lastJ)` holds for the token ranges of the two blocks.
static llvm::Expected<BlockLayout> reduceRanges(
    int64_t seqLen, int64_t blockSize,
    llvm::function_ref<bool(int64_t, int64_t, int64_t, int64_t)> isOn) {
  llvm::Expected<int64_t> numBlocks = countBlocks(seqLen, blockSize, 1);
  if (!numBlocks)
    return numBlocks.takeError();
  int64_t nb = *numBlocks;
  LayoutGrid grid(1, nb);
  for (int64_t bi = 0; bi < nb; ++bi)
    for (int64_t bj = 0; bj < nb; ++bj)
      if (isOn(blockFirst(bi, blockSize), blockLast(bi, blockSize, seqLen),
               blockFirst(bj, blockSize), blockLast(bj, blockSize, seqLen)))
        grid.set(0, bi, bj);
  return grid.take();
}

/// The smallest |a - b| for a in [a0, a1], b in [b0, b1].
static int64_t intervalGap(int64_t a0, int64_t a1, int64_t b0, int64_t b1) {
  return std::max<int64_t>({0, b0 - a1, a0 - b1});
}

llvm::Expected<BlockLayout>
xfc::makeLocal1dLayout(const Local1dLayoutOptions &options, int64_t seqLen) {
  if (llvm::Error error = checkPositive("window_size", options.windowSize))
    return std::move(error);
  if (options.windowSize % 2 != 1)
    return fail("window_size",
                "expected an odd window (it counts the token and two equal "
                "wings), got " +
                    llvm::Twine(options.windowSize));
  // |i - j| < window_size // 2 + 1.
  int64_t reach = options.windowSize / 2;
  return reduceRanges(seqLen, options.blockSize,
                      [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
                        return intervalGap(i0, i1, j0, j1) <= reach;
                      });
}

llvm::Expected<BlockLayout>
xfc::makeCausal1dLayout(const Causal1dLayoutOptions &options, int64_t seqLen) {
  // Some j <= i: the key block starts at or before the query block's end.
  return reduceRanges(
      seqLen, options.blockSize,
      [](int64_t, int64_t i1, int64_t j0, int64_t) { return j0 <= i1; });
}

llvm::Expected<BlockLayout>
xfc::makeGlobalLayout(const GlobalLayoutOptions &options, int64_t seqLen) {
  if (options.tokens.empty())
    return fail("attention_query_mask", "expected at least one global token");
  for (int64_t token : options.tokens) {
    if (token < 0)
      return fail("attention_query_mask",
                  "token index " + llvm::Twine(token) + " is negative");
    if (seqLen >= 1 && token >= seqLen)
      return fail("attention_query_mask", "token index " + llvm::Twine(token) +
                                              " is out of range for seq_len " +
                                              llvm::Twine(seqLen));
  }
  llvm::Expected<int64_t> numBlocks = countBlocks(seqLen, options.blockSize, 1);
  if (!numBlocks)
    return numBlocks.takeError();
  // g[i] or g[j]: block rows and columns that hold a global token are full.
  std::vector<bool> hasGlobal(static_cast<size_t>(*numBlocks), false);
  for (int64_t token : options.tokens)
    hasGlobal[token / options.blockSize] = true;
  LayoutGrid grid(1, *numBlocks);
  for (int64_t bi = 0; bi < *numBlocks; ++bi)
    for (int64_t bj = 0; bj < *numBlocks; ++bj)
      if (hasGlobal[bi] || hasGlobal[bj])
        grid.set(0, bi, bj);
  return grid.take();
}

namespace {

/// Grid rows [r0, r1] x grid columns [c0, c1], inclusive.
struct GridRect {
  int64_t r0, r1, c0, c1;
};

/// The tokens [first, last] of a row-major grid `width` wide, as at most
/// three rectangles: the rest of the first row, the full rows between and
/// the start of the last row.
llvm::SmallVector<GridRect, 3> tokenRangeToRects(int64_t first, int64_t last,
                                                 int64_t width) {
  int64_t r0 = first / width, c0 = first % width;
  int64_t r1 = last / width, c1 = last % width;
  if (r0 == r1)
    return {GridRect{r0, r0, c0, c1}};
  llvm::SmallVector<GridRect, 3> rects;
  rects.push_back({r0, r0, c0, width - 1});
  if (r1 > r0 + 1)
    rects.push_back({r0 + 1, r1 - 1, 0, width - 1});
  rects.push_back({r1, r1, 0, c1});
  return rects;
}

} // namespace

/// Checks H, W against seq_len.
static llvm::Error checkGrid(const Grid2dOptions &options, int64_t seqLen) {
  if (llvm::Error error = checkPositive("H", options.height))
    return error;
  if (llvm::Error error = checkPositive("W", options.width))
    return error;
  if (options.height > std::numeric_limits<int64_t>::max() / options.width ||
      options.height * options.width != seqLen)
    return fail("H", "the H x W = " + llvm::Twine(options.height) + " x " +
                         llvm::Twine(options.width) +
                         " token grid must have seq_len (" +
                         llvm::Twine(seqLen) + ") tokens");
  return llvm::Error::success();
}

/// A one-head layout of a 2-D pattern: block (I, J) is on when
/// `isOn(a, b)` holds for some rectangle a of block I's tokens and some
/// rectangle b of block J's. `isOn` must be exact for "some element of a x b
/// is on".
static llvm::Expected<BlockLayout>
reduceGrid(const Grid2dOptions &options, int64_t seqLen,
           llvm::function_ref<bool(const GridRect &, const GridRect &)> isOn) {
  if (llvm::Error error = checkGrid(options, seqLen))
    return std::move(error);
  llvm::Expected<int64_t> numBlocks = countBlocks(seqLen, options.blockSize, 1);
  if (!numBlocks)
    return numBlocks.takeError();
  int64_t nb = *numBlocks;
  std::vector<llvm::SmallVector<GridRect, 3>> rects;
  for (int64_t b = 0; b < nb; ++b)
    rects.push_back(tokenRangeToRects(blockFirst(b, options.blockSize),
                                      blockLast(b, options.blockSize, seqLen),
                                      options.width));
  LayoutGrid grid(1, nb);
  for (int64_t bi = 0; bi < nb; ++bi)
    for (int64_t bj = 0; bj < nb; ++bj) {
      bool on = false;
      for (const GridRect &a : rects[bi])
        for (const GridRect &b : rects[bj])
          on = on || isOn(a, b);
      if (on)
        grid.set(0, bi, bj);
    }
  return grid.take();
}

/// Whether the p-"norm" of (dh, dw) is below `distance`, as torch.cdist
/// defines it (p = 0 counts the nonzero components), computed exactly for
/// p in {0, 1, 2}.
static bool isWithinDistance(int64_t dh, int64_t dw, double p,
                             double distance) {
  if (p == 0.0)
    return static_cast<double>((dh != 0) + (dw != 0)) < distance;
  if (p == 1.0)
    return static_cast<double>(dh + dw) < distance;
  if (p == 2.0)
    return distance > 0.0 &&
           static_cast<double>(dh * dh + dw * dw) < distance * distance;
  double norm = std::pow(std::pow(static_cast<double>(dh), p) +
                             std::pow(static_cast<double>(dw), p),
                         1.0 / p);
  return norm < distance;
}

llvm::Expected<BlockLayout>
xfc::makeLocal2dLayout(const Local2dLayoutOptions &options, int64_t seqLen) {
  if (!std::isfinite(options.p) || options.p < 0.0)
    return fail("p", "expected a number >= 0, got " + formatFloat(options.p));
  if (!std::isfinite(options.distance))
    return fail("distance", "expected a finite number");
  // Distances grow with |dh| and |dw|, so the closest pair of two
  // rectangles is at their row and column gaps.
  return reduceGrid(options, seqLen, [&](const GridRect &a, const GridRect &b) {
    return isWithinDistance(intervalGap(a.r0, a.r1, b.r0, b.r1),
                            intervalGap(a.c0, a.c1, b.c0, b.c1), options.p,
                            options.distance);
  });
}

llvm::Expected<BlockLayout>
xfc::makeAxial2dLayout(const Axial2dLayoutOptions &options, int64_t seqLen) {
  // axial_nd_pattern: the p = 0 distance is below 2 (one coordinate at
  // most differs).
  return reduceGrid(options, seqLen, [](const GridRect &a, const GridRect &b) {
    return intervalGap(a.r0, a.r1, b.r0, b.r1) == 0 ||
           intervalGap(a.c0, a.c1, b.c0, b.c1) == 0;
  });
}

/// Some a in [a0, a1] and b in [b0, b1] with a - b a multiple of k.
static bool hasMultipleDifference(int64_t a0, int64_t a1, int64_t b0,
                                  int64_t b1, int64_t k) {
  int64_t low = a0 - b1, high = a1 - b0;
  return floorDiv(high, k) * k >= low;
}

llvm::Expected<BlockLayout>
xfc::makeDilated2dLayout(const Dilated2dLayoutOptions &options,
                         int64_t seqLen) {
  if (llvm::Error error = checkPositive("k", options.k))
    return std::move(error);
  int64_t k = options.k;
  return reduceGrid(options, seqLen, [&](const GridRect &a, const GridRect &b) {
    return hasMultipleDifference(a.r0, a.r1, b.r0, b.r1, k) &&
           hasMultipleDifference(a.c0, a.c1, b.c0, b.c1, k);
  });
}

/// The Swin window index along one axis of `size` tokens: the nearest of
/// the anchors a * window + window / 2 - s (a = 0 .. size / window + extra -
/// 1, s = -shift mod window, extra = 1 when shifted) to the token's centre
/// t + 0.5, as swin_attention_pattern's argmin finds it. Twice the
/// distances are integers and never tie.
static std::vector<int64_t> swinAnchors(int64_t size, int64_t window,
                                        int64_t shift) {
  int64_t extra = shift % window != 0 ? 1 : 0;
  int64_t count = size / window + extra;
  int64_t s = ((-shift) % window + window) % window;
  std::vector<int64_t> anchor(static_cast<size_t>(size));
  for (int64_t t = 0; t < size; ++t) {
    int64_t best = 0, bestDistance = std::numeric_limits<int64_t>::max();
    for (int64_t a = 0; a < count; ++a) {
      int64_t twice =
          std::llabs((2 * t + 1) - (2 * a * window + window - 2 * s));
      if (twice < bestDistance) {
        bestDistance = twice;
        best = a;
      }
    }
    anchor[t] = best;
  }
  return anchor;
}

llvm::Expected<BlockLayout>
xfc::makeSwinLayout(const SwinLayoutOptions &options, int64_t seqLen) {
  if (llvm::Error error = checkPositive("window_size", options.windowSize))
    return std::move(error);
  int64_t window = options.windowSize;
  if (options.height % window != 0)
    return fail("H", "expected a multiple of window_size (" +
                         llvm::Twine(window) + "), got " +
                         llvm::Twine(options.height));
  if (options.width % window != 0)
    return fail("W", "expected a multiple of window_size (" +
                         llvm::Twine(window) + "), got " +
                         llvm::Twine(options.width));
  if (options.shiftSize < 0 || options.shiftSize >= window)
    return fail("shift_size", "expected 0 <= shift_size < window_size (" +
                                  llvm::Twine(window) + "), got " +
                                  llvm::Twine(options.shiftSize));
  if (llvm::Error error = checkGrid(options, seqLen))
    return std::move(error);
  std::vector<int64_t> rowAnchor =
      swinAnchors(options.height, window, options.shiftSize);
  std::vector<int64_t> colAnchor =
      swinAnchors(options.width, window, options.shiftSize);
  // Anchors grow with the coordinate and every anchor between two that a
  // range reaches is reached too, so a range's anchors are an interval.
  auto overlap = [](const std::vector<int64_t> &anchor, int64_t a0, int64_t a1,
                    int64_t b0, int64_t b1) {
    return anchor[a0] <= anchor[b1] && anchor[b0] <= anchor[a1];
  };
  return reduceGrid(options, seqLen, [&](const GridRect &a, const GridRect &b) {
    return overlap(rowAnchor, a.r0, a.r1, b.r0, b.r1) &&
           overlap(colAnchor, a.c0, a.c1, b.c0, b.c1);
  });
}

llvm::Expected<BlockLayout>
xfc::makeRandomLayout(const RandomLayoutOptions &options, int64_t seqLen) {
  if (llvm::Error error = checkSparsity(options))
    return std::move(error);
  if (options.sparsity && options.density)
    return fail("density", "give sparsity or density (= 1 - sparsity), not "
                           "both");
  if (!options.sparsity && !options.density)
    return fail("sparsity", "missing: give sparsity (the probability that an "
                            "element is off) or density");
  llvm::StringRef field = options.sparsity ? "sparsity" : "density";
  double given = options.sparsity ? *options.sparsity : *options.density;
  if (!(given > 0.0 && given < 1.0))
    return fail(field,
                "expected a number in (0, 1), got " + formatFloat(given));
  double sparsity = options.sparsity ? *options.sparsity : 1.0 - given;
  int64_t heads = options.differentLayoutPerHead ? options.numHeads : 1;
  llvm::Expected<int64_t> numBlocks =
      countBlocks(seqLen, options.blockSize, heads);
  if (!numBlocks)
    return numBlocks.takeError();
  int64_t nb = *numBlocks, bs = options.blockSize;
  uint64_t seed = options.seed;
  auto isOn = [&](uint64_t n) {
    return SplitMix64::toUnit(SplitMix64::at(seed, n + 1)) > sparsity;
  };
  LayoutGrid grid(heads, nb);
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t bi = 0; bi < nb; ++bi)
      for (int64_t bj = 0; bj < nb; ++bj) {
        bool on = false;
        if (options.granularity == RandomGranularity::Block) {
          on = isOn(uint64_t((h * nb + bi) * nb + bj));
        } else {
          for (int64_t i = blockFirst(bi, bs);
               !on && i <= blockLast(bi, bs, seqLen); ++i)
            for (int64_t j = blockFirst(bj, bs);
                 !on && j <= blockLast(bj, bs, seqLen); ++j)
              on = isOn((uint64_t(h) * uint64_t(seqLen) + uint64_t(i)) *
                            uint64_t(seqLen) +
                        uint64_t(j));
        }
        if (on)
          grid.set(h, bi, bj);
      }
  return grid.take();
}

llvm::Expected<BlockLayout>
xfc::generateLayout(const LayoutGeneratorOptions &options, int64_t seqLen) {
  return std::visit(
      [&](const auto &o) -> llvm::Expected<BlockLayout> {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, FixedLayoutOptions>)
          return makeFixedLayout(o, seqLen);
        else if constexpr (std::is_same_v<T, VariableLayoutOptions>)
          return makeVariableLayout(o, seqLen);
        else if constexpr (std::is_same_v<T, BigBirdLayoutOptions>)
          return makeBigBirdLayout(o, seqLen);
        else if constexpr (std::is_same_v<T, BSLongformerLayoutOptions>)
          return makeBSLongformerLayout(o, seqLen);
        else if constexpr (std::is_same_v<T, LocalSlidingWindowLayoutOptions>)
          return makeLocalSlidingWindowLayout(o, seqLen);
        else if constexpr (std::is_same_v<T, Local1dLayoutOptions>)
          return makeLocal1dLayout(o, seqLen);
        else if constexpr (std::is_same_v<T, Causal1dLayoutOptions>)
          return makeCausal1dLayout(o, seqLen);
        else if constexpr (std::is_same_v<T, Axial2dLayoutOptions>)
          return makeAxial2dLayout(o, seqLen);
        else if constexpr (std::is_same_v<T, Local2dLayoutOptions>)
          return makeLocal2dLayout(o, seqLen);
        else if constexpr (std::is_same_v<T, SwinLayoutOptions>)
          return makeSwinLayout(o, seqLen);
        else if constexpr (std::is_same_v<T, Dilated2dLayoutOptions>)
          return makeDilated2dLayout(o, seqLen);
        else if constexpr (std::is_same_v<T, RandomLayoutOptions>)
          return makeRandomLayout(o, seqLen);
        else
          return makeGlobalLayout(o, seqLen);
      },
      options);
}

BlockLayout xfc::expandLayoutHeads(const BlockLayout &layout,
                                   int64_t numHeads) {
  if (layout.heads != 1 || numHeads <= 1)
    return layout;
  BlockLayout result;
  result.heads = numHeads;
  result.numBlocks = layout.numBlocks;
  result.bits.reserve(layout.bits.size() * static_cast<size_t>(numHeads));
  for (int64_t h = 0; h < numHeads; ++h)
    result.bits.insert(result.bits.end(), layout.bits.begin(),
                       layout.bits.end());
  return result;
}

//===----------------------------------------------------------------------===//
// Generator table
//===----------------------------------------------------------------------===//

namespace {

/// Where one field of a generator's options lives.
using FieldStorage = std::variant<int64_t *, uint64_t *, bool *, double *,
                                  std::optional<double> *, LayoutAttention *,
                                  RandomGranularity *, std::vector<int64_t> *,
                                  std::optional<std::vector<int64_t>> *>;

/// One field of a generator's options: its published name, its storage in
/// an options object and what it accepts.
struct GeneratorField {
  llvm::StringRef name;
  FieldStorage storage;
  llvm::StringRef doc;
  /// Integers and list entries: the smallest accepted value.
  int64_t minInt = 0;
  /// Floats: the accepted range.
  double minFloat = -std::numeric_limits<double>::infinity();
  double maxFloat = std::numeric_limits<double>::infinity();
  bool minInclusive = true, maxInclusive = true;
  /// Must be given.
  bool required = false;
  /// A list of token indices or a 0/1 mask (global's attention_query_mask).
  bool tokens = false;
  /// num_heads and block_size: a config keeps them at its top level.
  bool common = false;
};

/// Collects the fields of one options object, in the published order.
class FieldList {
public:
  FieldList &integer(llvm::StringRef name, int64_t &value, int64_t minimum,
                     llvm::StringRef doc, bool required = false) {
    GeneratorField field = make(name, &value, doc);
    field.minInt = minimum;
    field.required = required;
    return add(field);
  }
  FieldList &common(llvm::StringRef name, int64_t &value, llvm::StringRef doc) {
    GeneratorField field = make(name, &value, doc);
    field.minInt = 1;
    field.common = true;
    return add(field);
  }
  FieldList &seed(uint64_t &value) {
    return add(make("seed", &value,
                    "seed of the random draws (xfc; SplitMix64, "
                    "reproducible)"));
  }
  FieldList &boolean(llvm::StringRef name, bool &value, llvm::StringRef doc) {
    return add(make(name, &value, doc));
  }
  FieldList &number(llvm::StringRef name, double &value, double minimum,
                    bool minInclusive, llvm::StringRef doc,
                    bool required = false) {
    GeneratorField field = make(name, &value, doc);
    field.minFloat = minimum;
    field.minInclusive = minInclusive;
    field.required = required;
    return add(field);
  }
  FieldList &probability(llvm::StringRef name, std::optional<double> &value,
                         llvm::StringRef doc) {
    GeneratorField field = make(name, &value, doc);
    field.minFloat = 0.0;
    field.maxFloat = 1.0;
    field.minInclusive = field.maxInclusive = false;
    return add(field);
  }
  FieldList &attention(LayoutAttention &value) {
    return add(make("attention", &value,
                    "bidirectional (BERT-like) or unidirectional "
                    "(autoregressive: no block above the diagonal)"));
  }
  FieldList &granularity(RandomGranularity &value) {
    return add(make("granularity", &value,
                    "element: draw elements, a block is on if any is "
                    "(xFormers); block: draw blocks (xfc)"));
  }
  FieldList &list(llvm::StringRef name, std::vector<int64_t> &value,
                  int64_t minimum, llvm::StringRef doc) {
    GeneratorField field = make(name, &value, doc);
    field.minInt = minimum;
    return add(field);
  }
  FieldList &optionalList(llvm::StringRef name,
                          std::optional<std::vector<int64_t>> &value,
                          int64_t minimum, llvm::StringRef doc) {
    GeneratorField field = make(name, &value, doc);
    field.minInt = minimum;
    return add(field);
  }
  FieldList &tokens(llvm::StringRef name, std::vector<int64_t> &value,
                    llvm::StringRef doc) {
    GeneratorField field = make(name, &value, doc);
    field.tokens = true;
    field.required = true;
    return add(field);
  }

  std::vector<GeneratorField> fields;

private:
  static GeneratorField make(llvm::StringRef name, FieldStorage storage,
                             llvm::StringRef doc) {
    GeneratorField field;
    field.name = name;
    field.storage = storage;
    field.doc = doc;
    return field;
  }
  FieldList &add(const GeneratorField &field) {
    fields.push_back(field);
    return *this;
  }
};

void describeSparsity(SparsityOptions &o, FieldList &f) {
  f.common("num_heads", o.numHeads,
           "number of heads (default: the config's num_heads)");
  f.common("block_size", o.blockSize,
           "block size in tokens (default: the config's block_size)");
  f.boolean("different_layout_per_head", o.differentLayoutPerHead,
            "compute (and draw) every head's layout; otherwise one layout "
            "is shared by all heads");
}

void describe(FixedLayoutOptions &o, FieldList &f) {
  describeSparsity(o, f);
  f.integer("num_local_blocks", o.numLocalBlocks, 1,
            "blocks in each (disjoint) local window");
  f.integer("num_global_blocks", o.numGlobalBlocks, 1,
            "blocks at the end of each local window that are global; must "
            "divide num_local_blocks");
  f.attention(o.attention);
  f.boolean("horizontal_global_attention", o.horizontalGlobalAttention,
            "global blocks also attend to every block (bidirectional only)");
  f.integer("num_different_global_patterns", o.numDifferentGlobalPatterns, 1,
            "heads cycle through this many global positions (needs "
            "different_layout_per_head; at most num_local_blocks / "
            "num_global_blocks)");
}

void describe(VariableLayoutOptions &o, FieldList &f) {
  describeSparsity(o, f);
  f.integer("num_random_blocks", o.numRandomBlocks, 0, "random blocks per row");
  f.list("local_window_blocks", o.localWindowBlocks, 1,
         "sizes of the consecutive local windows; the last one repeats");
  f.list("global_block_indices", o.globalBlockIndices, 0,
         "global blocks (or range starts with global_block_end_indices)");
  f.optionalList("global_block_end_indices", o.globalBlockEndIndices, 0,
                 "exclusive ends of global ranges, one per "
                 "global_block_indices entry");
  f.attention(o.attention);
  f.boolean("horizontal_global_attention", o.horizontalGlobalAttention,
            "global blocks also attend to every block (bidirectional only)");
  f.seed(o.seed);
}

void describe(BigBirdLayoutOptions &o, FieldList &f) {
  describeSparsity(o, f);
  f.integer("num_random_blocks", o.numRandomBlocks, 0, "random blocks per row");
  f.integer("num_sliding_window_blocks", o.numSlidingWindowBlocks, 0,
            "sliding window width in blocks (row i sees i - n//2 .. i + "
            "n//2)");
  f.integer("num_global_blocks", o.numGlobalBlocks, 0,
            "leading blocks that are global (full rows and columns)");
  f.attention(o.attention);
  f.seed(o.seed);
}

void describe(BSLongformerLayoutOptions &o, FieldList &f) {
  describeSparsity(o, f);
  f.integer("num_sliding_window_blocks", o.numSlidingWindowBlocks, 0,
            "sliding window width in blocks (row i sees i - n//2 .. i + "
            "n//2)");
  f.list("global_block_indices", o.globalBlockIndices, 0,
         "global blocks (or range starts with global_block_end_indices)");
  f.optionalList("global_block_end_indices", o.globalBlockEndIndices, 0,
                 "exclusive ends of global ranges, one per "
                 "global_block_indices entry");
  f.attention(o.attention);
}

void describe(LocalSlidingWindowLayoutOptions &o, FieldList &f) {
  f.common("num_heads", o.numHeads,
           "number of heads (default: the config's num_heads)");
  f.common("block_size", o.blockSize,
           "block size in tokens (DeepSpeed's `block`; default: the "
           "config's block_size)");
  f.integer("num_sliding_window_blocks", o.numSlidingWindowBlocks, 0,
            "window width in blocks: row i sees i - n//2 .. i "
            "(unidirectional) or .. i + n//2");
  f.attention(o.attention);
}

void describeBlockSize(int64_t &blockSize, FieldList &f) {
  f.common("block_size", blockSize,
           "block size in tokens (default: the config's block_size)");
}

void describe(Local1dLayoutOptions &o, FieldList &f) {
  describeBlockSize(o.blockSize, f);
  f.integer("window_size", o.windowSize, 1,
            "odd window: keys with |i - j| <= window_size // 2",
            /*required=*/true);
}

void describe(Causal1dLayoutOptions &o, FieldList &f) {
  describeBlockSize(o.blockSize, f);
}

void describeGrid(Grid2dOptions &o, FieldList &f) {
  describeBlockSize(o.blockSize, f);
  f.integer("H", o.height, 1, "grid height; H * W = seq_len",
            /*required=*/true);
  f.integer("W", o.width, 1, "grid width (tokens are row-major)",
            /*required=*/true);
}

void describe(Axial2dLayoutOptions &o, FieldList &f) { describeGrid(o, f); }

void describe(Local2dLayoutOptions &o, FieldList &f) {
  describeGrid(o, f);
  f.number("distance", o.distance, -std::numeric_limits<double>::infinity(),
           true, "keys at a p-norm grid distance below this",
           /*required=*/true);
  f.number("p", o.p, 0.0, true,
           "exponent of the distance (0: number of differing coordinates)");
}

void describe(SwinLayoutOptions &o, FieldList &f) {
  describeGrid(o, f);
  f.integer("window_size", o.windowSize, 1, "window side; divides H and W",
            /*required=*/true);
  f.integer("shift_size", o.shiftSize, 0,
            "window shift, 0 <= shift_size < window_size");
}

void describe(Dilated2dLayoutOptions &o, FieldList &f) {
  describeGrid(o, f);
  f.integer("k", o.k, 1,
            "keys whose row and column offsets are multiples of k");
}

void describe(RandomLayoutOptions &o, FieldList &f) {
  describeSparsity(o, f);
  f.probability("sparsity", o.sparsity,
                "probability that an element is off, in (0, 1); give this "
                "or density");
  f.probability("density", o.density,
                "probability that an element is on (1 - sparsity; xfc)");
  f.granularity(o.granularity);
  f.seed(o.seed);
}

void describe(GlobalLayoutOptions &o, FieldList &f) {
  describeBlockSize(o.blockSize, f);
  f.tokens("attention_query_mask", o.tokens,
           "global tokens: token indices or a 0/1 mask over the sequence");
}

std::vector<GeneratorField> fieldsOf(LayoutGeneratorOptions &options) {
  FieldList list;
  std::visit([&](auto &o) { describe(o, list); }, options);
  return std::move(list.fields);
}

/// Generator names and summaries, in the order of LayoutGeneratorOptions'
/// alternatives.
struct GeneratorInfo {
  llvm::StringRef name;
  llvm::StringRef summary;
};

const GeneratorInfo kGenerators[] = {
    {"fixed", "Sparse Transformers' fixed pattern (DeepSpeed/xFormers "
              "FixedSparsityConfig): local windows plus global blocks"},
    {"variable", "VariableSparsityConfig: random blocks, local windows of "
                 "given sizes, global blocks or ranges"},
    {"bigbird", "BigBirdSparsityConfig: random blocks, a sliding window and "
                "leading global blocks"},
    {"bslongformer", "BSLongformerSparsityConfig: a sliding window and "
                     "global blocks or ranges"},
    {"local_sliding_window", "DeepSpeed's LocalSlidingWindowSparsityConfig: "
                             "a purely local sliding window"},
    {"local_1d", "xFormers local_1d_pattern: |i - j| <= window_size // 2, "
                 "as blocks"},
    {"causal_1d", "xFormers causal_1d_pattern: j <= i, as blocks"},
    {"axial_2d", "xFormers axial_2d_pattern: same row or column of an H x W "
                 "grid, as blocks"},
    {"local_2d", "xFormers local_2d_pattern: grid distance below `distance`, "
                 "as blocks"},
    {"swin", "xFormers swin_attention_pattern: same (shifted) window, as "
             "blocks"},
    {"dilated_2d", "xFormers dilated_2d_pattern: grid offsets multiples of "
                   "k, as blocks"},
    {"random", "xFormers random_pattern: elements on with probability 1 - "
               "sparsity, as blocks (seeded)"},
    {"global", "xFormers global_token_pattern: global tokens' rows and "
               "columns, as blocks"},
};

static_assert(std::size(kGenerators) ==
                  std::variant_size_v<LayoutGeneratorOptions>,
              "one entry per generator");

/// Default options of alternative `index`.
LayoutGeneratorOptions makeDefaultOptions(size_t index) {
  switch (index) {
  case 0:
    return FixedLayoutOptions();
  case 1:
    return VariableLayoutOptions();
  case 2:
    return BigBirdLayoutOptions();
  case 3:
    return BSLongformerLayoutOptions();
  case 4:
    return LocalSlidingWindowLayoutOptions();
  case 5:
    return Local1dLayoutOptions();
  case 6:
    return Causal1dLayoutOptions();
  case 7:
    return Axial2dLayoutOptions();
  case 8:
    return Local2dLayoutOptions();
  case 9:
    return SwinLayoutOptions();
  case 10:
    return Dilated2dLayoutOptions();
  case 11:
    return RandomLayoutOptions();
  default:
    return GlobalLayoutOptions();
  }
}

std::string formatList(llvm::ArrayRef<int64_t> values) {
  std::string text = "[";
  llvm::raw_string_ostream os(text);
  llvm::interleaveComma(values, os);
  return text + "]";
}

/// The JSON text of a field's value, or "" when it has none.
std::string renderField(const GeneratorField &field) {
  return std::visit(
      [](auto *value) -> std::string {
        using T = std::remove_pointer_t<decltype(value)>;
        if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, uint64_t>)
          return std::to_string(*value);
        else if constexpr (std::is_same_v<T, bool>)
          return *value ? "true" : "false";
        else if constexpr (std::is_same_v<T, double>)
          return formatFloat(*value);
        else if constexpr (std::is_same_v<T, std::optional<double>>)
          return *value ? formatFloat(**value) : "";
        else if constexpr (std::is_same_v<T, LayoutAttention>)
          return "\"" + layoutAttentionName(*value).str() + "\"";
        else if constexpr (std::is_same_v<T, RandomGranularity>)
          return "\"" + randomGranularityName(*value).str() + "\"";
        else if constexpr (std::is_same_v<T, std::vector<int64_t>>)
          return formatList(*value);
        else
          return *value ? formatList(**value) : "";
      },
      field.storage);
}

/// "int >= 1", "bool", "float in (0, 1)", ... for the generator table.
std::string kindText(const GeneratorField &field) {
  return std::visit(
      [&](auto *value) -> std::string {
        using T = std::remove_pointer_t<decltype(value)>;
        std::string minimum = field.minInt == 1   ? " >= 1"
                              : field.minInt == 0 ? " >= 0"
                                                  : "";
        if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, uint64_t>)
          return "int" + minimum;
        else if constexpr (std::is_same_v<T, bool>)
          return "bool";
        else if constexpr (std::is_same_v<T, double> ||
                           std::is_same_v<T, std::optional<double>>) {
          if (!std::isfinite(field.minFloat) && !std::isfinite(field.maxFloat))
            return "float";
          if (!std::isfinite(field.maxFloat))
            return std::string("float ") + (field.minInclusive ? ">= " : "> ") +
                   formatBound(field.minFloat);
          return "float in (0, 1)";
        } else if constexpr (std::is_same_v<T, LayoutAttention>)
          return "string: bidirectional|unidirectional";
        else if constexpr (std::is_same_v<T, RandomGranularity>)
          return "string: element|block";
        else
          return field.tokens ? "index list" : "int list" + minimum;
      },
      field.storage);
}

std::string defaultText(const GeneratorField &field) {
  if (field.required)
    return "required";
  if (field.common)
    return "config";
  std::string text = renderField(field);
  if (text.empty())
    return std::holds_alternative<std::optional<double> *>(field.storage)
               ? "-"
               : "null";
  if (text.front() == '"')
    text = text.substr(1, text.size() - 2);
  return text;
}

} // namespace

llvm::ArrayRef<llvm::StringRef> xfc::getLayoutPatternNames() {
  static const std::vector<llvm::StringRef> names = [] {
    std::vector<llvm::StringRef> result;
    for (const GeneratorInfo &info : kGenerators)
      result.push_back(info.name);
    llvm::sort(result);
    return result;
  }();
  return names;
}

llvm::StringRef
xfc::getLayoutPatternName(const LayoutGeneratorOptions &options) {
  return kGenerators[options.index()].name;
}

std::optional<LayoutGeneratorOptions>
xfc::getDefaultLayoutOptions(llvm::StringRef pattern) {
  for (size_t i = 0; i < std::size(kGenerators); ++i)
    if (kGenerators[i].name == pattern)
      return makeDefaultOptions(i);
  return std::nullopt;
}

int64_t xfc::getLayoutBlockSize(const LayoutGeneratorOptions &options) {
  return std::visit([](const auto &o) { return o.blockSize; }, options);
}

void xfc::setLayoutBlockSize(LayoutGeneratorOptions &options,
                             int64_t blockSize) {
  std::visit([&](auto &o) { o.blockSize = blockSize; }, options);
}

std::optional<int64_t>
xfc::getLayoutNumHeads(const LayoutGeneratorOptions &options) {
  return std::visit(
      [](const auto &o) -> std::optional<int64_t> {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_base_of_v<SparsityOptions, T> ||
                      std::is_same_v<T, LocalSlidingWindowLayoutOptions>)
          return o.numHeads;
        else
          return std::nullopt;
      },
      options);
}

bool xfc::setLayoutNumHeads(LayoutGeneratorOptions &options, int64_t numHeads) {
  return std::visit(
      [&](auto &o) {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_base_of_v<SparsityOptions, T> ||
                      std::is_same_v<T, LocalSlidingWindowLayoutOptions>) {
          o.numHeads = numHeads;
          return true;
        } else {
          return false;
        }
      },
      options);
}

bool xfc::hasLayoutPerHead(const LayoutGeneratorOptions &options) {
  return std::visit(
      [](const auto &o) {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_base_of_v<SparsityOptions, T>)
          return o.differentLayoutPerHead;
        else
          return false;
      },
      options);
}

SourceLocation ParsedLayoutGenerator::getLocation(llvm::StringRef field) const {
  auto it = fieldLocations.find(field.str());
  return it == fieldLocations.end() ? location : it->second;
}

//===----------------------------------------------------------------------===//
// Generator objects
//===----------------------------------------------------------------------===//

namespace {

/// Parses the members of one generator object into its options.
class GeneratorParser {
public:
  GeneratorParser(LayoutDiagnosticHandler report, llvm::StringRef path)
      : report(report), path(path) {}

  std::optional<ParsedLayoutGenerator> parse(const JsonValue &object);

private:
  void error(SourceLocation loc, const llvm::Twine &message) {
    hadError = true;
    report(DiagnosticSeverity::Error, loc, message);
  }
  std::string pathOf(llvm::StringRef field) const {
    return (path + "." + field).str();
  }

  void parseField(const GeneratorField &field, const JsonValue &value);
  /// An integer >= minimum (numbers in strings: with a warning).
  std::optional<int64_t> parseInteger(const JsonValue &value,
                                      llvm::StringRef fieldPath,
                                      int64_t minimum);
  std::optional<double> parseNumber(const GeneratorField &field,
                                    const JsonValue &value);
  std::optional<std::vector<int64_t>> parseList(const GeneratorField &field,
                                                const JsonValue &value);
  std::optional<std::vector<int64_t>> parseTokens(const GeneratorField &field,
                                                  const JsonValue &value);

  LayoutDiagnosticHandler report;
  llvm::StringRef path;
  bool hadError = false;
};

std::string describeMinimum(int64_t minimum) {
  return minimum == 1   ? "a positive integer"
         : minimum == 0 ? "a non-negative integer"
                        : "an integer";
}

std::optional<int64_t> GeneratorParser::parseInteger(const JsonValue &value,
                                                     llvm::StringRef fieldPath,
                                                     int64_t minimum) {
  std::string expected = describeMinimum(minimum);
  if (value.isString() && isJsonNumber(value.getString())) {
    JsonValue number =
        JsonValue::makeNumber(value.getString(), value.getLocation());
    if (number.isInteger() && number.getInteger() >= minimum) {
      report(DiagnosticSeverity::Warning, value.getLocation(),
             fieldPath + ": number given as a string");
      return number.getInteger();
    }
  }
  if (!value.isInteger() || value.getInteger() < minimum) {
    error(value.getLocation(),
          fieldPath + ": expected " + expected + ", got " + value.describe());
    return std::nullopt;
  }
  return value.getInteger();
}

std::optional<double> GeneratorParser::parseNumber(const GeneratorField &field,
                                                   const JsonValue &value) {
  std::string fieldPath = pathOf(field.name);
  std::string expected = "a number";
  if (std::isfinite(field.maxFloat))
    expected += std::string(" in ") + (field.minInclusive ? "[" : "(") +
                formatBound(field.minFloat) + ", " +
                formatBound(field.maxFloat) + (field.maxInclusive ? "]" : ")");
  else if (std::isfinite(field.minFloat))
    expected += std::string(field.minInclusive ? " >= " : " > ") +
                formatBound(field.minFloat);
  const JsonValue *number = &value;
  JsonValue converted;
  bool fromString = false;
  if (value.isString() && isJsonNumber(value.getString())) {
    converted = JsonValue::makeNumber(value.getString(), value.getLocation());
    number = &converted;
    fromString = true;
  }
  if (!number->isNumber()) {
    error(value.getLocation(),
          fieldPath + ": expected " + expected + ", got " + value.describe());
    return std::nullopt;
  }
  double x = number->getDouble();
  bool aboveMin = field.minInclusive ? x >= field.minFloat : x > field.minFloat;
  bool belowMax = field.maxInclusive ? x <= field.maxFloat : x < field.maxFloat;
  if (!std::isfinite(x) || !aboveMin || !belowMax) {
    error(value.getLocation(),
          fieldPath + ": expected " + expected + ", got " + value.describe());
    return std::nullopt;
  }
  if (fromString)
    report(DiagnosticSeverity::Warning, value.getLocation(),
           fieldPath + ": number given as a string");
  return x;
}

std::optional<std::vector<int64_t>>
GeneratorParser::parseList(const GeneratorField &field,
                           const JsonValue &value) {
  std::string fieldPath = pathOf(field.name);
  std::string expected = field.minInt == 1   ? "positive integers"
                         : field.minInt == 0 ? "non-negative integers"
                                             : "integers";
  if (!value.isArray()) {
    error(value.getLocation(), fieldPath + ": expected a list of " + expected +
                                   ", got " + value.describe());
    return std::nullopt;
  }
  std::vector<int64_t> result;
  llvm::ArrayRef<JsonValue> items = value.getElements();
  for (size_t i = 0; i < items.size(); ++i) {
    std::optional<int64_t> item = parseInteger(
        items[i], fieldPath + "[" + std::to_string(i) + "]", field.minInt);
    if (!item)
      return std::nullopt;
    result.push_back(*item);
  }
  return result;
}

std::optional<std::vector<int64_t>>
GeneratorParser::parseTokens(const GeneratorField &field,
                             const JsonValue &value) {
  // The same forms as the global variant's attention_query_mask.
  std::optional<TokenList> list =
      parseTokenList(value, pathOf(field.name),
                     [&](SourceLocation loc, const llvm::Twine &message) {
                       error(loc, message);
                     });
  if (!list)
    return std::nullopt;
  return std::move(list->tokens);
}

void GeneratorParser::parseField(const GeneratorField &field,
                                 const JsonValue &value) {
  std::string fieldPath = pathOf(field.name);
  std::visit(
      [&](auto *storage) {
        using T = std::remove_pointer_t<decltype(storage)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          if (std::optional<int64_t> v =
                  parseInteger(value, fieldPath, field.minInt))
            *storage = *v;
        } else if constexpr (std::is_same_v<T, uint64_t>) {
          if (std::optional<int64_t> v = parseInteger(value, fieldPath, 0))
            *storage = static_cast<uint64_t>(*v);
        } else if constexpr (std::is_same_v<T, bool>) {
          if (!value.isBool())
            error(value.getLocation(), fieldPath +
                                           ": expected true or false, got " +
                                           value.describe());
          else
            *storage = value.getBool();
        } else if constexpr (std::is_same_v<T, double> ||
                             std::is_same_v<T, std::optional<double>>) {
          if (std::optional<double> v = parseNumber(field, value))
            *storage = *v;
        } else if constexpr (std::is_same_v<T, LayoutAttention>) {
          if (value.isString() && value.getString() == "bidirectional")
            *storage = LayoutAttention::Bidirectional;
          else if (value.isString() && value.getString() == "unidirectional")
            *storage = LayoutAttention::Unidirectional;
          else
            error(value.getLocation(),
                  fieldPath +
                      ": expected one of bidirectional, unidirectional, got " +
                      value.describe());
        } else if constexpr (std::is_same_v<T, RandomGranularity>) {
          if (value.isString() && value.getString() == "element")
            *storage = RandomGranularity::Element;
          else if (value.isString() && value.getString() == "block")
            *storage = RandomGranularity::Block;
          else
            error(value.getLocation(),
                  fieldPath + ": expected one of element, block, got " +
                      value.describe());
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          std::optional<std::vector<int64_t>> list =
              field.tokens ? parseTokens(field, value)
                           : parseList(field, value);
          if (list)
            *storage = std::move(*list);
        } else {
          if (std::optional<std::vector<int64_t>> list =
                  parseList(field, value))
            *storage = std::move(*list);
        }
      },
      field.storage);
}

std::optional<ParsedLayoutGenerator>
GeneratorParser::parse(const JsonValue &object) {
  ParsedLayoutGenerator result;
  result.location = object.getLocation();
  std::string known = llvm::join(getLayoutPatternNames(), ", ");
  const JsonMember *pattern = object.findMember("pattern");
  if (!pattern || pattern->value.isNull()) {
    error(object.getLocation(),
          path + ": a generator object needs \"pattern\"; known patterns: " +
              known);
    return std::nullopt;
  }
  if (!pattern->value.isString()) {
    error(pattern->value.getLocation(),
          pathOf("pattern") + ": expected a pattern name, got " +
              pattern->value.describe() + "; known patterns: " + known);
    return std::nullopt;
  }
  llvm::StringRef name = pattern->value.getString();
  std::optional<LayoutGeneratorOptions> defaults =
      getDefaultLayoutOptions(name);
  if (!defaults) {
    std::string message =
        pathOf("pattern") + ": unknown pattern '" + name.str() + "'; ";
    llvm::StringRef closest = findClosest(name, getLayoutPatternNames());
    if (!closest.empty())
      message += "did you mean '" + closest.str() + "'? ";
    error(pattern->value.getLocation(), message + "known patterns: " + known);
    return std::nullopt;
  }
  result.options = std::move(*defaults);
  result.fieldLocations["pattern"] = pattern->value.getLocation();
  std::vector<GeneratorField> fields = fieldsOf(result.options);
  std::vector<llvm::StringRef> names = {"pattern"};
  for (const GeneratorField &field : fields)
    names.push_back(field.name);
  llvm::sort(names);

  for (const JsonMember &member : object.getMembers()) {
    if (member.key == "pattern")
      continue;
    auto field = llvm::find_if(
        fields, [&](const GeneratorField &f) { return f.name == member.key; });
    if (field == fields.end()) {
      if (member.key == "seq_len") {
        error(member.keyLocation,
              pathOf("seq_len") +
                  ": the layout's sequence length is the config's seq_len; "
                  "give seq_len at the top level of the config");
        continue;
      }
      if (member.key == "file") {
        error(member.keyLocation,
              path + ": give either \"pattern\" or \"file\", not both");
        continue;
      }
      std::string message = path.str() + ": unknown field '" + member.key +
                            "' in pattern '" + name.str() + "'; ";
      llvm::StringRef closest = findClosest(member.key, names);
      if (!closest.empty())
        message += "did you mean '" + closest.str() + "'? ";
      error(member.keyLocation,
            message + "valid fields: " + llvm::join(names, ", "));
      continue;
    }
    // As in xFormers configs, null means "not given".
    if (member.value.isNull())
      continue;
    result.fieldLocations[member.key] = member.value.getLocation();
    parseField(*field, member.value);
  }
  for (const GeneratorField &field : fields)
    if (field.required && !result.isGiven(field.name))
      error(object.getLocation(), path + ": missing required field '" +
                                      field.name + "' for pattern '" + name +
                                      "'");
  if (hadError)
    return std::nullopt;
  return result;
}

} // namespace

std::optional<ParsedLayoutGenerator>
xfc::parseLayoutGenerator(const JsonValue &object,
                          LayoutDiagnosticHandler report,
                          llvm::StringRef path) {
  return GeneratorParser(report, path).parse(object);
}

std::string xfc::renderLayoutGenerator(const LayoutGeneratorOptions &options) {
  LayoutGeneratorOptions copy = options;
  std::map<std::string, std::string> members;
  std::string name;
  appendJsonString(name, getLayoutPatternName(options));
  members["pattern"] = name;
  for (const GeneratorField &field : fieldsOf(copy)) {
    if (field.common)
      continue;
    std::string text = renderField(field);
    if (!text.empty())
      members[field.name.str()] = text;
  }
  std::string text = "{";
  bool first = true;
  for (const auto &[key, value] : members) {
    if (!first)
      text += ", ";
    first = false;
    appendJsonString(text, key);
    text += ": " + value;
  }
  return text + "}";
}

void xfc::printLayoutGenerators(llvm::raw_ostream &os) {
  os << "Layout generators ({\"pattern\": NAME, ...} as a blocksparse "
        "layout). seq_len, and by\ndefault block_size and num_heads, come "
        "from the config.\n";
  for (size_t i = 0; i < std::size(kGenerators); ++i) {
    LayoutGeneratorOptions options = makeDefaultOptions(i);
    std::vector<GeneratorField> fields = fieldsOf(options);
    os << "\n" << kGenerators[i].name << ": " << kGenerators[i].summary << "\n";
    size_t nameWidth = 5, kindWidth = 4, defaultWidth = 7;
    for (const GeneratorField &field : fields) {
      nameWidth = std::max(nameWidth, field.name.size());
      kindWidth = std::max(kindWidth, kindText(field).size());
      defaultWidth = std::max(defaultWidth, defaultText(field).size());
    }
    auto row = [&](llvm::StringRef name, llvm::StringRef kind,
                   llvm::StringRef defaultValue, llvm::StringRef doc) {
      os << "  " << llvm::left_justify(name, nameWidth) << "  "
         << llvm::left_justify(kind, kindWidth) << "  "
         << llvm::left_justify(defaultValue, defaultWidth) << "  " << doc
         << "\n";
    };
    row("field", "kind", "default", "description");
    for (const GeneratorField &field : fields)
      row(field.name, kindText(field), defaultText(field), field.doc);
  }
}

//===----------------------------------------------------------------------===//
// Text
//===----------------------------------------------------------------------===//

void xfc::printLayout(const BlockLayout &layout, llvm::raw_ostream &os) {
  int64_t nb = layout.numBlocks;
  int64_t set = layout.countSet();
  os << "layout: ";
  if (layout.heads == 1)
    os << nb << "x" << nb << " blocks, shared by all heads, ";
  else
    os << layout.heads << " heads of " << nb << "x" << nb << " blocks, ";
  os << set << "/" << layout.bits.size() << " set ("
     << llvm::format("%.1f", 100.0 * layout.density()) << "%)\n";
  for (int64_t h = 0; h < layout.heads; ++h) {
    if (layout.heads != 1)
      os << "head " << h << ":\n";
    for (int64_t i = 0; i < nb; ++i) {
      for (int64_t j = 0; j < nb; ++j)
        os << (layout.at(h, i, j) ? '#' : '.');
      os << "\n";
    }
  }
}

//===----------------------------------------------------------------------===//
// Files
//===----------------------------------------------------------------------===//

/// Checks that `layout` is a non-empty, consistent layout.
static llvm::Error checkWritable(const BlockLayout &layout) {
  if (layout.heads < 1 || layout.numBlocks < 1 ||
      layout.bits.size() !=
          static_cast<size_t>(layout.heads * layout.numBlocks *
                              layout.numBlocks))
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "the layout is empty or its bits do not match " +
            llvm::Twine(layout.heads) + " x " + llvm::Twine(layout.numBlocks) +
            " x " + llvm::Twine(layout.numBlocks));
  return llvm::Error::success();
}

/// Writes `bytes` to `path` through a temporary file renamed into place.
static llvm::Error writeAtomically(llvm::StringRef path,
                                   llvm::StringRef bytes) {
  llvm::Error error =
      llvm::writeToOutput(path, [&](llvm::raw_ostream &os) -> llvm::Error {
        os << bytes;
        return llvm::Error::success();
      });
  if (error)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "cannot write '" + path + "': " + llvm::toString(std::move(error)));
  return llvm::Error::success();
}

llvm::Error xfc::writeLayoutNpy(const BlockLayout &layout,
                                llvm::StringRef path) {
  if (llvm::Error error = checkWritable(layout))
    return error;
  std::string shape = "(";
  if (layout.heads != 1)
    shape += std::to_string(layout.heads) + ", ";
  shape += std::to_string(layout.numBlocks) + ", " +
           std::to_string(layout.numBlocks) + ")";
  std::string header =
      "{'descr': '|u1', 'fortran_order': False, 'shape': " + shape + ", }";
  // Magic (6) + version (2) + length (2) + header, padded with spaces and
  // a final newline to a multiple of 64 bytes.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string bytes = "\x93NUMPY";
  bytes += '\x01';
  bytes += '\x00';
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>((header.size() >> 8) & 0xff);
  bytes += header;
  for (uint8_t bit : layout.bits)
    bytes += static_cast<char>(bit ? 1 : 0);
  return writeAtomically(path, bytes);
}

//===----------------------------------------------------------------------===//
// PNG
//===----------------------------------------------------------------------===//

uint32_t xfc::computeCrc32(llvm::ArrayRef<uint8_t> data) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> result{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k)
        c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      result[n] = c;
    }
    return result;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (uint8_t byte : data)
    crc = table[(crc ^ byte) & 0xff] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

uint32_t xfc::computeAdler32(llvm::ArrayRef<uint8_t> data) {
  constexpr uint32_t kModulus = 65521;
  uint32_t a = 1, b = 0;
  // 5552 bytes is the most that cannot overflow 32 bits before reducing.
  for (size_t start = 0; start < data.size(); start += 5552) {
    size_t end = std::min(data.size(), start + 5552);
    for (size_t i = start; i < end; ++i) {
      a += data[i];
      b += a;
    }
    a %= kModulus;
    b %= kModulus;
  }
  return (b << 16) | a;
}

static void appendBigEndian(std::string &out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out += static_cast<char>((value >> shift) & 0xff);
}

/// Appends a PNG chunk: length, type, data, CRC-32 of type and data.
static void appendChunk(std::string &out, llvm::StringRef type,
                        llvm::StringRef data) {
  appendBigEndian(out, static_cast<uint32_t>(data.size()));
  std::string typed = type.str() + data.str();
  out += typed;
  appendBigEndian(
      out, computeCrc32(llvm::ArrayRef<uint8_t>(
               reinterpret_cast<const uint8_t *>(typed.data()), typed.size())));
}

std::string xfc::encodeLayoutPng(const BlockLayout &layout,
                                 unsigned pixelsPerBlock) {
  int64_t nb = layout.numBlocks;
  if (layout.heads < 1 || nb < 1)
    return "";
  int64_t scale = pixelsPerBlock;
  if (scale == 0)
    scale = std::clamp<int64_t>(256 / nb, 1, 8);
  int64_t gap = std::max<int64_t>(1, scale / 2);
  int64_t panel = nb * scale;
  int64_t width = layout.heads * panel + (layout.heads - 1) * gap;
  int64_t height = panel;
  constexpr uint8_t kOn = 0, kOff = 255, kGap = 160;

  // Scanlines: filter type 0 (none), then one gray byte per pixel.
  std::vector<uint8_t> raw;
  raw.reserve(static_cast<size_t>(height * (width + 1)));
  std::vector<uint8_t> line(static_cast<size_t>(width));
  for (int64_t i = 0; i < nb; ++i) {
    for (int64_t h = 0; h < layout.heads; ++h) {
      int64_t x0 = h * (panel + gap);
      for (int64_t j = 0; j < nb; ++j)
        std::fill_n(line.begin() + x0 + j * scale, scale,
                    layout.at(h, i, j) ? kOn : kOff);
      if (h + 1 < layout.heads)
        std::fill_n(line.begin() + x0 + panel, gap, kGap);
    }
    for (int64_t y = 0; y < scale; ++y) {
      raw.push_back(0);
      raw.insert(raw.end(), line.begin(), line.end());
    }
  }

  // zlib stream: CMF 0x78 (deflate, 32K window), FLG 0x01 (check bits),
  // stored deflate blocks of at most 65535 bytes, Adler-32 big-endian.
  std::string zlib = "\x78\x01";
  size_t offset = 0;
  do {
    size_t length = std::min<size_t>(65535, raw.size() - offset);
    bool final = offset + length == raw.size();
    zlib += static_cast<char>(final ? 1 : 0);
    zlib += static_cast<char>(length & 0xff);
    zlib += static_cast<char>(length >> 8);
    zlib += static_cast<char>(~length & 0xff);
    zlib += static_cast<char>((~length >> 8) & 0xff);
    zlib.append(reinterpret_cast<const char *>(raw.data()) + offset, length);
    offset += length;
  } while (offset < raw.size());
  appendBigEndian(zlib, computeAdler32(raw));

  std::string png = "\x89PNG\r\n\x1a\n";
  std::string header;
  appendBigEndian(header, static_cast<uint32_t>(width));
  appendBigEndian(header, static_cast<uint32_t>(height));
  // Bit depth 8, color type 0 (gray), compression 0, filter 0, no
  // interlace.
  header += std::string("\x08\x00\x00\x00\x00", 5);
  appendChunk(png, "IHDR", header);
  constexpr size_t kChunk = size_t(1) << 20;
  for (size_t at = 0; at < zlib.size(); at += kChunk)
    appendChunk(png, "IDAT", llvm::StringRef(zlib).substr(at, kChunk));
  appendChunk(png, "IEND", "");
  return png;
}

llvm::Error xfc::writeLayoutPng(const BlockLayout &layout, llvm::StringRef path,
                                unsigned pixelsPerBlock) {
  if (llvm::Error error = checkWritable(layout))
    return error;
  int64_t scale = pixelsPerBlock == 0 ? 8 : pixelsPerBlock;
  if (layout.heads * (layout.numBlocks * scale + scale) >
      std::numeric_limits<int32_t>::max())
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "the layout is too large for a PNG");
  return writeAtomically(path, encodeLayoutPng(layout, pixelsPerBlock));
}
