//===- KernelConfigTest.cpp - Kernel configuration selection --------------===//

#include "xfc/Transforms/KernelConfig.h"
#include "xfc/types.cuh"

#include "gtest/gtest.h"

using namespace xfc;

namespace {

KernelProblem problem(int64_t headDim, unsigned bits = 16,
                      int64_t layoutBlock = 0, std::string arch = "sm_90a") {
  KernelProblem p;
  p.arch = std::move(arch);
  p.headDim = headDim;
  p.elementBits = bits;
  p.layoutBlockSize = layoutBlock;
  return p;
}

/// The query tile rows selectKernelConfig picks for p (0 if it fails).
int64_t selectedBlockM(const KernelProblem &p) {
  llvm::Expected<KernelChoice> c = selectKernelConfig(p);
  EXPECT_TRUE(static_cast<bool>(c)) << llvm::toString(c.takeError());
  return c ? c->blockM : 0;
}

TEST(KernelConfig, HalfPrecisionTakesTensorCores) {
  for (const char *arch : {"sm_80", "sm_86", "sm_89", "sm_90"}) {
    for (int64_t headDim : {32, 64, 96, 128}) {
      llvm::Expected<KernelChoice> choice =
          selectKernelConfig(problem(headDim, 16, 0, arch));
      ASSERT_TRUE(static_cast<bool>(choice))
          << llvm::toString(choice.takeError());
      EXPECT_EQ(choice->path, "mma_sync");
      EXPECT_FALSE(choice->wgmma) << arch;
      // One warp per 16 query rows.
      EXPECT_EQ(choice->blockM, choice->warps * 16);
      EXPECT_EQ(choice->sharedBytes,
                (choice->blockM + 2 * choice->stages * choice->blockN) *
                    headDim * 2);
      EXPECT_LE(choice->sharedBytes, 227 * 1024);
    }
  }
}

TEST(KernelConfig, Sm90aTakesTheWgmmaKernel) {
  for (int64_t headDim : {64, 128}) {
    llvm::Expected<KernelChoice> choice = selectKernelConfig(problem(headDim));
    ASSERT_TRUE(static_cast<bool>(choice))
        << llvm::toString(choice.takeError());
    EXPECT_EQ(choice->path, "mma_sync");
    EXPECT_TRUE(choice->wgmma);
    // D=64 without element masks: 64 query rows, two CTAs per SM.
    EXPECT_EQ(choice->blockM, headDim == 64 ? 64 : 128);
    EXPECT_EQ(choice->blockN, 128);
    // A producer warpgroup plus one consumer warpgroup per 64 query rows.
    EXPECT_EQ(choice->warps, 4 * (choice->blockM / 64 + 1));
    EXPECT_EQ(choice->stages, 2);
    // Two Q tiles (persistent launches load the next one early).
    const int64_t qTiles = 2;
    EXPECT_EQ(choice->sharedBytes,
              (qTiles * choice->blockM + 2 * choice->stages * choice->blockN) *
                      headDim * 2 +
                  1024);
    EXPECT_EQ(choice->sharedBytes,
              computeSharedBytes("mma_sync", choice->blockM, choice->blockN,
                                 choice->stages, headDim, true));
    EXPECT_LE(choice->sharedBytes, 227 * 1024);
  }
  // Head dims the wgmma kernel does not take, and fp32, keep their paths.
  for (int64_t headDim : {32, 96}) {
    llvm::Expected<KernelChoice> choice = selectKernelConfig(problem(headDim));
    ASSERT_TRUE(static_cast<bool>(choice));
    EXPECT_FALSE(choice->wgmma);
    EXPECT_EQ(choice->blockM, choice->warps * 16);
  }
  llvm::Expected<KernelChoice> fp32 = selectKernelConfig(problem(128, 32));
  ASSERT_TRUE(static_cast<bool>(fp32));
  EXPECT_EQ(fp32->path, "simt");
  EXPECT_FALSE(fp32->wgmma);
}

TEST(KernelConfig, Sm90aD64TilesByMasks) {
  // D=64 dense problems without element masks take BlockM 64: one consumer
  // warpgroup, two CTAs per SM, causal or not (KernelConfig.cpp); with
  // element masks BlockM 128, 12 warps and two Q tiles, (2*128 +
  // 2*2*128) * 64 * 2 + 1024 bytes.
  auto expect128 = [](const KernelProblem &p, const char *what) {
    llvm::Expected<KernelChoice> c = selectKernelConfig(p);
    ASSERT_TRUE(static_cast<bool>(c)) << llvm::toString(c.takeError());
    EXPECT_TRUE(c->wgmma) << what;
    EXPECT_EQ(c->path, "mma_sync") << what;
    EXPECT_EQ(c->blockM, 128) << what;
    EXPECT_EQ(c->blockN, 128) << what;
    EXPECT_EQ(c->warps, 12) << what;
    EXPECT_EQ(c->stages, 2) << what;
    EXPECT_EQ(c->sharedBytes,
              computeSharedBytes("mma_sync", 128, 128, 2, p.headDim, true))
        << what;
  };
  for (bool isCausal : {false, true}) {
    KernelProblem plain = problem(64);
    plain.causal = isCausal;
    EXPECT_FALSE(plain.hasElementMasks());
    llvm::Expected<KernelChoice> choice = selectKernelConfig(plain);
    ASSERT_TRUE(static_cast<bool>(choice));
    EXPECT_EQ(choice->blockM, 64) << isCausal;
    EXPECT_EQ(choice->blockN, 128) << isCausal;
    EXPECT_EQ(choice->warps, 8) << isCausal;
    EXPECT_EQ(choice->sharedBytes, (2 * 64 + 2 * 2 * 128) * 64 * 2 + 1024);
  }
  KernelProblem causal = problem(64);
  causal.causal = true;
  KernelProblem plainMasked = problem(64);
  plainMasked.dropout = true;
  expect128(plainMasked, "dense with dropout");
  KernelProblem causalMasked = causal;
  causalMasked.keyPadding = true;
  expect128(causalMasked, "causal with key padding");
  // Causality has its own field; the others hide or drop single elements.
  EXPECT_FALSE(causal.hasElementMasks());
  for (auto [member, name] : {std::pair{&KernelProblem::attnMask, "attn_mask"},
                              {&KernelProblem::keyPadding, "key padding"},
                              {&KernelProblem::dropout, "dropout"},
                              {&KernelProblem::window, "window"},
                              {&KernelProblem::randomPattern, "random"},
                              {&KernelProblem::globalTokens, "global"}}) {
    // Global tokens come with block-sparse layouts.
    KernelProblem masked = member == &KernelProblem::globalTokens
                               ? problem(64, 16, 128)
                               : problem(64);
    masked.*member = true;
    EXPECT_TRUE(masked.hasElementMasks()) << name;
    expect128(masked, name);
    masked.causal = true;
    expect128(masked, name);
  }
  expect128(problem(128), "D=128");
  for (int64_t block : {128, 256})
    expect128(problem(64, 16, block), "block-sparse");
}

TEST(KernelConfig, Sm90aD64LongFixedQueriesTake192Rows) {
  // A config that fixes a long query length (seq_len) gets three consumer
  // warpgroups at D=64 where 192-row tiles pad it by at most 5%; not at
  // short or unknown lengths, causal, with element masks or layouts.
  KernelProblem p = problem(64);
  for (auto [qLen, expected] : {std::pair<int64_t, int64_t>{0, 64},
                                {512, 64},
                                {1100, 64},
                                {2048, 192},
                                {3000, 192},
                                {4096, 192},
                                {2120, 64}}) {
    p.qLen = qLen;
    EXPECT_EQ(selectedBlockM(p), expected) << qLen;
  }
  p.qLen = 2048;
  llvm::Expected<KernelChoice> c = selectKernelConfig(p);
  ASSERT_TRUE(static_cast<bool>(c));
  EXPECT_EQ(c->warps, 16);
  EXPECT_EQ(c->sharedBytes,
            computeSharedBytes("mma_sync", 192, 128, 2, 64, true));
  KernelProblem causal = p;
  causal.causal = true;
  EXPECT_EQ(selectedBlockM(causal), 64);
  KernelProblem masked = p;
  masked.keyPadding = true;
  EXPECT_EQ(selectedBlockM(masked), 128);
  EXPECT_EQ(selectedBlockM(problem(64, 16, 64)), 64);
  KernelProblem d128 = problem(128);
  d128.qLen = 2048;
  EXPECT_EQ(selectedBlockM(d128), 128);
}

TEST(KernelConfig, HeadDim256TilesFitEveryArch) {
  // sm_90a, 16-bit: the wgmma kernel with two consumers and one Q tile:
  // dense without element masks 128-key tiles in one stage, block-sparse
  // or masked 64-key tiles in two. Both take 193 KiB.
  for (int64_t block : {0, 16, 64, 128, 256}) {
    for (bool masked : {false, true}) {
      KernelProblem p = problem(256, 16, block);
      p.keyPadding = masked;
      llvm::Expected<KernelChoice> c = selectKernelConfig(p);
      ASSERT_TRUE(static_cast<bool>(c)) << llvm::toString(c.takeError());
      EXPECT_TRUE(c->wgmma) << block;
      EXPECT_EQ(c->blockM, 128) << block;
      const bool wide = block == 0 && !masked;
      EXPECT_EQ(c->blockN, wide ? 128 : 64) << block;
      EXPECT_EQ(c->stages, wide ? 1 : 2) << block;
      EXPECT_EQ(c->warps, 12) << block;
      EXPECT_EQ(c->sharedBytes, (128 + 2 * 2 * 64) * 256 * 2 + 1024) << block;
    }
  }
  // Other archs: the mma.sync kernel with 16-key tiles (64 KiB), fp32 the
  // SIMT kernel with 16-key tiles (96 KiB): both within sm_86's 99 KiB.
  for (const char *arch : {"sm_80", "sm_86", "sm_89", "sm_90"}) {
    llvm::Expected<KernelChoice> half =
        selectKernelConfig(problem(256, 16, 0, arch));
    ASSERT_TRUE(static_cast<bool>(half));
    EXPECT_EQ(half->path, "mma_sync");
    EXPECT_FALSE(half->wgmma);
    EXPECT_EQ(half->blockN, 16);
    EXPECT_EQ(half->sharedBytes, (64 + 2 * 2 * 16) * 256 * 2);
    llvm::Expected<KernelChoice> fp32 =
        selectKernelConfig(problem(256, 32, 64, arch));
    ASSERT_TRUE(static_cast<bool>(fp32));
    EXPECT_EQ(fp32->path, "simt");
    EXPECT_EQ(fp32->blockN, 16);
    EXPECT_LE(fp32->sharedBytes, 99 * 1024);
  }
  // Tile overrides at 256: BlockN up to 128 in one stage (64 in two),
  // BlockM 128 only.
  KernelProblem p = problem(256);
  llvm::Expected<KernelChoice> c = selectKernelConfig(p);
  ASSERT_TRUE(static_cast<bool>(c));
  EXPECT_FALSE(static_cast<bool>(applyTileOverride(p, *c, 128, 64)));
  EXPECT_EQ(llvm::toString(applyTileOverride(p, *c, 128, 144)),
            "tile 128x144: the S and O accumulators would not fit in "
            "registers");
  KernelProblem blocks = problem(256, 16, 64);
  llvm::Expected<KernelChoice> twoStages = selectKernelConfig(blocks);
  ASSERT_TRUE(static_cast<bool>(twoStages));
  EXPECT_EQ(llvm::toString(applyTileOverride(blocks, *twoStages, 128, 128)),
            "tile 128x128: the S and O accumulators would not fit in "
            "registers");
  EXPECT_EQ(llvm::toString(applyTileOverride(p, *c, 64, 64)),
            "tile 64x64: head_dim 256 takes BlockM 128 (two consumer "
            "warpgroups: one alone has 200 registers, too few beside its 64 "
            "x 256 O tile)");
}

TEST(KernelConfig, Fp32TakesSimt) {
  llvm::Expected<KernelChoice> choice = selectKernelConfig(problem(64, 32));
  ASSERT_TRUE(static_cast<bool>(choice));
  EXPECT_EQ(choice->path, "simt");
  EXPECT_EQ(choice->sharedBytes,
            computeSharedBytes("simt", choice->blockM, choice->blockN,
                               choice->stages, 64));
}

TEST(KernelConfig, SmallLayoutBlocksNarrowTheKvTile) {
  llvm::Expected<KernelChoice> block16 =
      selectKernelConfig(problem(64, 16, 16, "sm_80"));
  ASSERT_TRUE(static_cast<bool>(block16));
  EXPECT_EQ(block16->blockN, 32);
  llvm::Expected<KernelChoice> block32 =
      selectKernelConfig(problem(64, 16, 32, "sm_80"));
  ASSERT_TRUE(static_cast<bool>(block32));
  EXPECT_EQ(block32->blockN, 32);
  llvm::Expected<KernelChoice> block128 =
      selectKernelConfig(problem(64, 16, 128, "sm_80"));
  ASSERT_TRUE(static_cast<bool>(block128));
  EXPECT_EQ(block128->blockN, 64);
  // The wgmma kernel: 64-row tiles and one consumer warpgroup (8 warps)
  // under 128-key layout blocks; K/V tiles of two gathered layout blocks
  // (128 keys for block 64, 64 for block 32), of four neighbouring ones for
  // block 16.
  for (int64_t headDim : {64, 128})
    for (int64_t block : {16, 32, 64}) {
      llvm::Expected<KernelChoice> c =
          selectKernelConfig(problem(headDim, 16, block));
      ASSERT_TRUE(static_cast<bool>(c));
      EXPECT_TRUE(c->wgmma);
      EXPECT_EQ(c->blockM, 64) << block;
      EXPECT_EQ(c->blockN, block == 64 ? 128 : 64) << block;
      EXPECT_EQ(c->warps, 8) << block;
      EXPECT_EQ(
          wgmmaTileBlocks(static_cast<int>(c->blockN), static_cast<int>(block)),
          block == 16 ? 1 : 2)
          << block;
      // 64 x 128 tiles at D=128 take one stage, so that two CTAs fit in an
      // SM.
      EXPECT_EQ(c->stages, block == 64 && headDim == 128 ? 1 : 2) << block;
      EXPECT_LE(2 * (c->sharedBytes + 1024), 228 * 1024) << block;
    }
  llvm::Expected<KernelChoice> wgmma128 =
      selectKernelConfig(problem(128, 16, 128));
  ASSERT_TRUE(static_cast<bool>(wgmma128));
  EXPECT_EQ(wgmma128->blockN, 128);
  // Every layout block boundary is a tile boundary or inside one tile.
  for (const char *arch : {"sm_80", "sm_90a"})
    for (int64_t headDim : {64, 128})
      for (int64_t block : {16, 32, 64, 128, 256}) {
        llvm::Expected<KernelChoice> c =
            selectKernelConfig(problem(headDim, 16, block, arch));
        ASSERT_TRUE(static_cast<bool>(c));
        EXPECT_TRUE(block % c->blockN == 0 || c->blockN % block == 0)
            << arch << " " << block;
      }
}

TEST(KernelConfig, Block64RowsThatPairUpTake128RowTiles) {
  KernelProblem paired = problem(128, 16, 64);
  paired.pairedRowTileRatio = 0.5;
  llvm::Expected<KernelChoice> c = selectKernelConfig(paired);
  ASSERT_TRUE(static_cast<bool>(c));
  EXPECT_EQ(c->blockM, 128);
  EXPECT_EQ(c->blockN, 128);
  EXPECT_EQ(c->warps, 12);
  EXPECT_EQ(c->stages, 2);
  // K/V tiles still gather two layout blocks.
  EXPECT_EQ(wgmmaTileBlocks(static_cast<int>(c->blockN), 64), 2);
  // Not measured, so not taken: D=64, causal, per-element masks, the
  // mma.sync kernel; and not for rows that do not pair up.
  KernelProblem d64 = paired;
  d64.headDim = 64;
  EXPECT_EQ(selectedBlockM(d64), 64);
  KernelProblem causal = paired;
  causal.causal = true;
  EXPECT_EQ(selectedBlockM(causal), 64);
  KernelProblem masked = paired;
  masked.keyPadding = true;
  EXPECT_EQ(selectedBlockM(masked), 64);
  KernelProblem sm80 = paired;
  sm80.arch = "sm_80";
  EXPECT_EQ(selectedBlockM(sm80), 64);
  // Rows that share fewer blocks (bslongformer's 0.66 measured 15% slower
  // paired), or an unknown ratio.
  for (double ratio : {0.0, 0.53, 0.66, 1.0}) {
    KernelProblem unpaired = paired;
    unpaired.pairedRowTileRatio = ratio;
    EXPECT_EQ(selectedBlockM(unpaired), 64) << ratio;
  }
}

TEST(KernelConfig, RejectsUnsupportedHeadDim) {
  llvm::Expected<KernelChoice> choice = selectKernelConfig(problem(80));
  ASSERT_FALSE(static_cast<bool>(choice));
  EXPECT_EQ(llvm::toString(choice.takeError()),
            "head_dim 80 is not supported by the attention templates; "
            "supported: 32, 64, 96, 128, 256");
}

TEST(KernelConfig, RejectsUnsupportedArch) {
  llvm::Expected<KernelChoice> choice =
      selectKernelConfig(problem(64, 16, 0, "sm_75"));
  ASSERT_FALSE(static_cast<bool>(choice));
  EXPECT_EQ(llvm::toString(choice.takeError()),
            "unsupported arch 'sm_75'; supported: sm_80, sm_86, sm_89, "
            "sm_90, sm_90a");
}

} // namespace

