//===- FavorLambdaTest.cpp - favor and lambda on the GPU ------------------===//
//
// favor (Performer) against an fp64 reference written from the math with the
// plan's own random features (read with getParameter): every feature map,
// causal (prefix sums over the sequence) and not, odd lengths, q_len !=
// kv_len, replaced features; and lambda (LambdaNetworks: content lambda
// softmax_S(K)^T V plus the relative-position term over the plan's
// embeddings), S == seq_len and shorter, and the run-time errors. The
// references (favorReference, lambdaReference) are in VariantTestSupport.cpp,
// shared with MultiheadVariantsTest.cpp.
//
//===----------------------------------------------------------------------===//

#include "VariantTestSupport.h"

#include <cmath>
#include <string>

using namespace xfc;
using namespace xfc::runtime;
using namespace xfc::varianttest;

namespace {

std::string favorConfig(const std::string &kind, bool causal) {
  return std::string(R"({"name": "favor", "feature_map": ")") + kind +
         R"(", "causal": )" + (causal ? "true" : "false") + "}";
}

TEST(FavorGpu, MatchesReference) {
  XFC_REQUIRE_GPU();
  xfc::Compiler compiler;
  const int64_t headDim = 32;
  // 2 * (ceil(32 * (1 + 5)) // 2) = 192 features.
  const int64_t m = 192;
  unsigned seed = 700;
  for (DType dtype : {DType::F16, DType::BF16, DType::F32})
    for (std::string kind : {"sm_reg", "sm_hyp", "sm_orf"})
      for (bool causal : {false, true}) {
        Specialization spec;
        spec.dtype = dtypeName(dtype);
        spec.headDim = headDim;
        auto plan = compiler.compile(favorConfig(kind, causal), spec);
        ASSERT_TRUE(plan.isOk()) << plan.getStatus().getMessage();
        ASSERT_TRUE((*plan)->isGraph());
        const int64_t half = kind == "sm_orf" ? m : m / 2;
        std::vector<double> w = getParameter(**plan, "features");
        ASSERT_EQ(w.size(), static_cast<std::size_t>(headDim * half));
        // Rows are orthogonal (Dh <= m'): sm_reg's have norm sqrt(Dh).
        double worst = 0;
        for (int64_t r = 0; r < headDim; ++r)
          for (int64_t s = 0; s <= r; ++s) {
            double dot = 0, nr = 0, ns = 0;
            for (int64_t c = 0; c < half; ++c) {
              dot += w[r * half + c] * w[s * half + c];
              nr += w[r * half + c] * w[r * half + c];
              ns += w[s * half + c] * w[s * half + c];
            }
            if (r != s)
              worst = std::max(worst, std::fabs(dot) / std::sqrt(nr * ns));
            else if (kind == "sm_reg")
              EXPECT_NEAR(nr, static_cast<double>(headDim), 1e-3);
          }
        EXPECT_LE(worst, 1e-5) << kind;

        struct Lengths {
          int64_t q, kv;
        };
        std::vector<Lengths> lengths = {{97, 97}, {64, 64}};
        if (!causal)
          lengths.push_back({50, 131});
        for (Lengths len : lengths) {
          HostTensor q = randomTensor(2, 3, len.q, headDim, dtype, seed++);
          HostTensor k = randomTensor(2, 3, len.kv, headDim, dtype, seed++);
          HostTensor v = randomTensor(2, 3, len.kv, headDim, dtype, seed++);
          std::vector<double> out = runPlan(**plan, dtype, q, k, v, headDim);
          std::vector<double> ref =
              favorReference(q, k, v, w, half, kind, causal);
          double error = relativeError(out, ref);
          EXPECT_LE(error, tolerance(dtype))
              << dtypeName(dtype) << " " << kind << (causal ? " causal" : "")
              << " q " << len.q << " kv " << len.kv;
          std::printf("favor %s %s%s q %lld kv %lld: relative error %.3g\n",
                      dtypeName(dtype), kind.c_str(), causal ? " causal" : "",
                      static_cast<long long>(len.q),
                      static_cast<long long>(len.kv), error);
        }
      }
}

