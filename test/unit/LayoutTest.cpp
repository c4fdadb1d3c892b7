//===- LayoutTest.cpp - Layout generators, generator configs, writers -----===//
//
// Hand-worked layouts for every generator, properties that follow from the
// published definitions, the 2-D and random block reductions against
// brute-force element patterns, parameter checks, generator objects in
// configs, and the .npy / .png writers.
//
//===----------------------------------------------------------------------===//

#include "xfc/Frontend/Config.h"
#include "xfc/Frontend/LayoutGenerators.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#include "gtest/gtest.h"

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

using namespace xfc;

namespace {

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

using Rows = std::vector<std::string>;

/// Head `head` of `layout` as rows of '#' (on) and '.' (off).
Rows rowsOf(const BlockLayout &layout, int64_t head = 0) {
  Rows rows;
  for (int64_t i = 0; i < layout.numBlocks; ++i) {
    std::string row;
    for (int64_t j = 0; j < layout.numBlocks; ++j)
      row += layout.at(head, i, j) ? '#' : '.';
    rows.push_back(row);
  }
  return rows;
}

/// A one-head layout from rows of '#' and '.'.
BlockLayout fromRows(const Rows &rows) {
  BlockLayout layout;
  layout.heads = 1;
  layout.numBlocks = static_cast<int64_t>(rows.size());
  for (const std::string &row : rows)
    for (char c : row)
      layout.bits.push_back(c == '#' ? 1 : 0);
  return layout;
}

/// The layout, which must have been generated.
BlockLayout ok(llvm::Expected<BlockLayout> layout) {
  if (!layout) {
    ADD_FAILURE() << llvm::toString(layout.takeError());
    return BlockLayout();
  }
  return std::move(*layout);
}

/// The error `<field>: <message>` of a generator that must fail.
std::string errorOf(llvm::Expected<BlockLayout> layout) {
  if (layout)
    return "<no error>";
  std::string text;
  llvm::handleAllErrors(layout.takeError(), [&](const LayoutError &error) {
    text = error.getField().str() + ": " + error.getMessage().str();
  });
  return text;
}

bool isSymmetric(const BlockLayout &layout) {
  for (int64_t h = 0; h < layout.heads; ++h)
    for (int64_t i = 0; i < layout.numBlocks; ++i)
      for (int64_t j = 0; j < layout.numBlocks; ++j)
        if (layout.at(h, i, j) != layout.at(h, j, i))
          return false;
  return true;
}

bool isLowerTriangular(const BlockLayout &layout) {
  for (int64_t h = 0; h < layout.heads; ++h)
    for (int64_t i = 0; i < layout.numBlocks; ++i)
      for (int64_t j = i + 1; j < layout.numBlocks; ++j)
        if (layout.at(h, i, j))
          return false;
  return true;
}

int64_t countRow(const BlockLayout &layout, int64_t h, int64_t i) {
  int64_t count = 0;
  for (int64_t j = 0; j < layout.numBlocks; ++j)
    count += layout.at(h, i, j);
  return count;
}

/// Reference pattern_to_layout: max-pools an element predicate over
/// blocks, the last one partial.
Rows referenceLayout(int64_t seqLen, int64_t blockSize,
                     const std::function<bool(int64_t, int64_t)> &isOn) {
  int64_t nb = (seqLen + blockSize - 1) / blockSize;
  Rows rows(nb, std::string(nb, '.'));
  for (int64_t i = 0; i < seqLen; ++i)
    for (int64_t j = 0; j < seqLen; ++j)
      if (isOn(i, j))
        rows[i / blockSize][j / blockSize] = '#';
  return rows;
}

/// xFormers' local_nd_distance for a 2-D grid: torch.cdist of the
/// row-major grid coordinates with exponent p (p = 0 counts differing
/// coordinates).
double gridDistance(int64_t i, int64_t j, int64_t width, double p) {
  double dh = std::fabs(double(i / width - j / width));
  double dw = std::fabs(double(i % width - j % width));
  if (p == 0.0)
    return (dh != 0) + (dw != 0);
  return std::pow(std::pow(dh, p) + std::pow(dw, p), 1.0 / p);
}

/// xFormers' swin_attention_pattern, literally: the argmin (first minimum,
/// row-major anchors) of the Euclidean distance to the anchors.
std::function<bool(int64_t, int64_t)>
referenceSwin(int64_t height, int64_t width, int64_t window, int64_t shift) {
  int64_t extra = shift % window != 0;
  int64_t gridH = height / window + extra, gridW = width / window + extra;
  int64_t s = ((-shift) % window + window) % window;
  double offset = window / 2.0 - s;
  std::vector<int64_t> anchorOf(height * width);
  for (int64_t t = 0; t < height * width; ++t) {
    double y = t / width + 0.5, x = t % width + 0.5;
    double best = std::numeric_limits<double>::infinity();
    for (int64_t a = 0; a < gridH; ++a)
      for (int64_t b = 0; b < gridW; ++b) {
        double dy = y - (a * window + offset), dx = x - (b * window + offset);
        double d = std::sqrt(dy * dy + dx * dx);
        if (d < best) {
          best = d;
          anchorOf[t] = a * gridW + b;
        }
      }
  }
  return
      [anchorOf](int64_t i, int64_t j) { return anchorOf[i] == anchorOf[j]; };
}

//===----------------------------------------------------------------------===//
// SplitMix64
//===----------------------------------------------------------------------===//

TEST(SplitMix64, ReferenceOutputs) {
  // The first outputs of splitmix64.c (Vigna) seeded with 0.
  SplitMix64 rng(0);
  EXPECT_EQ(rng.next(), 0xE220A8397B1DCDAFULL);
  EXPECT_EQ(rng.next(), 0x6E789E6AA1B965F4ULL);
  EXPECT_EQ(rng.next(), 0x06C45D188009454FULL);
  EXPECT_EQ(SplitMix64::at(0, 1), 0xE220A8397B1DCDAFULL);
  EXPECT_EQ(SplitMix64::at(0, 3), 0x06C45D188009454FULL);
  EXPECT_EQ(SplitMix64::toUnit(0), 0.0);
  EXPECT_LT(SplitMix64::toUnit(~uint64_t(0)), 1.0);
  SplitMix64 bounded(42);
  for (int i = 0; i < 1000; ++i)
    EXPECT_LT(bounded.below(7), 7u);
  EXPECT_EQ(bounded.below(1), 0u);
}

//===----------------------------------------------------------------------===//
// Sparsity configs: hand-worked layouts
//===----------------------------------------------------------------------===//

TEST(FixedLayout, Bidirectional) {
  FixedLayoutOptions options; // 4 local blocks, 1 global, bidirectional
  BlockLayout layout = ok(makeFixedLayout(options, 128));
  EXPECT_EQ(layout.heads, 1);
  EXPECT_EQ(rowsOf(layout),
            (Rows{"####...#", "####...#", "####...#", "####...#", "...#####",
                  "...#####", "...#####", "...#####"}));
}

TEST(FixedLayout, Unidirectional) {
  FixedLayoutOptions options;
  options.attention = LayoutAttention::Unidirectional;
  EXPECT_EQ(rowsOf(ok(makeFixedLayout(options, 128))),
            (Rows{"#.......", "##......", "###.....", "####....", "...##...",
                  "...###..", "...####.", "...#####"}));
}

TEST(FixedLayout, ShortLastWindow) {
  // 10 blocks: windows [0,4), [4,8), [8,10); the short window's global
  // block is min(8 + 3, 10 - 1) = 9.
  FixedLayoutOptions options;
  EXPECT_EQ(rowsOf(ok(makeFixedLayout(options, 160))),
            (Rows{"####...#.#", "####...#.#", "####...#.#", "####...#.#",
                  "...#####.#", "...#####.#", "...#####.#", "...#####.#",
                  "...#...###", "...#...###"}));
  options.horizontalGlobalAttention = true;
  EXPECT_EQ(rowsOf(ok(makeFixedLayout(options, 160))),
            (Rows{"####...#.#", "####...#.#", "####...#.#", "##########",
                  "...#####.#", "...#####.#", "...#####.#", "##########",
                  "...#...###", "##########"}));
}

TEST(FixedLayout, DifferentGlobalPatternsPerHead) {
  FixedLayoutOptions options;
  options.numHeads = 3;
  options.differentLayoutPerHead = true;
  options.numDifferentGlobalPatterns = 2;
  BlockLayout layout = ok(makeFixedLayout(options, 128));
  ASSERT_EQ(layout.heads, 3);
  EXPECT_EQ(rowsOf(layout, 0),
            (Rows{"####...#", "####...#", "####...#", "####...#", "...#####",
                  "...#####", "...#####", "...#####"}));
  // Head 1 uses the second-to-last block of each window; head 2 wraps to
  // head 0's pattern (h % num_different_global_patterns).
  EXPECT_EQ(rowsOf(layout, 1),
            (Rows{"####..#.", "####..#.", "####..#.", "####..#.", "..#.####",
                  "..#.####", "..#.####", "..#.####"}));
  EXPECT_EQ(rowsOf(layout, 2), rowsOf(layout, 0));
}

TEST(FixedLayout, TwoGlobalBlocksUnidirectionalStayLowerTriangular) {
  // DeepSpeed sets columns [i, i + 2) from row i, which puts block (2, 3)
  // above the diagonal; xfc keeps unidirectional layouts lower-triangular.
  FixedLayoutOptions options;
  options.numGlobalBlocks = 2;
  options.attention = LayoutAttention::Unidirectional;
  EXPECT_EQ(rowsOf(ok(makeFixedLayout(options, 128))),
            (Rows{"#.......", "##......", "###.....", "####....", "..###...",
                  "..####..", "..#####.", "..######"}));
}

TEST(VariableLayout, Defaults) {
  VariableLayoutOptions options; // local [4], global [0], no random
  EXPECT_EQ(rowsOf(ok(makeVariableLayout(options, 128))),
            (Rows{"####....", "####....", "####....", "####....", "#...####",
                  "#...####", "#...####", "#...####"}));
}

TEST(VariableLayout, WindowsRepeatAndHorizontalGlobal) {
  // Windows [0,2), [2,5), then size 3 again: [5,8). Block 6 is global in
  // both directions.
  VariableLayoutOptions options;
  options.localWindowBlocks = {2, 3};
  options.globalBlockIndices = {6};
  options.horizontalGlobalAttention = true;
  EXPECT_EQ(rowsOf(ok(makeVariableLayout(options, 128))),
            (Rows{"##....#.", "##....#.", "..###.#.", "..###.#.", "..###.#.",
                  ".....###", "########", ".....###"}));
}

TEST(VariableLayout, UnidirectionalGlobalRange) {
  // Global range [1, 3): columns 1 and 2 from row 1 down, then nothing
  // above the diagonal.
  VariableLayoutOptions options;
  options.globalBlockIndices = {1};
  options.globalBlockEndIndices = std::vector<int64_t>{3};
  options.attention = LayoutAttention::Unidirectional;
  EXPECT_EQ(rowsOf(ok(makeVariableLayout(options, 128))),
            (Rows{"#.......", "##......", "###.....", "####....", ".##.#...",
                  ".##.##..", ".##.###.", ".##.####"}));
}

TEST(VariableLayout, RandomBlocksFromSeed) {
  // Seed 0, one random block per row from 4 candidates: the rows draw
  // outputs 1..4 of SplitMix64(0) modulo 4 = 3, 0, 3, 0.
  VariableLayoutOptions options;
  options.numRandomBlocks = 1;
  options.localWindowBlocks = {1};
  options.globalBlockIndices = {};
  EXPECT_EQ(rowsOf(ok(makeVariableLayout(options, 64))),
            (Rows{"#..#", "##..", "..##", "#..#"}));
}

TEST(BigBirdLayout, WindowAndGlobal) {
  BigBirdLayoutOptions options;
  options.numRandomBlocks = 0;
  EXPECT_EQ(rowsOf(ok(makeBigBirdLayout(options, 80))),
            (Rows{"#####", "###..", "####.", "#.###", "#..##"}));
  options.attention = LayoutAttention::Unidirectional;
  EXPECT_EQ(rowsOf(ok(makeBigBirdLayout(options, 80))),
            (Rows{"#....", "##...", "###..", "#.##.", "#..##"}));
}

TEST(BigBirdLayout, RandomBlocksFromSeed) {
  // Seed 5, two random blocks per row by partial Fisher-Yates, plus the
  // diagonal (window 1), no global block. Worked out with an independent
  // SplitMix64.
  BigBirdLayoutOptions options;
  options.numRandomBlocks = 2;
  options.numSlidingWindowBlocks = 1;
  options.numGlobalBlocks = 0;
  options.seed = 5;
  EXPECT_EQ(rowsOf(ok(makeBigBirdLayout(options, 96))),
            (Rows{"#.#..#", "##...#", ".##...", ".#.#..", ".#..#.", "...#.#"}));
  // Unidirectional: row i draws min(2, i + 1) blocks from 0..i.
  options.attention = LayoutAttention::Unidirectional;
  EXPECT_EQ(rowsOf(ok(makeBigBirdLayout(options, 96))),
            (Rows{"#.....", "##....", "#.#...", "##.#..", "##..#.", "..#..#"}));
}

TEST(BSLongformerLayout, Defaults) {
  BSLongformerLayoutOptions options;
  EXPECT_EQ(rowsOf(ok(makeBSLongformerLayout(options, 96))),
            (Rows{"######", "###...", "####..", "#.###.", "#..###", "#...##"}));
}

TEST(BSLongformerLayout, UnidirectionalRanges) {
  BSLongformerLayoutOptions options;
  options.globalBlockIndices = {1, 4};
  options.globalBlockEndIndices = std::vector<int64_t>{2, 6};
  options.attention = LayoutAttention::Unidirectional;
  EXPECT_EQ(rowsOf(ok(makeBSLongformerLayout(options, 96))),
            (Rows{"#.....", "##....", ".##...", ".###..", "#####.", "######"}));
}

TEST(LocalSlidingWindowLayout, BothDirections) {
  LocalSlidingWindowLayoutOptions options; // unidirectional by default
  EXPECT_EQ(rowsOf(ok(makeLocalSlidingWindowLayout(options, 80))),
            (Rows{"#....", "##...", ".##..", "..##.", "...##"}));
  options.attention = LayoutAttention::Bidirectional;
  EXPECT_EQ(rowsOf(ok(makeLocalSlidingWindowLayout(options, 80))),
            (Rows{"##...", "###..", ".###.", "..###", "...##"}));
}

//===----------------------------------------------------------------------===//
// Element patterns: hand-worked layouts
//===----------------------------------------------------------------------===//

TEST(Local1dLayout, PartialLastBlock) {
  // 10 tokens in blocks [0,4), [4,8), [8,10).
  Local1dLayoutOptions options;
  options.blockSize = 4;
  options.windowSize = 3;
  EXPECT_EQ(rowsOf(ok(makeLocal1dLayout(options, 10))),
            (Rows{"##.", "###", ".##"}));
  options.windowSize = 1;
  EXPECT_EQ(rowsOf(ok(makeLocal1dLayout(options, 10))),
            (Rows{"#..", ".#.", "..#"}));
}

TEST(Causal1dLayout, PartialLastBlock) {
  Causal1dLayoutOptions options;
  options.blockSize = 4;
  EXPECT_EQ(rowsOf(ok(makeCausal1dLayout(options, 10))),
            (Rows{"#..", "##.", "###"}));
}

TEST(Axial2dLayout, HalfRows) {
  // 4 x 4 grid, blocks of 2 tokens: block b is grid row b / 2, columns
  // 2 (b % 2) .. 2 (b % 2) + 1. Same row or same column half.
  Axial2dLayoutOptions options;
  options.blockSize = 2;
  options.height = options.width = 4;
  EXPECT_EQ(rowsOf(ok(makeAxial2dLayout(options, 16))),
            (Rows{"###.#.#.", "##.#.#.#", "#.###.#.", ".###.#.#", "#.#.###.",
                  ".#.###.#", "#.#.#.##", ".#.#.###"}));
}

TEST(Local2dLayout, GridRows) {
  // One grid row per block: rows within Euclidean distance < 1.5.
  Local2dLayoutOptions options;
  options.blockSize = 4;
  options.height = options.width = 4;
  options.distance = 1.5;
  EXPECT_EQ(rowsOf(ok(makeLocal2dLayout(options, 16))),
            (Rows{"##..", "###.", ".###", "..##"}));
  options.distance = 1.0;
  EXPECT_EQ(rowsOf(ok(makeLocal2dLayout(options, 16))),
            (Rows{"#...", ".#..", "..#.", "...#"}));
  // p = 1 (Manhattan), distance 2.5: two rows apart still has a pair at
  // distance 2.
  options.p = 1.0;
  options.distance = 2.5;
  EXPECT_EQ(rowsOf(ok(makeLocal2dLayout(options, 16))),
            (Rows{"###.", "####", "####", ".###"}));
}

TEST(SwinLayout, WindowsAndShift) {
  // 4 x 4 grid, 2 x 2 windows, blocks of 2 tokens (half a grid row).
  SwinLayoutOptions options;
  options.blockSize = 2;
  options.height = options.width = 4;
  options.windowSize = 2;
  EXPECT_EQ(rowsOf(ok(makeSwinLayout(options, 16))),
            (Rows{"#.#.....", ".#.#....", "#.#.....", ".#.#....", "....#.#.",
                  ".....#.#", "....#.#.", ".....#.#"}));
  // Shifted by 1: anchors at 0, 2, 4 per axis, so grid rows fall into
  // windows {0}, {1, 2}, {3}. One grid row per block.
  options.blockSize = 4;
  options.shiftSize = 1;
  EXPECT_EQ(rowsOf(ok(makeSwinLayout(options, 16))),
            (Rows{"#...", ".##.", ".##.", "...#"}));
}

TEST(Dilated2dLayout, PartialLastBlock) {
  // 2 x 4 grid, blocks of 3 tokens: {(0,0),(0,1),(0,2)}, {(0,3),(1,0),
  // (1,1)}, {(1,2),(1,3)}. Offsets must both be even.
  Dilated2dLayoutOptions options;
  options.blockSize = 3;
  options.height = 2;
  options.width = 4;
  EXPECT_EQ(rowsOf(ok(makeDilated2dLayout(options, 8))),
            (Rows{"##.", "###", ".##"}));
}

TEST(GlobalLayout, TokenRowsAndColumns) {
  GlobalLayoutOptions options;
  options.blockSize = 4;
  options.tokens = {5};
  EXPECT_EQ(rowsOf(ok(makeGlobalLayout(options, 10))),
            (Rows{".#.", "###", ".#."}));
  options.tokens = {0, 9};
  EXPECT_EQ(rowsOf(ok(makeGlobalLayout(options, 10))),
            (Rows{"###", "#.#", "###"}));
}

TEST(RandomLayout, BlockDrawsFromSeed) {
  // Block (I, J) is on when output 4 I + J + 1 of SplitMix64(7) maps above
  // 0.5 (worked out with an independent SplitMix64).
  RandomLayoutOptions options;
  options.sparsity = 0.5;
  options.granularity = RandomGranularity::Block;
  options.seed = 7;
  EXPECT_EQ(rowsOf(ok(makeRandomLayout(options, 64))),
            (Rows{"..##", "....", "...#", "####"}));
  // density is 1 - sparsity.
  options.sparsity.reset();
  options.density = 0.5;
  EXPECT_EQ(rowsOf(ok(makeRandomLayout(options, 64))),
            (Rows{"..##", "....", "...#", "####"}));
}

TEST(RandomLayout, ElementDrawsFromSeed) {
  // 6 tokens, sparsity 0.9, seed 1: elements (0, 2) and (4, 5) are on
  // (output 6 i + j + 1), so blocks (0, 0) and (1, 1) are.
  RandomLayoutOptions options;
  options.blockSize = 4;
  options.sparsity = 0.9;
  options.seed = 1;
  EXPECT_EQ(rowsOf(ok(makeRandomLayout(options, 6))), (Rows{"#.", ".#"}));
}

TEST(PatternToLayout, AnyElementTurnsTheBlockOn) {
  BlockLayout layout = ok(patternToLayout(
      10, 4, [](int64_t i, int64_t j) { return i == 9 && j == 0; }));
  EXPECT_EQ(rowsOf(layout), (Rows{"...", "...", "#.."}));
  BlockLayout shared = fromRows({"#.", "##"});
  BlockLayout expanded = expandLayoutHeads(shared, 3);
  ASSERT_EQ(expanded.heads, 3);
  for (int64_t h = 0; h < 3; ++h)
    EXPECT_EQ(rowsOf(expanded, h), rowsOf(shared));
}

//===----------------------------------------------------------------------===//
// Element patterns against brute force
//===----------------------------------------------------------------------===//

TEST(ElementPatterns, MatchBruteForce) {
  for (int64_t blockSize : {1, 2, 3, 4, 5, 7, 16}) {
    for (int64_t seqLen : {1, 5, 16, 23}) {
      SCOPED_TRACE("seq_len " + std::to_string(seqLen) + ", block_size " +
                   std::to_string(blockSize));
      for (int64_t window : {1, 3, 5, 9}) {
        Local1dLayoutOptions options;
        options.blockSize = blockSize;
        options.windowSize = window;
        EXPECT_EQ(rowsOf(ok(makeLocal1dLayout(options, seqLen))),
                  referenceLayout(seqLen, blockSize, [&](int64_t i, int64_t j) {
                    return std::llabs(i - j) < window / 2 + 1;
                  }));
      }
      Causal1dLayoutOptions causal;
      causal.blockSize = blockSize;
      EXPECT_EQ(rowsOf(ok(makeCausal1dLayout(causal, seqLen))),
                referenceLayout(seqLen, blockSize,
                                [](int64_t i, int64_t j) { return j <= i; }));
      GlobalLayoutOptions global;
      global.blockSize = blockSize;
      global.tokens = {seqLen / 2};
      EXPECT_EQ(rowsOf(ok(makeGlobalLayout(global, seqLen))),
                referenceLayout(seqLen, blockSize, [&](int64_t i, int64_t j) {
                  return i == seqLen / 2 || j == seqLen / 2;
                }));
    }
  }
}

TEST(ElementPatterns, GridPatternsMatchBruteForce) {
  struct GridCase {
    int64_t height, width;
  };
  for (GridCase grid : {GridCase{4, 4}, GridCase{3, 5}, GridCase{6, 6},
                        GridCase{8, 4}, GridCase{5, 7}}) {
    int64_t seqLen = grid.height * grid.width;
    for (int64_t blockSize : {1, 2, 3, 4, 5, 7, 9}) {
      SCOPED_TRACE(std::to_string(grid.height) + "x" +
                   std::to_string(grid.width) + " grid, block_size " +
                   std::to_string(blockSize));
      Axial2dLayoutOptions axial;
      axial.blockSize = blockSize;
      axial.height = grid.height;
      axial.width = grid.width;
      EXPECT_EQ(rowsOf(ok(makeAxial2dLayout(axial, seqLen))),
                referenceLayout(seqLen, blockSize, [&](int64_t i, int64_t j) {
                  return gridDistance(i, j, grid.width, 0.0) < 2;
                }));
      for (double p : {0.0, 0.5, 1.0, 2.0, 3.0})
        for (double distance : {0.5, 1.2, 1.5, 2.3, 3.7}) {
          Local2dLayoutOptions local;
          local.blockSize = blockSize;
          local.height = grid.height;
          local.width = grid.width;
          local.distance = distance;
          local.p = p;
          EXPECT_EQ(rowsOf(ok(makeLocal2dLayout(local, seqLen))),
                    referenceLayout(seqLen, blockSize,
                                    [&](int64_t i, int64_t j) {
                                      return gridDistance(i, j, grid.width, p) <
                                             distance;
                                    }))
              << "p " << p << ", distance " << distance;
        }
      for (int64_t k : {1, 2, 3, 4}) {
        Dilated2dLayoutOptions dilated;
        dilated.blockSize = blockSize;
        dilated.height = grid.height;
        dilated.width = grid.width;
        dilated.k = k;
        EXPECT_EQ(rowsOf(ok(makeDilated2dLayout(dilated, seqLen))),
                  referenceLayout(
                      seqLen, blockSize,
                      [&](int64_t i, int64_t j) {
                        return (i / grid.width - j / grid.width) % k == 0 &&
                               (i % grid.width - j % grid.width) % k == 0;
                      }))
            << "k " << k;
      }
      for (int64_t window : {1, 2, 3, 4}) {
        if (grid.height % window || grid.width % window)
          continue;
        for (int64_t shift = 0; shift < window; ++shift) {
          SwinLayoutOptions swin;
          swin.blockSize = blockSize;
          swin.height = grid.height;
          swin.width = grid.width;
          swin.windowSize = window;
          swin.shiftSize = shift;
          EXPECT_EQ(rowsOf(ok(makeSwinLayout(swin, seqLen))),
                    referenceLayout(
                        seqLen, blockSize,
                        referenceSwin(grid.height, grid.width, window, shift)))
              << "window " << window << ", shift " << shift;
        }
      }
    }
  }
}

TEST(ElementPatterns, RandomMatchesBruteForce) {
  for (RandomGranularity granularity :
       {RandomGranularity::Element, RandomGranularity::Block}) {
    RandomLayoutOptions options;
    options.blockSize = 3;
    options.sparsity = 0.97;
    options.seed = 11;
    options.numHeads = 2;
    options.differentLayoutPerHead = true;
    options.granularity = granularity;
    int64_t seqLen = 20, nb = 7;
    BlockLayout layout = ok(makeRandomLayout(options, seqLen));
    ASSERT_EQ(layout.heads, 2);
    for (int64_t h = 0; h < 2; ++h) {
      Rows expected;
      if (granularity == RandomGranularity::Element) {
        expected = referenceLayout(seqLen, 3, [&](int64_t i, int64_t j) {
          uint64_t n = uint64_t((h * seqLen + i) * seqLen + j) + 1;
          return SplitMix64::toUnit(SplitMix64::at(11, n)) > 0.97;
        });
      } else {
        expected = Rows(nb, std::string(nb, '.'));
        for (int64_t i = 0; i < nb; ++i)
          for (int64_t j = 0; j < nb; ++j)
            if (SplitMix64::toUnit(SplitMix64::at(
                    11, uint64_t((h * nb + i) * nb + j) + 1)) > 0.97)
              expected[i][j] = '#';
      }
      EXPECT_EQ(rowsOf(layout, h), expected) << "head " << h;
    }
  }
}

//===----------------------------------------------------------------------===//
// Properties
//===----------------------------------------------------------------------===//

TEST(LayoutProperties, BidirectionalIsSymmetric) {
  for (int64_t seqLen : {16, 100, 256, 1000}) {
    SCOPED_TRACE("seq_len " + std::to_string(seqLen));
    BigBirdLayoutOptions bigbird;
    bigbird.numRandomBlocks = 0;
    bigbird.numGlobalBlocks = 1;
    bigbird.numSlidingWindowBlocks = 1;
    EXPECT_TRUE(isSymmetric(ok(makeBigBirdLayout(bigbird, seqLen))));
    BSLongformerLayoutOptions longformer;
    longformer.numSlidingWindowBlocks = 1;
    longformer.globalBlockIndices = {0, 3};
    EXPECT_TRUE(isSymmetric(ok(makeBSLongformerLayout(longformer, seqLen))));
    FixedLayoutOptions fixed;
    fixed.horizontalGlobalAttention = true;
    fixed.numLocalBlocks = 1;
    EXPECT_TRUE(isSymmetric(ok(makeFixedLayout(fixed, seqLen))));
    VariableLayoutOptions variable;
    variable.horizontalGlobalAttention = true;
    variable.localWindowBlocks = {1, 2, 3};
    variable.globalBlockIndices = {1, 4};
    variable.globalBlockEndIndices = std::vector<int64_t>{3, 5};
    EXPECT_TRUE(isSymmetric(ok(makeVariableLayout(variable, seqLen))));
    LocalSlidingWindowLayoutOptions sliding;
    sliding.numSlidingWindowBlocks = 1;
    sliding.attention = LayoutAttention::Bidirectional;
    EXPECT_TRUE(isSymmetric(ok(makeLocalSlidingWindowLayout(sliding, seqLen))));
    Local1dLayoutOptions local;
    local.windowSize = 21;
    EXPECT_TRUE(isSymmetric(ok(makeLocal1dLayout(local, seqLen))));
    GlobalLayoutOptions global;
    global.tokens = {0, seqLen - 1};
    EXPECT_TRUE(isSymmetric(ok(makeGlobalLayout(global, seqLen))));
  }
  Dilated2dLayoutOptions dilated;
  dilated.height = dilated.width = 16;
  dilated.k = 3;
  dilated.blockSize = 16;
  EXPECT_TRUE(isSymmetric(ok(makeDilated2dLayout(dilated, 256))));
  SwinLayoutOptions swin;
  swin.height = swin.width = 16;
  swin.windowSize = 4;
  swin.shiftSize = 2;
  EXPECT_TRUE(isSymmetric(ok(makeSwinLayout(swin, 256))));
}

TEST(LayoutProperties, UnidirectionalIsLowerTriangular) {
  for (int64_t seed : {0, 1, 2}) {
    for (int64_t seqLen : {16, 100, 512}) {
      SCOPED_TRACE("seq_len " + std::to_string(seqLen));
      BigBirdLayoutOptions bigbird;
      bigbird.attention = LayoutAttention::Unidirectional;
      bigbird.numRandomBlocks = 3;
      bigbird.numGlobalBlocks = std::min<int64_t>(2, (seqLen + 15) / 16);
      bigbird.seed = seed;
      if (seqLen >= 48)
        EXPECT_TRUE(isLowerTriangular(ok(makeBigBirdLayout(bigbird, seqLen))));
      BSLongformerLayoutOptions longformer;
      longformer.attention = LayoutAttention::Unidirectional;
      longformer.numSlidingWindowBlocks = 1;
      longformer.globalBlockIndices = {0, 2};
      longformer.globalBlockEndIndices = std::vector<int64_t>{1, 5};
      EXPECT_TRUE(
          isLowerTriangular(ok(makeBSLongformerLayout(longformer, seqLen))));
      FixedLayoutOptions fixed;
      fixed.attention = LayoutAttention::Unidirectional;
      fixed.numGlobalBlocks = 2;
      EXPECT_TRUE(isLowerTriangular(ok(makeFixedLayout(fixed, seqLen))));
      VariableLayoutOptions variable;
      variable.attention = LayoutAttention::Unidirectional;
      variable.numRandomBlocks = 1;
      variable.globalBlockIndices = {1};
      variable.globalBlockEndIndices = std::vector<int64_t>{4};
      variable.seed = seed;
      EXPECT_TRUE(isLowerTriangular(ok(makeVariableLayout(variable, seqLen))));
      LocalSlidingWindowLayoutOptions sliding;
      sliding.numSlidingWindowBlocks = seqLen >= 48 ? 3 : 1;
      EXPECT_TRUE(
          isLowerTriangular(ok(makeLocalSlidingWindowLayout(sliding, seqLen))));
      EXPECT_TRUE(isLowerTriangular(
          ok(makeCausal1dLayout(Causal1dLayoutOptions(), seqLen))));
    }
  }
}

TEST(LayoutProperties, GlobalRowsAndColumnsAreFull) {
  BigBirdLayoutOptions bigbird;
  bigbird.numGlobalBlocks = 2;
  BlockLayout layout = ok(makeBigBirdLayout(bigbird, 1024));
  for (int64_t g = 0; g < 2; ++g)
    for (int64_t k = 0; k < layout.numBlocks; ++k) {
      EXPECT_TRUE(layout.at(0, g, k));
      EXPECT_TRUE(layout.at(0, k, g));
    }
  BSLongformerLayoutOptions longformer;
  longformer.globalBlockIndices = {5, 40};
  longformer.globalBlockEndIndices = std::vector<int64_t>{7, 100};
  layout = ok(makeBSLongformerLayout(longformer, 1024)); // 64 blocks
  for (int64_t g : {5, 6, 40, 63})
    for (int64_t k = 0; k < layout.numBlocks; ++k) {
      EXPECT_TRUE(layout.at(0, g, k));
      EXPECT_TRUE(layout.at(0, k, g));
    }
  EXPECT_FALSE(layout.at(0, 20, 30));
  GlobalLayoutOptions global;
  global.tokens = {100, 700};
  layout = ok(makeGlobalLayout(global, 1000));
  for (int64_t k = 0; k < layout.numBlocks; ++k)
    for (int64_t g : {100 / 16, 700 / 16}) {
      EXPECT_TRUE(layout.at(0, g, k));
      EXPECT_TRUE(layout.at(0, k, g));
    }
  EXPECT_EQ(layout.countSet(), 2 * 2 * layout.numBlocks - 4);
}

TEST(LayoutProperties, SlidingWindowBandWidth) {
  for (int64_t window : {0, 1, 3, 4, 7}) {
    BSLongformerLayoutOptions longformer;
    longformer.numSlidingWindowBlocks = window;
    longformer.globalBlockIndices = {};
    BlockLayout layout = ok(makeBSLongformerLayout(longformer, 1000));
    LocalSlidingWindowLayoutOptions sliding;
    sliding.numSlidingWindowBlocks = window;
    BlockLayout causal = ok(makeLocalSlidingWindowLayout(sliding, 1000));
    int64_t w = window / 2;
    for (int64_t i = 0; i < layout.numBlocks; ++i)
      for (int64_t j = 0; j < layout.numBlocks; ++j) {
        EXPECT_EQ(layout.at(0, i, j), std::llabs(i - j) <= w)
            << "window " << window << " (" << i << ", " << j << ")";
        EXPECT_EQ(causal.at(0, i, j), j <= i && i - j <= w);
      }
  }
}

TEST(LayoutProperties, RandomBlocksPerRow) {
  // Only the diagonal besides the random blocks: a row has num_random_blocks
  // blocks, plus the diagonal when no draw hit it.
  for (int64_t count : {1, 2, 5}) {
    VariableLayoutOptions variable;
    variable.numRandomBlocks = count;
    variable.localWindowBlocks = {1};
    variable.globalBlockIndices = {};
    variable.seed = 3;
    BlockLayout layout = ok(makeVariableLayout(variable, 512)); // 32 blocks
    int64_t rowsWithoutDiagonalDraw = 0;
    for (int64_t i = 0; i < layout.numBlocks; ++i) {
      int64_t n = countRow(layout, 0, i);
      EXPECT_TRUE(n == count || n == count + 1) << "row " << i << ": " << n;
      rowsWithoutDiagonalDraw += n == count + 1;
    }
    EXPECT_GT(rowsWithoutDiagonalDraw, 0);
    BigBirdLayoutOptions bigbird;
    bigbird.numRandomBlocks = count;
    bigbird.numSlidingWindowBlocks = 1;
    bigbird.numGlobalBlocks = 0;
    bigbird.attention = LayoutAttention::Unidirectional;
    layout = ok(makeBigBirdLayout(bigbird, 512));
    for (int64_t i = 0; i < layout.numBlocks; ++i) {
      int64_t n = countRow(layout, 0, i);
      int64_t drawn = std::min(count, i + 1);
      EXPECT_TRUE(n == drawn || n == drawn + 1) << "row " << i << ": " << n;
    }
  }
  // Every block once: num_random_blocks = the blocks in a row.
  BigBirdLayoutOptions full;
  full.numRandomBlocks = 4;
  EXPECT_EQ(ok(makeBigBirdLayout(full, 64)).countSet(), 16);
}

TEST(LayoutProperties, PerHeadLayouts) {
  BigBirdLayoutOptions options;
  options.numHeads = 4;
  options.numRandomBlocks = 2;
  options.seed = 9;
  BlockLayout shared = ok(makeBigBirdLayout(options, 1024));
  EXPECT_EQ(shared.heads, 1);
  options.differentLayoutPerHead = true;
  BlockLayout perHead = ok(makeBigBirdLayout(options, 1024));
  ASSERT_EQ(perHead.heads, 4);
  // Head 0 draws first, as the shared layout does.
  EXPECT_EQ(rowsOf(perHead, 0), rowsOf(shared));
  for (int64_t a = 0; a < 4; ++a)
    for (int64_t b = a + 1; b < 4; ++b)
      EXPECT_NE(rowsOf(perHead, a), rowsOf(perHead, b)) << a << " vs " << b;
  // Without random parts, per-head layouts are equal.
  BSLongformerLayoutOptions longformer;
  longformer.numHeads = 3;
  longformer.differentLayoutPerHead = true;
  BlockLayout equal = ok(makeBSLongformerLayout(longformer, 256));
  ASSERT_EQ(equal.heads, 3);
  EXPECT_EQ(rowsOf(equal, 1), rowsOf(equal, 0));
  EXPECT_EQ(rowsOf(equal, 2), rowsOf(equal, 0));
  RandomLayoutOptions random;
  random.numHeads = 2;
  random.differentLayoutPerHead = true;
  random.sparsity = 0.5;
  random.granularity = RandomGranularity::Block;
  BlockLayout randomHeads = ok(makeRandomLayout(random, 1024));
  EXPECT_NE(rowsOf(randomHeads, 0), rowsOf(randomHeads, 1));
}

TEST(LayoutProperties, SeedsReproduce) {
  auto bigbird = [](uint64_t seed) {
    BigBirdLayoutOptions options;
    options.numRandomBlocks = 2;
    options.seed = seed;
    return rowsOf(ok(makeBigBirdLayout(options, 1024)));
  };
  EXPECT_EQ(bigbird(0), bigbird(0));
  EXPECT_EQ(bigbird(12345), bigbird(12345));
  EXPECT_NE(bigbird(0), bigbird(1));
  auto variable = [](uint64_t seed) {
    VariableLayoutOptions options;
    options.numRandomBlocks = 3;
    options.seed = seed;
    return rowsOf(ok(makeVariableLayout(options, 1024)));
  };
  EXPECT_EQ(variable(4), variable(4));
  EXPECT_NE(variable(4), variable(5));
  auto random = [](uint64_t seed) {
    RandomLayoutOptions options;
    options.sparsity = 0.999;
    options.seed = seed;
    return rowsOf(ok(makeRandomLayout(options, 256)));
  };
  EXPECT_EQ(random(2), random(2));
  EXPECT_NE(random(2), random(3));
}

TEST(LayoutProperties, PartialLastBlock) {
  // seq_len 100 with blocks of 16: 7 blocks, the last one of 4 tokens.
  BigBirdLayoutOptions bigbird;
  BlockLayout layout = ok(makeBigBirdLayout(bigbird, 100));
  EXPECT_EQ(layout.numBlocks, 7);
  EXPECT_EQ(ok(makeBigBirdLayout(bigbird, 112)).numBlocks, 7);
  EXPECT_EQ(ok(makeBigBirdLayout(bigbird, 113)).numBlocks, 8);
  // local_1d with a window reaching 4 tokens: block 5 (tokens 80..95) and
  // block 6 (96..99) touch; a window of 1 keeps only the diagonal.
  Local1dLayoutOptions local;
  local.windowSize = 9;
  layout = ok(makeLocal1dLayout(local, 100));
  EXPECT_TRUE(layout.at(0, 6, 5));
  EXPECT_FALSE(layout.at(0, 6, 4));
  // Random: only real tokens are drawn, so the partial block (4 x 4
  // elements) is on less often than the full ones (16 x 16).
  RandomLayoutOptions random;
  random.sparsity = 0.995;
  int64_t fullOn = 0, partialOn = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    random.seed = seed;
    layout = ok(makeRandomLayout(random, 100));
    fullOn += layout.at(0, 0, 0);
    partialOn += layout.at(0, 6, 6);
  }
  EXPECT_GT(fullOn, partialOn);
}

