//===- KernelConfigTest.cpp - Kernel configuration selection --------------===//

#include "xfc/Transforms/KernelConfig.h"

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

TEST(KernelConfig, HalfPrecisionTakesTensorCores) {
  for (int64_t headDim : {32, 64, 96, 128}) {
    llvm::Expected<KernelChoice> choice = selectKernelConfig(problem(headDim));
    ASSERT_TRUE(static_cast<bool>(choice))
        << llvm::toString(choice.takeError());
    EXPECT_EQ(choice->path, "mma_sync");
    // One warp per 16 query rows.
    EXPECT_EQ(choice->blockM, choice->warps * 16);
    EXPECT_EQ(choice->sharedBytes,
              (choice->blockM + 2 * choice->stages * choice->blockN) * headDim *
                  2);
    EXPECT_LE(choice->sharedBytes, 227 * 1024);
  }
}

TEST(KernelConfig, Fp32TakesSimt) {
  llvm::Expected<KernelChoice> choice = selectKernelConfig(problem(64, 32));
  ASSERT_TRUE(static_cast<bool>(choice));
  EXPECT_EQ(choice->path, "simt");
  EXPECT_EQ(choice->sharedBytes,
            computeSharedBytes("simt", choice->blockM, choice->blockN,
                               choice->stages, 64, 32));
}

TEST(KernelConfig, SmallLayoutBlocksNarrowTheKvTile) {
  llvm::Expected<KernelChoice> block16 =
      selectKernelConfig(problem(64, 16, 16));
  ASSERT_TRUE(static_cast<bool>(block16));
  EXPECT_EQ(block16->blockN, 32);
  llvm::Expected<KernelChoice> block32 =
      selectKernelConfig(problem(64, 16, 32));
  ASSERT_TRUE(static_cast<bool>(block32));
  EXPECT_EQ(block32->blockN, 32);
  llvm::Expected<KernelChoice> block128 =
      selectKernelConfig(problem(64, 16, 128));
  ASSERT_TRUE(static_cast<bool>(block128));
  EXPECT_EQ(block128->blockN, 64);
  // Every layout block boundary is a tile boundary or inside one tile.
  for (int64_t block : {16, 32, 64, 128}) {
    llvm::Expected<KernelChoice> c =
        selectKernelConfig(problem(128, 16, block));
    ASSERT_TRUE(static_cast<bool>(c));
    EXPECT_TRUE(block % c->blockN == 0 || c->blockN % block == 0) << block;
  }
}

TEST(KernelConfig, RejectsUnsupportedHeadDim) {
  llvm::Expected<KernelChoice> choice = selectKernelConfig(problem(80));
  ASSERT_FALSE(static_cast<bool>(choice));
  EXPECT_EQ(llvm::toString(choice.takeError()),
            "head_dim 80 is not supported by the attention templates; "
            "supported: 32, 64, 96, 128");
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