TEST(FavorGpu, FeaturesAreSeededAndSettable) {
  XFC_REQUIRE_GPU();
  xfc::Compiler compiler;
  Specialization spec;
  spec.dtype = "fp32";
  spec.headDim = 32;
  const std::string config =
      R"({"name": "favor", "dim_features": 64, "feature_map": "sm_hyp"})";
  auto first = compiler.compile(config, spec);
  auto second = compiler.compile(config, spec);
  ASSERT_TRUE(first.isOk()) << first.getStatus().getMessage();
  ASSERT_TRUE(second.isOk()) << second.getStatus().getMessage();
  std::vector<double> w = getParameter(**first, "features");
  EXPECT_EQ(w, getParameter(**second, "features"));
  // sm_hyp's rows carry chi norms (sqrt of a chi-square with m' = 32
  // degrees of freedom): not all equal, around sqrt(32).
  double meanNorm = 0, minNorm = 1e9, maxNorm = 0;
  for (int64_t r = 0; r < 32; ++r) {
    double norm = 0;
    for (int64_t c = 0; c < 32; ++c)
      norm += w[r * 32 + c] * w[r * 32 + c];
    norm = std::sqrt(norm);
    meanNorm += norm / 32;
    minNorm = std::min(minNorm, norm);
    maxNorm = std::max(maxNorm, norm);
  }
  EXPECT_GT(maxNorm - minNorm, 0.1);
  EXPECT_NEAR(meanNorm, std::sqrt(32.0), 1.0);

  // Redrawing is the owner's: new features through setParameter.
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> mine(32 * 32);
  for (float &x : mine)
    x = normal(rng);
  ASSERT_TRUE((*first)->setParameter("features", mine).isOk());
  EXPECT_FALSE((*first)->setParameter("features", {1.0f}).isOk());
  HostTensor q = randomTensor(1, 2, 45, 32, DType::F32, 91);
  HostTensor k = randomTensor(1, 2, 45, 32, DType::F32, 92);
  HostTensor v = randomTensor(1, 2, 45, 32, DType::F32, 93);
  std::vector<double> out = runPlan(**first, DType::F32, q, k, v, 32);
  std::vector<double> ref =
      favorReference(q, k, v, std::vector<double>(mine.begin(), mine.end()), 32,
                     "sm_hyp", false);
  EXPECT_LE(relativeError(out, ref), tolerance(DType::F32));
}

TEST(FavorGpu, CausalNeedsEqualLengths) {
  XFC_REQUIRE_GPU();
  xfc::Compiler compiler;
  Specialization spec;
  spec.dtype = "fp16";
  spec.headDim = 32;
  auto plan = compiler.compile(favorConfig("sm_reg", true), spec);
  ASSERT_TRUE(plan.isOk()) << plan.getStatus().getMessage();
  StatusOr<DeviceBuffer> buffer = DeviceBuffer::allocate(4 * 64 * 32 * 2);
  ASSERT_TRUE(buffer.isOk());
  AttentionArgs args;
  args.query = TensorView(buffer->data(), DType::F16, {1, 1, 32, 32});
  args.output = args.query;
  args.key = TensorView(buffer->data(), DType::F16, {1, 1, 64, 32});
  args.value = args.key;
  Status status = (*plan)->run(args);
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(status.getMessage().find("causal favor needs q_len == kv_len"),
            std::string::npos)
      << status.getMessage();
}