//===----------------------------------------------------------------------===//
// Parameter checks
//===----------------------------------------------------------------------===//

TEST(LayoutChecks, Fixed) {
  FixedLayoutOptions options;
  options.numLocalBlocks = 6;
  options.numGlobalBlocks = 4;
  EXPECT_EQ(errorOf(makeFixedLayout(options, 256)),
            "num_local_blocks: the 6 blocks of a local window must be "
            "divisible by num_global_blocks (4)");
  options = FixedLayoutOptions();
  options.attention = LayoutAttention::Unidirectional;
  options.horizontalGlobalAttention = true;
  EXPECT_EQ(errorOf(makeFixedLayout(options, 256)),
            "horizontal_global_attention: only bidirectional attention "
            "supports horizontal global attention");
  options = FixedLayoutOptions();
  options.numDifferentGlobalPatterns = 2;
  EXPECT_EQ(errorOf(makeFixedLayout(options, 256)),
            "num_different_global_patterns: 2 different global patterns need "
            "different_layout_per_head = true (otherwise one layout is shared "
            "by all heads)");
  options.differentLayoutPerHead = true;
  options.numGlobalBlocks = 2;
  options.numDifferentGlobalPatterns = 3;
  EXPECT_EQ(errorOf(makeFixedLayout(options, 256)),
            "num_different_global_patterns: 3 is more than num_local_blocks / "
            "num_global_blocks = 4 / 2 = 2");
  options = FixedLayoutOptions();
  options.numGlobalBlocks = 0;
  EXPECT_EQ(errorOf(makeFixedLayout(options, 256)),
            "num_global_blocks: expected a positive integer, got 0");
  options = FixedLayoutOptions();
  options.numHeads = 0;
  EXPECT_EQ(errorOf(makeFixedLayout(options, 256)),
            "num_heads: expected a positive integer, got 0");
  EXPECT_EQ(errorOf(makeFixedLayout(FixedLayoutOptions(), 0)),
            "seq_len: expected a positive integer, got 0");
}

