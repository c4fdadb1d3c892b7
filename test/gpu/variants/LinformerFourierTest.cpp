//===- LinformerFourierTest.cpp - linformer and fourier_mix on the GPU ----===//
//
// The first graph variants against fp64 references written from the math:
// linformer softmax(Q (E K)^T / sqrt(Dh)) (F V) with the plan's own E and F
// and with caller-supplied ones, shorter sequences, a too-long one; and
// fourier_mix Re(FFT2(q)) computed as separate DFTs along S and Dh
// (fourierReference, in VariantTestSupport.cpp).
//
//===----------------------------------------------------------------------===//

#include "VariantTestSupport.h"

#include <cmath>

using namespace xfc;
using namespace xfc::runtime;
using namespace xfc::varianttest;

namespace {

/// softmax(Q (E K)^T * scale) (F V), E and F [k, maxLen] of which the first
/// S columns are used.
std::vector<double> linformerReference(const HostTensor &q, const HostTensor &k,
                                       const HostTensor &v,
                                       const std::vector<double> &e,
                                       const std::vector<double> &f,
                                       int64_t projected, int64_t maxLen) {
  const int64_t s = k.seq, d = q.dim, t = q.seq;
  std::vector<double> out(q.batch * q.heads * t * d, 0.0);
  double scale = 1.0 / std::sqrt(static_cast<double>(d));
  for (int64_t b = 0; b < q.batch; ++b)
    for (int64_t h = 0; h < q.heads; ++h) {
      std::vector<double> kp(projected * d, 0.0), vp(projected * d, 0.0);
      for (int64_t r = 0; r < projected; ++r)
        for (int64_t j = 0; j < s; ++j)
          for (int64_t c = 0; c < d; ++c) {
            kp[r * d + c] += e[r * maxLen + j] * k.at(b, h, j, c);
            vp[r * d + c] += f[r * maxLen + j] * v.at(b, h, j, c);
          }
      std::vector<double> logits(t * projected, 0.0);
      for (int64_t i = 0; i < t; ++i)
        for (int64_t r = 0; r < projected; ++r) {
          double dot = 0;
          for (int64_t c = 0; c < d; ++c)
            dot += q.at(b, h, i, c) * kp[r * d + c];
          logits[i * projected + r] = dot * scale;
        }
      softmaxRows(logits, t, projected);
      for (int64_t i = 0; i < t; ++i)
        for (int64_t c = 0; c < d; ++c) {
          double sum = 0;
          for (int64_t r = 0; r < projected; ++r)
            sum += logits[i * projected + r] * vp[r * d + c];
          out[((b * q.heads + h) * t + i) * d + c] = sum;
        }
    }
  return out;
}

TEST(LinformerGpu, MatchesReference) {
  XFC_REQUIRE_GPU();
  xfc::Compiler compiler;
  const int64_t maxLen = 256, projected = 48, headDim = 64;
  unsigned seed = 11;
  for (DType dtype : {DType::F16, DType::BF16, DType::F32}) {
    Specialization spec;
    spec.dtype = dtypeName(dtype);
    spec.headDim = headDim;
    auto plan = compiler.compile(
        R"({"name": "linformer", "seq_len": 256, "k": 48})", spec);
    ASSERT_TRUE(plan.isOk()) << plan.getStatus().getMessage();
    ASSERT_TRUE((*plan)->isGraph());
    std::vector<double> e = getParameter(**plan, "E");
    std::vector<double> f = getParameter(**plan, "F");
    ASSERT_EQ(e.size(), static_cast<std::size_t>(projected * maxLen));
    // nn.Linear(seq_len, k): U(-1/sqrt(seq_len), 1/sqrt(seq_len)).
    double bound = 1.0 / std::sqrt(256.0), largest = 0;
    for (double x : e)
      largest = std::max(largest, std::fabs(x));
    EXPECT_LE(largest, bound);
    EXPECT_GT(largest, 0.9 * bound);
    EXPECT_NE(e, f);

    for (int64_t seq : {maxLen, int64_t(97)}) {
      HostTensor q = randomTensor(2, 4, seq, headDim, dtype, seed++);
      HostTensor k = randomTensor(2, 4, seq, headDim, dtype, seed++);
      HostTensor v = randomTensor(2, 4, seq, headDim, dtype, seed++);
      std::vector<double> out = runPlan(**plan, dtype, q, k, v, headDim);
      std::vector<double> ref =
          linformerReference(q, k, v, e, f, projected, maxLen);
      double error = relativeError(out, ref);
      EXPECT_LE(error, tolerance(dtype)) << dtypeName(dtype) << " seq " << seq;
      std::printf("linformer %s seq %lld: relative error %.3g\n",
                  dtypeName(dtype), static_cast<long long>(seq), error);
    }

    // Caller-owned parameters replace the plan's for one call.
    std::mt19937 rng(seed++);
    std::uniform_real_distribution<float> uniform(-0.2f, 0.2f);
    std::vector<float> mine(projected * maxLen), mineF(projected * maxLen);
    for (float &x : mine)
      x = uniform(rng);
    for (float &x : mineF)
      x = uniform(rng);
    HostTensor q = randomTensor(1, 4, 130, headDim, dtype, seed++);
    HostTensor k = randomTensor(1, 4, 130, headDim, dtype, seed++);
    HostTensor v = randomTensor(1, 4, 130, headDim, dtype, seed++);
    std::vector<double> out =
        runPlan(**plan, dtype, q, k, v, headDim, {{"E", mine}, {"F", mineF}});
    std::vector<double> ref = linformerReference(
        q, k, v, std::vector<double>(mine.begin(), mine.end()),
        std::vector<double>(mineF.begin(), mineF.end()), projected, maxLen);
    EXPECT_LE(relativeError(out, ref), tolerance(dtype)) << dtypeName(dtype);
  }
}

TEST(LinformerGpu, LongerThanSeqLenIsAClearError) {
  XFC_REQUIRE_GPU();
  xfc::Compiler compiler;
  Specialization spec;
  spec.dtype = "fp16";
  spec.headDim = 64;
  auto plan =
      compiler.compile(R"({"name": "linformer", "seq_len": 128})", spec);
  ASSERT_TRUE(plan.isOk()) << plan.getStatus().getMessage();
  // setParameter checks the name and the size.
  EXPECT_FALSE((*plan)->setParameter("G", {}).isOk());
  EXPECT_FALSE((*plan)->setParameter("E", {1.0f}).isOk());
  std::vector<float> ones(32 * 128, 0.01f);
  ASSERT_TRUE((*plan)->setParameter("E", ones).isOk());
  EXPECT_EQ(getParameter(**plan, "E")[5], static_cast<double>(0.01f));

  HostTensor q = randomTensor(1, 2, 129, 64, DType::F16, 5);
  StatusOr<DeviceBuffer> buffer = DeviceBuffer::allocate(4 * 129 * 2 * 64 * 2);
  ASSERT_TRUE(buffer.isOk());
  AttentionArgs args;
  for (TensorView *view : {&args.query, &args.key, &args.value, &args.output})
    *view = TensorView(buffer->data(), DType::F16, {1, 2, 129, 64});
  Status status = (*plan)->run(args);
  ASSERT_FALSE(status.isOk());
  EXPECT_NE(status.getMessage().find("sequence length 129 is longer than the "
                                     "plan allows: parameter E covers 128"),
            std::string::npos)
      << status.getMessage();
}

TEST(FourierMixGpu, MatchesReference) {
  XFC_REQUIRE_GPU();
  xfc::Compiler compiler;
  unsigned seed = 300;
  for (DType dtype : {DType::F16, DType::BF16, DType::F32})
    for (int64_t headDim : {32, 64}) {
      Specialization spec;
      spec.dtype = dtypeName(dtype);
      spec.headDim = headDim;
      auto plan = compiler.compile(R"({"name": "fourier_mix"})", spec);
      ASSERT_TRUE(plan.isOk()) << plan.getStatus().getMessage();
      for (int64_t seq : {int64_t(128), int64_t(77)}) {
        // Small inputs: outputs sum seq * head_dim terms.
        HostTensor q = randomTensor(2, 3, seq, headDim, dtype, seed++, 0.1);
        HostTensor kv = randomTensor(2, 3, seq, headDim, dtype, seed++);
        std::vector<double> out = runPlan(**plan, dtype, q, kv, kv, headDim);
        double error = relativeError(out, fourierReference(q));
        EXPECT_LE(error, tolerance(dtype))
            << dtypeName(dtype) << " D " << headDim << " S " << seq;
        std::printf("fourier_mix %s D %lld S %lld: relative error %.3g\n",
                    dtypeName(dtype), static_cast<long long>(headDim),
                    static_cast<long long>(seq), error);
      }
    }
}

} // namespace