TEST(LambdaGpu, MatchesReference) {
  XFC_REQUIRE_GPU();
  xfc::Compiler compiler;
  const int64_t maxLen = 64;
  unsigned seed = 900;
  for (DType dtype : {DType::F16, DType::BF16, DType::F32})
    for (int64_t headDim : {32, 64}) {
      Specialization spec;
      spec.dtype = dtypeName(dtype);
      spec.headDim = headDim;
      auto plan =
          compiler.compile(R"({"name": "lambda", "seq_len": 64, "dim_head": )" +
                               std::to_string(headDim) + "}",
                           spec);
      ASSERT_TRUE(plan.isOk()) << plan.getStatus().getMessage();
      ASSERT_TRUE((*plan)->isGraph());
      std::vector<double> e = getParameter(**plan, "rel_pos_emb");
      ASSERT_EQ(e.size(), static_cast<std::size_t>((2 * maxLen - 1) * headDim));
      // torch.randn: standard normal.
      double mean = 0, square = 0;
      for (double x : e) {
        mean += x / e.size();
        square += x * x / e.size();
      }
      EXPECT_NEAR(mean, 0.0, 0.1);
      EXPECT_NEAR(square, 1.0, 0.15);
      for (int64_t seq : {maxLen, int64_t(37), int64_t(1)}) {
        // Small queries: the position term sums seq products of q . E.
        HostTensor q = randomTensor(2, 2, seq, headDim, dtype, seed++, 0.25);
        HostTensor k = randomTensor(2, 2, seq, headDim, dtype, seed++);
        HostTensor v = randomTensor(2, 2, seq, headDim, dtype, seed++);
        std::vector<double> out = runPlan(**plan, dtype, q, k, v, headDim);
        double error = relativeError(out, lambdaReference(q, k, v, e, maxLen));
        EXPECT_LE(error, tolerance(dtype))
            << dtypeName(dtype) << " D " << headDim << " S " << seq;
        std::printf("lambda %s D %lld S %lld: relative error %.3g\n",
                    dtypeName(dtype), static_cast<long long>(headDim),
                    static_cast<long long>(seq), error);
      }
    }
}

TEST(LambdaGpu, EmbeddingsSettableAndLengthChecked) {
  XFC_REQUIRE_GPU();
  xfc::Compiler compiler;
  Specialization spec;
  spec.dtype = "fp32";
  spec.headDim = 32;
  auto plan = compiler.compile(
      R"({"name": "lambda", "seq_len": 40, "dim_head": 32})", spec);
  ASSERT_TRUE(plan.isOk()) << plan.getStatus().getMessage();
  std::vector<float> mine(79 * 32);
  for (std::size_t i = 0; i < mine.size(); ++i)
    mine[i] = static_cast<float>(std::sin(0.37 * i));
  ASSERT_TRUE((*plan)->setParameter("rel_pos_emb", mine).isOk());
  HostTensor q = randomTensor(1, 2, 40, 32, DType::F32, 31, 0.25);
  HostTensor k = randomTensor(1, 2, 40, 32, DType::F32, 32);
  HostTensor v = randomTensor(1, 2, 40, 32, DType::F32, 33);
  std::vector<double> out = runPlan(**plan, DType::F32, q, k, v, 32);
  std::vector<double> ref = lambdaReference(
      q, k, v, std::vector<double>(mine.begin(), mine.end()), 40);
  EXPECT_LE(relativeError(out, ref), tolerance(DType::F32));

  StatusOr<DeviceBuffer> buffer = DeviceBuffer::allocate(4 * 41 * 32 * 4);
  ASSERT_TRUE(buffer.isOk());
  AttentionArgs args;
  for (TensorView *view : {&args.query, &args.key, &args.value, &args.output})
    *view = TensorView(buffer->data(), DType::F32, {1, 1, 41, 32});
  Status status = (*plan)->run(args);
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(status.getMessage().find("sequence length 41 is longer than the "
                                     "plan allows: parameter rel_pos_emb "
                                     "covers 40"),
            std::string::npos)
      << status.getMessage();
  args.query = TensorView(buffer->data(), DType::F32, {1, 1, 20, 32});
  args.output = args.query;
  status = (*plan)->run(args);
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(status.getMessage().find("lambda needs q_len == kv_len"),
            std::string::npos)
      << status.getMessage();
}

} // namespace