TEST(LayoutChecks, VariableAndLongformerGlobals) {
  VariableLayoutOptions variable;
  variable.globalBlockIndices = {0, 4};
  variable.globalBlockEndIndices = std::vector<int64_t>{2};
  EXPECT_EQ(errorOf(makeVariableLayout(variable, 256)),
            "global_block_end_indices: has 1 entries but global_block_indices "
            "has 2; they must have the same length");
  variable.globalBlockEndIndices = std::vector<int64_t>{2, 4};
  EXPECT_EQ(errorOf(makeVariableLayout(variable, 256)),
            "global_block_end_indices: entry 1: the global block start index 4 "
            "must be smaller than the end index 4");
  variable = VariableLayoutOptions();
  variable.attention = LayoutAttention::Unidirectional;
  variable.horizontalGlobalAttention = true;
  EXPECT_EQ(errorOf(makeVariableLayout(variable, 256)),
            "horizontal_global_attention: only bidirectional attention "
            "supports horizontal global attention");
  variable = VariableLayoutOptions();
  variable.numRandomBlocks = 17;
  EXPECT_EQ(errorOf(makeVariableLayout(variable, 256)),
            "num_random_blocks: 17 is more than the 16 blocks in a row "
            "(seq_len 256, block_size 16)");
  variable = VariableLayoutOptions();
  variable.localWindowBlocks = {};
  EXPECT_EQ(errorOf(makeVariableLayout(variable, 256)),
            "local_window_blocks: expected at least one window size (the last "
            "one repeats)");
  variable.localWindowBlocks = {2, 0};
  EXPECT_EQ(errorOf(makeVariableLayout(variable, 256)),
            "local_window_blocks: entry 1: expected a positive window size, "
            "got 0");
  BSLongformerLayoutOptions longformer;
  longformer.globalBlockIndices = {-1};
  EXPECT_EQ(errorOf(makeBSLongformerLayout(longformer, 256)),
            "global_block_indices: index -1 (entry 0) is negative");
  longformer = BSLongformerLayoutOptions();
  longformer.numSlidingWindowBlocks = 5;
  EXPECT_EQ(errorOf(makeBSLongformerLayout(longformer, 64)),
            "num_sliding_window_blocks: 5 is more than the 4 blocks in a row "
            "(seq_len 64, block_size 16)");
  // Indices past the end are skipped, as published.
  longformer = BSLongformerLayoutOptions();
  longformer.globalBlockIndices = {10};
  EXPECT_EQ(ok(makeBSLongformerLayout(longformer, 64)).countSet(), 10);
}

