//===- JitTest.cpp - Configs compiled into plans in-process ---------------===//
//
// Needs NVRTC but no GPU: the plan is compiled and checked, not run (the GPU
// tests run plans).
//
//===----------------------------------------------------------------------===//

#include "xfc/runtime/Compiler.h"
#include "xfc/runtime/Nvrtc.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
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

// favor's random features: seeded (two plans start from the same W),
// orthonormal rows per block of m' rows, scaled by sqrt(Dh) (sm_reg) or by
// chi norms (sm_hyp, sm_orf); settable and readable. lambda's embeddings:
// N(0, 1) of [2 seq_len - 1, Dh]. No GPU needed.
TEST_F(JitTest, FavorAndLambdaParameters) {
  xfc::Compiler compiler;
  xfc::Specialization specialization;
  specialization.arch = "sm_80";
  struct Case {
    const char *config;
    int64_t rows, cols;
    bool regular;
  };
  const Case cases[] = {
      {R"({"name": "favor", "dim_head": 32})", 32, 96, true},
      {R"({"name": "favor", "dim_head": 32, "feature_map": "sm_orf"})", 32, 192,
       false},
      // m' = 8 < Dh = 32: four orthonormal blocks of 8 rows.
      {R"({"name": "favor", "dim_head": 32, "dim_features": 16,
           "feature_map": "sm_hyp"})",
       32, 8, false}};
  for (const Case &c : cases) {
    auto plan = compiler.compile(c.config, specialization, "favor.json");
    ASSERT_TRUE(plan.isOk()) << plan.getStatus().getMessage();
    auto again = compiler.compile(c.config, specialization, "favor.json");
    ASSERT_TRUE(again.isOk());
    auto w = (*plan)->getParameter("features");
    ASSERT_TRUE(w.isOk()) << w.getStatus().getMessage();
    ASSERT_EQ(w->size(), static_cast<std::size_t>(c.rows * c.cols));
    EXPECT_EQ(*w, *(*again)->getParameter("features"));
    std::vector<double> norms(c.rows);
    for (int64_t r = 0; r < c.rows; ++r) {
      double norm = 0;
      for (int64_t k = 0; k < c.cols; ++k)
        norm += double((*w)[r * c.cols + k]) * (*w)[r * c.cols + k];
      norms[r] = std::sqrt(norm);
      if (c.regular)
        EXPECT_NEAR(norms[r], std::sqrt(32.0), 1e-4);
    }
    for (int64_t r = 0; r < c.rows; ++r)
      for (int64_t s = r / c.cols * c.cols; s < r; ++s) {
        double dot = 0;
        for (int64_t k = 0; k < c.cols; ++k)
          dot += double((*w)[r * c.cols + k]) * (*w)[s * c.cols + k];
        EXPECT_NEAR(dot / (norms[r] * norms[s]), 0.0, 1e-5)
            << c.config << " rows " << r << ", " << s;
      }
    if (!c.regular) {
      double mean = 0;
      for (double n : norms)
        mean += n / c.rows;
      EXPECT_NEAR(mean, std::sqrt(double(c.cols)), 0.25 * std::sqrt(c.cols));
      EXPECT_GT(*std::max_element(norms.begin(), norms.end()) -
                    *std::min_element(norms.begin(), norms.end()),
                0.1);
    }
    std::vector<float> mine(c.rows * c.cols, 0.5f);
    EXPECT_TRUE((*plan)->setParameter("features", mine).isOk());
    EXPECT_EQ(*(*plan)->getParameter("features"), mine);
  }

  auto lambda =
      compiler.compile(R"({"name": "lambda", "seq_len": 100, "dim_head": 32})",
                       specialization, "lambda.json");
  ASSERT_TRUE(lambda.isOk()) << lambda.getStatus().getMessage();
  auto e = (*lambda)->getParameter("rel_pos_emb");
  ASSERT_TRUE(e.isOk());
  ASSERT_EQ(e->size(), static_cast<std::size_t>(199 * 32));
  double mean = 0, square = 0;
  for (float x : *e) {
    mean += x / double(e->size());
    square += double(x) * x / double(e->size());
  }
  EXPECT_NEAR(mean, 0.0, 0.05);
  EXPECT_NEAR(square, 1.0, 0.1);
}

} // namespace
