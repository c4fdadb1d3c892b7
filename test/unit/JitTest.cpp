//===- JitTest.cpp - Configs compiled into plans in-process ---------------===//
//
// Needs NVRTC but no GPU: the plan is compiled and checked, not run (the GPU
// tests run plans).
//
//===----------------------------------------------------------------------===//

#include "xfc/runtime/Compiler.h"
#include "xfc/runtime/Nvrtc.h"

#include "gtest/gtest.h"

#include <cstdlib>
#include <string>
#include <unistd.h>

namespace {

class JitTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    // A private cache directory: the global cache reads it on first use.
    char dir[] = "/tmp/xfc-jit-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    setenv("XFC_CACHE_DIR", dir, 1);
  }
  void SetUp() override {
    if (!xfc::runtime::getNvrtcVersion())
      GTEST_SKIP() << "NVRTC is not available";
  }
};

const char *const kConfig = R"({"name": "blocksparse", "block_size": 64,
  "head_dim": 64, "dtype": "bf16", "causal": true,
  "layout": [[1, 0, 0], [1, 1, 0], [0, 1, 1]]})";

TEST_F(JitTest, CompilesAConfigIntoAPlan) {
  xfc::Compiler compiler;
  xfc::Specialization specialization;
  specialization.arch = "sm_80";
  specialization.numHeads = 4;
  auto plan = compiler.compile(kConfig, specialization, "inline.json");
  ASSERT_TRUE(plan.isOk()) << plan.getStatus().getMessage();
  const xfc::runtime::AttentionTraits &traits = (*plan)->getTraits();
  EXPECT_EQ(traits.headDim, 64);
  EXPECT_TRUE(traits.causal);
  EXPECT_EQ(traits.element, xfc::runtime::DType::BF16);
  ASSERT_TRUE((*plan)->getKernel().layout.has_value());
  EXPECT_EQ((*plan)->getKernel().layout->getCoverage(), 192);
  EXPECT_EQ((*plan)->getKernel().arch, "sm_80");
}

TEST_F(JitTest, EqualRequestsShareThePlanAndTheCache) {
  xfc::Specialization specialization;
  specialization.arch = "sm_90a";
  xfc::Compiler first;
  auto a = first.compile(kConfig, specialization);
  ASSERT_TRUE(a.isOk()) << a.getStatus().getMessage();
  auto b = first.compile(kConfig, specialization);
  ASSERT_TRUE(b.isOk());
  EXPECT_EQ(a->get(), b->get());
  EXPECT_EQ(first.describeLastCompile(), "plan reused\n");

  // Another compiler builds its own plan, but the kernel comes from the
  // process-wide cache.
  xfc::Compiler second;
  auto c = second.compile(kConfig, specialization);
  ASSERT_TRUE(c.isOk());
  EXPECT_NE(a->get(), c->get());
  EXPECT_NE(second.describeLastCompile().find(": memory"), std::string::npos)
      << second.describeLastCompile();
}

TEST_F(JitTest, SpecializationOverridesTheConfig) {
  xfc::Compiler compiler;
  xfc::Specialization specialization;
  specialization.arch = "sm_80";
  specialization.headDim = 128;
  specialization.dtype = "fp16";
  specialization.keyPadding = true;
  auto plan =
      compiler.compile(R"({"name": "scaled_dot_product"})", specialization);
  ASSERT_TRUE(plan.isOk()) << plan.getStatus().getMessage();
  EXPECT_EQ((*plan)->getTraits().headDim, 128);
  EXPECT_EQ((*plan)->getTraits().element, xfc::runtime::DType::F16);
  EXPECT_TRUE((*plan)->getTraits().hasKeyPadding);
  EXPECT_FALSE((*plan)->getTraits().hasAttnMask);
}

TEST_F(JitTest, BadConfigsSayWhereAndWhat) {
  xfc::Compiler compiler;
  auto plan = compiler.compile("{\"name\": \"blocksparse\",\n"
                               " \"block_size\": 48, \"layout\": [[1]]}",
                               {}, "bad.json");
  ASSERT_FALSE(plan.isOk());
  EXPECT_NE(plan.getStatus().getMessage().find(
                "bad.json:2:16: error: blocksparse.block_size: expected one "
                "of 16, 32, 64, 128, got 48"),
            std::string::npos)
      << plan.getStatus().getMessage();

  auto missing = compiler.compileFile("/nonexistent/config.json");
  ASSERT_FALSE(missing.isOk());
  EXPECT_NE(missing.getStatus().getMessage().find("/nonexistent/config.json"),
            std::string::npos);
}

} // namespace