TEST(LayoutChecks, BigBirdAndSlidingWindow) {
  BigBirdLayoutOptions bigbird;
  bigbird.numRandomBlocks = 5;
  EXPECT_EQ(errorOf(makeBigBirdLayout(bigbird, 64)),
            "num_random_blocks: 5 is more than the 4 blocks in a row (seq_len "
            "64, block_size 16)");
  bigbird = BigBirdLayoutOptions();
  bigbird.numSlidingWindowBlocks = 7;
  EXPECT_EQ(errorOf(makeBigBirdLayout(bigbird, 64)),
            "num_sliding_window_blocks: 7 is more than the 4 blocks in a row "
            "(seq_len 64, block_size 16)");
  bigbird = BigBirdLayoutOptions();
  bigbird.numGlobalBlocks = 5;
  EXPECT_EQ(errorOf(makeBigBirdLayout(bigbird, 64)),
            "num_global_blocks: 5 is more than the 4 blocks in a row (seq_len "
            "64, block_size 16)");
  LocalSlidingWindowLayoutOptions sliding;
  sliding.numSlidingWindowBlocks = 3;
  EXPECT_EQ(errorOf(makeLocalSlidingWindowLayout(sliding, 32)),
            "num_sliding_window_blocks: 3 is more than the 2 blocks in a row "
            "(seq_len 32, block_size 16)");
  sliding.blockSize = 0;
  EXPECT_EQ(errorOf(makeLocalSlidingWindowLayout(sliding, 32)),
            "block_size: expected a positive integer, got 0");
}