TEST(KernelConfig, TileOverrideTakesWhatTheTemplateTakes) {
  KernelProblem sparse = problem(128, 16, 64);
  llvm::Expected<KernelChoice> choice = selectKernelConfig(sparse);
  ASSERT_TRUE(static_cast<bool>(choice));
  EXPECT_EQ(choice->blockM, 64);
  ASSERT_FALSE(static_cast<bool>(applyTileOverride(sparse, *choice, 128, 64)));
  EXPECT_EQ(choice->blockM, 128);
  EXPECT_EQ(choice->blockN, 64);
  EXPECT_EQ(choice->warps, 12);
  // Two Q tiles (block-sparse) and two stages of K and V.
  EXPECT_EQ(choice->sharedBytes, (2 * 128 + 2 * 2 * 64) * 128 * 2 + 1024);

  auto error = [](const KernelProblem &p, int64_t m, int64_t n) {
    llvm::Expected<KernelChoice> c = selectKernelConfig(p);
    if (!c)
      return llvm::toString(c.takeError());
    return llvm::toString(applyTileOverride(p, *c, m, n));
  };
  EXPECT_EQ(error(sparse, 96, 64),
            "tile 96x64: BlockM must be 64, 128 or 192 (one consumer "
            "warpgroup per 64 rows)");
  EXPECT_EQ(error(sparse, 128, 72),
            "tile 128x72: BlockN must be a multiple of 16 in [64, 256]");
  EXPECT_EQ(error(problem(128), 192, 128),
            "tile 192x128: the S and O accumulators would not fit in "
            "registers");
  EXPECT_EQ(error(problem(64, 16, 128), 192, 128),
            "tile 192x128: tiles must be multiples or divisors of the layout "
            "block 128");
  EXPECT_EQ(error(problem(64, 32), 128, 64),
            "tile 128x64: a tile override applies to the sm_90a wgmma kernel "
            "(16-bit elements, head_dim 64, 128 or 256)");
}