TEST(LayoutChecks, ElementPatterns) {
  Local1dLayoutOptions local;
  local.windowSize = 4;
  EXPECT_EQ(errorOf(makeLocal1dLayout(local, 64)),
            "window_size: expected an odd window (it counts the token and two "
            "equal wings), got 4");
  local.windowSize = 0;
  EXPECT_EQ(errorOf(makeLocal1dLayout(local, 64)),
            "window_size: expected a positive integer, got 0");
  Axial2dLayoutOptions axial;
  axial.height = 6;
  axial.width = 6;
  EXPECT_EQ(errorOf(makeAxial2dLayout(axial, 40)),
            "H: the H x W = 6 x 6 token grid must have seq_len (40) tokens");
  axial.height = 0;
  EXPECT_EQ(errorOf(makeAxial2dLayout(axial, 40)),
            "H: expected a positive integer, got 0");
  SwinLayoutOptions swin;
  swin.height = 6;
  swin.width = 8;
  swin.windowSize = 4;
  EXPECT_EQ(errorOf(makeSwinLayout(swin, 48)),
            "H: expected a multiple of window_size (4), got 6");
  swin.height = 8;
  swin.shiftSize = 4;
  EXPECT_EQ(errorOf(makeSwinLayout(swin, 64)),
            "shift_size: expected 0 <= shift_size < window_size (4), got 4");
  Dilated2dLayoutOptions dilated;
  dilated.height = dilated.width = 4;
  dilated.k = 0;
  EXPECT_EQ(errorOf(makeDilated2dLayout(dilated, 16)),
            "k: expected a positive integer, got 0");
  Local2dLayoutOptions local2d;
  local2d.height = local2d.width = 4;
  local2d.distance = 2;
  local2d.p = -1;
  EXPECT_EQ(errorOf(makeLocal2dLayout(local2d, 16)),
            "p: expected a number >= 0, got -1.0");
  RandomLayoutOptions random;
  EXPECT_EQ(errorOf(makeRandomLayout(random, 16)),
            "sparsity: missing: give sparsity (the probability that an element "
            "is off) or density");
  random.sparsity = 1.0;
  EXPECT_EQ(errorOf(makeRandomLayout(random, 16)),
            "sparsity: expected a number in (0, 1), got 1.0");
  random.density = 0.5;
  EXPECT_EQ(errorOf(makeRandomLayout(random, 16)),
            "density: give sparsity or density (= 1 - sparsity), not both");
  GlobalLayoutOptions global;
  EXPECT_EQ(errorOf(makeGlobalLayout(global, 16)),
            "attention_query_mask: expected at least one global token");
  global.tokens = {3, 16};
  EXPECT_EQ(errorOf(makeGlobalLayout(global, 16)),
            "attention_query_mask: token index 16 is out of range for seq_len "
            "16");
  EXPECT_EQ(errorOf(makeCausal1dLayout(Causal1dLayoutOptions(), 1 << 30)),
            "seq_len: a layout of 1 x 67108864 x 67108864 blocks (seq_len "
            "1073741824, block_size 16) is too large; at most 2^30 entries");
}

TEST(LayoutGenerators, NamesAndDefaults) {
  std::vector<llvm::StringRef> names(getLayoutPatternNames().begin(),
                                     getLayoutPatternNames().end());
  EXPECT_EQ(names, (std::vector<llvm::StringRef>{
                       "axial_2d", "bigbird", "bslongformer", "causal_1d",
                       "dilated_2d", "fixed", "global", "local_1d", "local_2d",
                       "local_sliding_window", "random", "swin", "variable"}));
  for (llvm::StringRef name : names) {
    std::optional<LayoutGeneratorOptions> options =
        getDefaultLayoutOptions(name);
    ASSERT_TRUE(options) << name.str();
    EXPECT_EQ(getLayoutPatternName(*options), name);
    EXPECT_EQ(getLayoutBlockSize(*options), 16);
  }
  EXPECT_FALSE(getDefaultLayoutOptions("bigbrd"));
  EXPECT_EQ(renderLayoutGenerator(*getDefaultLayoutOptions("bigbird")),
            "{\"attention\": \"bidirectional\", \"different_layout_per_head\": "
            "false, \"num_global_blocks\": 1, \"num_random_blocks\": 1, "
            "\"num_sliding_window_blocks\": 3, \"pattern\": \"bigbird\", "
            "\"seed\": 0}");
  EXPECT_EQ(renderLayoutGenerator(*getDefaultLayoutOptions("variable")),
            "{\"attention\": \"bidirectional\", \"different_layout_per_head\": "
            "false, \"global_block_indices\": [0], "
            "\"horizontal_global_attention\": false, \"local_window_blocks\": "
            "[4], \"num_random_blocks\": 0, \"pattern\": \"variable\", "
            "\"seed\": 0}");
  EXPECT_EQ(
      renderLayoutGenerator(*getDefaultLayoutOptions("local_sliding_window")),
      "{\"attention\": \"unidirectional\", \"num_sliding_window_blocks\": "
      "3, \"pattern\": \"local_sliding_window\"}");
  std::string table;
  llvm::raw_string_ostream os(table);
  printLayoutGenerators(os);
  for (llvm::StringRef name : names)
    EXPECT_NE(table.find("\n" + name.str() + ": "), std::string::npos)
        << name.str();
  EXPECT_NE(table.find("num_local_blocks"), std::string::npos);
}

//===----------------------------------------------------------------------===//
// Generator objects in configs
//===----------------------------------------------------------------------===//

/// The 1-based line:column of the first occurrence of `needle` in `text`.
std::string locOf(llvm::StringRef text, llvm::StringRef needle) {
  size_t at = text.find(needle);
  if (at == llvm::StringRef::npos)
    return "<not found>";
  size_t lineStart = text.rfind('\n', at);
  lineStart = lineStart == llvm::StringRef::npos ? 0 : lineStart + 1;
  unsigned line = 1 + text.take_front(at).count('\n');
  return std::to_string(line) + ":" + std::to_string(at - lineStart + 1);
}

std::string configErrors(llvm::StringRef text,
                         const ConfigOverrides &overrides = {}) {
  llvm::Expected<AttentionConfig> config =
      parseConfig(text, "config.json", overrides);
  if (config)
    return "";
  return llvm::toString(config.takeError());
}

AttentionConfig parseOk(llvm::StringRef text,
                        const ConfigOverrides &overrides = {}) {
  llvm::Expected<AttentionConfig> config =
      parseConfig(text, "config.json", overrides);
  if (!config) {
    ADD_FAILURE() << llvm::toString(config.takeError());
    return AttentionConfig();
  }
  return std::move(*config);
}

/// A blocksparse config with `extra` top-level members and the generator
/// object `layout`.
std::string withGenerator(llvm::StringRef layout,
                          llvm::StringRef extra = "\"seq_len\": 128, ") {
  return "{\"name\": \"blocksparse\", " + extra.str() +
         "\"layout\": " + layout.str() + "}";
}

TEST(LayoutConfig, BuildsTheLayout) {
  AttentionConfig config = parseOk(withGenerator(
      "{\"pattern\": \"fixed\"}",
      "\"seq_len\": 128, \"block_size\": 16, \"num_heads\": 4, "));
  ASSERT_TRUE(config.layout);
  EXPECT_EQ(config.layout->heads, 1);
  EXPECT_EQ(rowsOf(*config.layout),
            rowsOf(ok(makeFixedLayout(FixedLayoutOptions(), 128))));
  EXPECT_EQ(config.numHeads, 4);
  EXPECT_NE(config.canonicalJson.find(
                "\"layout\": {\"attention\": \"bidirectional\", "
                "\"different_layout_per_head\": false, "
                "\"horizontal_global_attention\": false, "
                "\"num_different_global_patterns\": 1, "
                "\"num_global_blocks\": 1, \"num_local_blocks\": 4, "
                "\"pattern\": \"fixed\"},\n"),
            std::string::npos)
      << config.canonicalJson;
}

TEST(LayoutConfig, BlockSizeAndHeadsFromEitherPlace) {
  // block_size and num_heads in the layout object supply the config's.
  AttentionConfig config = parseOk(withGenerator(
      "{\"pattern\": \"bigbird\", \"block_size\": 32, \"num_heads\": 3, "
      "\"different_layout_per_head\": true}"));
  ASSERT_TRUE(config.layout);
  EXPECT_EQ(config.blockSize, 32);
  EXPECT_EQ(config.layout->numBlocks, 4);
  EXPECT_EQ(config.layout->heads, 3);
  EXPECT_EQ(config.numHeads, 3);
  // The config's num_heads (or an override) gives per-head layouts.
  ConfigOverrides overrides;
  overrides.numHeads = 2;
  config = parseOk(withGenerator("{\"pattern\": \"bigbird\", "
                                 "\"different_layout_per_head\": true}"),
                   overrides);
  ASSERT_TRUE(config.layout);
  EXPECT_EQ(config.layout->heads, 2);
  // seq_len from an override.
  overrides = ConfigOverrides();
  overrides.seqLen = 48;
  config =
      parseOk(withGenerator("{\"pattern\": \"causal_1d\"}", ""), overrides);
  ASSERT_TRUE(config.layout);
  EXPECT_EQ(rowsOf(*config.layout), (Rows{"#..", "##.", "###"}));
}

TEST(LayoutConfig, CanonicalFormRoundTrips) {
  for (llvm::StringRef layout :
       {"{\"pattern\": \"bigbird\", \"num_random_blocks\": 2, \"seed\": 7}",
        "{\"pattern\": \"variable\", \"global_block_indices\": [0, 3], "
        "\"global_block_end_indices\": [1, 5], \"num_random_blocks\": 1}",
        "{\"pattern\": \"local_2d\", \"H\": 8, \"W\": 16, \"distance\": 2.5}",
        "{\"pattern\": \"global\", \"attention_query_mask\": [0, 64, 127]}",
        "{\"pattern\": \"random\", \"density\": 0.25, \"granularity\": "
        "\"block\"}"}) {
    SCOPED_TRACE(layout.str());
    AttentionConfig first = parseOk(withGenerator(layout));
    AttentionConfig second = parseOk(first.canonicalJson);
    ASSERT_TRUE(first.layout && second.layout);
    EXPECT_EQ(first.layout->bits, second.layout->bits);
    EXPECT_EQ(first.canonicalJson, second.canonicalJson);
    EXPECT_EQ(canonicalConfigSha256(first), canonicalConfigSha256(second));
    EXPECT_EQ(first.canonicalJson.find("[1, 0"), std::string::npos)
        << "the canonical form keeps the generator, not the bits";
  }
  // Defaults written out or not: the same config.
  EXPECT_EQ(parseOk(withGenerator("{\"pattern\": \"bigbird\"}")).canonicalJson,
            parseOk(withGenerator("{\"pattern\": \"bigbird\", "
                                  "\"num_random_blocks\": 1, \"attention\": "
                                  "\"bidirectional\", \"seed\": 0}"))
                .canonicalJson);
  EXPECT_NE(parseOk(withGenerator("{\"pattern\": \"bigbird\", \"seed\": 1}"))
                .canonicalJson,
            parseOk(withGenerator("{\"pattern\": \"bigbird\", \"seed\": 2}"))
                .canonicalJson);
}

TEST(LayoutConfig, FieldErrors) {
  std::string text = withGenerator("{\"pattern\": \"bigbrd\"}");
  EXPECT_EQ(configErrors(text),
            "config.json:" + locOf(text, "\"bigbrd\"") +
                ": error: layout.pattern: unknown pattern 'bigbrd'; did you "
                "mean 'bigbird'? known patterns: axial_2d, bigbird, "
                "bslongformer, causal_1d, dilated_2d, fixed, global, "
                "local_1d, local_2d, local_sliding_window, random, swin, "
                "variable");
  text = withGenerator("{\"pattern\": 3}");
  EXPECT_NE(configErrors(text).find("error: layout.pattern: expected a pattern "
                                    "name, got 3; known patterns: axial_2d"),
            std::string::npos);
  text = withGenerator("{\"pattern\": \"bigbird\", \"num_random_blocks\": -1}");
  EXPECT_EQ(configErrors(text),
            "config.json:" + locOf(text, "-1") +
                ": error: layout.num_random_blocks: expected a non-negative "
                "integer, got -1");
  text = withGenerator("{\"pattern\": \"bigbird\", \"num_random_block\": 2}");
  EXPECT_EQ(configErrors(text),
            "config.json:" + locOf(text, "\"num_random_block\"") +
                ": error: layout: unknown field 'num_random_block' in pattern "
                "'bigbird'; did you mean 'num_random_blocks'? valid fields: "
                "attention, block_size, different_layout_per_head, "
                "num_global_blocks, num_heads, num_random_blocks, "
                "num_sliding_window_blocks, pattern, seed");
  text = withGenerator("{\"pattern\": \"fixed\", \"attention\": \"causal\", "
                       "\"horizontal_global_attention\": 1}");
  EXPECT_EQ(configErrors(text),
            "config.json:" + locOf(text, "\"causal\"") +
                ": error: layout.attention: expected one of bidirectional, "
                "unidirectional, got 'causal'\n"
                "config.json:" +
                locOf(text, "1}") +
                ": error: layout.horizontal_global_attention: expected true "
                "or false, got 1");
  text = withGenerator(
      "{\"pattern\": \"variable\", \"local_window_blocks\": [4, 0]}");
  EXPECT_EQ(configErrors(text),
            "config.json:" + locOf(text, "0]") +
                ": error: layout.local_window_blocks[1]: expected a positive "
                "integer, got 0");
  text = withGenerator("{\"pattern\": \"random\", \"sparsity\": 1.5}");
  EXPECT_EQ(configErrors(text),
            "config.json:" + locOf(text, "1.5") +
                ": error: layout.sparsity: expected a number in (0, 1), got "
                "1.5");
  text = withGenerator("{\"pattern\": \"local_1d\"}");
  EXPECT_EQ(configErrors(text),
            "config.json:" + locOf(text, "{\"pattern") +
                ": error: layout: missing required field 'window_size' for "
                "pattern 'local_1d'");
  text = withGenerator("{\"pattern\": \"causal_1d\", \"seq_len\": 64}");
  EXPECT_EQ(configErrors(text),
            "config.json:" + locOf(text, "\"seq_len\": 64") +
                ": error: layout.seq_len: the layout's sequence length is the "
                "config's seq_len; give seq_len at the top level of the "
                "config");
  text = withGenerator("{\"pattern\": \"causal_1d\", \"file\": \"a.npy\"}");
  EXPECT_EQ(configErrors(text),
            "config.json:" + locOf(text, "\"file\"") +
                ": error: layout: give either \"pattern\" or \"file\", not "
                "both");
  text = withGenerator("{\"shape\": 4}");
  EXPECT_EQ(configErrors(text),
            "config.json:" + locOf(text, "\"shape\"") +
                ": error: layout: unknown key 'shape' in layout object; "
                "expected {\"file\": \"layout.npy\"} or {\"pattern\": ...}");
  // Numbers as strings are accepted with a warning, as elsewhere.
  text = withGenerator("{\"pattern\": \"local_1d\", \"window_size\": \"3\"}");
  AttentionConfig config = parseOk(text);
  ASSERT_EQ(config.warnings.size(), 1u);
  EXPECT_EQ(config.warnings[0].str(),
            "config.json:" + locOf(text, "\"3\"") +
                ": warning: layout.window_size: number given as a string");
}

TEST(LayoutConfig, ChecksAcrossFields) {
  std::string text = withGenerator("{\"pattern\": \"bigbird\"}", "");
  EXPECT_EQ(configErrors(text),
            "config.json:" + locOf(text, "{\"pattern") +
                ": error: layout: pattern 'bigbird' needs seq_len (the "
                "layout has ceil(seq_len / block_size) blocks); give seq_len");
  text = withGenerator("{\"pattern\": \"bigbird\", \"block_size\": 32}",
                       "\"seq_len\": 128, \"block_size\": 64, ");
  EXPECT_EQ(configErrors(text),
            "config.json:" + locOf(text, "32") +
                ": error: layout.block_size: 32 does not match block_size 64");
  text = withGenerator("{\"pattern\": \"bigbird\", \"block_size\": 8}");
  EXPECT_EQ(configErrors(text),
            "config.json:" + locOf(text, "8}") +
                ": error: layout.block_size: expected one of 16, 32, 64, 128, "
                "got 8");
  text = withGenerator("{\"pattern\": \"bigbird\", \"num_heads\": 2}",
                       "\"seq_len\": 128, \"num_heads\": 4, ");
  EXPECT_EQ(configErrors(text),
            "config.json:" + locOf(text, "2}") +
                ": error: layout.num_heads: 2 does not match num_heads 4");
  text = withGenerator("{\"pattern\": \"bigbird\", "
                       "\"different_layout_per_head\": true}");
  EXPECT_EQ(configErrors(text),
            "config.json:" + locOf(text, "true") +
                ": error: layout.different_layout_per_head: a layout per head "
                "needs num_heads; give num_heads in the config or the layout "
                "object");
  // The generator's own checks point at the field they concern.
  text = withGenerator("{\"pattern\": \"fixed\", \"num_local_blocks\": 6, "
                       "\"num_global_blocks\": 4}");
  EXPECT_EQ(configErrors(text),
            "config.json:" + locOf(text, "6,") +
                ": error: layout.num_local_blocks: the 6 blocks of a local "
                "window must be divisible by num_global_blocks (4)");
  text = withGenerator("{\"pattern\": \"bigbird\", \"num_random_blocks\": 9}");
  EXPECT_EQ(configErrors(text),
            "config.json:" + locOf(text, "9}") +
                ": error: layout.num_random_blocks: 9 is more than the 8 "
                "blocks in a row (seq_len 128, block_size 16)");
  text = withGenerator("{\"pattern\": \"axial_2d\", \"H\": 6, \"W\": 6}");
  EXPECT_EQ(configErrors(text),
            "config.json:" + locOf(text, "6,") +
                ": error: layout.H: the H x W = 6 x 6 token grid must have "
                "seq_len (128) tokens");
  // A generated layout is checked like a given one: kv_seq_len must fit.
  text = withGenerator("{\"pattern\": \"causal_1d\"}",
                       "\"seq_len\": 128, \"kv_seq_len\": 256, ");
  EXPECT_EQ(configErrors(text),
            "config.json:" + locOf(text, "256") +
                ": error: kv_seq_len: a layout of 8 blocks of 16 covers 113 "
                "to 128 tokens, got 256");
}

//===----------------------------------------------------------------------===//
// Writers
//===----------------------------------------------------------------------===//

/// A temporary directory removed at the end of the test.
class TempDir {
public:
  TempDir() {
    std::error_code ec =
        llvm::sys::fs::createUniqueDirectory("xfc-layout-test", path);
    EXPECT_FALSE(ec) << ec.message();
  }
  ~TempDir() { llvm::sys::fs::remove_directories(path); }
  std::string file(llvm::StringRef name) const {
    llvm::SmallString<256> result(path);
    llvm::sys::path::append(result, name);
    return std::string(result);
  }

private:
  llvm::SmallString<256> path;
};

TEST(PrintLayout, Picture) {
  std::string text;
  llvm::raw_string_ostream os(text);
  printLayout(fromRows({"#.", "##"}), os);
  EXPECT_EQ(text, "layout: 2x2 blocks, shared by all heads, 3/4 set (75.0%)\n"
                  "#.\n"
                  "##\n");
  text.clear();
  BlockLayout twoHeads = expandLayoutHeads(fromRows({"#.", ".."}), 2);
  twoHeads.bits[7] = 1;
  printLayout(twoHeads, os);
  EXPECT_EQ(text, "layout: 2 heads of 2x2 blocks, 3/8 set (37.5%)\n"
                  "head 0:\n#.\n..\n"
                  "head 1:\n#.\n.#\n");
}

TEST(NpyWriter, RoundTrip) {
  TempDir dir;
  BigBirdLayoutOptions options;
  options.numHeads = 3;
  options.differentLayoutPerHead = true;
  for (bool perHead : {false, true}) {
    options.differentLayoutPerHead = perHead;
    BlockLayout layout = ok(makeBigBirdLayout(options, 300));
    std::string path = dir.file(perHead ? "heads.npy" : "shared.npy");
    ASSERT_FALSE(static_cast<bool>(writeLayoutNpy(layout, path)));
    std::string error;
    std::optional<BlockLayout> read = readNpyLayout(path, error);
    ASSERT_TRUE(read) << error;
    EXPECT_EQ(read->heads, layout.heads);
    EXPECT_EQ(read->numBlocks, layout.numBlocks);
    EXPECT_EQ(read->bits, layout.bits);
    // The header is padded to 64 bytes, as the format asks.
    llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> bytes =
        llvm::MemoryBuffer::getFile(path);
    ASSERT_TRUE(bytes);
    EXPECT_EQ(((*bytes)->getBufferSize() - layout.bits.size()) % 64, 0u);
  }
  llvm::Error error =
      writeLayoutNpy(fromRows({"#"}), dir.file("no/such/x.npy"));
  ASSERT_TRUE(static_cast<bool>(error));
  EXPECT_NE(llvm::toString(std::move(error)).find("cannot write '"),
            std::string::npos);
  EXPECT_FALSE(llvm::sys::fs::exists(dir.file("no")));
  error = writeLayoutNpy(BlockLayout(), dir.file("empty.npy"));
  EXPECT_TRUE(static_cast<bool>(error));
  llvm::consumeError(std::move(error));
  EXPECT_FALSE(llvm::sys::fs::exists(dir.file("empty.npy")));
}

/// Bitwise CRC-32 (ISO-HDLC), independent of the writer's table.
uint32_t bitwiseCrc32(llvm::StringRef bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : bytes) {
    crc ^= c;
    for (int k = 0; k < 8; ++k)
      crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
  }
  return ~crc;
}

uint32_t readBigEndian(llvm::StringRef bytes, size_t at) {
  uint32_t value = 0;
  for (size_t i = 0; i < 4; ++i)
    value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  return value;
}

/// A decoded 8-bit gray PNG of stored deflate blocks.
struct DecodedPng {
  uint32_t width = 0, height = 0;
  std::vector<uint8_t> pixels;
};

/// Decodes what encodeLayoutPng writes, checking every CRC, the zlib
/// header, the stored blocks and the Adler-32.
std::optional<DecodedPng> decodePng(llvm::StringRef png) {
  if (!png.starts_with("\x89PNG\r\n\x1a\n")) {
    ADD_FAILURE() << "bad signature";
    return std::nullopt;
  }
  DecodedPng result;
  std::string zlib;
  size_t at = 8;
  bool sawEnd = false;
  while (at + 12 <= png.size()) {
    uint32_t length = readBigEndian(png, at);
    llvm::StringRef type = png.substr(at + 4, 4);
    llvm::StringRef data = png.substr(at + 8, length);
    uint32_t crc = readBigEndian(png, at + 8 + length);
    EXPECT_EQ(crc, bitwiseCrc32(png.substr(at + 4, 4 + length)))
        << type.str() << " CRC";
    if (type == "IHDR") {
      EXPECT_EQ(at, 8u) << "IHDR comes first";
      EXPECT_EQ(length, 13u);
      result.width = readBigEndian(data, 0);
      result.height = readBigEndian(data, 4);
      EXPECT_EQ(data.substr(8), llvm::StringRef("\x08\x00\x00\x00\x00", 5));
    } else if (type == "IDAT") {
      zlib += data.str();
    } else if (type == "IEND") {
      EXPECT_EQ(length, 0u);
      sawEnd = true;
    }
    at += 12 + length;
  }
  EXPECT_TRUE(sawEnd);
  EXPECT_EQ(at, png.size());
  EXPECT_EQ(((unsigned char)zlib[0] * 256 + (unsigned char)zlib[1]) % 31, 0);
  EXPECT_EQ((unsigned char)zlib[0] & 0x0f, 8) << "deflate";
  std::string raw;
  size_t pos = 2;
  while (true) {
    unsigned char header = zlib[pos];
    EXPECT_EQ(header & 6, 0) << "stored block";
    size_t length =
        (unsigned char)zlib[pos + 1] | ((unsigned char)zlib[pos + 2] << 8);
    size_t complement =
        (unsigned char)zlib[pos + 3] | ((unsigned char)zlib[pos + 4] << 8);
    EXPECT_EQ(length ^ 0xffff, complement);
    raw += zlib.substr(pos + 5, length);
    pos += 5 + length;
    if (header & 1)
      break;
  }
  EXPECT_EQ(pos + 4, zlib.size());
  uint32_t a = 1, b = 0;
  for (unsigned char c : raw) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  EXPECT_EQ(readBigEndian(zlib, pos), (b << 16) | a) << "Adler-32";
  if (raw.size() != size_t(result.height) * (result.width + 1)) {
    ADD_FAILURE() << "raw size " << raw.size();
    return std::nullopt;
  }
  for (uint32_t y = 0; y < result.height; ++y) {
    EXPECT_EQ(raw[y * (result.width + 1)], 0) << "filter type";
    for (uint32_t x = 0; x < result.width; ++x)
      result.pixels.push_back(raw[y * (result.width + 1) + 1 + x]);
  }
  return result;
}

TEST(PngWriter, ChunksAndPixels) {
  EXPECT_EQ(computeCrc32({}), 0u);
  const char *check = "123456789";
  EXPECT_EQ(computeCrc32(llvm::ArrayRef<uint8_t>(
                reinterpret_cast<const uint8_t *>(check), 9)),
            0xCBF43926u);
  EXPECT_EQ(computeAdler32(llvm::ArrayRef<uint8_t>(
                reinterpret_cast<const uint8_t *>("Wikipedia"), 9)),
            0x11E60398u);

  // Two heads of 2 x 2 blocks, 3 pixels per block, a 1-pixel gap.
  BlockLayout layout = expandLayoutHeads(fromRows({"#.", ".#"}), 2);
  layout.bits[4 + 1] = 1; // head 1: "##", ".#"
  std::optional<DecodedPng> png = decodePng(encodeLayoutPng(layout, 3));
  ASSERT_TRUE(png);
  EXPECT_EQ(png->width, 2u * 6 + 1);
  EXPECT_EQ(png->height, 6u);
  auto pixel = [&](uint32_t x, uint32_t y) {
    return png->pixels[y * png->width + x];
  };
  EXPECT_EQ(pixel(0, 0), 0);     // head 0 (0, 0) on
  EXPECT_EQ(pixel(3, 0), 255);   // head 0 (0, 1) off
  EXPECT_EQ(pixel(4, 4), 0);     // head 0 (1, 1) on
  EXPECT_EQ(pixel(6, 2), 160);   // gap
  EXPECT_EQ(pixel(7 + 3, 0), 0); // head 1 (0, 1) on
  EXPECT_EQ(pixel(7, 5), 255);   // head 1 (1, 0) off

  // A layout large enough for several stored blocks.
  BigBirdLayoutOptions options;
  BlockLayout big = ok(makeBigBirdLayout(options, 16 * 300));
  std::optional<DecodedPng> large = decodePng(encodeLayoutPng(big, 1));
  ASSERT_TRUE(large);
  EXPECT_EQ(large->width, 300u);
  for (int64_t i = 0; i < 300; i += 37)
    for (int64_t j = 0; j < 300; j += 11)
      EXPECT_EQ(large->pixels[i * 300 + j], big.at(0, i, j) ? 0 : 255);
}

TEST(PngWriter, DecodesWithPythonZlib) {
  llvm::ErrorOr<std::string> python = llvm::sys::findProgramByName("python3");
  if (!python)
    GTEST_SKIP() << "python3 not found";
  TempDir dir;
  std::string path = dir.file("layout.png");
  BSLongformerLayoutOptions options;
  options.numHeads = 2;
  options.differentLayoutPerHead = true;
  BlockLayout layout = ok(makeBSLongformerLayout(options, 160));
  ASSERT_FALSE(static_cast<bool>(writeLayoutPng(layout, path, 2)));
  std::string script = dir.file("check.py");
  std::string out = dir.file("out.txt");
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(script, ec);
    ASSERT_FALSE(ec);
    // Inflate with zlib, check every chunk CRC with zlib.crc32, print the
    // size and one character per pixel.
    os << "import struct, sys, zlib\n"
          "data = open(sys.argv[1], 'rb').read()\n"
          "assert data[:8] == b'\\x89PNG\\r\\n\\x1a\\n'\n"
          "at, idat = 8, b''\n"
          "while at < len(data):\n"
          "    n, = struct.unpack('>I', data[at:at + 4])\n"
          "    kind = data[at + 4:at + 8]\n"
          "    body = data[at + 8:at + 8 + n]\n"
          "    crc, = struct.unpack('>I', data[at + 8 + n:at + 12 + n])\n"
          "    assert crc == zlib.crc32(kind + body), kind\n"
          "    if kind == b'IHDR':\n"
          "        w, h, depth, color = struct.unpack('>IIBB', body[:10])\n"
          "    if kind == b'IDAT':\n"
          "        idat += body\n"
          "    at += 12 + n\n"
          "raw = zlib.decompress(idat)\n"
          "out = open(sys.argv[2], 'w')\n"
          "out.write('%d %d %d %d\\n' % (w, h, depth, color))\n"
          "for y in range(h):\n"
          "    line = raw[y * (w + 1):(y + 1) * (w + 1)]\n"
          "    assert line[0] == 0\n"
          "    out.write(''.join('#' if p == 0 else '.' if p == 255 else '|'\n"
          "                      for p in line[1:]) + '\\n')\n";
  }
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(*python, {*python, script, path, out},
                                     std::nullopt, {}, 0, 0, &message);
  ASSERT_EQ(rc, 0) << message;
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> text =
      llvm::MemoryBuffer::getFile(out);
  ASSERT_TRUE(text);
  llvm::SmallVector<llvm::StringRef> lines;
  (*text)->getBuffer().split(lines, '\n', -1, false);
  ASSERT_EQ(lines.size(), 21u);
  EXPECT_EQ(lines[0], "41 20 8 0");
  // Row 1 of each head is "###.......": 2 pixels per block, a gap of 1.
  EXPECT_EQ(lines[3], "######..............|######..............");
}

} // namespace
